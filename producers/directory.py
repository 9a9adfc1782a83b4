"""People as a directory lists them: a CSV export, SCIM 2.0 ``Users`` JSON, Backstage ``User``
entities. Pure: text in, :class:`Listed` people and warnings out.

Every format is hostile input: a row or entity that cannot be read is a warning naming where
it is, and the import goes on; text fields are capped; a file holds at most
:data:`MAX_PEOPLE` people.

- CSV (RFC 4180, with a header row): the columns are found by name, case-insensitively
  (:data:`CSV_COLUMNS`); the levels file may name others (``csv: {id: Work Email}``).
- SCIM 2.0 (RFC 7643 ``User``, RFC 7644 ``ListResponse``): the id is the primary email (else
  the first, else ``userName`` when it is one), the title ``title``, the team the enterprise
  extension's ``department``; users with ``active: false`` are left out.
- Backstage ``kind: User``: the id is ``spec.profile.email``, the name its ``displayName``,
  the team the first group of ``spec.memberOf``, the title and grade the annotations
  ``provledger.dev/title`` and ``provledger.dev/grade``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import yaml

from provenance_ledger.producers.ai_lines import text
from provenance_ledger.schemas import jsonsafe

MAX_PEOPLE = 200_000
MAX_FIELD = 256
MAX_WARNINGS = 100
"""Warnings kept (the rest are counted)."""
CSV_COLUMNS = {
    "id": ("email", "mail", "work email", "id", "user", "username"),
    "name": ("name", "display name", "full name"),
    "title": ("title", "job title", "position"),
    "grade": ("grade", "job level", "level", "band"),
    "team": ("team", "department", "group"),
}
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
TITLE_ANNOTATION = "provledger.dev/title"
GRADE_ANNOTATION = "provledger.dev/grade"


@dataclass(frozen=True)
class Listed:
    id: str
    name: str | None = None
    title: str | None = None
    grade: str | None = None
    team: str | None = None


@dataclass
class Directory:
    people: list[Listed] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    more_warnings: int = 0
    seen: set[str] = field(default_factory=set)
    full: bool = False

    def warn(self, message: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)
        else:
            self.more_warnings += 1

    def add(self, person: Listed, where: str) -> None:
        key = person.id.lower()
        if key in self.seen:
            self.warn(f"{where}: {person.id} is listed again; the first entry stands")
        elif len(self.people) >= MAX_PEOPLE:
            if not self.full:
                self.warn(f"{where}: more than {MAX_PEOPLE:,} people; the rest are left out")
            self.full = True
        else:
            self.seen.add(key)
            self.people.append(person)


class DirectoryError(ValueError):
    """A file that is not a directory export of the format asked for."""


def _field(value: Any) -> str | None:
    return text(value, MAX_FIELD)


def read_csv(content: str, columns: dict[str, str] | None = None) -> Directory:
    found = Directory()
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise DirectoryError(f"no header row ({exc or 'the file is empty'})") from exc
    where = _columns(header, {k: v.lower() for k, v in (columns or {}).items()})
    if "id" not in where:
        raise DirectoryError(f"no id column: name one of {', '.join(CSV_COLUMNS['id'])}")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return found
        except csv.Error as exc:  # a field over the csv module's limit, a NUL byte
            found.warn(f"line {reader.line_num}: {exc}")
            continue
        values = {key: _field(row[index]) if index < len(row) else None
                  for key, index in where.items()}  # fmt: skip
        person_id = values.pop("id")
        if person_id is None:
            if any(row):
                found.warn(f"line {reader.line_num}: no id")
            continue
        found.add(Listed(person_id, **values), f"line {reader.line_num}")


def _columns(header: list[str], named: dict[str, str]) -> dict[str, int]:
    """Field → column index: a column the levels file names, else the first known name."""
    where = {}
    for key, candidates in CSV_COLUMNS.items():
        for name in [named[key]] if key in named else candidates:
            if name in header:
                where[key] = header.index(name)
                break
    return where


def read_scim(content: str) -> Directory:
    try:
        document = jsonsafe.loads(content, "the SCIM document")
    except jsonsafe.JsonProblem as exc:
        raise DirectoryError(exc.detail) from exc
    if isinstance(document, dict) and isinstance(document.get("Resources"), list):
        users = document["Resources"]
    elif isinstance(document, dict):
        users = [document]
    elif isinstance(document, list):
        users = document
    else:
        raise DirectoryError("not a SCIM User, a list of them or a ListResponse")
    found = Directory()
    for number, user in enumerate(users, start=1):
        where = f"user {number}"
        if not isinstance(user, dict):
            found.warn(f"{where}: not an object")
        elif user.get("active") is not False:
            _scim_user(user, where, found)
    return found


def _scim_user(user: dict[str, Any], where: str, found: Directory) -> None:
    listed = user.get("emails")
    emails = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
    addresses = [_field(e.get("value")) for e in emails if e.get("primary") is True]
    addresses += [_field(e.get("value")) for e in emails]
    user_name = _field(user.get("userName"))
    person_id = next((address for address in addresses if address), None)
    person_id = person_id or (user_name if user_name and "@" in user_name else None)
    if person_id is None:
        found.warn(f"{where}: no email")
        return
    names, extension = _mapping(user, "name"), _mapping(user, ENTERPRISE)
    name = _field(user.get("displayName")) or _field(names.get("formatted"))
    found.add(Listed(person_id, name, _field(user.get("title")), None,
                     _field(extension.get("department"))), where)  # fmt: skip


def read_backstage(content: str) -> Directory:
    try:
        documents = list(yaml.safe_load_all(content))
    except yaml.YAMLError as exc:
        raise DirectoryError(f"not valid YAML or JSON: {getattr(exc, 'problem', exc)}") from exc
    found = Directory()
    for number, document in enumerate(documents, start=1):
        if isinstance(document, dict) and isinstance(document.get("items"), list):
            document = document["items"]
        for index, entity in enumerate(document if isinstance(document, list) else [document]):
            where = f"document {number}" + (f" item {index + 1}" if index else "")
            if isinstance(entity, dict) and str(entity.get("kind", "")).lower() == "user":
                _backstage_user(entity, where, found)
    return found


def _mapping(value: Any, key: str) -> dict[str, Any]:
    inner = value.get(key) if isinstance(value, dict) else None
    return inner if isinstance(inner, dict) else {}


def _backstage_user(entity: dict[str, Any], where: str, found: Directory) -> None:
    metadata, spec = _mapping(entity, "metadata"), _mapping(entity, "spec")
    profile, annotations = _mapping(spec, "profile"), _mapping(metadata, "annotations")
    label = _field(metadata.get("name")) or where
    person_id = _field(profile.get("email"))
    if person_id is None:
        found.warn(f"{where}: user {label} has no spec.profile.email")
        return
    groups = spec.get("memberOf")
    refs = [group for group in groups if isinstance(group, str)] if isinstance(groups, list) else []
    team = next((_group_name(ref) for ref in refs if _field(ref)), None)
    found.add(Listed(person_id, _field(profile.get("displayName")),
                     _field(annotations.get(TITLE_ANNOTATION)),
                     _field(annotations.get(GRADE_ANNOTATION)), team), where)  # fmt: skip


def _group_name(ref: str) -> str | None:
    """``group:default/team-b`` or ``team-b`` → ``team-b``."""
    return _field(ref.split(":", 1)[-1].rsplit("/", 1)[-1])
