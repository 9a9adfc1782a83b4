"""The hand-written peer of bench/bench_peer.py: what a careful team writes to copy a topic of
structured-mode CloudEvents into PostgreSQL, and nothing more.

Each polled batch is parsed with json.loads, COPY'd into a temporary staging table, moved into
`events` with ON CONFLICT (source, id) DO NOTHING (redeliveries and duplicates), and the next
offset of each partition is upserted into `kafka_offsets` in the same transaction: a crash
replays no committed batch and loses none. On assignment it seeks to the stored offsets.
No validation, no projection, no proof.

    python bench/peer_consumer.py BOOTSTRAP TOPIC GROUP DSN
"""

from __future__ import annotations

import json
import sys

import psycopg
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition

STAGE = "CREATE TEMP TABLE stage (LIKE events) ON COMMIT DELETE ROWS"
COPY = "COPY stage (source, id, type, time, subject, data) FROM STDIN"
MOVE = "INSERT INTO events SELECT * FROM stage ON CONFLICT (source, id) DO NOTHING"
SAVE_OFFSET = (
    "INSERT INTO kafka_offsets VALUES (%s, %s, %s) "
    "ON CONFLICT (topic, part) DO UPDATE SET next_offset = excluded.next_offset"
)


class SeekToStored(ConsumerRebalanceListener):
    def __init__(self, consumer: KafkaConsumer, db: psycopg.Connection) -> None:
        self.consumer, self.db = consumer, db

    def on_partitions_revoked(self, revoked) -> None:
        """Nothing to flush: every polled batch is committed before the next poll."""

    def on_partitions_assigned(self, assigned) -> None:
        rows = self.db.execute("SELECT topic, part, next_offset FROM kafka_offsets").fetchall()
        self.db.commit()
        stored = {TopicPartition(topic, part): offset for topic, part, offset in rows}
        for partition in assigned:
            if partition in stored:
                self.consumer.seek(partition, stored[partition])


def write(db: psycopg.Connection, batch: dict[TopicPartition, list]) -> None:
    with db.cursor() as cursor:
        with cursor.copy(COPY) as copy:
            for records in batch.values():
                for record in records:
                    event = json.loads(record.value)
                    data = json.dumps(event.get("data"))
                    row = (event["source"], event["id"], event["type"], event.get("time"))
                    copy.write_row((*row, event.get("subject"), data))
        cursor.execute(MOVE)
        offsets = [
            (tp.topic, tp.partition, records[-1].offset + 1) for tp, records in batch.items()
        ]
        cursor.executemany(SAVE_OFFSET, offsets)
    db.commit()


def main() -> None:
    bootstrap, topic, group, dsn = sys.argv[1:5]
    db = psycopg.connect(dsn)
    db.execute(STAGE)
    db.commit()
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=5000,
        fetch_min_bytes=1024 * 1024,
        fetch_max_wait_ms=250,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    consumer.subscribe([topic], listener=SeekToStored(consumer, db))
    while True:
        batch = consumer.poll(timeout_ms=500)
        if batch:
            write(db, batch)


if __name__ == "__main__":
    main()
