"""The aws target: ``cdk deploy`` into a real account, with the same outputs file as every target.

Needs credentials for an account and region (the usual AWS_PROFILE / AWS_REGION), bootstrapped once with
``cdk bootstrap``. Fault injection stays off unless asked for.
"""

from __future__ import annotations

import json

from jobkit.client.deployment import Deployment
from jobkit.deploy.cdk_cli import context_args, run_cdk
from jobkit.deploy.outputs import write_outputs
from jobkit.deploy.template import Template
from jobkit.deploy.verify import verify
from jobkit.project import OUTPUTS_FILE, STATE_DIR
from jobkit.targets.common import AWS_CONTEXT, LOCAL_CONTEXT
from jobkit.ui import Ui
from stack.settings import STACK_NAME

LOG = STATE_DIR / "aws" / "deploy.log"


def deploy_to_aws(ui: Ui, *, fault_injection: bool = False) -> Deployment:
    context = dict(AWS_CONTEXT)
    if fault_injection:
        context["faultInjection"] = LOCAL_CONTEXT["faultInjection"]
    raw = STATE_DIR / "aws" / "cdk-outputs.raw.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    with ui.step("cdk deploy (aws)"):
        run_cdk("cdk", ["deploy", STACK_NAME, "--require-approval", "never", "--outputs-file", str(raw),
                        *context_args(context)], log=LOG, step="cdk deploy", timeout=1800)
    outputs = json.loads(raw.read_text())[STACK_NAME]
    outputs["JobkitTarget"] = "aws"
    write_outputs(OUTPUTS_FILE, outputs)
    deployment = Deployment.load(OUTPUTS_FILE, target="aws")
    with ui.step("checking every resource of the template"):
        verify(deployment, Template.load(), ui.say)
    return deployment


def destroy_on_aws(ui: Ui) -> None:
    with ui.step("cdk destroy (aws)"):
        run_cdk("cdk", ["destroy", STACK_NAME, "--force"], log=LOG, step="cdk destroy", timeout=1800)
    OUTPUTS_FILE.unlink(missing_ok=True)
