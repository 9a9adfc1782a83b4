"""The evolution rules of the event contract, as a check of one schema against its predecessor.

Within a type's version (``...v1``) a new schema revision may only:
- add a field whose type is a union starting with ``"null"`` and whose default is null
  (at the top level or inside a nested record);
- append symbols to an enum;
- change documentation.
Anything else (removing or renaming a field, changing a type, a new required field, removing or
reordering enum symbols, renaming a record) is a breaking change: it needs a new type
(``...v2``) with its own schema. See schemas/README.md.
"""

from __future__ import annotations

from typing import Any

from fastavro.schema import SchemaParseException, expand_schema


def compatibility_problems(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why ``new`` may not follow ``old`` as a revision of the same type; empty if it may."""
    problems: list[str] = []
    if old.get("cloudevents_type") != new.get("cloudevents_type"):
        problems.append(
            f"cloudevents_type changed from {old.get('cloudevents_type')!r} "
            f"to {new.get('cloudevents_type')!r}"
        )
    try:
        expanded = expand_schema(old), expand_schema(new)
    except SchemaParseException as exc:
        return [*problems, f"not a valid Avro schema: {exc}"]
    _compare(*expanded, "", problems)
    return problems


def _compare(old: Any, new: Any, where: str, problems: list[str]) -> None:
    label = where or "the record"
    if isinstance(old, list) or isinstance(new, list):
        if not (isinstance(old, list) and isinstance(new, list)) or len(old) != len(new):
            problems.append(f"{label}: type changed from {_show(old)} to {_show(new)}")
            return
        for index, (before, after) in enumerate(zip(old, new, strict=True)):
            _compare(before, after, f"{where}[{index}]", problems)
        return
    if isinstance(old, str) or isinstance(new, str):
        if old != new:
            problems.append(f"{label}: type changed from {_show(old)} to {_show(new)}")
        return
    if old.get("type") != new.get("type"):
        problems.append(f"{label}: type changed from {_show(old)} to {_show(new)}")
        return
    kind = old["type"]
    if kind == "record":
        _compare_records(old, new, where, problems)
    elif kind == "array":
        _compare(old["items"], new["items"], f"{where}[]", problems)
    elif kind == "map":
        _compare(old["values"], new["values"], f"{where}{{}}", problems)
    elif kind == "enum":
        symbols = old["symbols"]
        if new["symbols"][: len(symbols)] != symbols:
            problems.append(f"{label}: enum symbols {symbols} may only be appended to")
    elif kind == "fixed" and old.get("size") != new.get("size"):
        problems.append(f"{label}: fixed size changed")
    elif old.get("logicalType") != new.get("logicalType"):
        problems.append(f"{label}: logical type changed")


def _compare_records(old: dict, new: dict, where: str, problems: list[str]) -> None:
    if old["name"] != new["name"]:
        problems.append(f"{where or 'the record'}: record renamed {old['name']} → {new['name']}")
    before = {field["name"]: field for field in old["fields"]}
    after = {field["name"]: field for field in new["fields"]}
    prefix = f"{where}." if where else ""
    for name, field in before.items():
        if name not in after:
            problems.append(f"{prefix}{name}: removed (or renamed); fields are never removed")
            continue
        _compare(field["type"], after[name]["type"], f"{prefix}{name}", problems)
    for name, field in after.items():
        if name in before:
            continue
        optional = isinstance(field["type"], list) and field["type"][:1] == ["null"]
        if not optional or "default" not in field or field["default"] is not None:
            problems.append(
                f'{prefix}{name}: a new field must be optional: type ["null", ...], default null'
            )


def _show(schema: Any) -> str:
    if isinstance(schema, dict):
        return str(schema.get("type"))
    if isinstance(schema, list):
        return "[" + ", ".join(_show(item) for item in schema) + "]"
    return str(schema)
