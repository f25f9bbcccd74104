"""Content filtering as EventBridge and Lambda event filtering define it, one matcher for both.

Syntax: "Content filtering in Amazon EventBridge event patterns"
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html) and "Lambda event
filtering" (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html): equals, prefix,
suffix, equals-ignore-case, exists, numeric, anything-but (values, prefix), nested objects, arrays matching any
element. Used by the stream mappings' FilterCriteria, the bus rules and the archive pattern.
"""

from __future__ import annotations

import json
from typing import Any

_MISSING = object()


class PatternError(ValueError):
    """A pattern that is not valid event-pattern syntax."""


def parse(pattern: str | dict[str, Any]) -> dict[str, Any]:
    document = json.loads(pattern) if isinstance(pattern, str) else pattern
    if not isinstance(document, dict):
        raise PatternError(f"an event pattern is a JSON object, got {document!r}")
    return document


def matches(pattern: str | dict[str, Any], event: Any) -> bool:
    """Whether ``event`` (a JSON-like dict) matches ``pattern``."""
    return _match_object(parse(pattern), event)


def _match_object(pattern: dict[str, Any], event: Any) -> bool:
    for key, rule in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(rule, dict):
            if value is _MISSING or not _match_object(rule, value):
                return False
        elif isinstance(rule, list):
            if not _match_list(rule, value):
                return False
        else:
            raise PatternError(f"the pattern's value for {key!r} must be an object or an array, got {rule!r}")
    return True


def _match_list(rules: list[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for rule in rules:
        if isinstance(rule, dict) and "exists" in rule:
            if bool(rule["exists"]) == (value is not _MISSING):
                return True
            continue
        if value is _MISSING:
            continue
        if any(_match_value(rule, v) for v in values):
            return True
    return False


def _match_value(rule: Any, value: Any) -> bool:
    if not isinstance(rule, dict):
        return bool(rule == value and type(rule) is type(value)) or (
            _is_number(rule) and _is_number(value) and float(rule) == float(value)
        )
    if "prefix" in rule:
        prefix = rule["prefix"]
        if isinstance(prefix, dict):  # {"prefix": {"equals-ignore-case": ...}}
            return isinstance(value, str) and value.lower().startswith(str(prefix["equals-ignore-case"]).lower())
        return isinstance(value, str) and value.startswith(prefix)
    if "suffix" in rule:
        return isinstance(value, str) and value.endswith(rule["suffix"])
    if "equals-ignore-case" in rule:
        return isinstance(value, str) and value.lower() == str(rule["equals-ignore-case"]).lower()
    if "numeric" in rule:
        return _is_number(value) and _numeric(rule["numeric"], float(value))
    if "anything-but" in rule:
        return _anything_but(rule["anything-but"], value)
    if "wildcard" in rule:
        import fnmatch

        return isinstance(value, str) and fnmatch.fnmatchcase(value, rule["wildcard"])
    raise PatternError(f"unsupported content filter {rule!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric(conditions: list[Any], value: float) -> bool:
    if len(conditions) % 2:
        raise PatternError(f"numeric filter needs operator/value pairs, got {conditions!r}")
    checks = {"=": value.__eq__, "<": value.__lt__, "<=": value.__le__, ">": value.__gt__, ">=": value.__ge__}
    for operator, operand in zip(conditions[::2], conditions[1::2], strict=True):
        if operator not in checks:
            raise PatternError(f"unknown numeric operator {operator!r}")
        if not checks[operator](float(operand)):
            return False
    return True


def _anything_but(rule: Any, value: Any) -> bool:
    if isinstance(rule, dict):
        if "prefix" in rule:
            return isinstance(value, str) and not value.startswith(rule["prefix"])
        if "suffix" in rule:
            return isinstance(value, str) and not value.endswith(rule["suffix"])
        if "equals-ignore-case" in rule:
            options = rule["equals-ignore-case"]
            options = options if isinstance(options, list) else [options]
            return isinstance(value, str) and value.lower() not in [str(o).lower() for o in options]
        raise PatternError(f"unsupported anything-but filter {rule!r}")
    options = rule if isinstance(rule, list) else [rule]
    return not any(_match_value(option, value) for option in options)
