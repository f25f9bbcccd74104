"""The AWS services of the embedded engine, one folder each: its API operations the engine serves itself (moto
keeps the control-plane record behind them), its data plane, and its CloudFormation resource types
(``resources.py``, a ``RESOURCE_TYPES`` tuple). A service with resource types is registered here once."""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobkit.engine.services.cloudformation.resource_types import ResourceType

#: the services whose ``resources.py`` declares CloudFormation resource types
WITH_RESOURCE_TYPES = ("apigateway", "cloudformation", "dynamodb", "ecr", "events", "iam", "kms", "lambda_", "logs",
                       "s3", "sns", "ssm")


@cache
def resource_types() -> dict[str, ResourceType]:
    """Type name (``AWS::SNS::Topic``) -> its actions, from every registered service."""
    found: dict[str, ResourceType] = {}
    for service in WITH_RESOURCE_TYPES:
        for kind in importlib.import_module(f"{__name__}.{service}.resources").RESOURCE_TYPES:
            found[kind.name] = kind
    return found
