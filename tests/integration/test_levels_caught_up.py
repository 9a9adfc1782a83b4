"""The per-file copy of everyone's levels is caught up with the registrations written since it
was read, not read again: after every batch it must answer as a fresh read of people does,
for every person, instant and trusted origin; and a file that now holds another ledger must
be read anew."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from provenance_ledger.ledger.batch import Incoming
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.policy.levels import Levels, all_levels, load_levels
from provenance_ledger.schemas.codec import KafkaRecord
from tests.support.provstory import IMPACT, Story

PEOPLE = [f"p{n}@shop" for n in range(9)]
LEVELS = ["junior", "mid", "senior", "principal"]
ORIGINS = ["kafka", "hook:ide", "ci:build"]
TRUSTED = [None, ["kafka"], ["hook:*"], ["ci:build", "kafka"]]


def _write(ledger: Ledger, story: Story, origins: list[str]) -> None:
    start = ledger.committed_offsets("direct").get(0, 0)
    incoming = [
        Incoming(KafkaRecord("direct", 0, start + at, None, decoded.canonical), decoded, origin)
        for at, (decoded, origin) in enumerate(zip(story.events, origins, strict=True))
    ]
    ledger.write_batch(incoming, [], {("direct", 0): start + len(incoming)})


def _registrations(rng: random.Random, used: set[int], count: int) -> tuple[Story, list[str]]:
    """``count`` registrations at minutes not used before (an event's id holds its minute),
    earlier and later than those already written."""
    story, origins = Story(), []
    for _ in range(count):
        minutes = rng.choice([m for m in range(-3000, 0, 7) if m not in used])
        used.add(minutes)
        story.person(rng.choice(PEOPLE), rng.choice(LEVELS), minutes)
        origins.append(rng.choice(ORIGINS))
    return story, origins


def _answers(levels: Levels, rng_seed: int) -> list[str | None]:
    rng = random.Random(rng_seed)
    instants = [IMPACT + timedelta(minutes=rng.randrange(-3100, 10)) for _ in range(25)]
    return [
        levels.at(person.upper() if n % 2 else person, when, trusted)
        for n, person in enumerate(PEOPLE)
        for when in instants
        for trusted in TRUSTED
    ]


def test_the_copy_caught_up_answers_as_a_fresh_read_after_every_batch(tmp_path: Path) -> None:
    rng, used = random.Random(31), set[int]()
    ledger = Ledger.open(tmp_path / "ledger.duckdb", migrate=True)
    try:
        previous = None
        for batch in range(25):
            _write(ledger, *_registrations(rng, used, rng.randrange(1, 12)))
            if batch % 4 == 3:
                unrelated = Story()
                unrelated.change(batch, PEOPLE[0], -1)
                _write(ledger, unrelated, ["kafka"])
            cur = ledger.cursor()
            kept = all_levels(cur)
            assert kept is not None
            assert all_levels(cur) is kept  # caught up to what it counted: not read again
            fresh = load_levels(cur, PEOPLE)
            assert _answers(kept, batch) == _answers(fresh, batch), f"after batch {batch}"
            if previous is not None:
                # The copy other threads may still hold is left as it was.
                assert previous[0] is not kept
                assert _answers(previous[0], 99) == previous[1]
            previous = (kept, _answers(kept, 99))
    finally:
        ledger.close()


def test_a_file_that_now_holds_another_ledger_is_read_anew(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    first = Ledger.open(path, migrate=True)
    try:
        story = Story()
        story.person(PEOPLE[0], "junior", -500)
        story.person(PEOPLE[1], "junior", -400)
        _write(first, story, ["kafka", "kafka"])
        levels = all_levels(first.cursor())
        assert levels is not None
        assert levels.at(PEOPLE[0], IMPACT) == "junior"
    finally:
        first.close()
    path.unlink()

    # More registrations than the first ledger had, and its last seq passed: a catch-up from
    # the first ledger's copy would keep PEOPLE[0] junior.
    second = Ledger.open(path, migrate=True)
    try:
        story = Story()
        story.person(PEOPLE[0], "principal", -600)
        story.person(PEOPLE[2], "mid", -300)
        story.person(PEOPLE[3], "senior", -200)
        _write(second, story, ["kafka", "kafka", "kafka"])
        levels = all_levels(second.cursor())
        assert levels is not None
        assert levels.at(PEOPLE[0], IMPACT) == "principal"
        assert levels.at(PEOPLE[1], IMPACT) is None
        assert levels.at(PEOPLE[3], IMPACT) == "senior"
    finally:
        second.close()
