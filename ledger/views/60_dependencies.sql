-- Services, their dependencies as registered over time, and every change to them (deployments
-- and configuration changes); documented in ledger/SCHEMA.md under "Dependencies and
-- configuration changes". Built on incident_view (10_incidents.sql).

-- Each registration with the time the next registration of the same service replaced it
-- (valid_to NULL: it stands now). Registrations at the same instant: the later in the ledger
-- wins, the earlier one standing for no time at all.
CREATE OR REPLACE VIEW service_registration_history AS
SELECT service, owner, tier, repos, depends_on, valid_from,
       lead(valid_from) OVER (PARTITION BY service ORDER BY valid_from, event_seq) AS valid_to,
       event_id, event_source, event_seq
FROM service_registrations;

-- The dependency graph's edges, each valid while the registration that lists it stands.
CREATE OR REPLACE VIEW service_dependencies AS
SELECT service, unnest(depends_on) AS depends_on, valid_from, valid_to, event_id
FROM service_registration_history;

-- Each registered service's transitive dependencies as registered now: depth 0 is the service
-- itself, path the shortest chain of calls from it (the first in list order among equally
-- short ones). USING KEY keeps one row per (root, service), and a service already reached is
-- never expanded again, so cycles end.
CREATE OR REPLACE VIEW dependency_tree AS
WITH RECURSIVE tree(root, service, depth, path) USING KEY (root, service) AS (
    SELECT service, service, 0, [service]
    FROM service_registration_history WHERE valid_to IS NULL
    UNION
    SELECT t.root, e.depends_on, min(t.depth) + 1, min(list_append(t.path, e.depends_on))
    FROM tree t
    JOIN service_dependencies e ON e.service = t.service AND e.valid_to IS NULL
    WHERE NOT EXISTS (
        SELECT 1 FROM recurring.tree r WHERE r.root = t.root AND r.service = e.depends_on)
    GROUP BY t.root, e.depends_on
)
SELECT root, service, depth, path FROM tree;

-- The same for each incident, from its services, with the graph as registered at its impact
-- start: what it may have been caught up in. depth 0 rows are the incident's own services.
CREATE OR REPLACE VIEW incident_dependency_tree AS
WITH RECURSIVE tree(incident, impact_started_at, service, depth, path)
USING KEY (incident, service) AS (
    SELECT DISTINCT i.incident, i.impact_started_at, s.service, 0, [s.service]
    FROM incident_view i, unnest(i.services) AS s(service)
    UNION
    SELECT t.incident, any_value(t.impact_started_at), e.depends_on, min(t.depth) + 1,
           min(list_append(t.path, e.depends_on))
    FROM tree t
    JOIN service_dependencies e ON e.service = t.service
        AND e.valid_from <= t.impact_started_at
        AND (e.valid_to IS NULL OR t.impact_started_at < e.valid_to)
    WHERE NOT EXISTS (
        SELECT 1 FROM recurring.tree r WHERE r.incident = t.incident AND r.service = e.depends_on)
    GROUP BY t.incident, e.depends_on
)
SELECT incident, impact_started_at, service, depth, path FROM tree;

-- Deployments and configuration changes in one shape. service is NULL for a configuration
-- change aimed at a whole environment; version is a deployment's, kind, key, action, values
-- and fleet_percent (a deployment's too) are a configuration change's.
CREATE OR REPLACE VIEW service_changes AS
SELECT 'deployment' AS change_type, event_id, event_source, service, environment, region,
       NULL::VARCHAR AS resource, deployed_at AS changed_at, version, NULL::VARCHAR AS kind,
       NULL::VARCHAR AS key, NULL::VARCHAR AS action, NULL::JSON AS from_value,
       NULL::JSON AS to_value, fleet_percent, deployer_id AS actor_id,
       deployer_kind AS actor_kind, repo, commit, event_seq
FROM deployments
UNION ALL
SELECT 'config_change', event_id, event_source, target_service, target_environment,
       target_region, target_resource, changed_at, NULL, kind, key, action, from_value,
       to_value, fleet_percent, actor_id, actor_kind, repo, commit, event_seq
FROM config_changes;

-- The changes on each incident's services and their dependencies (as registered at impact
-- start), in its environment, from 24 hours before impact to resolution (or now), plus
-- configuration changes aimed at its whole environment (service, depth and path NULL). A
-- change is on a service when it names it as its service or its resource; a change that
-- reaches the incident by several services shows once, at the least depth. before_impact is
-- negative for changes made after impact started (fixes, reverts).
CREATE OR REPLACE VIEW incident_dependency_changes AS
WITH matched AS (
    SELECT t.incident, t.depth, t.path, c.*
    FROM incident_dependency_tree t
    JOIN service_changes c ON c.service = t.service OR c.resource = t.service
    UNION ALL
    SELECT i.incident, NULL, NULL, c.*
    FROM incident_view i
    JOIN service_changes c ON c.change_type = 'config_change' AND c.service IS NULL
        AND c.resource IS NULL AND c.environment = i.environment
)
SELECT m.incident, i.impact_started_at, m.depth, m.path, m.change_type, m.event_id,
       m.service, m.environment, m.region, m.resource, m.changed_at,
       i.impact_started_at - m.changed_at AS before_impact, m.version, m.kind, m.key,
       m.action, m.from_value, m.to_value, m.fleet_percent, m.actor_id, m.actor_kind, m.repo,
       m.commit
FROM matched m
JOIN incident_view i USING (incident)
WHERE m.changed_at > i.impact_started_at - INTERVAL 24 HOUR
  AND m.changed_at <= coalesce(i.resolved_at, now())
  AND (i.environment IS NULL OR m.environment IS NULL OR m.environment = i.environment)
QUALIFY row_number() OVER (
    PARTITION BY m.incident, m.event_seq ORDER BY m.depth NULLS LAST, m.path) = 1;
