#!/usr/bin/env python3
"""confluent-kafka (librdkafka) producer: N keyed records, then prints where each one landed.

Records i in [start, start+count) have key common.key_of(key_prefix, i) and value
common.value_of(value_prefix, i). Prints {"ok", "delivered": [{index, key, partition, offset,
timestamp}], "errors"} and exits 1 if any record was not acknowledged within --timeout.
"""

import argparse
import time

import confluent_kafka
from confluent_kafka import Producer

import common

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--bootstrap", required=True)
ap.add_argument("--topic", required=True)
ap.add_argument("--partition", type=int, help="default: the client's partitioner")
ap.add_argument("--acks", type=common.parse_acks, default="all")
ap.add_argument("--compression", choices=common.CODECS, default="none")
ap.add_argument("--count", type=int, required=True)
ap.add_argument("--start", type=int, default=0)
ap.add_argument("--key-prefix", default="key")
ap.add_argument("--value-prefix", default="value")
ap.add_argument("--timestamp-base", type=int, help="CreateTime of record i: base + i*step (ms)")
ap.add_argument("--timestamp-step", type=int, default=1000)
ap.add_argument("--idempotence", action="store_true")
ap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for all acks")
ap.add_argument("--set", type=common.parse_kv, action="append", default=[],
                metavar="KEY=VALUE", help="extra librdkafka setting")
args = ap.parse_args()

conf = {
    "bootstrap.servers": args.bootstrap,
    "acks": str(args.acks),
    "compression.codec": args.compression,
    "enable.idempotence": args.idempotence,
    "linger.ms": 20,  # one batch per run, so the codec applies to many records at once
    "message.timeout.ms": int(args.timeout * 1000),
}
conf.update(dict(args.set))

delivered, errors = {}, []


def on_delivery(i):
    def cb(err, msg):
        if err is not None:
            errors.append({"index": i, "error": str(err), "name": err.name()})
        else:
            delivered[i] = {
                "index": i,
                "key": common.decode(msg.key()),
                "partition": msg.partition(),
                # None when acks=0: the broker never said where the record went.
                "offset": -1 if msg.offset() is None else msg.offset(),
                "timestamp": msg.timestamp()[1],
            }
    return cb


started = time.monotonic()
p = Producer(conf)
for i in range(args.start, args.start + args.count):
    kw = {}
    if args.partition is not None:
        kw["partition"] = args.partition
    if args.timestamp_base is not None:
        kw["timestamp"] = args.timestamp_base + (i - args.start) * args.timestamp_step
    p.produce(args.topic, key=common.key_of(args.key_prefix, i),
              value=common.value_of(args.value_prefix, i), on_delivery=on_delivery(i), **kw)
    p.poll(0)
unflushed = p.flush(args.timeout)

common.finish({
    "ok": unflushed == 0 and not errors and len(delivered) == args.count,
    "client": f"confluent-kafka {confluent_kafka.version()} (librdkafka {confluent_kafka.libversion()[0]})",
    "acks": str(args.acks),
    "compression": args.compression,
    "idempotence": args.idempotence,
    "unflushed": unflushed,
    "errors": errors,
    "delivered": [delivered[i] for i in sorted(delivered)],
    "elapsed_s": round(time.monotonic() - started, 3),
})
