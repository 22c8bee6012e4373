//! The seed claims: this project's own specification of what to test, as data.
//!
//! Inputs: none (copied from `SEED-CLAIMS.md`, kept beside the seed notes). Outputs:
//! [`CLAIMS`], every claim with its id, the seed notes that make it and its text, in the
//! document's order; the catalog index lists each with its measured verdict. Invariants: ids
//! are unique and match the ids scenario files may name in `covers` and `[[claims]]`
//! (`M1`-`M7`, `P1`-`P8`, `R1`-`R8`, `G1`-`G15`); a test checks both.

/// One claim of the seed notes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// `M1`, `P5`, ...
    pub id: &'static str,
    /// The heading of SEED-CLAIMS.md it is listed under.
    pub section: &'static str,
    /// The seed notes that make the claim (`000` to `004`).
    pub seeds: &'static [&'static str],
    /// The claim, as SEED-CLAIMS.md words it (Markdown).
    pub text: &'static str,
}

/// Every claim of SEED-CLAIMS.md, in its order.
pub const CLAIMS: &[Claim] = &[
    Claim {
        id: "M1",
        section: "Data model and API",
        seeds: &["003", "004"],
        text: r#"A record is a key, a value and a timestamp (and, since 0.11, headers)."#,
    },
    Claim {
        id: "M2",
        section: "Data model and API",
        seeds: &["000", "001", "003"],
        text: r#"A topic is split into partitions; each partition is an ordered, immutable sequence whose records get consecutive offsets."#,
    },
    Claim {
        id: "M3",
        section: "Data model and API",
        seeds: &["004"],
        text: r#"Segment files are named by their base offset (`00000000000000000000.log`), so the segment holding offset N is found by searching base offsets."#,
    },
    Claim {
        id: "M4",
        section: "Data model and API",
        seeds: &["003"],
        text: r#"A topic must exist before producing to it (unless the broker auto-creates topics)."#,
    },
    Claim {
        id: "M5",
        section: "Data model and API",
        seeds: &["002"],
        text: r#"Partitions can be added to an existing topic; they cannot be removed."#,
    },
    Claim {
        id: "M6",
        section: "Data model and API",
        seeds: &["001", "003"],
        text: r#"Retention deletes records after a configured time (e.g. 2 days) or size whether or not they were consumed; after that, the earliest available offset is no longer 0."#,
    },
    Claim {
        id: "M7",
        section: "Data model and API",
        seeds: &["000"],
        text: r#"ListOffsets ("getLeaderOffsets") returns the log start/end offsets of a partition, not a group's committed offset."#,
    },
    Claim {
        id: "P1",
        section: "Producers",
        seeds: &["001", "004"],
        text: r#"With no partition given, the producer picks one by hashing the key, or spreads keyless records across partitions."#,
    },
    Claim {
        id: "P2",
        section: "Producers",
        seeds: &["003"],
        text: r#"Records sent by one producer to one partition, M1 before M2, get offsets in that order, and consumers see them in that order."#,
    },
    Claim {
        id: "P3",
        section: "Producers",
        seeds: &["004"],
        text: r#"acks=0: the producer does not wait; highest throughput, and records are lost if the leader dies."#,
    },
    Claim {
        id: "P4",
        section: "Producers",
        seeds: &["004"],
        text: r#"acks=1 (the old default): records acknowledged by the leader are lost if it dies before a follower has copied them."#,
    },
    Claim {
        id: "P5",
        section: "Producers",
        seeds: &["004"],
        text: r#"acks=all: no acknowledged record is lost — but only if the in-sync replica set has at least two members; with ISR = {leader} alone, acks=all loses data when the leader dies (min.insync.replicas is the fix)."#,
    },
    Claim {
        id: "P6",
        section: "Producers",
        seeds: &["004"],
        text: r#"A send returns metadata with topic, partition and offset; a synchronous send waits for it, an asynchronous one calls back."#,
    },
    Claim {
        id: "P7",
        section: "Producers",
        seeds: &["004"],
        text: r#"A send blocks while metadata is unavailable, until a timeout error."#,
    },
    Claim {
        id: "P8",
        section: "Producers",
        seeds: &["002"],
        text: r#"Exactly-once delivery is possible (idempotent producer and transactions), while the default is at-least-once."#,
    },
    Claim {
        id: "R1",
        section: "Replication and the cluster",
        seeds: &["001"],
        text: r#"Every partition has one leader that serves reads and writes and zero or more followers that copy it."#,
    },
    Claim {
        id: "R2",
        section: "Replication and the cluster",
        seeds: &["001"],
        text: r#"When a leader dies, a follower becomes leader automatically, and consumers still read every committed record (the seed's `kill -9` experiment on a replication-factor-3 topic)."#,
    },
    Claim {
        id: "R3",
        section: "Replication and the cluster",
        seeds: &["000"],
        text: r#"Only members of the in-sync replica set (ISR) may be elected leader."#,
    },
    Claim {
        id: "R4",
        section: "Replication and the cluster",
        seeds: &["002", "003"],
        text: r#"Replication factor N tolerates N-1 broker failures without losing committed records."#,
    },
    Claim {
        id: "R5",
        section: "Replication and the cluster",
        seeds: &["001"],
        text: r#"Leadership is spread over brokers so that each broker leads some partitions and follows others."#,
    },
    Claim {
        id: "R6",
        section: "Replication and the cluster",
        seeds: &["004"],
        text: r#"Brokers write to the page cache and flush in batches; records in the page cache are lost when the machine loses power, so a replica that loses its page cache can lose records that were acknowledged."#,
    },
    Claim {
        id: "R7",
        section: "Replication and the cluster",
        seeds: &["002"],
        text: r#"Followers copy the leader's log in order (primary-backup / state-machine replication): replicas that applied the same prefix hold the same records."#,
    },
    Claim {
        id: "R8",
        section: "Replication and the cluster",
        seeds: &["004"],
        text: r#"Brokers find each other and elect partition leaders through a coordination service (ZooKeeper in the seeds; a controller quorum today)."#,
    },
    Claim {
        id: "G1",
        section: "Consumers and groups",
        seeds: &["000", "001", "003", "004"],
        text: r#"Within one group each partition is consumed by exactly one member; consumers beyond the partition count sit idle."#,
    },
    Claim {
        id: "G2",
        section: "Consumers and groups",
        seeds: &["001", "003", "004"],
        text: r#"All consumers in one group = a queue; each consumer in its own group = publish-subscribe (each gets every record)."#,
    },
    Claim {
        id: "G3",
        section: "Consumers and groups",
        seeds: &["004"],
        text: r#"Consumers that assign partitions themselves (no group) each receive all the records."#,
    },
    Claim {
        id: "G4",
        section: "Consumers and groups",
        seeds: &["004"],
        text: r#"A rebalance moves partitions when a consumer joins, leaves or dies, or when partitions are added."#,
    },
    Claim {
        id: "G5",
        section: "Consumers and groups",
        seeds: &["004"],
        text: r#"Committed offsets live in the internal topic `__consumer_offsets`."#,
    },
    Claim {
        id: "G6",
        section: "Consumers and groups",
        seeds: &["000", "004"],
        text: r#"auto.offset.reset applies only when the group has no committed offset: earliest = from the log start (not necessarily 0), latest = only new records (the default), none = an error. A group that has committed resumes from its commit whatever the setting."#,
    },
    Claim {
        id: "G7",
        section: "Consumers and groups",
        seeds: &["004"],
        text: r#"A brand-new group.id starts from the latest offset even without setting auto.offset.reset (because latest is the default)."#,
    },
    Claim {
        id: "G8",
        section: "Consumers and groups",
        seeds: &["000", "004"],
        text: r#"With auto-commit, a consumer that received records but stopped before the next commit receives them again after restart (duplicates)."#,
    },
    Claim {
        id: "G9",
        section: "Consumers and groups",
        seeds: &["004"],
        text: r#"With auto-commit and asynchronous processing, a consumer that commits and then dies before processing loses those records (at-most-once)."#,
    },
    Claim {
        id: "G10",
        section: "Consumers and groups",
        seeds: &["004"],
        text: r#"A rebalance can hand a partition to another member before the old owner committed, so records are processed twice."#,
    },
    Claim {
        id: "G11",
        section: "Consumers and groups",
        seeds: &["004"],
        text: r#"commitSync retries until it succeeds or fails hard; commitAsync does not retry, and a late retry could overwrite a newer commit with an older offset."#,
    },
    Claim {
        id: "G12",
        section: "Consumers and groups",
        seeds: &["000", "004"],
        text: r#"A consumer can seek to any retained offset and re-read."#,
    },
    Claim {
        id: "G13",
        section: "Consumers and groups",
        seeds: &["000"],
        text: r#"A group's progress can be listed per partition: committed offset, log end ("logSize"), lag and owner."#,
    },
    Claim {
        id: "G14",
        section: "Consumers and groups",
        seeds: &["001"],
        text: r#"A producer and a consumer must use different group names, or the consumer cannot read (the seed's comment on the old Java consumer)."#,
    },
    Claim {
        id: "G15",
        section: "Consumers and groups",
        seeds: &["001", "004"],
        text: r#"Global order over a topic needs a single partition and a single consumer."#,
    },
];

/// The claim with this id.
pub fn claim(id: &str) -> Option<&'static Claim> {
    CLAIMS.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_numbered_densely_per_section() {
        for (prefix, count) in [("M", 7), ("P", 8), ("R", 8), ("G", 15)] {
            let ids: Vec<&str> =
                CLAIMS.iter().filter(|c| c.id.starts_with(prefix)).map(|c| c.id).collect();
            let expected: Vec<String> = (1..=count).map(|n| format!("{prefix}{n}")).collect();
            assert_eq!(ids, expected, "claims {prefix}1..{prefix}{count} in order");
        }
        assert_eq!(CLAIMS.len(), 7 + 8 + 8 + 15);
        assert!(CLAIMS.iter().all(|c| !c.seeds.is_empty() && !c.text.is_empty()));
        assert_eq!(claim("P5").map(|c| c.section), Some("Producers"));
    }
}
