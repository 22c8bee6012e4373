//! Classifying scenarios for the matrix: which configuration (row) and which faults (column).
//!
//! Inputs: a [`Scenario`]. Outputs: its [`Configuration`] (the settings that decide delivery
//! semantics, labelled compactly) and its [`Fault`] set (from its steps). Invariants: both are
//! derived from the scenario alone, ordered, and print the same way every time; a setting
//! the scenario does not give reads as Kafka's default.

use crate::outcome::StepKind;
use crate::scenario::{Acks, Action, Scenario, Target};
use std::collections::BTreeSet;
use std::fmt;

/// The settings of a scenario that decide its delivery semantics. Each field is already the
/// label printed, so two scenarios share a matrix row exactly when they print the same.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Configuration {
    /// Replication factor of the produced-to topics: `RF=3` (several: `RF=1/3`).
    pub replication: String,
    /// Producers' `acks`: `acks=all`, `acks=1`, `acks=0` (several: `acks=1/all`).
    pub acks: String,
    /// `min.insync.replicas` (topic config, else broker config, else Kafka's 1).
    pub min_insync_replicas: String,
    /// `unclean.leader.election.enable` (topic, else broker, else Kafka's false).
    pub unclean: String,
    /// The flush policy: topic `flush.messages`, else broker `log.flush.interval.messages`;
    /// unset is Kafka's default, no fsync per write.
    pub flush: String,
    /// `enable.idempotence` of the producers.
    pub idempotence: String,
}

impl Configuration {
    pub fn of(scenario: &Scenario) -> Configuration {
        let produced: BTreeSet<&str> =
            scenario.producers.iter().map(|p| p.topic.as_str()).collect();
        // With no producer, the topics the scenario creates are what it configures.
        let topics: Vec<_> = scenario
            .cluster
            .topics
            .iter()
            .filter(|t| produced.is_empty() || produced.contains(t.name.as_str()))
            .collect();
        let broker = &scenario.cluster.broker_config;
        let setting = |topic_key: &str, broker_key: &str, default: &str| -> Vec<String> {
            let values: BTreeSet<String> = topics
                .iter()
                .map(|t| {
                    t.config
                        .get(topic_key)
                        .or_else(|| broker.get(broker_key))
                        .cloned()
                        .unwrap_or_else(|| default.to_string())
                })
                .collect();
            if values.is_empty() {
                let value = broker.get(broker_key).cloned().unwrap_or_else(|| default.to_string());
                return vec![value];
            }
            values.into_iter().collect()
        };

        let mut acks: Vec<Acks> = scenario.producers.iter().map(|p| p.acks).collect();
        acks.sort_by_key(|a| match a {
            Acks::Zero => 0,
            Acks::One => 1,
            Acks::All => 2,
        });
        acks.dedup();
        let acks = if acks.is_empty() {
            "no producer".to_string()
        } else {
            let labels: Vec<&str> = acks
                .iter()
                .map(|a| match a {
                    Acks::Zero => "0",
                    Acks::One => "1",
                    Acks::All => "all",
                })
                .collect();
            format!("acks={}", labels.join("/"))
        };

        let mut factors: Vec<i16> = topics.iter().map(|t| t.replication_factor).collect();
        factors.sort_unstable();
        factors.dedup();
        let factors: Vec<String> = factors.iter().map(i16::to_string).collect();

        let unclean: Vec<String> =
            setting("unclean.leader.election.enable", "unclean.leader.election.enable", "false")
                .into_iter()
                .map(|v| if v.eq_ignore_ascii_case("true") { "yes".into() } else { "no".into() })
                .collect();

        let flush: Vec<String> = setting("flush.messages", "log.flush.interval.messages", "")
            .into_iter()
            .map(|v| match v.as_str() {
                "" => "none".to_string(),
                "1" => "each".to_string(),
                n => format!("every-{n}"),
            })
            .collect();

        let idempotent: BTreeSet<bool> = scenario.producers.iter().map(|p| p.idempotence).collect();
        let idempotence = match (idempotent.contains(&false), idempotent.contains(&true)) {
            (_, false) => "no",
            (false, true) => "yes",
            (true, true) => "some",
        };

        Configuration {
            replication: format!(
                "RF={}",
                if factors.is_empty() { "-".into() } else { factors.join("/") }
            ),
            acks,
            min_insync_replicas: format!(
                "minISR={}",
                setting("min.insync.replicas", "min.insync.replicas", "1").join("/")
            ),
            unclean: format!("unclean={}", unclean.join("/")),
            flush: format!("fsync={}", flush.join("/")),
            idempotence: format!("idem={idempotence}"),
        }
    }
}

impl fmt::Display for Configuration {
    /// `RF=3 acks=all minISR=2 unclean=no fsync=none idem=no`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.replication,
            self.acks,
            self.min_insync_replicas,
            self.unclean,
            self.flush,
            self.idempotence
        )
    }
}

/// One kind of fault a scenario injects. Recoveries (restart, resume, heal, unclog) are not
/// faults; they end one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// A broker is killed, its page cache survives (kill -9).
    CrashKeepPageCache,
    /// A broker loses power: unsynced writes are lost.
    PowerLoss,
    /// Power loss with torn pages.
    TornWrites,
    /// A broker stops being scheduled for a while.
    PauseBroker,
    /// The network is cut between two sides, both ways.
    Partition,
    /// The network is cut one way.
    OneWayPartition,
    /// Every message to and from a node is held.
    Clog,
    /// Latency or packet loss changes.
    Network,
    /// Reads are corrupted or I/O calls fail.
    DiskFaults,
    /// A client process is killed.
    CrashClient,
    /// A client process stops being scheduled for a while.
    PauseClient,
}

impl Fault {
    pub fn label(self) -> &'static str {
        match self {
            Fault::CrashKeepPageCache => "crash keep-page-cache",
            Fault::PowerLoss => "power loss",
            Fault::TornWrites => "torn writes",
            Fault::PauseBroker => "pause broker",
            Fault::Partition => "partition",
            Fault::OneWayPartition => "one-way partition",
            Fault::Clog => "clog",
            Fault::Network => "network change",
            Fault::DiskFaults => "disk faults",
            Fault::CrashClient => "crash client",
            Fault::PauseClient => "pause client",
        }
    }

    /// The fault an action injects, `None` for a recovery.
    pub fn of(action: &Action) -> Option<Fault> {
        let client = |target: &Target| matches!(target, Target::Client(_));
        Some(match action {
            Action::Crash { target, .. } if client(target) => Fault::CrashClient,
            Action::Pause { target } if client(target) => Fault::PauseClient,
            Action::Partition { one_way: true, .. } => Fault::OneWayPartition,
            _ => match StepKind::of(action) {
                StepKind::CrashKeepPageCache => Fault::CrashKeepPageCache,
                StepKind::CrashLosePageCache => Fault::PowerLoss,
                StepKind::CrashTornWrites => Fault::TornWrites,
                StepKind::Pause => Fault::PauseBroker,
                StepKind::Partition => Fault::Partition,
                StepKind::Clog => Fault::Clog,
                StepKind::Network => Fault::Network,
                StepKind::DiskFaults => Fault::DiskFaults,
                // Recoveries, and actions that are not faults (client seeks, admin calls).
                StepKind::Restart
                | StepKind::Resume
                | StepKind::Heal
                | StepKind::Unclog
                | StepKind::Seek
                | StepKind::CreatePartitions
                | StepKind::ListOffsets => return None,
            },
        })
    }

    /// The faults a scenario's steps inject, ordered; empty when it injects none.
    pub fn set_of(scenario: &Scenario) -> Vec<Fault> {
        let set: BTreeSet<Fault> =
            scenario.steps.iter().filter_map(|s| Fault::of(&s.action)).collect();
        set.into_iter().collect()
    }

    /// A fault set as a matrix column label: `none`, `power loss`, `partition + pause broker`.
    pub fn set_label(faults: &[Fault]) -> String {
        if faults.is_empty() {
            return "none".to_string();
        }
        faults.iter().map(|f| f.label()).collect::<Vec<_>>().join(" + ")
    }
}
