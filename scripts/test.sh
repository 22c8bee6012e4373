#!/usr/bin/env bash
# Runs every test of the project, as CI does (.ci/run execs this script):
#   installs the test tools (scripts/setup-test-env.sh), checks formatting and lints, then
#   builds and tests the normal build and the madsim build (own target dir: target-sim).
# Usage: scripts/test.sh   (from anywhere; it works from the repo root)
set -euo pipefail

cd "$(dirname "$0")/.."

started=$SECONDS
step() { printf '\n==> [%4ss] %s\n' "$((SECONDS - started))" "$*"; }

# A failing test suite does not stop the other build's suite from running; the script still
# exits non-zero at the end, naming every suite that failed. Anything else stops it at once.
failed=()

step "install test tools (kcat, .venv with the Python Kafka clients)"
scripts/setup-test-env.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (normal build)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build --bins (normal build: the odradek binary the end-to-end tests start)"
cargo build --workspace --bins

step "cargo nextest run (normal build)"
cargo nextest run --workspace || failed+=("cargo nextest run (normal build)")

# The same code compiled for deterministic simulation: tokio is madsim's there.
export RUSTFLAGS="--cfg madsim"
export CARGO_TARGET_DIR=target-sim

step "cargo clippy (madsim build, target-sim)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build --bins (madsim build, target-sim)"
cargo build --workspace --bins

step "cargo nextest run (madsim build, target-sim)"
cargo nextest run --workspace || failed+=("cargo nextest run (madsim build)")

if [ ${#failed[@]} -gt 0 ]; then
    step "FAILED after $((SECONDS - started)) s:"
    printf '    %s\n' "${failed[@]}"
    exit 1
fi
step "all tests passed in $((SECONDS - started)) s"
