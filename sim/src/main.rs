//! `odradek-sim`: run scenarios under deterministic simulation.
//!
//! Built for simulation only (`RUSTFLAGS="--cfg madsim"`, with its own target dir); the
//! normal build explains how to get the real one.

#[cfg(madsim)]
mod cli;

#[cfg(madsim)]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(madsim))]
fn main() {
    eprintln!("odradek-sim runs only in the simulation build:");
    eprintln!("  RUSTFLAGS=\"--cfg madsim\" CARGO_TARGET_DIR=target-sim cargo run -p odradek-sim -- run scenarios/");
    std::process::exit(2);
}
