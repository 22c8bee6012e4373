//! Kafka's default partitioning: murmur2 for keyed records, a sticky partition for the rest.
//!
//! Inputs: a record's key (or none), the topic's partition count, the partitions that have a
//! leader, and batch events from the producer. Outputs: a partition index.
//! Invariants: keyed records land exactly where Kafka's Java client puts them
//! (`toPositive(murmur2(key)) % numPartitions`, over all partitions, available or not);
//! keyless records stick to one partition until its batch is sent or fills, then move to a
//! different available partition, chosen with the RNG the caller passes (the producer passes
//! `madsim::rand::thread_rng()`, seeded under simulation) (KIP-480).

use std::collections::BTreeMap;

use rand::Rng;

/// Kafka's `Utils.murmur2`: 32-bit MurmurHash2 with seed `0x9747b28c`, reading the input as
/// little-endian 4-byte words, returning the Java `int`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java computes `seed ^ length` in int arithmetic; lengths beyond i32 cannot occur there.
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        let mut k = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = words.remainder();
    // The Java switch falls through from 3 to 2 to 1.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows on MIN).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition of a keyed record, as Kafka's default partitioner computes it.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    assert!(num_partitions > 0, "a topic has at least one partition");
    to_positive(murmur2(key)) % num_partitions
}

/// The sticky partition per topic for keyless records.
#[derive(Debug, Default)]
pub struct StickyPartitioner {
    current: BTreeMap<String, i32>,
}

impl StickyPartitioner {
    /// The partition for a keyless record of `topic`. `available` are the partitions with a
    /// known leader; when none are, any of `num_partitions` is used.
    pub fn partition<R: Rng + ?Sized>(
        &mut self,
        topic: &str,
        available: &[i32],
        num_partitions: i32,
        rng: &mut R,
    ) -> i32 {
        assert!(num_partitions > 0, "a topic has at least one partition");
        if let Some(&p) = self.current.get(topic) {
            if p < num_partitions {
                return p;
            }
        }
        let p = choose(available, num_partitions, None, rng);
        self.current.insert(topic.to_string(), p);
        p
    }

    /// A batch of `topic`/`partition` was sent or filled up: the next keyless record starts
    /// a batch on another partition. Kafka does this in `onNewBatch`, so load spreads while
    /// each batch still fills from one partition.
    pub fn on_batch_closed<R: Rng + ?Sized>(
        &mut self,
        topic: &str,
        partition: i32,
        available: &[i32],
        num_partitions: i32,
        rng: &mut R,
    ) {
        if self.current.get(topic) == Some(&partition) && num_partitions > 0 {
            let next = choose(available, num_partitions, Some(partition), rng);
            self.current.insert(topic.to_string(), next);
        }
    }

    /// Forgets a topic's sticky partition (its partition count changed, for example).
    pub fn reset(&mut self, topic: &str) {
        self.current.remove(topic);
    }
}

/// A random partition from `available` (or all), avoiding `previous` when there is a choice.
fn choose<R: Rng + ?Sized>(
    available: &[i32],
    num_partitions: i32,
    previous: Option<i32>,
    rng: &mut R,
) -> i32 {
    let all: Vec<i32>;
    let candidates: &[i32] = if available.is_empty() {
        all = (0..num_partitions).collect();
        &all
    } else {
        available
    };
    let filtered: Vec<i32> = candidates
        .iter()
        .copied()
        .filter(|p| Some(*p) != previous && *p < num_partitions)
        .collect();
    let pool = if filtered.is_empty() { candidates } else { &filtered[..] };
    let index = rng.gen_range(0..pool.len());
    pool[index]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// Apache Kafka's `UtilsTest.testMurmur2` vectors
    /// (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, apache/kafka
    /// commit f55581dc73953c3509a4702433aeeeddc2970779).
    #[test]
    fn murmur2_matches_kafkas_test_vectors() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            (b"abc", 479_470_107),
        ];
        for (input, expected) in cases {
            assert_eq!(murmur2(input), expected, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn keyed_partition_uses_to_positive_not_abs() {
        // murmur2("21") is negative: toPositive keeps the low 31 bits.
        assert_eq!(to_positive(-973_932_308), 1_173_551_340);
        assert_eq!(partition_for_key(b"21", 10), 1_173_551_340 % 10);
        assert_eq!(partition_for_key(b"abc", 7), 479_470_107 % 7);
        assert_eq!(to_positive(i32::MIN), 0);
        for n in 1..20 {
            let p = partition_for_key(b"foobar", n);
            assert!((0..n).contains(&p));
        }
    }

    #[test]
    fn sticky_partition_holds_until_the_batch_closes() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut sticky = StickyPartitioner::default();
        let available = [0, 1, 2, 3];
        let first = sticky.partition("t", &available, 4, &mut rng);
        for _ in 0..10 {
            assert_eq!(sticky.partition("t", &available, 4, &mut rng), first);
        }
        // A batch on another partition closing changes nothing.
        sticky.on_batch_closed("t", (first + 1) % 4, &available, 4, &mut rng);
        assert_eq!(sticky.partition("t", &available, 4, &mut rng), first);
        sticky.on_batch_closed("t", first, &available, 4, &mut rng);
        let second = sticky.partition("t", &available, 4, &mut rng);
        assert_ne!(second, first, "moves to a different partition when it can");
        assert!(available.contains(&second));
    }

    #[test]
    fn sticky_prefers_partitions_with_a_leader() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut sticky = StickyPartitioner::default();
        for _ in 0..50 {
            sticky.reset("t");
            assert_eq!(sticky.partition("t", &[2], 4, &mut rng), 2);
        }
        // With one partition there is nowhere else to go.
        sticky.on_batch_closed("t", 2, &[2], 4, &mut rng);
        assert_eq!(sticky.partition("t", &[2], 4, &mut rng), 2);
        // No leaders known at all: still a valid partition.
        sticky.reset("u");
        assert!((0..3).contains(&sticky.partition("u", &[], 3, &mut rng)));
    }
}
