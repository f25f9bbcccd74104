"""The host runtime as a sandbox: LocalStack's engine on this machine, then the stack deployed into it."""

from __future__ import annotations

from jobkit.client.deployment import Deployment
from jobkit.project import ROOT
from jobkit.targets.localstack.deploy import deploy
from jobkit.targets.localstack.host import HostRuntime
from jobkit.ui import Ui


class HostSandbox:
    """``jobkit up --target localstack --runtime host``."""

    def __init__(self, runtime: HostRuntime | None = None) -> None:
        self.runtime = runtime or HostRuntime(ROOT)

    def up(self, ui: Ui) -> Deployment:
        self.runtime.up(ui)
        with ui.step("deploying the stack with cdklocal"):
            return deploy(self.runtime.endpoint_url, ui.say)

    def down(self, ui: Ui) -> None:
        self.runtime.down(ui)

    def running(self) -> bool:
        return self.runtime.status().running
