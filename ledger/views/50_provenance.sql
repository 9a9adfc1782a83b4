-- Provenance relations derived at query time (docs/ranking.md explains how they are used).
-- Every view depends only on facts, never on arrival order.

-- A person's level over time: each person.registered holds from its time until the next
-- one for the same id (ties at one instant: the later ledger position wins). Before the
-- first registration the level is unknown.
CREATE OR REPLACE VIEW person_levels AS
SELECT person_id, name, level, team, valid_from,
       lead(valid_from) OVER (PARTITION BY person_id ORDER BY valid_from, event_seq) AS valid_to,
       event_id
FROM people;

-- What each deployment shipped: the commits it names, the commit its artifact was built
-- from (or the commits the merge of the artifact's change brought in), and the commits a
-- shipped merge commit brought in. repo is NULL when the deployment named no repo.
CREATE OR REPLACE VIEW deployment_shipped AS
WITH heads AS (
    SELECT dc.deployment_seq, dc.repo, dc.commit, 1 AS via_rank
    FROM deployment_changes dc
    UNION ALL
    SELECT d.event_seq, a.repo, a.commit, 2
    FROM deployments d JOIN artifacts a ON a.artifact = d.artifact
    WHERE a.commit IS NOT NULL
    UNION ALL
    -- A CDEvents artifact names only its change: the merge of that change names the commits.
    SELECT d.event_seq, m.repo, m.merged_commit, 2
    FROM deployments d JOIN artifacts a ON a.artifact = d.artifact AND a.commit IS NULL
    JOIN merges m ON m.change_ref = a.change_ref AND (a.repo IS NULL OR m.repo = a.repo)
), expanded AS (
    SELECT * FROM heads
    UNION ALL
    SELECT h.deployment_seq, m.repo, m.merged_commit, 3
    FROM heads h
    JOIN merges m ON m.commit = h.commit AND (h.repo IS NULL OR m.repo = h.repo)
    WHERE m.merged_commit <> m.commit
)
SELECT d.event_id AS deployment_event_id, e.deployment_seq, e.repo, e.commit,
       CASE min(e.via_rank) WHEN 1 THEN 'deployment' WHEN 2 THEN 'artifact' ELSE 'merge' END
           AS via
FROM expanded e JOIN deployments d ON d.event_seq = e.deployment_seq
GROUP BY d.event_id, e.deployment_seq, e.repo, e.commit;

-- Which deployments a rollback reverted (CONTRACT §1): every deployment of that
-- service+environment after the one that brought to_version, up to the one that brought
-- from_version (the latest such deployment at or before the rollback). Without a known
-- from_version the latest deployment before the rollback stands in; without a known
-- to_version deployment only the from_version deployment counts as reverted.
-- Each bound is found by an ASOF join on a deployment's moment in its place (its time, then
-- its seq, as one number) and the reverted ones by their rank in the place, so no rollback
-- is joined with every earlier deployment of its place (on a ledger with 15,000 deployments
-- per place that join took ~0.4 s and ~110 MB for the whole view; docs/benchmarks.md).
-- The change-failure rate works the same rule out over arrays instead, outside DuckDB's
-- sorts (query/readmodels/reverted.py); tests/integration/test_suspects_rollbacks.py holds
-- the two to the rule.
CREATE OR REPLACE VIEW rollback_reverts AS
WITH placed AS (
    SELECT event_id, event_seq, service, environment, version, deployed_at,
           epoch_us(deployed_at)::HUGEINT * 9223372036854775808 + event_seq AS moment,
           row_number() OVER (
               PARTITION BY service, environment ORDER BY deployed_at, event_seq) AS place_rank
    FROM deployments
), asked AS (
    SELECT event_seq, service, environment, from_version, to_version,
           epoch_us(rolled_back_at)::HUGEINT * 9223372036854775808 + 9223372036854775807 AS moment
    FROM rollbacks
), from_dep AS (
    SELECT a.event_seq AS rollback_seq, a.service, a.environment, a.to_version, d.moment, d.place_rank
    FROM (SELECT * FROM asked WHERE from_version IS NULL) a ASOF JOIN placed d
        ON d.service = a.service AND d.environment = a.environment AND a.moment >= d.moment
    UNION ALL
    SELECT a.event_seq, a.service, a.environment, a.to_version, d.moment, d.place_rank
    FROM (SELECT * FROM asked WHERE from_version IS NOT NULL) a ASOF JOIN placed d
        ON d.service = a.service AND d.environment = a.environment
        AND d.version = a.from_version AND a.moment >= d.moment
), to_dep AS (
    SELECT f.rollback_seq, d.place_rank
    FROM from_dep f ASOF JOIN placed d
        ON d.service = f.service AND d.environment = f.environment
        AND d.version = f.to_version AND f.moment > d.moment
), hit AS (
    SELECT f.rollback_seq, f.service, f.environment,
           unnest(range(coalesce(t.place_rank + 1, f.place_rank), f.place_rank + 1)) AS place_rank
    FROM from_dep f LEFT JOIN to_dep t USING (rollback_seq)
)
SELECT r.event_id AS rollback_event_id, r.event_seq AS rollback_seq, r.service, r.environment,
       r.from_version, r.to_version, r.reason, r.rolled_back_at,
       d.event_id AS deployment_event_id, d.event_seq AS deployment_seq, d.version, d.deployed_at
FROM hit
JOIN rollbacks r ON r.event_seq = hit.rollback_seq
JOIN placed d ON d.service = hit.service AND d.environment = hit.environment
    AND d.place_rank = hit.place_rank;

-- Reviews with the reviewer's level at review time.
CREATE OR REPLACE VIEW review_levels AS
SELECT rv.repo, rv.commit, rv.change_ref, rv.reviewer_id, rv.reviewer_name, rv.decision,
       rv.reviewed_at, rv.event_id, pl.level AS reviewer_level
FROM reviews rv
LEFT JOIN person_levels pl ON pl.person_id = rv.reviewer_id AND pl.valid_from <= rv.reviewed_at
    AND (pl.valid_to IS NULL OR rv.reviewed_at < pl.valid_to);

-- Each authored change with its author's level at authoring time and whether someone else,
-- senior at review time (policy_definitions.senior_levels), approved that very revision.
CREATE OR REPLACE VIEW change_approval AS
SELECT c.repo, c.commit, c.author_id, c.author_name, c.ai_assisted, c.authored_at,
       c.event_id, pl.level AS author_level,
       EXISTS (
           SELECT 1 FROM review_levels rl
           WHERE rl.repo = c.repo AND rl.commit = c.commit AND rl.decision = 'approved'
             AND rl.reviewer_id <> c.author_id
             AND list_contains((SELECT senior_levels FROM policy_definitions), rl.reviewer_level)
       ) AS senior_approved
FROM changes c
LEFT JOIN person_levels pl ON pl.person_id = c.author_id AND pl.valid_from <= c.authored_at
    AND (pl.valid_to IS NULL OR c.authored_at < pl.valid_to);

-- The verdict that stands for each (incident, target): the latest attribution wins.
CREATE OR REPLACE VIEW attribution_verdicts AS
SELECT * FROM attributions
QUALIFY row_number() OVER (
    PARTITION BY incident, target_kind, deployment_event_id, action_event_id, repo, commit
    ORDER BY attributed_at DESC, event_seq DESC) = 1;

-- Deployments that failed (CONTRACT Definitions): a standing confirmed attribution names the
-- deployment or a commit it shipped, or a rollback reverted it.
CREATE OR REPLACE VIEW deployment_failures AS
SELECT DISTINCT d.event_seq AS deployment_seq, d.event_id AS deployment_event_id
FROM deployments d
WHERE d.event_id IN (
        SELECT deployment_event_id FROM attribution_verdicts
        WHERE verdict = 'confirmed' AND target_kind = 'deployment')
   OR d.event_seq IN (
        SELECT s.deployment_seq FROM deployment_shipped s
        JOIN attribution_verdicts av ON av.verdict = 'confirmed' AND av.target_kind = 'commit'
            AND av.commit = s.commit AND (s.repo IS NULL OR av.repo = s.repo))
   OR d.event_seq IN (SELECT deployment_seq FROM rollback_reverts);
