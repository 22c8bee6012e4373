//! Writing scenarios back as TOML: what `swarm` prints and `shrink` saves.
//!
//! Inputs: a [`Scenario`]. Outputs: scenario-file text that parses back into the same
//! scenario (every setting written explicitly, defaults included). Invariant, tested on every
//! file under `scenarios/`: `parse(to_toml(s)) == s` up to the `source` path.

use super::*;
use std::fmt::Write;

fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(", "))
}

fn table(out: &mut String, header: &str, entries: &BTreeMap<String, String>) {
    if entries.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n[{header}]");
    for (key, value) in entries {
        let _ = writeln!(out, "{} = {}", quote(key), quote(value));
    }
}

fn acks(acks: Acks) -> &'static str {
    match acks {
        Acks::Zero => "0",
        Acks::One => "1",
        Acks::All => "all",
    }
}

fn targets(targets: &[Target]) -> String {
    list(targets.iter().map(|t| quote(&t.to_string())))
}

/// A step's action as scenario-file keys and TOML literals, `do` first: what the file writer
/// puts on separate lines and the report page on one.
pub fn action_fields(action: &Action) -> Vec<(&'static str, String)> {
    let verb = |v: &str| ("do", quote(v));
    let target = |t: &Target| ("target", quote(&t.to_string()));
    match action {
        Action::Crash { target: t, kind } => {
            let mode = match kind {
                CrashKind::KeepPageCache => "keep-page-cache",
                CrashKind::LosePageCache => "lose-page-cache",
                CrashKind::TornWrites => "torn-writes",
            };
            vec![verb("crash"), target(t), ("mode", quote(mode))]
        }
        Action::Restart { target: t } => vec![verb("restart"), target(t)],
        Action::Pause { target: t } => vec![verb("pause"), target(t)],
        Action::Resume { target: t } => vec![verb("resume"), target(t)],
        Action::Clog { target: t } => vec![verb("clog"), target(t)],
        Action::Unclog { target: t } => vec![verb("unclog"), target(t)],
        Action::Partition { from, to, one_way } => {
            vec![
                verb("partition"),
                ("from", targets(from)),
                ("to", targets(to)),
                ("one_way", one_way.to_string()),
            ]
        }
        Action::Heal => vec![verb("heal")],
        Action::Network(network) => {
            let (min, max) = network.latency_ms;
            vec![
                verb("network"),
                ("latency_ms", format!("[{min}, {max}]")),
                ("packet_loss", format!("{:?}", network.packet_loss)),
            ]
        }
        Action::DiskFaults {
            target: t,
            read_corruption_probability,
            io_error_probability,
            sync_is_noop,
        } => vec![
            verb("disk-faults"),
            target(t),
            ("read_corruption_probability", format!("{read_corruption_probability:?}")),
            ("io_error_probability", format!("{io_error_probability:?}")),
            ("sync_is_noop", sync_is_noop.to_string()),
        ],
        Action::Seek { client, partition, to } => {
            let offset = match to {
                SeekTo::Earliest => quote("earliest"),
                SeekTo::Latest => quote("latest"),
                SeekTo::Offset(offset) => offset.to_string(),
            };
            let mut fields =
                vec![verb("seek"), target(&Target::Client(client.clone())), ("offset", offset)];
            fields.extend(partition.map(|p| ("partition", p.to_string())));
            fields
        }
        Action::CreatePartitions { topic, count } => {
            vec![verb("create-partitions"), ("topic", quote(topic)), ("count", count.to_string())]
        }
        Action::ListOffsets { topic, partition } => vec![
            verb("list-offsets"),
            ("topic", quote(topic)),
            ("partition", partition.to_string()),
        ],
    }
}

/// The scenario as a scenario file.
pub fn to_toml(s: &Scenario) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "name = {}", quote(&s.name));
    let _ = writeln!(out, "covers = {}", list(s.covers.iter().map(|c| quote(c))));
    let _ = writeln!(out, "why = {}", quote(&s.why));
    // A switched run is written with its `historical` key (which sets the broker key again); a
    // guarded run keeps the switch's broker key, set to false, and no `historical` key.
    let mut broker_config = s.cluster.broker_config.clone();
    if let Some(Historical { switch, on: true }) = &s.historical {
        let _ = writeln!(out, "historical = {}", quote(switch));
        broker_config.remove(&odradek::config::HistoricalBehaviours::config_key(switch));
    }
    let _ = writeln!(out, "seed = {}", s.seed);
    let _ = writeln!(out, "duration_ms = {}", s.duration_ms);

    let _ = writeln!(out, "\n[cluster]\nbrokers = {}", s.cluster.brokers);
    table(&mut out, "cluster.broker_config", &broker_config);
    for topic in &s.cluster.topics {
        let _ = writeln!(
            out,
            "\n[[cluster.topics]]\nname = {}\npartitions = {}\nreplication_factor = {}\ncreate_at_setup = {}",
            quote(&topic.name),
            topic.partitions,
            topic.replication_factor,
            topic.create_at_setup
        );
        table(&mut out, "cluster.topics.config", &topic.config);
    }

    let (min, max) = s.network.latency_ms;
    let _ = writeln!(
        out,
        "\n[network]\nlatency_ms = [{min}, {max}]\npacket_loss = {:?}",
        s.network.packet_loss
    );

    for p in &s.producers {
        let _ = writeln!(
            out,
            "\n[[producers]]\nid = {}\ntopic = {}\nacks = {}",
            quote(&p.id),
            quote(&p.topic),
            quote(acks(p.acks))
        );
        let _ = writeln!(
            out,
            "idempotence = {}\nretries = {}\nmax_in_flight = {}\nrate_per_sec = {:?}",
            p.idempotence, p.retries, p.max_in_flight, p.rate_per_sec
        );
        if let Some(count) = p.count {
            let _ = writeln!(out, "count = {count}");
        }
        if let Some(keys) = p.keys {
            let _ = writeln!(out, "keys = {keys}");
        }
        if let Some(partition) = p.partition {
            let _ = writeln!(out, "partition = {partition}");
        }
        let _ = writeln!(out, "payload_bytes = {}\nlinger_ms = {}\nrequest_timeout_ms = {}\ndelivery_timeout_ms = {}\nstart_ms = {}", p.payload_bytes, p.linger_ms, p.request_timeout_ms, p.delivery_timeout_ms, p.start_ms);
        let timestamps = match p.timestamps {
            Timestamps::CreateTime => "create-time",
            Timestamps::Explicit => "explicit",
        };
        let _ = writeln!(
            out,
            "max_block_ms = {}\nmetadata_max_age_ms = {}\nheaders = {}\ntimestamps = {}",
            p.max_block_ms,
            p.metadata_max_age_ms,
            p.headers,
            quote(timestamps)
        );
    }

    for c in &s.consumers {
        let _ =
            writeln!(out, "\n[[consumers]]\nid = {}\ntopic = {}", quote(&c.id), quote(&c.topic));
        match &c.mode {
            ConsumerMode::Assign(partitions) => {
                let _ =
                    writeln!(out, "assign = {}", list(partitions.iter().map(|p| p.to_string())));
            }
            ConsumerMode::Group(group) => {
                let _ = writeln!(out, "group = {}", quote(group));
            }
        }
        let start = match c.start {
            StartPosition::Earliest => quote("earliest"),
            StartPosition::Latest => quote("latest"),
            StartPosition::Committed => quote("committed"),
            StartPosition::Offset(offset) => offset.to_string(),
        };
        let reset = match c.auto_offset_reset {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Latest => "latest",
            OffsetReset::None => "none",
        };
        let _ = writeln!(out, "start = {start}\nauto_offset_reset = {}", quote(reset));
        match c.commit {
            CommitStrategy::Auto { interval_ms } => {
                let _ = writeln!(out, "commit = \"auto\"\nauto_commit_interval_ms = {interval_ms}");
            }
            CommitStrategy::SyncAfterProcessing => {
                out.push_str("commit = \"sync-after-processing\"\n")
            }
            CommitStrategy::Async => out.push_str("commit = \"async\"\n"),
            CommitStrategy::BeforeProcessing => out.push_str("commit = \"before-processing\"\n"),
            CommitStrategy::None => out.push_str("commit = \"none\"\n"),
        }
        match c.processing {
            Processing::InPollLoop => out.push_str("processing = \"in-poll-loop\"\n"),
            Processing::Async { delay_ms } => {
                let _ = writeln!(out, "processing = \"async\"\nprocessing_delay_ms = {delay_ms}");
            }
        }
        let _ = writeln!(
            out,
            "poll_timeout_ms = {}\nmax_poll_records = {}\nstart_ms = {}",
            c.poll_timeout_ms, c.max_poll_records, c.start_ms
        );
    }

    for step in &s.steps {
        out.push_str("\n[[steps]]\n");
        match &step.trigger {
            Trigger::At(at_ms) => {
                let _ = writeln!(out, "at_ms = {at_ms}");
            }
            Trigger::When(condition) => {
                let _ = writeln!(out, "when = {}", quote(&condition.text));
            }
        }
        for (key, value) in action_fields(&step.action) {
            let _ = writeln!(out, "{key} = {value}");
        }
    }

    let _ = writeln!(
        out,
        "\n[liveness]\nenabled = {}\ndeadline_ms = {}",
        s.liveness.enabled, s.liveness.deadline_ms
    );
    if !s.expect.appear.is_empty() || !s.expect.allow.is_empty() {
        out.push_str("\n[expect]\n");
        if !s.expect.appear.is_empty() {
            let bounds = s.expect.appear.iter().map(|b| match b.at_most {
                Some(at_most) => format!(
                    "{{ property = {}, at_least = {}, at_most = {at_most} }}",
                    quote(&b.property),
                    b.at_least
                ),
                None => {
                    format!("{{ property = {}, at_least = {} }}", quote(&b.property), b.at_least)
                }
            });
            let _ = writeln!(out, "appear = {}", list(bounds));
        }
        if !s.expect.allow.is_empty() {
            let _ = writeln!(out, "allow = {}", list(s.expect.allow.iter().map(|a| quote(a))));
        }
    }
    for claim in &s.claims {
        let _ = writeln!(
            out,
            "\n[[claims]]\nid = {}\nconfirmed_when = {}",
            quote(&claim.id),
            quote(&claim.confirmed_when.text)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every scenario in the repository survives a round trip through the writer.
    #[test]
    fn every_scenario_file_round_trips_through_the_writer() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let scenarios = load_dir(&dir).expect("the repository's scenarios load");
        assert!(!scenarios.is_empty(), "the repository has scenarios");
        for original in scenarios {
            let text = to_toml(&original);
            let mut again = parse(&text, None).unwrap_or_else(|e| {
                panic!("{}: written text does not parse: {e}\n{text}", original.name)
            });
            again.source = original.source.clone();
            // Step lines point into the file each came from; compare the rest.
            let lines = |s: &mut Scenario| s.steps.iter_mut().for_each(|step| step.line = 0);
            let (mut a, mut b) = (original.clone(), again);
            // A guarded run is written as a plain scenario with its switch's broker key off.
            if a.is_guarded() {
                a.historical = None;
            }
            lines(&mut a);
            lines(&mut b);
            assert_eq!(a, b, "{} changed in a round trip:\n{text}", original.name);
        }
    }
}
