-- Views derive the relations between facts at query time (see schema.sql).

CREATE OR REPLACE VIEW incident_view AS
SELECT i.incident, i.title, i.severity, i.services, i.environment, i.impact_started_at,
       i.opened_at, i.event_id, r.resolved_at
FROM (
    SELECT * FROM incidents
    QUALIFY row_number() OVER (PARTITION BY incident ORDER BY opened_at, event_id) = 1
) i
LEFT JOIN (
    SELECT incident, min(resolved_at) AS resolved_at FROM incident_resolutions GROUP BY incident
) r USING (incident);
