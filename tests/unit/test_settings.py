from __future__ import annotations

import os

import pytest

from handlers.settings import Settings, SettingsError, load_settings

BASE = {
    "TABLE_NAME": "jobs",
    "CONSUMER_ID": "consumer_2",
    "OPTIMISTIC_LOCKING_RETRY_ATTEMPTS": "3",
    "TIMEOUT": "300",
}


def test_reads_the_contract_variables() -> None:
    settings = Settings.from_env(
        {**BASE, "FAULT_PLAN_PREFIX": "/jobkit/faults/", "JOBKIT_TIME_SCALE": "60"}, "processor"
    )
    assert settings == Settings(
        role="processor",
        table_name="jobs",
        consumer_id="consumer_2",
        optimistic_locking_retry_attempts=3,
        timeout=300,
        fault_plan_prefix="/jobkit/faults/",
        time_scale=60.0,
    )


def test_defaults_no_fault_injection_and_real_time() -> None:
    settings = Settings.from_env(BASE, "processor")
    assert settings.fault_plan_prefix is None and settings.time_scale == 1.0


@pytest.mark.parametrize("missing", ["TABLE_NAME", "CONSUMER_ID", "OPTIMISTIC_LOCKING_RETRY_ATTEMPTS", "TIMEOUT"])
def test_a_missing_variable_is_named(missing: str) -> None:
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(SettingsError, match=f"environment variable {missing} is required by the processor"):
        Settings.from_env(env, "processor")


def test_the_error_handler_needs_no_timeout() -> None:
    env = {k: v for k, v in BASE.items() if k != "TIMEOUT"}
    assert Settings.from_env(env, "error_handler").timeout is None
    with pytest.raises(SettingsError, match="CONSUMER_ID is required by the error_handler"):
        Settings.from_env({k: v for k, v in env.items() if k != "CONSUMER_ID"}, "error_handler")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OPTIMISTIC_LOCKING_RETRY_ATTEMPTS", "three", "must be an integer, got 'three'"),
        ("OPTIMISTIC_LOCKING_RETRY_ATTEMPTS", "0", "must be >= 1"),
        ("TIMEOUT", "5m", "TIMEOUT must be an integer"),
        ("JOBKIT_TIME_SCALE", "fast", "JOBKIT_TIME_SCALE must be a number"),
        ("JOBKIT_TIME_SCALE", "0", "JOBKIT_TIME_SCALE must be > 0"),
    ],
)
def test_malformed_values_are_named(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**BASE, name: value}, "processor")


def test_load_settings_reads_os_environ_once_per_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_settings("processor")
    assert first is load_settings("processor")
    assert first.consumer_id == os.environ["CONSUMER_ID"]
    monkeypatch.setenv("CONSUMER_ID", "consumer_9")
    assert load_settings("processor").consumer_id == "consumer_9"
