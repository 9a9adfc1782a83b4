-- How far the ledger has read, per topic-partition: the furthest of its marks
-- (kafka_offset_marks in schema.sql, appended with each batch). Documented in ledger/SCHEMA.md.
CREATE OR REPLACE VIEW kafka_offsets AS
SELECT topic, kafka_partition, max(next_offset) AS next_offset, max(updated_at) AS updated_at
FROM kafka_offset_marks
GROUP BY topic, kafka_partition;
