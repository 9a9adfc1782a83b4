"""The one error base of provledger and its exit codes (README, "Exit codes").

Every error the project raises on purpose derives from one of the classes below, so the
command line's one handler can tell a finding from a usage problem from a service that is
down, and exit with a code scripts can act on. Standard library only: every folder imports
this module, the AI-tool hook included.
"""

from __future__ import annotations

from typing import Any

OK = 0
# Not errors the project raises: what the root handler exits with for a bug or a Ctrl-C.
BUG = 70  # EX_SOFTWARE of sysexits.h
INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class ProvledgerError(Exception):
    """A failure the handler prints in one line before exiting with ``exit_code``. Raise one
    of the kinds below: an error of no kind is a bug (70), as any unexpected exception is."""

    exit_code: int = BUG
    kind: str = "bug"

    @property
    def message(self) -> str:
        return str(self) or type(self).__name__


class Finding(ProvledgerError):
    """The command did its job and the answer is "no": the ledger was tampered with, a
    commit is not compliant, the broker is not running."""

    exit_code = 1
    kind = "finding"


class UsageProblem(ProvledgerError):
    """The invocation is wrong: a flag, an argument, an input it names or a PROVLEDGER_*
    setting (the same code click gives a bad flag)."""

    exit_code = 2
    kind = "usage"


class Unreachable(ProvledgerError):
    """Kafka or the API did not answer in time (or events stayed spooled): try again later."""

    exit_code = 3
    kind = "unreachable"


class RemoteError(ProvledgerError):
    """The API answered with an error; ``status`` and ``body`` are what it said."""

    exit_code = 4
    kind = "remote"

    def __init__(self, message: str, status: int, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class LocalFailure(ProvledgerError):
    """Something on this machine failed: the ledger file (missing, not a ledger, held by
    another process), git, the local broker, or writing a file."""

    exit_code = 5
    kind = "local"


KINDS: tuple[type[ProvledgerError], ...] = (
    Finding,
    UsageProblem,
    Unreachable,
    RemoteError,
    LocalFailure,
)

# The table every command follows, as `provledger --help` prints it.
EXIT_CODES = {
    OK: "ok",
    Finding.exit_code: "a finding: the ledger was tampered with, a commit is not compliant",
    UsageProblem.exit_code: "usage: a bad flag, argument, input or PROVLEDGER_* setting",
    Unreachable.exit_code: "Kafka or the API did not answer (or events stayed spooled)",
    RemoteError.exit_code: "the API answered with an error (unknown incident, token scope)",
    LocalFailure.exit_code: "a local failure: the ledger file, git, the local broker",
    BUG: "a bug (run with -v for the traceback)",
    INTERRUPTED: "interrupted (Ctrl-C)",
}


def error_document(error: ProvledgerError) -> dict[str, Any]:
    """What ``--json`` prints for an error: the API's error shape plus the exit code."""
    document: dict[str, Any] = {
        "ok": False,
        "error": error.message,
        "kind": error.kind,
        "exit_code": error.exit_code,
    }
    if isinstance(error, RemoteError):
        document["status"] = error.status
    return document
