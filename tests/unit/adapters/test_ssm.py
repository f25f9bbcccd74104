from __future__ import annotations

from handlers.adapters.ssm import SsmFaultPlanSource
from tests.unit.conftest import FaultPlans


def test_reads_the_parameter_under_the_prefix(fault_plans: FaultPlans) -> None:
    fault_plans.put("boom", {"where": "processor", "kind": "raise"})
    text = SsmFaultPlanSource(fault_plans.prefix).read("boom")
    assert text == '{"faults": [{"where": "processor", "kind": "raise"}]}'


def test_missing_parameter_is_none(fault_plans: FaultPlans) -> None:
    assert SsmFaultPlanSource(fault_plans.prefix).read("lifted") is None
