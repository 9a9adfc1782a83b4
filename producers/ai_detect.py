"""Which AI tools helped write a commit, read from what the tools themselves write.

The rules are data (``ai_rules.yaml`` beside this file, extended by ``PROVLEDGER_AI_RULES``).
:func:`detect` is pure: commit text in, ``ai`` entries of CONTRACT §1 out. :func:`detect_sources`
keeps apart what trailers state (``Co-authored-by``, ``Assisted-by``, ``Generated-by``) from what
authors and message text suggest, for :mod:`producers.attribution` to rank them.

Commit messages and agent commands are hostile input: trailers are split with string
operations (no regex), every value a rule sees is capped in length, and each rule only ever
searches the part it is written for, so a pattern anchored to a trailer never runs over a
megabyte of message. Python's regexes backtrack: the shipped patterns are written so that
no two quantifiers can match the same characters.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml

from provenance_ledger.schemas.errors import UsageProblem

RULES_FILE = Path(__file__).with_name("ai_rules.yaml")
PARTS = ("coauthor", "assisted_by", "generated_by", "author", "committer", "subject", "message")
TRAILER_PARTS = frozenset({"coauthor", "assisted_by", "generated_by"})
"""Parts that state assistance; the others (author, committer, subject, message) suggest it."""
_GROUP = re.compile(r"\(\?P<\w+>")
TRAILERS = {
    "co-authored-by": "coauthor",
    "assisted-by": "assisted_by",
    "generated-by": "generated_by",
}
PERSONS = ("coauthor",)
"""Where a rule's ``person`` may point: the agent worked for the first human co-author."""
MAX_VALUE = 512
"""Longest trailer, author, committer or subject a rule sees (real ones are under 200)."""
MAX_MESSAGE = 32_768
"""A longer message is seen as its first and last halves of this: tools write at the end."""
MAX_TRAILERS = 100
"""Trailers of one kind a rule sees (real commits have a handful)."""
MAX_COMMAND = 16_384
"""Longest prefix of an agent's shell command searched for destructive actions."""
MAX_SEGMENT = 1024
"""Longest simple command (between ``| ; & newline``) a destructive pattern searches."""
_SEPARATORS = re.compile(r"[|;&\n]")


@dataclass(frozen=True)
class Rule:
    part: str
    pattern: re.Pattern[str]
    tool: str
    model: str | None = None
    mode: str | None = None
    person: str | None = None


@dataclass(frozen=True)
class Destructive:
    action: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    aliases: dict[str, str] = field(default_factory=dict)
    destructive: tuple[Destructive, ...] = ()

    @cached_property
    def screens(self) -> dict[str, re.Pattern[str]]:
        """Per part, its rules' patterns in one alternation: most commits match none, and one
        search per part says so. A part's screen only ever runs over that part."""
        screens = {}
        for part in PARTS:
            patterns = [_GROUP.sub("(?:", r.pattern.pattern) for r in self.rules if r.part == part]
            if patterns:
                screens[part] = re.compile("|".join(f"(?:{p})" for p in patterns), re.I | re.M)
        return screens


class RulesError(ValueError, UsageProblem):
    pass


def _parse(doc: dict[str, Any], where: str) -> RuleSet:
    rules = []
    for index, raw in enumerate(doc.get("rules") or []):
        if raw.get("part") not in PARTS or not raw.get("pattern") or not raw.get("tool"):
            raise RulesError(
                f"{where}: rule {index} needs part ({'|'.join(PARTS)}), pattern and tool: {raw}"
            )
        if raw.get("person") not in (None, *PERSONS):
            raise RulesError(f"{where}: rule {index}: person can only be {' or '.join(PERSONS)}")
        try:
            pattern = re.compile(raw["pattern"], re.I | re.M)
        except re.error as exc:
            raise RulesError(f"{where}: rule {index} pattern: {exc}") from exc
        rules.append(
            Rule(raw["part"], pattern, raw["tool"], raw.get("model"), raw.get("mode"),
                 raw.get("person"))
        )  # fmt: skip
    commands = tuple(
        Destructive(item["action"], re.compile(item["pattern"], re.I))
        for item in doc.get("destructive_commands") or []
    )
    aliases = {str(k).lower(): str(v) for k, v in (doc.get("aliases") or {}).items()}
    return RuleSet(tuple(rules), aliases, commands)


@lru_cache(maxsize=4)
def load_rules(extra: str | Path | None = None) -> RuleSet:
    """The shipped rules, with the rules of ``extra`` (a YAML path) tried first."""
    base = _parse(yaml.safe_load(RULES_FILE.read_text()), str(RULES_FILE))
    if not extra:
        return base
    try:
        doc = yaml.safe_load(Path(extra).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"cannot read AI rules {extra}: {exc}") from exc
    more = _parse(doc, str(extra))
    return RuleSet(
        more.rules + base.rules,
        {**base.aliases, **more.aliases},
        more.destructive + base.destructive,
    )


def default_rules() -> RuleSet:
    """The shipped rules alone; a command adds the user's (PROVLEDGER_AI_RULES) with
    :func:`load_rules`."""
    return load_rules(None)


def normalise_model(model: str | None) -> str | None:
    if not model:
        return None
    cleaned = re.sub(r"\s+", "-", model.strip().lower()).strip("-.,;")
    return cleaned or None


def normalise_tool(tool: str, aliases: dict[str, str]) -> str:
    key = re.sub(r"\s+", " ", tool.strip().lower()).removesuffix("[bot]")
    return aliases.get(key, key.replace(" ", "-"))


@dataclass(frozen=True)
class CommitText:
    author: str
    message: str
    committer: str = ""

    def parts(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {"coauthor": [], "assisted_by": [], "generated_by": []}
        for line in self.message.split("\n"):
            if ":" not in line:
                continue
            key, _, value = line.partition(":")
            part = TRAILERS.get(key.strip().lower())
            if part and value.strip() and len(found[part]) < MAX_TRAILERS:
                found[part].append(value.strip()[:MAX_VALUE])
        return {
            **found,
            "author": [self.author[:MAX_VALUE]],
            "committer": [self.committer[:MAX_VALUE]] if self.committer else [],
            "subject": [self.message.split("\n", 1)[0][:MAX_VALUE]],
            "message": [_ends(self.message, MAX_MESSAGE)],
        }


def _ends(text: str, limit: int) -> str:
    """``text``, or its first and last ``limit // 2`` characters when it is longer."""
    if len(text) <= limit:
        return text
    return text[: limit // 2] + "\n" + text[-(limit // 2) :]


def _fill(template: str | None, groups: dict[str, str | None], strict: bool) -> str | None:
    """The template with the match's groups; None when ``strict`` and a used group is empty."""
    if template is None:
        return None
    fields = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    if strict and fields and not any(groups.get(name) for name in fields):
        return None
    return template.format(**{name: groups.get(name) or "" for name in fields})


def _matches(commit: CommitText, ruleset: RuleSet) -> Iterator[tuple[Rule, dict[str, Any], str]]:
    """(rule, its ``ai`` entry, the value it matched) per matching value, in rule order."""
    parts = commit.parts()
    # Each value on its own line, so anchored patterns screen as they match below.
    hits = {
        part
        for part, screen in ruleset.screens.items()
        if parts[part] and screen.search("\n".join(parts[part]))
    }
    for rule in ruleset.rules:
        if rule.part not in hits:
            continue
        for value in parts[rule.part]:
            match = rule.pattern.search(value)
            if match is None:
                continue
            groups = match.groupdict()
            tool = normalise_tool(_fill(rule.tool, groups, False) or "", ruleset.aliases)
            if not tool:
                continue
            entry = {"tool": tool}
            model = normalise_model(_fill(rule.model, groups, True))
            if model:
                entry["model"] = model
            if rule.mode:
                entry["mode"] = rule.mode
            yield rule, entry, value


def _distinct(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per tool and model, first seen first; a tool seen with a model makes its
    model-less sighting redundant."""
    found: dict[tuple[str, str | None], dict[str, Any]] = {}
    for entry in entries:
        found.setdefault((entry["tool"], entry.get("model")), entry)
    with_model = {tool for tool, model in found if model}
    return [entry for (tool, model), entry in found.items() if model or tool not in with_model]


def detect(commit: CommitText, rules: RuleSet | None = None) -> list[dict[str, Any]]:
    """``ai`` entries ({tool, model?, mode?}), one per tool and model, in rule order."""
    return _distinct(entry for _, entry, _ in _matches(commit, rules or default_rules()))


@dataclass(frozen=True)
class Detection:
    stated: list[dict[str, Any]]
    """What trailers state: Co-authored-by, Assisted-by, Generated-by."""
    suggested: list[dict[str, Any]]
    """What the author, committer, subject or message text suggest."""
    requester: str | None = None
    """``Name <email>`` of the person an agent author worked for (its first human co-author)."""


def detect_sources(commit: CommitText, rules: RuleSet | None = None) -> Detection:
    """:func:`detect`'s entries split by how sure they are, and who an agent author served."""
    ruleset = rules or default_rules()
    matches = list(_matches(commit, ruleset))
    stated = [entry for rule, entry, _ in matches if rule.part in TRAILER_PARTS]
    suggested = [entry for rule, entry, _ in matches if rule.part not in TRAILER_PARTS]
    requester = None
    if any(rule.person == "coauthor" for rule, _, _ in matches):
        tools = {value for rule, _, value in matches if rule.part == "coauthor"}
        humans = (value for value in commit.parts()["coauthor"] if value not in tools)
        requester = next((value for value in humans if split_ident(value)[1]), None)
    return Detection(_distinct(stated), _distinct(suggested), requester)


def split_ident(value: str) -> tuple[str, str]:
    """(name, email) of ``Name <email>``, split as git splits an identity."""
    name, _, rest = value.partition("<")
    return name.strip(), rest.partition(">")[0].strip()


def destructive_action(command: str, rules: RuleSet | None = None) -> str | None:
    """The action name when a simple command of ``command`` matches a destructive pattern.

    Patterns search one simple command at a time, capped (``MAX_SEGMENT``, ``MAX_COMMAND``),
    each distinct one once: a pattern like ``terraform ... destroy`` retries at every
    ``terraform``, so its cost grows with the square of what it searches."""
    segments = dict.fromkeys(
        text.strip()[:MAX_SEGMENT] for text in _SEPARATORS.split(command[:MAX_COMMAND])
    )
    segments.pop("", None)
    for item in (rules or default_rules()).destructive:
        if any(item.pattern.search(segment) for segment in segments):
            return item.action
    return None
