"""A template's language: its text (JSON or YAML), intrinsic functions, conditions and the order resources are
created in.

"Template format" (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/template-formats.html),
"Intrinsic function reference" (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html)
and "Conditions" (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/conditions-section-structure.html).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import yaml

from jobkit.engine.services.cloudformation.resource_types import DeploymentError, StackRegistry

_NO_VALUE = object()
_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")
#: "Template anatomy": the top-level sections a template may have
SECTIONS = frozenset({"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings",
                      "Conditions", "Transform", "Resources", "Outputs"})


class _TemplateLoader(yaml.SafeLoader):
    """YAML as CloudFormation reads it: the short forms of the intrinsic functions (``!Ref``, ``!Sub``,
    ``!GetAtt a.b`` ...) and dates left as text (``AWSTemplateFormatVersion: 2010-09-09`` is a string)."""


_TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_TemplateLoader.add_multi_constructor("!", _short_form)


def parse_template(body: str) -> dict[str, Any]:
    """A template's text, JSON or YAML, as a document; DeploymentError in CloudFormation's words if it is not a
    template ("Template format error: ...")."""
    text = body.strip()
    try:
        document = json.loads(text) if text.startswith("{") else yaml.load(text, Loader=_TemplateLoader)  # noqa: S506  # nosec B506  # a SafeLoader
    except json.JSONDecodeError as exc:
        raise DeploymentError(f"Template format error: JSON not well-formed. (line {exc.lineno},  column {exc.colno})"
                              ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise DeploymentError(f"Template format error: YAML not well-formed.{where}") from None
    if not isinstance(document, dict):
        raise DeploymentError("Template format error: the template must be a JSON or YAML object")
    unknown = sorted(str(key) for key in document if key not in SECTIONS)
    if unknown:
        raise DeploymentError(f"Template format error: Invalid template property or properties [{', '.join(unknown)}]")
    if "Transform" in document:
        raise DeploymentError("Template format error: the embedded engine does not run transforms (macros, "
                              f"AWS::Serverless): Transform {json.dumps(document['Transform'])}")
    resources = document.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise DeploymentError("Template format error: At least one Resources member must be defined.")
    for section in ("Parameters", "Mappings", "Conditions", "Rules", "Outputs"):
        if not isinstance(document.get(section, {}), dict):
            raise DeploymentError(f"Template format error: {section} must be an object")
    for logical_id, definition in resources.items():
        if not isinstance(definition, dict) or not isinstance(definition.get("Type"), str):
            raise DeploymentError(f"Template format error: [/Resources/{logical_id}] Every Resources object must "
                                  "contain a Type member.")
        if not isinstance(definition.get("Properties", {}), dict):
            raise DeploymentError(f"Template format error: [/Resources/{logical_id}/Properties] must be an object")
    for key, output in document.get("Outputs", {}).items():
        if not isinstance(output, dict) or "Value" not in output:
            raise DeploymentError(f"Template format error: Every Outputs member must contain a Value object ({key})")
    unresolved = sorted(unresolved_references(resources, document.get("Parameters", {})))
    if unresolved:
        raise DeploymentError(f"Template format error: Unresolved resource dependencies [{', '.join(unresolved)}] "
                              "in the Resources block of the template")
    return document


#: the pseudo parameters a Ref may name ("Pseudo parameters reference")
PSEUDO = frozenset({"AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::URLSuffix", "AWS::StackName",
                    "AWS::StackId", "AWS::NoValue", "AWS::NotificationARNs"})


def unresolved_references(resources: dict[str, Any], parameters: dict[str, Any]) -> set[str]:
    """What the resources refer to (Ref, Fn::GetAtt, Fn::Sub, DependsOn) that is no resource, parameter or
    pseudo parameter."""
    known = set(resources) | set(parameters) | PSEUDO
    found: set[str] = set()
    for definition in resources.values():
        depends = definition.get("DependsOn", [])
        found |= {depends} if isinstance(depends, str) else {str(d) for d in depends if isinstance(d, str)}
        found |= _named(definition.get("Properties", {}))
    return found - known


def _named(value: Any) -> set[str]:
    """The names a value refers to, leaving out a Fn::Sub's own variables."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _named(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                target = arg.split(".")[0] if isinstance(arg, str) else (arg or [None])[0]
                if isinstance(target, str):
                    found.add(target)
            elif key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1]) \
                    if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], dict) else ("", {})
                if isinstance(text, str):
                    found |= {m.split(".")[0] for m in _SUB_VAR.findall(text)} - set(variables)
                found |= _named(variables)
            else:
                found |= _named(arg)
    return found


class Resolver:
    """Resolves intrinsic functions against parameters, pseudo parameters and the deployed resources."""

    def __init__(self, registry: StackRegistry, parameters: dict[str, Any], conditions: dict[str, Any], *,
                 mappings: dict[str, Any] | None = None, imports: Callable[[str], str] | None = None) -> None:
        """``imports``: the value another stack exports under a name (``Fn::ImportValue``), KeyError if none."""
        self.registry = registry
        self.parameters = parameters
        self.condition_defs = conditions
        self.mappings = mappings or {}
        self.imports = imports
        self._conditions: dict[str, bool] = {}

    def pseudo(self) -> dict[str, Any]:
        r = self.registry
        return {
            "AWS::AccountId": r.account, "AWS::Region": r.region, "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": r.stack_name, "AWS::StackId": r.stack_id,
            "AWS::NoValue": _NO_VALUE, "AWS::NotificationARNs": [],
        }

    def ref(self, name: str) -> Any:
        pseudo = self.pseudo()
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.registry.resources:
            return self.registry.resources[name].physical_id
        raise DeploymentError(f"Ref to {name!r}: no such parameter or (deployed) resource")

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.registry.resources.get(logical_id)
        if resource is None:
            raise DeploymentError(f"Fn::GetAtt {logical_id}.{attribute}: {logical_id} is not deployed")
        if attribute not in resource.attributes:
            raise DeploymentError(f"Fn::GetAtt {logical_id}.{attribute}: {resource.type} has no such attribute here")
        return resource.attributes[attribute]

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self.condition_defs:
                raise DeploymentError(f"condition {name!r} is not defined")
            self._conditions[name] = bool(self.resolve(self.condition_defs[name]))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                try:
                    return self._function(key, arg)
                except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
                    raise DeploymentError(f"Template error: {key} is malformed ({json.dumps(arg)[:200]}): "
                                          f"{type(exc).__name__} {exc}") from None
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:
        if name == "Fn::GetAtt":
            logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else self.resolve(arg)
            return self.get_att(logical_id, attribute)
        if name == "Fn::Join":
            separator, items = arg
            return separator.join(str(i) for i in self.resolve(items))
        if name == "Fn::Sub":
            return self._sub(arg)
        if name == "Fn::Select":
            index, items = self.resolve(arg)
            return items[int(index)]
        if name == "Fn::Split":
            separator, text = self.resolve(arg)
            return str(text).split(separator)
        if name == "Fn::Base64":
            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        if name == "Fn::Equals":
            left, right = self.resolve(arg)
            return str(left) == str(right)
        if name == "Fn::Not":
            return not self.resolve(arg[0])
        if name == "Fn::And":
            return all(self.resolve(arg))
        if name == "Fn::Or":
            return any(self.resolve(arg))
        if name == "Fn::If":
            condition, yes, no = arg
            return self.resolve(yes if self.condition(condition) else no)
        if name == "Fn::Contains":
            items, needle = self.resolve(arg)
            return needle in items
        if name == "Fn::FindInMap":
            return self._find_in_map(*self.resolve(arg))
        if name == "Fn::ImportValue":
            return self._import(str(self.resolve(arg)))
        if name == "Fn::GetAZs":
            region = self.resolve(arg) or self.registry.region
            return [f"{region}{zone}" for zone in "abc"]
        raise DeploymentError(f"intrinsic function {name} is not supported by the embedded engine")

    def _find_in_map(self, name: str, top: str, second: str, *default: Any) -> Any:
        try:
            return self.mappings[name][top][second]
        except (KeyError, TypeError):
            if default and isinstance(default[0], dict) and "DefaultValue" in default[0]:
                return default[0]["DefaultValue"]
            raise DeploymentError(f"Fn::FindInMap: mapping {name} has no {top}.{second}") from None

    def _import(self, name: str) -> str:
        try:
            if self.imports is None:
                raise KeyError(name)
            return self.imports(name)
        except KeyError:
            raise DeploymentError(f"Fn::ImportValue: No export named {name} found.") from None

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.registry.resources:
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return _SUB_VAR.sub(replace, text).replace("${!", "${")


def references(value: Any) -> set[str]:
    """Logical ids a template value refers to (Ref, Fn::GetAtt, Fn::Sub)."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= references(v)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg.split(".")[0] if isinstance(arg, str) else arg[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found |= {m.split(".")[0] for m in _SUB_VAR.findall(text)}
                if not isinstance(arg, str):
                    found |= references(arg[1])
            else:
                found |= references(arg)
    return found


def dependency_order(resources: dict[str, Any]) -> list[str]:
    """Logical ids so that each comes after what it references or DependsOn (template order otherwise)."""
    depends: dict[str, set[str]] = {}
    for logical_id, definition in resources.items():
        explicit = definition.get("DependsOn", [])
        explicit = [explicit] if isinstance(explicit, str) else explicit
        refs = references(definition.get("Properties", {})) | set(explicit)
        depends[logical_id] = {r for r in refs if r in resources}
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            raise DeploymentError(f"circular dependency: {' -> '.join([*path, node])}")
        state[node] = 1
        for dependency in sorted(depends[node]):
            visit(dependency, [*path, node])
        state[node] = 2
        order.append(node)

    for logical_id in resources:
        visit(logical_id, [])
    return order

