"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys: how a checkpoint body
is signed by the ledger and checked by whoever kept it.

A signed note is the body (text ending in a newline), a blank line, then one line per
signature: an em dash (U+2014), a space, the key name, a space and base64(4-byte key hash ||
64-byte Ed25519 signature of the body). The key hash is the first 4 bytes, big-endian, of
SHA-256(key name || "\\n" || 0x01 || public key). Keys travel as text, as Go's
golang.org/x/mod/sumdb/note writes them: the verifier key ``<name>+<hex hash>+<base64(0x01 ||
public key)>`` and the private key ``PRIVATE+KEY+<name>+<hex hash>+<base64(0x01 || seed)>``.

Parsing follows that module's ``note.Open``, so a note either side accepts the other accepts:
valid UTF-8 with no control character but the newline, the signatures after the last blank
line, at most 100 of them, names without spaces or ``+``. The first signature line made with
the verifier's key decides; lines by other keys are ignored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from provenance_ledger.schemas.errors import Finding, UsageProblem

ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "
MAX_SIGNATURES = 100
# A checkpoint note is a few hundred bytes; this bounds what an untrusted file costs to read.
MAX_NOTE_BYTES = 64 * 1024
_HEX8 = re.compile(r"[0-9a-f]{8}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


class KeyFormatError(ValueError, UsageProblem):
    """A key string or key file that is not a key of the form above (exit 2)."""


class NoteRejected(ValueError, Finding):
    """The note does not verify with the key: malformed, unsigned by it, or a bad signature
    (exit 1: the answer to "is this the log's checkpoint?" is no)."""


@dataclass(frozen=True)
class VerifierKey:
    name: str
    public_key: bytes

    @property
    def key_hash(self) -> int:
        return key_hash(self.name, self.public_key)

    @property
    def id(self) -> str:
        return f"{self.name}+{self.key_hash:08x}"

    def encode(self) -> str:
        return f"{self.id}+{_b64(bytes([ED25519]) + self.public_key)}"


@dataclass(frozen=True)
class SignerKey:
    name: str
    seed: bytes = field(repr=False)

    def verifier(self) -> VerifierKey:
        public = Ed25519PrivateKey.from_private_bytes(self.seed).public_key()
        return VerifierKey(self.name, public.public_bytes_raw())

    def encode(self) -> str:
        verifier = self.verifier()
        return f"PRIVATE+KEY+{verifier.id}+{_b64(bytes([ED25519]) + self.seed)}"


def key_hash(name: str, public_key: bytes) -> int:
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(char.isspace() for char in name)


def generate(name: str) -> SignerKey:
    if not valid_name(name):
        raise KeyFormatError(f"key name {name!r}: it must be non-empty, without spaces or '+'")
    return SignerKey(name, Ed25519PrivateKey.generate().private_bytes_raw())


def parse_verifier_key(text: str) -> VerifierKey:
    parts = text.strip().split("+", 2)  # base64 has '+' too
    if len(parts) != 3:
        raise KeyFormatError("not a verifier key: expected NAME+HASH+KEY")
    name, hash_hex, encoded = parts
    key = _key_bytes(name, hash_hex, encoded, "verifier")
    verifier = VerifierKey(name, key)
    if verifier.key_hash != int(hash_hex, 16):
        raise KeyFormatError(f"verifier key {name}: its hash {hash_hex} is not the key's")
    return verifier


def parse_signer_key(text: str) -> SignerKey:
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise KeyFormatError("not a private key: expected PRIVATE+KEY+NAME+HASH+KEY")
    name, hash_hex, encoded = parts[2:]
    signer = SignerKey(name, _key_bytes(name, hash_hex, encoded, "private"))
    # The hash is of the public key: a match shows the seed and the name belong together.
    if signer.verifier().key_hash != int(hash_hex, 16):
        raise KeyFormatError(f"private key {name}: its hash {hash_hex} is not the key's")
    return signer


def _key_bytes(name: str, hash_hex: str, encoded: str, kind: str) -> bytes:
    if not valid_name(name) or not _HEX8.fullmatch(hash_hex):
        raise KeyFormatError(f"not a {kind} key: bad name or hash")
    raw = _b64decode(encoded)
    if raw is None or not raw:
        raise KeyFormatError(f"not a {kind} key: the key is not base64")
    if raw[0] != ED25519:
        raise KeyFormatError(f"{kind} key {name}: algorithm {raw[0]} is not Ed25519 (1)")
    if len(raw) != 33:
        raise KeyFormatError(f"{kind} key {name}: an Ed25519 key is 32 bytes, not {len(raw) - 1}")
    return raw[1:]


def sign(body: str, key: SignerKey) -> str:
    """The note: ``body`` signed with ``key``. The body must itself be valid note text."""
    if not body.endswith("\n") or _CONTROL.search(body):
        raise ValueError("a note body ends in a newline and has no other control characters")
    signature = Ed25519PrivateKey.from_private_bytes(key.seed).sign(body.encode())
    verifier = key.verifier()
    line = _b64(verifier.key_hash.to_bytes(4, "big") + signature)
    return f"{body}\n{SIGNATURE_PREFIX}{key.name} {line}\n"


def open_note(note: str | bytes, key: VerifierKey) -> str:
    """The body of ``note`` if ``key`` signed it; :class:`NoteRejected` saying why not."""
    raw = note.encode() if isinstance(note, str) else note
    if len(raw) > MAX_NOTE_BYTES:
        raise NoteRejected(f"malformed note: longer than {MAX_NOTE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteRejected("malformed note: not UTF-8") from None
    if _CONTROL.search(text):
        raise NoteRejected("malformed note: a control character other than a newline")
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteRejected("not a signed note: no blank line before signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block.endswith("\n"):
        raise NoteRejected("malformed note: the signature lines do not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteRejected(f"malformed note: more than {MAX_SIGNATURES} signatures")
    signatures = [_signature(line) for line in lines]
    for name, hash_value, signature in signatures:
        if name == key.name and hash_value == key.key_hash:
            return _checked(body, signature, key)
    raise NoteRejected(f"the note has no signature by key {key.id}")


def open_kept(note: bytes, key: VerifierKey, where: object) -> str:
    """:func:`open_note` on a note kept in ``where`` (a file), whose refusal names it."""
    try:
        return open_note(note, key)
    except NoteRejected as exc:
        raise NoteRejected(
            f"{where}: the checkpoint does not verify with key {key.id}: {exc}"
        ) from None


def _signature(line: str) -> tuple[str, int, bytes]:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteRejected("malformed note: a line after the blank line is not a signature")
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    raw = _b64decode(encoded)
    if not valid_name(name) or raw is None or len(raw) < 5:
        raise NoteRejected(f"malformed note: bad signature line {line[:80]!r}")
    return name, int.from_bytes(raw[:4], "big"), raw[4:]


def _checked(body: str, signature: bytes, key: VerifierKey) -> str:
    try:
        Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, body.encode())
    except InvalidSignature:
        raise NoteRejected(f"invalid signature for key {key.id}") from None
    return body


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _b64decode(text: str) -> bytes | None:
    if not text:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def load_signer_key(path: Path) -> SignerKey:
    """The private key in the file ``provledger keys create`` wrote."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFormatError(f"{path}: cannot read the signing key ({exc})") from None
    if len(text) > 1024:
        raise KeyFormatError(f"{path}: not a private key (too long)")
    try:
        return parse_signer_key(text)
    except KeyFormatError as exc:
        raise KeyFormatError(f"{path}: {exc}") from None
