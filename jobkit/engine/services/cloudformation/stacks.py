"""The engine's stacks: each a ``StackDeployer`` with what CloudFormation keeps around it — status, events,
parameters, tags, the template as submitted, change sets — by name. The stack the engine deploys at start
and any a user creates through CloudFormation's API (``api.py``: ``cdk deploy``) live side by side here, and
every change to any of them goes through ``StackDeployer``.

Statuses and their order are CloudFormation's ("Stack status codes",
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/view-stack-events.html#cfn-console-view-stack-data-resources-status-codes):
a creation goes ``CREATE_IN_PROGRESS`` -> ``CREATE_COMPLETE``, or on failure ``ROLLBACK_IN_PROGRESS`` ->
``ROLLBACK_COMPLETE`` (what it made is deleted; ``CREATE_FAILED`` with rollback disabled); an update goes
``UPDATE_IN_PROGRESS`` -> ``UPDATE_COMPLETE``, or ``UPDATE_ROLLBACK_IN_PROGRESS`` -> ``UPDATE_ROLLBACK_COMPLETE``
(the previous template applied again, in place; ``UPDATE_FAILED`` with rollback disabled); a deletion
``DELETE_IN_PROGRESS`` -> ``DELETE_COMPLETE`` (or ``DELETE_FAILED``). A change set made for a stack that does not
exist yet creates it in ``REVIEW_IN_PROGRESS``.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobkit.deploy.assembly import AssemblyError, CloudAssembly
from jobkit.engine.services.cloudformation.deployer import (
    Changes,
    PlannedChange,
    StackDeployer,
    StackEvent,
)
from jobkit.engine.services.cloudformation.resource_types import (
    ClientFactory,
    DeploymentError,
    StackRegistry,
    StageCode,
)

#: "UpdateStack": the statuses a stack can be updated from
UPDATABLE = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_FAILED",
                       "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"})
#: "CreateChangeSet" (StatusReason of a change set that changes nothing), as the service words it
NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."


def defaults(template: dict[str, Any]) -> dict[str, str]:
    """The parameter values of a template deployed with none given: their defaults, as text."""
    values = {}
    for key, definition in (template.get("Parameters") or {}).items():
        default = definition.get("Default") if isinstance(definition, dict) else None
        if default is not None:
            values[key] = ",".join(map(str, default)) if isinstance(default, list) else str(default)
    return values


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Event:
    """One line of DescribeStackEvents."""

    event_id: str
    event: StackEvent
    token: str | None = None


@dataclass
class Submission:
    """What a CreateStack, UpdateStack or CreateChangeSet submits: the template (and its text, as GetTemplate
    gives it back), the parameter values (previous values already filled in), and the stack's settings."""

    template: dict[str, Any]
    body: str
    parameters: dict[str, str]
    capabilities: list[str] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)
    notification_arns: list[str] = field(default_factory=list)
    description: str | None = None
    disable_rollback: bool = False
    #: the role CloudFormation would act as (the engine's deployer acts as the engine: it is kept and shown)
    role_arn: str | None = None


@dataclass
class ChangeSet:
    name: str
    arn: str
    kind: str  # CREATE | UPDATE
    submission: Submission
    changes: list[PlannedChange]
    created: dt.datetime = field(default_factory=_now)
    status: str = "CREATE_COMPLETE"
    execution_status: str = "AVAILABLE"
    reason: str | None = None
    description: str | None = None


@dataclass
class Stack:
    name: str
    deployer: StackDeployer
    created: dt.datetime = field(default_factory=_now)
    status: str = "REVIEW_IN_PROGRESS"
    reason: str | None = None
    updated: dt.datetime | None = None
    deleted: dt.datetime | None = None
    submission: Submission | None = None
    events: list[Event] = field(default_factory=list)
    change_sets: dict[str, ChangeSet] = field(default_factory=dict)
    #: the ClientRequestToken of the operation under way, carried by its events
    token: str | None = None
    termination_protection: bool = False
    #: the change set being executed: its execution status settles with the stack's final status, in one step
    executing: ChangeSet | None = None

    @property
    def id(self) -> str:
        return self.deployer.registry.stack_id

    @property
    def registry(self) -> StackRegistry:
        return self.deployer.registry

    @property
    def busy(self) -> bool:
        return self.status.endswith("_IN_PROGRESS") and self.status != "REVIEW_IN_PROGRESS"

    def change_set(self, name_or_arn: str) -> ChangeSet | None:
        return next((c for c in self.change_sets.values() if name_or_arn in (c.name, c.arn)), None)


class Stacks:
    """Every stack of the engine, by name (the active one) and by id (deleted ones too, as CloudFormation
    keeps them listed). ``on_applied(stack)`` follows every deployment or deletion that touched resources, so
    the engine serves what the stacks now hold (the gateway's APIs, the outputs file)."""

    def __init__(self, clients: ClientFactory, *, account: str, region: str, stage_code: StageCode | None = None,
                 on_applied: Callable[[Stack], None] = lambda _stack: None) -> None:
        self.clients = clients
        self.account = account
        self.region = region
        self.stage_code = stage_code
        self.on_applied = on_applied
        self._stacks: list[Stack] = []
        self._lock = threading.RLock()

    # --- lookups ---------------------------------------------------------------------------------------
    def find(self, name_or_id: str) -> Stack | None:
        """The stack of that id (deleted or not), or the active stack of that name."""
        with self._lock:
            if name_or_id.startswith("arn:"):
                return next((s for s in self._stacks if s.id == name_or_id), None)
            return next((s for s in self._stacks if s.name == name_or_id and s.status != "DELETE_COMPLETE"), None)

    def all(self) -> list[Stack]:
        with self._lock:
            return list(self._stacks)

    def active(self) -> list[Stack]:
        return [s for s in self.all() if s.status != "DELETE_COMPLETE"]

    def registries(self) -> list[StackRegistry]:
        return [s.registry for s in self.active()]

    def exported(self, name: str) -> str:
        """The value another stack exports under ``name`` (``Fn::ImportValue``); KeyError if none does."""
        for stack in self.active():
            if name in stack.registry.exports:
                return stack.registry.exports[name]
        raise KeyError(name)

    # --- the engine's own deployment (synchronous) -------------------------------------------------------
    def apply_assembly(self, name: str, cdk_out: Path) -> Changes:
        """The stack ``name`` of a cloud assembly created or updated in place, now; DeploymentError if it
        cannot be (a template refused as a whole changes nothing, a failing resource leaves the stack
        ``*_FAILED`` with what was done kept: the caller reads the reason and deploys again)."""
        try:
            assembly = CloudAssembly.read(cdk_out, name)
        except AssemblyError as exc:
            raise DeploymentError(str(exc)) from None
        body = (Path(cdk_out) / f"{name}.template.json").read_text()
        with self._lock:
            stack = self.find(name) or self._new(name)
            if stack.busy:
                raise DeploymentError(f"{name} is in {stack.status} state and can not be updated")
            kind = "UPDATE" if stack.status in UPDATABLE else "CREATE"
            try:
                stack.deployer.plan(assembly.template)  # a template refused as a whole touches nothing
            except DeploymentError:
                if stack.status == "REVIEW_IN_PROGRESS":
                    self._stacks.remove(stack)
                raise
            self._begin(stack, kind, Submission(assembly.template, body, defaults(assembly.template),
                                                description=assembly.template.get("Description")))
        changes = self._apply(stack, kind, lambda: stack.deployer.apply(assembly.template, assets=assembly.assets),
                              rollback=False, raising=True)
        assert changes is not None  # a failure is raised
        return changes

    # --- CloudFormation's operations ----------------------------------------------------------------------
    def new_stack(self, name: str) -> Stack:
        """A stack in ``REVIEW_IN_PROGRESS``, for a change set of type CREATE."""
        with self._lock:
            stack = self._new(name)
            self._event(stack, "REVIEW_IN_PROGRESS", "User Initiated")
            return stack

    def discard(self, stack: Stack) -> None:
        """A stack that never got past review (its creation was refused) leaves no trace."""
        with self._lock:
            if stack.status == "REVIEW_IN_PROGRESS" and not stack.change_sets and stack in self._stacks:
                self._stacks.remove(stack)

    def add_change_set(self, stack: Stack, name: str, kind: str, submission: Submission,
                       description: str | None) -> ChangeSet:
        """A change set of what ``submission`` would do to ``stack`` (computed now, nothing touched);
        DeploymentError if the template cannot be deployed. One that changes nothing is FAILED, as
        CloudFormation reports it."""
        changes = stack.deployer.plan(submission.template, submission.parameters)
        arn = f"arn:aws:cloudformation:{self.region}:{self.account}:changeSet/{name}/{uuid.uuid4()}"
        change_set = ChangeSet(name, arn, kind, submission, changes, description=description)
        if kind == "UPDATE" and not changes and self._same(stack, submission):
            change_set.status, change_set.execution_status, change_set.reason = "FAILED", "UNAVAILABLE", NO_CHANGES
        with self._lock:
            stack.change_sets[name] = change_set
        return change_set

    @staticmethod
    def _same(stack: Stack, submission: Submission) -> bool:
        before = stack.submission
        return before is not None and (before.template, before.parameters, before.tags, before.notification_arns) \
            == (submission.template, submission.parameters, submission.tags, submission.notification_arns)

    def execute(self, stack: Stack, change_set: ChangeSet, *, disable_rollback: bool, token: str | None) -> None:
        """Runs the change set on a thread of its own; the stack's status and events tell how it goes."""
        with self._lock:
            kind = "CREATE" if stack.status == "REVIEW_IN_PROGRESS" else "UPDATE"
            change_set.execution_status = "EXECUTE_IN_PROGRESS"
            submission = change_set.submission
            submission.disable_rollback = disable_rollback
            previous = stack.submission
            stack.executing = change_set
            self._begin(stack, kind, submission, token)
            for other in [n for n, c in stack.change_sets.items() if c is not change_set]:
                del stack.change_sets[other]  # "ExecuteChangeSet": the stack's other change sets are deleted

        def run() -> None:
            self._apply(stack, kind, lambda: stack.deployer.apply(submission.template,
                                                                  parameters=submission.parameters),
                        rollback=not disable_rollback, previous=previous, token=token)

        threading.Thread(target=run, name=f"jobkit-cfn-{stack.name}", daemon=True).start()

    def submit(self, stack: Stack, submission: Submission, token: str | None) -> None:
        """CreateStack or UpdateStack: the submission applied on a thread of its own."""
        with self._lock:
            kind = "CREATE" if stack.status == "REVIEW_IN_PROGRESS" else "UPDATE"
            previous = stack.submission
            self._begin(stack, kind, submission, token)
            stack.change_sets.clear()

        def run() -> None:
            self._apply(stack, kind, lambda: stack.deployer.apply(submission.template,
                                                                  parameters=submission.parameters),
                        rollback=not submission.disable_rollback, previous=previous, token=token)

        threading.Thread(target=run, name=f"jobkit-cfn-{stack.name}", daemon=True).start()

    def delete(self, stack: Stack, token: str | None) -> None:
        """DeleteStack: every resource deleted (those the template retains kept) on a thread of its own."""
        with self._lock:
            if stack.status in ("DELETE_COMPLETE", "DELETE_IN_PROGRESS"):
                return
            stack.change_sets.clear()
            if stack.status == "REVIEW_IN_PROGRESS":
                self._finish_deletion(stack, token)
                return
            stack.token = token
            self._event(stack, "DELETE_IN_PROGRESS", "User Initiated", token)

        def run() -> None:
            try:
                stack.deployer.delete()
            except Exception as exc:
                self._event(stack, "DELETE_FAILED", str(exc), token)
            else:
                with self._lock:
                    self._finish_deletion(stack, token)
            self.on_applied(stack)

        threading.Thread(target=run, name=f"jobkit-cfn-{stack.name}", daemon=True).start()

    # --- the steps ------------------------------------------------------------------------------------------
    def _new(self, name: str) -> Stack:
        stack = Stack(name, StackDeployer(self.clients, account=self.account, region=self.region, stack_name=name,
                                          stage_code=self.stage_code, imports=self.exported))
        stack.deployer.on_event = lambda event: self._record(stack, event)
        self._stacks.append(stack)
        return stack

    def _begin(self, stack: Stack, kind: str, submission: Submission, token: str | None = None) -> None:
        stack.submission, stack.token = submission, token
        self._event(stack, f"{kind}_IN_PROGRESS", "User Initiated", token)

    def _apply(self, stack: Stack, kind: str, apply: Callable[[], Changes], *, rollback: bool,
               previous: Submission | None = None, token: str | None = None,
               raising: bool = False) -> Changes | None:
        """Runs ``apply`` and moves the stack's status on: ``kind``_COMPLETE, or the failure's and its rollback's
        statuses. ``raising`` (the engine's own deployment, synchronous): the failure is raised to the caller."""
        try:
            changes = apply()
        except Exception as exc:
            reason = str(exc) if isinstance(exc, DeploymentError) else f"{type(exc).__name__}: {exc}"
            if not rollback:
                self._event(stack, f"{kind}_FAILED", reason, token)
                self.on_applied(stack)
                if not raising:
                    return None
                if isinstance(exc, DeploymentError):
                    raise
                raise DeploymentError(reason) from exc
            self._roll_back(stack, kind, reason, previous, token)
            return None
        if kind == "UPDATE":
            stack.updated = _now()
        self._event(stack, f"{kind}_COMPLETE", "", token)
        self.on_applied(stack)
        return changes

    def _roll_back(self, stack: Stack, kind: str, reason: str, previous: Submission | None,
                   token: str | None) -> None:
        failed = [e.event.logical_id for e in stack.events[-50:] if e.event.status.endswith("_FAILED")
                  and e.event.resource_type != "AWS::CloudFormation::Stack"]
        verb = "create" if kind == "CREATE" else "update"
        cause = (f"The following resource(s) failed to {verb}: [{', '.join(dict.fromkeys(failed))}]. "
                 if failed else f"{reason}. ")
        if kind == "CREATE":
            self._event(stack, "ROLLBACK_IN_PROGRESS", cause + "Rollback requested by user.", token)
            try:
                stack.deployer.delete()
            except Exception as exc:
                self._event(stack, "ROLLBACK_FAILED", str(exc), token)
            else:
                self._event(stack, "ROLLBACK_COMPLETE", "", token)
        else:
            self._event(stack, "UPDATE_ROLLBACK_IN_PROGRESS", cause, token)
            try:
                if previous is None:
                    raise DeploymentError("the stack has no previous template to roll back to")
                stack.deployer.apply(previous.template, parameters=previous.parameters)
            except Exception as exc:
                self._event(stack, "UPDATE_ROLLBACK_FAILED", str(exc), token)
            else:
                stack.submission = previous
                self._event(stack, "UPDATE_ROLLBACK_COMPLETE", "", token)
        self.on_applied(stack)

    def _finish_deletion(self, stack: Stack, token: str | None) -> None:
        stack.deleted = _now()
        self._event(stack, "DELETE_COMPLETE", "", token)

    def _event(self, stack: Stack, status: str, reason: str, token: str | None = None) -> None:
        """The stack's own status, as the event CloudFormation lists for it."""
        with self._lock:
            stack.status, stack.reason = status, reason or None
            if stack.executing is not None and not status.endswith("_IN_PROGRESS"):
                # a reader that sees the final status sees the change set's outcome too
                done = status in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
                stack.executing.execution_status = "EXECUTE_COMPLETE" if done else "EXECUTE_FAILED"
                stack.executing = None
            stack.events.append(Event(str(uuid.uuid4()), StackEvent(
                stack.name, stack.id, "AWS::CloudFormation::Stack", status, reason), token))

    def _record(self, stack: Stack, event: StackEvent) -> None:
        with self._lock:
            stack.events.append(Event(str(uuid.uuid4()), event, stack.token))
