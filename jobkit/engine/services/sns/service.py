"""SNS in the engine: Publish and PublishBatch fan out to the subscriptions moto keeps (``topics``)."""

from __future__ import annotations

from jobkit.engine.core.service import EngineContext
from jobkit.engine.services.sns.topics import SnsService


def start(ctx: EngineContext) -> SnsService:
    sns = SnsService(ctx.account, ctx.region, ctx.destinations, ctx.clock, on_publish=ctx.hops.sns_to_function,
                     on_message=ctx.hops.sns_published)
    ctx.destinations.register("sns", sns.deliver)
    ctx.app.intercept("sns", "Publish", sns.intercept_publish)
    ctx.app.intercept("sns", "PublishBatch", sns.intercept_publish_batch)
    return sns
