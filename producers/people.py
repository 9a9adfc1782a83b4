"""Levels from a people directory: a levels file maps titles and grades to the contract's
levels (junior, mid, senior, principal), and only a person whose level (or team) differs
from what the ledger holds is registered again.

A levels file (YAML)::

    levels:                                  # tried in order; the first that matches wins
      - {grade: L7, level: principal}        # exact, ignoring case and outer spaces
      - {title: Staff Engineer, level: principal}
      - {title_pattern: '\\bsenior\\b', level: senior}   # a regular expression, searched
      - {grade_pattern: '^L[34]$', level: mid}
    default: mid                             # optional: for people no rule matches
    csv: {id: Work Email, grade: Band}       # optional: CSV column names (directory.py)

Bounds: at most :data:`MAX_RULES` rules, patterns of :data:`MAX_PATTERN` characters, run over
the first :data:`MAX_MATCHED` characters of a title or grade, once per distinct one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, get_args

import yaml

from provenance_ledger.producers.directory import CSV_COLUMNS, Directory, Listed
from provenance_ledger.schemas.errors import UsageProblem
from provenance_ledger.schemas.events import Level

LEVELS: tuple[str, ...] = get_args(Level)
FIELDS = ("title", "grade")
MAX_RULES = 1000
MAX_PATTERN = 200
MAX_MATCHED = 128
MAX_UNMAPPED = 100
"""People without a level listed by id (the rest are counted)."""


class LevelsError(ValueError, UsageProblem):
    """A levels file that cannot be used."""


@dataclass(frozen=True)
class LevelRule:
    field: str
    level: str
    exact: str | None = None
    pattern: re.Pattern[str] | None = None

    def matches(self, value: str | None) -> bool:
        if value is None:
            return False
        if self.pattern is not None:
            return self.pattern.search(value[:MAX_MATCHED]) is not None
        return value.strip().casefold() == self.exact


@dataclass
class LevelMap:
    rules: tuple[LevelRule, ...]
    default: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    _known: dict[tuple[str | None, str | None], str | None] = field(default_factory=dict)

    def level_of(self, person: Listed) -> str | None:
        key = (person.title, person.grade)
        if key not in self._known:
            found = (
                rule.level
                for rule in self.rules
                if rule.matches(person.title if rule.field == "title" else person.grade)
            )
            self._known[key] = next(found, self.default)
        return self._known[key]


def _rule(raw: Any, where: str) -> LevelRule:
    keys = [key for key in ("title", "grade", "title_pattern", "grade_pattern")
            if isinstance(raw, dict) and key in raw]  # fmt: skip
    if not isinstance(raw, dict) or len(keys) != 1 or raw.get("level") not in LEVELS:
        raise LevelsError(
            f"{where}: a rule is one of title, grade, title_pattern or grade_pattern, and a "
            f"level ({', '.join(LEVELS)}); got {str(raw)[:200]}"
        )
    value = raw[keys[0]]
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise LevelsError(f"{where}: {keys[0]} must be text")
    name, _, kind = keys[0].partition("_")
    if not kind:
        return LevelRule(name, raw["level"], exact=str(value).strip().casefold())
    if len(str(value)) > MAX_PATTERN:
        raise LevelsError(f"{where}: {keys[0]} is longer than {MAX_PATTERN} characters")
    try:
        return LevelRule(name, raw["level"], pattern=re.compile(str(value), re.IGNORECASE))
    except re.error as exc:
        raise LevelsError(f"{where}: {keys[0]} {value!r}: {exc}") from exc


def load_levels(content: str, path: str) -> LevelMap:
    try:
        doc = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        raise LevelsError(f"{path}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("levels"), list):
        raise LevelsError(f"{path}: needs `levels:`, a list of rules")
    if len(doc["levels"]) > MAX_RULES:
        raise LevelsError(f"{path}: more than {MAX_RULES} rules")
    rules = tuple(_rule(raw, f"{path}: rule {n}") for n, raw in enumerate(doc["levels"], 1))
    default = doc.get("default")
    if default is not None and default not in LEVELS:
        raise LevelsError(f"{path}: default must be one of {', '.join(LEVELS)}")
    columns = doc.get("csv") or {}
    if not isinstance(columns, dict) or not set(columns) <= set(CSV_COLUMNS):
        raise LevelsError(f"{path}: csv names columns for {', '.join(CSV_COLUMNS)}")
    return LevelMap(rules, default, {str(k): str(v) for k, v in columns.items()})


Current = dict[str, tuple[str, str | None]]
"""Lower-cased person id → (level, team) the ledger holds now."""


@dataclass
class Plan:
    registrations: list[dict[str, Any]] = field(default_factory=list)
    """``person.registered`` data of each person whose level or team changed, or is new."""
    previous: dict[str, str] = field(default_factory=dict)
    """Person id → the level the ledger held, for those that had one."""
    unchanged: int = 0
    unmapped: list[str] = field(default_factory=list)
    more_unmapped: int = 0


def plan(directory: Directory, levels: LevelMap, current: Current | None) -> Plan:
    """What to register. ``current`` None registers everyone (nothing to compare with). A
    team the directory leaves empty is no change: another source may know it."""
    found = Plan()
    for person in directory.people:
        level = levels.level_of(person)
        if level is None:
            if len(found.unmapped) < MAX_UNMAPPED:
                found.unmapped.append(person.id)
            else:
                found.more_unmapped += 1
            continue
        held = (current or {}).get(person.id.lower())
        if held is not None and held[0] == level and person.team in (None, held[1]):
            found.unchanged += 1
            continue
        data: dict[str, Any] = {"id": person.id, "level": level}
        if person.name:
            data["name"] = person.name
        if person.team:
            data["team"] = person.team
        found.registrations.append({"person": data})
        if held is not None:
            found.previous[person.id] = held[0]
    return found


def event_id(data: dict[str, Any], time: str) -> str:
    """The same registration at the same time has the same id: a retried import is one."""
    content = json.dumps({"data": data, "time": time}, sort_keys=True, separators=(",", ":"))
    return f"{data['person']['id']}@{hashlib.sha256(content.encode()).hexdigest()[:32]}"
