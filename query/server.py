"""The composition root of ``provledger serve``: one process, one DuckDB, consumer + API."""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable

import uvicorn

from ledger.consumer import LedgerConsumer
from ledger.settings import Settings
from ledger.store import Ledger
from producers.emitter import Emitter
from query import sql
from query.api.app import create_app
from query.api.state import AppState, Limits
from query.auth import TokenStore
from schemas.codec import DecodedEvent

log = logging.getLogger(__name__)


class ServeError(RuntimeError):
    pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tokens_configured: bool) -> None:
    if not tokens_configured and not is_loopback(host):
        raise ServeError(
            f"refusing to listen on {host}: no API tokens are configured, so the API would be "
            "open to anyone who can reach it. Create one with `provledger token create --scope "
            "admin`, or listen on 127.0.0.1."
        )


class _Publisher:
    """Produces API-submitted events to Kafka, the log of record, as JSON (as they came)."""

    def __init__(self, settings: Settings) -> None:
        self._emitter = Emitter(settings.kafka_bootstrap, settings.topic, fmt="json")
        self._lock = threading.Lock()

    def __call__(self, events: list[DecodedEvent]) -> None:
        with self._lock:
            for decoded in events:
                self._emitter.send(decoded)
            self._emitter.flush()

    def close(self) -> None:
        self._emitter.close()


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8000,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Run until interrupted (Ctrl-C / SIGTERM); stops the consumer cleanly on the way out."""
    tokens = TokenStore.from_env()
    limits = Limits.from_env()
    check_bind(host, tokens_configured=tokens.configured())
    ledger = Ledger(settings.db_path)
    # SREs' SQL shares this instance: no file, network or extension access from here on.
    lock_cursor = ledger.cursor()
    sql.lock_down(lock_cursor)
    lock_cursor.close()
    consumer = LedgerConsumer(ledger, settings)
    publisher = _Publisher(settings)
    consumer_thread = threading.Thread(target=consumer.run, name="ledger-consumer", daemon=True)
    state = AppState(
        ledger,
        settings,
        lambda: consumer.status,
        publisher,
        limits=limits,
        tokens=tokens,
        auth_always=not is_loopback(host),
    )
    app = create_app(state)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    consumer_thread.start()
    if on_started is not None:
        threading.Thread(target=_when_started, args=(server, on_started), daemon=True).start()
    try:
        server.run()
    finally:
        consumer.stop()
        consumer_thread.join(timeout=15)
        publisher.close()
        ledger.close()


def _when_started(server: uvicorn.Server, callback: Callable[[], None]) -> None:
    import time

    while not server.started and not server.should_exit:
        time.sleep(0.05)
    if server.started:
        callback()
