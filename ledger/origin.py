"""Where a stored event came from, decided by the ledger, never by whoever produced it.

The API (webhooks, ``POST /v1/events``) vouches for what it publishes with two Kafka headers:
``provledger-origin`` (``webhook:github``, ``api-token:<name>``) and ``provledger-origin-mac``,
an HMAC-SHA256 under the origin key over that origin and the whole record as produced (every
other header and the value). The consumer recomputes the MAC: equal (compared in constant
time), the event has that origin; absent or different, its origin is ``kafka`` — anyone who
can produce to the topic could have written it. An event is never refused for its origin.

The key is ``PROVLEDGER_ORIGIN_KEY`` (every replica and ``rebuild`` must share it), else a
random key kept in ``<ledger file>.origin-key`` (0600), made the first time it is needed. It
is never kept inside the ledger file, which ``provledger sql`` and snapshots expose.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.schemas.codec import KafkaRecord
from provenance_ledger.schemas.errors import LocalFailure

log = logging.getLogger(__name__)

ORIGIN_HEADER = "provledger-origin"
MAC_HEADER = "provledger-origin-mac"
KAFKA = "kafka"
"""The origin of an event nobody vouched for: it came straight from a Kafka producer."""
KEY_FILE_SUFFIX = ".origin-key"
_DOMAIN = b"provledger-origin-v1"
_OURS = (ORIGIN_HEADER, MAC_HEADER)


class OriginKeyError(RuntimeError, LocalFailure):
    """The origin key file exists but cannot be used."""


def webhook(provider: str) -> str:
    return f"webhook:{provider}"


def api_token(name: str) -> str:
    return f"api-token:{name}"


def _framed(parts: Iterable[bytes]) -> bytes:
    """Each part with its length first, so no two different part lists frame alike."""
    return b"".join(len(part).to_bytes(8, "big") + part for part in parts)


def _digest(
    key: bytes, origin: str, headers: Iterable[tuple[str, bytes | None]], value: bytes
) -> str:
    others = [
        _framed([name.encode(), raw or b""]) for name, raw in headers if name.lower() not in _OURS
    ]
    body = _framed([_DOMAIN, origin.encode(), *others, hashlib.sha256(value).digest()])
    return hmac.new(key, body, hashlib.sha256).hexdigest()


class OriginKey:
    """Signs the records the API produces and reads the origin of the records consumed."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise OriginKeyError("the origin key must be at least 16 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "OriginKey(**********)"

    def sign(
        self, origin: str, headers: list[tuple[str, bytes]], value: bytes
    ) -> list[tuple[str, bytes]]:
        """``headers`` with the origin and its MAC added (any stale pair dropped)."""
        kept = [(name, raw) for name, raw in headers if name.lower() not in _OURS]
        mac = _digest(self._key, origin, kept, value)
        return [*kept, (ORIGIN_HEADER, origin.encode()), (MAC_HEADER, mac.encode())]

    def origin_of(self, record: KafkaRecord) -> str:
        """The origin the record's MAC proves; ``kafka`` when it has none or a wrong one."""
        claimed, mac = record.header(ORIGIN_HEADER), record.header(MAC_HEADER)
        if claimed is None and mac is None:
            return KAFKA
        expected = _digest(self._key, claimed or "", record.headers, record.value or b"")
        if claimed and mac is not None and hmac.compare_digest(mac.encode(), expected.encode()):
            return claimed
        log.warning(
            "record at %s/%s offset %s claims origin %r without a valid MAC: stored as kafka",
            record.topic,
            record.partition,
            record.offset,
            claimed,
        )
        return KAFKA


def key_file(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + KEY_FILE_SUFFIX)


def load_key(settings: Settings) -> OriginKey:
    """The origin key of this ledger: the setting, else the key file (made when missing)."""
    configured = settings.secrets.origin_key
    if configured is not None:
        return OriginKey(configured.get_secret_value().encode())
    path = key_file(Path(settings.db_path))
    try:
        return OriginKey(bytes.fromhex(path.read_text().strip()))
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise OriginKeyError(f"cannot use the origin key file {path}: {exc}") from exc
    made = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once agree on the file that got written first.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return OriginKey(bytes.fromhex(path.read_text().strip()))
    with os.fdopen(fd, "w") as out:
        out.write(made.hex() + "\n")
    log.info("made the origin key %s (set PROVLEDGER_ORIGIN_KEY to share one)", path)
    return OriginKey(made)


def trusted(origin: str | None, patterns: Iterable[str] | None) -> bool:
    """Whether ``origin`` matches one of ``patterns`` (``*`` any text); None trusts all."""
    if patterns is None:
        return True
    return origin is not None and any(fnmatchcase(origin, pattern) for pattern in patterns)
