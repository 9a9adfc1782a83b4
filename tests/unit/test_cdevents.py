"""CDEvents v0.5.1: every conformance file accepted bare and wrapped, validated against the
official JSON Schemas, and the types CONTRACT §1 names projected like ours."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from provenance_ledger.ledger.cdevents_projection import repo_name
from provenance_ledger.ledger.projection import Accepted, project
from provenance_ledger.schemas import cdevents
from provenance_ledger.schemas.codec import (
    STRUCTURED,
    DecodedEvent,
    DecodeError,
    KafkaRecord,
    decode_record,
)
from provenance_ledger.schemas.codec import validate_event as validate

PROJECTED = {
    "service_deployed": "deployments",
    "service_upgraded": "deployments",
    "service_rolledback": "rollbacks",
    "incident_detected": "incidents",
    "incident_reported": "incidents",
    "incident_resolved": "incident_resolutions",
    "artifact_packaged": "artifacts",
}


def conformance(cdevents_dir: Path) -> list[Path]:
    files = sorted((cdevents_dir / "conformance").glob("*.json"))
    assert len(files) == 45
    return files


def load(cdevents_dir: Path, name: str) -> dict:
    return json.loads((cdevents_dir / "conformance" / f"{name}.json").read_text())


def accepted(obj: object) -> DecodedEvent:
    result = validate(obj)
    assert isinstance(result, DecodedEvent), result
    return result


def refused(obj: object) -> DecodeError:
    result = validate(obj)
    assert isinstance(result, DecodeError), result
    return result


def test_every_type_of_the_official_schemas_gets_a_validator(cdevents_dir: Path) -> None:
    assert len(cdevents.validators(cdevents_dir / "schemas")) == 45


def test_every_conformance_file_is_accepted_bare_and_wrapped(cdevents_dir: Path) -> None:
    for path in conformance(cdevents_dir):
        bare = json.loads(path.read_text())
        wrapped = cdevents.wrap(copy.deepcopy(bare))
        for obj in (bare, wrapped):
            for headers in ((("content-type", STRUCTURED.encode()),), ()):
                rec = KafkaRecord("t", 0, 0, None, json.dumps(obj).encode(), headers)
                result = decode_record(rec)
                assert isinstance(result, DecodedEvent), (path.name, result)
                assert result.fact is None
                assert result.event.type == bare["context"]["type"]
                assert result.event.data == bare


def test_wrapped_and_bare_hash_alike(cdevents_dir: Path) -> None:
    bare = load(cdevents_dir, "incident_detected")
    assert accepted(bare).canonical == accepted(cdevents.wrap(bare)).canonical


def test_unknown_extra_fields_are_kept_not_refused(cdevents_dir: Path) -> None:
    bare = load(cdevents_dir, "service_deployed")
    bare["subject"]["content"]["canary"] = True
    bare["context"]["x-team"] = "checkout"
    result = accepted(bare)
    assert result.event.data["subject"]["content"]["canary"] is True


def test_a_missing_required_field_is_refused(cdevents_dir: Path) -> None:
    bare = load(cdevents_dir, "service_deployed")
    del bare["subject"]["content"]["artifactId"]
    error = refused(bare)
    assert error.code == "invalid_cdevent"
    assert "artifactId" in error.detail


def test_a_wrong_type_is_refused(cdevents_dir: Path) -> None:
    bare = load(cdevents_dir, "incident_detected")
    bare["subject"]["content"]["environment"] = "prod1"
    error = refused(bare)
    assert error.code == "invalid_cdevent"
    assert "data.subject.content.environment" in error.detail


def test_without_the_schemas_setting_only_the_structure_is_checked(
    cdevents_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cdevents, "schemas_folder", None)
    bare = load(cdevents_dir, "incident_detected")
    bare["subject"]["content"]["environment"] = "prod1"
    assert accepted(bare).event.type == bare["context"]["type"]
    del bare["context"]["source"]
    assert refused(bare).detail == "data.context.source: required, a string"


def test_the_cloudevent_type_must_match_the_context(cdevents_dir: Path) -> None:
    wrapped = cdevents.wrap(load(cdevents_dir, "service_deployed"))
    wrapped["type"] = "dev.cdevents.service.removed.0.3.0"
    assert refused(wrapped).code == "invalid_cdevent"


def test_a_bare_cdevent_without_context_fields_is_refused(cdevents_dir: Path) -> None:
    bare = load(cdevents_dir, "service_deployed")
    del bare["context"]["timestamp"]
    error = refused(bare)
    assert error.code == "invalid_cdevent"
    assert error.detail == "data.context.timestamp: required, a string"


def test_an_unknown_cdevents_version_is_stored_unprojected(cdevents_dir: Path) -> None:
    bare = load(cdevents_dir, "service_deployed")
    bare["context"]["type"] = "dev.cdevents.service.deployed.0.9.0"
    del bare["subject"]["content"]["environment"]
    result = accepted(bare)
    assert project([Accepted(0, result)]) == {}


def test_each_conformance_file_projects_where_the_contract_says(cdevents_dir: Path) -> None:
    for path in conformance(cdevents_dir):
        rows = project([Accepted(0, accepted(json.loads(path.read_text())))])
        expected = PROJECTED.get(path.stem)
        assert list(rows) == ([expected] if expected else []), path.name


def test_a_cdevents_chain_leads_from_the_incident_to_the_change(cdevents_dir: Path) -> None:
    artifact = "pkg:oci/checkout@sha256%3A0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8d"
    packaged = load(cdevents_dir, "artifact_packaged")
    packaged["context"]["id"] = "pkg-1"
    packaged["subject"]["id"] = artifact
    packaged["subject"]["content"]["change"] = {
        "id": "4312",
        "source": "https://github.com/acme/shop.git",
    }
    deployed = load(cdevents_dir, "service_deployed")
    deployed["context"]["id"] = "dep-1"
    deployed["subject"]["id"] = "checkout"
    deployed["subject"]["content"] = {"environment": {"id": "prod"}, "artifactId": artifact}
    detected = load(cdevents_dir, "incident_detected")
    detected["context"]["id"] = "inc-1"
    detected["subject"]["content"]["service"]["id"] = "checkout"
    detected["subject"]["content"]["environment"]["id"] = "prod"
    events = [accepted(obj) for obj in (packaged, deployed, detected)]
    rows = project([Accepted(seq, event) for seq, event in enumerate(events)])
    (incident,) = rows["incidents"]
    (deployment,) = rows["deployments"]
    (built,) = rows["artifacts"]
    assert incident["incident"] == "incident-123" and incident["services"] == ["checkout"]
    assert (deployment["service"], deployment["environment"]) == ("checkout", "prod")
    assert deployment["artifact"] == deployment["version"] == artifact == built["artifact"]
    assert (built["repo"], built["change_ref"]) == ("acme/shop", "4312")


@pytest.mark.parametrize(
    ("source", "repo"),
    [
        ("https://github.com/acme/shop.git", "acme/shop"),
        ("my-git.example/an-org/a-repo", "an-org/a-repo"),
        ("acme/shop", "acme/shop"),
        ("git@github.com:acme/shop.git", "acme/shop"),
        ("INC-7", "INC-7"),
        (None, None),
    ],
)
def test_repo_names_from_change_sources(source: str | None, repo: str | None) -> None:
    assert repo_name(source) == repo
