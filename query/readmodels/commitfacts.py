"""What the ledger knows about one commit: the one read model that suspects, ``/v1/commits``,
the deployments list and the policy gate share (query/readmodels/changes.py builds it)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from provenance_ledger.ledger.origin import trusted
from provenance_ledger.query.policy.definitions import CONTRACT_SENIORITY, Seniority, meets
from provenance_ledger.query.policy.levels import Levels


@dataclass(frozen=True)
class CommitFacts:
    """The first ``change.authored`` of (repo, commit), the AI assistance and the reviews of
    that very revision, and the seniority in force when it was read, which the judgments
    below apply.

    ``ai`` items: tool, model, mode, lines, session. ``reviews`` items, oldest first: reviewer,
    reviewer_name, reviewer_level (at review time), decision, change, reviewed_at, origin
    (how the review reached the ledger, ledger/origin.py).
    """

    repo: str | None
    commit: str
    author: str | None = None
    author_level: str | None = None  # at authoring time
    ai: tuple[dict[str, Any], ...] = ()
    reviews: tuple[dict[str, Any], ...] = ()
    known: bool = False  # a change.authored event names it
    author_name: str | None = None
    message: str | None = None
    lines_added: int | None = None
    lines_deleted: int | None = None
    files: tuple[str, ...] = ()
    seniority: Seniority = CONTRACT_SENIORITY
    authored_at: datetime | None = None
    origin: str | None = None  # of the change.authored event
    # The registrations the levels above were read from, to re-read them for a rule that
    # trusts only some origins (:meth:`trusting`).
    levels: Levels | None = field(default=None, compare=False, repr=False)

    def trusting(self, patterns: list[str]) -> tuple[CommitFacts, tuple[dict[str, Any], ...]]:
        """These facts as a rule that trusts only ``patterns`` of origins sees them: reviews
        from other origins dropped, and levels from trusted registrations only; plus the
        approvals by others it dropped."""
        kept, ignored = [], []
        for review in self.reviews:
            if trusted(review.get("origin"), patterns):
                kept.append(review)
            elif review["decision"] == "approved" and review["reviewer"] != self.author:
                ignored.append(review)
        levels = self.levels
        author_level = self.author_level
        if levels is not None:
            kept = [
                {**r, "reviewer_level": levels.at(r["reviewer"], r["reviewed_at"], patterns)}
                for r in kept
            ]
            if self.authored_at is not None:
                author_level = levels.at(self.author, self.authored_at, patterns)
        view = replace(self, reviews=tuple(kept), author_level=author_level)
        return view, tuple(ignored)

    @property
    def approvals_by_others(self) -> tuple[dict[str, Any], ...]:
        """Approvals of this revision by anyone but its author (whose own does not count).

        Only reviews of this very revision are here, so approvals of earlier revisions never
        count; an approval stands once given (as CONTRACT words the rule).
        """
        return tuple(
            r for r in self.reviews if r["decision"] == "approved" and r["reviewer"] != self.author
        )

    def approvers(self, at_least: str) -> set[str]:
        """Others who approved this revision while at level ``at_least`` or above."""
        return {
            r["reviewer"] for r in self.approvals_by_others if meets(r["reviewer_level"], at_least)
        }

    @property
    def senior_approved(self) -> bool:
        """CONTRACT Definitions: someone else, senior at review time, approved this revision."""
        return bool(self.approvers(self.seniority.at_least))

    @property
    def author_senior(self) -> bool:
        return self.seniority.is_senior(self.author_level)

    @property
    def lines(self) -> int | None:
        if self.lines_added is None and self.lines_deleted is None:
            return None
        return (self.lines_added or 0) + (self.lines_deleted or 0)

    @property
    def changes_requested(self) -> bool:
        """The latest decision on this revision asked for changes."""
        return bool(self.reviews) and self.reviews[-1]["decision"] == "changes_requested"

    def as_api(self) -> dict[str, Any]:
        """The API's change object (query/api/models.py ``Change``)."""
        return {
            "repo": self.repo,
            "commit": self.commit,
            "author": self.author,
            "author_name": self.author_name,
            "author_level": self.author_level,
            "message": self.message,
            "lines_added": self.lines_added,
            "lines_deleted": self.lines_deleted,
            "files": list(self.files),
            "ai": list(self.ai),
            "reviews": list(self.reviews),
            "senior_approved": self.senior_approved,
        }
