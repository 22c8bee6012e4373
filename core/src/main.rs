//! `odradek`: the broker binary and its command-line tools.
//!
//! `odradek broker [--config server.properties] [--override key=value]...` runs a broker;
//! with no configuration it serves PLAINTEXT://127.0.0.1:9092 with data in ./data.

#[cfg(not(madsim))]
mod cli;

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(madsim)]
fn main() {
    eprintln!("this odradek binary was built for simulation (--cfg madsim); use odradek-sim");
    std::process::exit(2);
}
