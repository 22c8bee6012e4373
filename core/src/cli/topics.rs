//! `odradek topics`: create, list, describe, alter (add partitions) and delete topics, with
//! kafka-topics.sh's options and output.

use anyhow::{bail, Context};
use odradek::client::{Admin, ClientConfig, ConfigResource, ConfigSource, NewTopic};
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
        let names = match &args.topic {
            Some(name) => vec![name.clone()],
            None => admin.list_topics().await?.into_iter().map(|t| t.name).collect(),
        };
        for (name, described) in admin.describe_topics(names).await? {
            let description = described.with_context(|| format!("cannot describe topic {name}"))?;
            let configs = admin.describe_configs(ConfigResource::Topic(name.clone())).await?;
            let overrides: Vec<String> = configs
                .iter()
                .filter(|c| c.source == ConfigSource::DynamicTopic)
                .map(|c| format!("{}={}", c.name, c.value.clone().unwrap_or_default()))
                .collect();
            let replication_factor = description.partitions.first().map_or(0, |p| p.replicas.len());
            println!(
                "Topic: {name}\tPartitionCount: {}\tReplicationFactor: {replication_factor}\tConfigs: {}",
                description.partitions.len(),
                overrides.join(",")
            );
            for p in &description.partitions {
                let ids = |v: &[odradek::BrokerId]| {
                    v.iter().map(|b| b.0.to_string()).collect::<Vec<_>>().join(",")
                };
                let leader = p.leader.map_or("none".to_string(), |l| l.0.to_string());
                let offline = if p.offline_replicas.is_empty() {
                    String::new()
                } else {
                    format!("\tOffline: {}", ids(&p.offline_replicas))
                };
                println!("\tTopic: {name}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}{offline}", p.partition, ids(&p.replicas), ids(&p.isr));
            }
        }
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
