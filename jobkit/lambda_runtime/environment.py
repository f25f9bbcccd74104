"""What a function process sees: its configuration, and the environment variables Lambda would set.

The process environment is built from scratch rather than inherited, so nothing of the engine's own
environment (virtualenv, LocalStack settings, a developer's AWS profile) leaks into a function. Reserved
variables follow https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html ; the function's
own variables come on top, and a few that only make sense for this local runtime (where the code really is,
which handler to load) are forced last.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from jobkit.sandbox import ACCOUNT, REGION

_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


MIN_SCALED_TIMEOUT = 10.0
"""Real seconds a function gets at least under a sped-up clock. Its own work is not sped up, and a loaded
machine stalls it: at 3 s, a 10,000-job soak on 2 cores saw 9 invocations of about 40,000 time out after
finishing their writes (the error handler then failed jobs that had succeeded)."""


@dataclass(frozen=True)
class FunctionConfig:
    """One function (version) as the local runtime needs it. `timeout` and `memory_size` as in Lambda's
    configuration (seconds, MB); `environment` holds the function's variables (and, from an engine such as
    LocalStack, the reserved ones it computed, which then win over the defaults here)."""

    function_name: str
    code_dir: Path
    handler: str
    runtime: str = "python3.12"
    timeout: float = 3.0
    memory_size: int = 128
    environment: Mapping[str, str] = field(default_factory=dict)
    function_arn: str | None = None
    version: str = "$LATEST"
    init_timeout: float = 10.0
    #: a sped-up sandbox clock (jobkit's embedded engine): the timeout is enforced after ``timeout /
    #: time_scale`` real seconds, never less than ``min_scaled_timeout`` (the function's own work is not sped
    #: up, only its sleeps), and still reported as ``timeout`` ("Task timed out after 15.00 seconds")
    time_scale: float = 1.0
    min_scaled_timeout: float = MIN_SCALED_TIMEOUT

    @property
    def real_timeout(self) -> float:
        if self.time_scale <= 1:
            return self.timeout
        return max(self.timeout / self.time_scale, min(self.timeout, self.min_scaled_timeout))

    @property
    def region(self) -> str:
        arn_region = _arn_part(self.function_arn, 3)
        return self.environment.get("AWS_REGION") or arn_region or REGION

    @property
    def account_id(self) -> str:
        return _arn_part(self.function_arn, 4) or ACCOUNT

    @property
    def unqualified_arn(self) -> str:
        """The function's ARN without a version, which is what `invoked_function_arn` is by default."""
        if self.function_arn:
            parts = self.function_arn.split(":")
            return ":".join(parts[:7])
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"


def _arn_part(arn: str | None, index: int) -> str | None:
    if not arn:
        return None
    parts = arn.split(":")
    return parts[index] if len(parts) > index and parts[index] else None


def new_log_stream_name(version: str) -> str:
    """`2024/05/01/[$LATEST]<32 hex>`: one stream per execution environment, as Lambda names them."""
    return f"{dt.datetime.now(dt.UTC):%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"


def build_process_env(config: FunctionConfig, *, runtime_dir: Path, tmp_dir: Path) -> dict[str, str]:
    """The complete environment of one function process."""
    env: dict[str, str] = {
        "PATH": os.environ.get("PATH") or _DEFAULT_PATH,
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": config.region,
        "AWS_DEFAULT_REGION": config.region,
        "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": config.version,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": new_log_stream_name(config.version),
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        # No shared config/credentials files exist in Lambda; keep the developer's ~/.aws out of reach.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        # Lambda gives each environment a private /tmp; `tempfile` honours TMPDIR.
        "TMPDIR": str(tmp_dir),
    }
    env.update({key: str(value) for key, value in config.environment.items()})
    env.update(
        {
            "_HANDLER": config.handler,
            "LAMBDA_TASK_ROOT": str(config.code_dir),
            "LAMBDA_RUNTIME_DIR": str(runtime_dir),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
        }
    )
    return env
