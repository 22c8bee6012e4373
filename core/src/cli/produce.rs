//! `odradek produce`: every line of stdin becomes a record (a key first, when a separator is
//! given); exits non-zero if any record was not acknowledged.

use anyhow::Context;
use bytes::Bytes;
use odradek::client::{ClientConfig, Compression, Producer, ProducerConfig, ProducerRecord};
use std::io::BufRead;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ProduceArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    #[arg(long)]
    topic: String,
    /// Split each line at the first occurrence: key before, value after.
    #[arg(long)]
    key_separator: Option<String>,
    /// Send every record to this partition.
    #[arg(long)]
    partition: Option<i32>,
    /// 0, 1, all (or -1).
    #[arg(long, default_value = "all")]
    acks: String,
    /// none, gzip, snappy, lz4, zstd.
    #[arg(long, default_value = "none")]
    compression: String,
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
}

pub async fn run(args: ProduceArgs) -> anyhow::Result<ExitCode> {
    let acks = match args.acks.as_str() {
        "all" | "-1" => -1,
        "1" => 1,
        "0" => 0,
        other => anyhow::bail!("--acks must be 0, 1 or all, not {other:?}"),
    };
    let compression: Compression =
        args.compression.parse().map_err(|e| anyhow::anyhow!("--compression: {e}"))?;
    let config = ProducerConfig {
        client: ClientConfig::new(&args.bootstrap_server),
        acks,
        compression,
        linger_ms: args.linger_ms,
        ..ProducerConfig::default()
    };
    let producer = Producer::new(config).await?;
    let mut deliveries = Vec::new();
    for (number, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("cannot read stdin")?;
        let (key, value) = match &args.key_separator {
            Some(separator) => match line.split_once(separator.as_str()) {
                Some((key, value)) => (Some(key.to_string()), value.to_string()),
                None => anyhow::bail!("line {}: no key separator {separator:?}", number + 1),
            },
            None => (None, line),
        };
        let mut record = ProducerRecord::new(args.topic.clone(), Bytes::from(value));
        if let Some(key) = key {
            record = record.with_key(Bytes::from(key));
        }
        if let Some(partition) = args.partition {
            record = record.with_partition(partition);
        }
        deliveries.push((number + 1, producer.send(record).await?));
    }
    let mut failed = 0;
    for (line, delivery) in deliveries {
        if let Err(error) = delivery.await {
            eprintln!("line {line}: not delivered: {error}");
            failed += 1;
        }
    }
    producer.close().await?;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
