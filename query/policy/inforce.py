"""The policy in force: the file of the ``PROVLEDGER_POLICY`` setting, which the server's
composition root passes to :func:`use_policy_file` at start-up, else the packaged policy.yaml.

The file is read again when it changes (its modification time or size), so an edit applies
without a restart, to every reader at once: the gate's rules, and the seniority that
suspects, ``/v1/commits``, the deployments list and the metrics judge by.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from provenance_ledger.query.policy.definitions import Seniority
from provenance_ledger.query.policy.gate import Policy, PolicyError, load_policy

# Process-wide, as the seniority that suspects, the read models and the gate share is.
policy_file: Path | None = None


def use_policy_file(path: Path | None) -> None:
    global policy_file
    policy_file = path


def policy_path() -> Path | None:
    """The rules file in force; None: the packaged defaults."""
    return policy_file


@lru_cache(maxsize=4)
def _read(path: Path | None, mtime_ns: int, size: int) -> Policy:
    return load_policy(path)


def policy_in_force() -> Policy:
    """The policy file's rules and definitions; :class:`PolicyError` if it is not usable."""
    path = policy_path()
    try:
        stat = path.stat() if path is not None else None
    except OSError as exc:
        raise PolicyError(f"policy rules in {path} are not usable: {exc}") from exc
    return _read(path, stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)


def seniority_in_force() -> Seniority:
    return policy_in_force().seniority
