"""The targets jobkit knows, described once: what the CLI offers, what the pytest plugin accepts, what the
scenarios may expect of each and what a user is told when one is not up. Pure data, so the client library,
the CLI and the scenarios all read it without importing any target's machinery (``jobkit.targets.registry``
builds the sandboxes)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TargetSpec:
    name: str
    #: a sandbox on this machine (started and stopped by jobkit), not an account
    local: bool
    #: what the target can do that some scenarios need ("sandbox clock": ``POST /_jobkit/clock``; "iam": AWS_IAM
    #: is enforced on the REST API; "chaos API": ``/_localstack/chaos/*``, a paid feature of LocalStack's)
    capabilities: frozenset[str]
    #: how to get a deployment on it, for the line that says none is there
    hint: str


TARGETS: dict[str, TargetSpec] = {spec.name: spec for spec in (
    TargetSpec("embedded", local=True, capabilities=frozenset({"sandbox clock", "iam", "chaos API"}),
               hint="start it with `jobkit up` (or `make up`)"),
    TargetSpec("localstack", local=True, capabilities=frozenset(),
               hint="start it with `jobkit up --target localstack`"),
    TargetSpec("aws", local=False, capabilities=frozenset({"iam"}),
               hint="deploy it with `jobkit deploy --target aws`"),
)}
TARGET_NAMES = tuple(TARGETS)
DEFAULT_TARGET = "embedded"


def start_hint(target: str | None) -> str:
    spec = TARGETS.get(target or "")
    return spec.hint if spec else "start a sandbox with `jobkit up`"


def capabilities(target: str) -> frozenset[str]:
    spec = TARGETS.get(target)
    return spec.capabilities if spec else frozenset()
