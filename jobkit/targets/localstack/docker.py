"""The docker runtime of the localstack target: docker-compose.yml (LocalStack + the one-shot deploy)."""

from __future__ import annotations

import subprocess

from jobkit.client.deployment import Deployment
from jobkit.errors import JobkitError
from jobkit.init_hooks import after_deploy
from jobkit.project import OUTPUTS_FILE, ROOT, STATE_DIR
from jobkit.targets.localstack.compose import DEPLOY, DOWN, SERVICE, UP
from jobkit.ui import Ui

LOG = STATE_DIR / "localstack" / "logs" / "compose.log"


def _compose(*args: str, timeout: float, step: str) -> None:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a") as log:
        try:
            proc = subprocess.run(["docker", "compose", *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise JobkitError(f"{step} did not finish within {timeout:.0f} s", f"read {LOG}") from exc
    if proc.returncode != 0:
        raise JobkitError(f"{step} failed (exit {proc.returncode})", f"read {LOG}")


class DockerSandbox:
    """``docker compose``: LocalStack healthy, then the deploy service, then the outputs file."""

    def up(self, ui: Ui) -> Deployment:
        with ui.step("starting LocalStack (docker compose, waiting for its health check)"):
            _compose(*UP, timeout=300, step="docker compose up localstack")
        with ui.step("deploying the stack (compose service `deploy`: cdklocal bootstrap + deploy)"):
            _compose(*DEPLOY, timeout=1200, step="docker compose run deploy")
        deployment = Deployment.load(OUTPUTS_FILE, target="localstack")
        after_deploy(deployment, ui.say)
        return deployment

    def down(self, ui: Ui) -> None:
        with ui.step("stopping docker compose"):
            _compose(*DOWN, timeout=120, step="docker compose down")

    def running(self) -> bool:
        proc = subprocess.run(["docker", "compose", "ps", "--status", "running", "--quiet", SERVICE],
                              cwd=ROOT, capture_output=True, text=True, check=False)
        return proc.returncode == 0 and bool(proc.stdout.strip())
