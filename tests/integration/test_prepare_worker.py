"""``provledger serve`` prepares batches in a worker process (ledger/prepare.py): a real
serve on the real broker, its worker killed mid-stream, loses and repeats nothing, starts
another worker and goes on; the worker leaves with serve even when serve is SIGKILLed; and
with ``PROVLEDGER_PREPARE_WORKER=off`` serve ingests in its own process, with no worker; a
worker that hangs is given up and replaced, its batch decoded by the ledger's process; both
sides allocate Arrow's buffers from the C library's heap.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path

import pyarrow as pa
import pytest

from provenance_ledger.ledger import preparer, verify
from provenance_ledger.ledger.batch import decode_batch, next_offsets
from provenance_ledger.ledger.prepare import WorkerSetup, serve_requests
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.ledger.writer import table_types
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support import eventmix
from tests.support.ledgerproc import cli, duplicates, health, produce, start_serve
from tests.support.servers import free_port, server_env
from tests.support.waiting import wait_until

TOTAL = 20_000
MORE = 1_000


def _workers(parent: int) -> list[int]:
    """The batch-preparing workers among ``parent``'s children (multiprocessing's spawned
    processes; its resource tracker is another child, left out)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _stat_fields(int(stat.parent.name))
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == parent and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command (which may hold spaces and ")"):
    0 state, 1 ppid, 11 utime, 12 stime."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _alive(pid: int) -> bool:
    try:
        state = _stat_fields(pid)[0]
    except OSError:
        return False
    return state != "Z"


def test_a_killed_worker_loses_nothing_and_is_replaced(
    settings: Settings, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    settings = replace(settings, topic=topic_factory(partitions=3))
    messages = list(eventmix.messages(TOTAL, fmt="json", seed=17))
    port = free_port()
    log = tmp_path / "serve.log"
    server = start_serve(server_env(settings, port), port, log)
    try:
        wait_until(lambda: health(port) is not None, 60, f"serve to start (log: {log})")
        wait_until(lambda: _workers(server.pid), 30, "serve's worker to start")
        (first,) = _workers(server.pid)
        producer = threading.Thread(
            target=produce, args=(settings.kafka_bootstrap, settings.topic, messages)
        )
        producer.start()
        wait_until(lambda: (health(port) or {}).get("events", 0) > 2_000, 120, "ingest")
        os.kill(first, signal.SIGKILL)
        producer.join(timeout=300)

        def caught_up() -> bool:
            state = health(port)
            return state is not None and state["events"] >= TOTAL

        wait_until(caught_up, 300, f"{TOTAL} events (log: {log})")
        # The batch after the one that found the worker dead goes to a new worker; when the
        # stream ended with that batch, the next events bring it.
        produce(settings.kafka_bootstrap, settings.topic, eventmix.messages(MORE, seed=18))
        wait_until(lambda: _workers(server.pid), 60, "a new worker")
        wait_until(
            lambda: (health(port) or {}).get("events", 0) >= TOTAL + MORE, 120, "the later events"
        )
        time.sleep(1)  # anything beyond them would be a duplicate: give it a moment
        state = health(port)
        assert state is not None
        assert (state["events"], state["dead_letters"]) == (TOTAL + MORE, 0)
        replaced = _workers(server.pid)
        assert replaced and first not in replaced
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    assert "the batch-preparing worker is stopped" in log.read_text()
    ledger = Ledger.open(settings.db_path)
    try:
        assert ledger.counts() == (TOTAL + MORE, 0) and duplicates(ledger) == 0
    finally:
        ledger.close()
    checked = cli(server_env(settings), "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_worker_leaves_with_a_killed_serve(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    server = start_serve(server_env(settings, port), port, tmp_path / "serve.log")
    try:
        wait_until(lambda: _workers(server.pid), 60, "serve's worker to start")
        workers = _workers(server.pid)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
    wait_until(lambda: not any(map(_alive, workers)), 30, f"the worker {workers} to leave")


def test_serve_ingests_without_a_worker_when_told_to(
    settings: Settings, topic_factory: Callable[..., str], tmp_path: Path
) -> None:
    settings = replace(settings, topic=topic_factory(partitions=3))
    port = free_port()
    env = {**server_env(settings, port), "PROVLEDGER_PREPARE_WORKER": "off"}
    log = tmp_path / "serve.log"
    server = start_serve(env, port, log)
    try:
        wait_until(lambda: health(port) is not None, 60, f"serve to start (log: {log})")
        produce(settings.kafka_bootstrap, settings.topic, eventmix.messages(3_000, seed=18))
        wait_until(lambda: (health(port) or {}).get("events") == 3_000, 120, "3,000 events")
        assert _workers(server.pid) == []
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def test_a_stuck_worker_is_replaced_and_its_batch_decoded_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that stops answering (here: SIGSTOPped) is given up after the timeout: its
    batch is decoded and written by the ledger's process, the next goes to a new worker."""
    monkeypatch.setattr(preparer, "ANSWER_TIMEOUT_S", 1.0)
    messages = list(eventmix.messages(900, seed=19))
    records = [
        KafkaRecord("t", 0, at, key, value, tuple(headers))
        for at, (key, headers, value) in enumerate(messages)
    ]
    batches = [records[:300], records[300:600], records[600:]]
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    workers = preparer.Preparer.start(ledger, Settings(), None)
    assert workers is not None
    try:

        def write(batch: list[KafkaRecord], stop_worker: bool = False) -> preparer.Worker | None:
            worker = workers.submit(batch)
            assert worker is not None and worker.pid is not None
            if stop_worker:
                os.kill(worker.pid, signal.SIGSTOP)
            decode = functools.partial(decode_batch, batch, 1024 * 1024)
            preparer.write_prepared(ledger, worker, batch, next_offsets(batch), decode)
            return worker

        first = write(batches[0])
        stuck = write(batches[1], stop_worker=True)
        assert stuck is first and stuck.broken
        after = write(batches[2])
        assert after is not stuck and not after.broken
        assert ledger.counts() == (900, 0)
        assert verify.verify(ledger.cursor(), "t").problem is None
    finally:
        workers.close()
        ledger.close()
    assert first.pid is not None and not _alive(first.pid)


def test_a_batch_goes_in_before_the_answer_to_the_last_is_read(tmp_path: Path) -> None:
    """Batches of megabytes, far more than a pipe holds: sending the next one while the
    worker's answer to the last still waits to be read must not block (it deadlocked when
    the worker read its requests only between answers)."""
    messages = list(eventmix.messages(10_000, seed=23))
    records = [
        KafkaRecord("t", 0, at, key, value, tuple(headers))
        for at, (key, headers, value) in enumerate(messages)
    ]
    batches = [records[:5_000], records[5_000:]]
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    workers = preparer.Preparer.start(ledger, Settings(), None)
    assert workers is not None
    try:
        first = workers.submit(batches[0])
        sent = threading.Thread(target=workers.submit, args=(batches[1],), daemon=True)
        sent.start()
        sent.join(timeout=60)
        assert not sent.is_alive(), "sending the second batch waited for the first's answer"
        for worker, batch in zip([first, first], batches, strict=True):
            decode = functools.partial(decode_batch, batch, 1024 * 1024)
            preparer.write_prepared(ledger, worker, batch, next_offsets(batch), decode)
        assert ledger.counts() == (10_000, 0) and not first.broken
    finally:
        workers.close()
        ledger.close()


def test_the_worker_prepares_the_next_batch_while_its_last_answer_waits(tmp_path: Path) -> None:
    """An answer of megabytes waits in the pipe until the writer is done with the batch before;
    the worker must go on preparing what it holds meanwhile (it sat blocked in the send, a
    tenth of its time under serve's load). Three batches sent, none of the answers read: once
    the worker is idle, reading them costs it only the sending, not the preparing."""
    messages = list(eventmix.messages(12_000, seed=29))
    records = [
        KafkaRecord("t", 0, at, key, value, tuple(headers))
        for at, (key, headers, value) in enumerate(messages)
    ]
    batches = [records[at : at + 4_000] for at in range(0, len(records), 4_000)]
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    workers = preparer.Preparer.start(ledger, Settings(), None)
    assert workers is not None
    try:
        worker = workers.submit(batches[0])
        assert worker is not None and worker.pid is not None
        for batch in batches[1:]:
            assert workers.submit(batch) is worker
        idle_cpu = _settled_cpu_s(worker.pid)
        for batch in batches:
            decode = functools.partial(decode_batch, batch, 1024 * 1024)
            preparer.write_prepared(ledger, worker, batch, next_offsets(batch), decode)
        spent_reading = _cpu_s(worker.pid) - idle_cpu
        assert ledger.counts() == (12_000, 0) and not worker.broken
        # Preparing one batch of 4,000 takes the worker ~0.15-0.3 s of CPU.
        assert spent_reading < 0.1, f"the worker prepared while read: {spent_reading:.2f} s"
    finally:
        workers.close()
        ledger.close()


def _cpu_s(pid: int) -> float:
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _settled_cpu_s(pid: int) -> float:
    """The process's CPU seconds once they stop growing (it has nothing left to do)."""
    last = -1.0
    deadline = time.monotonic() + 60
    while (now := _cpu_s(pid)) != last and time.monotonic() < deadline:
        last = now
        time.sleep(0.5)
    return now


def test_the_worker_ends_when_the_ledger_dies_mid_batch(tmp_path: Path) -> None:
    """A ledger killed while sending a batch leaves half a message in the pipe; the worker must
    end all the same (it waited forever, one orphan process per killed serve)."""
    spawn = multiprocessing.get_context("spawn")
    requests_in, requests = spawn.Pipe(duplex=False)
    answers, answers_out = spawn.Pipe(duplex=False)
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    setup = WorkerSetup(table_types(ledger.cursor()), 1024 * 1024, None, None)
    ledger.close()
    worker = spawn.Process(target=serve_requests, args=(setup, requests_in, answers_out))
    worker.start()
    requests_in.close()
    answers_out.close()
    try:
        # A message's 4-byte length, then a tenth of what it announces: what a send leaves
        # when its process is killed midway.
        os.write(requests.fileno(), struct.pack("!i", 1_000_000) + b"\x80" * 100_000)
        requests.close()
        worker.join(timeout=30)
        assert worker.exitcode is not None, "the worker outlived a ledger killed mid-batch"
    finally:
        if worker.is_alive():
            worker.kill()
        answers.close()


def _allocators_around(step: str, path: str, report: Connection) -> None:
    """In a fresh process: Arrow's allocator before and after ``step``, the way the worker
    (``serve_requests`` until its requests end) or the ledger's side (``Preparer.start``)
    begins."""
    before = pa.default_memory_pool().backend_name
    ledger = Ledger.open(Path(path), migrate=True)
    if step == "worker":
        setup = WorkerSetup(table_types(ledger.cursor()), 1024 * 1024, None, None)
        requests_in, requests = multiprocessing.Pipe(duplex=False)
        _, answers_out = multiprocessing.Pipe(duplex=False)
        requests.close()  # nothing to prepare: the worker sets up, then ends
        serve_requests(setup, requests_in, answers_out)
    else:
        workers = preparer.Preparer.start(ledger, replace(Settings(), prepare_worker=False), None)
        assert workers is None
    ledger.close()
    report.send((before, pa.default_memory_pool().backend_name))


@pytest.mark.parametrize("step", ["worker", "ledger"])
def test_batches_are_allocated_from_the_c_library_heap(step: str, tmp_path: Path) -> None:
    """pyarrow's mimalloc kept the pages of every batch's freed buffers: serve and its worker
    held tens of megabytes no batch used (docs/benchmarks.md, "Arrow's allocator"). Both
    sides switch to the C library's allocator as they begin, whether a worker runs or not."""
    spawn = multiprocessing.get_context("spawn")
    answers, report = spawn.Pipe(duplex=False)
    process = spawn.Process(
        target=_allocators_around, args=(step, str(tmp_path / "ledger.duckdb"), report)
    )
    process.start()
    report.close()
    try:
        assert answers.poll(120), "the process reported nothing"
        before, after = answers.recv()
    finally:
        process.join(timeout=30)
    assert before != "system", f"a fresh process already used {before}: the test proves nothing"
    assert after == "system"


def test_the_worker_does_without_duckdb(tmp_path: Path) -> None:
    """The worker decodes, hashes and projects; it never queries. Importing DuckDB would cost
    it ~26 MB of resident memory for nothing (ledger/event_rows.py)."""
    messages = list(eventmix.messages(2_000, seed=37))
    batch = [
        KafkaRecord("t", 0, at, key, value, tuple(headers))
        for at, (key, headers, value) in enumerate(messages)
    ]
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    workers = preparer.Preparer.start(ledger, Settings(), None)
    assert workers is not None
    try:
        worker = workers.submit(batch)
        assert worker is not None and worker.pid is not None
        decode = functools.partial(decode_batch, batch, 1024 * 1024)
        preparer.write_prepared(ledger, worker, batch, next_offsets(batch), decode)
        assert ledger.counts() == (2_000, 0) and not worker.broken
        mapped = Path(f"/proc/{worker.pid}/maps").read_text()
        assert "pyarrow" in mapped  # it did its work: Arrow's libraries are loaded
        assert "duckdb" not in mapped
    finally:
        workers.close()
        ledger.close()
