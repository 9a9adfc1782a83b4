"""The service catalog and configuration changes of the benchmark ledger (bench/gen_ledger.py).

The graph: services svc-0..svc-N-1 (the first 500 are those that deploy, svc-0 the busiest);
N/200 hubs at the end (databases, auth) that many call. Every other service calls 1 to 5
services a little further along (a hub first, six times in ten), so the busy services reach
many others within a few hops; one in 25 also calls back to one before it and some hubs call
the next around a ring: cycles. One service in ten registers again mid-year with one more hub.

The configuration changes: spread evenly over the year in time order, on services skewed
towards the busy ones (one in 20 on a whole environment), feature flags, configuration and
infrastructure; some made by AI tools, some applied from a commit, one in 25 putting back
what a change shortly before it set.
"""

from __future__ import annotations

from collections.abc import Callable

REGISTRATION_SEQ = 200_000_000_000
CONFIG_SEQ = 300_000_000_000
TOOLS = "['claude-code', 'copilot', 'cursor', 'codex', 'aider']"
UNIT = "18446744073709551615.0"  # hash() / UNIT is uniform in [0, 1]

Step = Callable[[str, str], None]


def _graph_sql(services: int, start: str, span_s: int) -> str:
    hubs = max(3, services // 200)
    first_hub = services - hubs
    return f"""
        CREATE TEMP TABLE graph AS
        WITH edges AS (
            SELECT i, CASE WHEN m = 0 AND hash(i, 'hub') % 10 < 6
                           THEN {first_hub} + hash(i, 'h') % {hubs}
                           ELSE least(i + 1 + hash(i, m, 'd') % 60, {services - 1}) END AS dep
            FROM range({first_hub}) t(i), range(5) u(m)
            WHERE m <= hash(i, 'k') % 5
            UNION ALL
            SELECT i, i - 1 - hash(i, 'back') % 30 FROM range(31, {first_hub}) t(i)
            WHERE hash(i, 'cyc') % 25 = 0
            UNION ALL
            SELECT i, CASE WHEN i = {services - 1} THEN {first_hub} ELSE i + 1 END
            FROM range({first_hub}, {services}) t(i)
            WHERE hash(i, 'ring') % 2 = 0 OR i = {services - 1}
        )
        SELECT s.i, coalesce(list(DISTINCT 'svc-' || e.dep) FILTER (e.dep IS NOT NULL
                                                                    AND e.dep <> s.i), [])
                    AS depends_on
        FROM range({services}) s(i) LEFT JOIN edges e ON e.i = s.i
        GROUP BY s.i;
        INSERT INTO service_registrations
        SELECT 'svc-' || i, 'team-' || i % 50, 1 + hash(i, 'tier') % 3, ['bench/app'],
               depends_on, TIMESTAMPTZ '{start}' - INTERVAL 30 DAY, 'reg-' || i,
               'bench/catalog', {REGISTRATION_SEQ} + i
        FROM graph ORDER BY i;
        INSERT INTO service_registrations
        SELECT 'svc-' || i, 'team-' || i % 50, 1 + hash(i, 'tier') % 3, ['bench/app'],
               list_distinct(list_append(depends_on,
                                         'svc-' || ({first_hub} + hash(i, 'h2') % {hubs}))),
               TIMESTAMPTZ '{start}' + to_seconds(hash(i, 'when') % {span_s}),
               'reg2-' || i, 'bench/catalog', {REGISTRATION_SEQ + services} + i
        FROM graph WHERE hash(i, 'again') % 10 = 0 AND i < {first_hub}
        ORDER BY hash(i, 'when') % {span_s};
        """


def _config_sql(
    changes: int, services: int, start: str, span_s: int, commit_at: Callable[[str], str]
) -> str:
    kind = (
        "CASE WHEN hash(i, 'kind') % 20 < 10 THEN 'feature_flag'"
        " WHEN hash(i, 'kind') % 20 < 17 THEN 'config' ELSE 'infrastructure' END"
    )
    return f"""
        CREATE TEMP TABLE cfg AS
        SELECT i, kind, service, environment,
               coalesce(service, environment) || CASE kind
                   WHEN 'feature_flag' THEN '.flags.f' || hash(i, 'key') % 40
                   WHEN 'config' THEN '.settings.k' || hash(i, 'key') % 60
                   ELSE '.node_pool.size' END AS key,
               CASE kind WHEN 'feature_flag' THEN (hash(i, 'v') % 2 = 0)::VARCHAR
                         ELSE (hash(i, 'v') % 1000)::VARCHAR END AS from_value,
               CASE kind WHEN 'feature_flag' THEN (hash(i, 'v') % 2 = 1)::VARCHAR
                         ELSE ((hash(i, 'v') + 1 + hash(i, 'step') % 50) % 1000)::VARCHAR
                         END AS to_value,
               CASE WHEN i >= 50 AND hash(i, 'revert') % 25 = 0
                    THEN i - 1 - hash(i, 'of') % 49 END AS reverts
        FROM (
            SELECT i, {kind} AS kind,
                   CASE WHEN hash(i, 'wide') % 20 <> 0 THEN 'svc-' ||
                        floor(pow(hash(i, 's') / {UNIT}, 1.5) * {services})::INT END AS service,
                   CASE WHEN hash(i, 'e') % 10 < 6 THEN 'prod' ELSE 'staging' END AS environment
            FROM range({changes}) t(i)
        );
        INSERT INTO config_changes
        SELECT 'cfg-' || c.i, 'bench/config', coalesce(p.kind, c.kind),
               CASE WHEN p.i IS NULL THEN c.service ELSE p.service END,
               coalesce(p.environment, c.environment), 'eu-west-' || (hash(c.i, 'r') % 3 + 1),
               NULL, coalesce(p.key, c.key), coalesce(p.to_value, c.from_value)::JSON,
               coalesce(p.from_value, c.to_value)::JSON,
               CASE WHEN coalesce(p.kind, c.kind) = 'feature_flag'
                    THEN [1, 5, 25, 50, 100][(hash(c.i, 'fleet') % 5 + 1)::BIGINT] END,
               CASE WHEN a < 70 THEN 'ci@bench' ELSE 'dev-' || hash(c.i, 'who') % 5000 END,
               NULL, CASE WHEN a < 70 THEN 'automation' WHEN a < 95 THEN 'human'
                          ELSE 'ai_agent' END,
               CASE WHEN from_code THEN 'bench/app' END,
               CASE WHEN from_code THEN {commit_at("c.i")} END,
               ai, CASE WHEN ai THEN [{TOOLS}[(hash(c.i, 't') % 5 + 1)::BIGINT]] ELSE [] END,
               CASE WHEN hash(c.i, 'ref') % 10 < 3 THEN 'CHG-' || c.i END, NULL,
               TIMESTAMPTZ '{start}' + to_seconds(c.i * {span_s}::BIGINT // {changes}),
               {CONFIG_SEQ} + c.i
        FROM (SELECT *, hash(i, 'actor') % 100 AS a, hash(i, 'ai') % 100 < 15 AS ai,
                     kind = 'infrastructure' OR hash(i, 'code') % 5 = 0 AS from_code
              FROM cfg) c
        LEFT JOIN cfg p ON p.i = c.reverts
        ORDER BY c.i;
        INSERT INTO config_change_ai
        SELECT event_seq, ai_tools[1], 'model-x', 'agent', NULL, 'sess-cfg-' || event_seq // 5
        FROM config_changes WHERE ai_assisted ORDER BY event_seq;
        """


def generate(
    step: Step,
    services: int,
    changes: int,
    start: str,
    span_s: int,
    commit_at: Callable[[str], str],
) -> None:
    """Write the catalog (when ``services``) and the configuration changes (when
    ``changes``) with ``step``; ``commit_at(i)`` is SQL for a commit shipped around the
    time of the i-th configuration change."""
    if services:
        step("service_registrations", _graph_sql(services, start, span_s))
    if changes:
        step("config_changes", _config_sql(changes, services or 500, start, span_s, commit_at))
