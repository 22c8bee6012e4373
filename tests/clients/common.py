"""Shared by the client scripts: the record formula, JSON output, small argument parsers.

The Rust tests (tests/src/lib.rs, `Record::generated`) build the same records, so both sides
must agree on `key_of` and `value_of`.
"""

import json
import sys

# Repetitive on purpose: a batch of these compresses well, so producers really compress it
# (librdkafka sends a batch uncompressed when compression would not make it smaller).
FILLER = "abcdefghij" * 6


def key_of(prefix, i):
    return f"{prefix}-{i}"


def value_of(prefix, i):
    return f"{prefix}-{i}:{FILLER}"


def decode(b):
    return None if b is None else b.decode("utf-8", errors="replace")


def emit(obj):
    """Prints one JSON object on stdout: the script's result, for the Rust test to parse."""
    print(json.dumps(obj, sort_keys=True), flush=True)


def finish(result):
    """Prints the result and exits 0 when it is ok, 1 otherwise."""
    emit(result)
    sys.exit(0 if result.get("ok") else 1)


def parse_acks(s):
    if s == "all":
        return "all"
    n = int(s)
    if n not in (-1, 0, 1):
        raise ValueError(f"acks must be 0, 1, -1 or all, not {s}")
    return n


def parse_offset(s):
    """'beginning', 'end' or a non-negative offset."""
    if s in ("beginning", "end"):
        return s
    n = int(s)
    if n < 0:
        raise ValueError(f"offset must be beginning, end or >= 0, not {s}")
    return n


def parse_partitions(s):
    return [int(p) for p in s.split(",")]


def parse_kv(s):
    k, sep, v = s.partition("=")
    if not sep:
        raise ValueError(f"expected key=value, got {s}")
    return k, v


CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
