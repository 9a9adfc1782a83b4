"""CloudEvents Kafka binary mode with Avro data (CONTRACT §2): the Avro side only. Which records
are Avro, their ``ce_*`` headers and the validation of what is read are :mod:`schemas.codec`'s.

The value is Avro *single-object encoding*: ``C3 01``, the 8-byte little-endian CRC-64-AVRO
fingerprint of the writer schema's Parsing Canonical Form, then the schemaless Avro body. The
CloudEvents attributes travel as ``ce_*`` headers.

Writer schemas are every ``.avsc`` under ``schemas/avro/`` (the current ones) and
``schemas/avro/released/<type>/<n>.avsc`` (every revision ever released), found by fingerprint.
The body is read with its own writer schema, not resolved against the current one: schema
resolution would drop fields a newer writer added, and the contract keeps unknown fields. The
current pydantic model then validates the data, filling defaults for fields an older writer
lacked. Fields a schema revision does not name travel in each record's ``_extra`` field (the
text of a JSON object) and are merged back on decode, so JSON and Avro carry the same event.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint as avro_fingerprint
from fastavro.schema import parse_schema, to_parsing_canonical_form

from provenance_ledger.schemas import jsonsafe
from provenance_ledger.schemas.decoded import DecodedEvent, DecodeError, is_whole

AVRO = "application/avro"
MAGIC = b"\xc3\x01"
HEADER_BYTES = len(MAGIC) + 8
EXTRA = "_extra"
AVRO_DIR = Path(__file__).resolve().parent / "avro"


@dataclass(frozen=True)
class WriterSchema:
    event_type: str
    fingerprint: bytes
    parsed: dict[str, Any]
    path: Path


def fingerprint_of(schema: dict[str, Any]) -> bytes:
    """CRC-64-AVRO of the schema's Parsing Canonical Form, little-endian (the Avro spec's)."""
    canonical = to_parsing_canonical_form(parse_schema(schema, named_schemas={}))
    return bytes.fromhex(avro_fingerprint(canonical, "CRC-64-AVRO"))


def load_schema(path: Path) -> WriterSchema:
    return writer_schema(json.loads(path.read_text(encoding="utf-8")), path)


def writer_schema(raw: dict[str, Any], path: Path) -> WriterSchema:
    event_type = raw.get("cloudevents_type")
    if not isinstance(event_type, str):
        raise ValueError(f"{path}: an event schema names its CloudEvents type in cloudevents_type")
    parsed = parse_schema(raw, named_schemas={})
    if not isinstance(parsed, dict):
        raise ValueError(f"{path}: an event schema is an Avro record")
    return WriterSchema(event_type, fingerprint_of(raw), parsed, path)


class Registry:
    """Writer schemas by fingerprint; the current schema of each type writes."""

    def __init__(self, current: list[WriterSchema], released: list[WriterSchema]) -> None:
        self.current = {schema.event_type: schema for schema in current}
        self.by_fingerprint: dict[bytes, WriterSchema] = {}
        for schema in [*released, *current]:
            known = self.by_fingerprint.get(schema.fingerprint)
            if known is not None and known.event_type != schema.event_type:
                raise ValueError(f"{schema.path} and {known.path} share a fingerprint")
            self.by_fingerprint[schema.fingerprint] = schema

    @classmethod
    def from_dir(cls, folder: Path) -> Registry:
        current = [load_schema(path) for path in sorted(folder.glob("*.avsc"))]
        released = [load_schema(path) for path in sorted(folder.glob("released/*/*.avsc"))]
        return cls(current, released)


@cache
def default_registry() -> Registry:
    return Registry.from_dir(AVRO_DIR)


def _to_avro(schema: Any, value: Any, named: dict[str, Any]) -> Any:
    """Data (JSON-shaped) → the datum of ``schema``; unknown fields go to ``_extra``."""
    if isinstance(schema, str):
        return _to_avro(named[schema], value, named) if schema in named else value
    if isinstance(schema, list):
        if value is None:
            return None
        branch = next(option for option in schema if option != "null")
        return _to_avro(branch, value, named)
    kind = schema["type"]
    if kind == "record":
        names = {field["name"] for field in schema["fields"]}
        datum = {
            field["name"]: _to_avro(field["type"], value.get(field["name"]), named)
            for field in schema["fields"]
            if field["name"] != EXTRA
        }
        # Nulls left out, as canonical bytes leave them: a key only a null holds may be text
        # no encoding takes (a lone surrogate escaped in JSON).
        extra = _without_nulls(
            {key: item for key, item in value.items() if key not in names or key == EXTRA}
        )
        if EXTRA in names:
            datum[EXTRA] = _json_text(extra) if extra else None
        return datum
    if kind == "array":
        return [_to_avro(schema["items"], item, named) for item in value]
    return value


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _without_nulls(value: Any) -> Any:
    """``value`` without the null members of its objects, at every depth. Not
    ``decoded._normal``: the encoder writes numbers as it is given them, and decoding judges
    them."""
    if type(value) is dict:
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if type(value) is list:
        return [_without_nulls(item) for item in value]
    return value


def _from_avro(datum: Any) -> Any:
    """The Avro datum → JSON-shaped data: absent optionals dropped, ``_extra`` merged back."""
    # Only records (dicts) and arrays (lists) nest; strings, the common leaf, skip the call.
    if type(datum) is dict:
        out = {
            key: item if type(item) is str else _from_avro(item)
            for key, item in datum.items()
            if item is not None
        }
        extra = out.pop(EXTRA, None)
        if extra is not None:
            unknown = jsonsafe.loads(extra, EXTRA)
            if type(unknown) is not dict:
                raise ValueError(f"{EXTRA} must hold a JSON object")
            out = {**unknown, **out}
        return out
    if type(datum) is list:
        return [item if type(item) is str else _from_avro(item) for item in datum]
    return datum


class _NotPlain(Exception):
    """The datum holds what the canonical walk would change or must look at (see
    :func:`_plain_from_avro`)."""


def _plain_from_avro(datum: Any, depth: int) -> Any:
    """:func:`_from_avro` of a *plain* datum, at ``depth`` (the event is 1): records and
    arrays nested at most :data:`jsonsafe.MAX_DEPTH` deep, no ``_extra`` (its JSON may hold
    anything), and only strings, integers (Avro longs: 64 bits), booleans and whole floats
    as leaves, no null in an array. The walk of ``schemas.decoded.normal_body`` would leave
    the result as it is, whole floats written as integers as it writes them, so it need not
    run. Raises _NotPlain for any other datum."""
    if depth > jsonsafe.MAX_DEPTH:
        raise _NotPlain
    deeper = depth + 1
    if type(datum) is dict:
        if datum.get(EXTRA) is not None:
            raise _NotPlain
        return {
            key: item if type(item) is str else _plain_item(item, deeper)
            for key, item in datum.items()
            if item is not None
        }
    return [item if type(item) is str else _plain_item(item, deeper) for item in datum]


def _plain_item(item: Any, depth: int) -> Any:
    kind = type(item)
    if kind is dict or kind is list:
        return _plain_from_avro(item, depth)
    if kind is int or kind is bool:
        return item
    # A deployment's fleet_percent (an Avro double, 100.0 when whole) kept every deployment
    # off this path; other floats are spelled otherwise by msgspec than by the walk.
    if kind is float and is_whole(item):
        return int(item)
    raise _NotPlain


def _json_shaped(datum: Any) -> tuple[Any, bool]:
    """The datum JSON-shaped (:func:`_from_avro`), and whether it is plain."""
    try:
        # The data sits one level below the event's envelope.
        return _plain_from_avro(datum, 2), True
    except _NotPlain:
        return _from_avro(datum), False


def encode_with(writer: WriterSchema, data: dict[str, Any]) -> bytes:
    named = writer.parsed.get("__named_schemas", {})
    body = io.BytesIO()
    body.write(MAGIC + writer.fingerprint)
    fastavro.schemaless_writer(body, writer.parsed, _to_avro(writer.parsed, data, named))
    return body.getvalue()


def binary_message(
    decoded: DecodedEvent, registry: Registry | None = None
) -> tuple[list[tuple[str, bytes]], bytes]:
    """CloudEvents Kafka binary mode: attributes as ``ce_*`` headers, data as Avro.

    Types without an Avro schema (CDEvents) keep binary mode with JSON data.
    """
    event = decoded.event
    attributes = event.model_dump(mode="json", exclude_none=True, exclude={"data"})
    attributes.pop("datacontenttype", None)
    headers = [(f"ce_{name}", _header_text(value).encode()) for name, value in attributes.items()]
    writer = (registry or default_registry()).current.get(event.type)
    if writer is None:
        value = json.dumps(event.data).encode()
        return [*headers, ("content-type", b"application/json")], value
    return [*headers, ("content-type", AVRO.encode())], encode_with(writer, event.data or {})


def _header_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def read_data(
    value: bytes, event_type: str, registry: Registry | None = None
) -> tuple[Any | DecodeError, bool]:
    """The data of an Avro single-object value, JSON-shaped (not yet validated), read with the
    writer schema its fingerprint names, which must be one for ``event_type`` (the ce_type);
    and whether it is plain (:func:`_plain_from_avro`)."""
    if len(value) < HEADER_BYTES:
        if MAGIC.startswith(value[:2]):
            return DecodeError(
                "truncated_avro", f"{len(value)} bytes; the header alone is 10"
            ), False
        return _no_marker(), False
    if value[:2] != MAGIC:
        return _no_marker(), False
    found = value[2:HEADER_BYTES]
    writer = (registry or default_registry()).by_fingerprint.get(found)
    if writer is None:
        return DecodeError(
            "unknown_fingerprint",
            f"no writer schema has fingerprint {found.hex()} "
            f"({int.from_bytes(found, 'little', signed=True)}); the ledger's schemas/avro/ "
            "must include the emitter's schema revision",
        ), False
    if writer.event_type != event_type:
        return DecodeError(
            "type_mismatch",
            f"ce_type is {event_type!r} but the writer schema is for {writer.event_type!r}",
        ), False
    return _read_body(value, writer)


def _no_marker() -> DecodeError:
    return DecodeError("malformed_avro", "not Avro single-object encoding (no C3 01 marker)")


def _read_body(value: bytes, writer: WriterSchema) -> tuple[Any | DecodeError, bool]:
    body = io.BytesIO(value)
    body.seek(HEADER_BYTES)
    try:
        data, plain = _json_shaped(fastavro.schemaless_reader(body, writer.parsed, None))
    except EOFError:
        return DecodeError(
            "truncated_avro", f"the Avro body ends early ({len(value)} bytes)"
        ), False
    except jsonsafe.JsonProblem as exc:
        return DecodeError(exc.code, exc.detail), False
    except Exception as exc:
        # fastavro reads arbitrary bytes here; whatever it raises, the body does not decode.
        return DecodeError(
            "malformed_avro", f"the Avro body does not decode: {type(exc).__name__}: {exc}"
        ), False
    if body.tell() != len(value):
        return DecodeError(
            "malformed_avro", f"{len(value) - body.tell()} bytes left after the Avro body"
        ), False
    return data, plain
