"""Drive the real CLI and a real ``provledger serve`` subprocess, as a user would."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from provenance_ledger.ledger.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def provledger_command() -> list[str]:
    found = shutil.which("provledger", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "provenance_ledger.query"]


@dataclass
class Running:
    url: str
    env: dict[str, str]
    process: subprocess.Popen

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

    def get(self, path: str, **params) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, timeout=10)

    def wait_for_events(self, count: int, timeout_s: float = 60) -> dict:
        deadline = time.monotonic() + timeout_s
        health: dict = {}
        while time.monotonic() < deadline:
            health = self.get("/healthz").json()
            if health["events"] + health["dead_letters"] >= count:
                return health
            time.sleep(0.2)
        raise AssertionError(f"only {health} after {timeout_s}s; wanted {count} events")


def server_env(settings: Settings, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PROVLEDGER_")}
    env.update(
        PROVLEDGER_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        PROVLEDGER_TOPIC=settings.topic,
        PROVLEDGER_DB=str(settings.db_path),
        PROVLEDGER_API=f"http://127.0.0.1:{port}",
        PROVLEDGER_GROUP=settings.group_id,
        PROVLEDGER_BATCH_LATENCY_S="0.2",
    )
    return env


@pytest.fixture
def start_server(settings: Settings) -> Iterator[Callable[..., Running]]:
    """Starts ``provledger serve`` on a free port and waits until /healthz answers."""
    started: list[Running] = []

    def start(extra_env: dict[str, str] | None = None) -> Running:
        port = free_port()
        env = {**server_env(settings, port), **(extra_env or {})}
        process = subprocess.Popen(
            [*provledger_command(), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        running = Running(f"http://127.0.0.1:{port}", env, process)
        started.append(running)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"serve exited early: {process.stdout.read()}")
            try:
                if httpx.get(f"{running.url}/healthz", timeout=1).status_code == 200:
                    return running
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("serve did not answer /healthz within 30 s")

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.send_signal(signal.SIGINT)
            try:
                running.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                running.process.kill()
