"""The stack's functions and their CloudWatch Logs lines (``jobkit logs``).

The outputs file names the functions (``Consumer1FunctionName``, ``ErrorHandler1FunctionName``, ...); each is
known by a short name made of its output's prefix (``consumer1``, ``error-handler1``), its function name or its
ARN. Lines are read with FilterLogEvents from the function's log group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from jobkit.client.deployment import Deployment
from jobkit.errors import JobkitError

_OUTPUT = re.compile(r"(?P<prefix>[A-Z][A-Za-z0-9]*)FunctionName")
# arn:aws:lambda:us-east-1:123456789012:function:name[:qualifier]
_ARN = re.compile(r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:(?P<name>[^:]+)(?::[^:]+)?")
_DURATION = re.compile(r"(?P<count>\d{1,9})(?P<unit>[smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# CDK's logical ids end in an 8-hex hash of the construct path


@dataclass(frozen=True)
class StackFunction:
    short: str  # consumer1, error-handler1: the output's prefix in kebab case
    name: str


def stack_functions(deployment: Deployment) -> list[StackFunction]:
    """Every function the outputs file names, in its order."""
    found = []
    for key, value in deployment.outputs.items():
        if match := _OUTPUT.fullmatch(key):
            short = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", match["prefix"]).lower()
            found.append(StackFunction(short, value))
    return found


def _folded(text: str) -> str:
    return re.sub(r"[-_]", "", text).lower()


def resolve(deployment: Deployment, ref: str | None) -> list[StackFunction]:
    """The function ``ref`` names (short name in any case, with or without dashes; function name; ARN), or
    every function of the stack when ``ref`` is None."""
    functions = stack_functions(deployment)
    if not functions:
        raise JobkitError("the outputs file names no function (no ...FunctionName output)")
    if ref is None:
        return functions
    arn = _ARN.fullmatch(ref)
    name = arn["name"] if arn else ref
    for function in functions:
        if name == function.name or _folded(ref) == _folded(function.short):
            return [function]
    known = ", ".join(f.short for f in functions)
    raise JobkitError(f"unknown function {ref!r}", f"the stack's functions: {known}, or their names or ARNs")


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``10m``, ``2h``, ``30s``, ``1d`` before ``now``, or an ISO 8601 time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    hint = "e.g. 30s, 10m, 2h, 1d or 2026-11-25T13:00:00Z"
    if match := _DURATION.fullmatch(value.strip()):
        try:
            return now - timedelta(**{_UNITS[match["unit"]]: int(match["count"])})
        except OverflowError as exc:
            raise JobkitError(f"--since {value!r} reaches before the year 1", hint) from exc
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise JobkitError(f"--since: not a duration or an ISO 8601 time: {value!r}", hint) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def log_group(deployment: Deployment, function: StackFunction) -> str:
    """The function's log group: its LoggingConfig's, which Lambda always answers (``/aws/lambda/<name>``
    unless another is set: https://docs.aws.amazon.com/lambda/latest/api/API_LoggingConfig.html)."""
    config = deployment.client("lambda").get_function_configuration(FunctionName=function.name)
    group = (config.get("LoggingConfig") or {}).get("LogGroup")
    return str(group) if group else f"/aws/lambda/{function.name}"


@dataclass(frozen=True)
class LogLine:
    timestamp: int  # milliseconds since the epoch, as CloudWatch Logs keeps it
    function: str  # the short name
    message: str


@dataclass
class LogReader:
    """Reads the new lines of some functions' log groups, each poll from where the last one ended.

    Each group's next read starts at the newest timestamp seen so far, not after it: two lines can share a
    millisecond and the second be stored after the read that returned the first (``aws logs tail --follow``
    reads the same way); the event ids already printed at that millisecond are skipped.
    """

    deployment: Deployment
    groups: list[tuple[StackFunction, str]]
    start: int  # milliseconds since the epoch
    _cursor: dict[str, int] = field(default_factory=dict)
    _seen: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, deployment: Deployment, functions: Iterable[StackFunction], since: datetime) -> LogReader:
        groups = [(f, log_group(deployment, f)) for f in functions]
        return cls(deployment, groups, max(0, int(since.timestamp() * 1000)))

    def poll(self) -> list[LogLine]:
        """The lines stored since the last poll, oldest first (a function's own lines in their order)."""
        logs = self.deployment.client("logs")
        lines: list[LogLine] = []
        for function, group in self.groups:
            cursor = self._cursor.get(group, self.start)
            seen = self._seen.setdefault(group, set())
            try:
                events = [e for page in logs.get_paginator("filter_log_events").paginate(
                    logGroupName=group, startTime=cursor) for e in page.get("events", [])]
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                    continue  # a function that never ran may have no group yet
                raise
            fresh = [e for e in events if e["eventId"] not in seen]
            lines += [LogLine(int(e["timestamp"]), function.short, str(e.get("message", ""))) for e in fresh]
            newest = max((int(e["timestamp"]) for e in events), default=cursor)
            if newest > cursor:
                seen.clear()
            seen.update(e["eventId"] for e in events if int(e["timestamp"]) == newest)
            self._cursor[group] = newest
        return sorted(lines, key=lambda line: line.timestamp)


def message_text(message: str) -> str:
    """A log message as one line: the trailing line break dropped, tabs (Lambda's field separator) as spaces."""
    return message.rstrip("\r\n").replace("\t", " ")

