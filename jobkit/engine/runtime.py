"""``EmbeddedEngine``: the whole sandbox in one process — the endpoint, the deployed stack, the compute plane.

Start order: endpoint (moto behind it) -> template deployment -> gateway, Lambda functions, async invoke,
SNS, EventBridge, stream mappings -> ``cdk-outputs.json``. Stop order is the reverse. Each hop of a job is
printed on one line with the job id (``jobkit.engine.core.hops``).
"""

from __future__ import annotations

import gc
import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from werkzeug.wrappers import Request, Response

from jobkit.engine.core.clock import MAX_ADVANCE_SECONDS, SandboxClock
from jobkit.engine.core.destinations import Delivery, Destinations
from jobkit.engine.core.hops import HopLog
from jobkit.engine.core.server import EngineApp, EngineServer, MotoCaller
from jobkit.engine.moto import fast as moto_fast
from jobkit.engine.services.apigateway.gateway import Gateway, GatewayResult, apis_from_registry
from jobkit.engine.services.cloudformation.deployer import (
    StackRegistry,
    TemplateDeployer,
    local_outputs,
    write_outputs_file,
)
from jobkit.engine.services.cloudformation.stacks import StackApi
from jobkit.engine.services.events.buses import EventsService
from jobkit.engine.services.iam.sts import sts_credentials
from jobkit.engine.services.lambda_.api import FunctionsApi
from jobkit.engine.services.lambda_.async_invoke import AsyncInvoker, configs_from_registry
from jobkit.engine.services.lambda_.functions import LambdaService
from jobkit.engine.services.lambda_.mappings import MappingConfig, Outcome, StreamMappings, mappings_from_registry
from jobkit.engine.services.sns.topics import SnsService
from jobkit.engine.services.sqs.queues import Queues
from jobkit.lambda_runtime.function import InvocationResult
from jobkit.sandbox import ACCOUNT, REGION

DEFAULT_PORT = 4566


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
        self.prewarm = prewarm
        self.clock = SandboxClock()
        self.app: EngineApp | None = None
        self.server: EngineServer | None = None
        self.registry: StackRegistry | None = None
        self.outputs: dict[str, str] = {}
        self.lambdas: LambdaService | None = None
        self.async_invoker: AsyncInvoker | None = None
        self.sns: SnsService | None = None
        self.events: EventsService | None = None
        self.mappings: StreamMappings | None = None
        self.destinations = Destinations()

    # --- lifecycle --------------------------------------------------------------------------------------
    def start(self, template_dir: Path | str, outputs_file: Path | str | None = None,
              time_scale: float = 1.0) -> EngineInfo:
        self.clock = SandboxClock(scale=time_scale)
        self.app = EngineApp(ACCOUNT)
        self.server = EngineServer(self.app, self.host, self.port)
        self.server.start()
        url = self.server.url if self.host in ("127.0.0.1", "0.0.0.0") else f"http://{self.host}:{self.server.port}"  # noqa: S104  # nosec B104  # compares, binds nothing
        try:
            self.registry = TemplateDeployer(Path(template_dir), self._clients(url), account=ACCOUNT,
                                             region=REGION).deploy()
            self._wire(url)
        except BaseException:
            self.stop()
            raise
        self.outputs = (write_outputs_file(Path(outputs_file), self.registry, url) if outputs_file
                        else local_outputs(self.registry, url))
        stack_api = StackApi(self.registry, self.outputs)
        self.app.intercept("cloudformation", "DescribeStacks", stack_api.describe_stacks)
        self.app.intercept("cloudformation", "DescribeStackResources", stack_api.describe_stack_resources)
        self.app.intercept("cloudformation", "ListStackResources", stack_api.list_stack_resources)
        self._freeze_start_up()
        if self.prewarm and self.lambdas is not None:
            threading.Thread(target=self.lambdas.prewarm, name="jobkit-prewarm", daemon=True).start()
        return EngineInfo(url, dict(self.outputs))

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
        if self.mappings is not None:
            self.mappings.stop()
        if self.async_invoker is not None:
            self.async_invoker.stop()
        if self.lambdas is not None:
            self.lambdas.stop()
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
        decoded service models (``moto_fast`` change 8)."""
        session = moto_fast.botocore_session()
        cache: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in cache:
                cache[service] = session.create_client(service, endpoint_url=url, region_name=REGION,
                                                       aws_access_key_id="test", aws_secret_access_key="test")  # noqa: S106  # nosec B106  # local dummy keys
            return cache[service]

        return client

    # --- wiring -----------------------------------------------------------------------------------------
    def _wire(self, url: str) -> None:
        assert self.app is not None and self.registry is not None
        registry, app, hops = self.registry, self.app, self.hops
        app.api_handler = Gateway(apis_from_registry(registry), account=ACCOUNT, region=REGION,
                                  credentials=sts_credentials(ACCOUNT), call_service=MotoCaller(app),
                                  on_result=self._on_api_result)
        self.lambdas = LambdaService(registry, endpoint_url=url, clock=self.clock, scratch=self.scratch)
        self.async_invoker = AsyncInvoker(self.lambdas, self.clock, self._send_to_destination,
                                          configs_from_registry(registry, self.lambdas.arn_of),
                                          on_attempt=self._on_async_attempt)
        self.sns = SnsService(registry, self.destinations, self.clock,
                              on_publish=lambda topic, fn, message: hops(
                                  "SNS -> error handler", self._job_of_failure(message),
                                  f"{topic.rsplit(':', 1)[-1]} -> {fn.rsplit(':', 1)[-1]}"))
        self.events = EventsService(ACCOUNT, REGION, self.destinations, on_event=self._on_bus_event)
        self.mappings = StreamMappings(mappings_from_registry(registry), invoker=self.lambdas, clock=self.clock,
                                       send_failure=self._send_on_failure, account=ACCOUNT, region=REGION,
                                       on_outcome=self._on_mapping_outcome, on_record=self._on_stream_record)
        self.mappings.start()
        queues = Queues(ACCOUNT, REGION)
        sns, invoker = self.sns, self.async_invoker
        self.destinations.register("sns", sns.deliver)
        self.destinations.register("sqs", queues.deliver)
        self.destinations.register("lambda", lambda arn, d: invoker.submit(
            arn, d.body if isinstance(d.body, dict) else json.loads(d.body)))
        self.destinations.register("events", self.events.deliver)
        for action, handler in FunctionsApi(self.lambdas, self.async_invoker, app.store).intercepts().items():
            app.intercept("lambda", action, handler)
        app.intercept("lambda", "CreateEventSourceMapping", self.mappings.intercept_create)
        app.intercept("lambda", "DeleteEventSourceMapping", self.mappings.intercept_delete)
        app.intercept("lambda", "GetEventSourceMapping", self.mappings.intercept_get)
        app.intercept("lambda", "ListEventSourceMappings", self.mappings.intercept_list)
        app.intercept("lambda", "UpdateEventSourceMapping", self.mappings.intercept_update)
        app.intercept("sns", "Publish", self.sns.intercept_publish)
        app.intercept("sns", "PublishBatch", self.sns.intercept_publish_batch)
        for action, handler in self.events.interceptors().items():
            app.intercept("events", action, handler)
        app.routes["/_jobkit/clock"] = self._clock_http

    # --- destinations -----------------------------------------------------------------------------------
    def _send_on_failure(self, destination: str, record: dict[str, Any]) -> None:
        job = self.hops.job_of(record["DDBStreamBatchInfo"]["startSequenceNumber"])
        self.hops("on-failure record", job, f"{record['requestContext']['condition']} -> "
                  f"{destination.rsplit(':', 1)[-1]}")
        self._send_to_destination(destination, record, "")

    def _send_to_destination(self, destination: str, record: dict[str, Any], detail_type: str) -> None:
        self.destinations.send(destination, Delivery(record, detail_type=detail_type))

    # --- HTTP actions the engine owns --------------------------------------------------------------------
    def _clock_http(self, request: Request) -> Response:
        """``GET`` reads the sandbox clock; ``POST {"advance": seconds}`` moves it on. Bad input is a 400 with a
        message and moves nothing."""
        if request.method not in ("GET", "POST"):
            return _jobkit_error(405, f"{request.method} is not served here: GET reads the clock, POST "
                                      '{"advance": seconds} moves it on', {"Allow": "GET, POST"})
        if request.method == "POST":
            try:
                seconds = clock_advance(request.get_data())
                self.clock.advance(seconds)
            except ValueError as exc:
                return _jobkit_error(400, str(exc))
        return Response(json.dumps({"now": self.clock.now(), "scale": self.clock.scale}),
                        content_type="application/json")

    # --- the hop log ------------------------------------------------------------------------------------
    def _on_api_result(self, result: GatewayResult) -> None:
        """Submissions and refusals; the status reads (GET polling) would drown the log."""
        if result.method == "GET" and result.status < 400:
            return
        job = result.request_id if result.method == "POST" and result.status == 200 else result.path.rsplit("/", 1)[-1]
        self.hops("request", job, f"{result.method} {result.path} -> {result.status}")

    def _on_stream_record(self, record: dict[str, Any]) -> None:
        data = record["dynamodb"]
        job = str(data.get("Keys", {}).get("id", {}).get("S", "-"))
        self.hops.remember(data["SequenceNumber"], job)
        if record["eventName"] == "INSERT":  # MODIFY records are the consumers' own status writes
            self.hops("item written", job)
            self.hops("stream record", job, f"{record['eventName']} {data['SequenceNumber']}")

    def _on_mapping_outcome(self, config: MappingConfig, outcome: Outcome) -> None:
        job = self.hops.job_of(outcome.records[0].event["dynamodb"]["SequenceNumber"])
        name = config.function.rsplit(":", 1)[-1]
        if outcome.discarded:
            return
        if outcome.result is not None:
            self.hops("consumer invoked", job, f"{name} {outcome.result.duration_ms:.0f} ms "
                      f"{'error ' + str(outcome.result.error_type) if outcome.result.is_error else 'ok'}"
                      f" (attempt {outcome.attempt})")

    def _on_async_attempt(self, arn: str, event: dict[str, Any], result: InvocationResult, attempt: int) -> None:
        name = arn.rsplit(":", 1)[-1]
        outcome = f"error {result.error_type}" if result.is_error else "ok"
        self.hops("error handler invoked" if "ErrorHandler" in name else "function invoked",
                  self._job_of_event(event), f"{name} {result.duration_ms:.0f} ms {outcome} (attempt {attempt})")

    def _on_bus_event(self, hop: str, where: str, event: dict[str, Any]) -> None:
        self.hops(hop, self._job_of_event(event), f"{where} {event.get('detail-type', '')}")

    def _job_of_failure(self, message: str) -> str:
        try:
            record = json.loads(message)
            return self.hops.job_of(record["DDBStreamBatchInfo"]["startSequenceNumber"])
        except (ValueError, KeyError, TypeError):
            return "-"

    def _job_of_event(self, event: dict[str, Any]) -> str:
        """The job behind an SNS event or an EventBridge envelope, through the on-failure record."""
        try:
            if "detail" in event:
                event = event["detail"].get("requestPayload", {})
            if "Records" in event:
                return self._job_of_failure(event["Records"][0]["Sns"]["Message"])
            if "DDBStreamBatchInfo" in event:
                return self.hops.job_of(event["DDBStreamBatchInfo"]["startSequenceNumber"])
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
        return "-"


    # --- for tests ----------------------------------------------------------------------------------------
    def idle(self) -> bool:
        """No stream record pending and no asynchronous event in flight."""
        return bool(self.mappings is not None and self.mappings.idle() and self.async_invoker is not None
                    and self.async_invoker.wait_idle(0))

def clock_advance(body: bytes) -> float:
    """The seconds of a ``POST /_jobkit/clock`` body: ``{"advance": seconds}``, a finite number from 0 to ten
    years (``MAX_ADVANCE_SECONDS``); ValueError with the reason otherwise."""
    try:
        document = json.loads(body or b"{}", parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f'the body must be a JSON object like {{"advance": 3600}}: {exc}') from None
    if not isinstance(document, dict) or set(document) - {"advance"}:
        raise ValueError('the body must be a JSON object with one key, "advance" (seconds to move the clock on)')
    seconds = document.get("advance", 0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f'"advance" must be a number of seconds, got {json.dumps(seconds)[:40]}')
    if not 0 <= seconds <= MAX_ADVANCE_SECONDS:  # false for NaN and infinity too
        raise ValueError(f'"advance" must be from 0 to {MAX_ADVANCE_SECONDS:.0f} seconds (ten years), got {seconds}')
    return float(seconds)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _jobkit_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An answer of jobkit's own endpoints to bad input: the status and ``{"message": ...}``."""
    return Response(json.dumps({"message": message}), status=status, headers=headers or {},
                    content_type="application/json")
