"""Where the project lives and the tools it ships (pinned npm CLIs, the venv's Python)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from jobkit.errors import JobkitError

PROJECT_MARKER = "cdk.json"


def find_root(start: Path | None = None, package_dir: Path | None = None) -> Path:
    """The project jobkit works on: the nearest folder at or above ``start`` (the working directory) that holds
    ``cdk.json``, as the CDK CLI finds its app; else this checkout, when jobkit runs from one (its tests, a
    script started from elsewhere); else ``start``, where a command that needs the project says it has none.
    An installed jobkit's own folder (site-packages) is never the project: its state would land there."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder
    checkout = (package_dir or Path(__file__).resolve().parent).parent
    return checkout if (checkout / PROJECT_MARKER).is_file() else start


ROOT = find_root()
STATE_DIR = ROOT / ".jobkit"
#: where deploys write the outputs (the compose deploy service writes it into the mounted project)
OUTPUTS_FILE = Path(os.environ.get("JOBKIT_OUTPUTS_FILE") or ROOT / "cdk-outputs.json")


def npm_bin(name: str) -> Path:
    """A CLI installed from package-lock.json (never bare ``npx``, which could fetch another package)."""
    path = ROOT / "node_modules" / ".bin" / name
    if not path.exists():
        raise JobkitError(f"{name} is not installed", "run `make setup` (npm ci)")
    return path


def cdk_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment that keeps the CDK CLI quiet, offline and its caches inside the project."""
    env = dict(os.environ)
    env.update({
        "CDK_DISABLE_CLI_TELEMETRY": "1",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "NODE_NO_WARNINGS": "1",
        "CDK_HOME": str(STATE_DIR / "cdk-home"),
        "JSII_RUNTIME_PACKAGE_CACHE_ROOT": str(STATE_DIR / "jsii-cache"),
        # the app runs as `python -m stack.app`: this interpreter, which has aws-cdk-lib
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    })
    env.update(extra or {})
    return env
