#!/usr/bin/env bash
# Runs every historical-switch scenario (scenarios/historical/) over 200 seeds, each with its
# switch on and again guarded (switch off), and writes reports/historical/: a page per run
# with its verdict over the seeds. Each switch's anomaly must appear in the switched run and
# never in the guarded one. Too long for CI (about 20 minutes on 2 cores); CI runs the same
# scenarios over 10 seeds in reports/.
# Usage: scripts/report-historical.sh [--seeds A..B]
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg madsim"
export CARGO_TARGET_DIR=target-sim
cargo build --release -p odradek-sim --bin odradek-sim
target-sim/release/odradek-sim report scenarios/historical --seeds 1..201 --out reports/historical "$@"
