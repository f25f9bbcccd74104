from __future__ import annotations

import json

import pytest

from handlers.domain.faults import (
    NO_FAULTS,
    TIMEOUT_MARGIN_SECONDS,
    Fault,
    FaultClock,
    FaultPlan,
    FaultPlanError,
    InjectedFault,
    apply_faults,
    conflict_hook,
    load_plan,
    parse_plan,
)
from tests.unit.fakes import DictPlanSource, MemoryJobStore, RecordingClock

CONTRACT_EXAMPLE = """{"faults": [
  {"where": "processor", "kind": "raise"},
  {"where": "processor", "kind": "timeout", "consumers": ["consumer_1"]},
  {"where": "error_handler", "kind": "raise"},
  {"where": "processor", "kind": "conflict", "times": 3},
  {"where": "processor", "kind": "delay", "seconds": 2}
]}"""


def test_parses_the_example_of_the_contract() -> None:
    plan = parse_plan(CONTRACT_EXAMPLE, "everything")
    assert plan.name == "everything"
    assert plan.faults == (
        Fault(where="processor", kind="raise"),
        Fault(where="processor", kind="timeout", consumers=frozenset({"consumer_1"})),
        Fault(where="error_handler", kind="raise"),
        Fault(where="processor", kind="conflict", times=3),
        Fault(where="processor", kind="delay", seconds=2.0),
    )


def test_selection_by_where_and_consumer_keeps_plan_order() -> None:
    plan = parse_plan(CONTRACT_EXAMPLE)
    assert [f.kind for f in plan.select("processor", "consumer_1")] == ["raise", "timeout", "conflict", "delay"]
    assert [f.kind for f in plan.select("processor", "consumer_2")] == ["raise", "conflict", "delay"]
    assert [f.kind for f in plan.select("error_handler", "consumer_2")] == ["raise"]


def test_an_empty_list_is_no_fault() -> None:
    assert parse_plan('{"faults": []}').select("processor", "consumer_1") == ()


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"where": "processor", "kind": "explode"}, "unknown kind 'explode'; known kinds: raise, timeout, conflict"),
        ({"where": "api", "kind": "raise"}, "'where' must be one of processor, error_handler; got 'api'"),
        ({"where": "processor", "kind": "conflict"}, "kind 'conflict' needs 'times'"),
        ({"where": "processor", "kind": "conflict", "times": 0}, "an integer >= 1; got 0"),
        ({"where": "processor", "kind": "delay"}, "kind 'delay' needs 'seconds'"),
        ({"where": "processor", "kind": "delay", "seconds": -1}, "a number >= 0; got -1"),
        ({"where": "processor", "kind": "raise", "consumer": ["consumer_1"]}, "keys ['consumer'] are not allowed"),
        ({"where": "processor", "kind": "raise", "consumers": "consumer_1"}, "'consumers' must be a list"),
        ("raise", "must be an object"),
    ],
)
def test_malformed_faults_are_refused_clearly(fault: object, message: str) -> None:
    with pytest.raises(FaultPlanError) as info:
        parse_plan(json.dumps({"faults": [fault]}), "broken")
    assert str(info.value).startswith("fault plan 'broken', faults[0]: ")
    assert message in str(info.value)


@pytest.mark.parametrize("text", ["not json", "[]", '{"faults": {}}', "{}"])
def test_malformed_documents_are_refused_clearly(text: str) -> None:
    with pytest.raises(FaultPlanError, match="fault plan 'p'"):
        parse_plan(text, "p")


def test_missing_parameter_is_no_fault() -> None:
    source = DictPlanSource()
    assert load_plan(source, "lifted") is NO_FAULTS
    assert source.reads == ["lifted"]


def test_without_a_source_plans_are_never_read() -> None:
    # FAULT_PLAN_PREFIX absent: the handlers pass no source at all.
    assert load_plan(None, "anything") is NO_FAULTS


def test_a_job_without_fault_reads_nothing() -> None:
    source = DictPlanSource({"x": CONTRACT_EXAMPLE})
    assert load_plan(source, None) is NO_FAULTS
    assert source.reads == []


def test_a_fault_name_the_api_would_refuse_is_refused() -> None:
    source = DictPlanSource()
    with pytest.raises(FaultPlanError, match="does not match"):
        load_plan(source, "../../etc")
    assert source.reads == []


def test_load_parses_the_stored_plan() -> None:
    plan = load_plan(DictPlanSource({"boom": '{"faults": [{"where": "processor", "kind": "raise"}]}'}), "boom")
    assert plan == FaultPlan(name="boom", faults=(Fault(where="processor", kind="raise"),))


def test_delay_sleeps_sandbox_seconds(clock: RecordingClock, fault_clock: FaultClock) -> None:
    apply_faults([Fault(where="processor", kind="delay", seconds=2.0)], fault_clock, "j", "slow")
    assert clock.sleeps == [2.0] and clock.real_sleeps == []


def test_raise_raises_injected_fault(fault_clock: FaultClock) -> None:
    with pytest.raises(InjectedFault, match="plan 'boom' raises in processor for job 'j'"):
        apply_faults([Fault(where="processor", kind="raise")], fault_clock, "j", "boom")


def test_timeout_sleeps_past_the_remaining_time(clock: RecordingClock, fault_clock: FaultClock) -> None:
    clock.remaining = 12.5
    with pytest.raises(InjectedFault, match="injected timeout"):
        apply_faults([Fault(where="processor", kind="timeout")], fault_clock, "j", "hang")
    assert clock.real_sleeps == [12.5 + TIMEOUT_MARGIN_SECONDS]
    assert clock.sleeps == []


def test_faults_apply_in_plan_order(clock: RecordingClock, fault_clock: FaultClock) -> None:
    faults = [Fault(where="processor", kind="delay", seconds=1.0), Fault(where="processor", kind="raise")]
    with pytest.raises(InjectedFault):
        apply_faults(faults, fault_clock, "j", "p")
    assert clock.sleeps == [1.0]


def test_conflict_hook_bumps_only_the_first_n_attempts() -> None:
    store = MemoryJobStore()
    store.add("j", 1)
    hook = conflict_hook([Fault(where="processor", kind="conflict", times=2)], store)
    assert hook is not None
    for attempt in (1, 2, 3, 4):
        hook("j", attempt)
    assert store.items["j"]["version"] == 2


def test_no_conflict_fault_means_no_hook() -> None:
    assert conflict_hook([Fault(where="processor", kind="raise")], None) is None


def test_conflict_without_a_bumper_is_refused() -> None:
    with pytest.raises(FaultPlanError, match="bump"):
        conflict_hook([Fault(where="processor", kind="conflict", times=1)], None)
