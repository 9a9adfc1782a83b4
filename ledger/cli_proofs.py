"""``provledger prove`` and ``provledger verify-proof``: one record's inclusion proof, made
by the ledger and checked offline by whoever keeps its checkpoints (ledger/proofs.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from provenance_ledger.ledger import fileshape, proofs, signednote
from provenance_ledger.ledger.checkpoint import CheckpointError, parse
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.producers.inputfile import read_bytes
from provenance_ledger.query.cli.client import api_get
from provenance_ledger.schemas.errors import UsageProblem


@click.command(
    epilog="Exit 0 with the proof, 2 when nothing names one record, 3 when the server holding "
    "the file does not answer, 5 no ledger file.",
)
@click.option("--source", help="The event's source (with --id).")
@click.option("--id", "event_id", help="The event's id (with --source).")
@click.option(
    "--partition", type=click.IntRange(min=0), help="A record's partition (with --offset)."
)
@click.option("--offset", type=click.IntRange(min=0), help="A record's offset (with --partition).")
@click.option(
    "--checkpoint-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the checkpoint the proof is against (a signed note) to this file.",
)
@click.pass_obj
def prove(
    settings: Settings,
    source: str | None,
    event_id: str | None,
    partition: int | None,
    offset: int | None,
    checkpoint_out: Path | None,
) -> None:
    """Print the inclusion proof of one record of the log as JSON: the record (an accepted
    event, a duplicate, or a dead letter with its reason), its RFC 6962 audit path to its
    partition's root and that partition's path to the log's root, and the checkpoint (a signed
    note when a signing key is set) it leads to.

    Name the record by --source and --id (the accepted event, else the latest record refused
    under that name) or by --partition and --offset. Check the proof offline with
    `provledger verify-proof`.

    \b
    Example:
      provledger prove --source ci/acme --id deploy-42 --checkpoint-out note.txt > proof.json
      provledger verify-proof proof.json --checkpoint note.txt --key "$VERIFIER_KEY"
    """
    wanted = proofs.Wanted(source, event_id, partition, offset)
    document = _local_proof(settings, wanted)
    if document is None:
        params = {k: v for k, v in vars(wanted).items() if v is not None}
        document = api_get(settings, "/v1/ledger/proof", params)
    if checkpoint_out is not None:
        checkpoint_out.write_text(document["checkpoint"])
    click.echo(json.dumps(document, indent=2))


def _local_proof(settings: Settings, wanted: proofs.Wanted) -> dict[str, Any] | None:
    conn = fileshape.open_for_reading(Path(settings.db_path))
    if conn is None:
        return None  # a server holds the file: ask it
    try:
        proof, checkpoint = proofs.prove(conn.cursor(), settings.topic, wanted)
    finally:
        conn.close()
    key_file = settings.api.signing_key_file
    signer = signednote.load_signer_key(key_file) if key_file else None
    body = checkpoint.body()
    return {**proof, "checkpoint": signednote.sign(body, signer) if signer else body}


@click.command(
    "verify-proof",
    epilog="Exit 0 the record is in the log the checkpoint signed off, 1 it is not shown to be "
    "(or the checkpoint's signature does not verify), 2 a file is not a proof or a checkpoint.",
)
@click.argument("proof_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--checkpoint",
    "checkpoint_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The signed checkpoint to check the proof against (kept by you, not by the ledger).",
)
@click.option(
    "--key",
    "verifier_key",
    metavar="VERIFIER_KEY",
    help="The log's verifier key (from `provledger keys create`; default PROVLEDGER_VERIFIER_KEY).",
)
@click.pass_obj
def verify_proof(
    settings: Settings, proof_file: Path, checkpoint_file: Path, verifier_key: str | None
) -> None:
    """Check an inclusion proof offline, with no access to the ledger: the checkpoint's
    signature with the verifier key, then the record's entry, its audit path to its
    partition's root, and that partition's head to the checkpoint's root.

    \b
    Example:
      provledger verify-proof proof.json --checkpoint note.txt --key "$VERIFIER_KEY"
    """
    key_text = verifier_key or settings.verifier_key
    if not key_text:
        raise UsageProblem("pass --key VERIFIER_KEY (or set PROVLEDGER_VERIFIER_KEY)")
    key = signednote.parse_verifier_key(key_text)
    note = read_bytes(checkpoint_file, signednote.MAX_NOTE_BYTES)
    body = signednote.open_kept(note, key, checkpoint_file)
    try:
        checkpoint = parse(body)
    except CheckpointError as exc:
        raise UsageProblem(f"{checkpoint_file}: {exc}") from exc
    proof = proofs.load(read_bytes(proof_file, proofs.MAX_PROOF_BYTES))
    click.echo(f"ok: {proofs.check(proof, checkpoint)} (signed by {key.id})")
