//! `odradek topics`: create, list, describe, alter (add partitions) and delete topics, with
//! kafka-topics.sh's options and output.

use anyhow::{bail, Context};
use odradek::client::{
    Admin, ClientConfig, ConfigEntry, ConfigResource, ErrorCode, NewTopic, TopicDescription,
};
use odradek::BrokerId;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct TopicsArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    #[arg(long, group = "action")]
    create: bool,
    #[arg(long, group = "action")]
    list: bool,
    #[arg(long, group = "action")]
    describe: bool,
    /// Add partitions (with --partitions).
    #[arg(long, group = "action")]
    alter: bool,
    #[arg(long, group = "action")]
    delete: bool,
    #[arg(long)]
    topic: Option<String>,
    #[arg(long)]
    partitions: Option<i32>,
    #[arg(long)]
    replication_factor: Option<i16>,
    /// A topic config, as key=value (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    configs: Vec<String>,
}

pub async fn run(args: TopicsArgs) -> anyhow::Result<ExitCode> {
    let admin = Admin::new(ClientConfig::new(&args.bootstrap_server))?;
    let topic = || args.topic.clone().context("--topic is required for this action");
    if args.create {
        let name = topic()?;
        let mut new_topic = NewTopic::new(
            name.clone(),
            args.partitions.unwrap_or(-1),
            args.replication_factor.unwrap_or(-1),
        );
        for kv in &args.configs {
            let (key, value) =
                kv.split_once('=').with_context(|| format!("--config {kv:?} is not key=value"))?;
            new_topic = new_topic.with_config(key.trim(), value.trim());
        }
        let results = admin.create_topics(vec![new_topic], false).await?;
        results[&name].clone().with_context(|| format!("cannot create topic {name}"))?;
        println!("Created topic {name}.");
    } else if args.list {
        for listing in admin.list_topics().await? {
            println!("{}", listing.name);
        }
    } else if args.describe {
        describe(&admin, args.topic.as_deref()).await?;
    } else if args.alter {
        let name = topic()?;
        let Some(count) = args.partitions else { bail!("--alter needs --partitions") };
        admin
            .create_partitions(&name, count)
            .await
            .with_context(|| format!("cannot add partitions to {name}"))?;
        println!("Topic {name} now has {count} partitions.");
    } else if args.delete {
        let name = topic()?;
        let results = admin.delete_topics(vec![name.clone()]).await?;
        results[&name].clone().with_context(|| format!("cannot delete topic {name}"))?;
        println!("Deleted topic {name}.");
    } else {
        bail!("choose one of --create, --list, --describe, --alter, --delete");
    }
    admin.close();
    Ok(ExitCode::SUCCESS)
}

/// `--describe`: `topic` alone, or every topic in name order. Each topic's configs come from
/// DescribeConfigs; a topic that does not exist is an error, as in kafka-topics.sh.
async fn describe(admin: &Admin, topic: Option<&str>) -> anyhow::Result<()> {
    let names = match topic {
        Some(name) => vec![name.to_string()],
        None => admin.list_topics().await?.into_iter().map(|t| t.name).collect(),
    };
    for (name, described) in admin.describe_topics(names).await? {
        let description = match described {
            Ok(description) => description,
            Err(e) if e.code() == Some(ErrorCode::UnknownTopicOrPartition) => {
                bail!("Topic '{name}' does not exist as expected")
            }
            Err(e) => return Err(e).with_context(|| format!("cannot describe topic {name}")),
        };
        let configs = admin
            .describe_configs(ConfigResource::Topic(name.clone()))
            .await
            .with_context(|| format!("cannot describe the configs of topic {name}"))?;
        for line in describe_lines(&description, &configs) {
            println!("{line}");
        }
    }
    Ok(())
}

/// kafka-topics.sh `--describe`'s lines for one topic (Kafka 3.7+): the topic line, then one
/// line per partition in partition order, fields separated by tabs.
///
/// - `TopicId` is left out when the broker sent none; `ReplicationFactor` is the first
///   partition's replica count; `Configs` lists the entries whose value is not the default
///   (a topic override or a broker setting), `key=value` joined by commas, in the broker's order.
/// - `Leader: none` when the partition has no leader. Offline replicas show only as replicas
///   missing from `Isr`: kafka-topics.sh prints no column for them.
/// - `Elr` and `LastKnownElr` are `N/A` when unknown (a description from Metadata, which does
///   not carry them), as kafka-topics.sh prints them for a broker without
///   DescribeTopicPartitions; otherwise the ids, possibly none.
pub(crate) fn describe_lines(
    description: &TopicDescription,
    configs: &[ConfigEntry],
) -> Vec<String> {
    let name = &description.name;
    let mut partitions: Vec<_> = description.partitions.iter().collect();
    partitions.sort_by_key(|p| p.partition);
    let topic_id = description.topic_id.map(|id| format!("\tTopicId: {id}")).unwrap_or_default();
    let replication_factor = partitions.first().map_or(0, |p| p.replicas.len());
    let overrides = configs
        .iter()
        .filter(|c| !c.is_default)
        // A value the broker withholds (sensitive) prints as Java prints a null string.
        .map(|c| format!("{}={}", c.name, c.value.as_deref().unwrap_or("null")))
        .collect::<Vec<_>>()
        .join(",");
    let mut lines = Vec::with_capacity(partitions.len() + 1);
    lines.push(format!(
        "Topic: {name}{topic_id}\tPartitionCount: {}\tReplicationFactor: {replication_factor}\tConfigs: {overrides}",
        partitions.len()
    ));
    for p in partitions {
        let leader = p.leader.map_or_else(|| "none".to_string(), |id| id.to_string());
        lines.push(format!(
            "\tTopic: {name}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}\tElr: {}\tLastKnownElr: {}",
            p.partition,
            ids(&p.replicas),
            ids(&p.isr),
            p.elr.as_deref().map_or_else(|| "N/A".to_string(), ids),
            p.last_known_elr.as_deref().map_or_else(|| "N/A".to_string(), ids),
        ));
    }
    lines
}

/// Broker ids as Kafka lists them: `1,2,3`.
fn ids(brokers: &[BrokerId]) -> String {
    brokers.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use odradek::client::{ConfigSource, PartitionDescription};
    use odradek::{LeaderEpoch, TopicId};

    fn brokers(ids: &[i32]) -> Vec<BrokerId> {
        ids.iter().copied().map(BrokerId).collect()
    }

    fn partition(
        partition: i32,
        leader: i32,
        replicas: &[i32],
        isr: &[i32],
    ) -> PartitionDescription {
        PartitionDescription {
            partition,
            leader: (leader >= 0).then_some(BrokerId(leader)),
            leader_epoch: LeaderEpoch(0),
            replicas: brokers(replicas),
            isr: brokers(isr),
            offline_replicas: Vec::new(),
            elr: None,
            last_known_elr: None,
        }
    }

    fn config(name: &str, value: &str, source: ConfigSource) -> ConfigEntry {
        ConfigEntry {
            name: name.into(),
            value: Some(value.into()),
            read_only: false,
            is_default: source == ConfigSource::Default,
            source,
            sensitive: false,
        }
    }

    fn orders(partitions: Vec<PartitionDescription>) -> TopicDescription {
        TopicDescription {
            name: "orders".into(),
            topic_id: Some(TopicId(uuid::Uuid::from_u128(
                0x72ca_027b_8166_4f5f_aafa_3d09_3479_5580,
            ))),
            is_internal: false,
            partitions,
        }
    }

    #[test]
    fn a_healthy_topic_prints_as_kafka_topics_sh_prints_it() {
        // Partitions arrive out of order; the lines come out in partition order.
        let topic = orders(vec![
            partition(1, 2, &[2, 3, 1], &[2, 3, 1]),
            partition(0, 1, &[1, 2, 3], &[1, 2, 3]),
        ]);
        let configs = [
            config("cleanup.policy", "delete", ConfigSource::Default),
            config("min.insync.replicas", "2", ConfigSource::DynamicTopic),
            config("retention.ms", "86400000", ConfigSource::StaticBroker),
        ];
        assert_eq!(
            describe_lines(&topic, &configs),
            [
                "Topic: orders\tTopicId: csoCe4FmT1-q-j0JNHlVgA\tPartitionCount: 2\tReplicationFactor: 3\tConfigs: min.insync.replicas=2,retention.ms=86400000",
                "\tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2,3\tElr: N/A\tLastKnownElr: N/A",
                "\tTopic: orders\tPartition: 1\tLeader: 2\tReplicas: 2,3,1\tIsr: 2,3,1\tElr: N/A\tLastKnownElr: N/A",
            ]
        );
    }

    #[test]
    fn no_leader_prints_none_and_offline_replicas_stay_in_replicas_only() {
        let mut offline = partition(0, -1, &[1, 2, 3], &[]);
        offline.offline_replicas = brokers(&[3]);
        let mut degraded = partition(1, 2, &[3, 2], &[2]);
        degraded.offline_replicas = brokers(&[3]);
        let topic = orders(vec![offline, degraded]);
        assert_eq!(
            describe_lines(&topic, &[]),
            [
                "Topic: orders\tTopicId: csoCe4FmT1-q-j0JNHlVgA\tPartitionCount: 2\tReplicationFactor: 3\tConfigs: ",
                "\tTopic: orders\tPartition: 0\tLeader: none\tReplicas: 1,2,3\tIsr: \tElr: N/A\tLastKnownElr: N/A",
                "\tTopic: orders\tPartition: 1\tLeader: 2\tReplicas: 3,2\tIsr: 2\tElr: N/A\tLastKnownElr: N/A",
            ]
        );
    }

    #[test]
    fn known_eligible_leader_replicas_print_even_when_there_are_none() {
        let mut p = partition(0, 1, &[1, 2, 3], &[1]);
        p.elr = Some(brokers(&[2]));
        p.last_known_elr = Some(Vec::new());
        let lines = describe_lines(&orders(vec![p]), &[]);
        assert_eq!(
            lines[1],
            "\tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1\tElr: 2\tLastKnownElr: "
        );
    }

    #[test]
    fn a_topic_without_id_or_partitions_still_gets_its_topic_line() {
        let mut topic = orders(Vec::new());
        topic.topic_id = None;
        let secret = ConfigEntry {
            value: None,
            sensitive: true,
            ..config("x", "", ConfigSource::DynamicTopic)
        };
        assert_eq!(
            describe_lines(&topic, &[secret]),
            ["Topic: orders\tPartitionCount: 0\tReplicationFactor: 0\tConfigs: x=null"]
        );
    }
}
