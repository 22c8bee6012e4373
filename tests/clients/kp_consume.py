#!/usr/bin/env python3
"""kafka-python consumer of assigned partitions, no consumer group.

Same arguments and output as ck_consume.py: reads from --offset until it has at least --count
records and its position has reached the partition's end offset on every partition.
"""

import argparse
import time

import kafka
from kafka import KafkaConsumer, TopicPartition

import common

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--bootstrap", required=True)
ap.add_argument("--topic", required=True)
ap.add_argument("--partitions", type=common.parse_partitions, default=[0], help="e.g. 0,1,2")
ap.add_argument("--offset", type=common.parse_offset, default="beginning")
ap.add_argument("--count", type=int, default=0, help="at least this many records in all")
ap.add_argument("--timeout", type=float, default=30.0, help="seconds")
args = ap.parse_args()

started = time.monotonic()
deadline = started + args.timeout
c = KafkaConsumer(bootstrap_servers=args.bootstrap, group_id=None, enable_auto_commit=False,
                  auto_offset_reset="none", request_timeout_ms=10000)
tps = [TopicPartition(args.topic, p) for p in args.partitions]
c.assign(tps)
for tp in tps:
    if args.offset == "beginning":
        c.seek_to_beginning(tp)
    elif args.offset == "end":
        c.seek_to_end(tp)
    else:
        c.seek(tp, args.offset)

records, errors, at_end = [], [], {}
try:
    while time.monotonic() < deadline:
        for tp, batch in c.poll(timeout_ms=200).items():
            for m in batch:
                records.append({"partition": m.partition, "offset": m.offset,
                                "key": common.decode(m.key), "value": common.decode(m.value),
                                "timestamp": m.timestamp})
        if len(records) >= args.count:
            ends = c.end_offsets(tps, timeout_ms=5000)
            at_end = {tp.partition: c.position(tp) >= ends[tp] for tp in tps}
            if all(at_end.values()):
                break
except Exception as e:
    errors.append({"error": repr(e), "name": type(e).__name__})
c.close()

common.finish({
    "ok": not errors and len(records) >= args.count and bool(at_end) and all(at_end.values()),
    "client": f"kafka-python {kafka.__version__}",
    "reached_end": at_end,
    "errors": errors,
    "records": records,
    "elapsed_s": round(time.monotonic() - started, 3),
})
