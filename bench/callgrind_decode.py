"""Instructions per event of ``decode_batch`` (issue #18), to run under callgrind.

    valgrind --tool=callgrind --dump-before=getppid --callgrind-out-file=/tmp/cg.%p \
        .venv/bin/python bench/callgrind_decode.py --format json

``os.getppid()`` marks the start and the end of the measured decode, so callgrind writes one
dump per stage: the dump that ends at the second mark holds the decoding of ``--events``
events of tests/support/eventmix.py, after a warm-up batch. Divide its Ir by the events.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provenance_ledger.ledger.batch import decode_batch, relax_gc
from provenance_ledger.producers.emitter import encode_message
from provenance_ledger.schemas.codec import KafkaRecord
from provenance_ledger.schemas.limits import DEFAULT_MAX_EVENT_BYTES
from tests.support import eventmix


def records(count: int, fmt: str, seed: int) -> list[KafkaRecord]:
    out = []
    for offset, decoded in enumerate(eventmix.events(count, seed=seed)):
        headers, value = encode_message(decoded, fmt)
        out.append(KafkaRecord("provenance.events", 0, offset, None, value, tuple(headers)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("json", "avro"), default="json")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    warm = records(args.batch, args.format, seed=1)
    measured = records(args.events, args.format, seed=2)
    relax_gc()
    decode_batch(warm, DEFAULT_MAX_EVENT_BYTES)
    os.getppid()
    for start in range(0, len(measured), args.batch):
        _incoming, rejected = decode_batch(
            measured[start : start + args.batch], DEFAULT_MAX_EVENT_BYTES
        )
        if rejected:
            raise SystemExit(f"benchmark events refused: {rejected[0]}")
    os.getppid()


if __name__ == "__main__":
    main()
