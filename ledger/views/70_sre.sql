-- Views for SREs' common questions (`provledger sql`, POST /v1/sql); documented in
-- ledger/SCHEMA.md under "Views for SREs". Built on the provenance views of 50_provenance.sql.

-- AI-assisted changes that no one else, senior at review time, approved as that revision
-- (senior: policy_definitions). violates_policy: the author was not senior either (the
-- ai-change-needs-senior-approval rule); shipped: some deployment shipped it.
CREATE OR REPLACE VIEW ai_changes_without_senior_approval AS
SELECT ca.repo, ca.commit, ca.author_id, ca.author_name,
       coalesce(ca.author_level, 'unknown') AS author_level, ca.authored_at,
       t.ai_tools,
       NOT coalesce(
           list_contains((SELECT senior_levels FROM policy_definitions), ca.author_level), false
       ) AS violates_policy,
       EXISTS (SELECT 1 FROM deployment_shipped s
               WHERE s.commit = ca.commit AND (s.repo IS NULL OR s.repo = ca.repo)) AS shipped,
       ca.event_id
FROM change_approval ca
LEFT JOIN (
    SELECT repo, commit, list(DISTINCT tool ORDER BY tool) AS ai_tools
    FROM change_ai GROUP BY repo, commit
) t ON t.repo = ca.repo AND t.commit = ca.commit
WHERE ca.ai_assisted AND NOT ca.senior_approved;

-- One row per deployment and change it shipped (a deployment that shipped no known change
-- has one row with a NULL commit): who wrote it, with which AI tools, whether a senior
-- approved it, and whether the deployment failed (CONTRACT's change-failure definition).
CREATE OR REPLACE VIEW deployments_with_changes AS
SELECT d.event_id AS deployment_event_id, d.service, d.environment, d.region, d.version,
       d.deployed_at, d.deployer_id, d.deployer_kind, d.fleet_percent,
       s.repo, s.commit, s.via,
       ca.author_id, ca.author_level, ca.ai_assisted, ca.senior_approved,
       t.ai_tools,
       f.deployment_seq IS NOT NULL AS failed
FROM deployments d
LEFT JOIN deployment_shipped s ON s.deployment_seq = d.event_seq
LEFT JOIN (
    SELECT * FROM change_approval
    QUALIFY row_number() OVER (PARTITION BY repo, commit ORDER BY authored_at, event_id) = 1
) ca ON ca.repo = s.repo AND ca.commit = s.commit
LEFT JOIN (
    SELECT repo, commit, list(DISTINCT tool ORDER BY tool) AS ai_tools
    FROM change_ai GROUP BY repo, commit
) t ON t.repo = s.repo AND t.commit = s.commit
LEFT JOIN deployment_failures f ON f.deployment_seq = d.event_seq;

-- Deployments of an incident's services (and environment, when the incident names one) in
-- the default lookback (24 hours) before its impact started: the first list to look at.
CREATE OR REPLACE VIEW incident_recent_deployments AS
SELECT i.incident, i.severity, i.impact_started_at,
       d.event_id AS deployment_event_id, d.service, d.environment, d.version, d.deployed_at,
       i.impact_started_at - d.deployed_at AS before_impact
FROM incident_view i
JOIN deployments d ON list_contains(i.services, d.service)
    AND (i.environment IS NULL OR d.environment = i.environment)
    AND d.deployed_at <= i.impact_started_at
    AND d.deployed_at > i.impact_started_at - (SELECT default_lookback FROM policy_definitions);

-- Destructive agent actions with the authorizer's level at the time; senior_authorized (senior
-- as policy_definitions says) is the destructive-agent-action-needs-authorization rule.
CREATE OR REPLACE VIEW destructive_agent_actions AS
SELECT a.event_id, a.acted_at, a.tool, a.model, a.session, a.action, a.service,
       a.environment, a.resource, a.command, a.authorized_by_id,
       pl.level AS authorized_by_level,
       coalesce(list_contains((SELECT senior_levels FROM policy_definitions), pl.level), false)
           AS senior_authorized
FROM agent_actions a
LEFT JOIN person_levels pl ON pl.person_id = a.authorized_by_id
    AND pl.valid_from <= a.acted_at AND (pl.valid_to IS NULL OR a.acted_at < pl.valid_to)
WHERE a.destructive;

-- AI assistance by tool and model: how many changes, how many lines the tool wrote, and
-- how many of those changes a senior approved.
CREATE OR REPLACE VIEW ai_usage_by_tool AS
SELECT ai.tool, ai.model,
       count(DISTINCT (ai.repo, ai.commit)) AS changes,
       sum(ai.lines) AS ai_lines,
       count(DISTINCT (ai.repo, ai.commit)) FILTER (WHERE ca.senior_approved)
           AS senior_approved_changes
FROM change_ai ai
LEFT JOIN change_approval ca ON ca.repo = ai.repo AND ca.commit = ai.commit
GROUP BY ai.tool, ai.model;

-- Why events were refused: how many per reason, when, and the latest detail.
CREATE OR REPLACE VIEW dead_letter_reasons AS
SELECT reason, count(*) AS dead_letters, min(received_at) AS first_received_at,
       max(received_at) AS last_received_at, arg_max(detail, received_at) AS latest_detail
FROM dead_letters
GROUP BY reason;
