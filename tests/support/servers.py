"""A real ``provledger serve`` subprocess for the tests, and the CLI beside it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.schemas.codec import DecodedEvent
from tests.support.waiting import OutputReader, wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def provledger_command() -> list[str]:
    found = shutil.which("provledger", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "provenance_ledger.query"]


def start_provledger(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """A long-running ``provledger`` command (``serve``, ``up``), its output one text stream."""
    return subprocess.Popen(
        [*provledger_command(), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def server_env(settings: Settings, port: int | None = None) -> dict[str, str]:
    """The environment of a CLI or server using ``settings`` (and the API on ``port``)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PROVLEDGER_")}
    env.update(
        PROVLEDGER_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        PROVLEDGER_TOPIC=settings.topic,
        PROVLEDGER_DB=str(settings.db_path),
        PROVLEDGER_GROUP=settings.group_id,
        PROVLEDGER_BATCH_LATENCY_S="0.2",
    )
    if port is not None:
        env["PROVLEDGER_API"] = f"http://127.0.0.1:{port}"
    return env


@dataclass
class Running:
    """A started ``provledger serve``: its URL, environment, process and output."""

    url: str
    env: dict[str, str]
    process: subprocess.Popen[str]
    output: OutputReader = field(init=False)

    def __post_init__(self) -> None:
        assert self.process.stdout is not None
        self.output = OutputReader(self.process.stdout)

    def cli(self, *args: str, stdin: str | None = None, check: bool = True):
        result = subprocess.run(
            [*provledger_command(), *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"provledger {' '.join(args)} failed: {result.stderr}")
        return result

    def emit(self, event_type: str, data: dict, *extra: str) -> str:
        return self.cli("emit", event_type, "--data", json.dumps(data), *extra).stdout.strip()

    def get(self, path: str, **params: Any) -> httpx.Response:
        # httpx drops a query string written into the path when params is given, even empty.
        return httpx.get(f"{self.url}{path}", params=params or None, timeout=10)

    def sql(self, query: str) -> list[list]:
        """The rows a read-only query answers through POST /v1/sql."""
        response = httpx.post(f"{self.url}/v1/sql", json={"sql": query}, timeout=20)
        assert response.status_code == 200, response.text
        return response.json()["rows"]

    def stored(self) -> int:
        """How many events and dead letters the ledger holds."""
        health = self.get("/healthz").json()
        return health["events"] + health["dead_letters"]

    def load(self, events: list[DecodedEvent]) -> Running:
        """POST the events to /v1/events and wait until the ledger holds them."""
        body = [decoded.event.model_dump(mode="json", exclude_none=True) for decoded in events]
        posted = httpx.post(f"{self.url}/v1/events", json=body, timeout=30)
        assert posted.status_code == 202, posted.text
        self.wait_for_events(len(body))
        return self

    def wait_for_events(self, count: int, timeout_s: float = 60) -> dict:
        """/healthz once the ledger holds ``count`` events and dead letters together."""
        last: dict = {}

        def stored() -> dict | None:
            last.update(self.get("/healthz").json())
            return last if last["events"] + last["dead_letters"] >= count else None

        return wait_until(stored, timeout_s, lambda: f"{count} events (health: {last})")

    def stop(self, timeout_s: float = 20) -> str:
        """Ctrl-C, as a user stops it; everything it printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                raise AssertionError(f"serve ignored Ctrl-C for {timeout_s:g} s") from None
        return self.output.rest(10)


def launch_serve(
    settings: Settings, extra_env: dict[str, str] | None = None, verbose: bool = False
) -> Running:
    """``provledger serve`` on a free port, once /healthz answers; ``verbose``: with its
    INFO log lines (``provledger -v serve``)."""
    port = free_port()
    env = {**server_env(settings, port), **(extra_env or {})}
    process = start_provledger([*(["-v"] if verbose else []), "serve", "--port", str(port)], env)
    running = Running(f"http://127.0.0.1:{port}", env, process)

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early: {running.output.rest(10)}")
        try:
            return httpx.get(f"{running.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, 30, lambda: f"serve to answer /healthz: {running.output.text}")
    except AssertionError:
        process.kill()
        process.wait(timeout=10)
        raise
    return running


class Servers:
    """Starts servers for one fixture and stops whichever are still running at its end."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started: list[Running] = []

    def start(self, extra_env: dict[str, str] | None = None, verbose: bool = False) -> Running:
        running = launch_serve(self.settings, extra_env, verbose)
        self.started.append(running)
        return running

    def stop_all(self) -> None:
        for running in self.started:
            if running.process.poll() is None:
                running.process.send_signal(signal.SIGINT)
        for running in self.started:
            try:
                running.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                running.process.kill()
                running.process.wait(timeout=10)


def events_stored(url: str) -> int:
    return httpx.get(f"{url}/healthz", timeout=10).json()["events"]


class Feeder(threading.Thread):
    """Posts one change.authored event at a time to POST /v1/events until stopped."""

    def __init__(self, url: str, token: str | None = None) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.sent = 0
        self.failures: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10, headers=self.headers) as client:
            while not self.halt.is_set():
                response = client.post(f"{self.url}/v1/events", json=self._event(self.sent))
                if response.status_code == 202:
                    self.sent += 1
                else:
                    self.failures.append(response.text)
                self.halt.wait(0.05)

    def _event(self, number: int) -> dict:
        return {
            "specversion": "1.0",
            "id": f"feed-{number}",
            "source": "test/feeder",
            "type": "dev.provledger.change.authored.v1",
            "time": datetime.now(UTC).isoformat(),
            "data": {
                "repo": "shop/feed",
                "commit": f"{number:040x}",
                "author": {"id": "feeder@shop.example"},
            },
        }

    def stop(self) -> None:
        """Stop posting; the failures it met, if any, fail the test."""
        self.halt.set()
        self.join(timeout=15)
        assert not self.is_alive(), "the feeder did not stop"
        assert not self.failures, self.failures[:3]
