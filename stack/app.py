"""CDK entry point (``cdk.json``: ``python -m stack.app``)."""

from __future__ import annotations

import os

import aws_cdk as cdk

from stack.jobs_stack import JobsStack
from stack.settings import STACK_NAME, StackSettings


def build_app(app: cdk.App | None = None) -> tuple[cdk.App, JobsStack]:
    """The one app every target synthesizes; settings come from context (see stack.settings)."""
    app = app or cdk.App()
    settings = StackSettings.from_context(app.node)
    env = None
    if os.environ.get("CDK_DEFAULT_ACCOUNT"):
        env = cdk.Environment(
            account=os.environ["CDK_DEFAULT_ACCOUNT"], region=os.environ.get("CDK_DEFAULT_REGION"),
        )
    stack = JobsStack(app, STACK_NAME, settings=settings, env=env,
                      description="jobkit: asynchronous job processing with API Gateway and DynamoDB Streams")
    return app, stack


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
