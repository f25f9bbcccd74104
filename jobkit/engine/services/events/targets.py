"""What a rule's target receives, and which targets the engine can deliver to.

- Targets: "Amazon EventBridge targets" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-targets.html).
  The engine delivers to Lambda (asynchronous invocation), SQS (standard queues), SNS, CloudWatch Logs and event
  buses, each through the engine's ``Destinations``; any other target is refused when it is put, so a rule never
  holds a target that silently receives nothing.
- Input: "Amazon EventBridge input transformation"
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html) and the API's
  ``Target`` and ``InputTransformer`` (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_Target.html,
  https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_InputTransformer.html): at most one of
  ``Input`` (constant JSON text, sent as is), ``InputPath`` (a JSON path into the event; its value is sent as
  JSON) and ``InputTransformer`` (variables from ``InputPathsMap`` placed into ``InputTemplate``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import time
import uuid
from typing import Any

from moto.backends import get_backend

from jobkit.engine.core.destinations import Delivery, Destinations, service_of

#: the reserved variables of an input template ("Predefined variables" of the input transformation page)
RULE_ARN, RULE_NAME = "aws.events.rule-arn", "aws.events.rule-name"
INGESTION_TIME, EVENT, EVENT_JSON = "aws.events.event.ingestion-time", "aws.events.event", "aws.events.event.json"
PREDEFINED = frozenset({RULE_ARN, RULE_NAME, INGESTION_TIME, EVENT, EVENT_JSON})
_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
_INPUTS = ("Input", "InputPath", "InputTransformer")
_MISSING = object()


class InvalidTargetError(ValueError):
    """A target PutTargets refuses; the message is the ValidationException's."""


def check(target: dict[str, Any], destinations: Destinations) -> None:
    """Raises InvalidTargetError for a target the engine would not deliver as AWS does: one it cannot deliver to
    at all (a Kinesis stream, an ECS task, ...), or one whose input AWS itself refuses."""
    target_id, arn = target.get("Id", ""), str(target.get("Arn", ""))
    why = _undeliverable(arn, destinations)
    if why:
        raise InvalidTargetError(f"Parameter Targets is not valid. Reason: target {target_id} ({arn}): {why}; the "
                                 "jobkit engine delivers to Lambda functions, standard SQS queues, SNS topics, "
                                 "CloudWatch Logs log groups and event buses")
    if sum(1 for key in _INPUTS if target.get(key) is not None) > 1:
        raise InvalidTargetError(f"Only one of Input, InputPath, or InputTransformer must be provided for target "
                                 f"{target_id}.")
    transformer = target.get("InputTransformer")
    if transformer is not None:
        defined = set(transformer.get("InputPathsMap") or {}) | PREDEFINED
        for name in _PLACEHOLDER.findall(str(transformer.get("InputTemplate", ""))):
            if name not in defined:
                raise InvalidTargetError(f"InputTemplate for target {target_id} contains invalid placeholder "
                                         f"{name}.")


def _undeliverable(arn: str, destinations: Destinations) -> str:
    service = service_of(arn)
    if not destinations.supports(arn):
        return f"{service or 'this ARN'} targets are not served by the engine"
    if service == "events" and ":event-bus/" not in arn:  # API destinations share the events service's ARNs
        return "API destinations are not served by the engine"
    if service == "sqs" and arn.endswith(".fifo"):  # a FIFO queue needs SqsParameters' MessageGroupId passed on
        return "FIFO queues are not served by the engine"
    return ""


# --- input ---------------------------------------------------------------------------------------------------
def shapes(target: dict[str, Any]) -> bool:
    """Whether the target configures its input (else it receives the event as it is)."""
    return any(target.get(key) is not None for key in _INPUTS)


def payload(target: dict[str, Any], event: dict[str, Any], rule_arn: str, rule_name: str) -> dict[str, Any] | str:
    """What ``target`` receives for ``event``: a document (the event itself when the target configures no input,
    or the object its InputPath names), else JSON text."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath") is not None:
        value = select(event, str(target["InputPath"]))
        return value if isinstance(value, dict) else _json(None if value is _MISSING else value)
    transformer = target.get("InputTransformer")
    if transformer is not None:
        return transform(transformer, event, rule_arn, rule_name)
    return event


def select(document: Any, path: str) -> Any:
    """The value a JSON path names (``$``, ``$.a.b``, ``$.a[0].b``); ``_MISSING`` if the document has none."""
    path = path.strip()
    if not path.startswith("$"):
        return _MISSING
    rest, value = path[1:], document
    while rest:
        step = _PATH_STEP.match(rest)
        if step is None:
            return _MISSING
        key, index = step.group(1), step.group(2)
        if key is not None:
            value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        else:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else _MISSING
        if value is _MISSING:
            return _MISSING
        rest = rest[step.end():]
    return value


def transform(transformer: dict[str, Any], event: dict[str, Any], rule_arn: str, rule_name: str) -> str:
    """``InputTemplate`` with its placeholders filled, as the input transformation page's rules and common issues
    say: outside a JSON string a variable is placed as JSON (a string gains its quotes, an object or array is
    placed as is); inside a string a string value is placed unescaped and an object or array loses its inner
    quotes; a variable whose path the event lacks is empty. JSON output is minified."""
    values: dict[str, Any] = {
        RULE_ARN: rule_arn, RULE_NAME: rule_name, INGESTION_TIME: event.get("time", ""),
        # the event without its detail, detail-type spelled detailType (as EventBridge sends this variable)
        EVENT: {("detailType" if key == "detail-type" else key): value for key, value in event.items()
                if key != "detail"},
        EVENT_JSON: event,
    }
    for name, path in (transformer.get("InputPathsMap") or {}).items():
        if name not in PREDEFINED:
            value = select(event, str(path))
            values[name] = "" if value is _MISSING else value
    text = _fill(str(transformer.get("InputTemplate", "")), values)
    try:
        document = json.loads(text)
    except ValueError:
        return text  # EventBridge does not escape what it places: such a result goes on as text
    return _json(document) if isinstance(document, dict | list) else text


def _fill(template: str, values: dict[str, Any]) -> str:
    out: list[str] = []
    in_string = escaped = False
    i = 0
    while i < len(template):
        char = template[i]
        placeholder = _PLACEHOLDER.match(template, i) if char == "<" else None
        if placeholder is not None and placeholder.group(1) in values:
            value = values[placeholder.group(1)]
            if not in_string:
                out.append(_json(value))
            elif isinstance(value, str):
                out.append(value)
            else:
                out.append(_json(value).replace('"', "") if isinstance(value, dict | list) else _json(value))
            i = placeholder.end()
            continue
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        out.append(char)
        i += 1
    return "".join(out)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def text_of(body: dict[str, Any] | str) -> str:
    return body if isinstance(body, str) else json.dumps(body)


# --- CloudWatch Logs ----------------------------------------------------------------------------------------
class LogGroups:
    """Takes deliveries into the log group an ARN names (``arn:aws:logs:<region>:<account>:log-group:<name>``,
    ``:*`` or not): one log stream per event, named by its id, as EventBridge writes them. A transformed input
    of the documented log-group form ``{"timestamp": ..., "message": ...}`` sets the log event's time and text."""

    def __init__(self, account: str, region: str) -> None:
        self.account = account
        self.region = region

    def deliver(self, arn: str, delivery: Delivery) -> None:
        _, _, _, region, account, rest = arn.split(":", 5)
        group = rest.removeprefix("log-group:").removesuffix(":*")
        body = delivery.body
        stream = str(body.get("id")) if isinstance(body, dict) and body.get("id") else str(uuid.uuid4())
        timestamp, message = int(time.time() * 1000), text_of(body)
        if isinstance(body, str):
            timestamp, message = _log_form(body, timestamp, message)
        logs = get_backend("logs")[account or self.account][region or self.region]
        logs.ensure_log_stream(group, stream)  # the same event can reach a group twice (two rules, a replay)
        logs.put_log_events(group, stream, [{"timestamp": timestamp, "message": message}])


def _log_form(text: str, timestamp: int, message: str) -> tuple[int, str]:
    try:
        document = json.loads(text)
    except ValueError:
        return timestamp, message
    if not isinstance(document, dict) or set(document) != {"timestamp", "message"}:
        return timestamp, message
    stamp = document["timestamp"]
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        timestamp = int(stamp)
    elif isinstance(stamp, str):
        with contextlib.suppress(ValueError):  # an unreadable time: the log event keeps the time of delivery
            timestamp = int(dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
    inner = document["message"]
    return timestamp, inner if isinstance(inner, str) else _json(inner)
