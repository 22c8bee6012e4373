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

sim=target-sim/debug/odradek-sim

# Every catalog scenario has run with its own seed above (tests/sim_catalog.rs).
# Determinism: every page in reports/ carries the trace hashes of its scenario's runs over
# seeds 1..10 (the guarded runs too), made by another process (a release build) on another
# day; the byte-for-byte check below compares them all. check-determinism (two processes here,
# full traces compared, the first divergence named) covers what reports/ leaves out: the
# benchmark scenarios.
step "odradek-sim check-determinism (scenarios/bench, in two separate processes)"
while IFS= read -r scenario; do
    "$sim" check-determinism "$scenario" || failed+=("check-determinism $scenario")
done < <(find scenarios/bench -name '*.toml' | sort)

step "reports/ regenerate byte for byte (scripts/report.sh would write the same files)"
rm -rf target-sim/reports-check
"$sim" report scenarios --exclude bench --out target-sim/reports-check > /dev/null
if diff -r reports/scenarios target-sim/reports-check/scenarios \
    && diff reports/index.md target-sim/reports-check/index.md \
    && diff reports/matrix.md target-sim/reports-check/matrix.md; then
    echo "reports/ is up to date"
else
    failed+=("reports/ differ from a fresh run: run scripts/report.sh and commit")
fi

if [ ${#failed[@]} -gt 0 ]; then
    step "FAILED after $((SECONDS - started)) s:"
    printf '    %s\n' "${failed[@]}"
    exit 1
fi
step "all tests passed in $((SECONDS - started)) s"
