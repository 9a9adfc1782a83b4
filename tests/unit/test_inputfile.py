"""Reading a file a command is given: bounded, and each failure a usage problem naming it."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from provenance_ledger.producers.inputfile import UnreadableFile, read_bytes, read_text
from provenance_ledger.schemas.errors import UsageProblem


def test_a_file_at_the_limit_is_read_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(b"x" * (1 << 20))
    assert len(read_bytes(path, 1 << 20)) == 1 << 20
    path.write_bytes(b"x" * ((1 << 20) + 1))
    with pytest.raises(UnreadableFile, match=r"the plan .*plan\.json is larger than 1 MiB; split"):
        read_bytes(path, 1 << 20, f"the plan {path}", "; split it")


def test_dash_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"a": 1}')))
    assert read_bytes("-", 100) == b'{"a": 1}'


def test_text_drops_a_byte_order_mark_and_refuses_what_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "staff.csv"
    path.write_bytes(b"\xef\xbb\xbfname\n")
    assert read_text(path, 100) == "name\n"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(UnreadableFile, match=r"staff\.csv is not UTF-8 text"):
        read_text(path, 100)


def test_a_missing_file_is_a_usage_problem(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match=r"cannot read .*absent\.yaml") as caught:
        read_text(tmp_path / "absent.yaml", 100)
    assert isinstance(caught.value, UsageProblem) and caught.value.exit_code == 2
