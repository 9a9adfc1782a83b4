"""Shared by the producer integration tests: run the CLI, read what the ledger stored."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenance_ledger.ledger.settings import Settings
from tests.support.servers import provledger_command
from tests.support.waiting import wait_until


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


def cli_env(settings: Settings, spool: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVLEDGER_", "GITHUB_"))}
    env.update(
        PROVLEDGER_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        PROVLEDGER_TOPIC=settings.topic,
        PROVLEDGER_SPOOL_DIR=str(spool),
        PROVLEDGER_API="http://127.0.0.1:9",  # nothing listens: the API is optional here
    )
    env.update(extra)
    return env


def bare_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a command run in a fresh interpreter away from the developer's: the
    system PATH only, ``home`` as its home, and the hook's spool and log in it (the hook
    spools rather than waiting for Kafka)."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "PROVLEDGER_SPOOL_DIR": str(home / "spool"),
        "PROVLEDGER_HOOK_LOG": str(home / "hooks.log"),
        "PROVLEDGER_HOOK_DELIVERY": "spool",
        **extra,
    }


def run(args: list[str], env: dict[str, str], stdin: str | None = None, cwd: Path | None = None):
    return subprocess.run(
        [*provledger_command(), *args], env=env, input=stdin, capture_output=True, text=True,
        timeout=120, cwd=cwd,
    )  # fmt: skip


@dataclass
class LiveLedger:
    """The ledger a real LedgerConsumer thread is writing, for reading counts and rows."""

    ledger: Any
    consumer: Any
    thread: threading.Thread

    def counts(self) -> tuple[int, int]:
        if not self.thread.is_alive():
            raise AssertionError(f"the ledger consumer stopped: {self.consumer.status.last_error}")
        return self.ledger.counts()

    def cursor(self) -> Any:
        return self.ledger.cursor()


@contextmanager
def running_ledger(settings: Settings) -> Iterator[LiveLedger]:
    """A real LedgerConsumer thread writing the settings' DuckDB file."""
    from provenance_ledger.ledger.consumer import LedgerConsumer
    from provenance_ledger.ledger.store import Ledger

    ledger = Ledger.open(settings.db_path, migrate=True)
    consumer = LedgerConsumer(ledger, settings)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        yield LiveLedger(ledger, consumer, thread)
    finally:
        consumer.stop()
        thread.join(timeout=30)
        ledger.close()


def wait_for(live: LiveLedger, events: int, timeout_s: float = 120) -> tuple[int, int]:
    """The ledger's counts once it holds ``events`` events."""
    counts = live.counts()

    def stored() -> bool:
        nonlocal counts
        counts = live.counts()
        return counts[0] >= events

    wait_until(
        stored,
        timeout_s,
        lambda: f"{events} events (have {counts}; consumer: {live.consumer.status})",
        0.2,
    )
    return counts


def settle(live: LiveLedger, quiet_s: float = 2.0, timeout_s: float = 60) -> tuple[int, int]:
    """Counts once nothing new has arrived for ``quiet_s`` (to show nothing more comes)."""
    last = live.counts()
    stable_since = time.monotonic()

    def quiet() -> bool:
        nonlocal last, stable_since
        now = live.counts()
        if now != last:
            last, stable_since = now, time.monotonic()
        return time.monotonic() - stable_since >= quiet_s

    wait_until(quiet, timeout_s, lambda: f"no new event for {quiet_s:g} s (have {last})", 0.2)
    return last
