"""The CLI's HTTP client for the API (PROVLEDGER_API, PROVLEDGER_TOKEN)."""

from __future__ import annotations

from typing import Any

import click
import httpx

from ledger.settings import Settings


def api_get(settings: Settings, path: str, params: dict[str, Any] | None = None) -> Any:
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    try:
        response = httpx.get(
            f"{settings.api_url}{path}", params=params, headers=headers, timeout=30
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(
            f"cannot reach the provledger API at {settings.api_url} ({exc}); is `provledger "
            "serve` running, and is PROVLEDGER_API right?"
        ) from exc
    if response.status_code >= 400:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        raise click.ClickException(f"{response.status_code}: {message}")
    return response.json()
