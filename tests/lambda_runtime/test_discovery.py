"""Finding the function's interpreter and the runtime-provided packages."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from jobkit.lambda_runtime import (
    InterpreterNotFoundError,
    UnsupportedRuntimeError,
    ensure_runtime_packages,
    find_interpreter,
    python_version_for_runtime,
    runtime_packages_dir,
)


def test_finds_an_interpreter_of_the_runtimes_version() -> None:
    interpreter = find_interpreter("python3.12")

    version = subprocess.run(
        [str(interpreter), "-I", "-c", "import sys; print(*sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert interpreter.is_absolute() and version == ["3", "12"]


def test_explicit_override_is_checked_and_used(monkeypatch: pytest.MonkeyPatch) -> None:
    real = find_interpreter("python3.12")
    monkeypatch.setenv("JOBKIT_LAMBDA_PYTHON3_12", str(real))

    assert find_interpreter("python3.12") == real


def test_missing_version_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))  # nothing installed there

    with pytest.raises(InterpreterNotFoundError, match=r"no Python 3\.99 interpreter found .*JOBKIT_LAMBDA_PYTHON3_99"):
        find_interpreter("python3.99")


@pytest.mark.parametrize("runtime", ["nodejs20.x", "provided.al2023", "python2.7", "python3"])
def test_only_python3_runtimes_are_supported(runtime: str) -> None:
    with pytest.raises(UnsupportedRuntimeError):
        python_version_for_runtime(runtime)


def test_runtime_packages_are_installed_once_and_reused(runtime_packages: Path) -> None:
    marker = runtime_packages / ".jobkit-runtime.json"
    before = marker.stat().st_mtime_ns

    again = ensure_runtime_packages("python3.12")

    assert again == runtime_packages == runtime_packages_dir("python3.12")
    assert marker.stat().st_mtime_ns == before
    assert json.loads(marker.read_text())["requirements"] == ["boto3==1.44.8"]
    assert (runtime_packages / "boto3").is_dir() and (runtime_packages / "botocore").is_dir()
    assert not (runtime_packages / "moto").exists() and not (runtime_packages / "jobkit").exists()
