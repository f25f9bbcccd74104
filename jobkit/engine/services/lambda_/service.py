"""Lambda in the engine: the functions (``functions``), their asynchronous invocations (``async_invoke``),
the DynamoDB stream pollers of their event source mappings (``mappings``) and the API that drives them
(``api``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jobkit.engine.core.chaos import Chaos, region_of
from jobkit.engine.core.destinations import Delivery
from jobkit.engine.core.service import EngineContext
from jobkit.engine.services.lambda_.api import FunctionsApi
from jobkit.engine.services.lambda_.async_invoke import AsyncInvoker
from jobkit.engine.services.lambda_.code import StagedCode
from jobkit.engine.services.lambda_.functions import LambdaService
from jobkit.engine.services.lambda_.mappings import MappingConfig, Outcome, StreamEntry, StreamMappings
from jobkit.lambda_runtime.function import InvocationResult


@dataclass
class Lambda:
    functions: LambdaService
    invoker: AsyncInvoker
    mappings: StreamMappings
    #: code folders a deployment staged in place of uploading them (``code.StagedCode``)
    staged: StagedCode

    def reset(self) -> dict[str, int]:
        """A sandbox reset: the stream pollers hold no record and read on from their shards' new end; every
        asynchronous event queued, waiting for a retry or running is dropped. Functions and their warm
        environments stay."""
        dropped = self.invoker.reset()
        return {"streamRecordsDropped": self.mappings.reset(), "asyncInvocationsRunning": dropped.running,
                "asyncEventsWaiting": dropped.waiting}

    def stop(self) -> None:
        self.mappings.stop()
        self.invoker.stop()
        self.functions.stop()


@dataclass(frozen=True)
class PlatformInvoker:
    """The functions as the platform invokes them (a stream mapping, the asynchronous queue): each invocation
    first meets the Chaos API's faults on lambda ``Invoke``, raised as the ``AwsError`` Lambda would answer
    (a throttle, 429 TooManyRequestsException), so the caller retries as Lambda does."""

    functions: LambdaService
    chaos: Chaos

    def invoke(self, function: str, payload: bytes, request_id: str | None = None) -> InvocationResult:
        self.chaos.check("lambda", "Invoke", region_of(self.functions.arn_of(function)))
        return self.functions.invoke(function, payload, request_id)

    def arn_of(self, function: str) -> str:
        return self.functions.arn_of(function)


def start(ctx: EngineContext) -> Lambda:
    hops, destinations = ctx.hops, ctx.destinations
    functions = LambdaService(account=ctx.account, region=ctx.region, endpoint_url=ctx.url, clock=ctx.clock,
                              scratch=ctx.scratch)
    platform = PlatformInvoker(functions, ctx.app.chaos)

    def send(destination: str, record: dict[str, Any], detail_type: str = "") -> None:
        try:
            destinations.send(destination, Delivery(record, detail_type=detail_type))
        except Exception as exc:  # the sender decides what follows; the job's trace shows why
            hops.delivery_failed(destination, record, exc)
            raise

    invoker = AsyncInvoker(platform, ctx.clock, send, on_attempt=hops.async_attempt, on_refused=hops.async_refused)

    def send_failure(destination: str, record: dict[str, Any]) -> None:
        hops.on_failure_record(destination, record)
        send(destination, record)

    def outcome(config: MappingConfig, result: Outcome) -> None:
        if result.result is not None and not result.discarded:
            hops.batch_invoked(config.function, result.records[0].event["dynamodb"]["SequenceNumber"],
                               result.result, result.attempt)

    def decision(config: MappingConfig, part: list[StreamEntry], decided: str, detail: str) -> None:
        hops.mapping_decision(config.function, part[0].event["dynamodb"]["SequenceNumber"], decided, detail)

    mappings = StreamMappings([], invoker=platform, clock=ctx.clock, send_failure=send_failure,
                              account=ctx.account, region=ctx.region, on_outcome=outcome,
                              on_record=hops.stream_record, on_decision=decision)
    mappings.start()
    destinations.register("lambda", lambda arn, delivery: invoker.submit(
        arn, delivery.body if isinstance(delivery.body, dict) else json.loads(delivery.body)))
    staged = StagedCode()
    for action, handler in FunctionsApi(functions, invoker, ctx.app.store, staged).intercepts().items():
        ctx.app.intercept("lambda", action, handler)
    for action, handler in {"CreateEventSourceMapping": mappings.intercept_create,
                            "DeleteEventSourceMapping": mappings.intercept_delete,
                            "GetEventSourceMapping": mappings.intercept_get,
                            "ListEventSourceMappings": mappings.intercept_list,
                            "UpdateEventSourceMapping": mappings.intercept_update}.items():
        ctx.app.intercept("lambda", action, handler)
    return Lambda(functions, invoker, mappings, staged)
