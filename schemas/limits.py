"""Size limits of the contract, apart from the codec so reading Settings imports no pydantic."""

from __future__ import annotations

DEFAULT_MAX_EVENT_BYTES = 1024 * 1024
