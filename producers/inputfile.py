"""Reading a file a command is given (stdin for ``-``): bounded, so a wrong or hostile path
cannot fill memory, and every failure a usage problem (exit 2) naming the file."""

from __future__ import annotations

import sys
from pathlib import Path

from provenance_ledger.schemas.errors import UsageProblem


class UnreadableFile(ValueError, UsageProblem):
    """A file a command cannot use: unreadable, too large, or not text."""


def read_bytes(name: str | Path, limit: int, label: str = "", advice: str = "") -> bytes:
    """At most ``limit`` bytes of the file ``name``; a larger file is refused rather than cut.
    ``label`` names it in the errors (default: its name); ``advice`` follows a too-large one."""
    label = label or str(name)
    try:
        if str(name) == "-":
            raw = sys.stdin.buffer.read(limit + 1)
        else:
            with open(name, "rb") as handle:
                raw = handle.read(limit + 1)
    except OSError as exc:
        raise UnreadableFile(f"cannot read {label}: {exc.strerror or exc}") from exc
    if len(raw) > limit:
        raise UnreadableFile(f"{label} is larger than {limit >> 20} MiB{advice}")
    return raw


def read_text(name: str | Path, limit: int, label: str = "", advice: str = "") -> str:
    """The file's UTF-8 text (a byte-order mark dropped), as :func:`read_bytes` reads it."""
    raw = read_bytes(name, limit, label, advice)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"{label or name} is not UTF-8 text") from exc
