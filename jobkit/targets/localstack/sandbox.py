"""The host runtime as a sandbox: LocalStack's engine on this machine, then the stack deployed into it."""

from __future__ import annotations

import time
from pathlib import Path

from jobkit.client.deployment import Deployment
from jobkit.deploy.assembly import CloudAssembly
from jobkit.errors import JobkitError
from jobkit.init_hooks import after_deploy
from jobkit.live import LiveCode, Watcher, function_assets
from jobkit.project import ROOT, STATE_DIR
from jobkit.targets.localstack.deploy import deploy
from jobkit.targets.localstack.host import HostRuntime
from jobkit.ui import Ui, plain
from stack.settings import STACK_NAME


class HostSandbox:
    """``jobkit up --target localstack --runtime host``."""

    def __init__(self, runtime: HostRuntime | None = None) -> None:
        self.runtime = runtime or HostRuntime(ROOT)

    def up(self, ui: Ui) -> Deployment:
        self.runtime.up(ui)
        with ui.step("deploying the stack with cdklocal"):
            deployment = deploy(self.runtime.endpoint_url, ui.say)
        after_deploy(deployment, ui.say)
        return deployment

    def down(self, ui: Ui) -> None:
        self.runtime.down(ui)

    def running(self) -> bool:
        return self.runtime.status().running

    def follow(self, deployment: Deployment, ui: Ui, root: Path = ROOT) -> Watcher:
        """The project followed while the foreground ``jobkit up`` runs: a saved handler reaches the functions
        through LocalStack's own hot-reload convention (its code is the snapshot folder on this host, mounted
        rather than copied: the jobkit executor runs it where it is); a saved stack is deployed again with
        cdklocal."""
        snapshots = STATE_DIR / "localstack" / "live"

        def say(hop: str, detail: str) -> None:
            ui.say(plain(f"{time.strftime('%H:%M:%S')} {hop} | {detail}"))

        def live_code() -> LiveCode:
            assembly = CloudAssembly.read(root / "cdk.out")
            resources = deployment.client("cloudformation").describe_stack_resources(StackName=STACK_NAME)
            physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources["StackResources"]}
            return LiveCode(function_assets(assembly.template, assembly.assets, physical.get, root),
                            deployment.client("lambda"), snapshots, say, root)

        def apply_stack() -> None:
            say("stack changed", "cdklocal deploy")
            try:
                deploy(self.runtime.endpoint_url, lambda line: say("stack", line))
            except JobkitError as exc:
                say("stack not applied", f"{exc} (the stack that runs stays)")
                return
            say("stack applied", "cdklocal deploy done")
            watcher.code = live_code()

        watcher = Watcher(live_code(), root / "stack", apply_stack, say)
        return watcher
