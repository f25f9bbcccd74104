"""After a deploy: every resource of the template must exist on the target, with its settings.

LocalStack's free CloudFormation skips types it has no provider for (``AWS::Events::Archive``) and still
reports CREATE_COMPLETE; a deploy that looks green can miss the archive. Where a type was skipped and jobkit
can create it from the template's own properties, it does and says so; anything else is an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from jobkit.client.deployment import Deployment
from jobkit.deploy.template import Template
from jobkit.errors import JobkitError
from stack.settings import STACK_NAME

# Types whose existence is already proven by another check, or that have nothing to look up.
_NOTHING_TO_CHECK = {"AWS::CDK::Metadata", "AWS::ApiGateway::Account", "AWS::Lambda::Permission",
                     "AWS::IAM::Policy", "AWS::Logs::ResourcePolicy", "AWS::ApiGateway::Deployment"}


@dataclass
class Report:
    checked: int = 0
    repaired: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Resolver:
    """Resolves the few intrinsics the repairs need from the deployed stack's physical ids."""

    def __init__(self, deployment: Deployment, physical: dict[str, str]) -> None:
        self._deployment = deployment
        self._physical = physical
        self._account: str | None = None

    @property
    def account(self) -> str:
        if self._account is None:
            self._account = self._deployment.client("sts").get_caller_identity()["Account"]
        return self._account

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            ref = value["Ref"]
            pseudo = {"AWS::AccountId": self.account, "AWS::Region": self._deployment.region,
                      "AWS::Partition": "aws"}
            return pseudo.get(ref) or self._physical[ref]
        if set(value) == {"Fn::GetAtt"}:
            logical, attribute = value["Fn::GetAtt"]
            if attribute == "Arn" and logical in self._physical:
                name = self._physical[logical]
                if name.startswith("arn:"):
                    return name
                return self._deployment.client("events").describe_event_bus(Name=name)["Arn"]
            raise JobkitError(f"cannot resolve Fn::GetAtt {logical}.{attribute}")
        return {k: self.resolve(v) for k, v in value.items()}


def verify(deployment: Deployment, template: Template, say: Callable[[str], None]) -> Report:
    """Checks each resource of the template on the target; repairs skipped archives; raises on a gap."""
    cfn = deployment.client("cloudformation")
    listed = cfn.describe_stack_resources(StackName=STACK_NAME)["StackResources"]
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in listed}
    resolver = Resolver(deployment, physical)
    report = Report()
    gaps: list[str] = []
    for logical_id, resource in template.resources.items():
        type_ = resource["Type"]
        if type_ in _NOTHING_TO_CHECK or type_.startswith("Custom::"):
            continue
        report.checked += 1
        check = _CHECKS.get(type_, _check_physical_id)
        problem = check(deployment, resolver, logical_id, resource, physical.get(logical_id, ""))
        if problem is None:
            continue
        repair = _REPAIRS.get(type_)
        if repair is not None:
            repair(deployment, resolver, resource)
            message = f"{type_} {logical_id}: {problem}; jobkit created it from the template's properties"
            report.repaired.append(message)
            say(message)
        else:
            gaps.append(f"{type_} {logical_id}: {problem}")
    if gaps:
        raise JobkitError("the deployed stack lacks resources of the template:\n  " + "\n  ".join(gaps))
    return report


Check = Callable[[Deployment, Resolver, str, dict[str, Any], str], str | None]


def _check_physical_id(_d: Deployment, _r: Resolver, _l: str, _res: dict[str, Any], physical: str) -> str | None:
    return None if physical and physical != "unknown" else "not created (no physical id)"


def _check_archive(d: Deployment, _r: Resolver, _l: str, resource: dict[str, Any], _p: str) -> str | None:
    name = resource["Properties"]["ArchiveName"]
    try:
        d.client("events").describe_archive(ArchiveName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return f"archive {name} does not exist (the target's CloudFormation skipped the type)"
        raise
    return None


def _create_archive(d: Deployment, r: Resolver, resource: dict[str, Any]) -> None:
    props = r.resolve(resource["Properties"])
    args: dict[str, Any] = {"ArchiveName": props["ArchiveName"], "EventSourceArn": props["SourceArn"]}
    if "EventPattern" in props:
        args["EventPattern"] = json.dumps(props["EventPattern"])
    if "RetentionDays" in props:
        args["RetentionDays"] = int(props["RetentionDays"])
    if "Description" in props:
        args["Description"] = props["Description"]
    d.client("events").create_archive(**args)


def _check_mapping(d: Deployment, r: Resolver, _l: str, resource: dict[str, Any], physical: str) -> str | None:
    want = resource["Properties"]
    try:
        have = d.client("lambda").get_event_source_mapping(UUID=physical)
    except ClientError:
        return f"event source mapping {physical!r} does not exist"
    expected = {
        "BatchSize": want.get("BatchSize"),
        "MaximumRetryAttempts": want.get("MaximumRetryAttempts"),
        "MaximumRecordAgeInSeconds": want.get("MaximumRecordAgeInSeconds"),
        "BisectBatchOnFunctionError": want.get("BisectBatchOnFunctionError"),
        "ParallelizationFactor": want.get("ParallelizationFactor"),
    }
    wrong = [f"{k}={have.get(k)!r} (template {v!r})" for k, v in expected.items()
             if v is not None and have.get(k) != v]
    want_dest = r.resolve(want.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"))
    have_dest = have.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    if want_dest and have_dest != want_dest:
        wrong.append(f"on-failure destination {have_dest!r} (template {want_dest!r})")
    want_filters = [f["Pattern"] for f in want.get("FilterCriteria", {}).get("Filters", [])]
    have_filters = [f["Pattern"] for f in have.get("FilterCriteria", {}).get("Filters", [])]
    if [json.loads(p) for p in want_filters] != [json.loads(p) for p in have_filters]:
        wrong.append(f"filters {have_filters!r} (template {want_filters!r})")
    return "; ".join(wrong) or None


def _check_invoke_config(d: Deployment, r: Resolver, _l: str, resource: dict[str, Any], _p: str) -> str | None:
    want = resource["Properties"]
    function = r.resolve(want["FunctionName"])
    try:
        have = d.client("lambda").get_function_event_invoke_config(FunctionName=function,
                                                                    Qualifier=want.get("Qualifier", "$LATEST"))
    except ClientError:
        return f"no event invoke config on {function}"
    wrong = []
    for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
        if key in want and have.get(key) != want[key]:
            wrong.append(f"{key}={have.get(key)!r} (template {want[key]!r})")
    want_dest = r.resolve(want.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"))
    have_dest = have.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    if want_dest and have_dest != want_dest:
        wrong.append(f"on-failure destination {have_dest!r} (template {want_dest!r})")
    return "; ".join(wrong) or None


def _api_id(r: Resolver, resource: dict[str, Any]) -> str:
    return str(r.resolve(resource["Properties"]["RestApiId"]))


def _check_validator(d: Deployment, r: Resolver, _l: str, resource: dict[str, Any], _p: str) -> str | None:
    want = resource["Properties"]
    items = d.client("apigateway").get_request_validators(restApiId=_api_id(r, resource))["items"]
    for item in items:
        if item.get("name") == want.get("Name"):
            if item.get("validateRequestBody") != want.get("ValidateRequestBody", False):
                return f"validator {item['name']} does not validate the body"
            return None
    return f"request validator {want.get('Name')!r} does not exist"


def _check_model(d: Deployment, r: Resolver, _l: str, resource: dict[str, Any], _p: str) -> str | None:
    want = resource["Properties"]
    try:
        model = d.client("apigateway").get_model(restApiId=_api_id(r, resource), modelName=want["Name"])
    except ClientError:
        return f"model {want['Name']!r} does not exist"
    if json.loads(model.get("schema") or "{}") != want["Schema"]:
        return f"model {want['Name']!r} differs from the template's schema"
    return None


_CHECKS: dict[str, Check] = {
    "AWS::Events::Archive": _check_archive,
    "AWS::Lambda::EventSourceMapping": _check_mapping,
    "AWS::Lambda::EventInvokeConfig": _check_invoke_config,
    "AWS::ApiGateway::RequestValidator": _check_validator,
    "AWS::ApiGateway::Model": _check_model,
}
_REPAIRS: dict[str, Callable[[Deployment, Resolver, dict[str, Any]], None]] = {
    "AWS::Events::Archive": _create_archive,
}
