"""The runtime-provided packages: what Lambda's Python runtime ships besides the stdlib (boto3, botocore).

A function process sees only its code dir, this folder and the stdlib, never the engine's site-packages.
The folder is installed once per runtime with `pip install --target` into a cache under the project
(`.jobkit/lambda-runtime/python3.12/`) and reused afterwards. Installation is serialised with a file lock
(LocalStack may prepare several functions at once, pytest workers may race) and swapped in atomically, so a
half-installed folder is never used.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from jobkit.lambda_runtime.errors import RuntimePackagesError
from jobkit.lambda_runtime.interpreter import find_interpreter, python_version_for_runtime

#: What the runtime provides, pinned to the project's own boto3 pin so local runs match its tests.
RUNTIME_REQUIREMENTS: tuple[str, ...] = ("boto3==1.44.8",)

CACHE_ENV = "JOBKIT_LAMBDA_RUNTIME_CACHE"
_MARKER = ".jobkit-runtime.json"
_PIP_TIMEOUT_S = 600.0


def default_cache_dir() -> Path:
    """`$JOBKIT_LAMBDA_RUNTIME_CACHE`, else `<project>/.jobkit/lambda-runtime` for a source checkout
    (also an editable install, as inside LocalStack's engine), else `~/.cache/jobkit/lambda-runtime`."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    project = Path(__file__).resolve().parents[2]
    if (project / "pyproject.toml").is_file() and (project / "jobkit").is_dir():
        return project / ".jobkit" / "lambda-runtime"
    return Path.home() / ".cache" / "jobkit" / "lambda-runtime"


def runtime_packages_dir(runtime: str, cache_dir: Path | None = None) -> Path:
    """Where the packages for `runtime` live (whether or not they are installed yet)."""
    python_version_for_runtime(runtime)  # validates the runtime name
    return (cache_dir or default_cache_dir()) / runtime


def ensure_runtime_packages(
    runtime: str,
    cache_dir: Path | None = None,
    requirements: tuple[str, ...] = RUNTIME_REQUIREMENTS,
) -> Path:
    """Return the packages folder for `runtime`, installing it first if it is missing or stale."""
    target = runtime_packages_dir(runtime, cache_dir)
    if _is_current(target, requirements):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / f"{runtime}.lock"
    with lock_path.open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            if _is_current(target, requirements):  # someone else installed it while we waited
                return target
            _install(runtime, target, requirements)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return target


def _is_current(target: Path, requirements: tuple[str, ...]) -> bool:
    try:
        marker = json.loads((target / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("requirements") == list(requirements)


def _install(runtime: str, target: Path, requirements: tuple[str, ...]) -> None:
    interpreter = find_interpreter(runtime)
    staging = Path(tempfile.mkdtemp(prefix=f".{runtime}-", dir=target.parent))
    try:
        command = _pip_command(interpreter, runtime, staging, requirements)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimePackagesError(f"installing {' '.join(requirements)} for {runtime} failed: {exc}") from exc
        if done.returncode != 0:
            raise RuntimePackagesError(
                f"installing {' '.join(requirements)} for {runtime} failed (exit {done.returncode}):\n"
                f"{done.stderr[-4000:]}"
            )
        (staging / _MARKER).write_text(
            json.dumps({"runtime": runtime, "requirements": list(requirements)}, indent=2) + "\n"
        )
        # Swap in atomically: rename the old folder aside first, as a directory cannot be replaced in place.
        retired: Path | None = None
        if target.exists():
            retired = target.with_name(f".{runtime}-retired-{os.getpid()}")
            target.rename(retired)
        staging.rename(target)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _pip_command(interpreter: Path, runtime: str, staging: Path, requirements: tuple[str, ...]) -> list[str]:
    """Prefer the function interpreter's own pip; else this interpreter's pip, told the target version."""
    base = ["install", "--target", str(staging), "--only-binary=:all:", "--no-input", "--disable-pip-version-check"]
    if _has_pip(str(interpreter)):
        return [str(interpreter), "-m", "pip", *base, *requirements]
    version = python_version_for_runtime(runtime)
    return [
        sys.executable, "-m", "pip", *base,
        "--python-version", f"{version.major}.{version.minor}", "--implementation", "cp",
        *requirements,
    ]  # fmt: skip


def _has_pip(interpreter: str) -> bool:
    try:
        probe = subprocess.run([interpreter, "-m", "pip", "--version"], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0
