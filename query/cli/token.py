"""``provledger token``: API tokens with a scope, stored hashed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.query.api.auth import (
    SCOPES,
    TokenEntry,
    add_token,
    read_file,
    remove_token,
)
from provenance_ledger.query.cli.output import json_option, print_json
from provenance_ledger.schemas.errors import LocalFailure, UsageProblem


def _tokens_file() -> Path:
    """The tokens file the settings name (PROVLEDGER_TOKENS_FILE)."""
    return click.get_current_context().ensure_object(Settings).api.tokens_file


@click.group()
def token() -> None:
    """Create, list and revoke API bearer tokens (scopes: read, ingest, admin).

    Hashes are kept in PROVLEDGER_TOKENS_FILE (default ~/.config/provledger/tokens.json),
    which a running server re-reads on change. Once any token exists, every API endpoint
    but /healthz and the docs needs one; without tokens the server listens on loopback only.
    """


@token.command()
@click.option("--scope", type=click.Choice(SCOPES), required=True, help="admin implies the others.")
@click.option("--name", default=None, help="A label to list or revoke it by (default: scope-time).")
@json_option("Print the token, its name, scope and file as JSON.")
def create(scope: str, name: str | None, as_json: bool) -> None:
    """Create a token and print it once (only its SHA-256 is stored).

    `read` is for the GET endpoints and SQL, `ingest` for POST /v1/events, `admin` for
    snapshot, verify and rebuild (and everything else).

    \b
    Example:
      provledger token create --scope read --name sre-oncall
      export PROVLEDGER_TOKEN=plg_…   # what the command printed
    """
    path = _tokens_file()
    name = name or f"{scope}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"
    try:
        secret, _ = add_token(path, scope, name)
    except OSError as exc:
        raise LocalFailure(f"cannot write {path}: {exc.strerror or exc}") from exc
    if as_json:
        print_json({"token": secret, "name": name, "scope": scope, "file": str(path)})
        return
    click.echo(secret)
    click.echo(
        f"created {scope!r} token {name!r} in {path}; it is shown only this once. "
        "Clients send it as `Authorization: Bearer <token>` (the CLI reads PROVLEDGER_TOKEN).",
        err=True,
    )


@token.command(name="list")
@json_option("Print the tokens' name, scope, creation time and hash prefix as a JSON list.")
def list_tokens(as_json: bool) -> None:
    """List the stored tokens: name, scope, creation time (never the tokens themselves).

    \b
    Example:
      provledger token list
    """
    path = _tokens_file()
    entries = read_file(path)
    if as_json:
        print_json([_listed(entry) for entry in entries])
        return
    if not entries:
        click.echo(f"no tokens in {path}", err=True)
    for entry in entries:
        click.echo(f"{entry.name}\t{entry.scope}\t{entry.created_at}\tsha256:{entry.sha256[:12]}…")


def _listed(entry: TokenEntry) -> dict[str, str]:
    # A prefix is enough to tell tokens apart; the full hash stays in the file.
    return {
        "name": entry.name,
        "scope": entry.scope,
        "created_at": entry.created_at,
        "sha256_prefix": entry.sha256[:12],
    }


@token.command()
@click.argument("name")
def revoke(name: str) -> None:
    """Remove the token called NAME; a running server stops accepting it at once.

    \b
    Example:
      provledger token revoke sre-oncall
    """
    path = _tokens_file()
    try:
        removed = remove_token(path, name)
    except OSError as exc:
        raise LocalFailure(f"cannot write {path}: {exc.strerror or exc}") from exc
    if not removed:
        raise UsageProblem(f"no token named {name!r} in {path}")
    click.echo(f"revoked {name!r}", err=True)
