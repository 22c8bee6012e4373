#!/usr/bin/env python3
"""confluent-kafka (librdkafka) consumer of assigned partitions, no consumer group.

Reads the given partitions from --offset (beginning, end or a number) until it has at least
--count records and has reached the end of every partition, then prints {"ok", "records":
[{partition, offset, key, value, timestamp}]}. Exits 1 if that did not happen within --timeout.
"""

import argparse
import time

import confluent_kafka
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, TopicPartition

import common

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--bootstrap", required=True)
ap.add_argument("--topic", required=True)
ap.add_argument("--partitions", type=common.parse_partitions, default=[0], help="e.g. 0,1,2")
ap.add_argument("--offset", type=common.parse_offset, default="beginning")
ap.add_argument("--count", type=int, default=0, help="at least this many records in all")
ap.add_argument("--timeout", type=float, default=30.0, help="seconds")
args = ap.parse_args()

start = {"beginning": OFFSET_BEGINNING, "end": OFFSET_END}.get(args.offset, args.offset)
c = Consumer({
    "bootstrap.servers": args.bootstrap,
    "group.id": "odradek-tests-assign",  # required by the client; assign() does not join it
    "enable.auto.commit": False,
    "enable.partition.eof": True,
    "auto.offset.reset": "error",
})
c.assign([TopicPartition(args.topic, p, start) for p in args.partitions])

records, errors = [], []
at_end = {p: False for p in args.partitions}
started = time.monotonic()
deadline = started + args.timeout
while time.monotonic() < deadline:
    if len(records) >= args.count and all(at_end.values()):
        break
    m = c.poll(0.2)
    if m is None:
        continue
    if m.error():
        if m.error().code() == KafkaError._PARTITION_EOF:
            at_end[m.partition()] = True
        else:
            errors.append({"error": str(m.error()), "name": m.error().name()})
            if m.error().fatal() or not m.error().retriable():
                break
        continue
    at_end[m.partition()] = False
    records.append({
        "partition": m.partition(),
        "offset": m.offset(),
        "key": common.decode(m.key()),
        "value": common.decode(m.value()),
        "timestamp": m.timestamp()[1],
    })
c.close()

common.finish({
    "ok": not errors and len(records) >= args.count and all(at_end.values()),
    "client": f"confluent-kafka {confluent_kafka.version()} (librdkafka {confluent_kafka.libversion()[0]})",
    "reached_end": at_end,
    "errors": errors,
    "records": records,
    "elapsed_s": round(time.monotonic() - started, 3),
})
