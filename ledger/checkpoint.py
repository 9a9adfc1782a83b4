"""C2SP tlog-checkpoint bodies (https://c2sp.org/tlog-checkpoint): what an auditor keeps.

The body is three lines, each ending in a newline: the log's origin, the log's size in
decimal and the base64 root hash, then one extension line (which the spec allows)
``partitions P:SIZE P:SIZE …`` naming how many records of each partition the head covers
(ledger/recordlog.py): a consistency or inclusion proof needs it, and a ledger rebuilt since
cannot guess it from the size alone. Signatures (a signed note) follow a blank line; the
parser ignores them (ledger/signednote.py checks them).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from provenance_ledger.ledger.merkle import HASH_SIZE
from provenance_ledger.ledger.recordlog import Cut, CutError, format_cut, parse_cut
from provenance_ledger.schemas.errors import UsageProblem

PARTITIONS = "partitions "


class CheckpointError(ValueError, UsageProblem):
    pass


def origin_for(topic: str) -> str:
    """The log's name in checkpoints: one ledger projects one topic."""
    return f"provledger/{topic}"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    partitions: Cut = ()

    def body(self) -> str:
        head = f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"
        return head + (f"{PARTITIONS}{format_cut(self.partitions)}\n" if self.partitions else "")


def parse(text: str) -> Checkpoint:
    body = text.split("\n\n", 1)[0]
    lines = body.split("\n")
    if len(lines) < 3 or not lines[0]:
        raise CheckpointError(
            "not a checkpoint: expected an origin line, a tree size and a base64 root hash"
        )
    origin, size_text, root_text = lines[0], lines[1].strip(), lines[2].strip()
    # ASCII only: str.isdigit() also takes digits such as '²' that int() refuses.
    if not (size_text.isascii() and size_text.isdigit()):
        raise CheckpointError(f"not a checkpoint: tree size {size_text!r} is not a number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error as exc:
        raise CheckpointError(f"not a checkpoint: root hash is not base64 ({exc})") from exc
    if len(root) != HASH_SIZE:
        raise CheckpointError(f"not a checkpoint: root hash is {len(root)} bytes, not 32")
    partitions = _partitions(lines[3:])
    if partitions and sum(size for _, size in partitions) != int(size_text):
        raise CheckpointError("not a checkpoint: its partition sizes do not add up to its size")
    return Checkpoint(origin, int(size_text), root, partitions)


def _partitions(extension_lines: list[str]) -> Cut:
    for line in extension_lines:
        if line.startswith(PARTITIONS):
            try:
                return parse_cut(line[len(PARTITIONS) :])
            except CutError as exc:
                raise CheckpointError(f"not a checkpoint: bad partitions line ({exc})") from exc
    return ()
