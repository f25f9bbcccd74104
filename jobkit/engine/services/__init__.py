"""The AWS services of the embedded engine, one folder each: the API operations the engine serves itself (moto
keeps the control-plane record behind them), its data plane, how it starts (``service.py``: ``start(ctx)``
registers its operations and deliveries, see ``jobkit.engine.core.service``) and its CloudFormation resource
types (``resources.py``, a ``RESOURCE_TYPES`` tuple). A service is registered here once, in each list it
belongs to."""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from jobkit.engine.core.service import EngineContext, Started
    from jobkit.engine.services.cloudformation.resource_types import ResourceType

#: the services with a ``service.py``, in start order (a later one may use an earlier one: ``ctx.started``)
SERVED = ("lambda_", "sns", "sqs", "events", "apigateway", "dynamodb")
#: the services whose sandbox data moto alone keeps: ``data.py``'s ``reset(account, outputs) -> {what: count}``
#: clears it, resources kept (a served service clears its own in ``reset()``, see ``core.service.Started``)
WITH_DATA = ("dynamodb", "logs", "ssm")
#: the services whose ``resources.py`` declares CloudFormation resource types
WITH_RESOURCE_TYPES = ("apigateway", "cloudformation", "dynamodb", "ecr", "events", "iam", "kms", "lambda_", "logs",
                       "s3", "sns", "ssm")


def starter(service: str) -> Callable[[EngineContext], Started]:
    """``start`` of a served service."""
    start: Callable[[EngineContext], Started] = importlib.import_module(f"{__name__}.{service}.service").start
    return start


def data_reset(service: str) -> Callable[[str, Mapping[str, str]], dict[str, int]]:
    """``reset`` of a service's moto data (``WITH_DATA``)."""
    reset: Callable[[str, Mapping[str, str]], dict[str, int]] = importlib.import_module(
        f"{__name__}.{service}.data").reset
    return reset


@cache
def resource_types() -> dict[str, ResourceType]:
    """Type name (``AWS::SNS::Topic``) -> its actions, from every registered service."""
    found: dict[str, ResourceType] = {}
    for service in WITH_RESOURCE_TYPES:
        for kind in importlib.import_module(f"{__name__}.{service}.resources").RESOURCE_TYPES:
            found[kind.name] = kind
    return found
