"""The targets jobkit can start, deploy to and drive, behind one small interface."""

from __future__ import annotations

import shutil
import subprocess
from typing import Protocol

from jobkit.client.deployment import Deployment
from jobkit.errors import JobkitError
from jobkit.targets.catalog import DEFAULT_TARGET, TARGET_NAMES, TARGETS
from jobkit.ui import Ui

__all__ = ["DEFAULT_TARGET", "TARGETS", "TARGET_NAMES", "Sandbox", "docker_engine_answers", "sandbox"]


class Sandbox(Protocol):
    """A local target: brought up (engine + deploy), reused while it runs, brought down."""

    def up(self, ui: Ui) -> Deployment: ...

    def down(self, ui: Ui) -> None: ...

    def running(self) -> bool: ...


def docker_engine_answers(timeout: float = 5.0) -> bool:
    """A Docker engine, not just the client (these machines have the client and no daemon)."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=timeout,
                              check=False).returncode == 0
    except (subprocess.TimeoutExpired, OSError):
        return False


def sandbox(target: str, runtime: str | None = None, time_scale: float | None = None,
            endpoint_url: str | None = None) -> Sandbox:
    """The sandbox of ``target``. On localstack, an engine's address (``endpoint_url``, else AWS_ENDPOINT_URL or
    LOCALSTACK_HOST when no runtime is asked for) attaches to that running engine instead of starting one."""
    if endpoint_url is not None and target != "localstack":
        raise JobkitError("--endpoint-url attaches to a running engine with --target localstack",
                          f"the {target} target has its own address")
    if target == "localstack":
        from jobkit.targets.localstack.attach import AttachedSandbox, resolve_endpoint

        if endpoint_url is not None and runtime is not None:
            raise JobkitError("--endpoint-url attaches to a running engine; --runtime starts one: give one of them")
        endpoint = resolve_endpoint(endpoint_url) if runtime is None else None
        if endpoint is not None:
            return AttachedSandbox(endpoint)
        chosen = runtime or ("docker" if docker_engine_answers() else "host")
        if chosen == "host":
            from jobkit.targets.localstack.sandbox import HostSandbox

            return HostSandbox()
        if chosen == "docker":
            from jobkit.targets.localstack.docker import DockerSandbox

            return DockerSandbox()
        raise JobkitError(f"unknown runtime {chosen!r}", "use --runtime host or --runtime docker")
    if target == "embedded":
        from jobkit.targets.embedded import EmbeddedSandbox

        return EmbeddedSandbox(time_scale=time_scale)
    if target == "aws":
        raise JobkitError("the aws target is not a sandbox", "use `jobkit deploy --target aws`")
    raise JobkitError(f"unknown target {target!r}", f"choose one of {', '.join(TARGET_NAMES)}")
