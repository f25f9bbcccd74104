"""pytest plugin (entry point ``pytest11``): test the deployed pattern from your own tests.

Options: ``--target`` (embedded, localstack, aws), ``--endpoint-url`` (localstack: an engine already running,
also from AWS_ENDPOINT_URL or LOCALSTACK_HOST; deployed into, never stopped), ``--jobkit-outputs`` (the outputs
file),
``--jobkit-keep`` (leave a sandbox this session started running), ``--runtime host|docker|compose`` (localstack:
where a sandbox the session starts runs; ``docker`` is testcontainers, ``compose`` pytest-docker's
``docker_services`` with ``--jobkit-compose-service``), ``--jobkit-reset=each|never`` (``each``: the
sandbox's data cleared, its resources kept, before each test that uses ``jobkit_deployment``; the embedded
engine through ``POST /_jobkit/reset``, LocalStack through the AWS APIs). Fixtures:

- ``jobkit_deployment``: the deployment (session); starts the target's sandbox unless one already runs
  (its outputs file answers), and stops it at the end if it started it;
- ``jobs_api``: a SigV4-signed Jobs API client with ``JobsAPIInvokeRole``'s credentials;
- ``fault_plan``: puts fault plans scoped to the test, lifted when the test ends;
- ``wait_for``: wait on a condition with a deadline (``wait_for(fetch, until, timeout=, describe=)``).

A failing test's report shows the trace of each job it submitted through ``jobs_api`` (a section per job: each hop
with its time, the milliseconds since the previous one, and the invocations' log lines).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.client.waiting import wait_for as _wait_for
from jobkit.errors import JobkitError
from jobkit.project import OUTPUTS_FILE
from jobkit.targets.catalog import DEFAULT_TARGET, TARGET_NAMES

if TYPE_CHECKING:
    from jobkit.targets.registry import Sandbox


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("jobkit", "jobkit: the deployed job-processing pattern")
    group.addoption("--target", choices=TARGET_NAMES, default=os.environ.get("JOBKIT_TARGET", DEFAULT_TARGET),
                    help="where the pattern runs (default: $JOBKIT_TARGET or %(default)s)")
    group.addoption("--jobkit-outputs", default=str(OUTPUTS_FILE), help="the deployment's outputs file")
    group.addoption("--jobkit-keep", action="store_true", help="leave a sandbox started by the session running")
    group.addoption("--endpoint-url", default=None,
                    help="--target localstack: test the engine already running at this address (default: "
                         "$AWS_ENDPOINT_URL, else $LOCALSTACK_HOST, when set); it is deployed into, never stopped")
    group.addoption("--jobkit-reset", choices=("each", "never"), default="never",
                    help="each: clear the sandbox's data (resources kept) before each test that uses "
                         "jobkit_deployment (default: %(default)s)")
    _add_runtime_options(group)


#: the pytest plugin's runtimes of the localstack target (the CLI's docker runtime is docker compose: a container
#: of testcontainers is reaped once its process exits, and ``jobkit up --detach`` exits)
RUNTIMES = {
    "host": "LocalStack's engine on this machine, no Docker",
    "docker": "LocalStack in a container that testcontainers starts for the session and stops after it",
    "compose": "LocalStack from pytest-docker's docker_services (your docker_compose_file), stopped by it",
}


def _add_runtime_options(group: Any) -> None:
    group.addoption("--runtime", choices=tuple(RUNTIMES), default=None,
                    help="localstack only: where LocalStack runs when the session starts it: "
                         + "; ".join(f"{name}: {what}" for name, what in RUNTIMES.items())
                         + " (default: docker compose where a Docker engine answers, else host)")
    group.addoption("--jobkit-compose-service", default="localstack",
                    help="--runtime compose: the compose service that runs LocalStack (default: %(default)s)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--jobkit-reset", "never") == "each" and config.getoption("--target", None) == "aws":
        raise pytest.UsageError("--jobkit-reset=each clears a local sandbox's data; it never deletes data on AWS")
    runtime = config.getoption("--runtime", None)
    if runtime is not None and config.getoption("--target", None) != "localstack":
        raise pytest.UsageError(f"--runtime {runtime} chooses where LocalStack runs: use it with --target localstack")
    _check_endpoint_option(config)


def _check_endpoint_option(config: pytest.Config) -> None:
    if config.getoption("--endpoint-url", None) and config.getoption("--target", None) != "localstack":
        raise pytest.UsageError("--endpoint-url attaches to a running engine with --target localstack")
    if config.getoption("--endpoint-url", None) and config.getoption("--runtime", None):
        raise pytest.UsageError("--endpoint-url attaches to a running engine; --runtime starts one: give one of them")


def _running(outputs: Path, target: str) -> Deployment | None:
    """The deployment in the outputs file, if it is on this target and answers."""
    try:
        deployment = Deployment.load(outputs, target=target)
    except JobkitError:
        return None
    if not deployment.is_local:
        return deployment
    if not deployment.answers(timeout=2):
        return None
    try:
        [stack] = deployment.client("cloudformation").describe_stacks(StackName="JobsStack")["Stacks"]
    except Exception:
        return None
    live = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return None if stale_outputs(deployment.outputs, live) else deployment


#: outputs that name a deployment's own resources and that jobkit writes unchanged (it rewrites the API's URL
#: to one that answers offline, so that one is not compared)
IDENTIFYING_OUTPUTS = ("JobsTableName", "JobsApiId")


def stale_outputs(written: dict[str, str], live: dict[str, str]) -> list[str]:
    """The identifying outputs whose written value is not the live stack's: a file left by another deployment
    of the stack (a sandbox since stopped, the stack deployed again into the same engine) names resources
    that are not there, and every test would fail on them."""
    return [key for key in IDENTIFYING_OUTPUTS if key in written and key in live and written[key] != live[key]]


@pytest.fixture(scope="session")
def jobkit_target(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--target"))


@pytest.fixture(scope="session")
def jobkit_deployment(request: pytest.FixtureRequest, jobkit_target: str) -> Iterator[Deployment]:
    outputs = Path(request.config.getoption("--jobkit-outputs"))
    attached = _attached_deployment(request.config, jobkit_target, outputs)
    if attached is not None:
        yield attached  # an engine someone else started: never stopped here
        return
    found = _running(outputs, jobkit_target)
    if found is not None:
        yield found
        return
    if jobkit_target == "aws":
        pytest.fail(f"no deployment on aws in {outputs}: deploy it with `jobkit deploy --target aws`",
                    pytrace=False)
    from jobkit.ui import Ui

    box = _session_sandbox(request, jobkit_target, outputs)
    deployment = box.up(Ui(quiet=True))
    try:
        yield deployment
    finally:
        if not request.config.getoption("--jobkit-keep"):
            box.down(Ui(quiet=True))


def _session_sandbox(request: pytest.FixtureRequest, target: str, outputs: Path) -> Sandbox:
    """The sandbox the session starts: ``--runtime docker`` through testcontainers, ``--runtime compose`` from
    pytest-docker's ``docker_services``, otherwise the CLI's (``jobkit up``'s) sandbox of the target."""
    runtime = request.config.getoption("--runtime")
    if runtime == "docker":
        from jobkit.targets.localstack.testcontainer import ContainerSandbox

        return ContainerSandbox(outputs_file=outputs)
    if runtime == "compose":
        from jobkit.targets.localstack.compose import ComposeSandbox

        if request.config.pluginmanager.get_plugin("docker") is None:
            pytest.fail("--runtime compose takes LocalStack from pytest-docker's docker_services: "
                        "pip install pytest-docker", pytrace=False)
        return ComposeSandbox(services=request.getfixturevalue("docker_services"),
                              docker_ip=request.getfixturevalue("docker_ip"),
                              service=request.config.getoption("--jobkit-compose-service"), outputs_file=outputs)
    from jobkit.targets.registry import sandbox

    return sandbox(target, runtime)


def _attached_deployment(config: pytest.Config, target: str, outputs: Path) -> Deployment | None:
    """With ``--target localstack`` and an engine's address (``--endpoint-url``, AWS_ENDPOINT_URL,
    LOCALSTACK_HOST): the deployment on that running engine, the stack deployed into it unless the outputs file
    already describes its live deployment there. None without an address; an engine not there fails the
    session in one line."""
    option = config.getoption("--endpoint-url", None)
    if target != "localstack" or config.getoption("--runtime", None) is not None:
        return None  # a runtime asked for starts the session's own engine, whatever the environment names
    from jobkit.targets.localstack.attach import AttachedSandbox, resolve_endpoint
    from jobkit.ui import Ui

    try:
        endpoint = resolve_endpoint(option)
        if endpoint is None:
            return None
        found = _running(outputs, target)
        if found is not None and (found.endpoint_url or "").rstrip("/") == endpoint.url:
            return found
        return AttachedSandbox(endpoint).up(Ui(quiet=True))
    except JobkitError as exc:
        pytest.fail(f"jobkit: {exc}", pytrace=False)


#: the jobs a test submitted through ``jobs_api``, on its item
SUBMITTED = pytest.StashKey[list[str]]()
#: the test under way, and the deployment its jobs run on (set once ``jobs_api`` is made)
_TRACKING = pytest.StashKey["_Tracking"]()
#: a failing test's report shows the traces of at most this many of its jobs
MAX_TRACED_JOBS = 10


@dataclass
class _Tracking:
    item: pytest.Item | None = None
    deployment: Deployment | None = None


@dataclass
class TrackedJobsApi(JobsApi):
    """A Jobs API client that tells ``on_submit`` the id of each job it submits."""

    on_submit: Callable[[str], None] = field(default=lambda _job_id: None, repr=False)

    def submit(self, seconds: Any, *, fault: str | None = None, extra: dict[str, Any] | None = None) -> str:
        job_id = super().submit(seconds, fault=fault, extra=extra)
        self.on_submit(job_id)
        return job_id


def _tracking(config: pytest.Config) -> _Tracking:
    if _TRACKING not in config.stash:
        config.stash[_TRACKING] = _Tracking()
    return config.stash[_TRACKING]


@pytest.fixture(autouse=True)
def _jobkit_reset(request: pytest.FixtureRequest) -> None:
    """With ``--jobkit-reset=each``, the sandbox's data cleared before each test that uses the deployment."""
    if request.config.getoption("--jobkit-reset") != "each" or "jobkit_deployment" not in request.fixturenames:
        return
    deployment: Deployment = request.getfixturevalue("jobkit_deployment")
    try:
        if deployment.target == "localstack":
            from jobkit.targets.localstack.reset import reset

            reset(deployment)
        elif deployment.target == "embedded" and deployment.endpoint_url:
            from jobkit.targets.embedded import reset_endpoint

            reset_endpoint(deployment.endpoint_url)
        else:
            raise JobkitError(f"a deployment on {deployment.target} is not a sandbox: nothing is reset there")
    except (JobkitError, ClientError, BotoCoreError) as exc:
        pytest.fail(f"--jobkit-reset=each: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def jobs_api(request: pytest.FixtureRequest, jobkit_deployment: Deployment) -> JobsApi:
    tracking = _tracking(request.config)
    tracking.deployment = jobkit_deployment

    def submitted(job_id: str) -> None:
        if tracking.item is not None:  # a job submitted by a session fixture belongs to no test
            tracking.item.stash.setdefault(SUBMITTED, []).append(job_id)

    api = JobsApi.for_deployment(jobkit_deployment)
    return TrackedJobsApi(api.base_url, api.region, api.credentials, api.timeout, api.session, on_submit=submitted)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    tracking = _tracking(item.config)
    tracking.item = item
    try:
        return (yield)
    finally:
        tracking.item = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """A failed test's report gets a section per job it submitted: the job's trace as the target shows it."""
    report = yield
    jobs = item.stash.get(SUBMITTED, [])
    deployment = _tracking(item.config).deployment
    if report.failed and jobs and deployment is not None:
        for job_id in jobs[:MAX_TRACED_JOBS]:
            report.sections.append((f"jobkit trace of job {job_id}", _trace_text(deployment, job_id)))
        if len(jobs) > MAX_TRACED_JOBS:
            report.sections.append(("jobkit trace", f"{len(jobs) - MAX_TRACED_JOBS} more job(s) not shown: "
                                                    f"`jobkit trace JOB_ID` shows any of {', '.join(jobs)}"))
        item.stash[SUBMITTED] = []  # said once, at the first failing phase
    return report


def _trace_text(deployment: Deployment, job_id: str) -> str:
    from jobkit.client.traces import as_text, job_trace

    try:
        return as_text(job_trace(deployment, job_id))
    except Exception as exc:  # the report of the test's own failure must not become this one
        return f"no trace of job {job_id}: {exc}"


@pytest.fixture
def fault_plan(request: pytest.FixtureRequest, jobkit_deployment: Deployment) -> Iterator[object]:
    from scenarios._context import FaultPlans

    plans = FaultPlans(jobkit_deployment, re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:40])
    yield plans
    plans.lift_all()


@pytest.fixture
def wait_for() -> object:
    return _wait_for
