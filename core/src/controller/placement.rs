//! Replica placement for new partitions: leaders round-robin over the usable brokers, and
//! followers shifted so that partitions led by one broker do not all follow on the same ones.
//!
//! Inputs: the usable broker ids (unfenced, not in controlled shutdown), a starting position
//! (the number of partitions the cluster already has, so leaders keep rotating from topic to
//! topic), the partition count and the replication factor. Output: one replica list per
//! partition, leader first. Invariants: the replicas of one partition are distinct brokers;
//! over `n` brokers, any `n` consecutive partitions have `n` different leaders.

/// Replica lists for `partitions` new partitions of `replication_factor` replicas each.
/// `brokers` must be sorted, distinct and at least `replication_factor` long.
pub(super) fn place(
    brokers: &[i32],
    start: usize,
    partitions: usize,
    replication_factor: usize,
) -> Vec<Vec<i32>> {
    let n = brokers.len();
    assert!(replication_factor >= 1 && replication_factor <= n, "checked by the caller");
    (0..partitions)
        .map(|p| {
            let position = start + p;
            let leader = position % n;
            // The followers sit at distinct offsets 1..n from the leader; the offset of the
            // first follower moves by one every round of `n` partitions.
            let shift = if n > 1 { (position / n) % (n - 1) } else { 0 };
            let mut replicas = vec![brokers[leader]];
            for j in 1..replication_factor {
                let offset = 1 + (shift + j - 1) % (n - 1);
                replicas.push(brokers[(leader + offset) % n]);
            }
            replicas
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn replicas_are_distinct_and_leaders_rotate() {
        for n in 1..=7usize {
            let brokers: Vec<i32> = (0..n as i32).map(|b| b * 10 + 1).collect();
            for rf in 1..=n {
                for start in 0..2 * n {
                    let placed = place(&brokers, start, 3 * n, rf);
                    let mut leaders = BTreeMap::<i32, usize>::new();
                    for replicas in &placed {
                        assert_eq!(replicas.len(), rf);
                        assert_eq!(replicas.iter().collect::<BTreeSet<_>>().len(), rf);
                        *leaders.entry(replicas[0]).or_default() += 1;
                    }
                    assert!(leaders.values().all(|&count| count == 3), "{leaders:?}");
                }
            }
        }
    }

    #[test]
    fn followers_of_one_leader_spread_over_the_others() {
        let brokers = [1, 2, 3, 4, 5];
        let placed = place(&brokers, 0, 20, 2);
        let followers: BTreeSet<i32> = placed.iter().filter(|r| r[0] == 1).map(|r| r[1]).collect();
        assert_eq!(followers, BTreeSet::from([2, 3, 4, 5]));
    }
}
