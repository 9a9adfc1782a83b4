"""Settings from PROVLEDGER_* variables: a bad value is refused with the variable's name."""

from __future__ import annotations

import pytest

from provenance_ledger.ledger.settings import Settings


def test_defaults_leave_duckdbs_memory_limit_alone():
    assert Settings.from_env({}).duckdb_memory_limit is None
    assert Settings.from_env({"PROVLEDGER_DUCKDB_MEMORY_LIMIT": " "}).duckdb_memory_limit is None


@pytest.mark.parametrize("size", ["512MB", "2GB", "1.5GiB", "300 mb", "1024KiB"])
def test_memory_limits_are_sizes_duckdb_understands(size):
    settings = Settings.from_env({"PROVLEDGER_DUCKDB_MEMORY_LIMIT": size})
    assert settings.duckdb_memory_limit == size


@pytest.mark.parametrize("size", ["lots", "512", "-1GB", "1GB'; DROP TABLE events; --", "GB"])
def test_a_memory_limit_that_is_not_a_size_names_the_variable(size):
    with pytest.raises(ValueError, match="PROVLEDGER_DUCKDB_MEMORY_LIMIT must be a size"):
        Settings.from_env({"PROVLEDGER_DUCKDB_MEMORY_LIMIT": size})


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("PROVLEDGER_BATCH_MAX", "many"),
        ("PROVLEDGER_BATCH_LATENCY_S", "soon"),
        ("PROVLEDGER_MAX_EVENT_BYTES", "1MB"),
    ],
)
def test_a_number_setting_that_is_not_a_number_names_the_variable(name, raw):
    with pytest.raises(ValueError, match=f"{name} must be a number, not '{raw}'"):
        Settings.from_env({name: raw})


def test_number_settings_are_read():
    settings = Settings.from_env(
        {"PROVLEDGER_BATCH_MAX": "200", "PROVLEDGER_BATCH_LATENCY_S": "0.5"}
    )
    assert (settings.batch_max_records, settings.batch_max_latency_s) == (200, 0.5)


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
            "PROVLEDGER_STALL_S": "10",
        }
    )
    assert (settings.group_id, settings.topic_partitions) == ("ledger-eu", 6)
    assert (settings.topic_replication, settings.stall_after_s) == (3, 10.0)


@pytest.mark.parametrize(
    "name", ["PROVLEDGER_TOPIC_PARTITIONS", "PROVLEDGER_TOPIC_REPLICATION", "PROVLEDGER_STALL_S"]
)
def test_counts_and_periods_must_be_positive(name):
    with pytest.raises(ValueError, match=f"{name} must be greater than 0"):
        Settings.from_env({name: "0"})
