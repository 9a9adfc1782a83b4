"""Signed checkpoints through the real CLI on a real DuckDB file: `keys create` writes a 0600
key and never replaces one, `verify --checkpoint` signs with it, and `verify --since --key`
checks the kept note's signature before the consistency proof (exit 1 when it does not
verify, 2 for a malformed key)."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest

from provenance_ledger.ledger import signednote
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from tests.support import eventmix
from tests.support.ledgerproc import cli, fill
from tests.support.servers import server_env
from tests.support.signedheads import create_signing_key

ORIGIN = "provledger/signed.test"


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Settings, dict[str, str], str]:
    settings = replace(
        Settings(), db_path=tmp_path / "ledger.duckdb", topic="signed.test", group_id="signed"
    )
    ledger = Ledger.open(settings.db_path, migrate=True)
    fill(ledger, eventmix.events(120, seed=5), batch=50)
    ledger.close()
    env = server_env(settings)
    key_file = tmp_path / "keys" / "signing.key"
    verifier_key = create_signing_key(settings, key_file)
    env["PROVLEDGER_SIGNING_KEY_FILE"] = str(key_file)
    return settings, env, verifier_key


def test_keys_create_writes_an_owner_only_key_and_prints_its_verifier(signed, tmp_path) -> None:
    _, env, verifier_key = signed
    key_file = Path(env["PROVLEDGER_SIGNING_KEY_FILE"])
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    signer = signednote.load_signer_key(key_file)
    assert signer.name == ORIGIN
    assert signer.verifier().encode() == verifier_key
    again = cli(env, "keys", "create", "--out", str(key_file))
    assert again.returncode == 2
    assert "never overwritten" in again.stderr
    assert signednote.load_signer_key(key_file) == signer


def test_a_kept_signed_checkpoint_verifies_then_proves_growth(signed, tmp_path) -> None:
    settings, env, verifier_key = signed
    note = cli(env, "verify", "--checkpoint").stdout
    key = signednote.parse_verifier_key(verifier_key)
    body = signednote.open_note(note, key)
    # The partitions line is signed with the rest: a proof needs it.
    assert body.startswith(f"{ORIGIN}\n120\n") and body.endswith("\npartitions 0:120\n")
    kept = tmp_path / "kept.note"
    kept.write_text(note)

    ledger = Ledger.open(settings.db_path, migrate=True)
    fill(ledger, eventmix.events(30, seed=6), batch=30)
    ledger.close()
    grown = cli(env, "verify", "--since", str(kept), "--key", verifier_key)
    assert grown.returncode == 0, grown.stdout + grown.stderr
    assert "consistent: the ledger only grew since the checkpoint of size 120" in grown.stdout

    env_key = {**env, "PROVLEDGER_VERIFIER_KEY": verifier_key}
    assert cli(env_key, "verify", "--since", str(kept)).returncode == 0


def test_a_tampered_or_foreign_note_exits_1_before_any_proof(signed, tmp_path) -> None:
    _, env, verifier_key = signed
    note = cli(env, "verify", "--checkpoint").stdout
    forged = tmp_path / "forged.note"
    # A smaller size (and its partition's) would still be a "consistent" prefix: only the
    # signature tells.
    forged.write_text(
        note.replace("\n120\n", "\n119\n", 1).replace("partitions 0:120", "partitions 0:119")
    )
    result = cli(env, "verify", "--since", str(forged), "--key", verifier_key)
    assert result.returncode == 1
    assert "invalid signature for key provledger/signed.test+" in result.stderr
    assert "consistent" not in result.stdout

    other = signednote.generate(ORIGIN).verifier().encode()
    foreign = cli(env, "verify", "--since", str(tmp_path / "forged.note"), "--key", other)
    assert foreign.returncode == 1
    assert "no signature by key" in foreign.stderr

    unsigned = tmp_path / "unsigned.note"
    unsigned.write_text(note.split("\n\n")[0] + "\n")
    assert cli(env, "verify", "--since", str(unsigned), "--key", verifier_key).returncode == 1


def test_a_malformed_verifier_key_is_a_usage_error(signed, tmp_path) -> None:
    _, env, verifier_key = signed
    kept = tmp_path / "kept.note"
    kept.write_text(cli(env, "verify", "--checkpoint").stdout)
    result = cli(env, "verify", "--since", str(kept), "--key", verifier_key[:-4])
    assert result.returncode == 2
    assert "verifier key" in result.stderr


def test_without_a_key_the_signature_is_reported_unchecked(signed, tmp_path) -> None:
    _, env, _ = signed
    kept = tmp_path / "kept.note"
    kept.write_text(cli(env, "verify", "--checkpoint").stdout)
    result = cli(env, "verify", "--since", str(kept))
    assert result.returncode == 0, result.stderr
    assert "its signature is not checked" in result.stderr
