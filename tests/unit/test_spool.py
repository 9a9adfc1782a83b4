"""The spool: append-only, torn lines skipped, drained in order, resumed after a failure."""

from __future__ import annotations

from provenance_ledger.producers.spool import APPEND_FILE, Spool, SpooledEvent


def event(n: int) -> SpooledEvent:
    return SpooledEvent({"source": "t/s", "id": f"e{n}", "type": "x"}, "json")


def collect(into: list[str], accept: int | None = None):
    def deliver(batch: list[SpooledEvent]) -> int:
        taken = batch if accept is None else batch[:accept]
        into.extend(item.event["id"] for item in taken)
        return len(taken)

    return deliver


def test_drain_delivers_in_order_once(tmp_path):
    spool = Spool(tmp_path)
    spool.append([event(1), event(2)])
    spool.append([event(3)])
    assert spool.pending() == 3
    got: list[str] = []
    result = spool.drain(collect(got), batch_size=2)
    assert got == ["e1", "e2", "e3"]
    assert (result.delivered, result.remaining) == (3, 0)
    assert spool.drain(collect(got)).delivered == 0
    assert got == ["e1", "e2", "e3"]


def test_a_failed_drain_resumes_where_it_stopped(tmp_path):
    spool = Spool(tmp_path)
    spool.append([event(n) for n in range(5)])
    first: list[str] = []
    result = spool.drain(collect(first, accept=2), batch_size=5)
    assert first == ["e0", "e1"]
    assert result.remaining == 3
    spool.append([event(9)])  # appended while the drain batch was pending
    rest: list[str] = []
    spool.drain(collect(rest))
    assert rest == ["e2", "e3", "e4", "e9"]


def test_a_torn_last_line_is_skipped_and_poisons_nothing(tmp_path):
    spool = Spool(tmp_path)
    spool.append([event(1)])
    with open(tmp_path / APPEND_FILE, "ab") as handle:
        handle.write(b'{"fmt":"json","event":{"source":"t/s","id":"torn"')  # crash mid-write
    spool.append([event(2)])
    got: list[str] = []
    result = spool.drain(collect(got))
    assert got == ["e1", "e2"]
    assert result.skipped_torn == 1


def test_a_second_drainer_can_decline_to_wait(tmp_path):
    spool = Spool(tmp_path)
    spool.append([event(1)])
    seen: list[str] = []

    def nested(batch: list[SpooledEvent]) -> int:
        # While this drain holds the lock, another caller with wait_s=0 is told it is busy.
        other = Spool(tmp_path).drain(collect(seen), wait_s=0)
        assert other.busy and other.delivered == 0
        return len(batch)

    assert spool.drain(nested).delivered == 1
    assert seen == []


def test_spool_is_private(tmp_path):
    """Agent commands may hold secrets: the directory 0700, every file in it 0600, whatever
    the umask, and a spool left open by an older version is tightened."""
    import os
    import stat

    directory = tmp_path / "spool"
    directory.mkdir(mode=0o755)
    (directory / APPEND_FILE).write_text("")
    os.chmod(directory / APPEND_FILE, 0o644)
    old = os.umask(0o022)
    try:
        spool = Spool(directory)
        spool.append([event(1), event(2)])
        spool.drain(collect([], accept=1))  # leaves a draining batch and its .done marker
        spool.append([event(3)])
    finally:
        os.umask(old)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = list(directory.iterdir())
    assert {path.suffix for path in files} >= {".jsonl", ".done", ".lock"}
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in files} == {
        path.name: 0o600 for path in files
    }
