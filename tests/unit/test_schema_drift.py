"""The pydantic models and the Avro schemas are one contract: every field, type and
required-ness must agree, in both directions and at every depth."""

from __future__ import annotations

import json
import types
import typing
from datetime import datetime
from pathlib import Path

import pytest
from fastavro.schema import expand_schema
from pydantic import BaseModel

from provenance_ledger.schemas.avro import AVRO_DIR, EXTRA
from provenance_ledger.schemas.events import DATA_MODELS

PRIMITIVES: dict[type, str] = {
    str: "string",
    int: "long",
    float: "double",
    bool: "boolean",
    datetime: "string",  # RFC 3339 text, as in JSON
}


def current_schema(event_type: str) -> dict:
    return json.loads((AVRO_DIR / f"{event_type}.avsc").read_text())


def _unwrap(tp: typing.Any) -> tuple[typing.Any, bool]:
    """(the type without Annotated/Optional, whether None is allowed)."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [arg for arg in args if arg is not type(None)]
        assert len(rest) == 1, f"only Optional[X] unions are mapped to Avro, not {tp}"
        inner, _ = _unwrap(rest[0])
        return inner, True
    return tp, False


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def assert_same_type(tp: typing.Any, avro: typing.Any, where: str) -> None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        assert isinstance(avro, dict) and avro["type"] == "record", f"{where}: not a record"
        assert_same_record(tp, avro, where)
    elif typing.get_origin(tp) is list:
        assert isinstance(avro, dict) and avro["type"] == "array", f"{where}: not an array"
        (item,) = typing.get_args(tp)
        inner, nullable = _unwrap(item)
        assert not nullable, f"{where}: list items are never null"
        assert_same_type(inner, avro["items"], f"{where}[]")
    elif typing.get_origin(tp) is typing.Literal:
        assert isinstance(avro, dict) and avro["type"] == "enum", f"{where}: not an enum"
        assert avro["symbols"] == list(typing.get_args(tp)), f"{where}: enum symbols differ"
    else:
        assert avro == PRIMITIVES[tp], f"{where}: model {tp.__name__}, Avro {avro}"


def assert_same_record(model: type[BaseModel], record: dict, where: str) -> None:
    assert _short(record["name"]) == model.__name__, f"{where}: record name"
    assert record.get("doc"), f"{where}: the record needs a doc"
    fields = [field for field in record["fields"] if field["name"] != EXTRA]
    extra = [field for field in record["fields"] if field["name"] == EXTRA]
    assert extra and extra[0]["type"] == ["null", "string"] and extra[0]["default"] is None, (
        f"{where}: every record carries {EXTRA} for unknown fields"
    )
    assert [field["name"] for field in fields] == list(model.model_fields), f"{where}: fields"
    for field in fields:
        name = field["name"]
        info = model.model_fields[name]
        assert field.get("doc"), f"{where}.{name}: every field needs a doc"
        tp, nullable = _unwrap(info.annotation)
        avro = field["type"]
        if info.is_required():
            assert not nullable, f"{where}.{name}: a required field is never null"
            assert not isinstance(avro, list), f"{where}.{name}: required in the model, not Avro"
            assert "default" not in field, f"{where}.{name}: a required field has no default"
        else:
            assert isinstance(avro, list) and avro[0] == "null" and len(avro) == 2, (
                f'{where}.{name}: optional in the model, so ["null", T] in Avro'
            )
            assert field.get("default", "absent") is None, f"{where}.{name}: default null"
            avro = avro[1]
        assert_same_type(tp, avro, f"{where}.{name}")


@pytest.mark.parametrize("event_type", sorted(DATA_MODELS))
def test_model_and_schema_agree(event_type: str) -> None:
    schema = current_schema(event_type)
    assert schema["cloudevents_type"] == event_type
    assert schema["namespace"] == "dev.provledger.v1"
    assert_same_record(DATA_MODELS[event_type], expand_schema(schema), event_type)


def test_one_schema_per_type_and_no_other() -> None:
    names = {path.name.removesuffix(".avsc") for path in Path(AVRO_DIR).glob("*.avsc")}
    assert names == set(DATA_MODELS)


def test_drift_is_caught() -> None:
    """The check itself fails when a model and its schema disagree."""
    schema = expand_schema(current_schema("dev.provledger.change.reviewed.v1"))
    model = DATA_MODELS["dev.provledger.change.reviewed.v1"]
    dropped = {**schema, "fields": [f for f in schema["fields"] if f["name"] != "change"]}
    with pytest.raises(AssertionError, match="fields"):
        assert_same_record(model, dropped, "x")
    loosened = {
        **schema,
        "fields": [
            {**f, "type": ["null", f["type"]], "default": None} if f["name"] == "repo" else f
            for f in schema["fields"]
        ],
    }
    with pytest.raises(AssertionError, match="required"):
        assert_same_record(model, loosened, "x")
    retyped = {
        **schema,
        "fields": [{**f, "type": "long"} if f["name"] == "commit" else f for f in schema["fields"]],
    }
    with pytest.raises(AssertionError, match="commit"):
        assert_same_record(model, retyped, "x")
