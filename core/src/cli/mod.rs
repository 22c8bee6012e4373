//! The command line: subcommands parsed with clap, each a thin layer over the library.
//! Errors are reported with `anyhow` (the binary is the only place it is used).

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod broker;
mod consume;
mod produce;
mod topics;

#[derive(Parser, Debug)]
#[command(name = "odradek", version, about = "A Kafka-compatible streaming log")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a broker (reads Kafka's server.properties keys).
    Broker(broker::BrokerArgs),
    /// Create, list, describe, alter or delete topics (like kafka-topics.sh).
    Topics(topics::TopicsArgs),
    /// Produce lines from stdin (like kafka-console-producer.sh).
    Produce(produce::ProduceArgs),
    /// Consume and print records (like kafka-console-consumer.sh, by partition).
    Consume(consume::ConsumeArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Broker(args) => broker::run(args),
        Command::Topics(args) => client_runtime().and_then(|rt| rt.block_on(topics::run(args))),
        Command::Produce(args) => client_runtime().and_then(|rt| rt.block_on(produce::run(args))),
        Command::Consume(args) => client_runtime().and_then(|rt| rt.block_on(consume::run(args))),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// The runtime the client commands run on.
fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

/// The error and its causes, skipping a cause whose text the message already holds (our
/// error types print their source in their own message).
fn error_chain(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}
