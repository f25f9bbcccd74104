"""Settings every test session shares."""

from __future__ import annotations

import os

# jsii prints a banner about Node 20 on every start; CDK's own telemetry and version checks stay off.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "1")
os.environ.setdefault("CDK_DISABLE_VERSION_CHECK", "1")

#: pytester runs the pytest plugin against a sandbox (tests/engine/test_job_traces.py)
pytest_plugins = ("pytester",)
