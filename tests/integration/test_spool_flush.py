"""Never break a build, never lose an event: spool while Kafka is away, flush exactly once."""

from __future__ import annotations

import json
import subprocess
import sys

from provenance_ledger.producers.spool import APPEND_FILE, Spool, SpooledEvent
from tests.support.producers import (
    cli_env,
    closed_port,
    run,
    running_ledger,
    settle,
    wait_for,
)
from tests.support.servers import provledger_command


def incident(n: int) -> str:
    return json.dumps({"incident": f"INC-{n}", "severity": "sev3", "services": ["checkout"]})


def test_broker_down_spools_and_flush_delivers_each_once(settings, tmp_path):
    spool_dir = tmp_path / "spool"
    down = cli_env(settings, spool_dir, PROVLEDGER_KAFKA_BOOTSTRAP=closed_port())
    ids = []
    for n in range(3):
        result = run(["emit", "incident.opened", "--data", incident(n), "--timeout", "1"], down)
        assert result.returncode == 0, result.stderr
        assert "spooled" in result.stderr and "warning" in result.stderr
        ids.append(result.stdout.strip())
    strict = run(["emit", "incident.resolved", "--data", '{"incident": "INC-0"}',
                  "--timeout", "1", "--strict"], down)  # fmt: skip
    assert strict.returncode == 3 and "--strict" in strict.stderr  # unreachable
    assert Spool(spool_dir).pending() == 4

    up = cli_env(settings, spool_dir)
    with running_ledger(settings) as ledger:
        flushed = run(["flush"], up)
        assert flushed.returncode == 0, flushed.stderr
        assert "delivered 4" in flushed.stdout
        assert run(["flush"], up).stdout.startswith("delivered 0")
        wait_for(ledger, 4)
        assert settle(ledger) == (4, 0)
        stored = ledger.cursor().execute("SELECT id FROM events ORDER BY seq").fetchall()
    assert [row[0] for row in stored][:3] == ids
    assert Spool(spool_dir).pending() == 0


def test_the_next_successful_emit_drains_the_spool_first(settings, tmp_path):
    spool_dir = tmp_path / "spool"
    down = cli_env(settings, spool_dir, PROVLEDGER_KAFKA_BOOTSTRAP=closed_port())
    first = run(["emit", "incident.opened", "--data", incident(1), "--timeout", "1"], down)
    assert first.returncode == 0
    with running_ledger(settings) as ledger:
        second = run(
            ["emit", "incident.opened", "--data", incident(2)], cli_env(settings, spool_dir)
        )
        assert second.returncode == 0, second.stderr
        wait_for(ledger, 2)
        order = ledger.cursor().execute("SELECT id FROM events ORDER BY seq").fetchall()
    assert [row[0] for row in order] == [first.stdout.strip(), second.stdout.strip()]


APPENDER = """
import sys
from provenance_ledger.producers.spool import Spool, SpooledEvent
spool = Spool(__import__("pathlib").Path(sys.argv[1]))
for n in range(200):
    spool.append([SpooledEvent({"specversion": "1.0", "id": f"{sys.argv[2]}-{n}",
        "source": "test/concurrent", "type": "dev.provledger.incident.resolved.v1",
        "time": "2026-11-26T10:00:00Z", "data": {"incident": "INC-1"}}, "json")])
"""


def test_two_concurrent_writers_and_a_torn_line(settings, tmp_path):
    spool_dir = tmp_path / "spool"
    writers = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(spool_dir), name])
        for name in ("job-a", "job-b")
    ]
    down = cli_env(settings, spool_dir, PROVLEDGER_KAFKA_BOOTSTRAP=closed_port())
    emitters = [
        subprocess.Popen(
            [*provledger_command(), "emit", "incident.opened",
             "--data", incident(n), "--timeout", "1"],
            env=down, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for n in range(2)
    ]  # fmt: skip
    assert all(writer.wait(timeout=60) == 0 for writer in writers)
    assert all(emitter.wait(timeout=60) == 0 for emitter in emitters)
    # A crash mid-write: a torn last line, then another event spooled after it.
    with open(spool_dir / APPEND_FILE, "ab") as handle:
        handle.write(b'{"fmt":"json","event":{"specversion":"1.0","id":"torn-')
    again = run(["emit", "incident.opened", "--data", incident(9), "--timeout", "1"], down)
    assert again.returncode == 0
    assert Spool(spool_dir).pending() == 403

    with running_ledger(settings) as ledger:
        flushed = run(["flush"], cli_env(settings, spool_dir))
        assert flushed.returncode == 0, flushed.stderr
        wait_for(ledger, 403)
        assert settle(ledger) == (403, 0)
        per_job = (
            ledger.cursor()
            .execute(
                "SELECT split_part(id, '-', 2), count(*), count(DISTINCT id) FROM events "
                "WHERE source = 'test/concurrent' GROUP BY 1 ORDER BY 1"
            )
            .fetchall()
        )
    assert per_job == [("a", 200, 200), ("b", 200, 200)]


def test_emitter_typed_helpers_batch_and_flush_on_exit(settings):
    from provenance_ledger.producers.emitter import Emitter

    sha = "c" * 40
    with running_ledger(settings) as ledger:
        with Emitter(settings.kafka_bootstrap, settings.topic, source="ci/acme/shop") as emitter:
            emitter.person_registered({"id": "ann@acme.example", "level": "senior"})
            emitter.change_authored("acme/shop", sha, {"id": "ann@acme.example"},
                                    files=["a.py"], lines_added=3, lines_deleted=0,
                                    ai=[{"tool": "claude-code", "lines": 3}])  # fmt: skip
            emitter.change_reviewed("acme/shop", sha, {"id": "bob@acme.example"}, "approved")
            emitter.service_deployed("checkout", "prod", "1.0", commit=sha, commits=[sha])
            emitter.incident_opened("INC-9", "sev2", ["checkout"], environment="prod")
            emitter.incident_attributed("INC-9", "confirmed", {"id": "bob@acme.example"},
                                        commit=sha, repo="acme/shop")  # fmt: skip
        wait_for(ledger, 6)
        types = ledger.cursor().execute("SELECT type FROM events ORDER BY seq").fetchall()
    assert [t[0].split(".")[2] + "." + t[0].split(".")[3] for t in types] == [
        "person.registered", "change.authored", "change.reviewed", "service.deployed",
        "incident.opened", "incident.attributed",
    ]  # fmt: skip


def test_a_spooled_event_that_no_longer_validates_becomes_a_dead_letter(settings, tmp_path):
    spool_dir = tmp_path / "spool"
    bad = {"specversion": "1.0", "id": "bad-1", "source": "test/poison",
           "type": "dev.provledger.incident.opened.v1", "time": "2026-11-26T10:00:00Z",
           "data": {"incident": "INC-1"}}  # fmt: skip
    Spool(spool_dir).append([SpooledEvent(bad, "avro")])
    down = cli_env(settings, spool_dir, PROVLEDGER_KAFKA_BOOTSTRAP=closed_port())
    assert (
        run(["emit", "incident.opened", "--data", incident(1), "--timeout", "1"], down).returncode
        == 0
    )
    with running_ledger(settings) as ledger:
        assert run(["flush"], cli_env(settings, spool_dir)).returncode == 0
        wait_for(ledger, 1)
        assert settle(ledger) == (1, 1)
    assert Spool(spool_dir).pending() == 0
