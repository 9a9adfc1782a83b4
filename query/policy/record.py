"""The policy in force, written into the ledger's ``policy_definitions`` table, which the SQL
views join (ledger/views/00_policy_definitions.sql) and the SQL copies carry to SQL users.

``provledger serve`` keeps it current with a :class:`PolicyRecorder`: the views then say
"senior" exactly as suspects, ``/v1/commits``, the metrics and the gate do.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.policy.definitions import DEFAULT_LOOKBACK_SPAN, LEVELS, Seniority
from provenance_ledger.query.policy.gate import PolicyError
from provenance_ledger.query.policy.inforce import policy_in_force, policy_path

log = logging.getLogger(__name__)
# How often the recorder looks at the policy file (a stat; it is read only when it changed).
CHECK_S = 1.0


def definitions_row(seniority: Seniority, policy_file: Path | None) -> list[object]:
    """The table's one row, column by column."""
    file = None if policy_file is None else str(policy_file)
    return [list(LEVELS), seniority.at_least, list(seniority.levels), DEFAULT_LOOKBACK_SPAN, file]


def record(ledger: Ledger, seniority: Seniority, policy_file: Path | None) -> None:
    """Replace the row in one transaction: a reader sees the old definitions or the new."""
    cur = ledger.cursor()
    try:
        cur.execute("BEGIN TRANSACTION")
        try:
            cur.execute("DELETE FROM policy_definitions")
            cur.execute(
                "INSERT INTO policy_definitions VALUES (?, ?, ?, ?, ?)",
                definitions_row(seniority, policy_file),
            )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    finally:
        cur.close()


class PolicyRecorder:
    """Keeps ``policy_definitions`` equal to the policy in force.

    Made, it records the policy in force (a policy file that is not usable raises
    :class:`PolicyError`, so the server does not start on it); started, it looks at the file
    every ``CHECK_S`` and records it again when it changed. A file that later becomes
    unusable leaves the last good definitions in place (the gate reports the error).
    """

    def __init__(self, ledger: Ledger, check_s: float = CHECK_S) -> None:
        self._ledger = ledger
        self._check_s = check_s
        self._stop = threading.Event()
        self._warned = ""
        self._recorded = self._current()
        record(ledger, *self._recorded)
        self._thread = threading.Thread(target=self._loop, name="policy-recorder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    @staticmethod
    def _current() -> tuple[Seniority, Path | None]:
        return policy_in_force().seniority, policy_path()

    def _loop(self) -> None:
        while not self._stop.wait(self._check_s):
            try:
                current = self._current()
                if current != self._recorded:
                    record(self._ledger, *current)
                    self._recorded = current
                    log.info("policy definitions recorded: senior from %s", current[0].at_least)
            except PolicyError as exc:
                if str(exc) != self._warned:  # once per problem, not every second
                    log.warning("policy file unusable, keeping the recorded definitions: %s", exc)
                    self._warned = str(exc)
            except Exception:  # a failed write is retried at the next check
                log.exception("could not record the policy definitions")
