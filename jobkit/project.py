"""Where the project lives and the tools it ships (pinned npm CLIs, the venv's Python)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from jobkit.errors import JobkitError

ROOT = Path(__file__).resolve().parent.parent
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
