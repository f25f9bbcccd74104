"""A saved handler reaches a function of LocalStack's host runtime (``jobkit.live``, what the foreground
``jobkit up --target localstack`` runs): LocalStack's hot-reload convention, the code mounted where it lies and
run there by jobkit's executor plugin."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from jobkit.live import Asset, LiveCode

ROLE = "arn:aws:iam::000000000000:role/lambda-role"


@pytest.fixture
def lam(localstack_host: Any) -> Any:
    return boto3.client("lambda", endpoint_url=localstack_host.endpoint_url, region_name=localstack_host.region,
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=120))


def _invoke(lam: Any, name: str) -> Any:
    return json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())


def test_a_saved_handler_runs_in_the_next_invocation(lam: Any, tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "app.py").write_text("def handler(event, context):\n    return 'v1'\n")
    asset = tmp_path / "asset.1"
    asset.mkdir()
    (asset / "pkg").symlink_to(root / "pkg")
    name = f"jobkit-live-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="pkg.app.handler",
                        Code={"S3Bucket": "hot-reload", "S3Key": str(asset)}, Timeout=30)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    said: list[tuple[str, str]] = []
    code = LiveCode([Asset(asset, {"pkg": root / "pkg"}, (name,))], lam, tmp_path / "snapshots",
                    lambda hop, detail: said.append((hop, detail)), root)
    try:
        assert _invoke(lam, name) == "v1"
        (root / "pkg" / "app.py").write_text("def handler(event, context):\n    return 'v2'\n")
        code.look()
        code.look()
        assert said == [("code reloaded", f"pkg/app.py -> {name}")]
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        assert _invoke(lam, name) == "v2"
    finally:
        lam.delete_function(FunctionName=name)
        code.close()
