"""Publish events to Kafka: a thin, lazy wrapper around kafka-python's producer.

``send`` batches (the producer lingers and packs records); ``flush`` waits for every pending
send and raises if one failed; the context manager flushes on exit. The typed helpers build,
validate and send one event type each.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from provenance_ledger.producers.envelope import build_event, partition_key
from provenance_ledger.producers.formats import FORMATS
from provenance_ledger.producers.spool import SpooledEvent
from provenance_ledger.producers.typed import TypedHelpers
from provenance_ledger.schemas import avro
from provenance_ledger.schemas.codec import STRUCTURED, DecodedEvent, DecodeError, validate_event
from provenance_ledger.schemas.errors import Unreachable

log = logging.getLogger(__name__)


class DeliveryError(RuntimeError, Unreachable):
    pass


Headers = list[tuple[str, bytes]]
Signer = Callable[[Headers, bytes], Headers]
"""Adds headers that vouch for a record (its headers and value), e.g. the API's origin."""


def structured_message(decoded: DecodedEvent) -> tuple[list[tuple[str, bytes]], bytes]:
    """CloudEvents Kafka structured mode: the whole event as JSON in the value, spelled as its
    canonical bytes (sorted keys, compact), which the ledger then need not keep twice: its log
    ties the event to a value equal to it (ledger/recordlog.py)."""
    return [("content-type", STRUCTURED.encode())], decoded.canonical


def encode_message(decoded: DecodedEvent, fmt: str) -> tuple[list[tuple[str, bytes]], bytes]:
    if fmt == "json":
        return structured_message(decoded)
    if fmt == "avro":
        return avro.binary_message(decoded)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def to_spooled(decoded: DecodedEvent, fmt: str) -> SpooledEvent:
    # The canonical form rather than a dump of the model, which keeps the keys only a null
    # holds: such a key may be text no encoding takes (a lone surrogate escaped in JSON).
    return SpooledEvent(json.loads(decoded.canonical), fmt)


class Emitter(TypedHelpers):
    """Connects on first use; flushes on exit when used as a context manager."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        fmt: str = "avro",
        timeout_s: float = 5.0,
        *,
        source: str | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._fmt = fmt
        self._timeout_s = timeout_s
        self._source = source
        self._producer: KafkaProducer | None = None
        self._pending: list[Any] = []

    def _client(self) -> KafkaProducer:
        if self._producer is None:
            wait_ms = int(self._timeout_s * 1000)
            self._producer = KafkaProducer(
                bootstrap_servers=self._bootstrap,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                max_block_ms=wait_ms,
                request_timeout_ms=wait_ms,
                bootstrap_timeout_ms=wait_ms,
            )
        return self._producer

    @property
    def timeout_s(self) -> float:
        return self._timeout_s

    def _send(self, decoded: DecodedEvent, fmt: str, sign: Signer | None = None) -> Any:
        try:
            headers, value = encode_message(decoded, fmt)
        except Exception as exc:
            # An event the binary codec cannot carry still goes, as structured JSON.
            log.warning(
                "event %s: %s encoding failed (%s); sending JSON", decoded.event.id, fmt, exc
            )
            headers, value = structured_message(decoded)
        if sign is not None:
            headers = sign(headers, value)
        return self._send_raw(headers, value, partition_key(decoded))

    def _send_raw(self, headers: list[tuple[str, bytes]], value: bytes, key: bytes | None) -> Any:
        return self._client().send(self._topic, value=value, key=key, headers=headers)

    def send(self, decoded: DecodedEvent, sign: Signer | None = None) -> None:
        """Queue one event (its record signed by ``sign``, if given); :meth:`flush` (or
        leaving the context) waits for it."""
        self._pending.append(self._send(decoded, self._fmt, sign))

    def publish(self, decoded: DecodedEvent) -> None:
        """Send one event and wait until the broker has it."""
        self._send(decoded, self._fmt).get(timeout=self._timeout_s)

    def publish_batch(self, events: list[tuple[DecodedEvent, str]]) -> int:
        """Send (event, format) pairs in order; how many leading ones the broker acknowledged.

        Waits about ``timeout_s`` in all, connecting included; never raises for Kafka errors.
        """
        sends = [partial(self._send, decoded, form) for decoded, form in events]
        return self._publish(sends)

    def _publish(self, sends: Sequence[Callable[[], Any]]) -> int:
        deadline = time.monotonic() + self._timeout_s
        futures = []
        try:
            for send in sends:
                futures.append(send())
            self._client().flush(timeout=max(0.1, deadline - time.monotonic()))
        except KafkaError as exc:
            log.info("delivery stopped: %s", exc)
        acked = 0
        for future in futures:
            if not future.is_done or future.failed():
                break
            acked += 1
        return acked

    def deliver_spooled(self, batch: list[SpooledEvent]) -> int:
        """The spool's delivery callback: sends in order. An event that no longer validates
        is sent as it was spooled, so the ledger keeps it as a dead letter with the reason."""
        sends: list[Callable[[], Any]] = []
        for item in batch:
            decoded = validate_event(item.event)
            if isinstance(decoded, DecodeError):
                value = json.dumps(item.event).encode()
                headers = [("content-type", STRUCTURED.encode())]
                sends.append(partial(self._send_raw, headers, value, None))
            else:
                sends.append(partial(self._send, decoded, item.fmt))
        return self._publish(sends)

    def flush(self) -> None:
        if self._producer is not None:
            self._producer.flush(timeout=self._timeout_s)
        pending, self._pending = self._pending, []
        failed = [future for future in pending if not future.is_done or future.failed()]
        if failed:
            reason = failed[0].exception if failed[0].is_done else "timed out"
            raise DeliveryError(f"{len(failed)} of {len(pending)} events not delivered: {reason}")

    def abort(self) -> None:
        """Drop the connection without waiting (after a failed delivery that was spooled)."""
        producer, self._producer = self._producer, None
        self._pending = []
        if producer is None:
            return
        try:
            producer.close(timeout=0)
        except KafkaTimeoutError:
            # kafka-python flushes before it force-closes, and a 0 s flush with records in
            # flight raises. Their events are spooled: stop the sender, fail what it holds.
            producer._sender.force_close()
            producer._accumulator.abort_incomplete_batches()
            producer.close(timeout=0)

    def close(self) -> None:
        if self._producer is not None:
            try:
                self.flush()
            finally:
                self._producer.close(timeout=self._timeout_s)
                self._producer = None

    def __enter__(self) -> Emitter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def emit(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        event_id: str | None = None,
        time: datetime | None = None,
        source: str | None = None,
    ) -> DecodedEvent:
        origin = source or self._source
        if origin is None:
            raise ValueError("give a source: Emitter(..., source='ci/github/acme/shop')")
        clean = {key: value for key, value in data.items() if value is not None}
        decoded = build_event(event_type, clean, origin, event_id=event_id, time=time)
        self.send(decoded)
        return decoded
