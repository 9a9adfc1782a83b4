"""Typed, frozen models of the events in CONTRACT §1 and §5.

Each event is a frozen fact named in the past tense. Unknown extra fields are kept
(``extra="allow"``) because emitters may be newer than the ledger. Field types are strict
(``"5"`` is not a count, ``"true"`` not a bool): the same event must mean the same thing, and
hash the same, whether it came as JSON or as Avro. ``schemas/avro/*.avsc`` mirror these models;
tests/unit/test_schema_drift.py keeps the two in step.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, model_validator
from pydantic_core import PydanticCustomError

PREFIX = "dev.provledger."
SUFFIX = ".v1"

Level = Literal["junior", "mid", "senior", "principal"]


def _aware(value: datetime) -> datetime:
    """Times must carry an offset; stored in UTC so one instant has one spelling."""
    if value.tzinfo is None:
        raise ValueError("time must carry a UTC offset (RFC 3339)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-01:00 is year 10000 in UTC: pydantic would pass the error on.
        raise ValueError("time is out of range (years 1 to 9999) once in UTC") from None


# Times arrive as RFC 3339 strings, so they alone are parsed leniently inside strict models.
AwareTime = Annotated[datetime, Strict(False), AfterValidator(_aware)]
Sha = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{40}$")]
Repo = Annotated[str, Field(min_length=3, pattern=r"^[^/\s]+(/[^/\s]+)+$")]
NonEmpty = Annotated[str, Field(min_length=1)]


class Fact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", strict=True)


class Person(Fact):
    id: NonEmpty
    name: str | None = None


class RegisteredPerson(Person):
    level: Level
    team: str | None = None


class Deployer(Person):
    kind: Literal["human", "automation", "ai_agent"] | None = None


class AiAssistance(Fact):
    tool: NonEmpty
    model: str | None = None
    mode: Literal["completion", "chat", "agent"] | None = None
    lines: int | None = Field(default=None, ge=0)
    session: str | None = None


class PersonRegistered(Fact):
    person: RegisteredPerson


class ChangeAuthored(Fact):
    repo: Repo
    commit: Sha
    author: Person
    files: list[str] = []
    lines_added: int | None = Field(default=None, ge=0)
    lines_deleted: int | None = Field(default=None, ge=0)
    message: str | None = None
    ai: list[AiAssistance] = []


class ChangeReviewed(Fact):
    repo: Repo
    commit: Sha
    change: str | None = None
    reviewer: Person
    decision: Literal["approved", "changes_requested", "commented"]


class ChangeMerged(Fact):
    repo: Repo
    commit: Sha
    commits: list[Sha] = []
    change: str | None = None
    target_branch: str | None = None
    merged_by: Person | None = None


class ArtifactBuilt(Fact):
    artifact: NonEmpty
    repo: Repo
    commit: Sha
    pipeline_run: str | None = None


class ServiceDeployed(Fact):
    service: NonEmpty
    environment: NonEmpty
    region: str | None = None
    version: NonEmpty
    repo: Repo | None = None
    commit: Sha | None = None
    commits: list[Sha] = []
    artifact: str | None = None
    deployer: Deployer | None = None
    fleet_percent: float | None = Field(default=None, ge=0, le=100)


class ServiceRolledBack(Fact):
    service: NonEmpty
    environment: NonEmpty
    from_version: NonEmpty
    to_version: NonEmpty
    reason: str | None = None


class AgentRef(Fact):
    tool: NonEmpty
    model: str | None = None
    session: str | None = None


class ActionTarget(Fact):
    service: str | None = None
    environment: str | None = None
    resource: str | None = None


class AgentActed(Fact):
    agent: AgentRef
    action: NonEmpty
    target: ActionTarget
    destructive: bool
    command: str | None = None
    authorized_by: Person | None = None


class IncidentOpened(Fact):
    incident: NonEmpty
    title: str | None = None
    severity: Literal["sev1", "sev2", "sev3", "sev4", "sev5"]
    services: Annotated[list[NonEmpty], Field(min_length=1)]
    environment: str | None = None
    impact_started_at: AwareTime | None = None

    @model_validator(mode="before")
    @classmethod
    def _unmapped(cls, data: Any) -> Any:
        """An incident webhook whose services the mapping file does not name sends them as
        ``unmapped_services``: the dead letter says which, not just "no services"."""
        if isinstance(data, dict) and data.get("services") == []:
            unmapped = data.get("unmapped_services")
            if isinstance(unmapped, list) and unmapped:
                names = ", ".join(str(name)[:80] for name in unmapped[:5])
                more = f" and {len(unmapped) - 5} more" if len(unmapped) > 5 else ""
                raise PydanticCustomError(
                    "unmapped_services",
                    "no ledger service is mapped for the provider's services {names} (add them "
                    "to the webhook mapping file, PROVLEDGER_WEBHOOK_MAPPING)",
                    {"names": names + more},
                )
        return data


class IncidentResolved(Fact):
    incident: NonEmpty
    resolved_at: AwareTime | None = None


class IncidentAttributed(Fact):
    incident: NonEmpty
    verdict: Literal["confirmed", "rejected"]
    by: Person
    deployment: str | None = None
    action: str | None = None
    commit: Sha | None = None
    repo: Repo | None = None

    @model_validator(mode="after")
    def _one_target(self) -> IncidentAttributed:
        targets = [self.deployment is not None, self.action is not None, self.commit is not None]
        if sum(targets) != 1:
            raise ValueError("exactly one target: deployment, action, or commit + repo")
        if self.commit is not None and self.repo is None:
            raise ValueError("a commit target needs its repo")
        return self


class ServiceRegistered(Fact):
    """A service as a catalog describes it (CONTRACT §5). A later registration of the same
    service supersedes this one from its event's ``time`` on."""

    service: NonEmpty
    depends_on: list[NonEmpty] = []
    owner: str | None = None
    tier: int | None = Field(default=None, ge=1, le=4)
    repos: list[Repo] = []


class Actor(Deployer):
    """Who changed a configuration: a person, an automation or an AI agent."""


class ConfigTarget(Fact):
    service: str | None = None
    environment: str | None = None
    region: str | None = None
    resource: str | None = None

    @model_validator(mode="after")
    def _scoped(self) -> ConfigTarget:
        if not self.service and not self.environment:
            raise ValueError("a target names a service or an environment (or both)")
        return self


# A dead letter refused for this keeps no raw bytes (ledger/batch.py): they hold the values.
SECRET_VALUES_REFUSED = (
    "a secret's change never carries its values: leave out from and to "
    "(name the secret in key, its version in change_ref)"
)


class ConfigChanged(Fact):
    """A flag, configuration, infrastructure, schema or secret change (CONTRACT §5).

    ``from`` and ``to`` may be any JSON value, which neither a typed field nor Avro can state,
    so they are not fields here: they stay among the extra fields exactly as sent (and travel
    in Avro's ``_extra``); :attr:`from_value` and :attr:`to_value` read them.
    """

    kind: NonEmpty
    target: ConfigTarget
    key: str | None = None
    fleet_percent: float | None = Field(default=None, ge=0, le=100)
    actor: Actor | None = None
    repo: Repo | None = None
    commit: Sha | None = None
    ai: list[AiAssistance] = []
    change_ref: str | None = None

    @property
    def from_value(self) -> Any:
        return (self.model_extra or {}).get("from")

    @property
    def to_value(self) -> Any:
        return (self.model_extra or {}).get("to")

    @model_validator(mode="after")
    def _no_secret_values(self) -> ConfigChanged:
        # Refused rather than stripped: the ledger stores events as sent (their hash is in the
        # Merkle log), so a value dropped from the projection would still be kept.
        if self.kind.lower() == "secret" and (
            self.from_value is not None or self.to_value is not None
        ):
            raise ValueError(SECRET_VALUES_REFUSED)
        return self


_MODELS: dict[str, type[Fact]] = {
    "person.registered": PersonRegistered,
    "change.authored": ChangeAuthored,
    "change.reviewed": ChangeReviewed,
    "change.merged": ChangeMerged,
    "artifact.built": ArtifactBuilt,
    "service.deployed": ServiceDeployed,
    "service.rolledback": ServiceRolledBack,
    "agent.action": AgentActed,
    "incident.opened": IncidentOpened,
    "incident.resolved": IncidentResolved,
    "incident.attributed": IncidentAttributed,
    "service.registered": ServiceRegistered,
    "config.changed": ConfigChanged,
}
DATA_MODELS = {f"{PREFIX}{name}{SUFFIX}": model for name, model in _MODELS.items()}


def full_type(name: str) -> str:
    """``change.authored`` → ``dev.provledger.change.authored.v1``; full names pass through."""
    if name in DATA_MODELS or name.startswith("dev."):
        return name
    return f"{PREFIX}{name}{SUFFIX}"


def short_type(name: str) -> str:
    if name.startswith(PREFIX) and name.endswith(SUFFIX):
        return name[len(PREFIX) : -len(SUFFIX)]
    return name


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope; ``data`` stays raw so unknown fields are kept as sent."""

    # ser_json_inf_nan: NaN and Infinity stay numbers when dumped (pydantic's default writes
    # null, which the canonical form would drop), so that the canonical JSON refuses them.
    model_config = ConfigDict(frozen=True, extra="allow", ser_json_inf_nan="constants")

    specversion: Literal["1.0"]
    id: NonEmpty
    source: NonEmpty
    type: NonEmpty
    time: AwareTime
    subject: str | None = None
    dataschema: str | None = None
    datacontenttype: str | None = None
    data: dict[str, Any] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.id)

    @property
    def extensions(self) -> dict[str, Any]:
        return dict(self.model_extra or {})
