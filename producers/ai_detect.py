"""Which AI tools helped write a commit, read from what the tools themselves write.

The rules are data (``ai_rules.yaml`` beside this file, extended by ``PROVLEDGER_AI_RULES``).
:func:`detect` is pure: commit text in, ``ai`` entries of CONTRACT §1 out.
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml

RULES_FILE = Path(__file__).with_name("ai_rules.yaml")
PARTS = ("coauthor", "assisted_by", "author", "committer", "subject", "message")
_GROUP = re.compile(r"\(\?P<\w+>")
_TRAILER = re.compile(r"^[ \t]*(co-authored-by|assisted-by)[ \t]*:[ \t]*(.+?)[ \t]*$", re.I | re.M)


@dataclass(frozen=True)
class Rule:
    part: str
    pattern: re.Pattern[str]
    tool: str
    model: str | None = None
    mode: str | None = None


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
    def screen(self) -> re.Pattern[str]:
        """Every rule's pattern in one alternation: most commits match none, one search says so."""
        patterns = [_GROUP.sub("(?:", rule.pattern.pattern) for rule in self.rules]
        return re.compile("|".join(f"(?:{p})" for p in patterns) or "(?!)", re.I | re.M)


class RulesError(ValueError):
    pass


def _parse(doc: dict[str, Any], where: str) -> RuleSet:
    rules = []
    for index, raw in enumerate(doc.get("rules") or []):
        if raw.get("part") not in PARTS or not raw.get("pattern") or not raw.get("tool"):
            raise RulesError(
                f"{where}: rule {index} needs part ({'|'.join(PARTS)}), pattern and tool: {raw}"
            )
        try:
            pattern = re.compile(raw["pattern"], re.I | re.M)
        except re.error as exc:
            raise RulesError(f"{where}: rule {index} pattern: {exc}") from exc
        rules.append(Rule(raw["part"], pattern, raw["tool"], raw.get("model"), raw.get("mode")))
    commands = tuple(
        Destructive(item["action"], re.compile(item["pattern"], re.I))
        for item in doc.get("destructive_commands") or []
    )
    aliases = {str(k).lower(): str(v) for k, v in (doc.get("aliases") or {}).items()}
    return RuleSet(tuple(rules), aliases, commands)


@lru_cache(maxsize=4)
def load_rules(extra: str | None = None) -> RuleSet:
    """The shipped rules, with the rules of ``extra`` (a YAML path) tried first."""
    base = _parse(yaml.safe_load(RULES_FILE.read_text()), str(RULES_FILE))
    if not extra:
        return base
    try:
        doc = yaml.safe_load(Path(extra).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"cannot read AI rules {extra}: {exc}") from exc
    more = _parse(doc, extra)
    return RuleSet(
        more.rules + base.rules,
        {**base.aliases, **more.aliases},
        more.destructive + base.destructive,
    )


def default_rules() -> RuleSet:
    return load_rules(os.environ.get("PROVLEDGER_AI_RULES") or None)


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
        trailers: dict[str, list[str]] = {"co-authored-by": [], "assisted-by": []}
        for match in _TRAILER.finditer(self.message):
            trailers[match.group(1).lower()].append(match.group(2))
        return {
            "coauthor": trailers["co-authored-by"],
            "assisted_by": trailers["assisted-by"],
            "author": [self.author],
            "committer": [self.committer] if self.committer else [],
            "subject": [self.message.split("\n", 1)[0]],
            "message": [self.message],
        }


def _fill(template: str | None, groups: dict[str, str | None], strict: bool) -> str | None:
    """The template with the match's groups; None when ``strict`` and a used group is empty."""
    if template is None:
        return None
    fields = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    if strict and fields and not any(groups.get(name) for name in fields):
        return None
    return template.format(**{name: groups.get(name) or "" for name in fields})


def detect(commit: CommitText, rules: RuleSet | None = None) -> list[dict[str, Any]]:
    """``ai`` entries ({tool, model?, mode?}), one per tool and model, in rule order."""
    ruleset = rules or default_rules()
    parts = commit.parts()
    # Each value on its own line, so anchored patterns screen as they match below.
    if not ruleset.screen.search("\n".join(v for values in parts.values() for v in values)):
        return []
    found: dict[tuple[str, str | None], dict[str, Any]] = {}
    for rule in ruleset.rules:
        for value in parts[rule.part]:
            match = rule.pattern.search(value)
            if match is None:
                continue
            groups = match.groupdict()
            tool = normalise_tool(_fill(rule.tool, groups, False) or "", ruleset.aliases)
            if not tool:
                continue
            model = normalise_model(_fill(rule.model, groups, True))
            entry = {"tool": tool}
            if model:
                entry["model"] = model
            if rule.mode:
                entry["mode"] = rule.mode
            found.setdefault((tool, model), entry)
    # A tool seen with a model makes its model-less sighting redundant.
    with_model = {tool for tool, model in found if model}
    return [entry for (tool, model), entry in found.items() if model or tool not in with_model]


def destructive_action(command: str, rules: RuleSet | None = None) -> str | None:
    """The action name when ``command`` matches a destructive pattern."""
    for item in (rules or default_rules()).destructive:
        if item.pattern.search(command):
            return item.action
    return None
