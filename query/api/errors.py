"""The one error shape of CONTRACT §4: ``{"ok": false, "error": "...", "status": N}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ApiError(HTTPException):
    """An error with an optional list of per-item errors."""

    def __init__(self, status: int, error: str, errors: list[Any] | None = None) -> None:
        super().__init__(status_code=status, detail=error)
        self.errors = errors


def error_body(status: int, error: str, errors: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error": error, "status": status}
    if errors:
        body["errors"] = errors
    return body


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        errors = getattr(exc, "errors", None)
        return JSONResponse(
            error_body(exc.status_code, str(exc.detail), errors),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(part) for part in err.get("loc", ())], "msg": err.get("msg", "")}
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        message = f"{'.'.join(first['loc'])}: {first['msg']}"
        return JSONResponse(error_body(422, message, errors), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The detail goes to the log, never to the client.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(500, "internal error; see the server log"), status_code=500)
