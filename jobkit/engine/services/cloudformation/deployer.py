"""Stack deployment: a template applied to the engine resource by resource, through the AWS APIs it serves.

The engine has no second definition of the architecture: it reads the cloud assembly (``cdk.out``: template
and asset manifest), evaluates the template's Parameters, Rules and Conditions, resolves the intrinsic
functions (``template.Resolver``) and makes each resource in dependency order with its type's actions
(``resource_types``, declared by each service). A stack applied again is updated in place, as a CloudFormation
stack update is ("Update behaviors of stack resources",
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html):
a new resource is created, a changed one updated (or replaced where its type cannot update it), a removed one
deleted, and an unchanged one left alone, its data with it. An unsupported resource type is an error naming
it, before anything is touched.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from jobkit.deploy.assembly import AssemblyError, CloudAssembly
from jobkit.deploy.outputs import write_outputs
from jobkit.engine.services import resource_types
from jobkit.engine.services.cloudformation.resource_types import (
    ClientFactory,
    DeployContext,
    DeployedResource,
    DeploymentError,
    StackRegistry,
    StageCode,
)
from jobkit.engine.services.cloudformation.template import Resolver, dependency_order
from stack.settings import STACK_NAME

BOOTSTRAP_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
BOOTSTRAP_VERSION = "30"


@dataclass(frozen=True)
class StackEvent:
    """One step of a deployment, as DescribeStackEvents lists it."""

    logical_id: str
    physical_id: str
    resource_type: str
    status: str
    reason: str = ""
    timestamp: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


@dataclass
class Changes:
    """What one apply did, by logical id."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, list[str]]:
        return {"created": self.created, "updated": self.updated, "replaced": self.replaced,
                "deleted": self.deleted, "unchanged": self.unchanged}


class StackDeployer:
    """One stack in the engine: applied, applied again in place, deleted."""

    def __init__(self, clients: ClientFactory, *, account: str, region: str, stack_name: str = STACK_NAME,
                 stage_code: StageCode | None = None,
                 on_event: Callable[[StackEvent], None] = lambda _event: None) -> None:
        self.clients = clients
        self.account = account
        self.region = region
        self.stack_name = stack_name
        self.stage_code = stage_code
        self.on_event = on_event
        self.template: dict[str, Any] = {}
        self.parameters: dict[str, Any] = {}
        self.registry = StackRegistry(
            stack_name=stack_name,
            stack_id=f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/{secrets.token_hex(16)}",
            account=account, region=region)
        self._lock = threading.Lock()

    def apply_assembly(self, cdk_out: Path) -> Changes:
        try:
            assembly = CloudAssembly.read(cdk_out, self.stack_name)
        except AssemblyError as exc:
            raise DeploymentError(str(exc)) from None
        return self.apply(assembly.template, assets=assembly.assets)

    def apply(self, template: dict[str, Any], *, assets: dict[str, Path] | None = None,
              parameters: dict[str, str] | None = None) -> Changes:
        """Brings the stack to ``template``. What is wrong with the template as a whole (a type, a parameter, a
        rule, a cycle) is refused before anything is touched; a resource that fails stops the update there,
        with what was done kept in the record, and raises DeploymentError naming it."""
        with self._lock:
            kinds = resource_types()
            resources = template.get("Resources")
            if not isinstance(resources, dict) or not resources:
                raise DeploymentError("the template has no Resources")
            unsupported = sorted({f"{d.get('Type')} ({logical_id})" for logical_id, d in resources.items()
                                  if not isinstance(d, dict) or d.get("Type") not in kinds})
            if unsupported:
                raise DeploymentError("the embedded engine does not support the resource type(s): "
                                      + ", ".join(unsupported))
            values = self._parameters(template.get("Parameters", {}), parameters or {})
            new = StackRegistry(self.stack_name, self.registry.stack_id, self.account, self.region)
            resolver = Resolver(new, values, template.get("Conditions", {}))
            self._check_rules(resolver, template.get("Rules", {}))
            order = dependency_order(resources)
            ctx = DeployContext(self.clients, self.account, self.region, self.stack_name, dict(assets or {}),
                                self.stage_code or (lambda _bucket, _key, _folder: None))
            old = dict(self.registry.resources)
            changes = Changes()
            try:
                for logical_id in order:
                    definition = resources[logical_id]
                    condition = definition.get("Condition")
                    if condition is not None and not resolver.condition(condition):
                        continue
                    props = resolver.resolve(definition.get("Properties", {}))
                    new.resources[logical_id] = self._converge(ctx, logical_id, definition["Type"], props,
                                                               old.pop(logical_id, None), changes)
                for logical_id, resource in reversed(list(old.items())):
                    self._delete(ctx, resource)
                    changes.deleted.append(logical_id)
                    del old[logical_id]
                for key, output in template.get("Outputs", {}).items():
                    condition = output.get("Condition")
                    if condition is None or resolver.condition(condition):
                        new.outputs[key] = str(resolver.resolve(output["Value"]))
            except BaseException:
                new.resources.update(old)  # what was not reached yet is still there
                new.outputs = dict(self.registry.outputs)
                self.registry = new
                raise
            self.registry = new
            self.template = template
            self.parameters = values
            return changes

    def delete(self) -> list[str]:
        """Every resource, in the reverse of the order they were made; their logical ids."""
        with self._lock:
            ctx = DeployContext(self.clients, self.account, self.region, self.stack_name, {},
                                self.stage_code or (lambda _bucket, _key, _folder: None))
            deleted = []
            for logical_id, resource in reversed(list(self.registry.resources.items())):
                self._delete(ctx, resource)
                del self.registry.resources[logical_id]
                deleted.append(logical_id)
            self.registry.outputs.clear()
            return deleted

    def _converge(self, ctx: DeployContext, logical_id: str, type_name: str, props: dict[str, Any],
                  before: DeployedResource | None, changes: Changes) -> DeployedResource:
        kind = resource_types()[type_name]
        if before is not None and before.type != type_name:
            self._delete(ctx, before)
            before = None
        try:
            if before is None:
                made = kind.create(ctx, logical_id, props)
                changes.created.append(logical_id)
                self._event(made, "CREATE_COMPLETE")
                return made
            if before.properties == props:
                changes.unchanged.append(logical_id)
                return before
            updated = kind.update(ctx, before, props) if kind.update is not None else None
            if updated is not None:
                changes.updated.append(logical_id)
                self._event(updated, "UPDATE_COMPLETE")
                return updated
            self._delete(ctx, before)
            made = kind.create(ctx, logical_id, props)
            changes.replaced.append(logical_id)
            self._event(made, "UPDATE_COMPLETE", "Requested update requires the creation of a new physical resource")
            return made
        except DeploymentError:
            raise
        except Exception as exc:
            verb = "creating" if before is None else "updating"
            self.on_event(StackEvent(logical_id, before.physical_id if before else "", type_name,
                                     "CREATE_FAILED" if before is None else "UPDATE_FAILED", str(exc)))
            raise DeploymentError(f"{verb} {logical_id} ({type_name}) failed: {exc}") from exc

    def _delete(self, ctx: DeployContext, resource: DeployedResource) -> None:
        kind = resource_types().get(resource.type)
        try:
            if kind is not None and kind.delete is not None:
                kind.delete(ctx, resource)
        except Exception as exc:
            self.on_event(StackEvent(resource.logical_id, resource.physical_id, resource.type, "DELETE_FAILED",
                                     str(exc)))
            raise DeploymentError(f"deleting {resource.logical_id} ({resource.type}) failed: {exc}") from exc
        self._event(resource, "DELETE_COMPLETE")

    def _event(self, resource: DeployedResource, status: str, reason: str = "") -> None:
        self.on_event(StackEvent(resource.logical_id, resource.physical_id, resource.type, status, reason))

    def _parameters(self, definitions: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
        unknown = sorted(set(given) - set(definitions))
        if unknown:
            raise DeploymentError(f"parameters {unknown} do not exist in the template")
        values: dict[str, Any] = {}
        for name, definition in definitions.items():
            value = given.get(name, definition.get("Default"))
            if value is None:
                raise DeploymentError(f"parameter {name} has no default and no value was given")
            if str(definition.get("Type", "")).startswith("AWS::SSM::Parameter::Value"):
                value = self._ssm_value(str(value))
            elif str(definition.get("Type", "")).startswith("List<") or definition.get("Type") == "CommaDelimitedList":
                value = [item.strip() for item in str(value).split(",")]
            values[name] = value
        return values

    def _ssm_value(self, name: str) -> str:
        ssm = self.clients("ssm")
        if name == BOOTSTRAP_PARAMETER:  # the engine is its own bootstrapped environment
            try:
                ssm.get_parameter(Name=name)
            except ClientError:
                ssm.put_parameter(Name=name, Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True)
        value: str = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        return value

    @staticmethod
    def _check_rules(resolver: Resolver, rules: dict[str, Any]) -> None:
        for name, rule in rules.items():
            if "RuleCondition" in rule and not resolver.resolve(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", []):
                if not resolver.resolve(assertion["Assert"]):
                    raise DeploymentError(f"rule {name} failed: {assertion.get('AssertDescription', '')}")


def local_outputs(registry: StackRegistry, endpoint_url: str) -> dict[str, str]:
    """The stack outputs as an engine caller needs them: execute-api URLs point at the engine (LocalStack's
    ``/restapis/{id}/{stage}/_user_request_/`` form), plus how to reach the engine."""
    pattern = re.compile(r"^https://([a-z0-9]+)\.execute-api\.[^/]+\.amazonaws\.com/([^/]+)/(.*)$")
    outputs: dict[str, str] = {}
    for key, value in registry.outputs.items():
        match = pattern.match(value)
        outputs[key] = (f"{endpoint_url}/restapis/{match.group(1)}/{match.group(2)}/_user_request_/{match.group(3)}"
                        if match else value)
    outputs.update({"JobkitTarget": "embedded", "JobkitEndpointUrl": endpoint_url, "JobkitRegion": registry.region})
    return outputs


def write_outputs_file(path: Path, registry: StackRegistry, endpoint_url: str) -> dict[str, str]:
    """Writes ``cdk-outputs.json`` in the shape ``cdk deploy --outputs-file`` writes."""
    outputs = local_outputs(registry, endpoint_url)
    write_outputs(Path(path), outputs)
    return outputs
