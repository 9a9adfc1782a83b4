"""Schema evolution: older and newer compatible writers decode into the current model, and
every revision is checked against the one released before it."""

from __future__ import annotations

import copy
import json
from itertools import pairwise
from pathlib import Path

import pytest

from provenance_ledger.schemas import avro
from provenance_ledger.schemas.codec import (
    DecodedEvent,
    DecodeError,
    KafkaRecord,
    decode_record,
)
from provenance_ledger.schemas.events import DATA_MODELS, ServiceDeployed
from provenance_ledger.schemas.evolution import compatibility_problems
from tests.support.examples import decoded, example, record

RELEASED = avro.AVRO_DIR / "released"
DEPLOYED = "dev.provledger.service.deployed.v1"


def raw_schema(path: Path) -> dict:
    return json.loads(path.read_text())


def revisions(event_type: str) -> list[Path]:
    """Released revisions of a type, oldest first."""
    return sorted((RELEASED / event_type).glob("*.avsc"), key=lambda path: int(path.stem))


def current(event_type: str) -> dict:
    return raw_schema(avro.AVRO_DIR / f"{event_type}.avsc")


@pytest.mark.parametrize("event_type", sorted(DATA_MODELS))
def test_each_revision_is_compatible_with_the_previous_one(event_type: str) -> None:
    chain = [raw_schema(path) for path in revisions(event_type)] + [current(event_type)]
    assert len(chain) >= 2, f"{event_type}: no released revision under {RELEASED}"
    for number, (before, after) in enumerate(pairwise(chain), start=1):
        assert compatibility_problems(before, after) == [], f"{event_type} after revision {number}"


@pytest.mark.parametrize("event_type", sorted(DATA_MODELS))
def test_the_current_schema_is_released(event_type: str) -> None:
    """Every schema an emitter may write with stays in released/, so the ledger keeps
    decoding it after the next revision."""
    released = {avro.fingerprint_of(raw_schema(path)) for path in revisions(event_type)}
    assert avro.fingerprint_of(current(event_type)) in released, (
        f"copy schemas/avro/{event_type}.avsc to {RELEASED / event_type}/<next>.avsc"
    )


@pytest.mark.parametrize("event_type", sorted(DATA_MODELS))
def test_every_released_revision_decodes_into_the_current_model(event_type: str) -> None:
    original = decoded(example(event_type))
    headers, _ = avro.binary_message(original)
    for path in revisions(event_type):
        value = avro.encode_with(avro.load_schema(path), original.event.data)
        back = decode_record(record(headers, value))
        assert isinstance(back, DecodedEvent), (path, back)
        assert back.fact == original.fact


def without_field(schema: dict, name: str) -> dict:
    older = copy.deepcopy(schema)
    older["fields"] = [field for field in older["fields"] if field["name"] != name]
    return older


def with_field(schema: dict, field: dict) -> dict:
    newer = copy.deepcopy(schema)
    newer["fields"].insert(len(newer["fields"]) - 1, field)
    return newer


CANARY = {"name": "canary", "type": ["null", "boolean"], "default": None, "doc": "Canary."}


def registry_with(*extra: dict) -> avro.Registry:
    base = avro.default_registry()
    writers = [avro.writer_schema(raw, Path(f"test-{n}.avsc")) for n, raw in enumerate(extra)]
    return avro.Registry(list(base.current.values()), writers)


def binary_record(writer: avro.WriterSchema, data: dict) -> KafkaRecord:
    headers, _ = avro.binary_message(decoded(example(DEPLOYED)))
    return record(headers, avro.encode_with(writer, data))


def test_an_older_writer_decodes_into_the_current_model() -> None:
    """A v1 emitter built before ``fleet_percent`` existed."""
    now = current(DEPLOYED)
    older = without_field(now, "fleet_percent")
    assert compatibility_problems(older, now) == []
    writer = avro.writer_schema(older, Path("older.avsc"))
    data = {"service": "checkout", "environment": "prod", "version": "1.2.3"}
    result = decode_record(binary_record(writer, data), registry=registry_with(older))
    assert isinstance(result, DecodedEvent), result
    assert isinstance(result.fact, ServiceDeployed)
    assert result.fact.fleet_percent is None
    assert result.fact.commits == []


def test_a_newer_writer_decodes_and_its_new_field_is_kept() -> None:
    """A v1 emitter one revision ahead of this ledger (but whose schema the ledger has)."""
    now = current(DEPLOYED)
    newer = with_field(now, CANARY)
    assert compatibility_problems(now, newer) == []
    writer = avro.writer_schema(newer, Path("newer.avsc"))
    data = {"service": "checkout", "environment": "prod", "version": "1.2.3", "canary": True}
    result = decode_record(binary_record(writer, data), registry=registry_with(newer))
    assert isinstance(result, DecodedEvent), result
    assert isinstance(result.fact, ServiceDeployed)
    assert result.fact.model_extra == {"canary": True}
    assert result.event.data["canary"] is True


def test_a_writer_the_ledger_does_not_know_is_a_dead_letter() -> None:
    writer = avro.writer_schema(with_field(current(DEPLOYED), CANARY), Path("newer.avsc"))
    data = {"service": "checkout", "environment": "prod", "version": "1.2.3"}
    result = decode_record(binary_record(writer, data))
    assert isinstance(result, DecodeError)
    assert result.code == "unknown_fingerprint"


def _retype(schema: dict, name: str, new_type: object) -> dict:
    changed = copy.deepcopy(schema)
    for field in changed["fields"]:
        if field["name"] == name:
            field["type"] = new_type
            if not isinstance(new_type, list):
                field.pop("default", None)
    return changed


def _rename(schema: dict, old: str, new: str) -> dict:
    changed = copy.deepcopy(schema)
    for field in changed["fields"]:
        if field["name"] == old:
            field["name"] = new
    return changed


def _nested_required(schema: dict) -> dict:
    changed = copy.deepcopy(schema)
    deployer = next(f for f in changed["fields"] if f["name"] == "deployer")
    deployer["type"][1]["fields"].insert(0, {"name": "team", "type": "string", "doc": "Team."})
    return changed


def _enum_reordered(schema: dict) -> dict:
    changed = copy.deepcopy(schema)
    deployer = next(f for f in changed["fields"] if f["name"] == "deployer")
    kind = next(f for f in deployer["type"][1]["fields"] if f["name"] == "kind")
    kind["type"][1]["symbols"] = list(reversed(kind["type"][1]["symbols"]))
    return changed


INCOMPATIBLE = {
    "field removed": (lambda s: without_field(s, "region"), "region: removed"),
    "field renamed": (lambda s: _rename(s, "region", "zone"), "region: removed"),
    "type changed": (lambda s: _retype(s, "fleet_percent", ["null", "long"]), "fleet_percent"),
    "optional made required": (lambda s: _retype(s, "region", "string"), "region"),
    "new required field": (
        lambda s: with_field(s, {"name": "team", "type": "string", "doc": "Team."}),
        "team: a new field must be optional",
    ),
    "new optional field without default": (
        lambda s: with_field(s, {"name": "team", "type": ["null", "string"], "doc": "Team."}),
        "team: a new field must be optional",
    ),
    "new required nested field": (_nested_required, "deployer"),
    "enum symbols reordered": (_enum_reordered, "enum symbols"),
    "record renamed": (lambda s: {**s, "name": "ServiceShipped"}, "record renamed"),
    "type renamed": (lambda s: {**s, "cloudevents_type": "dev.x.v1"}, "cloudevents_type"),
}


@pytest.mark.parametrize(("change", "expected"), INCOMPATIBLE.values(), ids=INCOMPATIBLE.keys())
def test_incompatible_changes_are_caught(change, expected: str) -> None:
    problems = compatibility_problems(current(DEPLOYED), change(current(DEPLOYED)))
    assert any(expected in problem for problem in problems), problems


def test_compatible_changes_pass() -> None:
    now = current(DEPLOYED)
    appended = copy.deepcopy(now)
    deployer = next(f for f in appended["fields"] if f["name"] == "deployer")
    kind = next(f for f in deployer["type"][1]["fields"] if f["name"] == "kind")
    kind["type"][1]["symbols"].append("robot")
    reworded = copy.deepcopy(now)
    reworded["fields"][0]["doc"] = "Another wording."
    for changed in (with_field(now, CANARY), appended, reworded):
        assert compatibility_problems(now, changed) == []
