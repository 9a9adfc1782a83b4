"""The CLI's one HTTP client for the API (PROVLEDGER_API, PROVLEDGER_TOKEN).

Every command that asks the API goes through here, so each failure is one of two errors:
:class:`Unreachable` (exit 3) when the API does not answer, :class:`RemoteError` (exit 4,
with the status and the API's error body) when it answers with an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.schemas.commandline import runnable
from provenance_ledger.schemas.errors import LocalFailure, RemoteError, Unreachable, UsageProblem

DEFAULT_TIMEOUT_S = 30.0


def api_get(
    settings: Settings,
    path: str,
    params: dict[str, Any] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Any:
    """GET ``path``; the answer's JSON."""
    with _answering(settings):
        response = httpx.get(
            settings.api_url + path, params=params, headers=_auth(settings), timeout=timeout_s
        )
    return _json_of(settings, response)


def api_post(settings: Settings, path: str, body: Any, timeout_s: float = 60) -> Any:
    """POST ``body`` as JSON to ``path``; the answer's JSON."""
    with _answering(settings):
        response = httpx.post(
            settings.api_url + path, json=body, headers=_auth(settings), timeout=timeout_s
        )
    return _json_of(settings, response)


def api_download(settings: Settings, path: str, dest: Path) -> httpx.Headers:
    """Stream a GET answer into ``dest``, through ``dest.partial`` so that ``dest`` appears
    only whole; returns the answer's headers."""
    partial = dest.with_name(dest.name + ".partial")
    timeout = httpx.Timeout(DEFAULT_TIMEOUT_S, read=600)
    try:
        with (
            _answering(settings),
            httpx.stream(
                "GET", settings.api_url + path, headers=_auth(settings), timeout=timeout
            ) as response,
        ):
            if response.status_code >= 400:
                response.read()
                raise _remote_error(response)
            with partial.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
        partial.replace(dest)
    except OSError as exc:
        raise LocalFailure(f"cannot write {dest}: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return response.headers


def _remote_error(response: httpx.Response) -> RemoteError:
    """The API's error answer (CONTRACT §4: ``{"ok": false, "error": "...", "status": N}``)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    detail = body.get("error", body) if isinstance(body, dict) else body
    text = str(detail).strip()[:500] or response.reason_phrase
    return RemoteError(
        f"the API answered {response.status_code}: {text}", response.status_code, body
    )


@contextmanager
def _answering(settings: Settings) -> Iterator[None]:
    """httpx's transport errors as :class:`Unreachable`; a URL that is not http(s) as a
    usage problem (PROVLEDGER_API is a setting)."""
    try:
        yield
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise UsageProblem(
            f"PROVLEDGER_API={settings.api_url!r} is not an http(s) URL ({exc})"
        ) from exc
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        raise Unreachable(
            f"cannot reach the provledger API at {settings.api_url} ({reason}); "
            f"is `{runnable('serve')}` running, and is PROVLEDGER_API right?"
        ) from exc


def _auth(settings: Settings) -> dict[str, str]:
    token = settings.secrets.token
    return {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}


def _json_of(settings: Settings, response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise _remote_error(response)
    try:
        return response.json()
    except ValueError as exc:
        raise RemoteError(
            f"{settings.api_url} answered {response.status_code} with no JSON: is "
            "PROVLEDGER_API a provledger server?",
            response.status_code,
            response.text[:500],
        ) from exc
