"""``provledger people import`` as an operator runs it, against a real broker and ``provledger
serve``: the first import registers everyone with a level, importing it again registers
nobody, a changed grade registers that one person, from the import's time on."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.producers import cli_env, run

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "people"
LEVELS = str(SAMPLES / "levels.yaml")


def import_people(server, path: Path, kind: str = "csv") -> dict:
    result = server.cli("people", "import", str(path), "--format", kind, "--levels", LEVELS,
                        "--json")  # fmt: skip
    return json.loads(result.stdout)


def registered(answer: dict) -> list[tuple[str, str, str | None]]:
    return [(r["person"]["id"], r["person"]["level"], r["previous_level"])
            for r in answer["registered"]]  # fmt: skip


def test_an_import_registers_changed_levels_only(start_server, tmp_path) -> None:
    server = start_server({"PROVLEDGER_SPOOL_DIR": str(tmp_path / "spool")})
    staff = tmp_path / "staff.csv"
    staff.write_text((SAMPLES / "staff.csv").read_text())

    first = import_people(server, staff)
    assert registered(first) == [
        ("ann@acme.example", "mid", None), ("bob@acme.example", "senior", None),
        ("cat@acme.example", "principal", None), ("dan@acme.example", "junior", None),
    ]  # fmt: skip
    assert first["unmapped"] == ["eve@acme.example"] and first["delivered"] is True
    server.wait_for_events(4)
    assert server.sql("SELECT person_id, level, team FROM people ORDER BY person_id") == [
        ["ann@acme.example", "mid", "checkout"], ["bob@acme.example", "senior", "payments"],
        ["cat@acme.example", "principal", "platform"], ["dan@acme.example", "junior", "checkout"],
    ]  # fmt: skip

    # Unchanged: nothing is emitted. A marker event shows the ledger read past the import.
    again = import_people(server, staff)
    assert (again["registered"], again["unchanged"]) == ([], 4)
    server.emit("incident.resolved", {"incident": "INC-MARK"})
    server.wait_for_events(5)
    assert server.stored() == 5

    # Bob's grade goes from L6 to L4: one registration, from the import's time on.
    staff.write_text(staff.read_text().replace(",L6,", ",L4,"))
    third = import_people(server, staff)
    assert registered(third) == [("bob@acme.example", "mid", "senior")]
    assert third["unchanged"] == 3
    server.wait_for_events(6)
    assert server.stored() == 6
    history = server.sql("SELECT level, valid_from FROM people "
                         "WHERE person_id = 'bob@acme.example' ORDER BY valid_from")  # fmt: skip
    assert [level for level, _ in history] == ["senior", "mid"]
    assert history[1][1] == third["time"]
    now = server.sql("SELECT level FROM person_levels "
                     "WHERE person_id = 'bob@acme.example' AND valid_to IS NULL")  # fmt: skip
    assert now == [["mid"]]

    # The other formats land the same way; their people are new here.
    scim = import_people(server, SAMPLES / "scim-users.json", "scim")
    backstage = import_people(server, SAMPLES / "backstage-users.yaml", "backstage")
    assert registered(scim) == [("bjensen@example.com", "senior", None),
                                ("jsmith@example.com", "principal", None)]  # fmt: skip
    assert registered(backstage) == [("jenny-doe@example.com", "senior", None),
                                     ("rob-smith@example.com", "mid", None)]  # fmt: skip
    server.wait_for_events(10)
    teams = server.sql("SELECT person_id, team FROM person_levels WHERE valid_to IS NULL "
                       "AND person_id NOT LIKE '%acme.example' ORDER BY person_id")  # fmt: skip
    assert teams == [
        ["bjensen@example.com", "Tour Operations"], ["jenny-doe@example.com", "team-b"],
        ["jsmith@example.com", None], ["rob-smith@example.com", "team-a"],
    ]  # fmt: skip


def test_without_the_api_an_import_needs_all(settings, tmp_path) -> None:
    env = cli_env(settings, tmp_path / "spool")  # PROVLEDGER_API where nothing listens
    args = ["people", "import", str(SAMPLES / "staff.csv"), "--format", "csv", "--levels", LEVELS]
    away = run(args, env)
    assert away.returncode == 3 and "cannot reach the provledger API" in away.stderr
    dry = run([*args, "--all", "--dry-run"], env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[1] == "bob@acme.example  senior  (new)"
    assert "would register 4 people; 0 unchanged" in dry.stderr
    assert "no level for 1 people" in dry.stderr and "eve@acme.example" in dry.stderr
    not_levels = ["--levels", str(SAMPLES / "staff.csv")]
    bad = run(["people", "import", str(SAMPLES / "staff.csv"), "--format", "csv", *not_levels], env)
    assert bad.returncode == 2 and "needs `levels:`" in bad.stderr
