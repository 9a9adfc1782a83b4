"""The CLI's HTTP client for the API (PROVLEDGER_API, PROVLEDGER_TOKEN)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import httpx

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.query.cli.install import runnable


def _unreachable_message(settings: Settings, exc: Exception) -> str:
    return (
        f"cannot reach the provledger API at {settings.api_url} ({exc}); "
        f"is `{runnable('serve')}` running, and is PROVLEDGER_API right?"
    )


def api_get(settings: Settings, path: str, params: dict[str, Any] | None = None) -> Any:
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    try:
        response = httpx.get(
            f"{settings.api_url}{path}", params=params, headers=headers, timeout=30
        )
    except httpx.HTTPError as exc:
        raise _unreachable(settings, exc) from exc
    if response.status_code >= 400:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        raise click.ClickException(f"{response.status_code}: {message}")
    return response.json()


class ApiUnreachable(click.ClickException):
    """The API did not answer; CI gates treat this as 'unknown' (exit 2)."""

    exit_code = 2


def api_call(
    settings: Settings, path: str, params: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """(status, JSON body) without raising on HTTP errors, for commands that map statuses."""
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    try:
        response = httpx.get(
            f"{settings.api_url}{path}", params=params, headers=headers, timeout=30
        )
    except httpx.HTTPError as exc:
        raise ApiUnreachable(_unreachable_message(settings, exc)) from exc
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, {"error": response.text}


def _unreachable(settings: Settings, exc: Exception) -> click.ClickException:
    return click.ClickException(_unreachable_message(settings, exc))


def _error_of(response: httpx.Response) -> click.ClickException:
    try:
        message = response.json().get("error", response.text)
    except (ValueError, AttributeError):
        message = response.text
    return click.ClickException(f"{response.status_code}: {message}")


def api_post(settings: Settings, path: str, body: Any, timeout_s: float = 60) -> Any:
    """POST JSON; the answer's JSON, or a ClickException with the API's error message."""
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    try:
        response = httpx.post(
            f"{settings.api_url}{path}", json=body, headers=headers, timeout=timeout_s
        )
    except httpx.HTTPError as exc:
        raise _unreachable(settings, exc) from exc
    if response.status_code >= 400:
        raise _error_of(response)
    return response.json()


def api_download(settings: Settings, path: str, dest: Path) -> httpx.Headers:
    """Stream a GET answer into ``dest`` (through ``dest.partial``); returns the headers."""
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    partial = dest.with_name(dest.name + ".partial")
    try:
        with httpx.stream(
            "GET", f"{settings.api_url}{path}", headers=headers, timeout=httpx.Timeout(30, read=600)
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise _error_of(response)
            with partial.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
    except httpx.HTTPError as exc:
        partial.unlink(missing_ok=True)
        raise _unreachable(settings, exc) from exc
    partial.replace(dest)
    return response.headers
