"""What every provider's module shares: the delivery, the events it plans, and how those become
CloudEvents (ids from the delivery id, the origin recorded), plus the small readers that take
values out of payloads nobody validated.

Payloads are the provider's JSON, parsed but not trusted to have any shape: every reader here
answers None rather than raise when a value is missing or of another type.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from provenance_ledger.producers.ai_detect import RuleSet
from provenance_ledger.query.api.webhooks.mapping import WebhookMapping

ORIGIN_EXTENSION = "provledgerorigin"
"""CloudEvents extension naming the webhook, ``webhook:<provider>``: informative only, as any
producer could write it; the stored origin comes from the signed record (ledger/origin.py)."""
DELIVERY_EXTENSION = "provledgerdelivery"
"""CloudEvents extension holding the provider's delivery id the event id derives from."""
DELIVERY_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,200}")
SHA = re.compile(r"[0-9a-fA-F]{40}")


class BadSignature(Exception):
    """The delivery is not signed by the configured secret: 401, nothing stored."""


class BadSecret(Exception):
    """The configured secret cannot be used (say, not the base64 a scheme needs): 503."""


class PayloadProblem(Exception):
    """A signed delivery this server cannot read (not JSON, no delivery id): 400."""


@dataclass(frozen=True)
class Delivery:
    provider: str
    id: str
    """The provider's id of this delivery, the same when it redelivers it."""
    kind: str | None = None
    """The event kind the headers name (``X-GitHub-Event``, ``X-Gitlab-Event``), if any."""


@dataclass(frozen=True)
class Planned:
    """One event a delivery means: its short type, data and time (from the payload, so a
    redelivery plans the very same event). ``key`` tells apart the events of a delivery that
    means several (a push of many commits: the commit sha)."""

    type: str
    data: dict[str, Any]
    time: datetime
    key: str = ""


@dataclass(frozen=True)
class Outcome:
    source: str
    events: tuple[Planned, ...] = ()
    ignored: str | None = None
    """Why the delivery means no event, when it means none."""


def ignored(source: str, why: str) -> Outcome:
    return Outcome(source, (), why)


@dataclass(frozen=True)
class Context:
    """What mapping needs beyond the payload: the mapping file and the AI-attribution rules."""

    mapping: WebhookMapping = field(default_factory=WebhookMapping)
    ai_rules: RuleSet | None = None


def envelopes(outcome: Outcome, delivery: Delivery) -> list[dict[str, Any]]:
    """The CloudEvents of an outcome. The id is the delivery id, or when the delivery means
    several events, the delivery id and ``:<key>``; the origin and the delivery id travel as
    extensions. A redelivery is the same payload, so the same events, byte for byte."""
    several = len(outcome.events) > 1
    return [
        {
            "specversion": "1.0",
            "id": f"{delivery.id}:{planned.key}" if several else delivery.id,
            "source": outcome.source,
            "type": f"dev.provledger.{planned.type}.v1",
            "time": planned.time.isoformat(),
            ORIGIN_EXTENSION: f"webhook:{delivery.provider}",
            DELIVERY_EXTENSION: delivery.id,
            "data": planned.data,
        }
        for planned in outcome.events
    ]


def delivery_id(value: str | None, where: str) -> str:
    """A delivery id fit to be (part of) an event id, or PayloadProblem naming ``where``."""
    if value is None or not DELIVERY_ID.fullmatch(value):
        raise PayloadProblem(f"{where}: expected a delivery id (1-200 of A-Z a-z 0-9 ._:@/+=-)")
    return value


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def same(given: str | bytes, expected: str | bytes) -> bool:
    """Constant-time comparison, so the time taken says nothing about the expected value."""
    left = given.encode() if isinstance(given, str) else given
    right = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(left, right)


def header(headers: Mapping[str, str], name: str, hint: str = "") -> str:
    """The header ``name`` (spelled as the provider documents it; ``headers`` has lower-case
    names), or BadSignature: a delivery without it is not signed."""
    found = headers.get(name.lower())
    if found is None:
        raise BadSignature(f"no {name} header{hint}")
    return found


def one_matches(candidates: Iterable[str], expected: str, refusal: str) -> None:
    """BadSignature(``refusal``) unless a candidate is ``expected``. Every candidate is
    compared, so the time taken does not tell which one matched."""
    if not any([same(candidate, expected) for candidate in candidates]):
        raise BadSignature(refusal)


def hex_hmac(headers: Mapping[str, str], name: str, prefix: str, body: bytes, secret: str) -> None:
    """The check of a header holding ``<prefix><hex HMAC-SHA256 of the body>``, several of
    them comma-separated (as PagerDuty sends while a secret is rotated): one must match."""
    given = header(headers, name)
    expected = prefix + hmac_sha256(secret.encode(), body).hex()
    candidates = [part.strip().lower() for part in given.split(",")]
    version = prefix.rstrip("=")
    one_matches(candidates, expected, f"no {version} signature in {name} matches the body")


def dig(value: Any, *path: str | int) -> Any:
    """``value[path[0]][path[1]]...`` or None where a step is missing or of another type."""
    for step in path:
        if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict):
            value = value.get(step)
        else:
            return None
    return value


def text(value: Any, *path: str | int) -> str | None:
    """A non-empty string at ``path``, else None (numbers, such as PR numbers, as text)."""
    found = dig(value, *path)
    if isinstance(found, bool):
        return None
    if isinstance(found, int):
        return str(found)
    return found if isinstance(found, str) and found else None


def items(value: Any, *path: str | int) -> list[Any]:
    found = dig(value, *path)
    return found if isinstance(found, list) else []


def sha(value: Any, *path: str | int) -> str | None:
    found = text(value, *path)
    return found.lower() if found is not None and SHA.fullmatch(found) else None


_FORMS = ("%Y-%m-%d %H:%M:%S %Z", "%Y-%m-%d %H:%M:%S %z")


def when(value: Any, *path: str | int) -> datetime | None:
    """A time at ``path``: RFC 3339, or GitLab's ``2021-04-28 21:50:00 +0200`` and
    ``2017-09-15 16:52:00 UTC``; None when absent or unreadable (or without an offset)."""
    raw = text(value, *path)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        parsed = None
        for form in _FORMS:
            try:
                parsed = datetime.strptime(raw, form)
            except ValueError:
                continue
            if form.endswith("%Z"):
                parsed = parsed.replace(tzinfo=UTC) if raw.endswith(" UTC") else None
            break
    if parsed is None or parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def at(value: Any, *path: str | int) -> datetime:
    """The time at ``path`` (see :func:`when`); a delivery without it cannot be an event."""
    found = when(value, *path)
    if found is None:
        raise PayloadProblem(f"no time at {'.'.join(map(str, path))}")
    return found


def person(person_id: str | None, name: str | None = None, **extra: str) -> dict[str, Any] | None:
    if person_id is None:
        return None
    found = {"id": person_id, "name": name, **extra}
    return {key: value for key, value in found.items() if value is not None}


def compact(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` without the fields that have no value (the contract's fields are optional)."""
    return {key: value for key, value in data.items() if value is not None and value != []}
