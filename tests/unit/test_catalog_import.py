"""Backstage catalog files → service.registered data (producers/catalog.py)."""

from __future__ import annotations

import json

import pytest

from provenance_ledger.producers import catalog
from provenance_ledger.producers.envelope import build_event
from provenance_ledger.schemas.events import ServiceRegistered

SHOP = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
  annotations:
    github.com/project-slug: acme/shop
    provledger.dev/tier: tier-1
spec:
  type: service
  owner: group:default/team-checkout
  system: system:shop
  dependsOn:
    - component:payments
    - resource:default/orders-db
    - component:default/payments
  consumesApis: [fraud-api]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: fraud
  namespace: risk
  labels: {tier: "2"}
spec: {type: service, owner: team-risk, providesApis: [fraud-api]}
---
kind: Component
metadata: {name: money-lib}
spec: {type: library, owner: team-payments}
---
kind: Resource
metadata: {name: orders-db}
spec: {type: database, owner: team-data, dependsOn: ["resource:rds-cluster"]}
---
kind: API
metadata: {name: fraud-api}
spec: {type: openapi, owner: team-risk}
---
"""


def registrations(*texts: str) -> dict[str, dict]:
    found = catalog.Catalog()
    for number, text in enumerate(texts):
        catalog.parse(text, f"file{number}.yaml", found)
    return {item.data["service"]: item.data for item in catalog.registrations(found)}


def test_components_and_resources_become_registrations() -> None:
    found = registrations(SHOP)
    assert set(found) == {"checkout", "risk/fraud", "orders-db"}  # not the library, not the API
    assert found["checkout"] == {
        "service": "checkout",
        "depends_on": ["payments", "orders-db"],
        "repos": ["acme/shop"],
        "owner": "team-checkout",
        "tier": 1,
        "system": "shop",
    }
    assert found["orders-db"]["depends_on"] == ["rds-cluster"]
    assert found["risk/fraud"]["tier"] == 2
    # Its API is risk/fraud-api: not the fraud-api (in default) that checkout consumes.
    assert found["risk/fraud"]["owner"] == "risk/team-risk"


def test_consumed_apis_lead_to_their_providers_in_other_files() -> None:
    provider = "kind: Component\nmetadata: {name: fraud}\nspec: {providesApis: [fraud-api]}\n"
    consumer = "kind: Component\nmetadata: {name: checkout}\nspec: {consumesApis: [fraud-api]}\n"
    assert registrations(consumer, provider)["checkout"]["depends_on"] == ["fraud"]


def test_the_catalog_api_answer_and_a_list_are_read_too() -> None:
    entity = {"kind": "Component", "metadata": {"name": "search"}, "spec": {"owner": "t"}}
    assert set(registrations(json.dumps({"items": [entity]}))) == {"search"}
    assert set(registrations(json.dumps([entity]))) == {"search"}


def test_every_registration_is_a_valid_event() -> None:
    for data in registrations(SHOP).values():
        decoded = build_event("service.registered", data, "catalog/backstage")
        assert isinstance(decoded.fact, ServiceRegistered)


def test_odd_values_are_warned_about_not_registered() -> None:
    found = catalog.Catalog()
    text = (
        "kind: Component\nmetadata: {name: a, annotations: {provledger.dev/tier: gold}}\n"
        "spec: {dependsOn: component:b}\n"
    )
    catalog.parse(text, "odd.yaml", found)
    (only,) = catalog.registrations(found)
    assert "tier" not in only.data and only.data["depends_on"] == []
    assert any("tier 'gold'" in warning for warning in found.warnings)
    assert any("spec.dependsOn is not a list" in warning for warning in found.warnings)


def test_metadata_of_the_wrong_shape_is_ignored() -> None:
    text = "kind: Component\nmetadata: {name: a, annotations: [x], labels: tier-1}\n"
    found = catalog.Catalog()
    catalog.parse(text, "odd.yaml", found)
    (only,) = catalog.registrations(found)
    assert only.data == {"service": "a", "depends_on": [], "repos": []}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: Component\nmetadata:\n  name: [open\n", "(line 4): not valid YAML"),
        ("- 1\n- 2\n", "not a Backstage entity"),
        ("kind: Component\nmetadata: {}\n", "without metadata.name"),
        ("!!python/object:os.system {}\n", "not valid YAML"),
    ],
)
def test_malformed_files_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(catalog.CatalogError, match=r"bad\.yaml") as caught:
        catalog.parse(text, "bad.yaml", catalog.Catalog())
    assert message in str(caught.value)


def test_a_service_defined_twice_is_refused() -> None:
    entity = "kind: Component\nmetadata: {name: checkout}\n"
    with pytest.raises(catalog.CatalogError, match=r"already defined in file0\.yaml"):
        registrations(entity, entity)


def test_the_event_id_follows_the_content_and_the_time() -> None:
    data = registrations(SHOP)["checkout"]
    same = catalog.event_id(dict(reversed(list(data.items()))), "2026-11-26T09:00:00+00:00")
    assert same == catalog.event_id(data, "2026-11-26T09:00:00+00:00")
    assert same.startswith("checkout@")
    assert catalog.event_id(data, "2026-11-26T09:00:01+00:00") != same
    assert catalog.event_id({**data, "tier": 2}, "2026-11-26T09:00:00+00:00") != same
