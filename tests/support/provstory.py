"""Build incident stories as real events, and load them into a real ledger.

Times are minutes relative to a fixed impact start (negative = before impact).
``ingest`` goes the whole way (Kafka → LedgerConsumer → DuckDB); ``write_direct`` writes
a hand-built ledger through the store's own batch path, for tests about the queries.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from provenance_ledger.ledger.batch import Incoming
from provenance_ledger.ledger.consumer import LedgerConsumer
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.producers.emitter import Emitter
from provenance_ledger.producers.envelope import build_event
from provenance_ledger.schemas.codec import DecodedEvent, KafkaRecord, validate_event
from tests.support.waiting import wait_until

IMPACT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONFORMANCE = Path(__file__).resolve().parents[3] / "shared/data/cdevents-v0.5.1/conformance"
# The team of the e2e stories: an author, and reviewers senior, principal and junior.
MIA, SAM, PIA, JO = "mia@shop", "sam@shop", "pia@shop", "jo@shop"
TEAM = {MIA: "mid", SAM: "senior", PIA: "principal", JO: "junior"}


def sha(n: int) -> str:
    return f"{n:040x}"


def person(pid: str) -> dict[str, str]:
    return {"id": pid, "name": pid.split("@")[0].title()}


class Story:
    def __init__(self, impact: datetime = IMPACT) -> None:
        self.impact = impact
        self.events: list[DecodedEvent] = []

    def at(self, minutes: float) -> datetime:
        return self.impact + timedelta(minutes=minutes)

    def add(self, event_type: str, data: dict[str, Any], event_id: str, minutes: float) -> str:
        self.events.append(
            build_event(event_type, data, "test/story", event_id=event_id, time=self.at(minutes))
        )
        return event_id

    def person(self, pid: str, level: str, minutes: float = -100_000) -> None:
        self.add(
            "person.registered",
            {"person": {**person(pid), "level": level}},
            f"p-{pid}-{minutes}",
            minutes,
        )

    def people(self, levels: dict[str, str]) -> None:
        """Registers each person at their level (``TEAM``, say)."""
        for pid, level in levels.items():
            self.person(pid, level)

    def change(
        self, n: int, author: str, minutes: float, repo: str = "shop/checkout", **extra: Any
    ) -> str:
        data = {"repo": repo, "commit": sha(n), "author": person(author), **extra}
        self.add("change.authored", data, f"chg-{n}", minutes)
        return sha(n)

    def review(
        self, n: int, reviewer: str, minutes: float, decision: str = "approved", **extra: Any
    ) -> None:
        data = {
            "repo": extra.pop("repo", "shop/checkout"),
            "commit": sha(n),
            "reviewer": person(reviewer),
            "decision": decision,
            **extra,
        }
        self.add("change.reviewed", data, f"rev-{n}-{reviewer}-{minutes}", minutes)

    def deploy(self, event_id: str, service: str, env: str, minutes: float, **extra: Any) -> str:
        data = {"service": service, "environment": env, "version": event_id, **extra}
        return self.add("service.deployed", data, event_id, minutes)

    def rollback(
        self, event_id: str, service: str, env: str, from_v: str, to_v: str, minutes: float
    ) -> str:
        data = {"service": service, "environment": env, "from_version": from_v, "to_version": to_v}
        return self.add("service.rolledback", data, event_id, minutes)

    def action(
        self,
        event_id: str,
        action: str,
        minutes: float,
        destructive: bool,
        service: str | None = "checkout",
        env: str | None = "prod",
        authorized_by: str | None = None,
        session: str = "s-1",
    ) -> str:
        data: dict[str, Any] = {
            "agent": {"tool": "claude-code", "model": "claude-sonnet-4-5", "session": session},
            "action": action,
            "target": {"service": service, "environment": env},
            "destructive": destructive,
        }
        if authorized_by:
            data["authorized_by"] = person(authorized_by)
        return self.add("agent.action", data, event_id, minutes)

    def register(
        self, service: str, depends_on: list[str], minutes: float = -100_000, **extra: Any
    ) -> str:
        """A ``service.registered`` from the catalog (standing from ``minutes`` on)."""
        data = {"service": service, "depends_on": depends_on, **extra}
        return self.add("service.registered", data, f"reg-{service}-{minutes}", minutes)

    def config(
        self,
        event_id: str,
        minutes: float,
        kind: str = "feature_flag",
        service: str | None = "checkout",
        env: str | None = "prod",
        **extra: Any,
    ) -> str:
        """A ``config.changed``; ``extra`` holds key, from_ (``from``), to, actor, ai, …"""
        target = {"service": service, "environment": env, **extra.pop("target", {})}
        if "from_" in extra:
            extra["from"] = extra.pop("from_")
        data = {"kind": kind, "target": {k: v for k, v in target.items() if v is not None}}
        return self.add("config.changed", {**data, **extra}, event_id, minutes)

    def incident(
        self,
        incident: str,
        services: list[str],
        env: str | None = "prod",
        resolved: float | None = None,
        opened: float = 3,
        **extra: Any,
    ) -> None:
        data = {
            "incident": incident,
            "severity": "sev1",
            "services": services,
            "impact_started_at": self.impact.isoformat(),
            **extra,
        }
        if env is not None:
            data["environment"] = env
        self.add("incident.opened", data, f"open-{incident}", opened)
        if resolved is not None:
            self.add("incident.resolved", {"incident": incident}, f"res-{incident}", resolved)

    def attribute(self, incident: str, verdict: str, minutes: float, **target: Any) -> None:
        data = {"incident": incident, "verdict": verdict, "by": person("sre@shop.example")}
        key = "-".join(str(v) for v in target.values())
        self.add(
            "incident.attributed", {**data, **target}, f"att-{verdict}-{key}-{minutes}", minutes
        )

    def cdevent(
        self, name: str, event_id: str, minutes: float, subject_id: str, content: dict[str, Any]
    ) -> str:
        """A bare CDEvent (``name`` as its conformance file, e.g. ``service_deployed``) with
        this subject; needs shared/data/cdevents-v0.5.1 (tests use the cdevents_dir fixture)."""
        obj = json.loads((CONFORMANCE / f"{name}.json").read_text())
        obj["context"] |= {"id": event_id, "timestamp": self.at(minutes).isoformat()}
        obj["subject"] = {"id": subject_id, "source": "/cd/story", "content": content}
        obj.pop("customData", None)
        obj.pop("customDataContentType", None)
        decoded = validate_event(obj)
        assert isinstance(decoded, DecodedEvent), decoded
        self.events.append(decoded)
        return event_id


def write_direct(ledger: Ledger, events: list[DecodedEvent]) -> None:
    """Write events as the consumer would, as records of one partition whose value is the
    canonical event, continuing from the offset the ledger has stored."""
    start = ledger.committed_offsets("direct").get(0, 0)
    incoming = [
        Incoming(KafkaRecord("direct", 0, start + at, None, decoded.canonical), decoded)
        for at, decoded in enumerate(events)
    ]
    ledger.write_batch(incoming, [], {("direct", 0): start + len(incoming)})


@contextmanager
def story_ledgers(folder: Path) -> Iterator[Callable[[Story], Ledger]]:
    """A function writing each story it is given into a ledger file of its own (directly,
    without Kafka); every ledger it opened is closed on exit."""
    opened: list[Ledger] = []

    def write(story: Story) -> Ledger:
        ledger = Ledger.open(folder / f"story-{len(opened)}.duckdb", migrate=True)
        opened.append(ledger)
        write_direct(ledger, story.events)
        return ledger

    try:
        yield write
    finally:
        for ledger in opened:
            ledger.close()


def ingest(settings: Settings, events: list[DecodedEvent], timeout_s: float = 60) -> Ledger:
    """Publish to the settings' topic and run a real LedgerConsumer until all are stored."""
    with Emitter(settings.kafka_bootstrap, settings.topic, fmt="json") as emitter:
        for decoded in events:
            emitter.send(decoded)
    ledger = Ledger.open(settings.db_path, migrate=True)
    consumer = LedgerConsumer(ledger, settings)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()

    def stored() -> bool:
        if ledger.counts()[0] >= len(events):
            return True
        assert thread.is_alive(), f"the consumer stopped: {consumer.status.last_error}"
        return False

    try:
        wait_until(stored, timeout_s, lambda: f"{len(events)} events (have {ledger.counts()})")
    finally:
        consumer.stop()
        thread.join(timeout=30)
    return ledger
