"""Content filtering as EventBridge and Lambda event filtering define it, one matcher for both.

Syntax: "Content filtering in Amazon EventBridge event patterns"
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html) and "Lambda event
filtering" (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html): equals (by JSON type),
prefix and suffix (optionally ignoring case), equals-ignore-case, exists (leaf values only), numeric (JSON numbers
only), anything-but (values, prefix, suffix, wildcard, equals-ignore-case), wildcard (``*`` only), cidr, nested
objects, arrays matching any element. Used by the stream mappings' FilterCriteria, the bus rules and the archive
pattern.
"""

from __future__ import annotations

import ipaddress
import json
import operator
import re
from collections.abc import Callable
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
            if bool(rule["exists"]) == _has_leaf(value):
                return True
            continue
        if value is _MISSING:
            continue
        if any(_match_value(rule, v) for v in values):
            return True
    return False


def _has_leaf(value: Any) -> bool:
    """Whether a field holds a leaf value: "Exists matching only works on leaf nodes. It does not work on
    intermediate nodes" (eb-create-pattern-operators.html), so an object, or an array of objects, is none."""
    if value is _MISSING or isinstance(value, dict):
        return False
    if isinstance(value, list):
        return any(not isinstance(v, dict) for v in value)
    return True


def _match_value(rule: Any, value: Any) -> bool:
    if not isinstance(rule, dict):
        # exact matching follows JSON types: the number 5 does not match the string "5", nor true the number 1;
        # two JSON numbers match when their values are equal (300 and 300.0), compared exactly, never rounded
        if _is_number(rule) or _is_number(value):
            return _is_number(rule) and _is_number(value) and rule == value
        return bool(type(rule) is type(value) and rule == value)
    if "prefix" in rule:
        return _affix(rule["prefix"], value, str.startswith)
    if "suffix" in rule:
        return _affix(rule["suffix"], value, str.endswith)
    if "equals-ignore-case" in rule:
        return isinstance(value, str) and value.lower() == str(rule["equals-ignore-case"]).lower()
    if "numeric" in rule:
        return _is_number(value) and _numeric(rule["numeric"], value)
    if "anything-but" in rule:
        return _anything_but(rule["anything-but"], value)
    if "wildcard" in rule:
        return isinstance(value, str) and _wildcard(rule["wildcard"], value)
    if "cidr" in rule:
        return isinstance(value, str) and _in_cidr(rule["cidr"], value)
    raise PatternError(f"unsupported content filter {rule!r}")


def _affix(rule: Any, value: Any, test: Callable[[str, str], bool]) -> bool:
    """``prefix``/``suffix``, on strings only, optionally ``{"equals-ignore-case": ...}`` (the "Prefix matching
    while ignoring case" and "Suffix matching while ignoring case" sections)."""
    if not isinstance(value, str):
        return False
    if isinstance(rule, dict):
        if "equals-ignore-case" not in rule:
            raise PatternError(f"unsupported prefix/suffix filter {rule!r}")
        return test(value.lower(), str(rule["equals-ignore-case"]).lower())
    if not isinstance(rule, str):
        raise PatternError(f"prefix and suffix filters take a string, got {rule!r}")
    return test(value, rule)


def _wildcard(pattern: Any, value: str) -> bool:
    """"Wildcard matching": ``*`` matches zero or more characters and is the only wildcard (``?`` and ``[]`` are
    plain characters); ``\\*`` is a literal star and ``\\\\`` a literal backslash."""
    if not isinstance(pattern, str):
        raise PatternError(f"a wildcard filter takes a string, got {pattern!r}")
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*\\":
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if char == "*" else re.escape(char))
        i += 1
    return re.fullmatch("".join(parts), value, re.DOTALL) is not None


def _in_cidr(block: Any, value: str) -> bool:
    """"IP address matching": IPv4 and IPv6 addresses against a CIDR block; a value that is no address does not
    match."""
    try:
        network = ipaddress.ip_network(str(block), strict=False)
    except ValueError as exc:
        raise PatternError(f"not a CIDR block: {block!r}") from exc
    try:
        return ipaddress.ip_address(value) in network
    except ValueError:
        return False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric(conditions: list[Any], value: float) -> bool:
    """"Numeric matching" works on JSON numbers only, compared by value (Python compares int and float exactly)."""
    if not isinstance(conditions, list) or not conditions or len(conditions) % 2:
        raise PatternError(f"numeric filter needs operator/value pairs, got {conditions!r}")
    checks: dict[str, Callable[[Any, Any], bool]] = {
        "=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
    for name, operand in zip(conditions[::2], conditions[1::2], strict=True):
        if name not in checks:
            raise PatternError(f"unknown numeric operator {name!r}")
        if not _is_number(operand):
            raise PatternError(f"a numeric filter compares with numbers, got {operand!r}")
        if not checks[name](value, operand):
            return False
    return True


def _anything_but(rule: Any, value: Any) -> bool:
    if isinstance(rule, dict):
        if "prefix" in rule:
            return isinstance(value, str) and not _affix(rule["prefix"], value, str.startswith)
        if "suffix" in rule:
            return isinstance(value, str) and not _affix(rule["suffix"], value, str.endswith)
        if "wildcard" in rule:
            options = rule["wildcard"] if isinstance(rule["wildcard"], list) else [rule["wildcard"]]
            return isinstance(value, str) and not any(_wildcard(o, value) for o in options)
        if "equals-ignore-case" in rule:
            options = rule["equals-ignore-case"]
            options = options if isinstance(options, list) else [options]
            return isinstance(value, str) and value.lower() not in [str(o).lower() for o in options]
        raise PatternError(f"unsupported anything-but filter {rule!r}")
    options = rule if isinstance(rule, list) else [rule]
    return not any(_match_value(option, value) for option in options)
