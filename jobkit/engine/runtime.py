"""``EmbeddedEngine``: the whole sandbox in one process — the endpoint, the deployed stack, the compute plane.

Start order: endpoint (moto behind it) -> the services the engine serves itself (API Gateway's data plane,
Lambda, its asynchronous invocations and stream pollers, SNS, EventBridge, CloudFormation's API) -> the
stack deployed through their APIs, as any client would create it -> ``cdk-outputs.json``. Stop order is the
reverse. Each hop of a job is printed on one line with the job id (``jobkit.engine.core.hops``).
"""

from __future__ import annotations

import gc
import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from botocore.config import Config
from werkzeug.wrappers import Request, Response

from jobkit.deploy.outputs import consumer_ids
from jobkit.engine.core.chaos import Chaos
from jobkit.engine.core.clock import MAX_ADVANCE_SECONDS, SandboxClock
from jobkit.engine.core.destinations import Destinations
from jobkit.engine.core.endpoints import json_object, no_constant, refuse
from jobkit.engine.core.hops import HopLog, HopObserver
from jobkit.engine.core.page import PageApi
from jobkit.engine.core.server import EngineApp, EngineServer
from jobkit.engine.core.service import EngineContext
from jobkit.engine.core.trace import JobTraces, TraceApi
from jobkit.engine.moto import fast as moto_fast
from jobkit.engine.moto.writes import WRITE_LOCK
from jobkit.engine.services import SERVED, WITH_DATA, data_reset, starter
from jobkit.engine.services.apigateway.gateway import Gateway, apis_from
from jobkit.engine.services.cloudformation.api import StackApi
from jobkit.engine.services.cloudformation.deployer import (
    Changes,
    StackDeployer,
    local_outputs,
    write_outputs_file,
)
from jobkit.engine.services.cloudformation.resource_types import DeploymentError
from jobkit.engine.services.cloudformation.stacks import Stack, Stacks
from jobkit.engine.services.events.buses import EventsService
from jobkit.engine.services.lambda_.functions import LambdaService
from jobkit.init_hooks import InitState
from jobkit.sandbox import ACCOUNT, REGION
from stack.settings import STACK_NAME

DEFAULT_PORT = 4566
#: the longest one call of a deployment to the engine may take (a function's creation unpacks its code)
RESOURCE_CALL_TIMEOUT = 120
#: how long ``POST /_jobkit/reset`` waits for another reset or a deployment to end before answering 409
RESET_LOCK_WAIT = 2.0


@dataclass(frozen=True)
class EngineInfo:
    """What ``start`` returns: where the engine answers and what it deployed."""

    endpoint_url: str
    outputs: dict[str, str]


class EmbeddedEngine:
    """Runs the synthesized stack locally. ``start`` returns once the stack is deployed and the endpoint answers."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT, out: TextIO | None = sys.stdout,
                 prewarm: bool = True, scratch: Path | None = None) -> None:
        """``scratch``: where the function environments' /tmp folders go (the system's temporary folder if None;
        a sandbox gives a folder of the project)."""
        self.host = host
        self.scratch = scratch
        self.port = port
        self.hops = HopLog(out=out)
        self.traces = JobTraces.from_env()
        self.observer = HopObserver(self.hops, self.traces)
        self.prewarm = prewarm
        self.clock = SandboxClock()
        self.app: EngineApp | None = None
        self.server: EngineServer | None = None
        self.url: str | None = None
        self.template_dir = Path()
        self.outputs_file: Path | None = None
        #: every stack of the engine: its own (JobsStack, deployed at start) and any deployed through
        #: CloudFormation's API beside it (``cdk deploy``)
        self.stacks: Stacks | None = None
        self._deploying = threading.Lock()
        self.outputs: dict[str, str] = {}
        #: the started services by folder name (``jobkit.engine.services.SERVED``)
        self.services: dict[str, Any] = {}
        #: the Chaos API (``/_localstack/chaos/*``): its faults meet the served calls and the platform's own
        self.chaos = Chaos()
        self.destinations = Destinations(screen=self.chaos.check_delivery)
        #: the init hooks' state, as ``GET /_localstack/init`` answers it (``serve`` runs the ready hooks)
        self.init = InitState()

    @property
    def lambdas(self) -> LambdaService | None:
        plane = self.services.get("lambda_")
        return plane.functions if plane is not None else None

    @property
    def events(self) -> EventsService | None:
        return self.services.get("events")

    @property
    def gateway(self) -> Gateway | None:
        return self.services.get("apigateway")

    @property
    def stack(self) -> StackDeployer | None:
        """The engine's own stack's deployer (JobsStack's); None before the start or once it is deleted."""
        own = self.stacks.find(STACK_NAME) if self.stacks is not None else None
        return own.deployer if own is not None else None

    # --- lifecycle --------------------------------------------------------------------------------------
    def start(self, template_dir: Path | str, outputs_file: Path | str | None = None,
              time_scale: float = 1.0) -> EngineInfo:
        """Serves the AWS APIs, then deploys the stack of ``template_dir`` (a cloud assembly) through them, as
        any client would."""
        self.clock = SandboxClock(scale=time_scale)
        self.app = EngineApp(ACCOUNT, chaos=self.chaos)
        self.server = EngineServer(self.app, self.host, self.port)
        self.server.start()
        self.url = self.server.url if self.host in ("127.0.0.1", "0.0.0.0") else f"http://{self.host}:{self.server.port}"  # noqa: S104  # nosec B104  # compares, binds nothing
        self.template_dir = Path(template_dir)
        self.outputs_file = Path(outputs_file) if outputs_file else None
        try:
            self._wire(self.url)
            assert self.stacks is not None
            self.stacks.apply_assembly(STACK_NAME, self.template_dir)
        except BaseException:
            self.stop()
            raise
        self._freeze_start_up()
        if self.prewarm and self.lambdas is not None:
            threading.Thread(target=self.lambdas.prewarm, name="jobkit-prewarm", daemon=True).start()
        return EngineInfo(self.url, dict(self.outputs))

    def deploy(self, template_dir: Path | None = None) -> Changes:
        """The stack of the engine's cloud assembly (or of ``template_dir``, from now on) applied again, in place:
        what changed in the template since is created, updated or deleted; what did not, data included, stays.
        The outputs file follows."""
        if self.stacks is None:
            raise RuntimeError("the engine is not started")
        with self._deploying:
            if template_dir is not None:
                self.template_dir = Path(template_dir)
            return self.stacks.apply_assembly(STACK_NAME, self.template_dir)

    def _deployed(self) -> None:
        """What follows any deployment of any stack: the gateway serves the stacks' APIs as they are now, and
        the engine's own stack's outputs."""
        assert self.stacks is not None and self.url is not None
        if self.gateway is not None:
            self.gateway.apis = apis_from(self.stacks.registries())
        own = self.stacks.find(STACK_NAME)
        if own is None:
            return
        self.outputs = (write_outputs_file(self.outputs_file, own.registry, self.url) if self.outputs_file
                        else local_outputs(own.registry, self.url))

    def _stack_outputs(self, stack: Stack) -> dict[str, str]:
        """What DescribeStacks answers: the engine's own stack's outputs as the engine serves them, another
        stack's as its template made them."""
        return dict(self.outputs) if stack.name == STACK_NAME else dict(stack.registry.outputs)

    @staticmethod
    def _freeze_start_up() -> None:
        """Leaves what the start built out of every later garbage collection. The start leaves ~180k long-lived
        objects (modules, service models, the deployment); each full collection walked them all, ~50 ms here,
        with the interpreter lock held, and one came every few hundred requests: a job in flight then took
        ~120 ms longer (the bench's overhead p99 at the real clock). Frozen, a collection walks only what came
        after. The garbage of the start is collected first, so none of it is kept."""
        gc.collect()
        gc.freeze()

    def stop(self) -> None:
        for name in reversed(list(self.services)):
            stop = getattr(self.services.pop(name), "stop", None)  # a service with threads or processes
            if stop is not None:
                stop()
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def endpoint_url(self) -> str:
        if self.server is None:
            raise RuntimeError("the engine is not started")
        return self.server.url

    def _clients(self, url: str) -> Any:
        """The deployer's clients: botocore's (a boto3 client adds nothing the deployer calls), sharing moto's
        decoded service models (``moto.fast``)."""
        session = moto_fast.botocore_session()
        cache: dict[str, Any] = {}
        config = Config(retries={"max_attempts": 1}, read_timeout=RESOURCE_CALL_TIMEOUT)

        def client(service: str) -> Any:
            if service not in cache:
                cache[service] = session.create_client(service, endpoint_url=url, region_name=REGION, config=config,
                                                       aws_access_key_id="test", aws_secret_access_key="test")  # noqa: S106  # nosec B106  # local dummy keys
            return cache[service]

        return client

    # --- wiring -----------------------------------------------------------------------------------------
    def _wire(self, url: str) -> None:
        assert self.app is not None
        app = self.app
        ctx = EngineContext(app, ACCOUNT, REGION, url, self.clock, self.destinations, self.observer, self.scratch,
                            self.services)
        for name in SERVED:
            self.services[name] = starter(name)(ctx)
        self.stacks = Stacks(self._clients(url), account=ACCOUNT, region=REGION,
                             stage_code=self.services["lambda_"].staged.stage,
                             on_applied=lambda _stack: self._deployed())
        stack_api = StackApi(self.stacks, account=ACCOUNT, outputs=self._stack_outputs)
        for action, handler in stack_api.intercepts().items():
            app.intercept("cloudformation", action, handler)
        app.own("cloudformation")
        app.routes["/_jobkit/clock"] = self._clock_http
        app.routes["/_jobkit/deploy"] = self._deploy_http
        traces = TraceApi(self.traces, lambda: self.outputs.get("JobsTableName"), lambda: consumer_ids(self.outputs))
        app.routes["/_jobkit/jobs"] = traces.jobs_http
        app.routes[TraceApi.PREFIX] = traces.trace_http
        app.routes["/_jobkit/reset"] = self._reset_http
        app.routes.update(PageApi(lambda: self.outputs, lambda: self.url).routes())
        app.routes.update(self.chaos.routes())
        app.routes.update(self.init.routes())

    # --- HTTP actions the engine owns --------------------------------------------------------------------
    def _deploy_http(self, request: Request) -> Response:
        """``POST`` (no body) applies the engine's cloud assembly again, in place (``jobkit deploy`` synthesizes
        it first); the answer lists what changed and the outputs. A template the engine cannot deploy is a 400
        with the reason; the stack keeps what was done before the failing resource."""
        if request.method != "POST":
            return refuse(405, f"{request.method} is not served here: POST applies the stack again",
                                 {"Allow": "POST"})
        if request.get_data().strip() not in (b"", b"{}"):
            return refuse(400, "the body must be empty: the engine deploys its own cloud assembly "
                                      f"({self.template_dir.name}/)")
        if self._deploying.locked():
            return refuse(409, "a deployment is under way; try again when it ends")
        try:
            changes = self.deploy()
        except DeploymentError as exc:
            return refuse(400, str(exc))
        return Response(json.dumps({"changes": changes.summary(), "outputs": self.outputs}),
                        content_type="application/json")

    def _clock_http(self, request: Request) -> Response:
        """``GET`` reads the sandbox clock; ``POST {"advance": seconds}`` moves it on. Bad input is a 400 with a
        message and moves nothing."""
        if request.method not in ("GET", "POST"):
            return refuse(405, f"{request.method} is not served here: GET reads the clock, POST "
                                      '{"advance": seconds} moves it on', {"Allow": "GET, POST"})
        if request.method == "POST":
            try:
                seconds = clock_advance(request.get_data())
                self.clock.advance(seconds)
            except ValueError as exc:
                return refuse(400, str(exc))
        return Response(json.dumps({"now": self.clock.now(), "scale": self.clock.scale}),
                        content_type="application/json")

    # --- reset: the sandbox's data cleared, every resource kept -----------------------------------------------
    def reset(self) -> dict[str, Any]:
        """Clears the sandbox's data and keeps every deployed resource: table items and stream records (the
        pollers read on from the new end), queue messages, archived events and replays, log events, the fault
        plans (parameters under the ``FaultPlanPrefix`` output), the clock's jumps, and the asynchronous
        invocations queued or waiting for a retry. Never while a deployment runs. Returns what was cleared
        (counts per service) and the milliseconds it took."""
        with self._deploying:
            return self._reset()

    def _reset(self) -> dict[str, Any]:
        began = time.perf_counter()
        cleared: dict[str, Any] = {}
        with WRITE_LOCK:  # no item is written between the tables emptied and the stream pollers emptied
            # start order: Lambda's invocations are dropped before the stores they would write to are cleared
            for name, service in list(self.services.items()):
                reset = getattr(service, "reset", None)
                if reset is not None:
                    cleared[name.rstrip("_")] = reset()
            for name in WITH_DATA:
                cleared[name] = data_reset(name)(ACCOUNT, self.outputs)
        cleared["clock"] = {"offsetSeconds": self.clock.reset()}
        cleared["chaos"] = self.chaos.clear()
        milliseconds = round((time.perf_counter() - began) * 1000, 1)
        self.hops("sandbox reset", None, f"{milliseconds} ms, resources kept")
        return {"cleared": cleared, "milliseconds": milliseconds}

    def _reset_http(self, request: Request) -> Response:
        """``POST`` (no body, or ``{}``) resets the sandbox (``reset``); the answer says what was cleared."""
        if request.method != "POST":
            return refuse(405, f"{request.method} is not served here: POST clears the sandbox's data",
                                 {"Allow": "POST"})
        try:
            reset_body(request.get_data())
        except ValueError as exc:
            return refuse(400, str(exc))
        if not self._deploying.acquire(timeout=RESET_LOCK_WAIT):
            return refuse(409, "a deployment or another reset is under way; try again when it ends")
        try:
            summary = self._reset()
        finally:
            self._deploying.release()
        return Response(json.dumps(summary), content_type="application/json")

    # --- for tests ----------------------------------------------------------------------------------------
    def idle(self) -> bool:
        """No stream record pending and no asynchronous event in flight."""
        plane = self.services.get("lambda_")
        return bool(plane is not None and plane.mappings.idle() and plane.invoker.wait_idle(0))


def clock_advance(body: bytes) -> float:
    """The seconds of a ``POST /_jobkit/clock`` body: ``{"advance": seconds}``, a finite number from 0 to ten
    years (``MAX_ADVANCE_SECONDS``); ValueError with the reason otherwise."""
    document = json_object(body, ("advance",), '{"advance": 3600}',
                           'with one key, "advance" (seconds to move the clock on)')
    seconds = document.get("advance", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f'"advance" must be a number of seconds, got {json.dumps(seconds)[:40]}')
    if not 0 <= seconds <= MAX_ADVANCE_SECONDS:  # false for NaN and infinity too
        raise ValueError(f'"advance" must be from 0 to {MAX_ADVANCE_SECONDS:.0f} seconds (ten years), got {seconds}')
    return float(seconds)


def reset_body(body: bytes) -> None:
    """A ``POST /_jobkit/reset`` body: empty or an empty JSON object; ValueError with the reason otherwise."""
    if not body.strip():
        return
    try:
        document = json.loads(body, parse_constant=no_constant)
    except (ValueError, RecursionError):
        document = None
    if document != {}:
        raise ValueError("the body must be empty or {}: a reset takes no parameters (it clears every data the "
                         "sandbox holds and keeps every resource)")
