"""C2SP signed notes: the keys, signing and the strict parser of untrusted notes.

The PeterNeumann and EnochRoot keys, notes and signatures are the test vectors of Go's
golang.org/x/mod/sumdb/note (sumdb/note/note_test.go, TestNewVerifier, TestSign, TestOpen):
this module must read and write those bytes exactly as that implementation does.
"""

from __future__ import annotations

import pytest

from provenance_ledger.ledger import signednote
from provenance_ledger.ledger.checkpoint import CheckpointError, parse
from provenance_ledger.ledger.signednote import KeyFormatError, NoteRejected

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgK"
    "vqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGw"
    "nWLox33WWd1RvMc+QQ=\n"
)


def test_the_go_signer_key_signs_the_go_note_byte_for_byte():
    signer = signednote.parse_signer_key(PETER_SKEY)
    assert signer.encode() == PETER_SKEY
    assert signer.verifier().encode() == PETER_VKEY
    assert signednote.sign(TEXT, signer) == TEXT + "\n" + PETER_SIG


def test_the_go_verifier_keys_parse_with_their_key_hashes():
    peter = signednote.parse_verifier_key(PETER_VKEY)
    assert (peter.name, peter.key_hash) == ("PeterNeumann", 0xC74F20A3)
    assert peter.encode() == PETER_VKEY
    assert signednote.parse_verifier_key(ENOCH_VKEY).key_hash == 0xAF0CFE78


def test_a_go_note_with_two_signatures_opens_with_either_key():
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert signednote.open_note(note, signednote.parse_verifier_key(PETER_VKEY)) == TEXT
    assert signednote.open_note(note, signednote.parse_verifier_key(ENOCH_VKEY)) == TEXT


def test_every_mangled_verifier_key_is_refused():
    # As TestNewVerifier: every proper substring and every single-byte change.
    for start in range(len(PETER_VKEY)):
        for end in range(start + 1, len(PETER_VKEY) + 1):
            if (start, end) != (0, len(PETER_VKEY)):
                with pytest.raises(KeyFormatError):
                    signednote.parse_verifier_key(PETER_VKEY[start:end])
    for index, char in enumerate(PETER_VKEY):
        mangled = PETER_VKEY[:index] + chr(ord(char) + 1) + PETER_VKEY[index + 1 :]
        with pytest.raises(KeyFormatError):
            signednote.parse_verifier_key(mangled)


@pytest.mark.parametrize(
    "vkey",
    [
        # Go's: a key of the wrong length and an unknown algorithm, each with its hash adjusted.
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        PETER_SKEY,
    ],
)
def test_a_verifier_key_of_another_kind_is_refused(vkey):
    with pytest.raises(KeyFormatError):
        signednote.parse_verifier_key(vkey)


def test_every_mangled_signer_key_is_refused():
    for index, char in enumerate(PETER_SKEY):
        mangled = PETER_SKEY[:index] + chr(ord(char) + 1) + PETER_SKEY[index + 1 :]
        with pytest.raises(KeyFormatError):
            signednote.parse_signer_key(mangled)
    with pytest.raises(KeyFormatError):
        signednote.parse_signer_key(PETER_VKEY)


def test_a_changed_signature_is_an_invalid_signature():
    # TestOpen's "ABCD" spliced into the signature: the key matches, the signature does not.
    note = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    peter = signednote.parse_verifier_key(PETER_VKEY)
    with pytest.raises(NoteRejected, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        signednote.open_note(note, peter)


def test_a_changed_body_fails_the_signature():
    peter = signednote.parse_verifier_key(PETER_VKEY)
    with pytest.raises(NoteRejected, match="invalid signature"):
        signednote.open_note(TEXT.replace("problem", "pr0blem") + "\n" + PETER_SIG, peter)


def test_a_note_signed_only_by_another_key_is_rejected():
    peter = signednote.parse_verifier_key(PETER_VKEY)
    with pytest.raises(NoteRejected, match="no signature by key PeterNeumann"):
        signednote.open_note(TEXT + "\n" + ENOCH_SIG, peter)


@pytest.mark.parametrize(
    "note",
    [
        # TestOpen's malformed notes.
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name"),
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * 101,
        # And this module's own bounds.
        TEXT * 2000 + "\n" + PETER_SIG,
        TEXT + "\n" + PETER_SIG.replace("\u2014", "-"),
    ],
)
def test_a_malformed_note_is_rejected(note):
    with pytest.raises(NoteRejected):
        signednote.open_note(note, signednote.parse_verifier_key(PETER_VKEY))


def test_a_note_that_is_not_utf8_is_rejected():
    raw = b"\xff" + (TEXT + "\n" + PETER_SIG).encode()
    with pytest.raises(NoteRejected, match="UTF-8"):
        signednote.open_note(raw, signednote.parse_verifier_key(PETER_VKEY))


def test_a_generated_key_signs_what_its_verifier_opens():
    signer = signednote.generate("provledger/provenance.events")
    assert signednote.parse_signer_key(signer.encode()) == signer
    verifier = signednote.parse_verifier_key(signer.verifier().encode())
    body = "provledger/provenance.events\n3\n" + "A" * 43 + "=\n"
    assert signednote.open_note(signednote.sign(body, signer), verifier) == body
    other = signednote.generate("provledger/provenance.events").verifier()
    with pytest.raises(NoteRejected):
        signednote.open_note(signednote.sign(body, signer), other)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\there"])
def test_a_key_name_with_space_or_plus_is_refused(name):
    with pytest.raises(KeyFormatError):
        signednote.generate(name)


def test_the_seed_never_shows_in_a_repr():
    signer = signednote.parse_signer_key(PETER_SKEY)
    assert "seed" not in repr(signer)


@pytest.mark.parametrize("size", ["\u00b2", "\u0663", "-1", "1e3", ""])
def test_a_checkpoint_size_that_is_not_ascii_digits_is_not_a_checkpoint(size):
    # A signed body is still parsed strictly: a digit int() refuses must not escape as a crash.
    with pytest.raises(CheckpointError):
        parse(f"provledger/t\n{size}\n{'A' * 43}=\n")
