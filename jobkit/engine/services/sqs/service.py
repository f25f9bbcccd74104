"""SQS in the engine: moto serves the API; the engine delivers records to queues (``queues``)."""

from __future__ import annotations

from jobkit.engine.core.service import EngineContext
from jobkit.engine.services.sqs.queues import Queues


def start(ctx: EngineContext) -> Queues:
    queues = Queues(ctx.account, ctx.region)
    ctx.destinations.register("sqs", queues.deliver)
    return queues
