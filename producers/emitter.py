"""Publish events to Kafka: a thin, lazy wrapper around kafka-python's producer."""

from __future__ import annotations

import json
from types import TracebackType

from kafka import KafkaProducer

from producers.envelope import partition_key
from schemas.codec import STRUCTURED, DecodedEvent

FORMATS = ("avro", "json")


def structured_message(decoded: DecodedEvent) -> tuple[list[tuple[str, bytes]], bytes]:
    """CloudEvents Kafka structured mode: the whole event as JSON in the value."""
    body = decoded.event.model_dump(mode="json", exclude_none=True)
    return [("content-type", STRUCTURED.encode())], json.dumps(body).encode()


def encode_message(decoded: DecodedEvent, fmt: str) -> tuple[list[tuple[str, bytes]], bytes]:
    if fmt == "json":
        return structured_message(decoded)
    if fmt == "avro":
        from schemas import avro

        return avro.binary_message(decoded)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


class Emitter:
    """Connects on first use; flushes on exit when used as a context manager."""

    def __init__(
        self, bootstrap: str, topic: str, fmt: str = "avro", timeout_s: float = 5.0
    ) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._fmt = fmt
        self._timeout_s = timeout_s
        self._producer: KafkaProducer | None = None

    def _client(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self._bootstrap,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                max_block_ms=int(self._timeout_s * 1000),
                request_timeout_ms=int(self._timeout_s * 1000),
            )
        return self._producer

    def send(self, decoded: DecodedEvent) -> None:
        headers, value = encode_message(decoded, self._fmt)
        self._client().send(self._topic, value=value, key=partition_key(decoded), headers=headers)

    def publish(self, decoded: DecodedEvent) -> None:
        """Send one event and wait until the broker has it."""
        headers, value = encode_message(decoded, self._fmt)
        future = self._client().send(
            self._topic, value=value, key=partition_key(decoded), headers=headers
        )
        future.get(timeout=self._timeout_s)

    def flush(self) -> None:
        if self._producer is not None:
            self._producer.flush(timeout=self._timeout_s)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(timeout=self._timeout_s)
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
