//! `odradek consume`: read records by partition and print them with a format.

use odradek::client::{AutoOffsetReset, ClientConfig, Consumer, ConsumerConfig, ConsumerRecord};
use odradek::TopicPartition;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ConsumeArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    #[arg(long)]
    topic: String,
    /// Read only this partition (default: all of the topic's partitions).
    #[arg(long)]
    partition: Option<i32>,
    /// Start at the log start offset (default: only records produced from now on).
    #[arg(long)]
    from_beginning: bool,
    /// Start at this offset (needs --partition).
    #[arg(long, requires = "partition")]
    offset: Option<i64>,
    /// Exit after this many records.
    #[arg(long)]
    max_messages: Option<usize>,
    /// Exit when no record arrived for this long.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Output format: %t topic, %p partition, %o offset, %k key, %v value, %T timestamp,
    /// \n newline, \t tab.
    #[arg(long, default_value = "%v\\n")]
    format: String,
}

pub async fn run(args: ConsumeArgs) -> anyhow::Result<ExitCode> {
    let reset =
        if args.from_beginning { AutoOffsetReset::Earliest } else { AutoOffsetReset::Latest };
    let mut consumer = Consumer::new(ConsumerConfig {
        client: ClientConfig::new(&args.bootstrap_server),
        auto_offset_reset: reset,
        ..ConsumerConfig::default()
    })?;
    let partitions: Vec<TopicPartition> = match args.partition {
        Some(p) => vec![TopicPartition::new(args.topic.clone(), p)],
        None => {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            let metadata =
                consumer.cluster().wait_for_topic(&args.topic, deadline, "topic metadata").await?;
            (0..metadata.partition_count())
                .map(|p| TopicPartition::new(args.topic.clone(), p))
                .collect()
        }
    };
    consumer.assign(partitions.clone());
    match args.offset {
        Some(offset) => consumer.seek(&partitions[0], offset)?,
        None if args.from_beginning => consumer.seek_to_beginning(&partitions).await?,
        None => consumer.seek_to_end(&partitions).await?,
    }
    let mut out = std::io::stdout().lock();
    let mut printed = 0;
    let mut idle_ms = 0;
    loop {
        if args.max_messages.is_some_and(|max| printed >= max) {
            break;
        }
        let records = consumer.poll(Duration::from_millis(200)).await?;
        if records.is_empty() {
            idle_ms += 200;
            if args.timeout_ms.is_some_and(|t| idle_ms >= t) {
                break;
            }
            continue;
        }
        idle_ms = 0;
        for record in records {
            if args.max_messages.is_some_and(|max| printed >= max) {
                break;
            }
            out.write_all(format_record(&args.format, &record).as_bytes())?;
            printed += 1;
        }
        out.flush()?;
    }
    consumer.close();
    Ok(ExitCode::SUCCESS)
}

fn format_record(format: &str, record: &ConsumerRecord) -> String {
    let text = |b: &Option<bytes::Bytes>| {
        b.as_deref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
    };
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('%', Some(spec)) => {
                chars.next();
                match spec {
                    't' => out.push_str(&record.topic),
                    'p' => out.push_str(&record.partition.to_string()),
                    'o' => out.push_str(&record.offset.to_string()),
                    'k' => out.push_str(&text(&record.key)),
                    'v' | 's' => out.push_str(&text(&record.value)),
                    'T' => out.push_str(&record.timestamp_ms.to_string()),
                    other => {
                        out.push('%');
                        out.push(other);
                    }
                }
            }
            ('\\', Some('n')) => {
                chars.next();
                out.push('\n');
            }
            ('\\', Some('t')) => {
                chars.next();
                out.push('\t');
            }
            (c, _) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_name_every_part_of_a_record() {
        let record = ConsumerRecord {
            topic: "t".into(),
            partition: 2,
            offset: 7,
            timestamp_ms: 99,
            key: Some(bytes::Bytes::from_static(b"k")),
            value: Some(bytes::Bytes::from_static(b"v")),
            headers: vec![],
        };
        assert_eq!(format_record("%t/%p@%o %k=%v %T\\n", &record), "t/2@7 k=v 99\n");
        assert_eq!(format_record("%%x", &record), "%%x");
    }
}
