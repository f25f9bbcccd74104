"""Fault plans (docs/contracts.md, "Fault plans"): parse, select, and apply injected faults.

A job names a plan in its ``fault`` attribute; the plan (JSON in an SSM parameter) lists faults by
``where`` (processor / error_handler) and optionally by consumer. The handlers apply them through the
small interfaces below so the same code runs on AWS, LocalStack and the embedded engine.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from handlers.domain.locking import BeforeWrite, StatusWriter, VersionBumper

logger = logging.getLogger(__name__)

FAULT_NAME: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
WHERES: Final = ("processor", "error_handler")
KINDS: Final = ("raise", "timeout", "conflict", "delay")
TIMEOUT_MARGIN_SECONDS: Final = 1.0
"""How far past the remaining time the ``timeout`` fault sleeps, so the runtime surely stops it."""

_KEYS_BY_KIND: Final[dict[str, frozenset[str]]] = {
    "raise": frozenset({"where", "kind", "consumers"}),
    "timeout": frozenset({"where", "kind", "consumers"}),
    "conflict": frozenset({"where", "kind", "consumers", "times"}),
    "delay": frozenset({"where", "kind", "consumers", "seconds"}),
}


class FaultPlanError(ValueError):
    """The plan (or the job's ``fault`` name) is not what docs/contracts.md describes."""


class InjectedFault(RuntimeError):
    """Raised on purpose by a fault plan (kinds ``raise``, and ``timeout`` if the runtime let it live)."""


@dataclass(frozen=True)
class Fault:
    """One entry of a plan's ``faults`` list."""

    where: str
    kind: str
    consumers: frozenset[str] | None = None
    times: int = 0
    seconds: float = 0.0

    def applies_to(self, where: str, consumer: str) -> bool:
        """``consumers`` omitted means every consumer."""
        return self.where == where and (self.consumers is None or consumer in self.consumers)


@dataclass(frozen=True)
class FaultPlan:
    """A parsed plan; an empty one means "no fault" (missing parameter, lifted fault, no prefix)."""

    name: str | None = None
    faults: tuple[Fault, ...] = ()

    def select(self, where: str, consumer: str) -> tuple[Fault, ...]:
        """The faults of this plan for one handler and consumer, in plan order."""
        if where not in WHERES:
            raise ValueError(f"where must be one of {WHERES}, got {where!r}")
        return tuple(fault for fault in self.faults if fault.applies_to(where, consumer))


NO_FAULTS: Final = FaultPlan()


class FaultPlanSource(Protocol):
    """Where plans are stored (an SSM parameter per plan on every target)."""

    def read(self, name: str) -> str | None:
        """The plan's JSON text, or None when no plan of that name exists."""
        ...


def _fail(name: str | None, index: int | None, message: str) -> FaultPlanError:
    where = f"fault plan {name!r}" if name else "fault plan"
    if index is not None:
        where += f", faults[{index}]"
    return FaultPlanError(f"{where}: {message}")


def _parse_fault(raw: Any, name: str | None, index: int) -> Fault:
    if not isinstance(raw, Mapping):
        raise _fail(name, index, f"must be an object, got {raw!r}")
    where = raw.get("where")
    if where not in WHERES:
        raise _fail(name, index, f"'where' must be one of {', '.join(WHERES)}; got {where!r}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise _fail(name, index, f"unknown kind {kind!r}; known kinds: {', '.join(KINDS)}")
    unknown = set(raw) - _KEYS_BY_KIND[kind]
    if unknown:
        raise _fail(name, index, f"keys {sorted(unknown)} are not allowed for kind {kind!r}")
    consumers: frozenset[str] | None = None
    if "consumers" in raw:
        listed = raw["consumers"]
        if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
            raise _fail(name, index, f"'consumers' must be a list of consumer ids, got {listed!r}")
        consumers = frozenset(listed)
    times = 0
    seconds = 0.0
    if kind == "conflict":
        count = raw.get("times")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise _fail(name, index, f"kind 'conflict' needs 'times', an integer >= 1; got {count!r}")
        times = count
    if kind == "delay":
        value = raw.get("seconds")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise _fail(name, index, f"kind 'delay' needs 'seconds', a number >= 0; got {value!r}")
        seconds = float(value)
    return Fault(where=where, kind=kind, consumers=consumers, times=times, seconds=seconds)


def parse_plan(text: str, name: str | None = None) -> FaultPlan:
    """Parse the JSON of a plan; raise FaultPlanError saying exactly what is wrong."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(name, None, f"not valid JSON ({exc})") from exc
    if not isinstance(document, Mapping) or not isinstance(document.get("faults"), list):
        raise _fail(name, None, 'must be a JSON object {"faults": [...]}')
    return FaultPlan(
        name=name,
        faults=tuple(_parse_fault(raw, name, i) for i, raw in enumerate(document["faults"])),
    )


def validate_fault_name(name: str) -> None:
    """The API accepts only these names; anything else on an item cannot name an SSM parameter."""
    if not FAULT_NAME.fullmatch(name):
        raise FaultPlanError(f"fault name {name!r} does not match {FAULT_NAME.pattern}")


def load_plan(source: FaultPlanSource | None, name: str | None) -> FaultPlan:
    """The job's plan; NO_FAULTS when fault injection is off (no source), no name, or no parameter."""
    if source is None or not name:
        return NO_FAULTS
    validate_fault_name(name)
    text = source.read(name)
    if text is None:
        return NO_FAULTS
    return parse_plan(text, name)


@dataclass(frozen=True)
class FaultClock:
    """Time as the faults see it.

    ``sleep`` takes sandbox seconds (the handler divides by JOBKIT_TIME_SCALE); ``sleep_real`` takes
    wall-clock seconds and ``remaining_seconds`` is the invocation's wall-clock budget, so the
    ``timeout`` fault always outlives the function whatever the clock scale.
    """

    sleep: Callable[[float], None]
    sleep_real: Callable[[float], None]
    remaining_seconds: Callable[[], float]


def apply_faults(faults: Sequence[Fault], clock: FaultClock, job_id: str, plan_name: str | None) -> None:
    """Apply the ``delay``, ``raise`` and ``timeout`` faults in plan order (``conflict`` is a write hook)."""
    for fault in faults:
        if fault.kind == "delay":
            clock.sleep(fault.seconds)
        elif fault.kind == "raise":
            raise InjectedFault(f"injected fault: plan {plan_name!r} raises in {fault.where} for job {job_id!r}")
        elif fault.kind == "timeout":
            remaining = max(0.0, clock.remaining_seconds())
            clock.sleep_real(remaining + TIMEOUT_MARGIN_SECONDS)
            raise InjectedFault(
                f"injected timeout: plan {plan_name!r} slept {remaining + TIMEOUT_MARGIN_SECONDS:.1f} s in "
                f"{fault.where} for job {job_id!r}, past the remaining time, yet the runtime did not stop it"
            )


def conflict_hook(faults: Sequence[Fault], bumper: VersionBumper | None) -> BeforeWrite | None:
    """A hook making the first ``times`` attempts of every status write conflict, or None if no conflict."""
    times = max((fault.times for fault in faults if fault.kind == "conflict"), default=0)
    if times == 0:
        return None
    if bumper is None:
        raise FaultPlanError("a 'conflict' fault needs a store able to bump the item's version")

    def bump_before_write(job_id: str, attempt: int) -> None:
        if attempt <= times:
            bumper.bump_version(job_id)

    return bump_before_write


def arm(
    plan: FaultPlan, where: str, writer: StatusWriter, bumper: VersionBumper | None, job_id: str
) -> tuple[tuple[Fault, ...], StatusWriter]:
    """Select the faults of ``where`` for the writer's consumer, log them, and hook ``conflict`` into writes."""
    faults = plan.select(where, writer.consumer)
    if faults:
        logger.warning(
            "applying injected faults",
            extra={"job_id": job_id, "plan": plan.name, "where": where, "kinds": [f.kind for f in faults]},
        )
    return faults, writer.with_before_write(conflict_hook(faults, bumper))
