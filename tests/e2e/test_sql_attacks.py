"""SQL that used to take the server down (memory, CPU past the limit, functions past the
deny-list), and requests from a foreign Host, against the real `provledger serve` while
events keep arriving: each gets a 4xx in the one error shape, the server stays up, ingestion
goes on, and the serve process's peak RSS stays under RSS_BOUND_MB."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.support.hostile_sql import (
    ATTACKS,
    RUNAWAY,
    assert_error_shape,
    peak_rss_mb,
    post_sql,
    serving_with_feeder,
)
from tests.support.servers import events_stored
from tests.support.waiting import wait_until

# The serve process (consumer, API, copies of a small ledger) peaks near 200 MB here; the old
# in-process SQL reached 1.3-2 GB on the first two attacks below.
RSS_BOUND_MB = 500


# One server for the module: the attacks and the foreign requests are all refused, so neither
# test changes what the other reads.
@pytest.fixture(scope="module")
def server(start_module_server, module_settings):
    yield from serving_with_feeder(
        start_module_server,
        module_settings.db_path.parent,
        {
            "PROVLEDGER_SQL_TIMEOUT_S": "1",
            "PROVLEDGER_SQL_MAX_BYTES": "1000000",
            "PROVLEDGER_SQL_MEMORY_MB": "256",
            "PROVLEDGER_SQL_WORKERS": "1",
            "PROVLEDGER_SQL_QUEUE_S": "0.5",
        },
    )


def test_sql_attacks_fail_alone_while_ingestion_goes_on(server):
    running, feeder = server
    wait_until(lambda: events_stored(running.url) > 0, 60, "the feeder's first event")
    for text in ATTACKS:
        assert_error_shape(post_sql(running.url, text), 400)
    out_of_memory = assert_error_shape(post_sql(running.url, ATTACKS[1]), 400)
    assert "PROVLEDGER_SQL_MEMORY_MB" in out_of_memory["error"]
    timed_out = assert_error_shape(post_sql(running.url, RUNAWAY), 400)
    assert "PROVLEDGER_SQL_TIMEOUT_S" in timed_out["error"]

    # One worker: concurrent runaway queries are run one at a time or told 429 at once.
    statuses: list[int] = []

    def runaway() -> None:
        statuses.append(post_sql(running.url, RUNAWAY).status_code)

    threads = [threading.Thread(target=runaway) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(statuses) <= {400, 429} and 429 in statuses and len(statuses) == 6

    # The worker is back after the kills, and reads see what was ingested meanwhile.
    sent_after_attacks = feeder.sent
    wait_until(
        lambda: events_stored(running.url) >= sent_after_attacks, 60, "the events fed meanwhile"
    )
    count = post_sql(running.url, "SELECT count(*) FROM events")
    assert count.status_code == 200, count.text
    assert count.json()["rows"][0][0] >= sent_after_attacks
    assert count.json()["as_of"]["events"] == count.json()["rows"][0][0]

    feeder.stop()
    wait_until(lambda: events_stored(running.url) == feeder.sent, 60, "every event fed")
    assert running.process.poll() is None
    assert peak_rss_mb(running.process.pid) < RSS_BOUND_MB


def test_a_foreign_host_or_origin_is_refused_without_tokens(server):
    running, _ = server
    review = {
        "specversion": "1.0",
        "id": "forged-review",
        "source": "test/rebinding",
        "type": "dev.provledger.change.reviewed.v1",
        "time": "2026-03-01T12:00:00Z",
        "data": {
            "repo": "shop/feed",
            "commit": "a" * 40,
            "reviewer": {"id": "boss@shop.example"},
            "decision": "approved",
        },
    }
    foreign = {"Host": "attacker.example:8000"}
    refused = httpx.post(f"{running.url}/v1/events", json=review, headers=foreign, timeout=10)
    assert_error_shape(refused, 403)
    sql = httpx.post(f"{running.url}/v1/sql", json={"sql": "SELECT 1"}, headers=foreign)
    assert_error_shape(sql, 403)
    page = {"Origin": "http://attacker.example:8000"}
    assert_error_shape(httpx.post(f"{running.url}/v1/events", json=review, headers=page), 403)
    # A page may not post JSON as text/plain (no CORS preflight) either.
    plain = {"content-type": "text/plain"}
    text = '{"sql": "SELECT 1"}'
    assert_error_shape(httpx.post(f"{running.url}/v1/sql", content=text, headers=plain), 422)
    assert (
        httpx.post(f"{running.url}/v1/events", content=str(review), headers=plain).status_code
        == 415
    )
    assert httpx.get(f"{running.url}/healthz", headers={"Host": "localhost"}).status_code == 200
    stored = post_sql(running.url, "SELECT count(*) FROM events WHERE id = 'forged-review'")
    assert stored.json()["rows"] == [[0]]
