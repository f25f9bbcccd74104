"""Subscription filter policies: which published messages a subscription takes.

"Amazon SNS message filtering" (https://docs.aws.amazon.com/sns/latest/dg/message-filtering.html) and "Amazon
SNS subscription filter policies" (https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html):
a message is accepted when every property name of the policy matches and, for each, at least one of its
values does. ``FilterPolicyScope`` says what the policy reads: ``MessageAttributes`` (the default) or
``MessageBody`` ("Amazon SNS subscription filter policy scope",
https://docs.aws.amazon.com/sns/latest/dg/sns-message-filtering-scope.html).

The value operators (exact strings and numbers, ``prefix``, ``suffix``, ``equals-ignore-case``, ``numeric``
ranges, ``anything-but``, arrays matching on any element) mean what they mean in EventBridge's content
filtering, so each value rule is judged by ``jobkit.engine.services.events.patterns``. What differs in SNS is
written here:

- ``$or`` is an operator only when its value is an array of at least two objects whose keys are not reserved
  keywords; otherwise it is an ordinary property name ("AND/OR logic",
  https://docs.aws.amazon.com/sns/latest/dg/and-or-logic.html).
- ``exists: true`` needs a value that is neither null nor empty; ``exists: false`` on message attributes
  matches only if the message has at least one attribute ("Key matching",
  https://docs.aws.amazon.com/sns/latest/dg/attribute-key-matching.html).
- Message attributes are typed: ``String`` is compared as a string, ``Number`` as a number, ``String.Array``
  (any ``*.Array``) element by element, and ``Binary`` attributes are ignored ("Filter policy constraints",
  https://docs.aws.amazon.com/sns/latest/dg/subscription-filter-policy-constraints.html).
- Nested properties exist only in the message body; a body that is not a JSON object matches no policy.
- ``cidr`` matches an IP address (v4 or v6) in a range ("IP address matching",
  https://docs.aws.amazon.com/sns/latest/dg/ip-address-matching.html); it is SNS's own, judged here.

A policy is checked when it is set (Subscribe, SetSubscriptionAttributes: ``validate``), as SNS refuses one with
InvalidParameter: at most five keys and 150 combinations ("Filter policy constraints"), values that are strings,
numbers (within -1e9..1e9), true, false or null, and only the operators above with their operand types. The
constraints page gives no wording; the messages are those SNS answers with.
"""

from __future__ import annotations

import ipaddress
import json
import math
from functools import lru_cache
from typing import Any

from jobkit.engine.services.events import patterns
from jobkit.engine.services.sns.messages import SnsError, number

MESSAGE_ATTRIBUTES = "MessageAttributes"
MESSAGE_BODY = "MessageBody"
#: keywords that make an object a value rule, so an ``$or`` array holding one is not an OR ("AND/OR logic")
RESERVED = frozenset({"prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "cidr",
                      "wildcard"})
#: "Filter policy constraints": the most keys and value combinations a policy may have, its largest size, and
#: the range of its numbers
MAX_KEYS = 5
MAX_COMBINATIONS = 150
MAX_POLICY_BYTES = 256 * 1024
NUMBER_LIMIT = 1e9
_MISSING = object()


def accepts(policy: str | dict[str, Any] | None, scope: str | None, attributes: dict[str, dict[str, str]],
            message: str) -> bool:
    """Whether a subscription with this filter policy (the ``FilterPolicy`` attribute: JSON text, or None for
    none) and scope takes a message with these attributes (``{name: {"Type", "Value"}}``) and body."""
    document = _parse(policy) if isinstance(policy, str) else policy
    if not document:
        return True
    if scope == MESSAGE_BODY:
        try:
            body = json.loads(message)
        except (ValueError, RecursionError):
            return False
        return isinstance(body, dict) and _match(document, body, nested=True, any_present=True)
    view = attribute_values(attributes)
    return _match(document, view, nested=False, any_present=bool(view))


def attribute_values(attributes: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The message attributes as a filter policy compares them: by type, Binary left out."""
    view: dict[str, Any] = {}
    for name, attribute in attributes.items():
        kind, value = attribute.get("Type", ""), attribute.get("Value", "")
        base = kind.split(".", 1)[0]
        try:
            if kind.endswith(".Array"):
                elements = json.loads(value)
                if isinstance(elements, list):
                    view[name] = elements
            elif base == "Number":
                parsed = number(value)
                if parsed is not None:
                    view[name] = parsed
            elif base == "String":
                view[name] = value
        except (ValueError, RecursionError):
            continue  # a value publishing refused never reaches here; anything else compares as absent
    return view


@lru_cache(maxsize=256)
def _parse(text: str) -> dict[str, Any]:
    """The policy's JSON, parsed once per distinct text (never changed by the matcher)."""
    try:
        document = json.loads(text) if text.strip() else {}
    except ValueError:
        return {"": []}  # unreadable: matches nothing (SNS refuses it when it is set)
    return document if isinstance(document, dict) else {"": []}


def _is_or(rule: Any) -> bool:
    return (isinstance(rule, list) and len(rule) >= 2 and all(isinstance(alternative, dict) for alternative in rule)
            and not any(RESERVED.intersection(alternative) for alternative in rule))


def _match(policy: dict[str, Any], event: Any, *, nested: bool, any_present: bool) -> bool:
    for key, rule in policy.items():
        if key == "$or" and _is_or(rule):
            if not any(_match(alternative, event, nested=nested, any_present=any_present) for alternative in rule):
                return False
            continue
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(rule, dict):
            if not nested:
                return False  # SNS refuses nested policies on attributes when they are set
            candidates = value if isinstance(value, list) else [value]
            if not any(isinstance(candidate, dict) and _match(rule, candidate, nested=True, any_present=True)
                       for candidate in candidates):
                return False
        elif isinstance(rule, list):
            if not _match_values(rule, value, any_present):
                return False
        else:
            return False  # SNS refuses a property that is neither an object nor an array when it is set
    return True


def _match_values(rules: list[Any], value: Any, any_present: bool) -> bool:
    """One property: at least one of its rules matches the value."""
    present = value is not _MISSING and value is not None and value != ""
    for rule in rules:
        if isinstance(rule, dict) and "exists" in rule:
            if rule["exists"] is True and present:
                return True
            if rule["exists"] is False and not present and any_present:
                return True
            continue
        if value is _MISSING:
            continue
        if isinstance(rule, dict) and "cidr" in rule:
            if any(_in_range(rule["cidr"], v) for v in (value if isinstance(value, list) else [value])):
                return True
            continue
        try:
            if patterns.matches({"value": [rule]}, {"value": value}):
                return True
        except patterns.PatternError:
            continue  # a rule SNS would have refused when it was set matches nothing
    return False


def _in_range(cidr: Any, value: Any) -> bool:
    """Whether ``value`` is an IP address in the ``cidr`` range ("IP address matching")."""
    if not isinstance(value, str) or not isinstance(cidr, str):
        return False
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


# --- checking a policy when it is set ---------------------------------------------------------------------

def _refuse(reason: str) -> SnsError:
    return SnsError("InvalidParameter", f"Invalid parameter: FilterPolicy: {reason}")


def validate(text: str, scope: str | None) -> None:
    """Refuses a ``FilterPolicy`` attribute SNS refuses, as SNS does (InvalidParameter); an empty one (which
    removes the policy) is fine. ``scope`` is the subscription's ``FilterPolicyScope``."""
    if not text.strip():
        return
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise _refuse("Filter policy is too long")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _refuse(f"failed to parse JSON. {exc}") from None
    if not isinstance(document, dict):
        raise _refuse("Filter policy must be a JSON object")
    if _combinations(document, scope) > MAX_COMBINATIONS:
        raise _refuse("Filter policy is too complex")


def _combinations(policy: dict[str, Any], scope: str | None) -> int:
    """Checks one conjunction of the policy (its keys, each rule) and returns its value combinations: the
    product of the number of values of each array ("Filter policy constraints"); an ``$or`` adds its
    alternatives' (each alternative is one more way the rest can match)."""
    keys = [key for key, rule in policy.items() if not (key == "$or" and _is_or(rule))]
    if len(keys) > MAX_KEYS:
        raise _refuse(f"Filter policy can not have more than {MAX_KEYS} keys")
    total = 1
    for key, rule in policy.items():
        if key == "$or" and _is_or(rule):
            total *= sum(_combinations(alternative, scope) for alternative in rule)
        elif isinstance(rule, dict):
            if scope != MESSAGE_BODY:
                raise SnsError("InvalidParameter", "Invalid parameter: Filter policy scope MessageAttributes does "
                                                   "not support nested filter policy")
            total *= _combinations(rule, scope)
        elif isinstance(rule, list):
            if not rule:
                raise _refuse("Empty arrays are not allowed")
            for value in rule:
                _check_rule(value)
            total *= len(rule)
        else:
            raise _refuse(f'"{key}" must be an object or an array')
        if total > MAX_COMBINATIONS:
            raise _refuse("Filter policy is too complex")
    return total


def _check_rule(rule: Any) -> None:
    """One value of a property's array: a literal, or an object naming one operator with a valid operand."""
    if not isinstance(rule, dict):
        _check_literal(rule)
        return
    if len(rule) != 1:
        raise _refuse("Only one key allowed in match expression")
    [(operator, operand)] = rule.items()
    if operator in ("prefix", "suffix", "equals-ignore-case"):
        if not isinstance(operand, str):
            raise _refuse(f"{operator} match pattern must be a string")
    elif operator == "exists":
        if not isinstance(operand, bool):
            raise _refuse("exists match pattern must be either true or false.")
    elif operator == "anything-but":
        _check_anything_but(operand)
    elif operator == "numeric":
        _check_numeric(operand)
    elif operator == "cidr":
        if not isinstance(operand, str) or "/" not in operand:
            raise _refuse("Malformed CIDR, one '/' required")
        try:
            ipaddress.ip_network(operand, strict=False)
        except ValueError:
            raise _refuse(f"Malformed CIDR: {operand}") from None
    else:
        raise _refuse(f"Unrecognized match type {operator}")


def _check_literal(value: Any) -> None:
    if value is None or isinstance(value, str | bool):
        return
    if isinstance(value, int | float):
        _check_number(value)
        return
    raise _refuse("Match value must be String, number, true, false, or null")


def _check_number(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _refuse("Match value must be String, number, true, false, or null")
    if not -NUMBER_LIMIT <= value <= NUMBER_LIMIT:
        raise _refuse("Numeric values must be between -1.0E9 and 1.0E9")


def _check_anything_but(operand: Any) -> None:
    """``anything-but``: a string or number, an array of them, or one ``prefix``/``suffix`` string."""
    if isinstance(operand, dict):
        if len(operand) == 1 and next(iter(operand)) in ("prefix", "suffix") \
                and isinstance(next(iter(operand.values())), str):
            return
        raise _refuse("Unsupported anything-but pattern")
    values = operand if isinstance(operand, list) else [operand]
    if not values or any(isinstance(v, bool) or v is None or not isinstance(v, str | int | float) for v in values):
        raise _refuse("Value of anything-but must be an array or single string/number value.")
    for value in values:
        if not isinstance(value, str):
            _check_number(value)


def _check_numeric(operand: Any) -> None:
    """``numeric``: one comparison, or a range: a lower bound (``>``/``>=``) then an upper one (``<``/``<=``)."""
    if not isinstance(operand, list) or not operand:
        raise _refuse("Invalid member in numeric match: ]")
    pairs = [operand[i:i + 2] for i in range(0, len(operand), 2)]
    if len(pairs) > 2:
        raise _refuse("Too many elements in numeric expression")
    for operator, *value in pairs:
        if not isinstance(operator, str) or operator not in ("<", "<=", "=", ">", ">="):
            raise _refuse(f"Unrecognized numeric range operator: {operator}")
        if not value or isinstance(value[0], bool) or not isinstance(value[0], int | float):
            raise _refuse(f"Value of {operator} must be numeric")
        _check_number(value[0])
    if len(pairs) == 2:
        (low_op, low), (high_op, high) = pairs
        if low_op not in (">", ">="):
            raise _refuse("Too many elements in numeric expression")
        if high_op not in ("<", "<="):
            raise _refuse(f"Bad numeric range operator: {high_op}")
        if high <= low:
            raise _refuse("Bottom must be less than top")
