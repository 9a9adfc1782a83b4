"""service.registered and config.changed (CONTRACT §5): what is accepted, and the reason a
bad one becomes a dead letter with."""

from __future__ import annotations

import copy
import json

import pytest

from provenance_ledger.ledger.projection import Accepted, project
from provenance_ledger.schemas import avro
from provenance_ledger.schemas.codec import (
    BINARY_REQUIRED,
    DecodedEvent,
    DecodeError,
    decode_record,
    validate_event,
)
from provenance_ledger.schemas.events import ConfigChanged, ServiceRegistered
from tests.support.examples import decoded, example, record

REGISTERED = "dev.provledger.service.registered.v1"
CHANGED = "dev.provledger.config.changed.v1"


def refused(obj: dict) -> DecodeError:
    result = validate_event(obj)
    assert isinstance(result, DecodeError), result
    return result


def test_a_registration_needs_only_its_service() -> None:
    fact = decoded({**example(REGISTERED), "data": {"service": "search"}}).fact
    assert isinstance(fact, ServiceRegistered)
    assert (fact.depends_on, fact.repos, fact.tier, fact.owner) == ([], [], None, None)


@pytest.mark.parametrize(
    ("data", "code", "where"),
    [
        ({"tier": 0}, "invalid_field", "data.tier"),
        ({"tier": 5}, "invalid_field", "data.tier"),
        ({"tier": "1"}, "wrong_type", "data.tier"),
        ({"repos": ["shop"]}, "invalid_field", "data.repos.0"),
        ({"depends_on": [""]}, "invalid_field", "data.depends_on.0"),
        ({"depends_on": "payments"}, "wrong_type", "data.depends_on"),
    ],
)
def test_bad_registrations_are_refused_with_the_field(data: dict, code: str, where: str) -> None:
    error = refused(example(REGISTERED, **data))
    assert error.code == code
    assert error.detail.startswith(f"{where}:"), error.detail


def test_a_registration_without_service_is_a_missing_field() -> None:
    obj = example(REGISTERED)
    del obj["data"]["service"]
    assert refused(obj).code == "missing_field"


def test_a_config_change_keeps_any_json_as_from_and_to() -> None:
    values = {"from": {"rollout": 10, "segments": ["beta"]}, "to": [1, "two", None, False]}
    fact = decoded(example(CHANGED, **values)).fact
    assert isinstance(fact, ConfigChanged)
    assert fact.from_value == values["from"]
    assert fact.to_value == values["to"]


def test_from_and_to_survive_avro_and_hash_as_in_json() -> None:
    original = decoded(example(CHANGED, **{"from": {"a": [1, 2.5]}, "to": False}))
    back = decode_record(record(*avro.binary_message(original)))
    assert isinstance(back, DecodedEvent), back
    assert back.fact.from_value == {"a": [1, 2.5]} and back.fact.to_value is False
    assert back.canonical == original.canonical


@pytest.mark.parametrize("where", ["extra", "from"])
def test_a_key_only_a_null_holds_is_dropped_whatever_its_text(where: str) -> None:
    """JSON may escape a lone surrogate, which no encoding takes. Under a null, canonical
    bytes drop the key, so the event is accepted, and its projection must not read it back
    from the model (it did, and raised UnicodeEncodeError: the event's rows became a dead
    letter)."""
    values = {"from": {"rollout": 10}, "to": {"rollout": 2.0}}
    data = {**example(CHANGED)["data"], **values, "extra": {"kept": 1}}
    data[where] = {**data[where], "\ud800": None}
    headers = [("ce_" + name, str(example(CHANGED)[name]).encode()) for name in BINARY_REQUIRED]
    value = json.dumps(data).encode()
    assert b"\\ud800" in value
    event = decode_record(record([*headers, ("content-type", b"application/json")], value))
    assert isinstance(event, DecodedEvent), event
    assert b"ud800" not in event.canonical
    (row,) = project([Accepted(1, event)])["config_changes"]
    assert (row["from_value"], row["to_value"]) == ('{"rollout":10}', '{"rollout":2}')


@pytest.mark.parametrize(
    ("change", "code", "where"),
    [
        ({"target": {"region": "eu-west-1"}}, "invalid_field", "data.target"),
        ({"target": {"service": "", "resource": "db"}}, "invalid_field", "data.target"),
        ({"fleet_percent": 100.5}, "invalid_field", "data.fleet_percent"),
        ({"fleet_percent": -1}, "invalid_field", "data.fleet_percent"),
        ({"fleet_percent": "50"}, "wrong_type", "data.fleet_percent"),
        ({"actor": {"id": "x", "kind": "robot"}}, "invalid_field", "data.actor.kind"),
        ({"commit": "abc"}, "invalid_field", "data.commit"),
        ({"kind": ""}, "invalid_field", "data.kind"),
        ({"ai": [{"model": "m"}]}, "missing_field", "data.ai.0.tool"),
    ],
)
def test_bad_config_changes_are_refused_with_the_field(change: dict, code: str, where: str) -> None:
    error = refused(example(CHANGED, **change))
    assert error.code == code, error
    assert error.detail.startswith(f"{where}:"), error.detail


def test_a_target_with_only_an_environment_is_enough() -> None:
    result = validate_event(example(CHANGED, target={"environment": "prod"}))
    assert isinstance(result, DecodedEvent), result


@pytest.mark.parametrize("values", [{"from": "hunter2"}, {"to": {"v": 3}}, {"to": False}])
@pytest.mark.parametrize("kind", ["secret", "Secret"])
def test_a_secret_change_with_values_is_refused(values: dict, kind: str) -> None:
    obj = example(CHANGED, kind=kind)
    for name in ("from", "to"):
        obj["data"].pop(name)
    obj["data"].update(values)
    error = refused(obj)
    assert error.code == "invalid_field"
    assert "secret" in error.detail and "from and to" in error.detail


def test_a_secret_change_without_values_is_accepted() -> None:
    obj = copy.deepcopy(example(CHANGED, kind="secret", key="payments/stripe-key"))
    for name in ("from", "to"):
        obj["data"].pop(name)
    obj["data"]["change_ref"] = "version 7"
    assert isinstance(validate_event(obj), DecodedEvent)
