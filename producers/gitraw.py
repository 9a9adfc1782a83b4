"""Commit objects parsed from their raw bytes, as ``git cat-file --batch`` gives them.

The object's length comes from git, so the message is read by length, never split on a
separator: no byte of a message can be taken for structure (a message that imitated a
record could otherwise forge another commit's author). A malformed object is a
:class:`CommitParseError` for that commit alone.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

from provenance_ledger.producers.gitproc import is_sha
from provenance_ledger.schemas.errors import LocalFailure


class CommitParseError(ValueError, LocalFailure):
    pass


@dataclass(frozen=True)
class RawCommit:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_time: str
    committer_name: str
    committer_email: str
    message: str


def _decoder(encoding: bytes) -> str:
    """The codec of the ``encoding`` header (UTF-8 when absent, unknown or not a text codec)."""
    try:
        info = codecs.lookup(encoding.decode("ascii"))
    except (LookupError, UnicodeDecodeError):
        return "utf-8"
    return info.name if getattr(info, "_is_text_encoding", False) else "utf-8"


def _text(raw: bytes, codec: str) -> str:
    text = raw.decode(codec, "replace")
    if codec != "utf-8":  # some codecs (unicode_escape) can yield lone surrogates
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


@lru_cache(maxsize=256)
def _offset(tz: bytes) -> timezone:
    """``+hhmm`` as a timezone; git reads anything else as UTC, and so do we."""
    text = tz.decode("ascii", "replace")
    if len(text) == 5 and text[0] in "+-" and text[1:].isdigit():
        hours, minutes = int(text[1:3]), int(text[3:])
        if hours < 24 and minutes < 60:
            sign = -1 if text[0] == "-" else 1
            return timezone(sign * timedelta(hours=hours, minutes=minutes))
    return UTC


def _time(date: bytes) -> str:
    fields = date.split()
    seconds = fields[0].decode("ascii", "replace") if fields else ""
    if not seconds.lstrip("-").isdigit() or len(seconds) > 12:
        raise CommitParseError(f"bad timestamp {date[:40]!r}")
    try:
        utc = datetime.fromtimestamp(int(seconds), UTC)
        local = utc.astimezone(_offset(fields[1] if len(fields) > 1 else b""))
    except (OverflowError, ValueError, OSError) as exc:
        raise CommitParseError(f"timestamp {seconds} out of range") from exc
    return local.isoformat()


def parse_ident(value: bytes, codec: str, timed: bool = True) -> tuple[str, str, str]:
    """(name, email, ISO time) of an ``author``/``committer`` header, split as git splits it:
    the name ends at the first ``<``, the email at the next ``>``, the date follows the last.
    Without ``timed`` the time is not read (empty)."""
    start = value.find(b"<")
    end = value.find(b">", start + 1)
    if start < 0 or end < 0:
        raise CommitParseError(f"bad identity {value[:80]!r}")
    name = _text(value[:start].strip(), codec)
    email = _text(value[start + 1 : end].strip(), codec)
    return name, email, _time(value[value.rfind(b">") + 1 :]) if timed else ""


def _one(headers: dict[bytes, list[bytes]], key: bytes) -> bytes:
    values = headers.get(key, [])
    if len(values) != 1:
        raise CommitParseError(f"{len(values)} {key.decode()} headers, expected one")
    return values[0]


def parse_commit(sha: str, body: bytes) -> RawCommit:
    head, _, message = body.partition(b"\n\n")
    headers: dict[bytes, list[bytes]] = {}
    for line in head.split(b"\n"):
        if line.startswith(b" "):
            continue  # the continuation of a multi-line header (gpgsig, mergetag)
        key, _, value = line.partition(b" ")
        headers.setdefault(key, []).append(value)
    tree = _one(headers, b"tree").decode("ascii", "replace")
    parents = tuple(value.decode("ascii", "replace") for value in headers.get(b"parent", []))
    if not is_sha(tree) or not all(is_sha(parent) for parent in parents):
        raise CommitParseError("tree or parent is not an object id")
    codec = _decoder(headers.get(b"encoding", [b"utf-8"])[0])
    author = parse_ident(_one(headers, b"author"), codec)
    committer = parse_ident(_one(headers, b"committer"), codec, timed=False)
    text = _text(message, codec).rstrip("\n")
    return RawCommit(sha, tree, parents, *author, *committer[:2], text)
