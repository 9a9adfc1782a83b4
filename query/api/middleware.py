"""A cap on request bodies, enforced before any route reads one (pure ASGI: no buffering
beyond the cap, and the refusal is in the one error shape)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from query.api.errors import error_body


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
