"""What CloudFormation knows of one resource type: how the engine creates, updates and deletes it through the
AWS APIs it serves. Each service declares its own types in its folder (``services/<service>/resources.py``);
``jobkit.engine.services.resource_types`` gathers them for the deployer.

An update that a type cannot make in place is a replacement, as CloudFormation's "Update behaviors of stack
resources" describe (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html):
the old resource goes and a new one is created under the same logical id; what refers to it is updated in turn.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class DeploymentError(Exception):
    """The template cannot be deployed into the engine (unsupported type, unresolvable reference, rule)."""


ClientFactory = Callable[[str], Any]
#: (bucket, key, folder): the folder a deployment's file asset is, in place of its upload to S3
StageCode = Callable[[str, str, Path], None]


@dataclass
class DeployedResource:
    """One resource of a stack: what ``Ref`` and ``Fn::GetAtt`` answer, and its resolved properties."""

    logical_id: str
    type: str
    physical_id: str
    properties: dict[str, Any]
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class StackRegistry:
    """A stack as deployed: logical id -> resource (in the order they were created), its outputs, and the values
    its outputs export (export name -> value)."""

    stack_name: str
    stack_id: str
    account: str
    region: str
    resources: dict[str, DeployedResource] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    exports: dict[str, str] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> list[DeployedResource]:
        return [r for r in self.resources.values() if r.type == resource_type]


@dataclass
class DeployContext:
    """What a resource type's actions get: the engine's clients and where the stack lives."""

    clients: ClientFactory
    account: str
    region: str
    stack_name: str
    #: object key (``<hash>.zip``) -> the file asset's folder in the cloud assembly
    assets: dict[str, Path] = field(default_factory=dict)
    stage_code: StageCode = lambda _bucket, _key, _folder: None

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    def name(self, logical_id: str, limit: int = 64) -> str:
        return physical_name(self.stack_name, logical_id, limit)


Create = Callable[[DeployContext, str, dict[str, Any]], DeployedResource]
#: None: the change needs a replacement
Update = Callable[[DeployContext, DeployedResource, dict[str, Any]], DeployedResource | None]
Delete = Callable[[DeployContext, DeployedResource], None]


@dataclass(frozen=True)
class ResourceType:
    """``update`` None (or answering None): the change replaces the resource; ``delete`` None: nothing outlives
    the stack's record (metadata, or a part its parent's deletion takes along)."""

    name: str
    create: Create
    update: Update | None = None
    delete: Delete | None = None


def physical_name(stack: str, logical_id: str, limit: int = 64) -> str:
    """CloudFormation's generated names: ``<stack>-<logical id>-<12 random>``, truncated to the limit."""
    suffix = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(12))
    head = f"{stack}-{logical_id}"[: limit - 13]
    return f"{head}-{suffix}"


def changed(old: dict[str, Any], new: dict[str, Any], keys: tuple[str, ...] | frozenset[str]) -> bool:
    """Whether any of ``keys`` differs between two resolved property sets."""
    return any(old.get(key) != new.get(key) for key in keys)


#: the error codes of a deletion whose resource is already gone (a parent's deletion took it along): the
#: deletion is then done, as CloudFormation treats it
_GONE = frozenset({"ResourceNotFoundException", "NotFoundException", "NotFound", "NoSuchEntity",
                   "ParameterNotFound", "ResourceNotFound", "NoSuchBucket", "RepositoryNotFoundException"})


def delete_quietly(action: Callable[[], object]) -> None:
    """Runs a deletion; a resource already gone is not an error."""
    from botocore.exceptions import ClientError

    try:
        action()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _GONE:
            raise
