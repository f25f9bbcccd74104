"""Lambda's compute plane in the engine: each deployed function runs in jobkit's shared local runtime
(``jobkit.lambda_runtime.LocalFunction``: the asset folder, handler, timeout, context, warm environments),
with the function's role credentials and the engine as its AWS endpoint, and its logs written to CloudWatch
Logs (the function's LoggingConfig group, else ``/aws/lambda/<name>``) as Lambda does.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from moto.backends import get_backend

from jobkit.engine.core.clock import SandboxClock
from jobkit.engine.services.cloudformation.deployer import StackRegistry
from jobkit.lambda_runtime.environment import FunctionConfig
from jobkit.lambda_runtime.errors import FunctionStoppedError
from jobkit.lambda_runtime.function import InvocationResult, LocalFunction


class Invoker(Protocol):
    """What runs a function once (the engine's LambdaService, or a test double)."""

    def invoke(self, function: str, payload: bytes, request_id: str | None = None) -> InvocationResult: ...

    def arn_of(self, function: str) -> str: ...


class UnknownFunctionError(LookupError):
    """No deployed function has this name or ARN."""


@dataclass
class DeployedFunction:
    name: str
    arn: str
    role_arn: str
    log_group: str
    local: LocalFunction


class LambdaService:
    """Every function of the stack, by name and ARN."""

    def __init__(self, registry: StackRegistry, *, endpoint_url: str, clock: SandboxClock,
                 max_concurrency: int = 10, scratch: Path | None = None) -> None:
        self.registry = registry
        self.endpoint_url = endpoint_url
        self.clock = clock
        self.account = registry.account
        self.region = registry.region
        self._functions: dict[str, DeployedFunction] = {}
        self._streams: dict[str, str] = {}
        self._lock = threading.Lock()
        for resource in registry.of_type("AWS::Lambda::Function"):
            props = resource.properties
            config = FunctionConfig(
                function_name=resource.physical_id,
                code_dir=Path(resource.attributes["CodeDir"]),
                handler=props["Handler"],
                runtime=props["Runtime"],
                timeout=float(props.get("Timeout", 3)),
                memory_size=int(props.get("MemorySize", 128)),
                environment=self._environment(props, resource.physical_id),
                function_arn=resource.attributes["Arn"],
                time_scale=clock.scale,
            )
            reserved = props.get("ReservedConcurrentExecutions")
            local = LocalFunction(config, max_concurrency=int(reserved) if reserved else max_concurrency,
                                  tmp_root=scratch)
            log_group = (props.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{resource.physical_id}"
            entry = DeployedFunction(resource.physical_id, resource.attributes["Arn"], props["Role"], log_group, local)
            self._functions[entry.name] = entry
            self._functions[entry.arn] = entry

    def _environment(self, props: dict[str, Any], name: str) -> dict[str, str]:
        variables = dict((props.get("Environment") or {}).get("Variables") or {})
        credentials = self._role_credentials(props["Role"])
        variables.update({
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
            "AWS_SESSION_TOKEN": credentials.session_token,
            **self.clock.function_env(),
        })
        log_group = (props.get("LoggingConfig") or {}).get("LogGroup")
        if log_group:
            variables["AWS_LAMBDA_LOG_GROUP_NAME"] = log_group
        return {k: str(v) for k, v in variables.items()}

    def _role_credentials(self, role_arn: str) -> Any:
        """The execution role's session, as Lambda hands it to the function (12 h, the role session maximum)."""
        sts = get_backend("sts")[self.account]["global"]
        return sts.assume_role(region_name=self.region, role_session_name="jobkit-lambda", role_arn=role_arn,
                               policy="", duration=12 * 3600, external_id="")

    def function(self, name_or_arn: str) -> DeployedFunction:
        key = name_or_arn
        if key.startswith("arn:") and key.count(":") == 7:  # qualified ARN (…:function:name:$LATEST)
            key = key.rsplit(":", 1)[0]
        entry = self._functions.get(key)
        if entry is None:
            raise UnknownFunctionError(f"Function not found: {name_or_arn}")
        return entry

    def arn_of(self, function: str) -> str:
        return self.function(function).arn

    def invoke(self, function: str, payload: bytes, request_id: str | None = None) -> InvocationResult:
        entry = self.function(function)
        result = entry.local.invoke(payload, request_id or str(uuid.uuid4()))
        self._write_logs(entry, result.logs)
        return result

    def prewarm(self) -> None:
        """Starts one environment per function in parallel, so the first job meets warm functions."""
        self._each(_prewarm, join_timeout=30)

    def unique(self) -> list[DeployedFunction]:
        return list({id(e): e for e in self._functions.values()}.values())

    def stop(self) -> None:
        self._each(lambda entry: entry.local.stop(), join_timeout=10)

    def _each(self, action: Callable[[DeployedFunction], object], join_timeout: float) -> None:
        """``action`` on every function at once (each starts or stops its own processes), waited for."""
        threads = [threading.Thread(target=action, args=(entry,), daemon=True) for entry in self.unique()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(join_timeout)

    def _write_logs(self, entry: DeployedFunction, text: str) -> None:
        if not text:
            return
        logs = get_backend("logs")[self.account][self.region]
        with self._lock:
            try:
                if entry.log_group not in logs.groups:
                    logs.create_log_group(entry.log_group, {})
                stream = self._streams.get(entry.name)
                if stream is None:
                    stream = f"{dt.datetime.now(dt.UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
                    logs.create_log_stream(entry.log_group, stream)
                    self._streams[entry.name] = stream
                now = int(time.time() * 1000)
                events = [{"timestamp": now, "message": line} for line in text.splitlines() if line.strip()]
                if events:
                    logs.put_log_events(entry.log_group, stream, events)
            except Exception:  # noqa: S110  # nosec B110  # logs are diagnostics: never fail an invocation over them
                pass


def _prewarm(entry: DeployedFunction) -> None:
    """One environment of ``entry`` started; an engine stopped meanwhile (a sandbox stopped right after it
    was ready) ends the start quietly: the invocation that would have used it will not come."""
    try:
        entry.local.prewarm()
    except FunctionStoppedError:
        return
