from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobkit.client.deployment import Deployment
from jobkit.errors import JobkitError
from jobkit.targets.catalog import DEFAULT_TARGET, TARGET_NAMES, TARGETS, capabilities, start_hint
from scenarios._runner import discover


def test_one_description_of_the_targets_serves_the_cli_the_plugin_and_the_scenarios() -> None:
    assert DEFAULT_TARGET in TARGET_NAMES == ("embedded", "localstack", "aws")
    help_text = subprocess.run([sys.executable, "-m", "jobkit.cli", "up", "--help"], capture_output=True,
                               env={**os.environ, "COLUMNS": "200"},  # wide enough that no list wraps
                               text=True, timeout=60, check=False).stdout
    assert "embedded, localstack, aws" in help_text
    record_age = discover()["record_age"]
    assert record_age.missing_on("embedded") == frozenset()
    assert record_age.missing_on("localstack") == frozenset({"sandbox clock"})
    assert capabilities("nowhere") == frozenset()


def test_a_deployment_that_is_not_there_says_how_to_get_one_on_its_target(tmp_path: Path) -> None:
    for name, spec in TARGETS.items():
        with pytest.raises(JobkitError) as missing:
            Deployment.load(tmp_path / "none.json", target=name)
        assert spec.hint in str(missing.value)
    assert "jobkit up" in start_hint(None)
