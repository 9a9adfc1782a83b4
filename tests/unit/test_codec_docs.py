"""schemas/README.md shows real bytes and real events: checked against the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

from provenance_ledger.schemas import avro
from provenance_ledger.schemas.codec import REASONS, DecodedEvent, validate_event

SCHEMAS = Path(avro.__file__).resolve().parent
README = (SCHEMAS / "README.md").read_text()


def json_blocks() -> list[object]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", README, re.S)]


def test_every_example_is_in_the_readme_and_valid() -> None:
    shown = json_blocks()
    for path in sorted((SCHEMAS / "examples").glob("*.json")):
        obj = json.loads(path.read_text())
        assert obj in shown, f"{path.name} is not shown in schemas/README.md"
        assert isinstance(validate_event(obj), DecodedEvent), path.name
    for obj in shown:
        assert isinstance(validate_event(obj), DecodedEvent), obj


def test_the_worked_binary_example_is_what_the_codec_writes() -> None:
    block = README.split("value (42 bytes):\n", 1)[1].split("```", 1)[0]
    shown = bytes.fromhex(
        " ".join(re.match(r"((?:[0-9a-f]{2} ?)+)", line).group(1) for line in block.splitlines())
    )
    event = json_blocks()[0]
    decoded = validate_event(event)
    assert isinstance(decoded, DecodedEvent)
    headers, value = avro.binary_message(decoded)
    assert value == shown
    for name, raw in headers:
        assert re.search(rf"^{name}:\s+{re.escape(raw.decode())}$", README, re.M), name


def test_every_fingerprint_and_reason_is_documented() -> None:
    for event_type, writer in avro.default_registry().current.items():
        assert f"| `{event_type}` | `{writer.fingerprint.hex(' ')}` |" in README
    for code in REASONS:
        assert f"| `{code}` |" in README
