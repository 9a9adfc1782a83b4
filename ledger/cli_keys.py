"""``provledger keys create``: the Ed25519 key the server signs its checkpoints with."""

from __future__ import annotations

import os
from pathlib import Path

import click

from provenance_ledger.ledger import signednote
from provenance_ledger.ledger.checkpoint import origin_for
from provenance_ledger.ledger.settings import Settings, default_tokens_path
from provenance_ledger.query.cli.output import json_option, print_json
from provenance_ledger.schemas.errors import LocalFailure, UsageProblem

PRIVATE_FILE = 0o600


@click.group()
def keys() -> None:
    """Keys that sign the ledger's checkpoints (C2SP signed notes, Ed25519)."""


@keys.command(
    epilog="Exit 2 when the key file exists or the name is not a key name, 5 when the file "
    "cannot be written."
)
@click.option(
    "--name",
    help="The key name in signatures and the verifier key (default: the log's origin, "
    "provledger/<PROVLEDGER_TOPIC>). No spaces or '+'.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the private key (default: PROVLEDGER_SIGNING_KEY_FILE, else "
    "~/.config/provledger/signing.key). An existing file is never replaced.",
)
@json_option("Print the name, key hash, verifier key and key file as JSON.")
@click.pass_obj
def create(settings: Settings, name: str | None, out: Path | None, as_json: bool) -> None:
    """Create a signing key: the private key goes to a file only its owner can read (0600),
    the verifier key is printed for whoever checks the checkpoints.

    Point the server at the file with PROVLEDGER_SIGNING_KEY_FILE; GET /v1/ledger/checkpoint
    then answers a signed note. Give the verifier key to auditors, who check a kept
    checkpoint with `provledger verify --since FILE --key VERIFIER_KEY`.

    \b
    Example:
      provledger keys create --out /etc/provledger/signing.key
      PROVLEDGER_SIGNING_KEY_FILE=/etc/provledger/signing.key provledger serve
    """
    path = out or settings.api.signing_key_file or default_tokens_path().parent / "signing.key"
    signer = signednote.generate(name or origin_for(settings.topic))
    _write_private(path, signer.encode() + "\n")
    verifier = signer.verifier()
    if as_json:
        print_json(
            {
                "name": verifier.name,
                "key_hash": f"{verifier.key_hash:08x}",
                "verifier_key": verifier.encode(),
                "key_file": str(path),
            }
        )
        return
    click.echo(verifier.encode())
    click.echo(f"private key written to {path} (mode 0600); serve signs with it when", err=True)
    click.echo(f"PROVLEDGER_SIGNING_KEY_FILE={path}. Auditors check with the key above.", err=True)


def _write_private(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_EXCL: a signing key is never replaced by accident, which would orphan every
        # checkpoint it signed.
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        raise UsageProblem(f"{path} exists; a signing key is never overwritten") from None
    except OSError as exc:
        raise LocalFailure(f"cannot create {path}: {exc.strerror}") from exc
    try:
        os.fchmod(handle, PRIVATE_FILE)  # whatever the umask
        os.write(handle, text.encode())
    finally:
        os.close(handle)
