"""Settings from PROVLEDGER_* variables: one frozen tree, a bad value refused with the
variable's name (exit 2 on the command line), secrets never shown."""

from __future__ import annotations

import copy
import json
import logging
import os
import pickle
import subprocess
import sys
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from provenance_ledger.ledger.health import ConsumerStatus
from provenance_ledger.ledger.settings import (
    ApiSettings,
    ProducerSettings,
    Secrets,
    SettingError,
    Settings,
)
from provenance_ledger.ledger.store import Ledger
from provenance_ledger.query.api.app import create_app
from provenance_ledger.query.api.state import AppState, Limits
from provenance_ledger.query.sql.pool import worker_env
from provenance_ledger.schemas.errors import UsageProblem
from tests.support.provstory import Story, sha, write_direct

TOKEN = "plg_" + "s" * 43
HASHES = "read:" + "ab" * 32


def test_defaults_leave_duckdbs_memory_limit_alone():
    assert Settings.from_env({}).duckdb_memory_limit is None
    assert Settings.from_env({"PROVLEDGER_DUCKDB_MEMORY_LIMIT": " "}).duckdb_memory_limit is None


@pytest.mark.parametrize(
    ("size", "limit"),
    [("512MB", "512000000B"), ("1.5GiB", "1610612736B"), ("300 mb", "300000000B")],
)
def test_memory_limits_reach_duckdb_in_bytes(size, limit):
    settings = Settings.from_env({"PROVLEDGER_DUCKDB_MEMORY_LIMIT": size})
    assert settings.duckdb_memory_limit == limit


@pytest.mark.parametrize("size", ["lots", "512", "-1GB", "1GB'; DROP TABLE events; --", "GB"])
def test_a_memory_limit_that_is_not_a_size_names_the_variable(size):
    with pytest.raises(SettingError, match=r"^PROVLEDGER_DUCKDB_MEMORY_LIMIT: expected a size"):
        Settings.from_env({"PROVLEDGER_DUCKDB_MEMORY_LIMIT": size})


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("PROVLEDGER_BATCH_MAX", "many", "a whole number such as 5000, not 'many'"),
        ("PROVLEDGER_SQL_WORKERS", "2.5", "a whole number such as 5000, not '2.5'"),
        ("PROVLEDGER_BATCH_LATENCY_S", "soon", "a duration such as 30 (seconds), 90s"),
        ("PROVLEDGER_SQL_TIMEOUT_S", "-1", "a duration greater than 0, not '-1'"),
        ("PROVLEDGER_MAX_EVENT_BYTES", "1XB", "a size such as 1048576, 512KiB or 64MB"),
        ("PROVLEDGER_SQL_MAX_BYTES", "99999999TiB", "a size of at most 9223372036854775807"),
        ("PROVLEDGER_HOOK_DELIVERY", "later", "one of background, spool, not 'later'"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_form_expected(name, raw, expected):
    with pytest.raises(SettingError) as caught:
        Settings.from_env({name: raw})
    assert str(caught.value).startswith(f"{name}: expected {expected}")
    assert caught.value.name == name
    assert isinstance(caught.value, UsageProblem) and caught.value.exit_code == 2


@pytest.mark.parametrize(
    "name",
    [
        "PROVLEDGER_TOPIC_PARTITIONS",
        "PROVLEDGER_TOPIC_REPLICATION",
        "PROVLEDGER_STALL_S",
        "PROVLEDGER_BATCH_MAX",
        "PROVLEDGER_MAX_EVENT_BYTES",
        "PROVLEDGER_SQL_MAX_ROWS",
        "PROVLEDGER_SQL_QUEUE_S",
        "PROVLEDGER_MAX_BATCH_EVENTS",
    ],
)
def test_counts_sizes_and_periods_must_be_positive(name):
    with pytest.raises(SettingError, match=f"^{name}: expected .* greater than 0, not '0'"):
        Settings.from_env({name: "0"})


def test_numbers_sizes_and_durations_are_read_with_their_units():
    settings = Settings.from_env(
        {
            "PROVLEDGER_BATCH_MAX": "200",
            "PROVLEDGER_BATCH_LATENCY_S": "0",  # a batch per poll
            "PROVLEDGER_STALL_S": "2m",
            "PROVLEDGER_MAX_EVENT_BYTES": "2MiB",
            "PROVLEDGER_SQL_TIMEOUT_S": "1.5",
            "PROVLEDGER_SQL_MAX_BYTES": "64MB",
            "PROVLEDGER_MAX_BODY_BYTES": "100",
        }
    )
    assert (settings.batch_max_records, settings.batch_max_latency_s) == (200, 0.0)
    assert (settings.stall_after_s, settings.max_event_bytes) == (120.0, 2 << 20)
    assert (settings.sql.timeout_s, settings.sql.max_bytes) == (1.5, 64_000_000)
    assert settings.api.max_body_bytes == 100


def test_topic_group_and_stall_settings():
    defaults = Settings.from_env({})
    assert defaults.group_id is None  # derived from the ledger file's id
    assert (defaults.topic_partitions, defaults.topic_replication) == (1, None)
    assert defaults.stall_after_s == 30.0
    settings = Settings.from_env(
        {
            "PROVLEDGER_GROUP": "ledger-eu",
            "PROVLEDGER_TOPIC_PARTITIONS": "6",
            "PROVLEDGER_TOPIC_REPLICATION": "3",
            "PROVLEDGER_API": "http://api.example/",
        }
    )
    assert (settings.group_id, settings.topic_partitions) == ("ledger-eu", 6)
    assert (settings.topic_replication, settings.api_url) == (3, "http://api.example")


def test_blank_is_unset_and_the_bootstrap_is_known_to_be_given():
    assert Settings.from_env({"PROVLEDGER_TOPIC": "  ", "PROVLEDGER_BATCH_MAX": ""}) == Settings(
        db_path=Settings.from_env({}).db_path
    )
    assert not Settings.from_env({}).bootstrap_from_env
    given = Settings.from_env({"PROVLEDGER_KAFKA_BOOTSTRAP": "k:9092"})
    assert given.bootstrap_from_env and given.kafka_bootstrap == "k:9092"


def test_paths_follow_the_settings_else_the_xdg_folders(tmp_path):
    env = {"XDG_DATA_HOME": "/data", "XDG_CONFIG_HOME": "/cfg"}
    defaults = Settings.from_env(env)
    assert defaults.db_path == Path("/data/provledger/ledger.duckdb")
    assert defaults.producer.spool_dir == Path("/data/provledger/spool")
    assert defaults.producer.hook_log == Path("/data/provledger/hooks.log")
    assert defaults.api.tokens_file == Path("/cfg/provledger/tokens.json")
    spool = Settings.from_env({**env, "PROVLEDGER_SPOOL_DIR": str(tmp_path / "spool")})
    assert spool.producer.hook_log == tmp_path / "hooks.log"  # beside the spool
    named = Settings.from_env(
        {"PROVLEDGER_TOKENS_FILE": "~/t.json", "PROVLEDGER_HOOK_LOG": "/logs/hook.log"}
    )
    assert named.api.tokens_file == Path.home() / "t.json"
    assert named.producer.hook_log == Path("/logs/hook.log")


def test_the_api_and_producer_sections():
    settings = Settings.from_env(
        {
            "PROVLEDGER_CORS_ORIGINS": "https://a, https://b,",
            "PROVLEDGER_FORGE_URL": "https://git.example/",
            "PROVLEDGER_POLICY": "/etc/policy.yaml",
            "PROVLEDGER_AI_MODEL": "claude-opus-4.1",
            "PROVLEDGER_ENVIRONMENT": "prod",
            "PROVLEDGER_SERVICE": "checkout",
            "PROVLEDGER_HOOK_DELIVERY": "spool",
        }
    )
    assert settings.api.cors_origins == ("https://a", "https://b")
    assert settings.api.forge_url == "https://git.example"
    assert settings.api.policy_file == Path("/etc/policy.yaml")
    producer = settings.producer
    assert (producer.ai_model, producer.environment, producer.service) == (
        "claude-opus-4.1",
        "prod",
        "checkout",
    )
    assert producer.hook_delivery == "spool"


def test_the_hook_reads_its_own_section_only():
    env = {"PROVLEDGER_BATCH_MAX": "many", "PROVLEDGER_AI_MODEL": "m", "XDG_DATA_HOME": "/d"}
    producer = ProducerSettings.from_env(env)
    assert producer.ai_model == "m" and producer.spool_dir == Path("/d/provledger/spool")
    with pytest.raises(SettingError, match="PROVLEDGER_HOOK_DELIVERY"):
        ProducerSettings.from_env({"PROVLEDGER_HOOK_DELIVERY": "now"})


def test_the_api_limits_are_the_settings():
    assert Limits.from_settings(Settings()) == Limits()  # one set of defaults
    limits = Limits.from_settings(
        Settings.from_env(
            {
                "PROVLEDGER_SQL_MAX_ROWS": "10",
                "PROVLEDGER_SQL_WORKERS": "4",
                "PROVLEDGER_SQL_FRESHNESS_S": "1",
                "PROVLEDGER_MAX_BATCH_EVENTS": "7",
                "PROVLEDGER_CORS_ORIGINS": "https://a",
            }
        )
    )
    assert (limits.sql.max_rows, limits.sql_service.workers) == (10, 4)
    assert limits.sql_service.freshness_wait_s == 1.0
    assert (limits.max_batch_events, limits.cors_origins) == (7, ("https://a",))


def test_the_tree_is_frozen():
    settings = Settings.from_env({"PROVLEDGER_TOKEN": TOKEN})
    for section, attribute in [
        (settings, "topic"),
        (settings, "api"),
        (settings.api, "forge_url"),
        (settings.sql, "timeout_s"),
        (settings.producer, "spool_dir"),
        (settings.local_kafka, "data_dir"),
        (settings.secrets, "token"),
        (settings.secrets, "_raw"),
    ]:
        with pytest.raises(FrozenInstanceError):
            setattr(section, attribute, None)
    with pytest.raises(FrozenInstanceError):
        del settings.secrets._raw
    assert replace(settings, topic="t").topic == "t" and settings.topic != "t"


def test_secrets_are_secretstr_and_never_shown(caplog):
    settings = Settings.from_env({"PROVLEDGER_TOKEN": TOKEN, "PROVLEDGER_TOKEN_HASHES": HASHES})
    token, hashes = settings.secrets.token, settings.secrets.token_hashes
    assert isinstance(token, SecretStr) and token.get_secret_value() == TOKEN
    assert isinstance(hashes, SecretStr) and hashes.get_secret_value() == HASHES
    with caplog.at_level(logging.INFO):
        logging.getLogger("provledger.test").info("settings %s %r", settings, settings)
    shown = [repr(settings), str(settings), f"{token} {hashes!r}", caplog.text]
    shown.append(json.dumps(str(settings.secrets)))
    for text in shown:
        assert TOKEN not in text and "ab" * 32 not in text
    assert "token='**********'" in repr(settings)
    assert Settings.from_env({}).secrets.token is None


def test_secrets_survive_a_copy_and_compare_by_value():
    secrets = Secrets(TOKEN, HASHES)
    for twin in (copy.copy(secrets), copy.deepcopy(secrets), pickle.loads(pickle.dumps(secrets))):
        assert twin == secrets and hash(twin) == hash(secrets)
        assert twin.token is not None and twin.token.get_secret_value() == TOKEN
    assert Secrets(TOKEN) != secrets


def test_sql_workers_start_without_the_servers_settings(monkeypatch):
    monkeypatch.setenv("PROVLEDGER_TOKEN_HASHES", HASHES)
    monkeypatch.setenv("HOME", "/home/sre")
    env = worker_env()
    assert not [name for name in env if name.startswith("PROVLEDGER_")]
    assert env["HOME"] == "/home/sre" and env["MALLOC_ARENA_MAX"] == "2"


def _provledger(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "provenance_ledger.query", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], **env},
        timeout=60,
    )


def test_a_bad_value_exits_2_naming_the_variable(tmp_path):
    env = {"HOME": str(tmp_path), "PROVLEDGER_SQL_MAX_BYTES": "lots"}
    done = _provledger(env, "token", "list")
    assert done.returncode == 2, done.stderr
    assert "PROVLEDGER_SQL_MAX_BYTES: expected a size such as" in done.stderr
    assert "'lots'" in done.stderr


def test_the_hook_logs_a_bad_value_of_its_own_and_ignores_the_others(tmp_path):
    log = tmp_path / "hooks.log"
    base = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    other = _provledger(
        {**base, "PROVLEDGER_HOOK_LOG": str(log), "PROVLEDGER_BATCH_MAX": "many"},
        "hook",
        "claude-code",
    )
    assert other.returncode == 0 and not log.exists()
    own = _provledger({**base, "PROVLEDGER_HOOK_DELIVERY": "now"}, "hook", "claude-code")
    assert own.returncode == 0
    # Its section unread, the hook logs where the default settings say.
    logged = (tmp_path / "data" / "provledger" / "hooks.log").read_text()
    assert "PROVLEDGER_HOOK_DELIVERY: expected one of background, spool" in logged


def test_the_pages_link_commits_to_the_forge_the_settings_name():
    story = Story()
    story.change(1, "ann", -30, repo="acme/shop")
    ledger = Ledger.open(":memory:", migrate=True)
    write_direct(ledger, story.events)
    settings = Settings(api=ApiSettings(forge_url="https://git.example"))
    state = AppState(ledger, settings, ConsumerStatus, lambda events: None)
    with TestClient(create_app(state), base_url="http://127.0.0.1") as client:
        page = client.get(f"/ui/commits/{sha(1)}", params={"repo": "acme/shop"})
    ledger.close()
    assert page.status_code == 200, page.text
    assert f'href="https://git.example/acme/shop/commit/{sha(1)}"' in page.text
