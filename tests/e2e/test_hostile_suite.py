"""Every hostile input of issue 12 against one real `provledger serve`, while valid events keep
flowing through Kafka into a three-partition topic:

- records that once stopped ingestion for good, published straight to Kafka (structured and
  binary mode) and posted to ``POST /v1/events``;
- SQL that once took the process down (memory, CPU past the limit, functions past the old
  deny-list);
- requests from a foreign ``Host`` or ``Origin`` (DNS rebinding).

Afterwards every valid event is in the ledger exactly once, every hostile record is a dead
letter with its reason, the process is alive, its peak RSS stayed under RSS_BOUND_MB, and
``/healthz`` answered honestly all along: 200 "ok" or 503 "degraded" with a reason, never an
error or a silence.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest

from tests.support import eventmix, hostile_events
from tests.support.hostile_sql import ATTACKS, peak_rss_mb
from tests.support.ledgerproc import produce
from tests.support.waiting import wait_until

VALID_EVENTS = 3000
PARTITIONS = 3
# serve (consumer, API, SQL copies of a small ledger) peaks near 200 MB here; the old code's
# in-process SQL reached 1.3-2 GB on the first two attacks alone.
RSS_BOUND_MB = 500
FOREIGN = [{"Host": "attacker.example:8000"}, {"Origin": "http://attacker.example"}]


class HealthWatch(threading.Thread):
    """Polls /healthz every 200 ms and keeps every answer (or the failure to get one)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.answers: list[tuple[int, dict]] = []
        self.failures: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.halt.is_set():
                try:
                    response = client.get(f"{self.url}/healthz")
                    self.answers.append((response.status_code, response.json()))
                except (httpx.HTTPError, ValueError) as exc:
                    self.failures.append(repr(exc))
                self.halt.wait(0.2)


class KafkaFeeder(threading.Thread):
    """Publishes the valid mix in small bursts, so it is still flowing during the attacks."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.topic = topic
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            mix = list(eventmix.messages(VALID_EVENTS, seed=12))
            for start in range(0, len(mix), 150):
                self.sent += produce(self.bootstrap, self.topic, mix[start : start + 150])
                time.sleep(0.3)
        except BaseException as exc:  # surfaced by the test
            self.error = exc


def sql(url: str, text: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/sql", json={"sql": text}, timeout=60)


def assert_refused(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in statuses, f"{response.status_code}: {response.text[:300]}"
    body = response.json()
    assert body["ok"] is False and body["status"] == response.status_code and body["error"]
    assert "Traceback" not in response.text


def fresh_rows(url: str, text: str, stored: int) -> list[list]:
    """Rows from a SQL copy that holds at least ``stored`` events and dead letters."""
    last: dict = {}

    def fresh() -> bool:
        response = sql(url, text)
        assert response.status_code == 200, response.text
        last.update(response.json())
        return last["as_of"]["events"] + last["as_of"]["dead_letters"] >= stored

    wait_until(fresh, 90, lambda: f"a SQL copy with {stored} rows: {last['as_of']}", 1)
    return last["rows"]


@pytest.fixture
def serving(start_server, topic_factory, kafka_bootstrap, tmp_path):
    topic = topic_factory(PARTITIONS)
    running = start_server(
        {
            "PROVLEDGER_TOPIC": topic,
            "PROVLEDGER_TOKENS_FILE": str(tmp_path / "no-tokens.json"),
            "PROVLEDGER_SQL_TIMEOUT_S": "1",
            "PROVLEDGER_SQL_MEMORY_MB": "256",
            "PROVLEDGER_SQL_WORKERS": "1",
            "PROVLEDGER_SQL_QUEUE_S": "0.5",
            "PROVLEDGER_SQL_FRESHNESS_S": "30",
        }
    )
    watch = HealthWatch(running.url)
    watch.start()
    yield running, topic, watch
    watch.halt.set()
    watch.join(timeout=10)


def test_hostile_inputs_never_stop_wedge_or_fool_the_ledger(serving, kafka_bootstrap):
    running, topic, watch = serving
    feeder = KafkaFeeder(kafka_bootstrap, topic)
    feeder.start()

    hostile = hostile_events.records()
    produce(kafka_bootstrap, topic, [(None, record.headers, record.value) for record in hostile])
    for record in hostile:
        if record.structured:
            posted = httpx.post(
                f"{running.url}/v1/events",
                content=record.value,
                headers={"content-type": "application/json"},
                timeout=10,
            )
            assert_refused(posted, 422)
    for text in ATTACKS:
        assert_refused(sql(running.url, text), 400, 429)
    for headers in FOREIGN:
        assert_refused(
            httpx.post(f"{running.url}/v1/sql", json={"sql": "SELECT 1"}, headers=headers), 403
        )

    feeder.join(timeout=180)
    assert feeder.error is None and feeder.sent == VALID_EVENTS
    expected = VALID_EVENTS + len(hostile)
    health: dict = {}

    def caught_up() -> bool:
        health.update(httpx.get(f"{running.url}/healthz", timeout=5).json())
        return health["events"] + health["dead_letters"] >= expected and health["lag"] == 0

    wait_until(caught_up, 120, lambda: f"every record stored (ingestion stopped at {health})", 0.5)
    assert (health["status"], health["events"], health["dead_letters"]) == (
        "ok",
        VALID_EVENTS,
        len(hostile),
    )

    doubled = (
        "SELECT count(*) FROM (SELECT source, id FROM events GROUP BY ALL HAVING count(*) > 1)"
    )
    assert fresh_rows(running.url, doubled, expected) == [[0]]
    reasons = fresh_rows(running.url, "SELECT reason FROM dead_letters", expected)
    assert Counter(reason for (reason,) in reasons) == Counter(r.reason for r in hostile)

    assert running.process.poll() is None
    assert peak_rss_mb(running.process.pid) < RSS_BOUND_MB
    watch.halt.set()
    watch.join(timeout=10)
    assert not watch.failures, watch.failures[:3]
    assert watch.answers
    for status, body in watch.answers:
        if body["status"] == "ok":
            assert status == 200
        else:
            assert (status, body["status"]) == (503, "degraded") and body.get("reason"), body
