"""What the API needs from the process that hosts it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ledger.consumer import ConsumerStatus
from ledger.settings import Settings
from ledger.store import Ledger
from schemas.codec import DecodedEvent


@dataclass(frozen=True)
class AppState:
    ledger: Ledger
    settings: Settings
    consumer_status: Callable[[], ConsumerStatus]
    publish: Callable[[list[DecodedEvent]], None]
