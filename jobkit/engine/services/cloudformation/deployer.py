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
import threading
import uuid
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


@dataclass(frozen=True)
class PlannedChange:
    """What applying a template would do to one resource ("Change", "ResourceChange" of the CloudFormation API
    reference, https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ResourceChange.html).
    ``replacement`` (Modify): True when the type changes, Conditional otherwise (whether the resource's type
    updates the change in place is known when it runs); ``properties``: the top-level properties that change."""

    action: str  # Add | Modify | Remove
    logical_id: str
    resource_type: str
    physical_id: str = ""
    replacement: str = ""
    properties: tuple[str, ...] = ()


@dataclass
class _Prepared:
    """A template checked as a whole: its resources, parameter values and the order they are made in."""

    resources: dict[str, Any]
    values: dict[str, Any]
    order: list[str]


class StackDeployer:
    """One stack in the engine: applied, applied again in place, deleted."""

    def __init__(self, clients: ClientFactory, *, account: str, region: str, stack_name: str = STACK_NAME,
                 stage_code: StageCode | None = None,
                 on_event: Callable[[StackEvent], None] = lambda _event: None,
                 imports: Callable[[str], str] | None = None, stack_id: str | None = None) -> None:
        """``imports``: the value another stack exports under a name (``Fn::ImportValue``), KeyError if none."""
        self.clients = clients
        self.account = account
        self.region = region
        self.stack_name = stack_name
        self.stage_code = stage_code
        self.on_event = on_event
        self.imports = imports
        self.template: dict[str, Any] = {}
        self.parameters: dict[str, Any] = {}
        self.registry = StackRegistry(
            stack_name=stack_name,
            stack_id=stack_id or f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/{uuid.uuid4()}",
            account=account, region=region)
        self._lock = threading.Lock()

    def apply_assembly(self, cdk_out: Path) -> Changes:
        try:
            assembly = CloudAssembly.read(cdk_out, self.stack_name)
        except AssemblyError as exc:
            raise DeploymentError(str(exc)) from None
        return self.apply(assembly.template, assets=assembly.assets)

    def _resolver(self, registry: StackRegistry, template: dict[str, Any], values: dict[str, Any]) -> Resolver:
        return Resolver(registry, values, template.get("Conditions", {}), mappings=template.get("Mappings", {}),
                        imports=self.imports)

    def _prepare(self, template: dict[str, Any], parameters: dict[str, str] | None) -> _Prepared:
        """What is wrong with the template as a whole (a type, a parameter, a rule, a cycle), raised before
        anything is touched."""
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
        probe = StackRegistry(self.stack_name, self.registry.stack_id, self.account, self.region)
        self._check_rules(self._resolver(probe, template, values), template.get("Rules", {}))
        return _Prepared(resources, values, dependency_order(resources))

    def plan(self, template: dict[str, Any], parameters: dict[str, str] | None = None) -> list[PlannedChange]:
        """What ``apply`` would do, touching nothing: each resource added, modified or removed. A property that
        refers to a resource being added is taken as changed (its value is known once that resource exists).
        Raises DeploymentError as ``apply`` does for a template it cannot deploy."""
        with self._lock:
            prepared = self._prepare(template, parameters)
            old = dict(self.registry.resources)
            probe = StackRegistry(self.stack_name, self.registry.stack_id, self.account, self.region,
                                  resources=dict(old))
            resolver = self._resolver(probe, template, prepared.values)
            planned: list[PlannedChange] = []
            for logical_id in prepared.order:
                definition = prepared.resources[logical_id]
                condition = definition.get("Condition")
                if condition is not None and not resolver.condition(condition):
                    continue
                before = old.pop(logical_id, None)
                kind = definition["Type"]
                if before is None:
                    probe.resources.pop(logical_id, None)
                    planned.append(PlannedChange("Add", logical_id, kind))
                    continue
                if before.type != kind:
                    probe.resources.pop(logical_id)
                    planned.append(PlannedChange("Modify", logical_id, kind, before.physical_id, "True"))
                    continue
                differing = self._differing(resolver, definition.get("Properties", {}), before.properties)
                if differing:
                    planned.append(PlannedChange("Modify", logical_id, kind, before.physical_id, "Conditional",
                                                 differing))
            planned += [PlannedChange("Remove", logical_id, resource.type, resource.physical_id)
                        for logical_id, resource in old.items()]
            return planned

    @staticmethod
    def _differing(resolver: Resolver, properties: dict[str, Any], before: dict[str, Any]) -> tuple[str, ...]:
        differing = []
        for name in sorted(set(properties) | set(before)):
            if name not in properties:
                differing.append(name)
                continue
            try:
                resolved = resolver.resolve({name: properties[name]})
            except DeploymentError:  # refers to what is not made yet
                differing.append(name)
                continue
            if resolved.get(name) != before.get(name):
                differing.append(name)
        return tuple(differing)

    def apply(self, template: dict[str, Any], *, assets: dict[str, Path] | None = None,
              parameters: dict[str, str] | None = None) -> Changes:
        """Brings the stack to ``template``. What is wrong with the template as a whole (a type, a parameter, a
        rule, a cycle) is refused before anything is touched; a resource that fails stops the update there,
        with what was done kept in the record, and raises DeploymentError naming it."""
        with self._lock:
            prepared = self._prepare(template, parameters)
            resources, values = prepared.resources, prepared.values
            new = StackRegistry(self.stack_name, self.registry.stack_id, self.account, self.region)
            resolver = self._resolver(new, template, values)
            ctx = self._context(assets)
            old = dict(self.registry.resources)
            changes = Changes()
            try:
                for logical_id in prepared.order:
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
                        if "Export" in output:
                            new.exports[str(resolver.resolve(output["Export"]["Name"]))] = new.outputs[key]
            except BaseException:
                new.resources.update(old)  # what was not reached yet is still there
                new.outputs = dict(self.registry.outputs)
                new.exports = dict(self.registry.exports)
                self.registry = new
                raise
            self.registry = new
            self.template = template
            self.parameters = values
            return changes

    def delete(self) -> list[str]:
        """Every resource, in the reverse of the order they were made; their logical ids."""
        with self._lock:
            ctx = self._context(None)
            deleted = []
            for logical_id, resource in reversed(list(self.registry.resources.items())):
                self._delete(ctx, resource)
                del self.registry.resources[logical_id]
                deleted.append(logical_id)
            self.registry.outputs.clear()
            self.registry.exports.clear()
            return deleted

    def _context(self, assets: dict[str, Path] | None) -> DeployContext:
        return DeployContext(self.clients, self.account, self.region, self.stack_name, dict(assets or {}),
                             self.stage_code or (lambda _bucket, _key, _folder: None))

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
            self._delete(ctx, before, policy="UpdateReplacePolicy")
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

    def _delete(self, ctx: DeployContext, resource: DeployedResource, policy: str = "DeletionPolicy") -> None:
        """Deletes a resource, unless the template that made it keeps it (``Retain``: "DeletionPolicy attribute",
        https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html,
        and "UpdateReplacePolicy" for a replaced one): then it stays, out of the stack."""
        definition = self.template.get("Resources", {}).get(resource.logical_id, {})
        if isinstance(definition, dict) and definition.get(policy) in ("Retain", "RetainExceptOnCreate"):
            self._event(resource, "DELETE_SKIPPED")
            return
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
            raise DeploymentError(f"Parameters: [{', '.join(unknown)}] do not exist in the template")
        values: dict[str, Any] = {}
        missing = [name for name, definition in definitions.items()
                   if given.get(name, definition.get("Default")) is None]
        if missing:
            raise DeploymentError(f"Parameters: [{', '.join(missing)}] must have values")
        for name, definition in definitions.items():
            value = given.get(name, definition.get("Default"))
            self._check_value(name, definition, str(value))
            if str(definition.get("Type", "")).startswith("AWS::SSM::Parameter::Value"):
                value = self._ssm_value(str(value))
            elif str(definition.get("Type", "")).startswith("List<") or definition.get("Type") == "CommaDelimitedList":
                value = [item.strip() for item in str(value).split(",")]
            values[name] = value
        return values

    @staticmethod
    def _check_value(name: str, definition: dict[str, Any], value: str) -> None:
        """AllowedValues and AllowedPattern ("Parameters", https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html)."""
        constraint = definition.get("ConstraintDescription")
        allowed = definition.get("AllowedValues")
        if allowed is not None and value not in [str(v) for v in allowed]:
            raise DeploymentError(f"Parameter '{name}' failed to satisfy constraint: {constraint}" if constraint
                                  else f"Parameter '{name}' must be one of AllowedValues")
        pattern = definition.get("AllowedPattern")
        if pattern is not None and re.fullmatch(str(pattern), value) is None:
            raise DeploymentError(f"Parameter '{name}' failed to satisfy constraint: {constraint}" if constraint
                                  else f"Parameter '{name}' must match pattern {pattern}")

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
