"""Find the interpreter of a function's own Python version (runtime `python3.12` -> a Python 3.12).

A function must run on its runtime's version, not on whatever runs the engine, so that version-specific
behaviour (syntax, stdlib changes) shows up locally as it would on Lambda. Candidates, in order:

1. `JOBKIT_LAMBDA_PYTHON3_12` (for runtime `python3.12`): an explicit path, for unusual installs.
2. `python3.12` on PATH. A pyenv shim on PATH may exist yet answer "command not found", so every
   candidate is run once and must report the right version; its real `sys.executable` is used.
3. pyenv installs: `$PYENV_ROOT/versions/3.12.*` (default `~/.pyenv`), then `pyenv prefix`.
4. The interpreter running this code, when it has the same version.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from jobkit.lambda_runtime.errors import InterpreterNotFoundError, UnsupportedRuntimeError

_RUNTIME_RE = re.compile(r"^python(?P<major>3)\.(?P<minor>\d+)$")
# A virtualenv's python reports its base interpreter, so functions never run "inside" an engine's venv.
_PROBE = (
    "import sys; print(sys.version_info[0], sys.version_info[1], "
    "getattr(sys, '_base_executable', None) or sys.executable)"
)
_PROBE_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class PythonVersion:
    """A runtime's Python version, e.g. 3.12 for `python3.12`."""

    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def python_version_for_runtime(runtime: str) -> PythonVersion:
    """Map a Lambda runtime identifier to its Python version; only `pythonX.Y` runtimes are supported."""
    match = _RUNTIME_RE.match(runtime)
    if not match:
        raise UnsupportedRuntimeError(
            f"runtime {runtime!r} is not supported by jobkit's local Lambda runtime (only pythonX.Y runtimes are)"
        )
    return PythonVersion(int(match["major"]), int(match["minor"]))


_cache: dict[str, Path] = {}
_cache_lock = threading.Lock()


def find_interpreter(runtime: str) -> Path:
    """Return the absolute path of an interpreter for `runtime`; raise `InterpreterNotFoundError` if none."""
    version = python_version_for_runtime(runtime)
    with _cache_lock:
        cached = _cache.get(runtime)
    if cached is not None and cached.exists():
        return cached
    tried: list[str] = []
    for candidate in _candidates(version):
        tried.append(candidate)
        resolved = _probe(candidate, version)
        if resolved is not None:
            with _cache_lock:
                _cache[runtime] = resolved
            return resolved
    env_name = _override_env_name(version)
    raise InterpreterNotFoundError(
        f"no Python {version} interpreter found for runtime {runtime!r}. Install Python {version} "
        f"(on PATH as python{version}, or with pyenv: `pyenv install {version}`), or set {env_name} to its path. "
        f"Tried: {', '.join(tried) or 'nothing'}"
    )


def _override_env_name(version: PythonVersion) -> str:
    return f"JOBKIT_LAMBDA_PYTHON{version.major}_{version.minor}"


def _candidates(version: PythonVersion) -> list[str]:
    """Candidate executables, most explicit first; duplicates removed."""
    found: list[str] = []
    override = os.environ.get(_override_env_name(version))
    if override:
        found.append(override)
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(on_path)
    found.extend(_pyenv_candidates(version))
    if sys.version_info[:2] == (version.major, version.minor):
        found.append(sys.executable)
    unique: list[str] = []
    for item in found:
        if item not in unique:
            unique.append(item)
    return unique


def _pyenv_candidates(version: PythonVersion) -> list[str]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    pattern = re.compile(rf"^{version.major}\.{version.minor}\.(\d+)$")
    installs: list[tuple[int, Path]] = []
    versions_dir = root / "versions"
    if versions_dir.is_dir():
        for entry in versions_dir.iterdir():
            match = pattern.match(entry.name)
            if match:
                installs.append((int(match.group(1)), entry))
    # Newest patch release first.
    candidates = [str(path / "bin" / f"python{version}") for _, path in sorted(installs, reverse=True)]
    pyenv = shutil.which("pyenv")
    if pyenv and not candidates:
        prefix = _pyenv_prefix(pyenv, version)
        if prefix is not None:
            candidates.append(str(prefix / "bin" / f"python{version}"))
    return candidates


def _pyenv_prefix(pyenv: str, version: PythonVersion) -> Path | None:
    """Ask pyenv for the newest installed `X.Y.*` and its prefix (`pyenv prefix 3.12.1`)."""
    try:
        listed = subprocess.run(
            [pyenv, "versions", "--bare"], capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    pattern = re.compile(rf"^{version.major}\.{version.minor}\.(\d+)$")
    matches = sorted(
        (int(m.group(1)), line.strip()) for line in listed.stdout.splitlines() if (m := pattern.match(line.strip()))
    )
    if not matches:
        return None
    try:
        prefix = subprocess.run(
            [pyenv, "prefix", matches[-1][1]],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = prefix.stdout.strip()
    return Path(text) if prefix.returncode == 0 and text else None


def _probe(candidate: str, version: PythonVersion) -> Path | None:
    """Run the candidate once; return its real executable if it is the wanted version."""
    try:
        probe = subprocess.run(
            [candidate, "-I", "-S", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if probe.returncode != 0:
        return None
    parts = probe.stdout.strip().split(" ", 2)
    if len(parts) != 3 or parts[0] != str(version.major) or parts[1] != str(version.minor):
        return None
    return Path(parts[2])
