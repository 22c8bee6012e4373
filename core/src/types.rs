//! Kafka's nouns as newtypes at their wire widths.
//!
//! Inputs: none. Outputs: `Offset`, `LeaderEpoch`, `BrokerId`, `PartitionId`, `TopicPartition`,
//! `TopicId`.
//! Invariants: a newtype is only a name; arithmetic that could overflow asserts.

use std::fmt;

/// A position in a partition's log: the offset of a record (wire type int64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Offset(pub i64);

impl Offset {
    pub const ZERO: Offset = Offset(0);

    /// The offset `count` records after this one.
    pub fn plus(self, count: i64) -> Offset {
        assert!(count >= 0, "offsets only move forward: {count}");
        Offset(self.0.checked_add(count).expect("offset overflow"))
    }

    /// How many offsets lie in `[earlier, self)`.
    pub fn distance_from(self, earlier: Offset) -> i64 {
        assert!(self >= earlier, "{self} is before {earlier}");
        self.0 - earlier.0
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The epoch of a partition's leadership (wire type int32); -1 means unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct LeaderEpoch(pub i32);

impl LeaderEpoch {
    pub const UNKNOWN: LeaderEpoch = LeaderEpoch(-1);
}

impl fmt::Display for LeaderEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A broker's `node.id` (wire type int32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BrokerId(pub i32);

impl fmt::Display for BrokerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A partition's index within its topic (wire type int32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PartitionId(pub i32);

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A topic and one of its partitions, shown as Kafka shows it: `orders-0`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: PartitionId,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition { topic: topic.into(), partition: PartitionId(partition) }
    }

    /// The name of the partition's directory under a log dir: `<topic>-<partition>`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition.0)
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition.0)
    }
}

/// A topic's id (wire type uuid), shown as Kafka shows it: URL-safe base64 of its 16 bytes,
/// without padding (22 characters, e.g. `csoCe4FmT1-q-j0JNHlVgA`). On the wire the all-zero
/// uuid means "no id"; [`TopicId::from_wire`] turns it into `None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicId(pub uuid::Uuid);

impl TopicId {
    /// `None` for the all-zero uuid (a broker that sends no topic ids, or Metadata before v10).
    pub fn from_wire(id: uuid::Uuid) -> Option<TopicId> {
        (!id.is_nil()).then_some(TopicId(id))
    }
}

impl fmt::Display for TopicId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        // 16 bytes: five 3-byte groups (4 characters each), then one byte (2 characters).
        let bytes = self.0.as_bytes();
        let mut text = String::with_capacity(22);
        for group in bytes.chunks(3) {
            let bits = group.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b))
                << (8 * (3 - group.len()));
            for i in 0..=group.len() {
                text.push(char::from(ALPHABET[((bits >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_ids_print_as_kafka_prints_them() {
        // Kafka's Uuid text form: URL-safe base64 of the big-endian bytes, no padding.
        let id = TopicId(uuid::Uuid::from_u128(0x72ca_027b_8166_4f5f_aafa_3d09_3479_5580));
        assert_eq!(id.to_string(), "csoCe4FmT1-q-j0JNHlVgA");
        let all_ones = TopicId(uuid::Uuid::from_u128(u128::MAX));
        assert_eq!(all_ones.to_string(), "_____________________w");
        assert_eq!(TopicId::from_wire(uuid::Uuid::nil()), None);
        assert_eq!(TopicId::from_wire(id.0), Some(id));
    }
}
