"""CloudFormation resource providers for the two types of the stack that LocalStack's free engine lacks.

Without a provider LocalStack either skips the type (physical id ``unknown``, the resource never exists) or,
with ``CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES=0`` as jobkit runs it, refuses the whole deploy. These map each
type straight onto the service API the engine already emulates, so the deploy is real and strict:

- ``AWS::Events::Archive`` -> events ``CreateArchive`` / ``UpdateArchive`` / ``DeleteArchive``;
- ``AWS::Logs::ResourcePolicy`` -> logs ``PutResourcePolicy`` / ``DeleteResourcePolicy``.

Registered under the entry-point group ``localstack.cloudformation.resource_providers`` (pyproject.toml);
loaded in the engine's venv only (this module imports LocalStack).
"""

from __future__ import annotations

import json
from typing import Any, TypedDict

from botocore.exceptions import ClientError
from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException"


def _done(request: Any, model: Any) -> Any:
    return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model,
                         custom_context=request.custom_context)


class EventsArchiveProperties(TypedDict, total=False):
    ArchiveName: str
    SourceArn: str
    Description: str
    EventPattern: Any
    RetentionDays: int
    KmsKeyIdentifier: str
    Arn: str


class EventsArchiveProvider(ResourceProvider[EventsArchiveProperties]):
    TYPE = "AWS::Events::Archive"
    SCHEMA = {
        "typeName": TYPE,
        "primaryIdentifier": ["/properties/ArchiveName"],
        "required": ["SourceArn"],
        "createOnlyProperties": ["/properties/ArchiveName", "/properties/SourceArn"],
        "readOnlyProperties": ["/properties/Arn"],
    }

    def _arguments(self, model: EventsArchiveProperties) -> dict[str, Any]:
        args: dict[str, Any] = {"ArchiveName": model["ArchiveName"]}
        if model.get("Description"):
            args["Description"] = model["Description"]
        if model.get("EventPattern"):
            args["EventPattern"] = _json_text(model["EventPattern"])
        if model.get("RetentionDays") is not None:
            args["RetentionDays"] = int(model["RetentionDays"])
        return args

    def create(self, request: ResourceRequest[EventsArchiveProperties]) -> ProgressEvent[EventsArchiveProperties]:
        model = request.desired_state
        if not model.get("ArchiveName"):
            # CloudFormation's generated names: <stack>-<logical id>-<random>, at most 48 characters
            import localstack.services.cloudformation.provider_utils as util

            name = util.generate_default_name(request.stack_name, request.logical_resource_id)
            model["ArchiveName"] = name[-48:].lstrip("-")
        args = self._arguments(model)
        args["EventSourceArn"] = model["SourceArn"]
        if model.get("KmsKeyIdentifier"):
            args["KmsKeyIdentifier"] = model["KmsKeyIdentifier"]
        response = request.aws_client_factory.events.create_archive(**args)
        model["Arn"] = response["ArchiveArn"]
        return _done(request, model)

    def read(self, request: ResourceRequest[EventsArchiveProperties]) -> ProgressEvent[EventsArchiveProperties]:
        model = request.desired_state
        found = request.aws_client_factory.events.describe_archive(ArchiveName=model["ArchiveName"])
        model.update({"Arn": found["ArchiveArn"], "SourceArn": found["EventSourceArn"]})
        return _done(request, model)

    def update(self, request: ResourceRequest[EventsArchiveProperties]) -> ProgressEvent[EventsArchiveProperties]:
        model = request.desired_state
        previous = request.previous_state or {}
        model["ArchiveName"] = model.get("ArchiveName") or previous["ArchiveName"]
        request.aws_client_factory.events.update_archive(**self._arguments(model))
        model["Arn"] = previous.get("Arn") or request.aws_client_factory.events.describe_archive(
            ArchiveName=model["ArchiveName"])["ArchiveArn"]
        return _done(request, model)

    def delete(self, request: ResourceRequest[EventsArchiveProperties]) -> ProgressEvent[EventsArchiveProperties]:
        model = request.desired_state
        try:
            request.aws_client_factory.events.delete_archive(ArchiveName=model["ArchiveName"])
        except ClientError as exc:
            if not _missing(exc):
                raise
        return _done(request, model)


class LogsResourcePolicyProperties(TypedDict, total=False):
    PolicyName: str
    PolicyDocument: Any


class LogsResourcePolicyProvider(ResourceProvider[LogsResourcePolicyProperties]):
    TYPE = "AWS::Logs::ResourcePolicy"
    SCHEMA = {
        "typeName": TYPE,
        "primaryIdentifier": ["/properties/PolicyName"],
        "required": ["PolicyName", "PolicyDocument"],
        "createOnlyProperties": ["/properties/PolicyName"],
        "readOnlyProperties": [],
    }

    def _put(self, request: Any) -> Any:
        model = request.desired_state
        request.aws_client_factory.logs.put_resource_policy(
            policyName=model["PolicyName"], policyDocument=_json_text(model["PolicyDocument"]))
        return _done(request, model)

    def create(self, request: ResourceRequest[LogsResourcePolicyProperties]) -> ProgressEvent[Any]:
        return self._put(request)

    def update(self, request: ResourceRequest[LogsResourcePolicyProperties]) -> ProgressEvent[Any]:
        return self._put(request)

    def read(self, request: ResourceRequest[LogsResourcePolicyProperties]) -> ProgressEvent[Any]:
        model = request.desired_state
        policies = request.aws_client_factory.logs.describe_resource_policies()["resourcePolicies"]
        for policy in policies:
            if policy["policyName"] == model["PolicyName"]:
                model["PolicyDocument"] = policy["policyDocument"]
        return _done(request, model)

    def delete(self, request: ResourceRequest[LogsResourcePolicyProperties]) -> ProgressEvent[Any]:
        model = request.desired_state
        try:
            request.aws_client_factory.logs.delete_resource_policy(policyName=model["PolicyName"])
        except ClientError as exc:
            if not _missing(exc):
                raise
        return _done(request, model)


class EventsArchiveProviderPlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::Events::Archive"

    def __init__(self) -> None:
        self.factory: type[ResourceProvider] | None = None

    def load(self) -> None:
        self.factory = EventsArchiveProvider


class LogsResourcePolicyProviderPlugin(CloudFormationResourceProviderPlugin):
    name = "AWS::Logs::ResourcePolicy"

    def __init__(self) -> None:
        self.factory: type[ResourceProvider] | None = None

    def load(self) -> None:
        self.factory = LogsResourcePolicyProvider
