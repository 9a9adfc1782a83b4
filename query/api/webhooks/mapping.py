"""The webhook mapping file (``PROVLEDGER_WEBHOOK_MAPPING``, YAML): what a provider's names
mean in the ledger. For the incident providers, their services (by id or name) → a ledger
service and environment, and their severities → ``sev1``..``sev5``; for the forges, logins →
person ids, environment names → ledger environments, and repositories → the service a
deployment of them deploys. docs/webhooks.md shows a whole file.

The file is read when a webhook first needs it and again whenever it changes on disk, so an
edit needs no restart; one that is not valid answers 503 naming the problem until it is fixed.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from provenance_ledger.schemas.errors import UsageProblem

MAX_FILE_BYTES = 1024 * 1024
Severity = Literal["sev1", "sev2", "sev3", "sev4", "sev5"]
Name = Annotated[str, Field(min_length=1)]

# How providers commonly name severities, for the names the file does not map.
BUILT_IN_SEVERITIES: dict[str, str] = {
    **{f"{prefix}{n}": f"sev{n}" for prefix in ("", "p", "sev", "sev-", "s") for n in "12345"},
    "critical": "sev1",
    "major": "sev2",
    "high": "sev2",
    "error": "sev2",
    "minor": "sev3",
    "medium": "sev3",
    "warning": "sev3",
    "low": "sev4",
    "info": "sev5",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Target(_Strict):
    service: Name
    environment: Name | None = None


class IncidentProvider(_Strict):
    services: dict[str, Target] = {}
    """Provider service id or name → ledger service (and environment)."""
    severities: dict[str, Severity] = {}
    """Provider severity or priority name (any case) → ledger severity."""

    def target(self, *names: str | None) -> Target | None:
        """The first of ``names`` (id, then name) the file maps."""
        return next((self.services[n] for n in names if n and n in self.services), None)


class IncidentIo(IncidentProvider):
    service_fields: list[Name] = ["Affected services"]
    """The custom fields whose values name the incident's services."""


class Alertmanager(IncidentProvider):
    service_label: Name = "service"
    """The alert label that names the service."""


class Forge(_Strict):
    people: dict[str, Name] = {}
    """Login → the person id levels are registered under (default: the login, or for commit
    authors their email)."""
    environments: dict[str, Name] = {}
    """Environment name as the forge has it → the ledger's (default: unchanged)."""
    services: dict[str, Name] = {}
    """Repository (``org/name``) → the service its deployments deploy (default: its name)."""

    def person_id(self, login: str | None, fallback: str | None) -> str | None:
        return self.people.get(login, fallback) if login else fallback

    def environment(self, name: str | None) -> str | None:
        return self.environments.get(name, name) if name else None


class WebhookMapping(_Strict):
    default_severity: Severity = "sev3"
    """The severity of an incident whose severity is neither mapped nor a common name."""
    github: Forge = Forge()
    gitlab: Forge = Forge()
    pagerduty: IncidentProvider = IncidentProvider()
    incident_io: IncidentIo = Field(default_factory=IncidentIo, validation_alias="incident-io")
    alertmanager: Alertmanager = Alertmanager()

    def severity(self, provider: IncidentProvider, *names: str | None) -> str:
        """The first of ``names`` the file maps for ``provider`` (any case), else the first
        with a common meaning (``P1``, ``critical``, ``SEV2`` ...), else the default."""
        mapped: dict[str, str] = {_plain(key): value for key, value in provider.severities.items()}
        candidates = [_plain(n) for n in names if n]
        for table in (mapped, BUILT_IN_SEVERITIES):
            found = next((table[c] for c in candidates if c in table), None)
            if found is not None:
                return found
        return self.default_severity


def _plain(name: str) -> str:
    return re.sub(r"\s+", "", name.strip().lower())


class MappingError(ValueError, UsageProblem):
    """The mapping file cannot be read or is not valid; the message names the file."""


_LOCK = threading.Lock()
_CACHE: dict[Path, tuple[tuple[int, int], WebhookMapping]] = {}


def load_mapping(path: Path | None) -> WebhookMapping:
    """The mapping in ``path`` (an empty one for None), read again only when it changed."""
    if path is None:
        return WebhookMapping()
    try:
        stat = path.stat()
        if stat.st_size > MAX_FILE_BYTES:
            raise MappingError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
        stamp = (stat.st_mtime_ns, stat.st_size)
        with _LOCK:
            cached = _CACHE.get(path)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            mapping = WebhookMapping.model_validate(yaml.safe_load(path.read_text()) or {})
            _CACHE[path] = (stamp, mapping)
            return mapping
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise MappingError(f"the webhook mapping {path} is not usable: {exc}") from exc
