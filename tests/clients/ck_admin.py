#!/usr/bin/env python3
"""confluent-kafka AdminClient: one admin operation per run, result as JSON on stdout.

  create-topic       --topic T --partitions N [--replication-factor R] [--config k=v ...]
  list-topics        -> {"topics": {name: partition count}}
  describe-configs   --topic T -> {"configs": {name: value}}
  list-offsets       --topic T --partition P --spec earliest|latest|<timestamp ms>
                     -> {"offset", "timestamp"}
  create-partitions  --topic T --total N
  delete-topic       --topic T

Exits 1 with {"ok": false, "error", "name"} when the broker refuses or the call times out.
"""

import argparse
import time

import confluent_kafka
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic, OffsetSpec

import common

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("operation", choices=["create-topic", "list-topics", "describe-configs",
                                      "list-offsets", "create-partitions", "delete-topic"])
ap.add_argument("--bootstrap", required=True)
ap.add_argument("--topic")
ap.add_argument("--partitions", type=int, default=1)
ap.add_argument("--replication-factor", type=int, default=1)
ap.add_argument("--config", type=common.parse_kv, action="append", default=[], metavar="KEY=VALUE")
ap.add_argument("--partition", type=int, default=0)
ap.add_argument("--spec", default="latest", help="earliest, latest or a timestamp in ms")
ap.add_argument("--total", type=int, help="partition count after create-partitions")
ap.add_argument("--timeout", type=float, default=15.0, help="seconds")
args = ap.parse_args()

if args.operation != "list-topics" and not args.topic:
    ap.error(f"{args.operation} needs --topic")

admin = AdminClient({"bootstrap.servers": args.bootstrap})
t = args.timeout


def create_topic():
    new = NewTopic(args.topic, num_partitions=args.partitions,
                   replication_factor=args.replication_factor, config=dict(args.config))
    admin.create_topics([new], operation_timeout=t)[args.topic].result(t)
    return {}


def list_topics():
    md = admin.list_topics(timeout=t)
    return {"topics": {name: len(tm.partitions) for name, tm in md.topics.items()
                       if tm.error is None}}


def describe_configs():
    res = ConfigResource("topic", args.topic)
    entries = admin.describe_configs([res], request_timeout=t)[res].result(t)
    return {"configs": {name: e.value for name, e in entries.items()}}


def list_offsets():
    if args.spec == "earliest":
        spec = OffsetSpec.earliest()
    elif args.spec == "latest":
        spec = OffsetSpec.latest()
    else:
        spec = OffsetSpec.for_timestamp(int(args.spec))
    tp = TopicPartition(args.topic, args.partition)
    info = admin.list_offsets({tp: spec}, request_timeout=t)[tp].result(t)
    return {"offset": info.offset, "timestamp": info.timestamp}


def create_partitions():
    admin.create_partitions([NewPartitions(args.topic, args.total)],
                            operation_timeout=t)[args.topic].result(t)
    return {}


def delete_topic():
    admin.delete_topics([args.topic], operation_timeout=t)[args.topic].result(t)
    return {}


started = time.monotonic()
result = {"operation": args.operation,
          "client": f"confluent-kafka {confluent_kafka.version()} (librdkafka {confluent_kafka.libversion()[0]})"}
try:
    result.update(globals()[args.operation.replace("-", "_")]())
    result["ok"] = True
except KafkaException as e:
    err = e.args[0]
    result.update(ok=False, error=str(err), name=err.name())
except Exception as e:  # a timeout shows up as a concurrent.futures error
    result.update(ok=False, error=repr(e), name=type(e).__name__)
result["elapsed_s"] = round(time.monotonic() - started, 3)
common.finish(result)
