"""Pure ASGI guards that answer before any route runs, in the one error shape: a cap on
request bodies (no buffering beyond the cap), and loopback names only while no token is
configured."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from provenance_ledger.query.api.errors import error_body


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Answers 413 to any request whose body is larger than ``max_bytes``.

    A declared Content-Length over the cap is refused without reading; otherwise the body is
    read up to the cap, then replayed to the app (so a lying or missing length cannot slip
    past: chunked bodies are counted as they arrive).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        try:
            messages = await self._read(receive)
        except BodyTooLarge:
            await self._refuse(send)
            return
        replay = iter(messages)

        async def replayed() -> Message:
            message = next(replay, None)
            return message if message is not None else await receive()

        await self.app(scope, replayed, send)

    async def _read(self, receive: Receive) -> list[Message]:
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                raise BodyTooLarge
            if not message.get("more_body", False):
                return messages

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            error_body(
                413,
                f"request body larger than {self.max_bytes} bytes "
                "(the server's PROVLEDGER_MAX_BODY_BYTES)",
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


LOOPBACK_NAMES = frozenset({"localhost"})


def host_name(value: str) -> str | None:
    """The host of a ``Host`` header or of an ``Origin`` URL's authority, lower-case, without
    port or IPv6 brackets; None when it is malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        rest = value[end + 1 :]
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return value[1:end]
    name, _, port = value.partition(":")
    if port and not port.isdigit():
        return None
    return name or None


def is_local_name(name: str | None, bind_host: str) -> bool:
    if name is None:
        return False
    if name in LOOPBACK_NAMES or name == bind_host.lower().strip("[]"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class LocalOnly:
    """While no token is configured the API is open to anything that can reach loopback, and
    a browser page can reach it through DNS rebinding (a name of the attacker's that resolves
    to 127.0.0.1): refuse a request whose ``Host`` or ``Origin`` names anything but loopback
    or the address the server listens on (or an origin PROVLEDGER_CORS_ORIGINS lists).
    ``open_to_all`` tells when it applies."""

    def __init__(
        self,
        app: ASGIApp,
        open_to_all: Callable[[], bool],
        bind_host: str,
        origins: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.open_to_all = open_to_all
        self.bind_host = bind_host
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.open_to_all():
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        host = headers.get(b"host", b"").decode("latin-1")
        if not is_local_name(host_name(host), self.bind_host):
            await _refuse(
                send,
                403,
                f"refused Host {host[:100]!r}: with no API token "
                "configured the API answers only to loopback names",
            )
            return
        origin = headers.get(b"origin")
        if origin is not None:
            text = origin.decode("latin-1")
            _, sep, authority = text.partition("://")
            local = sep and is_local_name(host_name(authority), self.bind_host)
            if not local and text not in self.origins:
                await _refuse(
                    send,
                    403,
                    f"refused Origin {text[:100]!r}: with no API token "
                    "configured the API answers only to pages served from loopback",
                )
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps(error_body(status, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
