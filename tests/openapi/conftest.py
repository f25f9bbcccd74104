"""The synthesized template (in process, once per session) and the OpenAPI documents built from it."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template as CdkTemplate

from jobkit.deploy.template import Template
from jobkit.openapi import openapi_document
from stack.app import build_app

BASE_URL = "http://127.0.0.1:4566/restapis/abc123/dev/_user_request_/"


def _synth(context: dict[str, Any]) -> Template:
    # bundling-stacks [] skips the pip bundling of the handlers, which the API does not need
    app = cdk.App(context={"aws:cdk:bundling-stacks": [], **context})
    _, stack = build_app(app)
    return Template(dict(CdkTemplate.from_stack(stack).to_json()))


@pytest.fixture(scope="session")
def template() -> Template:
    """As local targets synthesize it: fault injection on."""
    return _synth({"faultInjection": "true"})


@pytest.fixture(scope="session")
def template_no_faults() -> Template:
    """As AWS gets it by default: no ``fault`` in the model."""
    return _synth({})


@pytest.fixture(scope="session")
def document(template: Template) -> dict[str, Any]:
    return openapi_document(template, BASE_URL)
