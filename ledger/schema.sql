-- The ledger's tables. Documented for SQL users in ledger/SCHEMA.md.
-- Projection tables hold one row per fact; relations that depend on arrival order
-- (which deployment a rollback reverted, a person's level at a time) are derived in views,
-- so any arrival order gives the same answers.

CREATE SEQUENCE IF NOT EXISTS dead_letter_seq START 1;

-- Compression, where a column names one (files made before keep DuckDB's choice, which
-- cannot be altered): DuckDB's checkpoint tried DICT_FSST on every string column, ~20 µs of
-- serve's CPU per event, most of it on hashes (random: nothing to gain) and on the events'
-- canonical JSON and the log's entries (ZSTD packs them smaller, for half the CPU). ZSTD makes
-- a single-row read slower (a vector is decompressed), which no responder's call makes of
-- these columns: the suspects call took an incident's region from events.data until
-- incidents.region (bench/bench_checkpoint.py, docs/benchmarks.md).
--
-- (source, id) is unique, kept so by the writer's key index (ledger/keyindex.py) and checked
-- by `provledger verify`; an ART index on it cost 62 MB at 1M events and ~6 µs per insert.
-- Files made before this keep their UNIQUE (source, id): DuckDB cannot drop one.
CREATE TABLE IF NOT EXISTS events (
    seq BIGINT PRIMARY KEY,
    source VARCHAR NOT NULL,
    id VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    time TIMESTAMPTZ NOT NULL,
    subject VARCHAR,
    data JSON USING COMPRESSION zstd,
    attributes JSON,
    content_hash VARCHAR NOT NULL USING COMPRESSION zstd,
    canonical VARCHAR NOT NULL USING COMPRESSION zstd,
    leaf_hash BLOB NOT NULL USING COMPRESSION uncompressed,
    topic VARCHAR,
    kafka_partition INTEGER,
    kafka_offset BIGINT,
    ingested_at TIMESTAMPTZ NOT NULL,
    origin VARCHAR
);

CREATE TABLE IF NOT EXISTS dead_letters (
    seq BIGINT PRIMARY KEY DEFAULT nextval('dead_letter_seq'),
    reason VARCHAR NOT NULL,
    detail VARCHAR NOT NULL,
    source VARCHAR,
    id VARCHAR,
    type VARCHAR,
    raw_prefix BLOB,
    raw_size BIGINT,
    raw_sha256 VARCHAR,
    topic VARCHAR,
    kafka_partition INTEGER,
    kafka_offset BIGINT,
    received_at TIMESTAMPTZ NOT NULL,
    origin VARCHAR
);

-- How each event reached the ledger (ledger/origin.py). A file from before origins were
-- recorded gets the column here; nothing vouched for its events, so their origin is kafka.
ALTER TABLE events ADD COLUMN IF NOT EXISTS origin VARCHAR DEFAULT 'kafka';
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS origin VARCHAR DEFAULT 'kafka';

-- How far the ledger has read: one row per partition of each committed batch, appended in its
-- transaction (read through the view kafka_offsets, views/05_kafka_offsets.sql). Appended, not
-- updated: DuckDB skips its automatic checkpoint at a commit that updates rows while a reader's
-- transaction is open, so under reads without pause the WAL, and the rows DuckDB holds until a
-- checkpoint, grew without end. Files from before it have a table kafka_offsets instead, whose
-- rows migrating moves here (ledger/migrate.py).
CREATE TABLE IF NOT EXISTS kafka_offset_marks (
    topic VARCHAR NOT NULL,
    kafka_partition INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- The log (ledger/recordlog.py): every record consumed, per partition in offset order, as
-- the leaves of one RFC 6962 tree per partition. Files from before it have the tables
-- merkle_nodes and tree_heads instead, until `provledger rebuild` makes them anew.
CREATE TABLE IF NOT EXISTS log_records (
    kafka_partition INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    kafka_offset BIGINT NOT NULL,
    -- The leaf's bytes: partition, offset, key, headers and the SHA-256 of the value.
    entry BLOB NOT NULL USING COMPRESSION zstd,
    leaf_hash BLOB NOT NULL USING COMPRESSION uncompressed,
    -- accepted | duplicate | dead_letter
    outcome VARCHAR NOT NULL,
    event_seq BIGINT,
    -- The value, kept only for an accepted event whose value is not its canonical JSON
    -- (Avro, binary mode, JSON spelled otherwise), so that verify can tie the row to it.
    value BLOB USING COMPRESSION zstd
);

-- Perfect subtrees (level >= 1) of each partition's tree; leaves are log_records.leaf_hash.
CREATE TABLE IF NOT EXISTS log_nodes (
    kafka_partition INTEGER NOT NULL,
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash BLOB NOT NULL USING COMPRESSION uncompressed
);

-- The log's head after each committed batch: records, root over the partition heads, the
-- partitions' sizes ("p:size ..."), and how many events were accepted by then.
CREATE TABLE IF NOT EXISTS log_heads (
    log_size BIGINT NOT NULL,
    root_hash BLOB NOT NULL,
    partitions VARCHAR NOT NULL,
    events BIGINT NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS people (
    person_id VARCHAR NOT NULL,
    name VARCHAR,
    level VARCHAR NOT NULL,
    team VARCHAR,
    valid_from TIMESTAMPTZ NOT NULL,
    event_id VARCHAR NOT NULL,
    event_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS changes (
    repo VARCHAR NOT NULL,
    commit VARCHAR NOT NULL,
    author_id VARCHAR NOT NULL,
    author_name VARCHAR,
    files VARCHAR[],
    lines_added BIGINT,
    lines_deleted BIGINT,
    message VARCHAR,
    ai_assisted BOOLEAN NOT NULL,
    authored_at TIMESTAMPTZ NOT NULL,
    event_id VARCHAR NOT NULL,
    event_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS change_ai (
    repo VARCHAR NOT NULL,
    commit VARCHAR NOT NULL,
    tool VARCHAR NOT NULL,
    model VARCHAR,
    mode VARCHAR,
    lines BIGINT,
    session VARCHAR,
    event_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS reviews (
    repo VARCHAR NOT NULL,
    commit VARCHAR NOT NULL,
    change_ref VARCHAR,
    reviewer_id VARCHAR NOT NULL,
    reviewer_name VARCHAR,
    decision VARCHAR NOT NULL,
    reviewed_at TIMESTAMPTZ NOT NULL,
    event_id VARCHAR NOT NULL,
    event_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS merges (
    repo VARCHAR NOT NULL,
    commit VARCHAR NOT NULL,
    merged_commit VARCHAR NOT NULL,
    change_ref VARCHAR,
    target_branch VARCHAR,
    merged_by_id VARCHAR,
    merged_at TIMESTAMPTZ NOT NULL,
    event_id VARCHAR NOT NULL,
    event_seq BIGINT NOT NULL
);

-- Derived from changes, change_ai, reviews and merges (ledger/commit_facts.py): one row per
-- row there, for fast look-ups of everything about a commit. Columns a fact does not have
-- are NULL.
CREATE TABLE IF NOT EXISTS commit_facts (
    fact VARCHAR NOT NULL,
    repo VARCHAR NOT NULL,
    commit VARCHAR NOT NULL,
    person_id VARCHAR,
    person_name VARCHAR,
    fact_at TIMESTAMPTZ,
    files VARCHAR[],
    lines_added BIGINT,
    lines_deleted BIGINT,
    message VARCHAR,
    ai_assisted BOOLEAN,
    tool VARCHAR,
    model VARCHAR,
    mode VARCHAR,
    lines BIGINT,
    session VARCHAR,
    change_ref VARCHAR,
    decision VARCHAR,
    merged_commit VARCHAR,
    event_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS artifacts (
    artifact VARCHAR NOT NULL,
    repo VARCHAR,
    commit VARCHAR,
    change_ref VARCHAR,
    pipeline_run VARCHAR,
    built_at TIMESTAMPTZ NOT NULL,
    event_id VARCHAR NOT NULL,
    event_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS deployments (
    event_id VARCHAR NOT NULL,
    event_source VARCHAR NOT NULL,
    service VARCHAR NOT NULL,
    environment VARCHAR NOT NULL,
    region VARCHAR,
    version VARCHAR NOT NULL,
    repo VARCHAR,
    commit VARCHAR,
    artifact VARCHAR,
    deployer_id VARCHAR,
    deployer_kind VARCHAR,
    fleet_percent DOUBLE,
    deployed_at TIMESTAMPTZ NOT NULL,
    event_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS deployment_changes (
    deployment_seq BIGINT NOT NULL,
    repo VARCHAR,
    commit VARCHAR NOT NULL
);

-- Derived from deployment_changes and commit_facts behind the writer (ledger/commit_packs.py):
-- per deployment and named commit, the commit's facts as one JSON array, in deployment order,
-- for the first suspects call on an older incident. commit_pack_additions holds facts written
-- after their deployment was packed; commit_pack_marks how far both go.
CREATE TABLE IF NOT EXISTS commit_packs (
    deployment_seq BIGINT NOT NULL,
    position BIGINT NOT NULL,
    repo VARCHAR,
    commit VARCHAR NOT NULL,
    facts VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS commit_pack_additions (
    deployment_seq BIGINT NOT NULL,
    commit VARCHAR NOT NULL,
    facts VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS commit_pack_marks (
    deployments_through BIGINT NOT NULL,
    facts_through BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS rollbacks (
    event_id VARCHAR NOT NULL,
    service VARCHAR NOT NULL,
    environment VARCHAR NOT NULL,
    from_version VARCHAR,
    to_version VARCHAR NOT NULL,
    reason VARCHAR,
    rolled_back_at TIMESTAMPTZ NOT NULL,
    event_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS agent_actions (
    event_id VARCHAR NOT NULL,
    event_source VARCHAR NOT NULL,
    tool VARCHAR NOT NULL,
    model VARCHAR,
    session VARCHAR,
    action VARCHAR NOT NULL,
    service VARCHAR,
    environment VARCHAR,
    resource VARCHAR,
    destructive BOOLEAN NOT NULL,
    command VARCHAR,
    authorized_by_id VARCHAR,
    acted_at TIMESTAMPTZ NOT NULL,
    event_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS incidents (
    incident VARCHAR NOT NULL,
    title VARCHAR,
    severity VARCHAR NOT NULL,
    services VARCHAR[] NOT NULL,
    environment VARCHAR,
    impact_started_at TIMESTAMPTZ NOT NULL,
    opened_at TIMESTAMPTZ NOT NULL,
    event_id VARCHAR NOT NULL,
    event_seq BIGINT NOT NULL,
    region VARCHAR
);
-- An opening's region is an extra field (docs/contract.md), kept here when it is text so the
-- suspects call need not read the event's data. A file from before gets the column here and
-- its regions in the migration (ledger/migrate.py).
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS region VARCHAR;

CREATE TABLE IF NOT EXISTS incident_resolutions (
    incident VARCHAR NOT NULL,
    resolved_at TIMESTAMPTZ NOT NULL,
    event_id VARCHAR NOT NULL,
    event_seq BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS attributions (
    incident VARCHAR NOT NULL,
    verdict VARCHAR NOT NULL,
    by_id VARCHAR NOT NULL,
    target_kind VARCHAR NOT NULL,
    deployment_event_id VARCHAR,
    action_event_id VARCHAR,
    repo VARCHAR,
    commit VARCHAR,
    attributed_at TIMESTAMPTZ NOT NULL,
    event_id VARCHAR NOT NULL,
    event_seq BIGINT NOT NULL
);

-- One row per service.registered; which one stands at a time is the view
-- service_registration_history (ledger/views/60_dependencies.sql).
CREATE TABLE IF NOT EXISTS service_registrations (
    service VARCHAR NOT NULL,
    owner VARCHAR,
    tier BIGINT,
    repos VARCHAR[] NOT NULL,
    depends_on VARCHAR[] NOT NULL,
    valid_from TIMESTAMPTZ NOT NULL,
    event_id VARCHAR NOT NULL,
    event_source VARCHAR NOT NULL,
    event_seq BIGINT NOT NULL
);

-- One row per config.changed. from_value and to_value are the canonical JSON text of the
-- event's from and to (NULL when absent), so equal values have equal text.
CREATE TABLE IF NOT EXISTS config_changes (
    event_id VARCHAR NOT NULL,
    event_source VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    target_service VARCHAR,
    target_environment VARCHAR,
    target_region VARCHAR,
    target_resource VARCHAR,
    key VARCHAR,
    from_value JSON,
    to_value JSON,
    fleet_percent DOUBLE,
    actor_id VARCHAR,
    actor_name VARCHAR,
    actor_kind VARCHAR,
    repo VARCHAR,
    commit VARCHAR,
    ai_assisted BOOLEAN NOT NULL,
    ai_tools VARCHAR[] NOT NULL,
    change_ref VARCHAR,
    action VARCHAR,
    changed_at TIMESTAMPTZ NOT NULL,
    event_seq BIGINT NOT NULL
);

-- The AI tools that made a configuration change, one row per entry of its ai list.
CREATE TABLE IF NOT EXISTS config_change_ai (
    event_seq BIGINT NOT NULL,
    tool VARCHAR NOT NULL,
    model VARCHAR,
    mode VARCHAR,
    lines BIGINT,
    session VARCHAR
);

-- The ledger's identity, made when the file is created: its default consumer group derives
-- from it and it claims its group in Kafka with it (ledger/identity.py). One row.
CREATE TABLE IF NOT EXISTS ledger_identity (
    ledger_id VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- The digest of the schema the file was last migrated with (ledger/migrate.py): a ledger
-- opens only a file whose digest is this provledger's. One row.
CREATE TABLE IF NOT EXISTS ledger_schema (
    digest VARCHAR NOT NULL
);
