#!/usr/bin/env python3
"""confluent-kafka (librdkafka) producer that keeps producing for a while: `count` records at
`rate` per second, so a test can kill and restart brokers meanwhile.

Record i has key common.key_of(key_prefix, i) and value common.value_of(value_prefix, i).
Retries are librdkafka's (unbounded within message.timeout.ms), so a send fails only when a
record could not be acknowledged in time. Prints {"ok", "delivered": [{index, partition,
offset}], "errors": [{index, error, name}], "first_error_ms", "elapsed_ms"}; "ok" is true when
every record was either acknowledged or failed with a reported error (none left pending).
"""

import argparse
import time

from confluent_kafka import Producer

import common

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--bootstrap", required=True)
ap.add_argument("--topic", required=True)
ap.add_argument("--acks", type=common.parse_acks, default="all")
ap.add_argument("--count", type=int, required=True)
ap.add_argument("--rate", type=float, required=True, help="records per second")
ap.add_argument("--key-prefix", default="key")
ap.add_argument("--value-prefix", default="value")
ap.add_argument("--timeout", type=float, default=60.0, help="message.timeout.ms, in seconds")
args = ap.parse_args()

producer = Producer({
    "bootstrap.servers": args.bootstrap,
    "acks": str(args.acks),
    "linger.ms": 5,
    "message.timeout.ms": int(args.timeout * 1000),
    "retry.backoff.ms": 100,
    "topic.metadata.refresh.interval.ms": 1000,
})

delivered, errors = [], []
started = time.monotonic()
first_error_ms = None


def on_delivery(i):
    def cb(err, msg):
        global first_error_ms
        if err is not None:
            if first_error_ms is None:
                first_error_ms = int((time.monotonic() - started) * 1000)
            errors.append({"index": i, "error": str(err), "name": err.name()})
        else:
            delivered.append({"index": i, "partition": msg.partition(), "offset": msg.offset()})
    return cb


for i in range(args.count):
    due = started + i / args.rate
    while time.monotonic() < due:
        producer.poll(max(0.0, min(0.05, due - time.monotonic())))
    while True:
        try:
            producer.produce(args.topic, key=common.key_of(args.key_prefix, i),
                             value=common.value_of(args.value_prefix, i), on_delivery=on_delivery(i))
            break
        except BufferError:
            producer.poll(0.1)
    producer.poll(0)

left = producer.flush(args.timeout + 10)
common.finish({
    "ok": left == 0,
    "pending": left,
    "delivered": sorted(delivered, key=lambda d: d["index"]),
    "errors": errors,
    "first_error_ms": first_error_ms,
    "elapsed_ms": int((time.monotonic() - started) * 1000),
})
