#!/usr/bin/env bash
# acks=all produce on a 3-broker cluster against one broker, in the same run (issue 5).
#
#   scripts/bench-cluster.sh           # RECORDS=1000000 REPS=3 by default, 1-3 minutes
#   RECORDS=100000 REPS=5 scripts/bench-cluster.sh
#
# It builds `odradek` in release and starts, on 127.0.0.1 with temporary data dirs:
#   1 broker:   one standalone `odradek broker` (as scripts/bench-broker.sh does); topics with
#               1 partition, replication factor 1;
#   3 brokers:  three `broker,controller` nodes forming one KRaft quorum (as tests/src/cluster.rs
#               does); topics with 1 partition, replication factor 3, min.insync.replicas=2,
#               measured only once all three replicas are in the ISR.
# Both stay up for the whole run. Each repetition creates a fresh topic on each setup, the
# setups alternating (1, 3, 1, 3, ...), and runs scripts/bench_produce.py (confluent-kafka from
# .venv, acks=all, no compression, no idempotence) on it twice:
#   bulk:  RECORDS records of 100 bytes as fast as the client goes, linger.ms=LINGER_MS (5):
#          records/s and MB/s from the first send to the last acknowledgement, and the
#          latency under that load (mostly time queued in the client) of every 100th record
#          (a Python callback for each record would halve the client's rate);
#   paced: LAT_RECORDS records (2000) at LAT_RATE per second (500), linger.ms=0: the
#          per-record latency from produce() to the delivery callback when nothing queues.
# Each figure is the median of REPS runs (default 3); the ratio row divides the 3-broker
# median by the 1-broker one. Every step is bounded by `timeout`; on exit every broker is sent
# SIGTERM (SIGKILL 30 s later if it is still there) and the data dirs are removed.
# The data dirs are under ${TMPDIR:-/tmp}; TMPDIR=/dev/shm puts them on tmpfs, where an fsync
# costs nothing (a way to see how much of a figure is the disk's).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
RECORDS=${RECORDS:-1000000}
SIZE=100
REPS=${REPS:-3}
LINGER_MS=${LINGER_MS:-5}
LAT_RECORDS=${LAT_RECORDS:-2000}
LAT_RATE=${LAT_RATE:-500}
ODRADEK=$ROOT/target/release/odradek
PY=$ROOT/.venv/bin/python
BENCH_PRODUCE=$ROOT/scripts/bench_produce.py
STARTED=$SECONDS

log() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- tools and build -----------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is needed"
if ! "$PY" -c 'import confluent_kafka' 2>/dev/null; then
    log "no confluent-kafka in .venv: running scripts/setup-test-env.sh"
    timeout 600 scripts/setup-test-env.sh >&2
fi
log "cargo build --release --bin odradek"
timeout 1800 cargo build --release -p odradek --bin odradek

# --- processes -----------------------------------------------------------------------------
DATA=$(mktemp -d "${TMPDIR:-/tmp}/odradek-bench-cluster.XXXXXX")
PIDS=()  # every broker started, in start order
NAMES=() # the same order: its log is $DATA/<name>.log
STOPPED=

# Starts `odradek broker` with the given --override settings; its output goes to $DATA/$1.log.
start_broker() { # name, client port, key=value...
    local name=$1 port=$2 args=() kv
    shift 2
    for kv in "$@"; do args+=(--override "$kv"); done
    mkdir -p "$DATA/$name"
    RUST_LOG=warn "$ODRADEK" broker "${args[@]}" --override "log.dirs=$DATA/$name/log" \
        >"$DATA/$name.log" 2>&1 &
    PIDS+=($!)
    NAMES+=("$name")
    local pid=$! up=
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1 && break; fi
        kill -0 "$pid" 2>/dev/null || die "$name exited: $(tail -20 "$DATA/$name.log")"
        sleep 0.1
    done
    [ -n "$up" ] || die "$name not listening on 127.0.0.1:$port after 10 s: $(tail -20 "$DATA/$name.log")"
}

# SIGTERM to every broker at once (a cluster's nodes shut down together), SIGKILL to those
# still running 30 s later; sets STOPPED to one "name:status" per broker (137: it needed
# SIGKILL). It polls rather than arming a background `sleep`, so nothing outlives the script.
stop_brokers() {
    local i rc statuses=() deadline
    [ "${#PIDS[@]}" -gt 0 ] || return 0
    kill -TERM "${PIDS[@]}" 2>/dev/null || true
    deadline=$((SECONDS + 30))
    for i in "${!PIDS[@]}"; do
        while kill -0 "${PIDS[$i]}" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
        kill -KILL "${PIDS[$i]}" 2>/dev/null || true
        rc=0
        wait "${PIDS[$i]}" || rc=$?
        statuses+=("${NAMES[$i]}:$rc")
    done
    PIDS=()
    STOPPED="${statuses[*]}"
}

cleanup() {
    local rc=$? name
    stop_brokers
    if [ "$rc" -ne 0 ]; then
        for name in "${NAMES[@]}"; do
            if [ -s "$DATA/$name.log" ]; then
                printf '%s log (last 10 lines):\n' "$name" >&2
                tail -10 "$DATA/$name.log" >&2
            fi
        done
    fi
    rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

topics() { # bootstrap, args...
    local boot=$1
    shift
    timeout 30 "$ODRADEK" topics --bootstrap-server "$boot" "$@"
}

# The single broker.
PORT=$(free_port)
SINGLE=127.0.0.1:$PORT
log "starting one broker on $SINGLE"
start_broker single "$PORT" "listeners=PLAINTEXT://$SINGLE"

# The cluster: nodes 1..3, each broker,controller, all voters.
declare -a BPORT CPORT
for i in 1 2 3; do
    BPORT[i]=$(free_port)
    CPORT[i]=$(free_port)
done
VOTERS="1@127.0.0.1:${CPORT[1]},2@127.0.0.1:${CPORT[2]},3@127.0.0.1:${CPORT[3]}"
CLUSTER=127.0.0.1:${BPORT[1]},127.0.0.1:${BPORT[2]},127.0.0.1:${BPORT[3]}
log "starting a 3-node cluster on $CLUSTER (controllers $VOTERS)"
for i in 1 2 3; do
    start_broker "node$i" "${BPORT[i]}" "node.id=$i" "process.roles=broker,controller" \
        "controller.quorum.voters=$VOTERS" \
        "listeners=PLAINTEXT://127.0.0.1:${BPORT[i]},CONTROLLER://127.0.0.1:${CPORT[i]}" \
        "advertised.listeners=PLAINTEXT://127.0.0.1:${BPORT[i]}" \
        "controller.listener.names=CONTROLLER" \
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
done

# Creates topic $2 on $1 with the given options, retrying for 30 s (a new quorum elects a
# leader and the brokers register first), then waits until partition 0 has a leader and an
# ISR of $3 replicas; prints the describe line.
create_topic() { # bootstrap, topic, isr size, create options...
    local boot=$1 topic=$2 want=$3 out line isr deadline
    shift 3
    deadline=$((SECONDS + 30))
    until out=$(topics "$boot" --create --topic "$topic" --partitions 1 "$@" 2>&1); do
        [ "$SECONDS" -lt "$deadline" ] || die "cannot create $topic on $boot: $out"
        sleep 0.5
    done
    deadline=$((SECONDS + 30))
    while :; do
        line=$(topics "$boot" --describe --topic "$topic" 2>&1 | grep -F "Partition: 0" || true)
        isr=$(printf '%s\n' "$line" | sed -n 's/.*Isr: \([0-9,]*\).*/\1/p' | tr ',' '\n' | grep -c . || true)
        if [ "$isr" -eq "$want" ] && ! printf '%s\n' "$line" | grep -q 'Leader: none'; then break; fi
        [ "$SECONDS" -lt "$deadline" ] || die "$topic on $boot: no full ISR of $want after 30 s: $line"
        sleep 0.25
    done
    printf '%s\n' "$line" | tr -s '\t' ' ' | sed 's/^ //'
}

# bench_produce.py's JSON -> "records_per_s mb_per_s p50_ms p99_ms".
figures() {
    "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(d["records_per_s"], d["mb_per_s"], d["p50_ms"], d["p99_ms"])'
}
produce() { # bootstrap, topic, bench_produce.py options...
    local boot=$1 topic=$2 out
    shift 2
    out=$(timeout 300 "$PY" "$BENCH_PRODUCE" --bootstrap "$boot" --topic "$topic" --size "$SIZE" "$@" 2>&1) ||
        die "bench_produce.py on $topic ($boot) failed: $out"
    printf '%s\n' "$out" | tail -1 | figures
}

declare -A RUNS # setup,field -> space-separated values of every rep
FIELDS=(rps mbps lp50 lp99 p50 p99)
measure() { # setup name, bootstrap, rep, isr size, create options...
    local setup=$1 boot=$2 rep=$3 want=$4 topic desc bulk paced v k
    shift 4
    topic=bench-$setup-$rep
    desc=$(create_topic "$boot" "$topic" "$want" "$@")
    bulk=$(produce "$boot" "$topic" --count "$RECORDS" --sample 100 --set "linger.ms=$LINGER_MS")
    paced=$(produce "$boot" "$topic" --count "$LAT_RECORDS" --rate "$LAT_RATE" --set linger.ms=0)
    read -r -a v <<<"$bulk ${paced#* * }"
    for k in 0 1 2 3 4 5; do RUNS[$setup,${FIELDS[k]}]+="${v[k]} "; done
    log "rep $rep $setup ($desc): bulk $bulk, paced ${paced#* * } (records/s MB/s p50 p99)"
}

log "$REPS reps of each, alternating; bulk $RECORDS x $SIZE bytes (linger.ms=$LINGER_MS), paced $LAT_RECORDS at $LAT_RATE/s (linger.ms=0)"
for rep in $(seq "$REPS"); do
    measure 1broker "$SINGLE" "$rep" 1
    measure 3brokers "$CLUSTER" "$rep" 3 --replication-factor 3 --config min.insync.replicas=2
done
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
stop_brokers
for s in $STOPPED; do
    [ "${s##*:}" = 0 ] || log "warning: $s after SIGTERM (137: killed after 30 s)"
done

# --- report --------------------------------------------------------------------------------
declare -A MED
for setup in 1broker 3brokers; do
    for f in "${FIELDS[@]}"; do
        MED[$setup,$f]=$(tr -s " " "\n" <<<"${RUNS[$setup,$f]}" | median)
    done
done
row() { printf '%-30s %10s %8s %8s %8s %10s %10s\n' "$@"; }
echo
echo "acks=all produce, 3 brokers against 1: scripts/bench-cluster.sh (RECORDS=$RECORDS REPS=$REPS)"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(uname -sm), load average $LOAD"
echo "client: confluent-kafka $("$PY" -c 'import confluent_kafka as c; print(c.version(), "(librdkafka " + c.libversion()[0] + ")")'), acks=all, no compression, no idempotence, one partition; median of $REPS; MB = 10^6 bytes of values"
echo "bulk: $RECORDS x $SIZE-byte values as fast as the client goes, linger.ms=$LINGER_MS; load latency of every 100th record (mostly queued in the client)"
echo "paced: $LAT_RECORDS x $SIZE-byte values at $LAT_RATE/s, linger.ms=0 (latency = produce() to delivery callback)"
echo "data dirs: $(dirname "$DATA") ($(df --output=source,fstype "$DATA" 2>/dev/null | tail -1 | tr -s ' ' | sed 's/ /, /'))"
echo "1 broker: standalone, replication factor 1; 3 brokers: broker,controller x3, replication factor 3, min.insync.replicas=2, full ISR"
echo
row "" "bulk" "" "load" "load" "paced" "paced"
row "setup" "records/s" "MB/s" "p50 ms" "p99 ms" "p50 ms" "p99 ms"
row "1 broker (RF 1)" "${MED[1broker,rps]}" "${MED[1broker,mbps]}" "${MED[1broker,lp50]}" \
    "${MED[1broker,lp99]}" "${MED[1broker,p50]}" "${MED[1broker,p99]}"
row "3 brokers (RF 3, min ISR 2)" "${MED[3brokers,rps]}" "${MED[3brokers,mbps]}" "${MED[3brokers,lp50]}" \
    "${MED[3brokers,lp99]}" "${MED[3brokers,p50]}" "${MED[3brokers,p99]}"
r=()
for f in "${FIELDS[@]}"; do r+=("$(ratio "${MED[3brokers,$f]}" "${MED[1broker,$f]}")"); done
row "ratio 3 brokers / 1 broker" "${r[@]}"
echo
for setup in 1broker 3brokers; do
    echo "runs $setup: records/s ${RUNS[$setup,rps]% }; paced p50 ms ${RUNS[$setup,p50]% }; paced p99 ms ${RUNS[$setup,p99]% }"
done
echo "brokers stopped with SIGTERM: $STOPPED (exit statuses); wall time $((SECONDS - STARTED)) s"
