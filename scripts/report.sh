#!/usr/bin/env bash
# The main job: run every scenario under scenarios/ in simulation, over seeds 1..10, and
# rewrite reports/ (a page per scenario with its timeline, the claims index, the
# delivery-semantics matrix). A run is a pure function of (scenario, seed, commit): running
# this again on the same commit rewrites the same bytes.
# Usage: scripts/report.sh [extra odradek-sim report options, e.g. --seeds 1..51]
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg madsim"
export CARGO_TARGET_DIR=target-sim
cargo build --release -p odradek-sim --bin odradek-sim
target-sim/release/odradek-sim report scenarios --exclude bench --out reports "$@"
