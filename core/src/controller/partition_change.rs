//! Partition changes: leader election from the ISR, then the ELR, then the last known leader
//! when both are empty (KIP-966's balanced recovery, as Kafka 4.1 runs it), then (only with
//! `unclean.leader.election.enable`) any live replica; ISR shrinks with the KIP-966 ELR rules;
//! the epochs each change bumps.
//!
//! Inputs: the image as the command has changed it so far ([`Scratch`]), a partition, the ISR
//! the change proposes and the brokers that had an unclean shutdown. Output: at most one
//! `Partition` record. Invariants of every record written here: the leader is -1 or an
//! unfenced ISR member not in controlled shutdown; ISR and ELR are disjoint subsets of the
//! replicas; with ELR on, no fenced broker is in the ISR and the ELR is empty whenever the ISR
//! has at least `min.insync.replicas` members; a leader change bumps the leader epoch and
//! every change bumps the partition epoch.

use crate::config::{TopicConfig, TopicSettings};
use crate::metadata::{MetadataImage, MetadataRecord, PartitionImage, TopicImage};
use std::borrow::Cow;
use std::collections::BTreeSet;
use uuid::Uuid;

/// The committed image with the records a command has produced so far applied on top, so
/// that a command making several changes sees its own earlier ones. The image is copied only
/// when the first record is pushed.
pub(super) struct Scratch<'a> {
    image: Cow<'a, MetadataImage>,
    records: Vec<MetadataRecord>,
}

impl<'a> Scratch<'a> {
    pub(super) fn new(image: &'a MetadataImage) -> Self {
        Scratch { image: Cow::Borrowed(image), records: Vec::new() }
    }

    pub(super) fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// Applies `record` to the scratch image (its replay assertions check it) and keeps it.
    pub(super) fn push(&mut self, record: MetadataRecord) {
        self.image.to_mut().replay(&record);
        self.records.push(record);
    }

    pub(super) fn into_records(self) -> Vec<MetadataRecord> {
        self.records
    }
}

/// May lead and join an ISR: registered, unfenced, not shutting down.
pub(super) fn is_eligible(image: &MetadataImage, broker_id: i32) -> bool {
    image.broker(broker_id).is_some_and(|b| !b.fenced && !b.in_controlled_shutdown)
}

/// The topic's effective settings: its overrides on top of the controller's defaults.
pub(super) fn topic_settings(topic: &TopicImage, defaults: &TopicSettings) -> TopicSettings {
    match TopicConfig::new(topic.configs.clone()) {
        Ok(config) => config.resolve_on(defaults),
        Err(error) => {
            // Configs are validated before they are written; keep going on the defaults.
            tracing::error!(topic = %topic.name, %error, "stored topic config does not validate");
            defaults.clone()
        }
    }
}

/// What the rules depend on besides the partition.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rules {
    /// KIP-966 eligible leader replicas (off with `historical.no_eligible_leader_replicas`).
    pub elr_enabled: bool,
    pub min_insync_replicas: usize,
    pub unclean_leader_election_enable: bool,
}

impl Rules {
    pub(super) fn new(settings: &TopicSettings, elr_enabled: bool) -> Self {
        Rules {
            elr_enabled,
            min_insync_replicas: settings.min_insync_replicas.max(1) as usize,
            unclean_leader_election_enable: settings.unclean_leader_election_enable,
        }
    }
}

/// The ISR without `removed`. Without ELR (before KIP-966) an ISR is never emptied: the last
/// replica standing stays in it (the current leader if it is among the removed, else the
/// first member), even though it is fenced. That is what makes R11 possible.
pub(super) fn shrink_isr(
    old: &PartitionImage,
    removed: &BTreeSet<i32>,
    elr_enabled: bool,
) -> Vec<i32> {
    let isr: Vec<i32> = old.isr.iter().copied().filter(|r| !removed.contains(r)).collect();
    if isr.is_empty() && !elr_enabled && !old.isr.is_empty() {
        let last = if old.isr.contains(&old.leader) { old.leader } else { old.isr[0] };
        return vec![last];
    }
    isr
}

/// The partition after a change that proposes `isr` (already validated or shrunk by the
/// caller) and knows of `unclean_shutdown` brokers; `None` when nothing changes.
pub(super) fn settle(
    image: &MetadataImage,
    rules: Rules,
    old: &PartitionImage,
    mut isr: Vec<i32>,
    unclean_shutdown: &BTreeSet<i32>,
) -> Option<PartitionImage> {
    let eligible = |r: &i32| is_eligible(image, *r);
    let in_replica_order = |set: &BTreeSet<i32>| -> Vec<i32> {
        old.replicas.iter().copied().filter(|r| set.contains(r)).collect()
    };
    // Whoever leaves the ISR (or stays in the ELR) still holds every committed record while
    // the ISR is below min.insync.replicas, unless it lost its unflushed suffix in an unclean
    // shutdown: the ELR if the high watermark has stopped.
    let mut elr_candidates: BTreeSet<i32> = old
        .isr
        .iter()
        .chain(&old.elr)
        .copied()
        .filter(|r| !isr.contains(r) && !unclean_shutdown.contains(r))
        .collect();
    let mut unclean_election = false;
    let leader = if old.leader != -1 && isr.contains(&old.leader) && eligible(&old.leader) {
        old.leader
    } else if let Some(leader) =
        old.replicas.iter().copied().find(|r| isr.contains(r) && eligible(r))
    {
        leader
    } else if let Some(leader) = rules
        .elr_enabled
        .then(|| {
            old.replicas
                .iter()
                .copied()
                .find(|r| old.elr.contains(r) && !unclean_shutdown.contains(r) && eligible(r))
        })
        .flatten()
    {
        // KIP-966: an ELR member holds every committed record; it becomes the ISR.
        isr.push(leader);
        leader
    } else if let Some(leader) = last_known_leader(rules, old, &isr, &elr_candidates, eligible) {
        // KIP-966's balanced recovery (Kafka 4.1): nobody is left in the ISR or the ELR, so
        // the controller elects the partition's last leader once it is back. It may have lost
        // its unflushed suffix: an unclean election, whatever the topic's setting says.
        unclean_election = true;
        isr = vec![leader];
        leader
    } else if rules.unclean_leader_election_enable {
        match old.replicas.iter().copied().find(eligible) {
            Some(leader) => {
                unclean_election = true;
                isr = vec![leader];
                leader
            }
            None => -1,
        }
    } else {
        -1
    };

    let elr = if !rules.elr_enabled || unclean_election || isr.len() >= rules.min_insync_replicas {
        // Without ELR, after an unclean election, or once the high watermark can advance
        // again: only the ISR is known to be complete.
        vec![]
    } else {
        // An ELR member elected above is in the ISR now.
        elr_candidates.retain(|r| !isr.contains(r));
        in_replica_order(&elr_candidates)
    };
    // The last known leader (Kafka's LastKnownElr with useLastKnownLeaderInBalancedRecovery):
    // written when the ISR first empties, kept while the partition has no leader, cleared
    // once it has one.
    let last_known_elr = if !rules.elr_enabled || leader != -1 {
        vec![]
    } else if isr.is_empty() && isr != old.isr && old.leader != -1 {
        vec![old.leader]
    } else {
        old.last_known_elr.clone()
    };
    if leader == old.leader
        && isr == old.isr
        && elr == old.elr
        && last_known_elr == old.last_known_elr
    {
        return None;
    }
    let leader_epoch = if leader == old.leader { old.leader_epoch } else { old.leader_epoch + 1 };
    Some(PartitionImage {
        partition: old.partition,
        replicas: old.replicas.clone(),
        isr,
        leader,
        leader_epoch,
        partition_epoch: old.partition_epoch + 1,
        elr,
        last_known_elr,
    })
}

/// The last known leader, when KIP-966's balanced recovery may elect it: ELR is on, the
/// proposed ISR is empty, nobody is left for the ELR (every candidate had an unclean
/// shutdown), and the one broker remembered as the partition's last leader may lead again.
fn last_known_leader(
    rules: Rules,
    old: &PartitionImage,
    isr: &[i32],
    elr_candidates: &BTreeSet<i32>,
    eligible: impl Fn(&i32) -> bool,
) -> Option<i32> {
    match old.last_known_elr.as_slice() {
        [last]
            if rules.elr_enabled
                && isr.is_empty()
                && elr_candidates.is_empty()
                && eligible(last) =>
        {
            Some(*last)
        }
        _ => None,
    }
}

/// The record that writes `partition` of `topic_id`.
pub(super) fn partition_record(topic_id: Uuid, partition: PartitionImage) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id,
        partition: partition.partition,
        replicas: partition.replicas,
        isr: partition.isr,
        leader: partition.leader,
        leader_epoch: partition.leader_epoch,
        partition_epoch: partition.partition_epoch,
        elr: partition.elr,
        last_known_elr: partition.last_known_elr,
    }
}

/// Every (topic id, partition index) for which `wanted` holds, in topic name order.
pub(super) fn partitions_where(
    image: &MetadataImage,
    wanted: impl Fn(&PartitionImage) -> bool,
) -> Vec<(Uuid, i32)> {
    image
        .topics()
        .flat_map(|topic| {
            topic
                .partitions
                .values()
                .filter(|p| wanted(p))
                .map(move |p| (topic.topic_id, p.partition))
        })
        .collect()
}

/// Applies `change` to each listed partition: `change` gets the topic's rules and the
/// partition as the scratch image has it now, and returns its new state or `None`.
pub(super) fn change_partitions(
    scratch: &mut Scratch<'_>,
    partitions: &[(Uuid, i32)],
    defaults: &TopicSettings,
    elr_enabled: bool,
    change: impl Fn(&MetadataImage, Rules, &PartitionImage) -> Option<PartitionImage>,
) {
    for (topic_id, index) in partitions {
        let Some(topic) = scratch.image().topic_by_id(topic_id) else { continue };
        let Some(old) = topic.partitions.get(index) else { continue };
        let rules = Rules::new(&topic_settings(topic, defaults), elr_enabled);
        if let Some(new) = change(scratch.image(), rules, old) {
            scratch.push(partition_record(*topic_id, new));
        }
    }
}
