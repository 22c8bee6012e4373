#!/usr/bin/env python3
"""Produces one record to a topic that does not exist, on a broker that must not create it.

The producer must give up with an error, not hang: exits 1 with {"ok": false, "error", "name",
"elapsed_s"} when the client reported an error, 0 if the record was (wrongly) acknowledged,
and 2 if the client was still waiting when --deadline ran out.
"""

import argparse
import time

import common

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument("--client", choices=["confluent-kafka", "kafka-python"], required=True)
ap.add_argument("--bootstrap", required=True)
ap.add_argument("--topic", required=True)
ap.add_argument("--deadline", type=float, default=20.0, help="seconds before it counts as a hang")
args = ap.parse_args()

started = time.monotonic()
result = {"client": args.client}

if args.client == "confluent-kafka":
    from confluent_kafka import KafkaException, Producer

    outcome = []
    p = Producer({
        "bootstrap.servers": args.bootstrap,
        "acks": "1",
        # How long librdkafka keeps waiting for a topic the broker says is unknown before it
        # fails the records (default 30 s); the deadline below bounds the whole run anyway.
        "topic.metadata.propagation.max.ms": 3000,
        "message.timeout.ms": int(args.deadline * 1000 * 0.75),
    })
    try:
        p.produce(args.topic, key=b"k", value=b"v", on_delivery=lambda err, msg: outcome.append(err))
        p.flush(args.deadline)
        if not outcome:
            result.update(ok=False, hung=True, error="no delivery report before the deadline")
        elif outcome[0] is None:
            result.update(ok=True)
        else:
            result.update(ok=False, error=str(outcome[0]), name=outcome[0].name())
    except KafkaException as e:
        result.update(ok=False, error=str(e.args[0]), name=e.args[0].name())
else:
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=args.bootstrap, acks=1, enable_idempotence=False,
                      max_block_ms=int(args.deadline * 1000 * 0.5), request_timeout_ms=5000,
                      allow_auto_create_topics=True)
    try:
        p.send(args.topic, key=b"k", value=b"v").get(timeout=args.deadline * 0.75)
        result.update(ok=True)
    except Exception as e:
        result.update(ok=False, error=str(e) or repr(e), name=type(e).__name__)
    p.close(timeout=2)

result["elapsed_s"] = round(time.monotonic() - started, 3)
if result["elapsed_s"] > args.deadline:
    result["hung"] = True
common.emit(result)
raise SystemExit(0 if result.get("ok") else 2 if result.get("hung") else 1)
