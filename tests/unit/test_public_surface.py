"""The public surface changes only on purpose: the OpenAPI document and the command list.

docs/openapi.json is the document users and generated clients rely on; a change to the API
shows up here as a diff to review (regenerate it with `make openapi`).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from provenance_ledger.query.api.app import create_app
from provenance_ledger.query.api.state import Limits
from provenance_ledger.query.cli.main import cli
from tests.support.commands import commands

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"

COMMAND_NAMES = {
    "backfill", "backfill git", "catalog", "catalog import", "check", "emit", "flush", "hook",
    "kafka", "kafka start", "kafka status", "kafka stop", "keys", "keys create", "people",
    "people import", "prove", "rebuild",
    "serve", "snapshot", "sql",
    "suspects", "token", "token create", "token list", "token revoke", "up", "verify",
    "verify-proof",
}  # fmt: skip


def current_openapi() -> dict:
    state = SimpleNamespace(limits=Limits(), tokens=None, auth_required=lambda: True)
    return create_app(state).openapi()  # type: ignore[arg-type]


def test_the_openapi_document_is_the_committed_one():
    assert current_openapi() == json.loads(OPENAPI.read_text())


def test_the_command_line_has_the_documented_commands():
    assert {name for name, _ in commands(cli)} == COMMAND_NAMES
