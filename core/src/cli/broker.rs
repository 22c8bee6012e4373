//! `odradek broker`: load the configuration, run until SIGTERM or SIGINT, close cleanly.

use anyhow::Context;
use odradek::config::BrokerConfig;
use odradek::storage::FileStorage;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct BrokerArgs {
    /// A Kafka server.properties file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A setting that overrides the file, as key=value (repeatable).
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

pub fn run(args: BrokerArgs) -> anyhow::Result<ExitCode> {
    let overrides = args
        .overrides
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .with_context(|| format!("--override {kv:?} is not key=value"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config = BrokerConfig::load(args.config.as_deref(), &overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        odradek::node::run_broker(config, FileStorage::new(), shutdown_signal())
            .await
            .context("broker failed")
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or SIGINT: a clean shutdown, as Kafka does.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("install a SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("install a SIGINT handler");
    tokio::select! {
        biased;
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
    }
}
