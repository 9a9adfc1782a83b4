"""API tokens: bearer tokens with a scope, stored only as SHA-256 hashes.

Tokens live in a JSON file (``PROVLEDGER_TOKENS_FILE``, default
``~/.config/provledger/tokens.json``) written by ``provledger token create``, and/or in
``PROVLEDGER_TOKEN_HASHES`` (``scope:sha256hex`` pairs, comma-separated) for deployments that
inject secrets through the environment. A token is 256 random bits, so one unsalted SHA-256
is enough to make a stolen file useless; comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from provenance_ledger.schemas.errors import LocalFailure, UsageProblem

SCOPES = ("read", "ingest", "admin")
TOKEN_PREFIX = "plg_"
ENV_HASHES = "PROVLEDGER_TOKEN_HASHES"
_UNREAD = (-1, -1)


class TokenConfigError(ValueError, UsageProblem):
    """The token file or PROVLEDGER_TOKEN_HASHES cannot be read."""


@dataclass(frozen=True)
class TokenEntry:
    name: str
    scope: str
    sha256: str
    created_at: str = ""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()


def grants(granted: str, needed: str) -> bool:
    """``admin`` implies every scope; the others grant only themselves."""
    return granted == "admin" or granted == needed


def _check_scope(scope: str, where: str) -> str:
    if scope not in SCOPES:
        raise TokenConfigError(f"{where}: unknown scope {scope!r}; use one of {', '.join(SCOPES)}")
    return scope


def _check_hash(digest: str, where: str) -> str:
    digest = digest.strip().lower()
    if len(digest) != 64 or any(char not in "0123456789abcdef" for char in digest):
        raise TokenConfigError(f"{where}: a token hash is 64 hex digits (SHA-256)")
    return digest


def read_file(path: Path) -> list[TokenEntry]:
    if not path.exists():
        return []
    try:
        body = json.loads(path.read_text())
        items = body["tokens"]
        return [
            TokenEntry(
                str(item.get("name", "")),
                _check_scope(item["scope"], str(path)),
                _check_hash(item["sha256"], str(path)),
                str(item.get("created_at", "")),
            )
            for item in items
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, TokenConfigError):
            raise
        raise TokenConfigError(
            f"{path} is not a provledger token file ({exc}); "
            'expected {"tokens": [{"name", "scope", "sha256"}]}'
        ) from exc


def parse_env_hashes(value: str) -> list[TokenEntry]:
    entries = []
    for index, pair in enumerate(part.strip() for part in value.split(",") if part.strip()):
        scope, sep, digest = pair.partition(":")
        if not sep:
            raise TokenConfigError(f"{ENV_HASHES}: entry {index + 1} is not scope:sha256hex")
        where = f"{ENV_HASHES} entry {index + 1}"
        entries.append(
            TokenEntry(
                f"env-{index + 1}", _check_scope(scope.strip(), where), _check_hash(digest, where)
            )
        )
    return entries


class TokensUnavailable(RuntimeError, LocalFailure):
    """The tokens file cannot be read while serving: no token is honoured until it can."""


class TokenStore:
    """The configured tokens; re-reads the file when it changes, so new tokens need no restart.

    Fails closed: while the file cannot be read (unreadable, corrupt, half-written by an
    editor) no token is valid, never the last good list, which may hold a revoked one. Once
    tokens have been configured, auth stays required for the life of the process: removing
    the last token or the file does not open the API to anyone.
    """

    def __init__(self, path: Path | None, env_hashes: str | None = None) -> None:
        self.path = path
        self._env_entries = parse_env_hashes(env_hashes) if env_hashes else []
        self._lock = threading.Lock()
        self._stamp: tuple[int, ...] | None = _UNREAD
        self._file_entries: list[TokenEntry] = []
        self._broken: str | None = None
        self._ever_configured = bool(self._env_entries)
        self._refresh(first=True)

    def _refresh(self, first: bool = False) -> None:
        if self.path is None:
            return
        try:
            stat = self.path.stat()
            # ctime too: a chmod that makes the file readable again changes only that.
            stamp: tuple[int, ...] | None = (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        except OSError as exc:  # e.g. the folder became unreadable
            if first:
                raise TokenConfigError(f"{self.path}: {exc}") from exc
            with self._lock:
                self._broken, self._stamp, self._file_entries = str(exc), _UNREAD, []
            return
        with self._lock:
            if stamp == self._stamp and self._broken is None:
                return
            try:
                entries = read_file(self.path) if stamp is not None else []
            except TokenConfigError as exc:
                if first:
                    raise
                self._broken, self._stamp, self._file_entries = str(exc), stamp, []
                return
            self._file_entries, self._stamp, self._broken = entries, stamp, None
            self._ever_configured = self._ever_configured or bool(entries)

    def entries(self) -> list[TokenEntry]:
        """Every configured token; :class:`TokensUnavailable` while the file is unreadable."""
        self._refresh()
        if self._broken is not None:
            raise TokensUnavailable(
                f"the API tokens cannot be read, so no token is accepted until they can: "
                f"{self._broken}"
            )
        return [*self._env_entries, *self._file_entries]

    def configured(self) -> bool:
        """Whether requests need a token: true once any token has been configured."""
        try:
            return bool(self.entries()) or self._ever_configured
        except TokensUnavailable:
            return True

    def scope_of(self, token: str) -> str | None:
        """The scope of ``token``, or None; compares with every stored hash in constant time."""
        entry = self.entry_of(token)
        return entry.scope if entry is not None else None

    def entry_of(self, token: str) -> TokenEntry | None:
        """The configured entry of ``token`` (its name and scope), or None; compares with
        every stored hash in constant time."""
        digest = hash_token(token)
        found = None
        for entry in self.entries():
            if hmac.compare_digest(digest, entry.sha256) and found is None:
                found = entry
        return found


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def add_token(path: Path, scope: str, name: str) -> tuple[str, TokenEntry]:
    """Create a token, store its hash in ``path`` (0600, atomically), return it with its entry."""
    _check_scope(scope, "scope")
    entries = read_file(path)
    if any(entry.name == name for entry in entries):
        raise TokenConfigError(f"a token named {name!r} already exists in {path}")
    token = new_token()
    entry = TokenEntry(name, scope, hash_token(token), datetime.now(UTC).isoformat())
    write_file(path, [*entries, entry])
    return token, entry


def remove_token(path: Path, name: str) -> bool:
    entries = read_file(path)
    kept = [entry for entry in entries if entry.name != name]
    if len(kept) == len(entries):
        return False
    write_file(path, kept)
    return True


def write_file(path: Path, entries: list[TokenEntry]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = {
        "tokens": [
            {"name": e.name, "scope": e.scope, "sha256": e.sha256, "created_at": e.created_at}
            for e in entries
        ]
    }
    handle, temp = tempfile.mkstemp(prefix=".tokens-", dir=path.parent)
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w") as out:
            json.dump(body, out, indent=2)
            out.write("\n")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
