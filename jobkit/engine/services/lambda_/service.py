"""Lambda in the engine: the functions (``functions``), their asynchronous invocations (``async_invoke``),
the DynamoDB stream pollers of their event source mappings (``mappings``) and the API that drives them
(``api``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jobkit.engine.core.destinations import Delivery
from jobkit.engine.core.service import EngineContext
from jobkit.engine.services.lambda_.api import FunctionsApi
from jobkit.engine.services.lambda_.async_invoke import AsyncInvoker
from jobkit.engine.services.lambda_.code import StagedCode
from jobkit.engine.services.lambda_.functions import LambdaService
from jobkit.engine.services.lambda_.mappings import MappingConfig, Outcome, StreamEntry, StreamMappings


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


def start(ctx: EngineContext) -> Lambda:
    hops, destinations = ctx.hops, ctx.destinations
    functions = LambdaService(account=ctx.account, region=ctx.region, endpoint_url=ctx.url, clock=ctx.clock,
                              scratch=ctx.scratch)
    invoker = AsyncInvoker(functions, ctx.clock,
                           lambda arn, record, detail_type: destinations.send(arn, Delivery(record,
                                                                                            detail_type=detail_type)),
                           on_attempt=hops.async_attempt)

    def send_failure(destination: str, record: dict[str, Any]) -> None:
        hops.on_failure_record(destination, record)
        destinations.send(destination, Delivery(record))

    def outcome(config: MappingConfig, result: Outcome) -> None:
        if result.result is not None and not result.discarded:
            hops.batch_invoked(config.function, result.records[0].event["dynamodb"]["SequenceNumber"],
                               result.result, result.attempt)

    def decision(config: MappingConfig, part: list[StreamEntry], decided: str, detail: str) -> None:
        hops.mapping_decision(config.function, part[0].event["dynamodb"]["SequenceNumber"], decided, detail)

    mappings = StreamMappings([], invoker=functions, clock=ctx.clock, send_failure=send_failure,
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
