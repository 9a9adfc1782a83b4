"""People from a directory: the recorded CSV, SCIM and Backstage samples
(tests/fixtures/people), levels files, what an import registers, and hostile files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance_ledger.producers.directory import (
    MAX_PEOPLE,
    DirectoryError,
    Listed,
    read_backstage,
    read_csv,
    read_scim,
)
from provenance_ledger.producers.people import LevelsError, event_id, load_levels, plan

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "people"
LEVELS = load_levels((SAMPLES / "levels.yaml").read_text(), "levels.yaml")


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def test_a_csv_export():
    found = read_csv(sample("staff.csv"))
    assert found.people[1] == Listed(
        "bob@acme.example", "Bob Senior", "Senior Software Engineer", "L6", "payments"
    )
    assert [LEVELS.level_of(person) for person in found.people] == [
        "mid", "senior", "principal", "junior", None,
    ]  # fmt: skip
    assert found.warnings == []


def test_a_scim_list_response():
    found = read_scim(sample("scim-users.json"))
    assert found.people == [
        Listed("bjensen@example.com", "Babs Jensen", "Senior Software Engineer", None,
               "Tour Operations"),  # the primary email, not the first
        Listed("jsmith@example.com", "John Smith", "Principal Engineer"),  # userName is an email
    ]  # fmt: skip
    assert found.warnings == ["user 4: no email"]  # user 3 is inactive: left out, no warning
    single = json.loads(sample("scim-users.json"))["Resources"][1]
    assert read_scim(json.dumps(single)).people == found.people[1:]
    assert read_scim(json.dumps([single])).people == found.people[1:]


def test_backstage_user_entities():
    found = read_backstage(sample("backstage-users.yaml"))
    assert found.people == [
        Listed("jenny-doe@example.com", "Jenny Doe", None, "L5", "team-b"),
        Listed("rob-smith@example.com", "Rob Smith", "Software Engineer", None, "team-a"),
    ]
    assert found.warnings == ["document 4: user build-bot has no spec.profile.email"]
    assert [LEVELS.level_of(person) for person in found.people] == ["senior", "mid"]
    api = {"items": [{"kind": "User", "spec": {"profile": {"email": "x@acme.example"}}}]}
    assert [p.id for p in read_backstage(json.dumps(api)).people] == ["x@acme.example"]


def test_the_first_matching_rule_wins_and_the_default_catches_the_rest():
    levels = load_levels(
        "levels:\n  - {title_pattern: engineer, level: mid}\n  - {title: Senior Engineer, "
        "level: senior}\n  - {grade: 7, level: principal}\ndefault: junior\n",
        "x.yaml",
    )
    assert levels.level_of(Listed("a", title="Senior Engineer")) == "mid"
    assert levels.level_of(Listed("a", title="  senior MANAGER ", grade="7")) == "principal"
    assert levels.level_of(Listed("a", title="Designer")) == "junior"
    assert load_levels("levels: []", "x").level_of(Listed("a", title="CTO")) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("levels: [{title: CTO, level: boss}]", "a level"),
        ("levels: [{title: CTO, grade: L9, level: senior}]", "one of title"),
        ("levels: [{title_pattern: '(', level: senior}]", "missing \\)"),
        ("levels: [{title_pattern: '" + "a" * 201 + "', level: senior}]", "longer than"),
        ("levels: [{title: [1], level: senior}]", "text"),
        ("levels: {title: CTO}", "a list of rules"),
        ("levels: []\ndefault: staff", "default"),
        ("levels: []\ncsv: {email: Mail}", "csv names columns"),
        ("levels: [" + "{grade: L1, level: junior}, " * 1001 + "]", "more than 1000"),
        ("levels: [\n", "not valid YAML"),
    ],
)
def test_a_bad_levels_file_says_what_is_wrong(text, reason):
    with pytest.raises(LevelsError, match=reason):
        load_levels(text, "levels.yaml")


def test_csv_columns_named_in_the_levels_file():
    levels = load_levels("levels: []\ncsv: {id: Work Email, grade: Band}", "x")
    found = read_csv("Person,Work Email,Band\nAnn,ann@acme.example,L4\n", levels.columns)
    assert found.people == [Listed("ann@acme.example", grade="L4")]
    with pytest.raises(DirectoryError, match="no id column"):
        read_csv("Person,Band\nAnn,L4\n")


def test_only_changed_levels_and_teams_register():
    directory = read_csv(sample("staff.csv"))
    everyone = plan(directory, LEVELS, None)
    assert [r["person"]["id"][:3] for r in everyone.registrations] == ["ann", "bob", "cat", "dan"]
    ann = {"id": "ann@acme.example", "level": "mid", "name": "Ann Dev", "team": "checkout"}
    assert everyone.registrations[0] == {"person": ann}
    assert everyone.unmapped == ["eve@acme.example"]
    current = {
        "ann@acme.example": ("mid", "checkout"),  # unchanged
        "bob@acme.example": ("mid", "payments"),  # promoted
        "cat@acme.example": ("principal", "infra"),  # moved team
        "dan@acme.example": ("junior", "checkout"),
    }
    changed = plan(directory, LEVELS, current)
    assert [r["person"]["id"][:3] for r in changed.registrations] == ["bob", "cat"]
    assert changed.previous == {"bob@acme.example": "mid", "cat@acme.example": "principal"}
    assert changed.unchanged == 2
    no_team = read_csv("email,grade\nANN@acme.example,L3\n")
    assert plan(no_team, LEVELS, current).unchanged == 1  # ids compare without case


def test_event_ids_follow_content_and_time():
    data = {"person": {"id": "ann@acme.example", "level": "mid"}}
    assert event_id(data, "t1") == event_id(dict(data), "t1") != event_id(data, "t2")
    assert event_id(data, "t1").startswith("ann@acme.example@")


def test_hostile_csv_rows_are_reported_and_skipped():
    rows = [
        "email,title,grade",
        "a@acme.example,Engineer,L3",
        "b@acme.example," + "x" * 200_000 + ",L3",  # over the csv module's field limit
        "c@acme.example,Eng\0ineer,L3",
        "short@acme.example",
        ",,L3",
        "a@acme.example,Again,L5",
        '"d@acme.example,unterminated',  # a quote left open takes the rest as one value
    ]
    found = read_csv("\n".join(rows) + "\n")
    assert [p.id for p in found.people] == [
        "a@acme.example", "c@acme.example", "short@acme.example", "d@acme.example,unterminated",
    ]  # fmt: skip
    assert len(found.warnings) == 3 and "listed again" in found.warnings[-1]
    assert found.people[1].title == "Eng ineer"  # no control character travels on


@pytest.mark.timeout(20)
def test_a_directory_past_the_cap_keeps_the_first_people():
    rows = "".join(f"p{n}@acme.example,L3\n" for n in range(MAX_PEOPLE + 5))
    found = read_csv("email,grade\n" + rows)
    assert len(found.people) == MAX_PEOPLE
    assert found.warnings == [f"line {MAX_PEOPLE + 2}: more than 200,000 people; the rest are "
                              "left out"]  # fmt: skip
    assert plan(found, LEVELS, None).registrations[-1]["person"]["level"] == "mid"


@pytest.mark.parametrize(
    ("reader", "text", "reason"),
    [
        (read_scim, "[" * 100_000, "deeper than"),
        (read_scim, '{"Resources": [1, "x", {"emails": "nope"}]', "not JSON"),
        (read_scim, "42", "not a SCIM User"),
        (read_backstage, "kind: User\n  bad: [indent", "not valid YAML"),
        (read_csv, "", "no header row"),
    ],
)
def test_a_file_that_is_not_the_format_is_one_error(reader, text, reason):
    with pytest.raises(DirectoryError, match=reason):
        reader(text)


def test_odd_values_in_scim_and_backstage_are_warnings_not_crashes():
    scim = read_scim(json.dumps({"Resources": [1, {"emails": "nope", "userName": 5},
                                               {"emails": [{"value": ["x"]}, {"value": "ok@x"}],
                                                "name": "flat", "title": {"a": 1}}]}))  # fmt: skip
    assert scim.people == [Listed("ok@x")] and scim.warnings == ["user 1: not an object",
                                                                   "user 2: no email"]  # fmt: skip
    backstage = read_backstage(
        "kind: User\nmetadata: 3\nspec: {profile: {email: a@x}, memberOf: [{}, 7, group:b/c]}\n"
        "---\n- 1\n- {kind: user, spec: {profile: []}}\n---\nnull\n"
    )
    assert backstage.people == [Listed("a@x", team="c")]
    assert backstage.warnings == ["document 2 item 2: user document 2 item 2 has no "
                                  "spec.profile.email"]  # fmt: skip
