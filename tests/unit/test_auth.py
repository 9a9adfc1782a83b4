"""Tokens, scopes, the loopback rule, the body cap, and that every route is guarded."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from provenance_ledger.query.api import auth, errors, server
from provenance_ledger.query.api.app import create_app
from provenance_ledger.query.api.deps import require
from provenance_ledger.query.api.middleware import BodyLimit, LocalOnly
from provenance_ledger.query.api.state import Limits

READ = "plg_" + "r" * 43
INGEST = "plg_" + "i" * 43
ADMIN = "plg_" + "a" * 43
# What may be reached without a token (CONTRACT: health and the docs stay open).
OPEN_PATHS = {"/healthz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
# Webhooks take no token: the provider's signature is checked instead (test_webhooks_routes.py).
WEBHOOKS = "/v1/webhooks/"


def store() -> auth.TokenStore:
    hashes = ",".join(
        f"{scope}:{auth.hash_token(token)}"
        for scope, token in (("read", READ), ("ingest", INGEST), ("admin", ADMIN))
    )
    return auth.TokenStore(None, hashes)


def test_admin_implies_every_scope_and_the_others_only_themselves():
    assert all(auth.grants("admin", scope) for scope in auth.SCOPES)
    assert auth.grants("read", "read") and not auth.grants("read", "ingest")
    assert not auth.grants("ingest", "read") and not auth.grants("read", "admin")


def test_store_finds_the_scope_by_hash_and_never_holds_the_token():
    tokens = store()
    assert tokens.scope_of(READ) == "read"
    assert tokens.scope_of(ADMIN) == "admin"
    assert tokens.scope_of("plg_" + "x" * 43) is None
    assert all(READ not in repr(entry) for entry in tokens.entries())


def test_new_tokens_are_long_random_and_distinct():
    first, second = auth.new_token(), auth.new_token()
    assert first != second and first.startswith("plg_") and len(first) > 40


@pytest.mark.parametrize("value", ["read", "superuser:" + "0" * 64, "read:abc", "read:" + "g" * 64])
def test_bad_env_hashes_are_refused_with_the_variable_named(value):
    with pytest.raises(auth.TokenConfigError, match=r"PROVLEDGER_TOKEN_HASHES|scope"):
        auth.parse_env_hashes(value)


def test_loopback_rule():
    server.check_bind("127.0.0.1", tokens_configured=False)
    server.check_bind("::1", tokens_configured=False)
    server.check_bind("localhost", tokens_configured=False)
    server.check_bind("0.0.0.0", tokens_configured=True)
    with pytest.raises(server.ServeError, match="no API tokens are configured"):
        server.check_bind("0.0.0.0", tokens_configured=False)
    with pytest.raises(server.ServeError):
        server.check_bind("10.1.2.3", tokens_configured=False)


def tiny_app(tokens: auth.TokenStore | None, auth_always: bool = False, max_body: int = 1000):
    app = FastAPI()
    app.state.provledger = SimpleNamespace(
        tokens=tokens,
        auth_required=lambda: auth_always or (tokens is not None and tokens.configured()),
    )
    errors.install(app)

    @app.post("/echo", dependencies=[Depends(require("ingest"))])
    def echo(body: dict) -> dict:
        return body

    app.add_middleware(BodyLimit, max_bytes=max_body)
    return TestClient(app)


@pytest.mark.parametrize(
    ("header", "status", "message"),
    [
        (None, 401, "needs a bearer token"),
        ("Basic dXNlcjpwYXNz", 401, "malformed"),
        ("Bearer", 401, "malformed"),
        ("Bearer short", 401, "malformed"),
        ("Bearer plg_" + "!" * 40, 401, "malformed"),
        ("Bearer plg_" + "z" * 43, 401, "unknown"),
        (f"Bearer {READ}", 403, "'read' scope"),
        (f"Bearer {INGEST}", 200, None),
        (f"bearer {ADMIN}", 200, None),
    ],
)
def test_require_answers_each_case_in_the_error_shape(header, status, message):
    client = tiny_app(store())
    headers = {"Authorization": header} if header else {}
    response = client.post("/echo", json={"a": 1}, headers=headers)
    assert response.status_code == status
    if message:
        body = response.json()
        assert body["ok"] is False and body["status"] == status and message in body["error"]
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_without_tokens_loopback_is_open_and_other_binds_are_shut():
    assert tiny_app(auth.TokenStore(None)).post("/echo", json={}).status_code == 200
    shut = tiny_app(auth.TokenStore(None), auth_always=True)
    assert shut.post("/echo", json={}).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [{}, {"Content-Length": "5000"}, {"Transfer-Encoding": "chunked"}],
    ids=["no-length", "declared", "chunked"],
)
def test_bodies_over_the_cap_get_413_in_the_error_shape(headers):
    client = tiny_app(None, max_body=1000)
    body = b'{"a": "' + b"x" * 2000 + b'"}'
    response = client.post(
        "/echo", content=iter([body]) if "Transfer-Encoding" in headers else body
    )
    assert response.status_code == 413
    assert response.json() == {
        "ok": False,
        "error": response.json()["error"],
        "status": 413,
    }
    assert "PROVLEDGER_MAX_BODY_BYTES" in response.json()["error"]
    small = client.post("/echo", json={"a": "ok"})
    assert small.status_code == 200 and small.json() == {"a": "ok"}


def test_every_route_but_health_and_docs_needs_a_token_of_its_scope():
    # Black-box over the app's own OpenAPI, so routes added later are covered too. A caller
    # that gets past auth would reach the (absent) ledger; only refusals are exercised.
    state = SimpleNamespace(limits=Limits(), tokens=store(), auth_required=lambda: True)
    app = create_app(state)  # type: ignore[arg-type]
    client = TestClient(app, raise_server_exceptions=False)
    operations = [
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if path not in OPEN_PATHS and not path.startswith(WEBHOOKS)
    ]
    assert ("POST", "/v1/sql") in operations
    for method, path in operations:
        url = path.replace("{", "x").replace("}", "")
        response = client.request(method, url)
        assert response.status_code == 401, f"{method} {path} answers without a token"
    refused = [
        ("POST", "/v1/events", READ),
        ("GET", "/v1/snapshot", INGEST),
        ("GET", "/v1/snapshot", READ),
        ("POST", "/v1/sql", INGEST),
    ]
    for method, path, token in refused:
        response = client.request(method, path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403, f"{method} {path}"


def test_a_tokens_file_that_becomes_unreadable_fails_closed(tmp_path):
    path = tmp_path / "tokens.json"
    token, _ = auth.add_token(path, "read", "alice")
    tokens = auth.TokenStore(path)
    assert tokens.scope_of(token) == "read"
    # Revoked by an edit that leaves the file corrupt: the old list must not be served.
    path.write_text('{"tokens": [')
    with pytest.raises(auth.TokensUnavailable, match="no token is accepted"):
        tokens.scope_of(token)
    assert tokens.configured()  # auth stays required meanwhile
    path.write_text('{"tokens": []}')
    assert tokens.scope_of(token) is None
    # Removing the last token does not open the API either.
    assert tokens.configured()


def test_an_unreadable_tokens_file_answers_503_then_recovers(tmp_path):
    path = tmp_path / "tokens.json"
    token, _ = auth.add_token(path, "ingest", "ci")
    client = tiny_app(auth.TokenStore(path))
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.post("/echo", json={}, headers=bearer).status_code == 200
    good = path.read_text()
    path.chmod(0o000)
    try:
        if os.access(path, os.R_OK):  # root reads anything: corrupt it instead
            path.write_text("not json")
        refused = client.post("/echo", json={}, headers=bearer)
        assert refused.status_code == 503
        assert refused.json()["ok"] is False and "cannot be read" in refused.json()["error"]
    finally:
        path.chmod(0o600)
    path.write_text(good)
    assert client.post("/echo", json={}, headers=bearer).status_code == 200


def local_app(tokens: auth.TokenStore | None, bind_host: str = "127.0.0.1") -> TestClient:
    app = FastAPI()
    errors.install(app)

    @app.post("/echo")
    def echo(body: dict) -> dict:
        return body

    configured = tokens is not None and tokens.configured()
    app.add_middleware(LocalOnly, open_to_all=lambda: not configured, bind_host=bind_host)
    return TestClient(app, base_url="http://127.0.0.1:8000")


@pytest.mark.parametrize(
    ("host", "origin", "status"),
    [
        ("127.0.0.1:8000", None, 200),
        ("localhost:8000", "http://localhost:8000", 200),
        ("[::1]:8000", "http://[::1]:8000", 200),
        ("127.0.0.1", "http://127.0.0.1:3000", 200),
        ("attacker.example:8000", None, 403),
        ("localhost.attacker.example", None, 403),
        ("127.0.0.1:8000", "http://attacker.example:8000", 403),
        ("127.0.0.1:8000", "null", 403),
        ("", None, 403),
        ("127.0.0.1:80x", None, 403),
    ],
)
def test_without_tokens_only_loopback_names_are_answered(host, origin, status):
    client = local_app(None)
    headers = {"Host": host} | ({"Origin": origin} if origin else {})
    response = client.post("/echo", json={"a": 1}, headers=headers)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["ok"] is False and response.json()["status"] == 403


def test_the_bind_host_and_configured_tokens_lift_the_host_rule():
    assert (
        local_app(None, "ledger.internal")
        .post("/echo", json={}, headers={"Host": "ledger.internal:8000"})
        .status_code
        == 200
    )
    with_tokens = local_app(store())
    assert with_tokens.post("/echo", json={}, headers={"Host": "ledger.example"}).status_code == 200
