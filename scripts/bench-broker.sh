#!/usr/bin/env bash
# Broker throughput over loopback, as ratios to baselines measured in the same run (issue 3).
#
#   scripts/bench-broker.sh            # 1,000,000 records of 100 bytes per run
#   RECORDS=500000 scripts/bench-broker.sh
#
# It builds, when missing, librdkafka 2.0.2's `rdkafka_performance` from Debian's source
# package (bookworm main) into target/bench-tools/ (ignored by git; override the place with
# ODRADEK_BENCH_TOOLS=dir). apt reads a private sources list and cache there, so the
# machine's apt configuration is not changed. Then it builds `odradek` in release, starts a
# broker on a free 127.0.0.1 port with a temporary data dir and measures, with rdkafka_performance
# on one partition:
#   produce acks=1, produce acks=all, consume from the beginning
# and, on the same machine in the same run, the baselines for the same byte count:
#   loopback: one TCP stream over 127.0.0.1 (Python, 1 MiB sendall / recv_into)
#   disk:     dd of zeros to the data dir's filesystem, without and with conv=fdatasync
# rdkafka_performance sets linger.ms=1000 for itself, so the last, partial batch of a run
# waits a whole second before it is sent (a 1M-record run then times ~0.5 s of work plus 1 s
# of lingering); the producer runs here pass librdkafka's own default, -X linger.ms=5.
# Each figure is the median of REPS runs (default 5). MB = 10^6 bytes of record values, as
# rdkafka_performance counts them (the wire and the log also carry batch and record headers).
# Every step is bounded by `timeout`; the broker is stopped with SIGTERM at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
RECORDS=${RECORDS:-1000000}
SIZE=100
REPS=${REPS:-5}
BYTES=$((RECORDS * SIZE))
TOOLS=${ODRADEK_BENCH_TOOLS:-$ROOT/target/bench-tools}
RDK=librdkafka-2.0.2
PERF=$TOOLS/$RDK/examples/rdkafka_performance
ODRADEK=$ROOT/target/release/odradek

log() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

build_rdkafka_performance() {
    local apt=$TOOLS/apt
    mkdir -p "$apt/sources" "$apt/lists/partial" "$apt/cache/archives/partial" "$TOOLS"
    cat >"$apt/sources/debian-src.sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    local opts=(-o APT::Sandbox::User=root -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt/sources"
        -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache")
    log "fetching librdkafka's Debian source package (private apt lists in $apt)"
    timeout 300 apt-get -qq "${opts[@]}" update
    (cd "$TOOLS" && timeout 300 apt-get -qq "${opts[@]}" source --download-only librdkafka)
    rm -rf "${TOOLS:?}/$RDK"
    tar -C "$TOOLS" -xzf "$TOOLS/librdkafka_2.0.2.orig.tar.gz"
    log "building $RDK libs and examples/rdkafka_performance (~6 min on 2 cores; log: $TOOLS/build.log)"
    (
        cd "$TOOLS/$RDK"
        ./configure --disable-curl --disable-gssapi --disable-ssl
        make -j"$(nproc)" libs
        make -C examples rdkafka_performance
    ) >"$TOOLS/build.log" 2>&1 || die "librdkafka build failed; see $TOOLS/build.log"
    [ -x "$PERF" ] || die "no $PERF after the build; see $TOOLS/build.log"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# Loopback: MB/s of one TCP stream carrying $BYTES over 127.0.0.1 (receiver counts).
loopback_mbps() {
    timeout 60 python3 - "$BYTES" <<'EOF'
import socket, sys, threading, time
total = int(sys.argv[1])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
done = {}
def receive():
    conn, _ = srv.accept()
    buf = bytearray(1 << 20)
    view, got = memoryview(buf), 0
    while got < total:
        n = conn.recv_into(view)
        if n == 0:
            break
        got += n
    done["t"], done["n"] = time.perf_counter(), got
    conn.close()
t = threading.Thread(target=receive)
t.start()
chunk = b"x" * (1 << 20)
start = time.perf_counter()
cli = socket.create_connection(srv.getsockname())
left = total
while left > 0:
    cli.sendall(chunk[: min(left, len(chunk))])
    left -= min(left, len(chunk))
t.join()
cli.close()
assert done["n"] == total, done
print("%.1f" % (total / (done["t"] - start) / 1e6))
EOF
}

# Disk: MB/s of dd writing $BYTES of zeros into the data dir's filesystem.
disk_mbps() {
    local file=$DATA/dd.bin out secs
    out=$(LC_ALL=C timeout 120 dd if=/dev/zero of="$file" bs=1000000 count="$((BYTES / 1000000))" "$@" 2>&1)
    rm -f "$file"
    secs=$(printf '%s\n' "$out" | sed -n 's/.* copied, \([0-9.e+-]*\) s,.*/\1/p')
    [ -n "$secs" ] || die "cannot parse dd output: $out"
    awk -v b="$BYTES" -v s="$secs" 'BEGIN { printf "%.1f", b / s / 1e6 }'
}

# rdkafka_performance's summary line -> "msgs/s MB/s".
perf_figures() {
    sed -n -e 's/.* \([0-9][0-9]*\) msgs\/s and \([0-9.]*\) MB\/s.*/\1 \2/p' \
        -e 's/.* \([0-9][0-9]*\) msgs\/s (\([0-9.]*\) MB\/s).*/\1 \2/p' | tail -1
}

# --- tools and build -----------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is needed (free port, loopback baseline)"
if [ ! -x "$PERF" ]; then
    build_rdkafka_performance
fi
log "cargo build --release --bin odradek"
timeout 1800 cargo build --release -p odradek --bin odradek

# --- broker --------------------------------------------------------------------------------
DATA=$(mktemp -d "${TMPDIR:-/tmp}/odradek-bench.XXXXXX")
BROKER_PID=
# SIGTERM, then SIGKILL if it has not exited 30 s later; returns the broker's exit status.
stop_broker() {
    local watchdog rc=0
    kill -TERM "$BROKER_PID" 2>/dev/null || true
    (sleep 30 && kill -KILL "$BROKER_PID" 2>/dev/null) &
    watchdog=$!
    wait "$BROKER_PID" || rc=$?
    kill "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
    BROKER_PID=
    return "$rc"
}
cleanup() {
    local rc=$?
    if [ -n "$BROKER_PID" ]; then
        stop_broker || true
    fi
    if [ "$rc" -ne 0 ] && [ -s "$DATA/broker.log" ]; then
        printf 'broker log (last 20 lines):\n' >&2
        tail -20 "$DATA/broker.log" >&2
    fi
    rm -rf "$DATA"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BOOT=127.0.0.1:$PORT
log "starting odradek broker on $BOOT, data in $DATA (log: $DATA/broker.log)"
RUST_LOG=warn "$ODRADEK" broker --override "listeners=PLAINTEXT://$BOOT" \
    --override "log.dirs=$DATA/log" >"$DATA/broker.log" 2>&1 &
BROKER_PID=$!
up=
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then up=1 && break; fi
    kill -0 "$BROKER_PID" 2>/dev/null || die "broker exited: $(cat "$DATA/broker.log")"
    sleep 0.1
done
[ -n "$up" ] || die "broker not listening on $BOOT after 10 s: $(tail -20 "$DATA/broker.log")"

perf() {
    local out
    out=$(LD_LIBRARY_PATH=$TOOLS/$RDK/src timeout 300 "$PERF" -b "$BOOT" -p 0 -c "$RECORDS" "$@" 2>&1) ||
        die "rdkafka_performance $* failed (exit $?): $(printf '%s\n' "$out" | tail -20)"
    printf '%s\n' "$out" >>"$DATA/perf.log"
    local fig
    fig=$(printf '%s\n' "$out" | perf_figures)
    [ -n "$fig" ] || die "no summary from rdkafka_performance $*: $(printf '%s\n' "$out" | tail -20)"
    # A short run is not a measurement: check every record made it.
    printf '%s\n' "$out" | grep -Eq "(, $RECORDS delivered|% $RECORDS messages \\()" ||
        die "rdkafka_performance $* did not move $RECORDS records: $(printf '%s\n' "$out" | grep '^%' | tail -5)"
    printf '%s\n' "$fig"
}

declare -A MSGS MBPS
measure() { # name, command...
    local name=$1 i m=() b=() fig
    shift
    for i in $(seq "$REPS"); do
        fig=$("$@" "$i")
        m+=("${fig%% *}")
        b+=("${fig##* }")
    done
    MSGS[$name]=$(printf '%s\n' "${m[@]}" | median)
    MBPS[$name]=$(printf '%s\n' "${b[@]}" | median)
    log "$name: runs ${b[*]} MB/s, median ${MBPS[$name]} MB/s"
}
produce() { # acks, rep
    timeout 30 "$ODRADEK" topics --bootstrap-server "$BOOT" --create --topic "p$1-$2" --partitions 1 >/dev/null
    perf -P -t "p$1-$2" -s "$SIZE" -a "$1" -X linger.ms=5
}
consume() { perf -C -t "p1-$1" -o beginning -e; }
loopback() { echo "0 $(loopback_mbps)"; }
disk_cache() { echo "0 $(disk_mbps)"; }
disk_sync() { echo "0 $(disk_mbps conv=fdatasync)"; }

log "$REPS runs of each; $RECORDS records x $SIZE bytes = $BYTES bytes"
measure loopback loopback
measure disk disk_cache
measure disk_sync disk_sync
measure produce_acks1 produce 1
measure produce_acksall produce -1
measure consume consume

# --- report --------------------------------------------------------------------------------
stop_broker || die "the broker exited with status $? after SIGTERM (137: killed after 30 s): $(tail -5 "$DATA/broker.log")"

row() { printf '%-32s %12s %10s %10s %10s %10s\n' "$@"; }
echo
echo "odradek broker over loopback: scripts/bench-broker.sh (RECORDS=$RECORDS REPS=$REPS)"
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(uname -sm), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$RECORDS records x $SIZE-byte values, one partition, rdkafka_performance ($RDK, -X linger.ms=5, otherwise its defaults: no compression); median of $REPS; MB = 10^6 bytes of values"
echo "baselines: loopback = one TCP stream over 127.0.0.1 (Python, 1 MiB writes), disk = dd bs=1MB of the same bytes to the data dir's filesystem ($(df --output=source,fstype "$DATA" 2>/dev/null | tail -1 | tr -s ' ' | sed 's/ /, /'))"
echo
row "run" "msgs/s" "MB/s" "/loopback" "/disk" "/disk sync"
row "baseline loopback" "-" "${MBPS[loopback]}" 1 - -
row "baseline dd (page cache)" "-" "${MBPS[disk]}" - 1 -
row "baseline dd conv=fdatasync" "-" "${MBPS[disk_sync]}" - - 1
for name in produce_acks1 produce_acksall consume; do
    row "odradek ${name//_/ }" "${MSGS[$name]}" "${MBPS[$name]}" \
        "$(ratio "${MBPS[$name]}" "${MBPS[loopback]}")" \
        "$(ratio "${MBPS[$name]}" "${MBPS[disk]}")" \
        "$(ratio "${MBPS[$name]}" "${MBPS[disk_sync]}")"
done
