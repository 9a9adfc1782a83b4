"""What the log (ledger/recordlog.py) costs per ingested event: CPU µs of the writer's two log
steps, in the ledger's own batches, on a real DuckDB file.

1. append: each record's entry and leaf hash and its place in its partition's tree
   (writer.append_to_log), pure Python;
2. insert: the batch's log_records and log_nodes rows and its head (writer.insert_log).

The records are the event mix of tests/support/eventmix.py as the emitter sends them
(structured JSON, a key, the content-type header) over three partitions.

    python bench/bench_log.py [--events 200000] [--batch 2000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provenance_ledger.ledger import recordlog, writer
from provenance_ledger.ledger.batch import Incoming
from provenance_ledger.ledger.projection import Accepted
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix

PARTITIONS = 3
HEADERS = (("content-type", b"application/cloudevents+json; charset=utf-8"),)


def _batches(events: int, batch: int) -> list[list[Incoming]]:
    incoming = [
        Incoming(
            KafkaRecord(
                "bench",
                at % PARTITIONS,
                at // PARTITIONS,
                decoded.event.source.encode(),
                decoded.canonical,
                HEADERS,
            ),
            decoded,
        )
        for at, decoded in enumerate(eventmix.events(events, seed=4))
    ]
    return [incoming[start : start + batch] for start in range(0, events, batch)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    batches = _batches(args.events, args.batch)
    log_state = recordlog.RecordLog()
    appended, inserted, seq = 0.0, 0.0, 0
    with tempfile.TemporaryDirectory() as folder:
        ledger = Ledger.open(Path(folder) / "log.duckdb", migrate=True)
        cur = ledger.cursor()
        for items in batches:
            accepted = [Accepted(seq + at, item.decoded) for at, item in enumerate(items)]
            sorted_out = writer.Sorted(new=items, accepted=accepted)
            seq += len(items)
            began = time.process_time()
            rows = writer.append_to_log(log_state, items, [], sorted_out)
            middle = time.process_time()
            cur.begin()
            writer.insert_log(cur, log_state, rows, seq, datetime.now(UTC))
            cur.commit()
            appended += middle - began
            inserted += time.process_time() - middle
        ledger.close()
    per = 1e6 / args.events
    print(
        f"log cost per event ({args.events:,} events, batches of {args.batch}, "
        f"{PARTITIONS} partitions): append {appended * per:.1f} µs + insert "
        f"{inserted * per:.1f} µs = {(appended + inserted) * per:.1f} µs CPU"
    )


if __name__ == "__main__":
    main()
