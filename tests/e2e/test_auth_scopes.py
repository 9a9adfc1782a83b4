"""Every endpoint by every kind of caller on the real server, tokens made by the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from provenance_ledger.query.api.auth import grants
from tests.support.servers import server_env

SHA = "0" * 40
OPEN = {"/healthz"}
ADMIN = {"/v1/snapshot", "/v1/ledger/verify"}
GARBAGE = [
    ("missing", None),
    ("malformed", "Basic dXNlcjpwYXNzd29yZA=="),
    ("malformed", "Bearer"),
    ("malformed", "Bearer not a token"),
    ("unknown", "Bearer plg_" + "Z" * 43),
]


def needed_scope(method: str, path: str) -> str | None:
    # Webhooks take no token: the provider's signature is checked instead (test_webhooks.py).
    if path in OPEN or path.startswith("/v1/webhooks/"):
        return None
    if path in ADMIN or "rebuild" in path:
        return "admin"
    if method == "POST" and path == "/v1/events":
        return "ingest"
    return "read"


def request_for(method: str, path: str) -> dict:
    """A plausible request, so an allowed caller gets an answer, not a validation error."""
    url = path.replace("{incident}", "INC-1").replace("{sha}", SHA)
    bodies = {
        "/v1/events": {
            "specversion": "1.0",
            "id": "auth-1",
            "source": "test/auth",
            "type": "dev.provledger.incident.resolved.v1",
            "time": "2026-03-01T12:00:00Z",
            "data": {"incident": "INC-1"},
        },
        "/v1/sql": {"sql": "SELECT 1"},
    }
    params = {"repo": "shop/checkout", "commit": SHA, "by": "ai_tool"}
    if path == "/v1/ledger/proof":
        params = {"source": "test/auth", "id": "auth-1"}
    return {
        "method": method,
        "url": url,
        "params": params if method == "GET" else None,
        "json": bodies.get(path, {}) if method == "POST" else None,
    }


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "provenance_ledger.query", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def secured(start_server, tmp_path: Path, settings):
    tokens_file = tmp_path / "tokens.json"
    env = {**server_env(settings, 0), "PROVLEDGER_TOKENS_FILE": str(tokens_file)}
    tokens = {}
    for scope in ("read", "ingest", "admin"):
        made = cli(env, "token", "create", "--scope", scope, "--name", f"test-{scope}")
        assert made.returncode == 0, made.stderr
        tokens[scope] = made.stdout.strip()
        assert tokens[scope] not in made.stderr  # printed once, on stdout only
    assert all(token not in tokens_file.read_text() for token in tokens.values())
    running = start_server({"PROVLEDGER_TOKENS_FILE": str(tokens_file)})
    return running, tokens, tokens_file


def test_every_endpoint_times_every_caller(secured):
    running, tokens, _ = secured
    spec = httpx.get(f"{running.url}/openapi.json", timeout=10).json()
    operations = [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert ("POST", "/v1/sql") in operations and ("GET", "/v1/snapshot") in operations
    assert ("GET", "/v1/ledger/proof") in operations
    checked = 0
    with httpx.Client(base_url=running.url, timeout=30) as client:
        for method, path in operations:
            scope = needed_scope(method, path)
            callers = [(f"token:{name}", f"Bearer {token}") for name, token in tokens.items()]
            for label, header in [*callers, *GARBAGE]:
                request = request_for(method, path)
                headers = {"Authorization": header} if header else {}
                response = client.request(**request, headers=headers)
                where = f"{method} {path} as {label}: {response.status_code} {response.text[:200]}"
                assert response.status_code < 500, where
                if scope is None or (label.startswith("token:") and grants(label[6:], scope)):
                    assert response.status_code not in (401, 403), where
                elif label.startswith("token:"):
                    assert response.status_code == 403, where
                    assert response.json()["status"] == 403, where
                else:
                    assert response.status_code == 401, where
                    assert response.headers["www-authenticate"] == "Bearer", where
                    assert response.json()["ok"] is False, where
                checked += 1
    assert checked >= len(operations) * 8
    for path in ("/openapi.json", "/docs", "/healthz"):
        assert httpx.get(f"{running.url}{path}", timeout=10).status_code == 200


def test_cli_uses_the_token_revocation_is_live_and_tokens_are_never_logged(secured):
    running, tokens, tokens_file = secured
    env = {**running.env, "PROVLEDGER_TOKENS_FILE": str(tokens_file)}
    ok = cli(
        {**env, "PROVLEDGER_TOKEN": tokens["read"]}, "sql", "SELECT 41 + 1 AS n", "--format", "csv"
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines() == ["n", "42"]
    wrong = cli({**env, "PROVLEDGER_TOKEN": tokens["ingest"]}, "sql", "SELECT 1")
    assert wrong.returncode == 4 and "403" in wrong.stderr

    listed = cli(env, "token", "list")
    assert "test-read\tread" in listed.stdout and tokens["read"] not in listed.stdout
    assert cli(env, "token", "revoke", "test-read").returncode == 0
    gone = cli({**env, "PROVLEDGER_TOKEN": tokens["read"]}, "sql", "SELECT 1")
    assert gone.returncode == 4 and "401" in gone.stderr

    output = running.stop()
    assert all(token not in output for token in tokens.values())


def test_non_loopback_bind_without_tokens_exits_with_a_clear_message(tmp_path, settings):
    env = {**server_env(settings, 0), "PROVLEDGER_TOKENS_FILE": str(tmp_path / "none.json")}
    result = cli(env, "serve", "--host", "0.0.0.0", "--port", "1")
    assert result.returncode != 0
    assert "refusing to listen on 0.0.0.0" in result.stderr
    assert "provledger token create" in result.stderr
