"""Hostile HTTP against the real server: caps, bad bodies, bad paths — never a 5xx, always
the one error shape, never a stack trace."""

from __future__ import annotations

import httpx
import pytest

MAX_BODY = 64 * 1024
MAX_BATCH = 5


def event(number: int) -> dict:
    return {
        "specversion": "1.0",
        "id": f"hostile-{number}",
        "source": "test/hostile",
        "type": "dev.provledger.incident.resolved.v1",
        "time": "2026-03-01T12:00:00Z",
        "data": {"incident": "INC-1"},
    }


# One server for the module: no test reads what another stores.
@pytest.fixture(scope="module")
def url(start_module_server, module_settings):
    running = start_module_server(
        {
            "PROVLEDGER_MAX_BODY_BYTES": str(MAX_BODY),
            "PROVLEDGER_MAX_BATCH_EVENTS": str(MAX_BATCH),
            "PROVLEDGER_TOKENS_FILE": str(module_settings.db_path.parent / "no-tokens.json"),
        }
    )
    return running.url


def refused(response: httpx.Response, *statuses: int) -> dict:
    assert response.status_code in statuses, f"{response.status_code}: {response.text[:300]}"
    body = response.json()
    assert body["ok"] is False and body["status"] == response.status_code
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


def test_caps_on_bodies_and_batches(url):
    big = {"sql": "SELECT 1 -- " + "x" * MAX_BODY}
    body = refused(httpx.post(f"{url}/v1/sql", json=big), 413)
    assert "PROVLEDGER_MAX_BODY_BYTES" in body["error"]

    def chunks():
        for _ in range(40):
            yield b"[" + b" " * 4096

    streamed = httpx.post(
        f"{url}/v1/events", content=chunks(), headers={"content-type": "application/json"}
    )
    refused(streamed, 413)

    batch = [event(n) for n in range(MAX_BATCH + 1)]
    body = refused(httpx.post(f"{url}/v1/events", json=batch), 413)
    assert "PROVLEDGER_MAX_BATCH_EVENTS" in body["error"]
    ok = httpx.post(f"{url}/v1/events", json=[event(n) for n in range(MAX_BATCH)])
    assert ok.status_code == 202 and len(ok.json()["accepted"]) == MAX_BATCH


BAD_BODIES = [
    ("/v1/sql", b"{not json", "application/json"),
    ("/v1/sql", b"\xff\xfe\x00garbage", "application/json"),
    ("/v1/sql", b'{"sql": 42}', "application/json"),
    ("/v1/sql", b'{"sql": "SELECT 1", "extra": true}', "application/json"),
    ("/v1/sql", b'{"sql": ""}', "application/json"),
    ("/v1/sql", b'{"sql": "SELECT $a", "params": {"a": {"b": [1, {"c": null}]}}}', "text/plain"),
    ("/v1/sql", b"[" * 20_000 + b"]" * 20_000, "application/json"),
    ("/v1/sql", b'{"sql": "SELECT 1e999999"}', "application/json"),
    ("/v1/events", b"[]", "application/json"),
    ("/v1/events", b"null", "application/json"),
    ("/v1/events", b'"just a string"', "application/json"),
    ("/v1/events", b'[1, "two", null, {}]', "application/json"),
    ("/v1/events", b'{"specversion": "1.0"}', "application/json"),
    ("/v1/events", b"{" * 20_000, "application/json"),
    ("/v1/events", b'{"a": 1e99999}', "application/json"),
]


def test_bad_bodies_get_4xx_in_the_error_shape(url):
    for path, content, content_type in BAD_BODIES:
        response = httpx.post(
            f"{url}{path}", content=content, headers={"content-type": content_type}
        )
        if response.status_code == 200:  # a value the SQL legitimately answers
            assert path == "/v1/sql", content[:80]
            continue
        refused(response, 400, 413, 415, 422)


BAD_REQUESTS = [
    ("GET", "/v1/incidents/%00"),
    ("GET", "/v1/incidents/" + "a" * 5000),
    ("GET", "/v1/incidents/..%2F..%2Fetc%2Fpasswd"),
    ("GET", "/v1/incidents/INC-1/suspects?lookback=999999999999d"),
    ("GET", "/v1/incidents/INC-1/suspects?lookback=-5h"),
    ("GET", "/v1/incidents/INC-1/suspects?limit=-1"),
    ("GET", "/v1/incidents/INC-1/suspects?limit=99999999999999999999999"),
    ("GET", "/v1/commits/not-a-sha"),
    ("GET", "/v1/commits/" + "g" * 40),
    ("GET", "/v1/deployments?since=yesterday"),
    ("GET", "/v1/deployments?since=9999-99-99T99:99:99Z"),
    ("GET", "/v1/metrics/change-failure-rate?by=astrology"),
    ("GET", "/v1/policy/check"),
    ("GET", "/v1/policy/check?repo=%00&commit=%00"),
    ("GET", "/nowhere"),
    ("DELETE", "/v1/sql"),
    ("PUT", "/v1/events"),
    ("GET", "/v1/sql"),
]


def test_bad_paths_and_queries_never_5xx(url):
    for method, path in BAD_REQUESTS:
        response = httpx.request(method, f"{url}{path}", timeout=30)
        assert response.status_code < 500, f"{method} {path}: {response.text[:300]}"
        if response.status_code >= 400:
            refused(response, response.status_code)


def test_cors_is_off_by_default(url):
    response = httpx.options(
        f"{url}/v1/sql",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers
    simple = httpx.get(f"{url}/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
