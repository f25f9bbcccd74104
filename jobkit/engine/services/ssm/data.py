"""The sandbox's fault plans in moto's SSM models, deleted by a reset: the parameters under the deployment's
``FaultPlanPrefix`` output, and only those (the stack's own parameters stay)."""

from __future__ import annotations

from collections.abc import Mapping

from jobkit.engine.core.service import moto_backends


def reset(account: str, outputs: Mapping[str, str]) -> dict[str, int]:
    """No prefix (a stack synthesized without fault injection) deletes nothing."""
    deleted = 0
    fault_plan_prefix = outputs.get("FaultPlanPrefix", "")
    if fault_plan_prefix:
        for backend in moto_backends("ssm", account):
            for name in [n for n in list(dict.keys(backend._parameters)) if n.startswith(fault_plan_prefix)]:
                backend.delete_parameter(name)
                deleted += 1
    return {"faultPlans": deleted}
