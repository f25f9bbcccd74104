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
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jobkit.engine.services.events import patterns
from jobkit.engine.services.sns.messages import number

MESSAGE_ATTRIBUTES = "MessageAttributes"
MESSAGE_BODY = "MessageBody"
#: keywords that make an object a value rule, so an ``$or`` array holding one is not an OR ("AND/OR logic")
RESERVED = frozenset({"prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "cidr",
                      "wildcard"})
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
        try:
            if patterns.matches({"value": [rule]}, {"value": value}):
                return True
        except patterns.PatternError:
            continue  # a rule SNS would have refused when it was set matches nothing
    return False
