"""CloudFormation's API, served by the engine over its stacks (``stacks.Stacks``), each applied by the same
``StackDeployer`` that deploys the engine's own stack at start: what ``cdk deploy`` and ``cdk bootstrap``
call (change sets, stacks, events, resources, templates, exports). moto's CloudFormation is never reached:
it would make resources the compute plane never sees, so every other action of the service is refused as
not implemented (``EngineApp.own``).

Each action's request and answer are the shapes of the CloudFormation API reference
(https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Operations.html), read and written from
botocore's model (``query``); the page of each is named at its method. A template is JSON or YAML, given in
the request (``TemplateBody``) or as an object of the engine's S3 (``TemplateURL``, in any of the forms cdk
and the SDKs write: path-style or virtual-hosted, on ``amazonaws.com`` or a local host).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from werkzeug.wrappers import Request, Response

from jobkit.engine.core.errors import AwsError
from jobkit.engine.core.server import AwsCall, Interceptor
from jobkit.engine.services.cloudformation import query
from jobkit.engine.services.cloudformation.deployer import PlannedChange
from jobkit.engine.services.cloudformation.resource_types import DeploymentError
from jobkit.engine.services.cloudformation.stacks import UPDATABLE, ChangeSet, Stack, Stacks, Submission, defaults
from jobkit.engine.services.cloudformation.template import parse_template

LOG = logging.getLogger(__name__)
#: "Amazon CloudFormation quotas": a template in an S3 object is at most 1 MB
MAX_TEMPLATE_URL_BYTES = 1_000_000
#: events in one DescribeStackEvents page; resources in one ListStackResources page
PAGE = 100
#: "Acknowledging IAM resources in CloudFormation templates": the types that need CAPABILITY_IAM, and the
#: property that names one (which needs CAPABILITY_NAMED_IAM)
_IAM_TYPES = {"AWS::IAM::AccessKey": None, "AWS::IAM::Group": "GroupName",
              "AWS::IAM::InstanceProfile": "InstanceProfileName", "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
              "AWS::IAM::Policy": None, "AWS::IAM::Role": "RoleName", "AWS::IAM::User": "UserName",
              "AWS::IAM::UserToGroupAddition": None}
#: S3's host names: path-style (``s3.amazonaws.com``, ``s3.<region>.amazonaws.com``, ``s3-<region>...``,
#: LocalStack's ``s3.localhost.localstack.cloud``) and virtual-hosted (``<bucket>.`` before either)
_S3_HOST = re.compile(
    r"^(?:(?P<bucket>.+)\.)?s3(?:[.-][a-z0-9-]+)*\.(?:amazonaws\.com(?:\.cn)?|localhost\.localstack\.cloud)$")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "localhost.localstack.cloud"})
#: "CreateStack": a stack's name ("must start with an alphabetical character and can't be longer than 128
#: characters"); the API's model leaves it to the service
_STACK_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]{0,127}")

#: the outputs a caller gets for a stack (the engine's own stack: its outputs as the engine serves them)
Outputs = Callable[[Stack], dict[str, str]]


def _check_name(name: str) -> None:
    if _STACK_NAME.fullmatch(name) is None:
        raise query.validation_error(f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy "
                                     "constraint: Member must satisfy regular expression pattern: "
                                     "[a-zA-Z][-a-zA-Z0-9]*|arn:[-a-zA-Z0-9:/._+]*")


def _stack_not_found(name: str) -> AwsError:
    return query.validation_error(f"Stack with id {name} does not exist")


def s3_object(account: str, bucket: str, key: str) -> bytes:
    """An object of the engine's S3 (moto's store), or CloudFormation's error for one it cannot read."""
    from moto.s3.exceptions import MissingBucket, MissingKey
    from moto.s3.models import s3_backends

    try:
        found = s3_backends[account]["aws"].get_object(bucket, key)
    except MissingBucket:
        raise query.validation_error("S3 error: The specified bucket does not exist") from None
    except MissingKey:
        found = None
    if found is None:
        raise query.validation_error("S3 error: The specified key does not exist.")
    return bytes(found.value)


def s3_location(url: str) -> tuple[str, str]:
    """(bucket, key) of an S3 object URL; ValidationError if it is not one."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = unquote(parts.path)
    match = _S3_HOST.match(host)
    if parts.scheme in ("http", "https") and (host in _LOCAL_HOSTS or (match and not match.group("bucket"))):
        bucket, _, key = path.lstrip("/").partition("/")
    elif parts.scheme in ("http", "https") and match:
        bucket, key = match.group("bucket"), path.lstrip("/")
    elif parts.scheme in ("http", "https") and host.endswith(".localhost"):
        bucket, key = host.removesuffix(".localhost"), path.lstrip("/")
    else:
        raise query.validation_error(f"TemplateURL must be an Amazon S3 URL, got {url}")
    if not bucket or not key:
        raise query.validation_error(f"TemplateURL must name an S3 bucket and object key, got {url}")
    return bucket, key


def required_capabilities(template: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(the capabilities the template needs, the resource types that need them)."""
    needing: list[str] = []
    named = False
    for definition in template.get("Resources", {}).values():
        kind = definition.get("Type") if isinstance(definition, dict) else None
        if kind in _IAM_TYPES:
            needing.append(str(kind))
            name_property = _IAM_TYPES[kind]
            named = named or bool(name_property and name_property in definition.get("Properties", {}))
    if not needing:
        return [], []
    return (["CAPABILITY_NAMED_IAM"] if named else ["CAPABILITY_IAM"]), sorted(set(needing))


class StackApi:
    def __init__(self, stacks: Stacks, *, account: str, outputs: Outputs | None = None) -> None:
        self.stacks = stacks
        self.account = account
        self.outputs = outputs or (lambda stack: dict(stack.registry.outputs))

    def intercepts(self) -> dict[str, Interceptor]:
        actions: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
            "CreateStack": self.create_stack, "UpdateStack": self.update_stack, "DeleteStack": self.delete_stack,
            "DescribeStacks": self.describe_stacks, "ListStacks": self.list_stacks,
            "DescribeStackEvents": self.describe_stack_events,
            "DescribeStackResources": self.describe_stack_resources,
            "DescribeStackResource": self.describe_stack_resource, "ListStackResources": self.list_stack_resources,
            "GetTemplate": self.get_template, "GetTemplateSummary": self.get_template_summary,
            "ValidateTemplate": self.validate_template, "CreateChangeSet": self.create_change_set,
            "DescribeChangeSet": self.describe_change_set, "ExecuteChangeSet": self.execute_change_set,
            "DeleteChangeSet": self.delete_change_set, "ListChangeSets": self.list_change_sets,
            "ListExports": self.list_exports, "UpdateTerminationProtection": self.update_termination_protection,
        }
        return {name: self._served(name, action) for name, action in actions.items()}

    @staticmethod
    def _served(name: str, action: Callable[[dict[str, Any]], dict[str, Any] | None]) -> Interceptor:
        def serve(request: Request, call: AwsCall) -> Response:
            try:
                return query.answer(name, action(query.parse(name, call.form())))
            except AwsError as error:
                return error.response("cloudformation")
            except Exception as exc:  # the engine's own fault: logged, and answered in the protocol's shape
                LOG.exception("CloudFormation %s failed", name)
                return AwsError("InternalFailure", f"the jobkit engine failed to serve {name}: "
                                f"{type(exc).__name__}: {exc}", 500).response("cloudformation")

        return serve

    # --- finding things -------------------------------------------------------------------------------------
    def _stack(self, name: str | None) -> Stack:
        stack = self.stacks.find(name) if name else None
        if stack is None:
            raise _stack_not_found(str(name))
        return stack

    def _change_set(self, name: str, stack_name: str | None) -> tuple[Stack, ChangeSet]:
        if not name.startswith("arn:"):
            if not stack_name:
                raise query.validation_error("StackName must be specified if ChangeSetName is not specified as an ARN.")
            stack = self.stacks.find(stack_name)
            if stack is None:
                raise query.validation_error(f"Stack [{stack_name}] does not exist")
            found = stack.change_set(name)
            if found is not None:
                return stack, found
        else:
            for stack in self.stacks.all():
                found = stack.change_set(name)
                if found is not None:
                    return stack, found
        raise query.modeled_error("ChangeSetNotFoundException", f"ChangeSet [{name}] does not exist")

    def _template(self, args: dict[str, Any], previous: Stack | None = None) -> tuple[dict[str, Any], str]:
        """(template, its text) of a request: TemplateBody, TemplateURL, or the stack's own
        (UsePreviousTemplate)."""
        body, url = args.get("TemplateBody"), args.get("TemplateURL")
        if args.get("UsePreviousTemplate"):
            if body or url:
                raise query.validation_error(
                    "You cannot specify both usePreviousTemplate and Template Body/Template URL.")
            if previous is None or previous.submission is None:
                raise query.validation_error("No previous template is available for this stack.")
            return previous.submission.template, previous.submission.body
        if body and url:
            raise query.validation_error("Specify exactly one of 'TemplateBody' or 'TemplateUrl'")
        if not body and not url:
            raise query.validation_error("Either Template URL or Template Body must be specified.")
        if url:
            data = s3_object(self.account, *s3_location(url))
            if len(data) > MAX_TEMPLATE_URL_BYTES:
                raise query.validation_error(f"Template may not exceed {MAX_TEMPLATE_URL_BYTES} bytes in size.")
            try:
                body = data.decode()
            except UnicodeDecodeError:
                raise query.validation_error("Template format error: the template is not UTF-8 text") from None
        try:
            return parse_template(str(body)), str(body)
        except DeploymentError as exc:
            raise query.validation_error(str(exc)) from None

    @staticmethod
    def _parameters(args: dict[str, Any], template: dict[str, Any], previous: Stack | None) -> dict[str, str]:
        """The parameter values of a submission: given, the previous value (UsePreviousValue), or the
        template's default. Refused as CloudFormation refuses them ("Parameter", .../API_Parameter.html)."""
        before = previous.submission.parameters if previous is not None and previous.submission else {}
        declared = template.get("Parameters", {}) or {}
        values: dict[str, str] = {}
        for item in args.get("Parameters", []):
            key = item.get("ParameterKey")
            if not key:
                raise query.validation_error("ParameterKey is required for every parameter")
            if item.get("UsePreviousValue"):
                if item.get("ParameterValue") is not None:
                    raise query.validation_error(f"Invalid input for parameter key {key}. Cannot specify "
                                                 "usePreviousValue as true and non empty value for a parameter")
                if key not in before:
                    raise query.validation_error(f"Invalid input for parameter key {key}. Cannot specify "
                                                 "usePreviousValue as true for a parameter key not in the previous "
                                                 "template")
                values[key] = before[key]
            elif item.get("ParameterValue") is not None:
                values[key] = str(item["ParameterValue"])
            else:
                raise query.validation_error(f"Invalid input for parameter key {key}. Need to specify either "
                                             "usePreviousValue as true or a value for the parameter")
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise query.validation_error(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
        values = {**defaults(template), **values}
        missing = [key for key in declared if key not in values]
        if missing:
            raise query.validation_error(f"Parameters: [{', '.join(missing)}] must have values")
        return values

    def _submission(self, args: dict[str, Any], previous: Stack | None) -> Submission:
        template, body = self._template(args, previous)
        needed, _ = required_capabilities(template)
        given = list(args.get("Capabilities", []))
        if needed and not (set(given) & {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"}
                           and (needed[0] == "CAPABILITY_IAM" or "CAPABILITY_NAMED_IAM" in given)):
            raise query.modeled_error("InsufficientCapabilitiesException", f"Requires capabilities : [{needed[0]}]")
        tags = args.get("Tags")
        if tags is None and previous is not None and previous.submission is not None:
            tags = previous.submission.tags  # "UpdateStack": tags not given stay as they were
        return Submission(template, body, self._parameters(args, template, previous), capabilities=given,
                          tags=list(tags or []), notification_arns=list(args.get("NotificationARNs", [])),
                          description=template.get("Description"), role_arn=args.get("RoleARN"),
                          disable_rollback=bool(args.get("DisableRollback")) or args.get("OnFailure") == "DO_NOTHING")

    # --- stacks ---------------------------------------------------------------------------------------------
    def create_stack(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html"""
        name = args["StackName"]
        _check_name(name)
        if self.stacks.find(name) is not None:
            raise query.modeled_error("AlreadyExistsException", f"Stack [{name}] already exists")
        submission = self._submission(args, None)
        stack = self.stacks.new_stack(name)
        try:
            stack.deployer.plan(submission.template, submission.parameters)
        except DeploymentError as exc:
            self.stacks.discard(stack)
            raise query.validation_error(str(exc)) from None
        stack.termination_protection = bool(args.get("EnableTerminationProtection"))
        self.stacks.submit(stack, submission, args.get("ClientRequestToken"))
        return {"StackId": stack.id}

    def update_stack(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStack.html"""
        stack = self._stack(args["StackName"])
        self._check_updatable(stack)
        submission = self._submission(args, stack)
        try:
            changes = stack.deployer.plan(submission.template, submission.parameters)
        except DeploymentError as exc:
            raise query.validation_error(str(exc)) from None
        if not changes and stack.submission is not None and (
                stack.submission.template, stack.submission.parameters, stack.submission.tags) == (
                submission.template, submission.parameters, submission.tags):
            raise query.validation_error("No updates are to be performed.")
        self.stacks.submit(stack, submission, args.get("ClientRequestToken"))
        return {"StackId": stack.id}

    @staticmethod
    def _check_updatable(stack: Stack) -> None:
        if stack.status not in UPDATABLE:
            raise query.validation_error(f"Stack:{stack.id} is in {stack.status} state and can not be updated.")

    def delete_stack(self, args: dict[str, Any]) -> None:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeleteStack.html (a stack that
        does not exist is no error)"""
        stack = self.stacks.find(args["StackName"])
        if stack is None:
            return None
        if stack.busy and stack.status != "DELETE_IN_PROGRESS":
            raise query.validation_error(f"Stack [{stack.name}] cannot be deleted while in status {stack.status}")
        if stack.termination_protection:
            raise query.validation_error(f"Stack [{stack.name}] cannot be deleted while TerminationProtection is "
                                         "enabled")
        self.stacks.delete(stack, args.get("ClientRequestToken"))
        return None

    def update_termination_protection(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateTerminationProtection.html"""
        stack = self._stack(args["StackName"])
        stack.termination_protection = bool(args["EnableTerminationProtection"])
        return {"StackId": stack.id}

    def describe_stacks(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html"""
        name = args.get("StackName")
        stacks = [self._stack(name)] if name else self.stacks.active()
        return {"Stacks": [self._described(stack) for stack in stacks]}

    def _described(self, stack: Stack) -> dict[str, Any]:
        """"Stack", https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html"""
        submission = stack.submission
        described: dict[str, Any] = {
            "StackId": stack.id, "StackName": stack.name, "CreationTime": stack.created,
            "LastUpdatedTime": stack.updated, "DeletionTime": stack.deleted, "StackStatus": stack.status,
            "StackStatusReason": stack.reason, "EnableTerminationProtection": stack.termination_protection,
            "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
        }
        if submission is None:
            return described
        declared = submission.template.get("Parameters", {}) or {}
        parameters = []
        for key, value in submission.parameters.items():
            parameter: dict[str, Any] = {"ParameterKey": key, "ParameterValue": value}
            definition = declared.get(key, {})
            if str(definition.get("Type", "")).startswith("AWS::SSM::Parameter::Value"):
                resolved = stack.deployer.parameters.get(key)
                if resolved is not None:
                    parameter["ResolvedValue"] = ",".join(resolved) if isinstance(resolved, list) else str(resolved)
            if definition.get("NoEcho") in (True, "true", "True"):
                parameter["ParameterValue"] = "****"
            parameters.append(parameter)
        described.update({
            "Description": submission.description, "Parameters": parameters,
            "DisableRollback": submission.disable_rollback, "NotificationARNs": submission.notification_arns,
            "Capabilities": submission.capabilities, "Tags": submission.tags, "RoleARN": submission.role_arn,
        })
        if stack.status != "REVIEW_IN_PROGRESS":
            described["Outputs"] = self._outputs(stack, submission.template)
        return described

    def _outputs(self, stack: Stack, template: dict[str, Any]) -> list[dict[str, Any]]:
        """"Output", .../API_Output.html: value, the template's description and the export's name."""
        exports = {value: name for name, value in stack.registry.exports.items()}
        declared = template.get("Outputs", {}) or {}
        outputs = []
        for key, value in self.outputs(stack).items():
            output: dict[str, Any] = {"OutputKey": key, "OutputValue": value}
            description = declared.get(key, {}).get("Description") if isinstance(declared.get(key), dict) else None
            if isinstance(description, str):
                output["Description"] = description
            if key in declared and "Export" in declared[key] and value in exports:
                output["ExportName"] = exports[value]
            outputs.append(output)
        return outputs

    def list_stacks(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStacks.html (deleted
        stacks too)"""
        wanted = set(args.get("StackStatusFilter", []))
        summaries = []
        for stack in reversed(self.stacks.all()):
            if wanted and stack.status not in wanted:
                continue
            summaries.append({
                "StackId": stack.id, "StackName": stack.name, "CreationTime": stack.created,
                "LastUpdatedTime": stack.updated, "DeletionTime": stack.deleted, "StackStatus": stack.status,
                "StackStatusReason": stack.reason,
                "TemplateDescription": stack.submission.description if stack.submission else None,
                "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"}})
        return {"StackSummaries": summaries}

    def describe_stack_events(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackEvents.html
        (newest first, ``PAGE`` a page)"""
        stack = self._stack(args.get("StackName"))
        start = _token(args.get("NextToken"))
        events = list(reversed(stack.events))
        page = events[start:start + PAGE]
        listed = [{
            "StackId": stack.id, "EventId": item.event_id, "StackName": stack.name,
            "LogicalResourceId": item.event.logical_id, "PhysicalResourceId": item.event.physical_id,
            "ResourceType": item.event.resource_type, "Timestamp": item.event.timestamp,
            "ResourceStatus": item.event.status, "ResourceStatusReason": item.event.reason or None,
            "ClientRequestToken": item.token,
        } for item in page]
        more = start + PAGE < len(events)
        return {"StackEvents": listed, "NextToken": str(start + PAGE) if more else None}

    # --- resources ------------------------------------------------------------------------------------------
    def _resources(self, stack: Stack) -> list[dict[str, Any]]:
        """Each resource with its last event's time and status."""
        last = {item.event.logical_id: item.event for item in stack.events
                if item.event.resource_type != "AWS::CloudFormation::Stack"}
        listed = []
        for resource in stack.registry.resources.values():
            event = last.get(resource.logical_id)
            listed.append({
                "LogicalResourceId": resource.logical_id, "PhysicalResourceId": resource.physical_id,
                "ResourceType": resource.type,
                "Timestamp": event.timestamp if event else query.timestamp(stack.created),
                "ResourceStatus": event.status if event and event.status.endswith("_COMPLETE") else "CREATE_COMPLETE",
                "DriftInformation": {"StackResourceDriftStatus": "NOT_CHECKED"},
            })
        return listed

    def describe_stack_resources(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResources.html"""
        if not args.get("StackName") and not args.get("PhysicalResourceId"):
            raise query.validation_error("Either StackName or PhysicalResourceId must be specified.")
        if args.get("StackName"):
            stack = self._stack(args["StackName"])
        else:
            owner = next((s for s in self.stacks.active() if any(
                r.physical_id == args["PhysicalResourceId"] for r in s.registry.resources.values())), None)
            if owner is None:
                raise query.validation_error(f"Stack for {args['PhysicalResourceId']} does not exist")
            stack = owner
        listed = [{"StackName": stack.name, "StackId": stack.id, **r} for r in self._resources(stack)
                  if args.get("LogicalResourceId") in (None, r["LogicalResourceId"])]
        for item in listed:
            item.pop("DriftInformation")
        return {"StackResources": listed}

    def describe_stack_resource(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResource.html"""
        stack = self._stack(args["StackName"])
        found = next((r for r in self._resources(stack) if r["LogicalResourceId"] == args["LogicalResourceId"]), None)
        if found is None:
            raise query.validation_error(f"Resource {args['LogicalResourceId']} does not exist for stack {stack.name}")
        found["LastUpdatedTimestamp"] = found.pop("Timestamp")
        metadata = (stack.submission.template.get("Resources", {}).get(found["LogicalResourceId"], {}).get("Metadata")
                    if stack.submission else None)
        return {"StackResourceDetail": {"StackName": stack.name, "StackId": stack.id, **found,
                                        "Metadata": json.dumps(metadata) if metadata is not None else None}}

    def list_stack_resources(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStackResources.html"""
        stack = self._stack(args["StackName"])
        start = _token(args.get("NextToken"))
        resources = self._resources(stack)
        summaries = []
        for item in resources[start:start + PAGE]:
            item["LastUpdatedTimestamp"] = item.pop("Timestamp")
            summaries.append(item)
        more = start + PAGE < len(resources)
        return {"StackResourceSummaries": summaries, "NextToken": str(start + PAGE) if more else None}

    # --- templates ------------------------------------------------------------------------------------------
    def get_template(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_GetTemplate.html (the text as
        submitted, at either stage: the engine runs no transforms)"""
        if args.get("ChangeSetName"):
            _, change_set = self._change_set(args["ChangeSetName"], args.get("StackName"))
            body = change_set.submission.body
        else:
            stack = self._stack(args.get("StackName"))
            # a stack still in review (its change set not executed) has no template yet
            body = stack.submission.body if stack.submission is not None else "{}"
        return {"TemplateBody": body, "StagesAvailable": ["Original", "Processed"]}

    def get_template_summary(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_GetTemplateSummary.html"""
        if args.get("StackName"):
            stack = self._stack(args["StackName"])
            if stack.submission is None:
                raise _stack_not_found(stack.name)
            template = stack.submission.template
        else:
            template, _ = self._template(args)
        capabilities, needing = required_capabilities(template)
        declarations = []
        for key, definition in (template.get("Parameters", {}) or {}).items():
            declaration: dict[str, Any] = {"ParameterKey": key, "ParameterType": definition.get("Type"),
                                           "NoEcho": definition.get("NoEcho") in (True, "true", "True"),
                                           "Description": definition.get("Description")}
            if "Default" in definition:
                declaration["DefaultValue"] = str(definition["Default"])
            if "AllowedValues" in definition:
                declaration["ParameterConstraints"] = {"AllowedValues": [str(v) for v in definition["AllowedValues"]]}
            declarations.append(declaration)
        summary: dict[str, Any] = {
            "Parameters": declarations, "Description": template.get("Description"),
            "ResourceTypes": sorted({str(d.get("Type")) for d in template["Resources"].values()
                                     if isinstance(d, dict)}),
            "Version": template.get("AWSTemplateFormatVersion"),
            "Metadata": json.dumps(template["Metadata"]) if "Metadata" in template else None,
            "DeclaredTransforms": [],
        }
        if capabilities:
            summary["Capabilities"] = capabilities
            summary["CapabilitiesReason"] = f"The following resource(s) require capabilities: [{', '.join(needing)}]"
        return summary

    def validate_template(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ValidateTemplate.html"""
        template, _ = self._template(args)
        capabilities, needing = required_capabilities(template)
        parameters = []
        for key, definition in (template.get("Parameters", {}) or {}).items():
            parameter: dict[str, Any] = {"ParameterKey": key, "NoEcho": definition.get("NoEcho") in (True, "true"),
                                         "Description": definition.get("Description")}
            if "Default" in definition:
                parameter["DefaultValue"] = str(definition["Default"])
            parameters.append(parameter)
        result: dict[str, Any] = {"Parameters": parameters, "Description": template.get("Description"),
                                  "DeclaredTransforms": []}
        if capabilities:
            result["Capabilities"] = capabilities
            result["CapabilitiesReason"] = f"The following resource(s) require capabilities: [{', '.join(needing)}]"
        return result

    def list_exports(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListExports.html"""
        return {"Exports": [{"ExportingStackId": stack.id, "Name": name, "Value": value}
                            for stack in self.stacks.active() for name, value in stack.registry.exports.items()]}

    # --- change sets ----------------------------------------------------------------------------------------
    def create_change_set(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html"""
        name, kind = args["StackName"], args.get("ChangeSetType", "UPDATE")
        if kind == "IMPORT":
            raise query.validation_error("the jobkit engine does not import existing resources (ChangeSetType IMPORT)")
        stack = self.stacks.find(name)
        if stack is None and not name.startswith("arn:"):
            _check_name(name)
        if kind == "CREATE" and stack is not None and stack.status != "REVIEW_IN_PROGRESS":
            raise query.validation_error(f"Stack [{name}] already exists and cannot be created again with the "
                                         f"changeSet [{args['ChangeSetName']}].")
        if kind == "UPDATE":
            if stack is None:
                raise query.validation_error(f"Stack [{name}] does not exist")
            self._check_updatable(stack)
        if stack is not None and stack.change_set(args["ChangeSetName"]) is not None:
            raise query.modeled_error("AlreadyExistsException", f"ChangeSet [{args['ChangeSetName']}] already exists")
        submission = self._submission(args, stack if kind == "UPDATE" else None)
        created = stack is None
        if stack is None:
            stack = self.stacks.new_stack(name)
        try:
            change_set = self.stacks.add_change_set(stack, args["ChangeSetName"], kind, submission,
                                                    args.get("Description"))
        except DeploymentError as exc:
            if created:
                self.stacks.discard(stack)
            raise query.validation_error(str(exc)) from None
        return {"Id": change_set.arn, "StackId": stack.id}

    def describe_change_set(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html"""
        stack, change_set = self._change_set(args["ChangeSetName"], args.get("StackName"))
        submission = change_set.submission
        return {
            "ChangeSetName": change_set.name, "ChangeSetId": change_set.arn, "StackId": stack.id,
            "StackName": stack.name, "Description": change_set.description,
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in submission.parameters.items()],
            "CreationTime": change_set.created, "ExecutionStatus": change_set.execution_status,
            "Status": change_set.status, "StatusReason": change_set.reason,
            "NotificationARNs": submission.notification_arns, "Capabilities": submission.capabilities,
            "Tags": submission.tags, "Changes": [_change(c) for c in change_set.changes],
            "IncludeNestedStacks": False,
        }

    def execute_change_set(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ExecuteChangeSet.html"""
        stack, change_set = self._change_set(args["ChangeSetName"], args.get("StackName"))
        if change_set.execution_status != "AVAILABLE":
            raise query.modeled_error("InvalidChangeSetStatusException",
                                      f"ChangeSet [{change_set.arn}] cannot be executed in its current status of "
                                      f"[{change_set.status}]")
        if stack.busy:
            raise query.modeled_error("InvalidChangeSetStatusException",
                                      f"ChangeSet [{change_set.arn}] cannot be executed while the stack is in "
                                      f"{stack.status}")
        self.stacks.execute(stack, change_set, disable_rollback=bool(args.get("DisableRollback")),
                            token=args.get("ClientRequestToken"))
        return {}

    def delete_change_set(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeleteChangeSet.html (a change
        set already gone is no error: ``cdk deploy`` deletes its change set's name before making it again)"""
        try:
            stack, change_set = self._change_set(args["ChangeSetName"], args.get("StackName"))
        except AwsError as error:
            if error.code == "ChangeSetNotFound":
                return {}
            raise
        if change_set.execution_status == "EXECUTE_IN_PROGRESS":
            raise query.modeled_error("InvalidChangeSetStatusException",
                                      f"Cannot delete ChangeSet [{change_set.arn}] while it is executing")
        stack.change_sets.pop(change_set.name, None)
        if stack.status == "REVIEW_IN_PROGRESS" and not stack.change_sets:
            self.stacks.discard(stack)
        return {}

    def list_change_sets(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListChangeSets.html"""
        stack = self._stack(args["StackName"])
        return {"Summaries": [{
            "StackId": stack.id, "StackName": stack.name, "ChangeSetId": c.arn, "ChangeSetName": c.name,
            "ExecutionStatus": c.execution_status, "Status": c.status, "StatusReason": c.reason,
            "CreationTime": c.created, "Description": c.description, "IncludeNestedStacks": False,
        } for c in stack.change_sets.values()]}


def _change(planned: PlannedChange) -> dict[str, Any]:
    """"Change" and "ResourceChange", .../API_ResourceChange.html: each changed property a detail."""
    change: dict[str, Any] = {"Action": planned.action, "LogicalResourceId": planned.logical_id,
                              "ResourceType": planned.resource_type}
    if planned.physical_id:
        change["PhysicalResourceId"] = planned.physical_id
    if planned.action == "Modify":
        change["Replacement"] = planned.replacement
        change["Scope"] = ["Properties"]
        recreation = "Always" if planned.replacement == "True" else "Conditionally"
        change["Details"] = [{"Target": {"Attribute": "Properties", "Name": name, "RequiresRecreation": recreation},
                              "Evaluation": "Static", "ChangeSource": "DirectModification"}
                             for name in planned.properties]
    return {"Type": "Resource", "ResourceChange": change}


def _token(token: str | None) -> int:
    if token is None:
        return 0
    if not token.isdigit():
        raise query.validation_error("Invalid NextToken")
    return int(token)

