"""Backstage catalog files → ``service.registered`` data. Pure: text in, registrations out.

A file holds YAML documents (``catalog-info.yaml``), or a JSON/YAML list of entities, or the
catalog API's ``{"items": [...]}``. Components (other than libraries) and Resources become
registrations: ``metadata.name`` is the service; ``spec.dependsOn`` entity references
(``component:payments``, ``resource:default/orders-db``) and the providers of the APIs it
``consumesApis`` are its dependencies; ``spec.owner`` its owner; the annotations
``github.com/project-slug``/``gitlab.com/project-slug`` its repos; the annotation
``provledger.dev/tier`` (or the label ``tier``) its tier; ``spec.system`` travels as the extra
field ``system``. Outside the ``default`` namespace a name is written ``namespace/name``
(a reference without a namespace is in its entity's, as in Backstage).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from provenance_ledger.schemas.errors import UsageProblem

MAX_FILE_BYTES = 4 * 1024 * 1024
REGISTERED_KINDS = ("component", "resource")
REPO_ANNOTATIONS = ("github.com/project-slug", "gitlab.com/project-slug")
TIER_ANNOTATION = "provledger.dev/tier"
TIER = re.compile(r"^(?:tier[-_ ]?|t)?([1-4])$", re.IGNORECASE)


class CatalogError(ValueError, UsageProblem):
    """A catalog file that cannot be read as Backstage entities."""


@dataclass(frozen=True)
class Entity:
    kind: str
    name: str
    namespace: str
    body: dict[str, Any]
    path: str
    origin: str  # the path and the document, for messages


@dataclass(frozen=True)
class Registration:
    data: dict[str, Any]
    path: str


@dataclass
class Catalog:
    entities: list[Entity] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def entity_name(ref: str, default_namespace: str | None = None) -> str:
    """``component:default/payments`` or ``payments`` → ``payments``; another namespace is
    kept: ``resource:billing/db`` → ``billing/db``. A reference without a namespace is in
    ``default_namespace`` (Backstage: the namespace of the entity that makes it)."""
    rest = ref.split(":", 1)[1] if ":" in ref else ref
    namespace, _, name = rest.rpartition("/")
    namespace = namespace or default_namespace or "default"
    return name if namespace == "default" else f"{namespace}/{name}"


def _documents(text: str, origin: str) -> list[Any]:
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(f"{origin}{line}: not valid YAML: {problem}") from exc


def parse(text: str, path: str, catalog: Catalog) -> None:
    """Add the entities of the file at ``path``, whose text is ``text``, to ``catalog``."""
    for number, document in enumerate(_documents(text, path), start=1):
        if document is None:
            continue
        if isinstance(document, dict) and isinstance(document.get("items"), list):
            document = document["items"]
        items = document if isinstance(document, list) else [document]
        for item in items:
            catalog.entities.append(_entity(item, path, f"{path} document {number}", catalog))


def _entity(item: Any, path: str, origin: str, catalog: Catalog) -> Entity:
    if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
        raise CatalogError(f"{origin}: not a Backstage entity (an object with a kind)")
    metadata = item.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise CatalogError(f"{origin}: a {item['kind']} without metadata.name")
    namespace = metadata.get("namespace")
    namespace = namespace if isinstance(namespace, str) and namespace else "default"
    qualified = entity_name(name, namespace)
    spec = item.get("spec")
    if spec is not None and not isinstance(spec, dict):
        catalog.warnings.append(f"{origin}: {qualified}: spec is not an object; ignored")
        item = {**item, "spec": {}}
    return Entity(item["kind"].lower(), qualified, namespace, item, path, origin)


def _spec(entity: Entity) -> dict[str, Any]:
    return entity.body.get("spec") or {}


def _refs(entity: Entity, key: str, catalog: Catalog) -> list[str]:
    value = _spec(entity).get(key) or []
    if not isinstance(value, list) or not all(isinstance(ref, str) for ref in value):
        catalog.warnings.append(f"{entity.origin}: {entity.name}: spec.{key} is not a list")
        return []
    return [entity_name(ref, entity.namespace) for ref in value]


def _metadata(entity: Entity, key: str) -> dict[str, Any]:
    value = entity.body["metadata"].get(key)
    return value if isinstance(value, dict) else {}


def _tier(entity: Entity, catalog: Catalog) -> int | None:
    raw = _metadata(entity, "annotations").get(
        TIER_ANNOTATION, _metadata(entity, "labels").get("tier")
    )
    if raw is None:
        return None
    found = TIER.match(str(raw).strip())
    if found is None:
        catalog.warnings.append(f"{entity.origin}: {entity.name}: tier {raw!r} is not 1 to 4")
        return None
    return int(found.group(1))


def _repos(entity: Entity) -> list[str]:
    annotations = _metadata(entity, "annotations")
    slugs = (annotations.get(name) for name in REPO_ANNOTATIONS)
    return [slug.strip("/") for slug in slugs if isinstance(slug, str) and "/" in slug]


def _providers(catalog: Catalog) -> dict[str, list[str]]:
    """API name → the components that provide it."""
    found: dict[str, list[str]] = {}
    for entity in catalog.entities:
        if entity.kind == "component":
            for api in _refs(entity, "providesApis", catalog):
                found.setdefault(api, []).append(entity.name)
    return found


def _unique(names: Iterable[str], besides: str) -> list[str]:
    return [name for name in dict.fromkeys(names) if name != besides]


def registrations(catalog: Catalog) -> list[Registration]:
    """The ``service.registered`` data of each registered entity, in file order; a name
    defined twice is an error (which one stands would depend on the order of the files)."""
    providers = _providers(catalog)
    seen: dict[str, str] = {}
    out: list[Registration] = []
    for entity in catalog.entities:
        if entity.kind not in REGISTERED_KINDS or _spec(entity).get("type") == "library":
            continue
        if entity.name in seen:
            raise CatalogError(
                f"{entity.origin}: {entity.name} is already defined in {seen[entity.name]}"
            )
        seen[entity.name] = entity.origin
        consumed = _refs(entity, "consumesApis", catalog)
        called = [provider for api in consumed for provider in providers.get(api, [])]
        data: dict[str, Any] = {
            "service": entity.name,
            "depends_on": _unique([*_refs(entity, "dependsOn", catalog), *called], entity.name),
            "repos": _repos(entity),
        }
        owner, system = _spec(entity).get("owner"), _spec(entity).get("system")
        tier = _tier(entity, catalog)
        if isinstance(owner, str) and owner:
            data["owner"] = entity_name(owner, entity.namespace)
        if tier is not None:
            data["tier"] = tier
        if isinstance(system, str) and system:
            data["system"] = entity_name(system, entity.namespace)
        out.append(Registration(data, entity.path))
    return out


def event_id(data: dict[str, Any], time: str) -> str:
    """The same registration at the same time always gets the same id, so importing an
    unchanged catalog again is a retry the ledger stores nothing for."""
    content = json.dumps({"data": data, "time": time}, sort_keys=True, separators=(",", ":"))
    return f"{data['service']}@{hashlib.sha256(content.encode()).hexdigest()[:32]}"
