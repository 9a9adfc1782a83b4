"""SQL that once took the server down, and the checks of the one error shape, shared by the
e2e tests that run it against a real ``provledger serve`` while events keep arriving."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from tests.support.servers import Feeder, Running

RUNAWAY = "SELECT count(*) FROM range(100000000) a, range(100000000) b"

ATTACKS = [
    # Ran 5.2 s past a 0.5 s limit at 2 GB: a 16001 x 16001 matrix, CPU and memory both.
    "SELECT damerau_levenshtein(repeat('a', 16000), repeat('b', 16000))",
    # Memory: 1.27 GB peak with a 100 MB DuckDB limit and a 1 MB answer cap.
    "SELECT repeat('x', 300000000)",
    # Functions the old token deny-list missed.
    "SELECT `query`('SELECT 1')",
    "SELECT * FROM `checkpoint`()",
    "SELECT destroy_external_resource('checkpoint', 1)",
    "SELECT * FROM system.main.query('SELECT 1')",
]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def post_sql(url: str, text: str, params: dict | None = None) -> httpx.Response:
    return httpx.post(f"{url}/v1/sql", json={"sql": text, "params": params or {}}, timeout=30)


def assert_error_shape(response: httpx.Response, status: int) -> dict:
    body = response.json()
    assert response.status_code == status, response.text
    assert body["ok"] is False and body["status"] == status and body["error"]
    assert "Traceback" not in response.text
    return body


def serving_with_feeder(
    start: Callable[[dict[str, str]], Running], folder: Path, settings: dict[str, str]
) -> Iterator[tuple[Running, Feeder]]:
    """A token-less serve with ``settings``, and a Feeder posting to it until the fixture ends
    (or a test stops it)."""
    running = start(
        {
            "PROVLEDGER_TOKENS_FILE": str(folder / "no-tokens.json"),
            # Reads in these tests expect what /healthz counted: wait for the copy that has it.
            "PROVLEDGER_SQL_FRESHNESS_S": "30",
            **settings,
        }
    )
    feeder = Feeder(running.url)
    feeder.start()
    yield running, feeder
    feeder.halt.set()
    feeder.join(timeout=15)
