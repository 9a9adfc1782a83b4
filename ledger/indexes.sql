-- ART indexes for the incident queries (query/suspects/finder.py, query/readmodels/provenance.py). DuckDB
-- turns equality look-ups and join filters on these keys into index scans, so a suspects
-- call touches a handful of rows even on tens of millions (bench/bench_query.py measures it).

CREATE INDEX IF NOT EXISTS deployment_changes_seq_idx ON deployment_changes (deployment_seq);
CREATE INDEX IF NOT EXISTS deployment_changes_commit_idx ON deployment_changes (commit);
CREATE INDEX IF NOT EXISTS deployments_event_id_idx ON deployments (event_id);
CREATE INDEX IF NOT EXISTS deployments_version_idx ON deployments (version);
CREATE INDEX IF NOT EXISTS commit_facts_commit_idx ON commit_facts (commit);
CREATE INDEX IF NOT EXISTS artifacts_artifact_idx ON artifacts (artifact);
CREATE INDEX IF NOT EXISTS agent_actions_event_id_idx ON agent_actions (event_id);
CREATE INDEX IF NOT EXISTS incidents_incident_idx ON incidents (incident);
CREATE INDEX IF NOT EXISTS incident_resolutions_incident_idx ON incident_resolutions (incident);
CREATE INDEX IF NOT EXISTS attributions_incident_idx ON attributions (incident);
-- A cold suspects call reads ~60 packs of a few neighbouring deployments: through the index,
-- those rows alone; by zone maps alone, every vector (2,048 rows of ~1 KB of JSON) around
-- them, ~2x the CPU (docs/benchmarks.md, "Commit facts packed per deployment").
CREATE INDEX IF NOT EXISTS commit_packs_seq_idx ON commit_packs (deployment_seq);
CREATE INDEX IF NOT EXISTS commit_pack_additions_seq_idx ON commit_pack_additions (deployment_seq);

-- changes, change_ai, reviews and merges are read by commit through commit_facts
-- (ledger/commit_facts.py), which holds all four: an index on each again cost the writer
-- ~0.85 index inserts per event and, on a ledger of 1M events, 78 MB of memory that DuckDB
-- never evicts (docs/benchmarks.md, "Memory").
DROP INDEX IF EXISTS changes_commit_idx;
DROP INDEX IF EXISTS change_ai_commit_idx;
DROP INDEX IF EXISTS reviews_commit_idx;
DROP INDEX IF EXISTS merges_commit_idx;
