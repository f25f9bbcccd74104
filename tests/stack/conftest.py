"""Build the stack once per session: a jsii start-up costs seconds."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stack.app import build_app
from stack.jobs_stack import JobsStack


def _synth(context: dict[str, Any]) -> tuple[JobsStack, Template]:
    # bundling-stacks [] skips the pip bundling, which these assertions do not need
    app = cdk.App(context={"aws:cdk:bundling-stacks": [], **context})
    _, stack = build_app(app)
    return stack, Template.from_stack(stack)


@pytest.fixture(scope="session")
def synthesized() -> tuple[JobsStack, Template]:
    return _synth({"faultInjection": "true"})


@pytest.fixture(scope="session")
def template(synthesized: tuple[JobsStack, Template]) -> Template:
    return synthesized[1]


@pytest.fixture(scope="session")
def template_json(template: Template) -> dict[str, Any]:
    return template.to_json()


@pytest.fixture(scope="session")
def template_no_faults() -> dict[str, Any]:
    return _synth({})[1].to_json()


@pytest.fixture(scope="session")
def template_three_consumers() -> dict[str, Any]:
    return _synth({"consumers": 3})[1].to_json()
