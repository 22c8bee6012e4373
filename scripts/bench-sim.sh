#!/usr/bin/env bash
# Simulation speed (issue 4): how many simulated seconds, and how many scenario runs, the
# simulator gets through per wall-clock second on the reference scenario.
#
#   scripts/bench-sim.sh                  # seeds 1..20
#   SEEDS=50 FIRST_SEED=100 scripts/bench-sim.sh
#
# It builds odradek-sim (madsim build, release, target-sim), runs
# scenarios/bench/reference.toml once per seed, one run at a time (`odradek-sim run FILE
# --seed N`, one process each: the figures include process start-up), and then the same
# scenario without its steps (no crash, no restart) over the same seeds: that clean twin is
# the baseline. Simulated time per run is what `odradek-sim run` prints, liveness phase
# included. Every run is bounded by `timeout`. A failing verdict is reported, not hidden.
set -euo pipefail

cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-20}
FIRST_SEED=${FIRST_SEED:-1}
SCENARIO=${SCENARIO:-scenarios/bench/reference.toml}
SIM=target-sim/release/odradek-sim

log() { printf '==> %s\n' "$*" >&2; }

log "cargo build --release --bin odradek-sim (madsim build, target-sim)"
RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target-sim \
    timeout 3600 cargo build --release -p odradek-sim --bin odradek-sim

WORK=$(mktemp -d "${TMPDIR:-/tmp}/odradek-bench-sim.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The clean twin: the same file without its [[steps]] tables, under its own name.
CLEAN=$WORK/reference-clean.toml
awk '
    /^\[\[steps\]\]/ { skip = 1; next }
    /^\[/ { skip = 0 }
    !named && /^name = "/ { sub(/"$/, "-clean\""); named = 1 }
    !skip
' "$SCENARIO" >"$CLEAN"
grep -q '^do = ' "$CLEAN" && { echo "error: steps left in the clean twin" >&2; exit 1; }

# Runs FILE over the seeds; prints "runs passed sim_ms acked wall_s cpu_s" and keeps the
# output. cpu_s is the user+system time of the runs (this subshell's children): unlike wall
# time it does not grow when other work shares the cores.
run_seeds() {
    local file=$1 out=$2 seed start end cpu
    : >"$out"
    start=$EPOCHREALTIME
    for ((seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++)); do
        timeout 600 "$SIM" run "$file" --seed "$seed" >>"$out" 2>&1 || true
    done
    end=$EPOCHREALTIME
    times >"$out.times" # no fork: a subshell would not see these children
    cpu=$(tail -1 "$out.times" | awk '{ for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } } END { print s }')
    awk -v wall="$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" -v cpu="$cpu" '
        /ms simulated/ {
            runs++
            if ($1 == "PASS") passed++
            sim = $0
            sub(/ms simulated.*/, "", sim)
            sub(/.*\(/, "", sim)
            ms += sim
            for (i = 1; i < NF; i++) if ($i == "acked") acked += $(i + 1)
        }
        END { printf "%d %d %d %d %.3f %.3f\n", runs, passed, ms, acked, wall, cpu }
    ' "$out"
}

log "running $SCENARIO over seeds $FIRST_SEED..$((FIRST_SEED + SEEDS - 1))"
read -r runs passed sim_ms acked wall cpu < <(run_seeds "$SCENARIO" "$WORK/faults.out")
log "running its clean twin (no steps) over the same seeds"
read -r c_runs c_passed c_sim_ms c_acked c_wall c_cpu < <(run_seeds "$CLEAN" "$WORK/clean.out")

if [ "$runs" -ne "$SEEDS" ] || [ "$c_runs" -ne "$SEEDS" ]; then
    echo "error: expected $SEEDS runs each, got $runs and $c_runs:" >&2
    tail -20 "$WORK/faults.out" "$WORK/clean.out" >&2
    exit 1
fi

row() { printf '%-26s %5s %7s %8s %8s %12s %8s %11s %13s %7s %11s\n' "$@"; }
figures() { # label runs passed sim_ms acked wall cpu
    awk -v l="$1" -v r="$2" -v p="$3" -v ms="$4" -v a="$5" -v w="$6" -v c="$7" 'BEGIN {
        printf "%-26s %5d %7d %8.1f %8.2f %12.1f %8.2f %11.1f %13.0f %7.2f %11.1f\n",
            l, r, p, ms / 1000, w, ms / 1000 / w, r / w, w / r * 1000, a / w, c, ms / 1000 / c }'
}
echo
echo "simulation speed: scripts/bench-sim.sh (SEEDS=$SEEDS FIRST_SEED=$FIRST_SEED), $SCENARIO"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(uname -sm), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "one run at a time, one odradek-sim process per run (start-up included); simulated time includes the liveness phase"
echo
row "scenario" "runs" "passed" "sim s" "wall s" "sim-s/wall-s" "runs/s" "wall ms/run" "acked/wall-s" "CPU s" "sim-s/CPU-s"
figures "reference (crash+restart)" "$runs" "$passed" "$sim_ms" "$acked" "$wall" "$cpu"
figures "clean twin (baseline)" "$c_runs" "$c_passed" "$c_sim_ms" "$c_acked" "$c_wall" "$c_cpu"
awk -v ms="$sim_ms" -v w="$wall" -v c="$cpu" -v cms="$c_sim_ms" -v cw="$c_wall" -v cc="$c_cpu" 'BEGIN {
    printf "ratio reference/clean: sim-s per wall-s %.2f, wall per run %.2f, CPU per run %.2f\n",
        (ms / w) / (cms / cw), w / cw, c / cc }'
echo
echo "verdicts (reference, first 3 lines):"
grep 'ms simulated' "$WORK/faults.out" | head -3 | sed 's/^/  /'
if [ "$passed" -ne "$runs" ] || [ "$c_passed" -ne "$c_runs" ]; then
    echo "not every run passed:"
    grep -v '^[0-9]* scenario(s)' "$WORK/faults.out" "$WORK/clean.out" | grep -v '^[^:]*:PASS' | head -20 | sed 's/^/  /'
fi
