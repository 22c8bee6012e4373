#!/usr/bin/env python3
"""kafka-python producer: N keyed records, then prints where each one landed.

Same records and output as ck_produce.py. --idempotence default leaves kafka-python's own
default (idempotent, acks=all, so the broker must answer InitProducerId); on/off set it.
"""

import argparse
import time

import kafka
from kafka import KafkaProducer

import common

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--bootstrap", required=True)
ap.add_argument("--topic", required=True)
ap.add_argument("--partition", type=int, help="default: the client's partitioner")
ap.add_argument("--acks", type=common.parse_acks, help="default: kafka-python's (all)")
ap.add_argument("--compression", choices=common.CODECS, default="none")
ap.add_argument("--count", type=int, required=True)
ap.add_argument("--start", type=int, default=0)
ap.add_argument("--key-prefix", default="key")
ap.add_argument("--value-prefix", default="value")
ap.add_argument("--timestamp-base", type=int, help="CreateTime of record i: base + i*step (ms)")
ap.add_argument("--timestamp-step", type=int, default=1000)
ap.add_argument("--idempotence", choices=["default", "on", "off"], default="off")
ap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for all acks")
args = ap.parse_args()

conf = {
    "bootstrap_servers": args.bootstrap,
    "compression_type": None if args.compression == "none" else args.compression,
    "linger_ms": 20,
    "request_timeout_ms": 10000,
    "max_block_ms": int(args.timeout * 1000),
    "delivery_timeout_ms": int(args.timeout * 1000),
}
if args.acks is not None:
    conf["acks"] = args.acks
if args.idempotence != "default":
    conf["enable_idempotence"] = args.idempotence == "on"

started = time.monotonic()
p = KafkaProducer(**conf)
futures = {}
for i in range(args.start, args.start + args.count):
    kw = {}
    if args.partition is not None:
        kw["partition"] = args.partition
    if args.timestamp_base is not None:
        kw["timestamp_ms"] = args.timestamp_base + (i - args.start) * args.timestamp_step
    futures[i] = p.send(args.topic, key=common.key_of(args.key_prefix, i).encode(),
                        value=common.value_of(args.value_prefix, i).encode(), **kw)
p.flush(timeout=args.timeout)

delivered, errors = [], []
for i, f in futures.items():
    try:
        md = f.get(timeout=max(0.1, started + args.timeout - time.monotonic()))
        delivered.append({"index": i, "key": common.key_of(args.key_prefix, i),
                          "partition": md.partition, "offset": md.offset,
                          "timestamp": md.timestamp})
    except Exception as e:
        errors.append({"index": i, "error": repr(e), "name": type(e).__name__})
idempotent = bool(p.config["enable_idempotence"])
acks = p.config["acks"]
p.close(timeout=5)

common.finish({
    "ok": not errors and len(delivered) == args.count,
    "client": f"kafka-python {kafka.__version__}",
    "acks": str(acks),
    "compression": args.compression,
    "idempotence": idempotent,
    "errors": errors,
    "delivered": delivered,
    "elapsed_s": round(time.monotonic() - started, 3),
})
