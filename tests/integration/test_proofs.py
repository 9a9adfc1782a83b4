"""Inclusion proofs on a real ledger file (ledger/proofs.py): a proof checks against its
checkpoint alone, and every claim it makes is either proven or named as the ledger's word."""

from __future__ import annotations

import base64
import copy
from pathlib import Path

import pytest

from provenance_ledger.ledger import proofs
from provenance_ledger.ledger.batch import Incoming, Rejected
from provenance_ledger.ledger.checkpoint import Checkpoint
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    ledger = Ledger.open(tmp_path / "proofs.duckdb", migrate=True)
    events = list(eventmix.events(60, seed=12))
    incoming = [
        Incoming(KafkaRecord("t", at % 3, at // 3, b"k", decoded.canonical), decoded)
        for at, decoded in enumerate(events)
    ]
    refused = Rejected(KafkaRecord("t", 1, 20, None, b"{not json"), "invalid_json", "bad JSON")
    ledger.write_batch(incoming, [refused], {("t", 0): 20, ("t", 1): 21, ("t", 2): 20})
    yield ledger
    ledger.close()


def _prove(ledger: Ledger, wanted: proofs.Wanted) -> tuple[dict, Checkpoint]:
    return proofs.prove(ledger.cursor(), "t", wanted)


def test_an_event_and_a_dead_letter_are_proven_against_the_checkpoint(ledger: Ledger) -> None:
    event = next(iter(eventmix.events(60, seed=12)))
    proof, checkpoint = _prove(ledger, proofs.Wanted(event.event.source, event.event.id))
    assert checkpoint.size == 61 and checkpoint.partitions == ((0, 20), (1, 21), (2, 20))
    said = proofs.check(proof, checkpoint)
    assert f"event {event.event.source} {event.event.id}" in said
    dead, _ = _prove(ledger, proofs.Wanted(partition=1, offset=20))
    said = proofs.check(dead, checkpoint)
    assert "the ledger says: dead_letter, refused (invalid_json: bad JSON)" in said


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


TAMPERINGS = {
    "leaf path": lambda p: p["partition_proof"]["path"].__setitem__(
        0, _flip(p["partition_proof"]["path"][0])
    ),
    "partition root": lambda p: p["partition_proof"].__setitem__(
        "root", _flip(p["partition_proof"]["root"])
    ),
    "head path": lambda p: p["head_proof"]["path"].__setitem__(
        0, _flip(p["head_proof"]["path"][0])
    ),
    "entry": lambda p: p["record"].__setitem__("entry", _flip(p["record"]["entry"])),
    "value": lambda p: p["record"].__setitem__("value", _flip(p["record"]["value"])),
    "index": lambda p: p["record"].__setitem__("index", p["record"]["index"] + 1),
    "named event": lambda p: p["record"]["event"].__setitem__("id", "someone-else"),
}


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_a_changed_proof_is_rejected(ledger: Ledger, tamper) -> None:
    event = list(eventmix.events(60, seed=12))[7]
    proof, checkpoint = _prove(ledger, proofs.Wanted(event.event.source, event.event.id))
    forged = copy.deepcopy(proof)
    tamper(forged)
    with pytest.raises((proofs.ProofRejected, proofs.NotAProof)):
        proofs.check(forged, checkpoint)


def test_a_proof_against_another_checkpoint_is_rejected(ledger: Ledger) -> None:
    event = list(eventmix.events(60, seed=12))[4]
    proof, checkpoint = _prove(ledger, proofs.Wanted(event.event.source, event.event.id))
    # Event 4 is in partition 1: a checkpoint where that partition has grown.
    grown = ((0, 20), (1, 22), (2, 20))
    later = Checkpoint(checkpoint.origin, checkpoint.size + 1, checkpoint.root, grown)
    with pytest.raises(proofs.ProofRejected, match="get a proof against this checkpoint"):
        proofs.check(proof, later)


def test_an_unknown_record_is_not_in_the_log(ledger: Ledger) -> None:
    with pytest.raises(proofs.NotInLog):
        _prove(ledger, proofs.Wanted("nobody", "nothing"))
    with pytest.raises(proofs.NotInLog):
        _prove(ledger, proofs.Wanted(partition=0, offset=999))
