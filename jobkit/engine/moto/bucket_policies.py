"""moto's S3 bucket policies evaluated with their conditions: a statement applies only when its conditions hold
for the request ("IAM JSON policy elements: Condition", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html).

moto 5.2 checks a bucket's policy on each object request (``FakeBucket.get_permission``) and evaluates only
``StringEquals`` conditions, against an empty request context; any other operator is ignored, so its
statement applies to every request. The policy of cdk's bootstrap bucket — Deny ``s3:*`` when ``Bool``
``aws:SecureTransport`` is ``false`` — then denied every upload. Here the conditions are evaluated as IAM
evaluates a condition on a key the request context does not have (moto's evaluation provides none): the
condition does not hold, except ``Null`` on ``true``, an ``...IfExists`` operator and a ``ForAllValues:`` set
operator. A statement whose conditions do not hold is skipped; the others are evaluated as moto does (an
explicit Deny wins, then an Allow).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from moto.iam.access_control import IAMPolicyStatement, PermissionResult
from moto.s3.models import FakeBucket

_installed = threading.Lock()
_done = False


def holds_without_context(conditions: dict[str, dict[str, Any]]) -> bool:
    """Whether every condition of a statement holds for a request whose context has none of its keys."""
    for operator, keys in conditions.items():
        for expected in keys.values():
            if operator == "Null":
                values = expected if isinstance(expected, list) else [expected]
                if not all(str(value).lower() == "true" for value in values):
                    return False
            elif not (operator.endswith("IfExists") or operator.startswith("ForAllValues:")):
                return False
    return True


def _get_permission(self: FakeBucket, action: str, resource: str) -> Any:
    if self.policy is None:
        return PermissionResult.NEUTRAL
    statements = json.loads(self.policy.decode())["Statement"]
    permitted = False
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Condition") and not holds_without_context(statement["Condition"]):
            continue  # the statement does not apply to this request
        result = IAMPolicyStatement({k: v for k, v in statement.items() if k != "Condition"}).is_action_permitted(
            action, resource)
        if result == PermissionResult.DENIED:
            return result
        permitted = permitted or result == PermissionResult.PERMITTED
    return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL


def install() -> None:
    """Once per process (idempotent)."""
    global _done
    with _installed:
        if not _done:
            FakeBucket.get_permission = _get_permission  # type: ignore[method-assign]
            _done = True
