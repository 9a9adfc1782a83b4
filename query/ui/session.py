"""Who is looking at a page: the API's tokens, carried by an HttpOnly cookie.

The login form puts the token(s) in a ``SameSite=Strict`` HttpOnly cookie, so no token ever
appears in a URL, a page or a log line. Viewing needs ``read``; the verdict buttons need
``ingest`` (``admin`` grants both). A responder may give two tokens, a read one and an
ingest one. With no token configured (the server then listens on loopback only) pages are
open and verdicts are signed with the local user name.

Verdict POSTs carry a CSRF token: an HMAC of the cookie under a per-process key, which a
page of another site cannot read; the Origin header, when sent, must be this server.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from fastapi import Request

from provenance_ledger.query.api.auth import grants, hash_token
from provenance_ledger.query.api.deps import TOKEN_SHAPE
from provenance_ledger.query.api.state import AppState

COOKIE = "provledger_ui"
# Who signs verdicts: an id the responder typed at login (a person id, e.g. an e-mail).
IDENTITY = re.compile(r"[\w.+\-@]{1,200}")
_KEY = secrets.token_bytes(32)


@dataclass(frozen=True)
class Viewer:
    can_read: bool
    can_vote: bool
    signed_in: bool
    identity: str
    token_name: str | None
    csrf: str
    open: bool  # no tokens configured: pages need no login


def _csrf(cookie: str) -> str:
    return hmac.new(_KEY, cookie.encode(), hashlib.sha256).hexdigest()


def cookie_value(tokens: list[str], identity: str) -> str:
    return " ".join([identity or "-", *tokens])


def _parse(cookie: str) -> tuple[str, list[str]]:
    parts = cookie.split(" ")
    identity = parts[0] if parts and IDENTITY.fullmatch(parts[0]) else ""
    tokens = [part for part in parts[1:3] if TOKEN_SHAPE.fullmatch(part)]
    return identity, tokens


def _token_name(state: AppState, token: str) -> tuple[str, str] | None:
    """(scope, name) of a configured token, compared in constant time."""
    if state.tokens is None:
        return None
    digest = hash_token(token)
    found = None
    for entry in state.tokens.entries():
        if hmac.compare_digest(digest, entry.sha256) and found is None:
            found = (entry.scope, entry.name)
    return found


def viewer(request: Request) -> Viewer:
    return viewer_of(request, request.cookies.get(COOKIE, ""))


def viewer_of(request: Request, cookie: str) -> Viewer:
    state: AppState = request.app.state.provledger
    identity, tokens = _parse(cookie)
    if not state.auth_required():
        who = identity or f"{getpass.getuser()}@localhost"
        return Viewer(True, True, bool(identity), who, None, _csrf(cookie), True)
    known = [found for found in (_token_name(state, token) for token in tokens) if found]
    can_read = any(grants(scope, "read") for scope, _ in known)
    voters = [name for scope, name in known if grants(scope, "ingest")]
    name = voters[0] if voters else (known[0][1] if known else None)
    return Viewer(
        can_read,
        can_read and bool(voters),
        bool(known),
        identity or (name or ""),
        name,
        _csrf(cookie),
        False,
    )


def same_origin(request: Request) -> bool:
    """A browser sends Origin on every cross-site POST; when present it must be us."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def csrf_ok(request: Request, sent: str | None, who: Viewer) -> bool:
    return bool(sent) and hmac.compare_digest(sent or "", who.csrf) and same_origin(request)
