"""Lines an AI tool wrote in a commit, tallied from the line ranges notes and traces give.

git-ai notes and Agent Trace records both say "this session (tool, model) wrote lines a to b of
file f". :class:`Tally` counts each line of a file once per session however often it is
named, and holds every value to a bound: both sources are files anyone can write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from provenance_ledger.producers.ai_detect import normalise_model, normalise_tool

MAX_LINE = 10_000_000
"""No source file has more lines; a larger number is not a line."""
MAX_RANGES = 200_000
"""Ranges one note or one commit's trace records may name (real ones name hundreds)."""
MAX_ENTRIES = 32
"""``ai`` entries (sessions) one commit may carry; the ones with the most lines are kept."""
MAX_TEXT = 200
"""Longest tool, model, session or path kept."""
_SPACES = re.compile(r"[\s\x00-\x1f\x7f]+")

Key = tuple[str, str | None, str | None]
"""(tool, model, session) of one ``ai`` entry."""


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A string field as it may travel in an event: capped, one line without control
    characters, valid UTF-8."""
    if not isinstance(value, str):
        return None
    cleaned = _SPACES.sub(" ", value[: limit * 4]).strip()[:limit]
    return cleaned.encode("utf-8", "replace").decode("utf-8") or None


def line_number(value: Any) -> int | None:
    """A 1-based line number from an integer (a JSON one: not a bool, not a string)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 1 <= value <= MAX_LINE else None


def entry_key(tool: Any, model: Any, session: Any, aliases: dict[str, str]) -> Key | None:
    """The entry a tool, model and session name; None without a tool. A model written
    ``provider/model`` (Agent Trace follows models.dev) keeps the model part only."""
    name = text(tool)
    if name is None:
        return None
    model_text = text(model)
    if model_text and "/" in model_text:
        model_text = model_text.rsplit("/", 1)[1]
    return normalise_tool(name, aliases), normalise_model(model_text), text(session)


@dataclass
class Tally:
    """Ranges per entry and file; :meth:`entries` counts them."""

    ranges: dict[Key, dict[str, list[tuple[int, int]]]] = field(default_factory=dict)
    count: int = 0
    dropped: int = 0
    """Ranges past :data:`MAX_RANGES`, not counted."""

    def entry(self, key: Key) -> None:
        """An entry that wrote no line here still shows the tool helped."""
        self.ranges.setdefault(key, {})

    @property
    def room(self) -> int:
        return MAX_RANGES - self.count

    def add(self, key: Key, path: str, start: int, end: int) -> None:
        if self.count >= MAX_RANGES:
            self.dropped += 1
            return
        self.count += 1
        self.ranges.setdefault(key, {}).setdefault(path, []).append((start, end))

    def entries(self) -> list[dict[str, Any]]:
        """One ``ai`` entry per key with its distinct lines, most lines first when there are
        more than :data:`MAX_ENTRIES`, else in the order they were named."""
        found = []
        for (tool, model, session), files in self.ranges.items():
            entry: dict[str, Any] = {"tool": tool}
            if model:
                entry["model"] = model
            if session:
                entry["session"] = session
            entry["lines"] = sum(distinct_lines(spans) for spans in files.values())
            found.append(entry)
        if len(found) > MAX_ENTRIES:
            found = sorted(found, key=lambda entry: -entry["lines"])[:MAX_ENTRIES]
        return found


def distinct_lines(spans: list[tuple[int, int]]) -> int:
    """Lines covered by inclusive ranges, each line once."""
    total, reach = 0, 0
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start - 1, reach)
            reach = end
    return total
