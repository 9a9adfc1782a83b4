"""Typed helpers, one per event type of CONTRACT §1, mixed into :class:`Emitter`.

Each builds the data (leaving out what is None), validates the event and queues it; the
emitter's context manager flushes. ``event_id``, ``time`` and ``source`` pass through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provenance_ledger.schemas.codec import DecodedEvent


class TypedHelpers:
    emit: Callable[..., DecodedEvent]
    """:meth:`Emitter.emit <provenance_ledger.producers.emitter.Emitter.emit>`."""

    def person_registered(self, person: dict[str, Any], **kw: Any) -> DecodedEvent:
        return self.emit("person.registered", {"person": person}, **kw)

    def change_authored(
        self, repo: str, commit: str, author: dict[str, Any], *, files: list[str] | None = None,
        lines_added: int | None = None, lines_deleted: int | None = None,
        message: str | None = None, ai: list[dict[str, Any]] | None = None, **kw: Any,
    ) -> DecodedEvent:  # fmt: skip
        data = {"repo": repo, "commit": commit, "author": author, "files": files,
                "lines_added": lines_added, "lines_deleted": lines_deleted,
                "message": message, "ai": ai}  # fmt: skip
        return self.emit("change.authored", data, **kw)

    def change_reviewed(
        self, repo: str, commit: str, reviewer: dict[str, Any], decision: str,
        *, change: str | None = None, **kw: Any,
    ) -> DecodedEvent:  # fmt: skip
        data = {"repo": repo, "commit": commit, "reviewer": reviewer, "decision": decision,
                "change": change}  # fmt: skip
        return self.emit("change.reviewed", data, **kw)

    def change_merged(
        self, repo: str, commit: str, *, commits: list[str] | None = None,
        change: str | None = None, target_branch: str | None = None,
        merged_by: dict[str, Any] | None = None, **kw: Any,
    ) -> DecodedEvent:  # fmt: skip
        data = {"repo": repo, "commit": commit, "commits": commits, "change": change,
                "target_branch": target_branch, "merged_by": merged_by}  # fmt: skip
        return self.emit("change.merged", data, **kw)

    def artifact_built(
        self, artifact: str, repo: str, commit: str, *, pipeline_run: str | None = None,
        **kw: Any,
    ) -> DecodedEvent:  # fmt: skip
        data = {"artifact": artifact, "repo": repo, "commit": commit,
                "pipeline_run": pipeline_run}  # fmt: skip
        return self.emit("artifact.built", data, **kw)

    def service_deployed(
        self, service: str, environment: str, version: str, *, commit: str | None = None,
        commits: list[str] | None = None, repo: str | None = None, region: str | None = None,
        artifact: str | None = None, deployer: dict[str, Any] | None = None,
        fleet_percent: float | None = None, **kw: Any,
    ) -> DecodedEvent:  # fmt: skip
        data = {"service": service, "environment": environment, "version": version,
                "commit": commit, "commits": commits, "repo": repo, "region": region,
                "artifact": artifact, "deployer": deployer,
                "fleet_percent": fleet_percent}  # fmt: skip
        return self.emit("service.deployed", data, **kw)

    def service_rolledback(
        self, service: str, environment: str, from_version: str, to_version: str,
        *, reason: str | None = None, **kw: Any,
    ) -> DecodedEvent:  # fmt: skip
        data = {"service": service, "environment": environment, "from_version": from_version,
                "to_version": to_version, "reason": reason}  # fmt: skip
        return self.emit("service.rolledback", data, **kw)

    def agent_action(
        self, agent: dict[str, Any], action: str, target: dict[str, Any], destructive: bool,
        *, command: str | None = None, authorized_by: dict[str, Any] | None = None,
        **kw: Any,
    ) -> DecodedEvent:  # fmt: skip
        data = {"agent": agent, "action": action, "target": target,
                "destructive": destructive, "command": command,
                "authorized_by": authorized_by}  # fmt: skip
        return self.emit("agent.action", data, **kw)

    def incident_opened(
        self, incident: str, severity: str, services: list[str], *,
        title: str | None = None, environment: str | None = None, **kw: Any,
    ) -> DecodedEvent:  # fmt: skip
        data = {"incident": incident, "severity": severity, "services": services,
                "title": title, "environment": environment}  # fmt: skip
        return self.emit("incident.opened", data, **kw)

    def incident_resolved(self, incident: str, **kw: Any) -> DecodedEvent:
        return self.emit("incident.resolved", {"incident": incident}, **kw)

    def incident_attributed(
        self, incident: str, verdict: str, by: dict[str, Any], **target: Any
    ) -> DecodedEvent:
        kw = {k: target.pop(k) for k in ("event_id", "time", "source") if k in target}
        return self.emit(
            "incident.attributed",
            {"incident": incident, "verdict": verdict, "by": by, **target},
            **kw,
        )
