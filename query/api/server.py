"""The composition root of ``provledger serve``: one process, one DuckDB, consumer + API."""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from functools import partial

import uvicorn

from provenance_ledger.ledger.consumer import LedgerConsumer
from provenance_ledger.ledger.origin import OriginKey, load_key
from provenance_ledger.ledger.packer import Packer
from provenance_ledger.ledger.rows import single_value
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.producers.emitter import Emitter
from provenance_ledger.query.api.app import create_app
from provenance_ledger.query.api.auth import TokenStore
from provenance_ledger.query.api.state import AppState, Limits
from provenance_ledger.query.api.warming import keep_warm
from provenance_ledger.query.policy.inforce import use_policy_file
from provenance_ledger.query.policy.record import PolicyRecorder
from provenance_ledger.query.sql import readonly as sql
from provenance_ledger.schemas.codec import DecodedEvent
from provenance_ledger.schemas.commandline import runnable
from provenance_ledger.schemas.errors import UsageProblem

log = logging.getLogger(__name__)


class ServeError(RuntimeError, UsageProblem):
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
            "open to anyone who can reach it. Create one with "
            f"`{runnable('token create --scope admin')}`, or listen on 127.0.0.1."
        )


class _Publisher:
    """Produces API-submitted events to Kafka, the log of record, as JSON (as they came),
    each record signed with the origin the API vouches for (ledger/origin.py)."""

    def __init__(self, settings: Settings, key: OriginKey) -> None:
        self._emitter = Emitter(settings.kafka_bootstrap, settings.topic, fmt="json")
        self._key = key
        self._lock = threading.Lock()

    def __call__(self, events: list[DecodedEvent], origin: str | None = None) -> None:
        sign = partial(self._key.sign, origin) if origin is not None else None
        with self._lock:
            for decoded in events:
                self._emitter.send(decoded, sign)
            self._emitter.flush()

    def close(self) -> None:
        self._emitter.close()


# How long `serve` waits for the consumer to check its topic and group before serving.
PREPARE_WAIT_S = 20.0


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8000,
    on_started: Callable[[str], None] | None = None,
) -> None:
    """Run until interrupted (Ctrl-C / SIGTERM); stops the consumer cleanly on the way out.
    ``on_started`` gets the memory limit the ledger's DuckDB runs under, as DuckDB reports it."""
    hashes = settings.secrets.token_hashes
    tokens = TokenStore(settings.api.tokens_file, hashes.get_secret_value() if hashes else None)
    limits = Limits.from_settings(settings)
    use_policy_file(settings.api.policy_file)
    check_bind(host, tokens_configured=tokens.configured())
    ledger, memory_limit = _open_locked_down(settings)
    # The SQL views' "senior" follows the policy file; one that is not usable stops here.
    recorder = PolicyRecorder(ledger)
    packer = Packer(ledger)
    consumer = LedgerConsumer(ledger, settings)
    publisher = _Publisher(settings, load_key(settings))
    consumer_thread = threading.Thread(target=consumer.run, name="ledger-consumer", daemon=True)
    stop_warming = threading.Event()
    warm_thread = threading.Thread(
        target=keep_warm, args=(ledger, stop_warming), name="ledger-warm-up", daemon=True
    )
    state = AppState(
        ledger,
        settings,
        lambda: consumer.status,
        publisher,
        limits=limits,
        tokens=tokens,
        auth_always=not is_loopback(host),
        bind_host=host,
    )
    app = create_app(state)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    consumer_thread.start()
    # A topic that would delete history or a group shared with another ledger stops `serve`
    # here. A broker that is away is waited for in the background (the API says degraded).
    if consumer.ready.wait(PREPARE_WAIT_S) and consumer.status.refused:
        _stop(consumer, consumer_thread, publisher, ledger)
        raise ServeError(consumer.status.refused)
    warm_thread.start()
    recorder.start()
    packer.start()
    if on_started is not None:
        threading.Thread(
            target=_when_started, args=(server, on_started, memory_limit), daemon=True
        ).start()
    try:
        server.run()
    finally:
        stop_warming.set()
        warm_thread.join(timeout=5)  # never close the ledger under a running query
        recorder.stop()
        packer.stop()
        _stop(consumer, consumer_thread, publisher, ledger)


def _stop(
    consumer: LedgerConsumer, thread: threading.Thread, publisher: _Publisher, ledger: Ledger
) -> None:
    consumer.stop()
    thread.join(timeout=15)
    publisher.close()
    ledger.close()


def _open_locked_down(settings: Settings) -> tuple[Ledger, str]:
    """The ledger, migrated, and the memory limit its DuckDB runs under."""
    ledger = Ledger.open(settings.db_path, migrate=True, memory_limit=settings.duckdb_memory_limit)
    memory_limit = single_value(ledger.cursor().execute("SELECT current_setting('memory_limit')"))
    # SREs' SQL shares this instance: no file, network or extension access from here on.
    lock_cursor = ledger.cursor()
    sql.lock_down(lock_cursor)
    lock_cursor.close()
    return ledger, memory_limit


def _when_started(
    server: uvicorn.Server, callback: Callable[[str], None], memory_limit: str
) -> None:
    while not server.started and not server.should_exit:
        time.sleep(0.05)
    if server.started:
        callback(memory_limit)
