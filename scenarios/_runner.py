"""Finds the scenarios (one file each in scenarios/), runs them against a deployment, reports them."""

from __future__ import annotations

import importlib
import pkgutil
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET  # nosec B405  # only writes the JUnit report; nothing untrusted is parsed

import scenarios
from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.errors import JobkitError
from jobkit.targets.localstack.attach import engine_keys
from scenarios._context import ScenarioContext
from scenarios._model import Scenario

PASSED, FAILED, NOT_RUN, DIFFERENCE, RUNNING, PENDING = (
    "passed", "failed", "not run", "passed (expected difference)", "running", "pending")


@dataclass
class Outcome:
    scenario: Scenario
    status: str = PENDING
    duration: float = 0.0
    detail: str = ""
    job_ids: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status in {PASSED, DIFFERENCE, NOT_RUN}


def discover() -> dict[str, Scenario]:
    """Every module of the scenarios package not starting with ``_`` that defines ``scenario``."""
    found: dict[str, Scenario] = {}
    for info in pkgutil.iter_modules(scenarios.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"scenarios.{info.name}")
        scenario = getattr(module, "scenario", None)
        if isinstance(scenario, Scenario):
            found[scenario.name] = scenario
    return dict(sorted(found.items()))


def select(names: list[str] | None) -> list[Scenario]:
    available = discover()
    if not names:
        return list(available.values())
    unknown = [n for n in names if n not in available]
    if unknown:
        raise JobkitError(f"unknown scenario(s): {', '.join(unknown)}", f"known: {', '.join(available)}")
    return [available[n] for n in names]


def run_one(scenario: Scenario, deployment: Deployment, api: JobsApi) -> Outcome:
    outcome = Outcome(scenario)
    # the engine that answers, not the target's name: LocalStack attached to, or jobkit's embedded engine
    # deployed into as a LocalStack, has its own differences and capabilities
    engine = engine_keys(deployment)
    missing = scenario.missing_on(engine)
    if missing:
        outcome.status = NOT_RUN
        outcome.detail = f"not run: needs {', '.join(sorted(missing))} (engine {engine[0]} has none)"
        return outcome
    difference = scenario.difference_on(engine)
    ctx = ScenarioContext(deployment=deployment, api=api, scenario=scenario.name, difference=difference)
    started = time.monotonic()
    try:
        scenario.run(ctx)
    except AssertionError as exc:
        outcome.status, outcome.detail = FAILED, str(exc)
    except Exception as exc:  # a scenario's crash is its failure, reported with where it happened
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        outcome.status, outcome.detail = FAILED, f"{exc.__class__.__name__}: {exc}{where}"
    else:
        outcome.status = DIFFERENCE if difference else PASSED
        if difference:
            outcome.detail = f"{difference.reason} (source: {difference.source})"
    finally:
        ctx.faults.lift_all()
        outcome.duration = time.monotonic() - started
        outcome.job_ids = tuple(ctx.job_ids)
    return outcome


def run_all(selected: list[Scenario], deployment: Deployment, *, parallel: int = 4,
            on_change: Callable[[list[Outcome]], None] = lambda _: None) -> list[Outcome]:
    """Runs the scenarios concurrently (each scoped to its own jobs and fault plans); exclusive ones alone."""
    api = JobsApi.for_deployment(deployment)
    outcomes = [Outcome(s) for s in selected]
    on_change(outcomes)

    def go(outcome: Outcome) -> None:
        outcome.status = RUNNING
        on_change(outcomes)
        result = run_one(outcome.scenario, deployment, api)
        outcome.status, outcome.duration, outcome.detail, outcome.job_ids = (
            result.status, result.duration, result.detail, result.job_ids)
        on_change(outcomes)

    # the long ones first (a stable sort keeps the given order otherwise): what the others do overlaps them
    shared = sorted((o for o in outcomes if not o.scenario.exclusive), key=lambda o: not o.scenario.long)
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        list(pool.map(go, shared))
    for outcome in outcomes:
        if outcome.scenario.exclusive:
            go(outcome)
    return outcomes


def write_junit(outcomes: list[Outcome], path: Path, target: str) -> None:
    suite = ET.Element("testsuite", name=f"jobkit scenarios ({target})", tests=str(len(outcomes)),
                       failures=str(sum(o.status == FAILED for o in outcomes)),
                       skipped=str(sum(o.status == NOT_RUN for o in outcomes)),
                       time=f"{sum(o.duration for o in outcomes):.3f}")
    for outcome in outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"scenarios.{target}", name=outcome.scenario.name,
                             time=f"{outcome.duration:.3f}")
        if outcome.status == FAILED:
            ET.SubElement(case, "failure", message=outcome.detail[:500]).text = outcome.detail
        elif outcome.status == NOT_RUN:
            ET.SubElement(case, "skipped", message=outcome.detail)
        elif outcome.detail:
            ET.SubElement(case, "system-out").text = outcome.detail
    path.parent.mkdir(parents=True, exist_ok=True)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="unicode", xml_declaration=True)
