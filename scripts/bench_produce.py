#!/usr/bin/env python3
"""acks=all produce with confluent-kafka (librdkafka): throughput and per-record latency.

Used by scripts/bench-cluster.sh. Sends --count records of --size bytes to one partition and
times, for each record, from produce() to its delivery callback (the broker's acknowledgement,
seen at the next poll). Two modes:
  --rate 0 (bulk): as fast as the client goes; records/s and MB/s over the whole run (first
      produce() to last callback). Latencies here are mostly time queued in the client.
  --rate R (paced): R records per second, so the latency is what one acknowledgement costs.
--sample K times every K-th record (and the last one, whose acknowledgement ends the run: one
partition acknowledges in order): a delivery callback per record costs the client about as
much as the rest of its work, so bulk runs sample to measure the broker rather than Python.
Prints one line of JSON: {"records", "timed", "seconds", "records_per_s", "mb_per_s", "p50_ms",
"p99_ms", "max_ms"}; exits 1 if a timed record failed or was left unacknowledged, or if the
partition's high watermark did not grow by --count (untimed records have no callback).
"""

import argparse
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--bootstrap", required=True)
ap.add_argument("--topic", required=True)
ap.add_argument("--count", type=int, required=True)
ap.add_argument("--size", type=int, default=100)
ap.add_argument("--rate", type=float, default=0.0, help="records per second; 0: unpaced")
ap.add_argument("--sample", type=int, default=1, help="time every K-th record (default: all)")
ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                help="librdkafka setting (after the defaults below)")
args = ap.parse_args()

conf = {
    "bootstrap.servers": args.bootstrap,
    "acks": "all",
    "enable.idempotence": False,
    "compression.codec": "none",
    "message.timeout.ms": 60000,
}
for kv in args.set:
    k, _, v = kv.partition("=")
    conf[k] = v

value = b"x" * args.size
clock = time.perf_counter
sent = [0.0] * args.count
latency = [None] * args.count
timed = [i % args.sample == 0 or i == args.count - 1 for i in range(args.count)]
errors = []
last_delivery = [0.0]


def callback(i):
    def cb(err, _msg):
        now = clock()
        last_delivery[0] = now
        if err is not None:
            errors.append(f"record {i}: {err}")
        else:
            latency[i] = now - sent[i]
    return cb


def high_watermark():
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": "bench-produce",
                         "enable.auto.commit": False})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)[1]
    finally:
        consumer.close()


producer = Producer(conf)
# Metadata first, so the first record's latency is not the client's start-up.
producer.list_topics(args.topic, timeout=30)
topic, partition = args.topic, 0
# Untimed records have no callback, so the partition's high watermark (acks=all: what was
# acknowledged) is what says that every record arrived.
before = high_watermark()
produce, poll = producer.produce, producer.poll
start = clock()
for i in range(args.count):
    if args.rate > 0:
        due = start + i / args.rate
        while (left := due - clock()) > 0:
            poll(min(left, 0.05))
    while True:
        try:
            sent[i] = clock()
            produce(topic, value, partition=partition,
                    on_delivery=callback(i) if timed[i] else None)
            break
        except BufferError:  # the client's queue is full: serve callbacks, then retry
            poll(0.01)
    poll(0)
unflushed = producer.flush(120)

done = sorted(x for x in latency if x is not None)
seconds = last_delivery[0] - start
added = high_watermark() - before
if unflushed or errors or len(done) != sum(timed) or added != args.count:
    print(f"{len(done)} of {sum(timed)} timed records acknowledged, {unflushed} unflushed, "
          f"high watermark +{added} for {args.count} records, {len(errors)} errors: "
          f"{errors[:5]}", file=sys.stderr)
    sys.exit(1)


def pct(p):
    return done[min(len(done) - 1, int(p * len(done)))] * 1000


print(json.dumps({
    "records": args.count,
    "timed": len(done),
    "seconds": round(seconds, 4),
    "records_per_s": round(args.count / seconds),
    "mb_per_s": round(args.count * args.size / seconds / 1e6, 2),
    "p50_ms": round(pct(0.50), 3),
    "p99_ms": round(pct(0.99), 3),
    "max_ms": round(done[-1] * 1000, 3),
}))
