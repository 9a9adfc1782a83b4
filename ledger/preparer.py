"""The worker process that prepares batches (ledger/prepare.py) for serve's consumer and for
rebuild's replay: started with them, replaced when it dies or hangs, stopped with them.

One process and two pipes, batches in and answers out in the same order. The consumer thread
sends a batch (:meth:`Preparer.submit`) and gets the worker it went to; the writer thread
takes that batch's answer from that worker (:meth:`Worker.answer`). A worker that dies,
answers nothing for ``ANSWER_TIMEOUT_S`` or cannot be written to is stopped; the batches it
held are decoded in the writer's process instead (:func:`write_prepared`), and the next
batch goes to a new worker. Nothing is lost either way: a batch is only written once.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import wait

from provenance_ledger.ledger.batch import BatchResult, Incoming, Rejected
from provenance_ledger.ledger.origin import OriginKey
from provenance_ledger.ledger.prepare import (
    Prepared,
    WorkerSetup,
    request_bytes,
    serve_requests,
    use_system_allocator,
)
from provenance_ledger.ledger.settings import Settings
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.ledger.writer import table_types
from provenance_ledger.schemas import cdevents
from provenance_ledger.schemas.codec import KafkaRecord

log = logging.getLogger(__name__)
# A batch of 5,000 events takes the worker ~0.3 s; this long means it is stuck.
ANSWER_TIMEOUT_S = 60.0
STOP_WAIT_S = 5.0


class Worker:
    """One worker process. Spawned, not forked: the ledger's process runs DuckDB's and
    kafka-python's threads, which a fork would copy mid-step."""

    def __init__(self, setup: WorkerSetup) -> None:
        spawn = multiprocessing.get_context("spawn")
        requests_in, self._requests = spawn.Pipe(duplex=False)
        self._answers, answers_out = spawn.Pipe(duplex=False)
        self._process = spawn.Process(
            target=serve_requests,
            args=(setup, requests_in, answers_out),
            name="provledger-prepare",
            daemon=True,
        )
        self._process.start()
        # Only the worker keeps these ends: when it dies, reading answers ends at once, and
        # when this process dies, the worker's next read ends (and so does the worker).
        requests_in.close()
        answers_out.close()
        self.broken = False

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def send(self, records: list[KafkaRecord]) -> bool:
        try:
            self._requests.send_bytes(request_bytes(records))
        except (OSError, ValueError) as exc:  # gone, or stopped by the writer meanwhile
            self._give_up(f"it takes no more batches ({exc})")
            return False
        return True

    def answer(self) -> Prepared | None:
        """The next batch's answer, in the order they were sent; None if the worker could
        not prepare it (then the caller decodes it)."""
        if self.broken:
            return None
        try:
            ready = wait([self._answers, self._process.sentinel], ANSWER_TIMEOUT_S)
            if self._answers not in ready:
                gone = self._process.sentinel in ready
                self._give_up("it exited" if gone else f"no answer in {ANSWER_TIMEOUT_S:g} s")
                return None
            answer = self._answers.recv()
        # Cut short: the worker died mid-answer, or was replaced after a failed send.
        except (EOFError, OSError, ValueError) as exc:
            self._give_up(f"its answer was cut short ({exc})")
            return None
        if isinstance(answer, str):
            log.warning("the worker could not prepare a batch (%s); decoding it here", answer)
            return None
        return answer

    def _give_up(self, why: str) -> None:
        if not self.broken:
            log.warning("the batch-preparing worker is stopped: %s; decoding here meanwhile", why)
        self.broken = True
        self._process.kill()

    def stop(self) -> None:
        """Close the requests (the worker exits after its batch), wait a little, then kill."""
        self._requests.close()
        self._process.join(STOP_WAIT_S)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._answers.close()


class Preparer:
    """Hands batches to the worker from the consumer thread; replaces a broken one."""

    def __init__(self, setup: WorkerSetup) -> None:
        self._setup = setup
        self._worker = Worker(setup)

    @classmethod
    def start(
        cls, ledger: Ledger, settings: Settings, origins: OriginKey | None
    ) -> Preparer | None:
        """A worker that prepares batches for ``ledger`` as this process would decode them;
        None when ``PROVLEDGER_PREPARE_WORKER`` is off or no process can be started."""
        use_system_allocator()  # as the worker does: this process holds batches too
        if not settings.prepare_worker:
            return None
        types = table_types(ledger.cursor())
        setup = WorkerSetup(types, settings.max_event_bytes, origins, cdevents.schemas_folder)
        try:
            return cls(setup)
        except OSError as exc:
            log.warning("no batch-preparing worker (%s); decoding in this process", exc)
            return None

    def submit(self, records: list[KafkaRecord]) -> Worker | None:
        """The worker preparing ``records``, whose next answer is theirs; None if there is
        none (the writer then decodes them)."""
        if self._worker.broken:
            self._worker.stop()
            self._worker = Worker(self._setup)
            log.info("started another batch-preparing worker")
        return self._worker if self._worker.send(records) else None

    def close(self) -> None:
        self._worker.stop()


def write_prepared(
    ledger: Ledger,
    worker: Worker | None,
    records: list[KafkaRecord],
    offsets: dict[tuple[str, int], int],
    decode: Callable[[], tuple[list[Incoming], list[Rejected]]],
) -> BatchResult:
    """Write ``records`` as ``worker`` prepared them; decoded here (``decode``) if it could
    not."""
    prepared = worker.answer() if worker is not None else None
    if prepared is None:
        return ledger.write_batch(*decode(), offsets)
    return ledger.write_prepared(prepared, records, offsets, decode)
