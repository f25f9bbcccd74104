"""Lambda's compute plane in the engine: each function runs in jobkit's shared local runtime
(``jobkit.lambda_runtime.LocalFunction``: the code folder, handler, timeout, context, warm environments),
with the function's role credentials and the engine as its AWS endpoint, and its logs written to CloudWatch
Logs (the function's LoggingConfig group, else ``/aws/lambda/<name>``) as Lambda does.

One table, by name and ARN, holds every function, whether a stack's deployment or a test created it: both
come through the Lambda API (``api.FunctionsApi``). A change of code or configuration builds a
new ``LocalFunction`` and retires the old one: invocations under way finish on the old environments, the next
one starts a new environment ("Lambda execution environment lifecycle": an update makes Lambda create new
environments, https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html). A function whose
code is a local folder (hot reloading) is recycled the same way when a file of the folder changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from moto.backends import get_backend
from moto.sts.models import AssumedRole

from jobkit.engine.core.clock import SandboxClock
from jobkit.engine.services.iam.sts import assume_role
from jobkit.folders import folder_stamp
from jobkit.lambda_runtime import zygote
from jobkit.lambda_runtime.environment import FunctionConfig
from jobkit.lambda_runtime.errors import FunctionStoppedError
from jobkit.lambda_runtime.function import InvocationResult, LocalFunction

#: how often a hot-reloading function's folder is looked at; a change is acted on once it has held for one look
#: (LocalStack's hot reloading: "It can take up to 700ms to detect code changes ... triggers after 500ms without
#: changes", https://docs.localstack.cloud/user-guide/lambda-tools/hot-reloading)
WATCH_INTERVAL = 0.5
#: how long a retired function's invocations under way may still run before its code folder goes regardless
RETIRE_GRACE = 15 * 60.0


class Invoker(Protocol):
    """What runs a function once (the engine's LambdaService, or a test double)."""

    def invoke(self, function: str, payload: bytes, request_id: str | None = None) -> InvocationResult: ...

    def arn_of(self, function: str) -> str: ...


class UnknownFunctionError(LookupError):
    """No function has this name or ARN."""


class FunctionExistsError(ValueError):
    """A function of this name exists already."""


@dataclass(frozen=True)
class FunctionSpec:
    """A function as the engine runs it: its configuration, where its code is, and its own variables."""

    name: str
    arn: str
    role_arn: str
    handler: str
    runtime: str
    code_dir: Path
    timeout: float = 3.0
    memory_size: int = 128
    variables: Mapping[str, str] = field(default_factory=dict)
    log_group: str = ""  # the LoggingConfig group; ``/aws/lambda/<name>`` if empty
    reserved_concurrency: int | None = None
    owned_code: bool = False  # a folder the engine unpacked: removed once no function runs it
    hot_reload: bool = False  # a folder of this machine: watched, the function recycled when it changes

    @property
    def group(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"


@dataclass
class DeployedFunction:
    name: str
    arn: str
    role_arn: str
    log_group: str
    local: LocalFunction
    spec: FunctionSpec | None = None


class LambdaService:
    """Every function of the sandbox, by name and ARN."""

    def __init__(self, *, account: str, region: str, endpoint_url: str, clock: SandboxClock,
                 max_concurrency: int = 10, scratch: Path | None = None) -> None:
        """``scratch``: where the environments' /tmp folders and unpacked code go (the system's temporary
        folder if None)."""
        self.endpoint_url = endpoint_url
        self.clock = clock
        self.account = account
        self.region = region
        self.max_concurrency = max_concurrency
        self.scratch = scratch
        self._functions: dict[str, DeployedFunction] = {}
        self._streams: dict[str, str] = {}
        self._lock = threading.Lock()
        self._table_lock = threading.RLock()
        self._code_root: Path | None = None
        self._retiring: list[tuple[threading.Thread, LocalFunction]] = []
        self._stopped = threading.Event()
        self._watcher: threading.Thread | None = None
        self._stamps: dict[str, tuple[Path, str]] = {}  # hot-reloading function -> (folder, its stamp)

    # --- the table ----------------------------------------------------------------------------------------
    def create(self, spec: FunctionSpec) -> DeployedFunction:
        """Adds a function (the template's at start, CreateFunction's later); FunctionExistsError if its name
        is taken."""
        with self._table_lock:
            if spec.name in self._functions:
                raise FunctionExistsError(f"Function already exist: {spec.name}")
            entry = self._entry(spec)
            self._functions[entry.name] = entry
            self._functions[entry.arn] = entry
        if spec.hot_reload:
            self._watch(spec)
        return entry

    def update(self, name_or_arn: str, **changes: Any) -> DeployedFunction:
        """The function with ``changes`` to its spec (FunctionSpec's fields): new environments from now on,
        the old ones retired as their invocations end."""
        with self._table_lock:
            old = self.function(name_or_arn)
            assert old.spec is not None
            entry = self._entry(dataclasses.replace(old.spec, **changes))
            self._functions[entry.name] = entry
            self._functions[entry.arn] = entry
        self._retire(old, stop=False)
        if entry.spec is not None and entry.spec.hot_reload:
            self._watch(entry.spec)
        return entry

    def delete(self, name_or_arn: str) -> DeployedFunction:
        """Removes the function and stops its environments (an invocation under way ends as it would when
        its environment is shut down)."""
        with self._table_lock:
            entry = self.function(name_or_arn)
            self._functions.pop(entry.name, None)
            self._functions.pop(entry.arn, None)
        with self._lock:
            self._streams.pop(entry.name, None)  # a function created again under this name logs to a new stream
        self._retire(entry, stop=True)
        return entry

    def has(self, name: str) -> bool:
        try:
            self.function(name)
        except UnknownFunctionError:
            return False
        return True

    def code_root(self) -> Path:
        """Where unpacked code goes: ``functions/`` under the scratch folder (made on first use)."""
        with self._lock:
            if self._code_root is None:
                if self.scratch is not None:
                    self._code_root = self.scratch / "functions"
                    self._code_root.mkdir(parents=True, exist_ok=True)
                else:
                    self._code_root = Path(tempfile.mkdtemp(prefix="jobkit-functions-"))
            return self._code_root

    def _entry(self, spec: FunctionSpec) -> DeployedFunction:
        config = FunctionConfig(
            function_name=spec.name, code_dir=spec.code_dir, handler=spec.handler, runtime=spec.runtime,
            timeout=spec.timeout, memory_size=spec.memory_size, environment=self._environment(spec),
            function_arn=spec.arn, time_scale=self.clock.scale)
        local = LocalFunction(config, max_concurrency=spec.reserved_concurrency or self.max_concurrency,
                              tmp_root=self.scratch)
        return DeployedFunction(spec.name, spec.arn, spec.role_arn, spec.group, local, spec)

    def _environment(self, spec: FunctionSpec) -> dict[str, str]:
        variables = dict(spec.variables)
        credentials = self._role_credentials(spec.role_arn)
        variables.update({
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
            "AWS_SESSION_TOKEN": credentials.session_token,
            **self.clock.function_env(),
        })
        if spec.log_group:
            variables["AWS_LAMBDA_LOG_GROUP_NAME"] = spec.log_group
        return {k: str(v) for k, v in variables.items()}

    def _role_credentials(self, role_arn: str) -> AssumedRole:
        """The execution role's session, as Lambda hands it to the function (12 h, the role session maximum)."""
        return assume_role(self.account, self.region, role_arn, "jobkit-lambda", 12 * 3600)

    def function(self, name_or_arn: str) -> DeployedFunction:
        """By name, ARN or qualified ARN (``…:function:name:$LATEST``); UnknownFunctionError with Lambda's
        message ("Function not found: <unqualified ARN>") otherwise."""
        key = name_or_arn
        if key.startswith("arn:") and key.count(":") == 7:  # qualified ARN (…:function:name:$LATEST)
            key = key.rsplit(":", 1)[0]
        elif not key.startswith("arn:") and ":" in key:  # name:qualifier
            key = key.split(":", 1)[0]
        entry = self._functions.get(key)
        if entry is None:
            arn = key if key.startswith("arn:") else f"arn:aws:lambda:{self.region}:{self.account}:function:{key}"
            raise UnknownFunctionError(f"Function not found: {arn}")
        return entry

    def arn_of(self, function: str) -> str:
        return self.function(function).arn

    def invoke(self, function: str, payload: bytes, request_id: str | None = None) -> InvocationResult:
        """One invocation on the function as it is now; an invocation that met the environments of a version
        being replaced (its code or configuration changed meanwhile) runs on the new one."""
        request_id = request_id or str(uuid.uuid4())
        while True:
            entry = self.function(function)
            try:
                result = entry.local.invoke(payload, request_id)
            except FunctionStoppedError:
                if self.function(function).local is entry.local:  # stopped, not replaced: the engine stops
                    raise
                continue
            self._write_logs(entry, result.logs)
            return result

    def prewarm(self) -> None:
        """Starts one environment per function in parallel, so the first job meets warm functions."""
        self._each(_prewarm, join_timeout=30)

    def unique(self) -> list[DeployedFunction]:
        with self._table_lock:
            return list({id(e): e for e in self._functions.values()}.values())

    def stop(self) -> None:
        self._stopped.set()
        self._each(lambda entry: entry.local.stop(), join_timeout=10)
        with self._lock:
            retiring = list(self._retiring)
        for _, local in retiring:  # a retired version's invocations still under way end with the engine
            local.stop()
        for thread, _ in retiring:
            thread.join(10)
        if self._watcher is not None:
            self._watcher.join(5)
        with self._lock:
            root, self._code_root = self._code_root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def _each(self, action: Callable[[DeployedFunction], object], join_timeout: float) -> None:
        """``action`` on every function at once (each starts or stops its own processes), waited for."""
        threads = [threading.Thread(target=action, args=(entry,), daemon=True) for entry in self.unique()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(join_timeout)

    # --- retiring a replaced or deleted function ------------------------------------------------------------
    def _retire(self, entry: DeployedFunction, *, stop: bool) -> None:
        """On a thread of its own: ``entry``'s environments end (at once if ``stop``, else as their invocations
        end); then its code folder, if no function runs it any more, loses its zygote and, if the engine
        unpacked it, goes."""
        def run() -> None:
            if stop:
                entry.local.stop()
            else:
                entry.local.retire()
            entry.local.wait_retired(RETIRE_GRACE)
            if entry.spec is not None:
                self._release(entry.spec)

        thread = threading.Thread(target=run, name=f"jobkit-retire-{entry.name[:20]}", daemon=True)
        with self._lock:
            self._retiring = [(t, local) for t, local in self._retiring if t.is_alive()]
            self._retiring.append((thread, entry.local))
        thread.start()

    def _release(self, spec: FunctionSpec) -> None:
        with self._table_lock:
            in_use = any(e.spec is not None and e.spec.code_dir == spec.code_dir for e in self._functions.values())
        if in_use:
            return
        zygote.release(spec.code_dir)
        if spec.owned_code:
            shutil.rmtree(spec.code_dir, ignore_errors=True)

    # --- hot reloading --------------------------------------------------------------------------------------
    def _watch(self, spec: FunctionSpec) -> None:
        """Watches ``spec``'s folder from its state now: the environments built from here on read it as it is."""
        stamp = folder_stamp(spec.code_dir)
        with self._lock:
            self._stamps[spec.name] = (spec.code_dir, stamp)
            if self._watcher is None and not self._stopped.is_set():
                self._watcher = threading.Thread(target=self._watch_folders, name="jobkit-hot-reload", daemon=True)
                self._watcher.start()

    def _watch_folders(self) -> None:
        """Recycles a hot-reloading function once a change of its folder has held for one look."""
        pending: set[str] = set()
        while not self._stopped.wait(WATCH_INTERVAL):
            watched = [e.spec for e in self.unique() if e.spec is not None and e.spec.hot_reload]
            with self._lock:
                for name in set(self._stamps) - {spec.name for spec in watched}:
                    self._stamps.pop(name)
                    pending.discard(name)
            for spec in watched:
                stamp = folder_stamp(spec.code_dir)
                with self._lock:
                    before = self._stamps.get(spec.name)
                    self._stamps[spec.name] = (spec.code_dir, stamp)
                if before is None or before[0] != spec.code_dir:
                    pending.discard(spec.name)  # new code meanwhile: its stamp is where it starts
                elif before[1] != stamp:
                    pending.add(spec.name)  # changed since the last look: wait for it to hold
                elif spec.name in pending:
                    pending.discard(spec.name)
                    with contextlib.suppress(UnknownFunctionError):  # deleted meanwhile
                        self.update(spec.name)

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
