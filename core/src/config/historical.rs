//! Historical behaviours: the one place where a modern Kafka guard can be turned off.
//!
//! Inputs: broker config keys `odradek.historical.<name>=true|false` (odradek's own keys, not
//! Kafka's). Outputs: [`HistoricalBehaviours`], read by the controller and the replication
//! code. Invariants: every switch defaults to `false`, which is modern Kafka; each switch
//! turns off exactly one guard, so a scenario that sets it reproduces exactly one historical
//! anomaly (DESIGN.md, "Historical behaviours are named settings, in one struct"). There are
//! no other test hooks in the core.

/// Switches that re-enable historical Kafka anomalies. All `false` (modern Kafka) by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistoricalBehaviours {
    /// Before KIP-101 (Kafka 0.11): a restarting follower truncates its log to its local high
    /// watermark instead of asking the leader where its leader epoch ended. Re-enables R5
    /// (committed data lost when a truncated follower is elected) and R6 (replicas diverge
    /// after multiple hard failures). Honoured by the replication code.
    pub hw_truncation: bool,
    /// Before KIP-497 (Kafka 2.7): the leader advances the high watermark over the ISR the
    /// controller has committed, not over the maximal ISR (committed ISR plus the pending
    /// expansion). Re-enables R9 (a replica added to the ISR while still empty is elected,
    /// losing committed data). Honoured by the replication code.
    pub no_maximal_isr: bool,
    /// Before KIP-903 (Kafka 3.5): AlterPartition does not check the broker epoch of each new
    /// ISR member, so a delayed request can re-add a replica that has since restarted with an
    /// empty disk. Re-enables R10. Honoured by the controller's `alter_partition`.
    pub no_broker_epoch_fencing: bool,
    /// Before KIP-966 (eligible leader replicas, on by default from Kafka 4.1): no ELR; the
    /// last replica standing is kept in the ISR when it is fenced, and is elected again when
    /// it comes back, even after an unclean shutdown lost its unflushed suffix. Re-enables
    /// R11 ("last replica standing" turns a local page-cache loss into a global one).
    /// Honoured by the controller's partition changes and broker registration, and by the
    /// partition leader, which then also advances the high watermark while the ISR is below
    /// `min.insync.replicas` (KIP-966's other half).
    pub no_eligible_leader_replicas: bool,
    /// KAFKA-14704: a follower raises its high watermark from a fetch response before it has
    /// truncated its log to the leader's, so for a moment it exposes records that the
    /// truncation then removes. Honoured by the replication code.
    pub hw_before_truncation: bool,
}

/// The prefix of the broker config keys that set these switches.
pub const KEY_PREFIX: &str = "odradek.historical.";

impl HistoricalBehaviours {
    /// The switch names, as they appear after [`KEY_PREFIX`].
    pub const NAMES: [&'static str; 5] = [
        "hw_truncation",
        "no_maximal_isr",
        "no_broker_epoch_fencing",
        "no_eligible_leader_replicas",
        "hw_before_truncation",
    ];

    /// The broker config key of the switch `name`: `odradek.historical.<name>`.
    pub fn config_key(name: &str) -> String {
        format!("{KEY_PREFIX}{name}")
    }

    /// Sets the switch `name` (without the prefix); `Err` if there is no such switch.
    pub fn set(&mut self, name: &str, on: bool) -> Result<(), String> {
        let switch = match name {
            "hw_truncation" => &mut self.hw_truncation,
            "no_maximal_isr" => &mut self.no_maximal_isr,
            "no_broker_epoch_fencing" => &mut self.no_broker_epoch_fencing,
            "no_eligible_leader_replicas" => &mut self.no_eligible_leader_replicas,
            "hw_before_truncation" => &mut self.hw_before_truncation,
            other => {
                return Err(format!(
                    "no historical behaviour named {other:?}; known: {}",
                    Self::NAMES.join(", ")
                ))
            }
        };
        *switch = on;
        Ok(())
    }

    /// Whether the switch `name` is on (`None` for an unknown name).
    pub fn get(&self, name: &str) -> Option<bool> {
        Some(match name {
            "hw_truncation" => self.hw_truncation,
            "no_maximal_isr" => self.no_maximal_isr,
            "no_broker_epoch_fencing" => self.no_broker_epoch_fencing,
            "no_eligible_leader_replicas" => self.no_eligible_leader_replicas,
            "hw_before_truncation" => self.hw_before_truncation,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_sets_its_own_switch_and_defaults_are_modern_kafka() {
        assert_eq!(
            HistoricalBehaviours::default(),
            HistoricalBehaviours {
                hw_truncation: false,
                no_maximal_isr: false,
                no_broker_epoch_fencing: false,
                no_eligible_leader_replicas: false,
                hw_before_truncation: false,
            }
        );
        for name in HistoricalBehaviours::NAMES {
            let mut switches = HistoricalBehaviours::default();
            switches.set(name, true).unwrap();
            assert_eq!(switches.get(name), Some(true));
            let on = HistoricalBehaviours::NAMES.iter().filter(|n| switches.get(n) == Some(true));
            assert_eq!(on.count(), 1, "{name} turns on one switch only");
        }
        let error = HistoricalBehaviours::default().set("no_isr", true).unwrap_err();
        assert!(error.contains("no historical behaviour named \"no_isr\""), "{error}");
    }
}
