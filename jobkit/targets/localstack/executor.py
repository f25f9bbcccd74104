"""LocalStack runtime-executor plugin `jobkit-local`: runs Lambda functions as local processes, no Docker.

LocalStack (2026.3.0) resolves its executor by the config `LAMBDA_RUNTIME_EXECUTOR` (default: the container
runtime, "docker") through the plux namespace `localstack.lambda.runtime_executor`; an unknown name falls
back to docker with a warning. This module is that plugin. It adapts jobkit's own runtime
(`jobkit.lambda_runtime`, the same one jobkit's embedded engine uses) to LocalStack's `RuntimeExecutor`
interface and to its `ExecutorEndpoint` protocol, exactly where a Lambda container would sit:

- `start()` starts a small "runtime API" HTTP server on 127.0.0.1 (the container's `/invoke` port), starts
  the function's environment (Init phase), then reports `status/{id}/ready` to LocalStack's endpoint, or
  `status/{id}/error` if the runtime itself cannot run (no interpreter, unsupported runtime).
- LocalStack's endpoint POSTs `/invoke`; the bridge answers at once and, when the function is done, POSTs
  the logs to `invocations/{id}/logs` and then the result to `invocations/{id}/response` or `…/error`.
  The logs carry START/END/REPORT and the function's output; LocalStack stores them in CloudWatch Logs
  (`/aws/lambda/<name>`), which it only does when an executor sends logs.

A function's Init failure (import error, …) is not a startup error here: as on Lambda, the Init phase is
retried at the invocation, which then answers `Runtime.ImportModuleError` and logs why.

Enable: install jobkit into LocalStack's environment (`pip install --no-deps -e <jobkit checkout>`) and
start LocalStack with `LAMBDA_RUNTIME_EXECUTOR=jobkit-local`.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import ExecutorEndpoint
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor

from jobkit.lambda_runtime import (
    FunctionConfig,
    LambdaRuntimeError,
    LocalFunction,
    ensure_runtime_packages,
    find_interpreter,
    python_version_for_runtime,
)

LOG = logging.getLogger(__name__)

PLUGIN_NAME = "jobkit-local"
LOOPBACK = "127.0.0.1"
_CALLBACK_TIMEOUT_S = 30.0
#: LocalStack's own variables for a Lambda container's init; a local function process has no use for them.
_INIT_ONLY_ENV = frozenset(
    {
        "LOCALSTACK_RUNTIME_ID",
        "LOCALSTACK_RUNTIME_ENDPOINT",
        "LOCALSTACK_CHMOD_PATHS",
        "LOCALSTACK_USER",
        "LOCALSTACK_INIT_LOG_LEVEL",
        "LOCALSTACK_POST_INVOKE_WAIT_MS",
        "LOCALSTACK_MAX_PAYLOAD_SIZE",
        "AWS_LAMBDA_FUNCTION_TIMEOUT",
    }
)


class _RuntimeBridge:
    """Plays the part of a Lambda container's init: serves `/invoke`, calls back LocalStack's endpoint."""

    def __init__(self, function: LocalFunction, runtime_endpoint: str, runtime_id: str) -> None:
        self._function = function
        if not runtime_endpoint.startswith(("http://", "https://")):
            raise LambdaRuntimeError(f"unexpected LocalStack runtime endpoint {runtime_endpoint!r}")
        self._endpoint = runtime_endpoint.rstrip("/")
        self._runtime_id = runtime_id
        # Never send LocalStack's own callbacks through a proxy from the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._server = ThreadingHTTPServer((LOOPBACK, 0), _InvokeHandler)
        self._server.daemon_threads = True
        self._server.bridge = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"jobkit-runtime-api-{runtime_id}", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def boot(self) -> None:
        """Init the function's environment in the background, then report the runtime's status."""
        threading.Thread(target=self._boot, name=f"jobkit-runtime-init-{self._runtime_id}", daemon=True).start()

    def _boot(self) -> None:
        try:
            init = self._function.prewarm()
        except Exception as exc:  # report it: never leave LocalStack waiting for its startup timeout
            if not isinstance(exc, LambdaRuntimeError):  # ours are self-explanatory (no interpreter, ...)
                LOG.exception("jobkit-local: environment %s failed to start", self._runtime_id)
            document = {"errorMessage": str(exc), "errorType": "Runtime.Unknown", "stackTrace": []}
            self._post(f"/status/{self._runtime_id}/error", json.dumps(document).encode())
            return
        if not init.ok:
            LOG.debug(
                "jobkit-local: Init of %s failed (%s); retried at the invocation", self._runtime_id, init.error_type
            )
        self._post(f"/status/{self._runtime_id}/ready", b"")

    def accept(self, request: dict[str, Any]) -> None:
        """An invocation from LocalStack's endpoint: run it on a thread of its own, answer via callbacks."""
        threading.Thread(
            target=self._invoke, args=(request,), name=f"jobkit-invoke-{request.get('invoke-id')}", daemon=True
        ).start()

    def _invoke(self, request: dict[str, Any]) -> None:
        invoke_id = str(request["invoke-id"])
        payload = request.get("payload") or ""
        try:
            result = self._function.invoke(
                payload.encode("utf-8") if isinstance(payload, str) else bytes(payload),
                invoke_id,
                invoked_function_arn=request.get("invoked-function-arn"),
                trace_id=request.get("trace-id"),
            )
            logs, body, is_error = result.logs, result.payload, result.is_error
        except Exception as exc:  # the runtime failed, not the function: still answer, or LocalStack waits 905 s
            LOG.exception("jobkit-local: invocation %s failed in the runtime", invoke_id)
            document = {"errorMessage": str(exc), "errorType": "Runtime.Unknown", "requestId": invoke_id}
            logs, body, is_error = f"jobkit-local: {exc}\n", json.dumps(document).encode(), True
        # Logs first: LocalStack attaches the logs it holds when the response arrives.
        self._post(f"/invocations/{invoke_id}/logs", json.dumps({"logs": logs}).encode())
        self._post(f"/invocations/{invoke_id}/{'error' if is_error else 'response'}", body)

    def _post(self, path: str, body: bytes) -> None:
        request = urllib.request.Request(  # noqa: S310 - the endpoint's scheme is checked in __init__
            self._endpoint + path, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with self._opener.open(request, timeout=_CALLBACK_TIMEOUT_S) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:  # LocalStack stopping, or the environment removed
            LOG.debug("jobkit-local: callback %s failed: %s", path, exc)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _InvokeHandler(BaseHTTPRequestHandler):
    """`POST /invoke` from LocalStack's `ExecutorEndpoint`."""

    server: ThreadingHTTPServer

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/invoke":
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length))
        except ValueError:
            self.send_error(HTTPStatus.BAD_REQUEST, "invalid JSON")
            return
        self.server.bridge.accept(request)  # type: ignore[attr-defined]
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("jobkit-local runtime API: " + format, *args)


class JobkitLocalRuntimeExecutor(RuntimeExecutor):
    """One LocalStack execution environment = one local function process (via `LocalFunction`)."""

    executor_endpoint: ExecutorEndpoint

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.executor_endpoint = ExecutorEndpoint(self.id, container_address=LOOPBACK, container_port=None)
        self._function: LocalFunction | None = None
        self._bridge: _RuntimeBridge | None = None

    def start(self, env_vars: dict[str, str]) -> None:
        self.executor_endpoint.start()
        version = self.function_version
        code, handler, runtime = version.config.code, version.config.handler, version.config.runtime
        if code is None or handler is None or runtime is None:
            raise LambdaRuntimeException(f"{PLUGIN_NAME} needs a zip function with a runtime and a handler")
        environment = {key: str(value) for key, value in env_vars.items() if key not in _INIT_ONLY_ENV}
        function_config = FunctionConfig(
            function_name=version.id.function_name,
            code_dir=Path(code.get_unzipped_code_location()),
            handler=handler,
            runtime=str(runtime),
            timeout=float(version.config.timeout),
            memory_size=int(version.config.memory_size),
            environment=environment,
            function_arn=version.id.unqualified_arn(),
            version=version.id.qualifier,
        )
        self._function = LocalFunction(function_config, max_concurrency=1)
        self._bridge = _RuntimeBridge(self._function, env_vars["LOCALSTACK_RUNTIME_ENDPOINT"], self.id)
        self.executor_endpoint.container_port = self._bridge.port
        self._bridge.boot()
        self.executor_endpoint.wait_for_startup()

    def stop(self) -> None:
        if self._function is not None:
            self._function.stop(timeout=2.0)
        if self._bridge is not None:
            self._bridge.close()
        try:
            self.executor_endpoint.shutdown()
        except Exception as exc:  # already unregistered, or never started
            LOG.debug("jobkit-local: stopping endpoint of %s: %s", self.id, exc)

    def get_address(self) -> str:
        return LOOPBACK

    def get_endpoint_from_executor(self) -> str:
        """Where a function reaches LocalStack (LOCALSTACK_HOSTNAME, AWS_ENDPOINT_URL): this host."""
        return config.HOSTNAME_FROM_LAMBDA or LOOPBACK

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        return f"http://{self.get_endpoint_from_executor()}:{port}{self.executor_endpoint.get_endpoint_prefix()}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        return self.executor_endpoint.invoke(payload)

    def get_logs(self) -> str:
        return self._function.recent_output() if self._function is not None else ""

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        """At create/update time: unpack the code, find the runtime's interpreter and its packages, so that
        a missing piece fails the function's creation (state Failed) rather than its first invocation."""
        fc = function_version.config
        if fc.package_type != PackageType.Zip or not fc.runtime:
            raise LambdaRuntimeException(f"{PLUGIN_NAME} runs zip-packaged functions only (not container images)")
        try:
            python_version_for_runtime(fc.runtime)
            if fc.layers:
                LOG.warning("%s: layers are not supported; %s runs without them", PLUGIN_NAME, function_version.id)
            if fc.code:
                fc.code.prepare_for_execution()
            find_interpreter(fc.runtime)
            ensure_runtime_packages(fc.runtime)
        except LambdaRuntimeError as exc:
            raise LambdaRuntimeException(str(exc)) from exc

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing of ours to clean: the unpacked code is LocalStack's, the packages cache is shared."""

    @classmethod
    def validate_environment(cls) -> bool:
        try:
            find_interpreter("python3.12")
        except LambdaRuntimeError as exc:
            LOG.warning("%s: %s", PLUGIN_NAME, exc)
            return False
        return True


class JobkitLocalRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    """plux plugin; the entry point in pyproject.toml names this class under the same name."""

    name = PLUGIN_NAME

    def load(self, *args: Any, **kwargs: Any) -> type[RuntimeExecutor]:
        return JobkitLocalRuntimeExecutor
