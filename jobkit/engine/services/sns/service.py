"""SNS in the engine: Publish and PublishBatch fan out to the subscriptions moto keeps (``topics``), signed with
the engine's key, whose certificate the engine serves (``signing``); subscription attributes are checked when
they are set (``subscriptions``)."""

from __future__ import annotations

from jobkit.engine.core.service import EngineContext
from jobkit.engine.services.sns.signing import CERTIFICATE_PATH, Signer
from jobkit.engine.services.sns.subscriptions import SubscriptionsApi
from jobkit.engine.services.sns.topics import SnsService


def start(ctx: EngineContext) -> SnsService:
    signer = Signer(ctx.url)
    sns = SnsService(ctx.account, ctx.region, ctx.destinations, ctx.clock, signer,
                     on_publish=ctx.hops.sns_to_function, on_message=ctx.hops.sns_published)
    ctx.destinations.register("sns", sns.deliver)
    ctx.app.intercept("sns", "Publish", sns.intercept_publish)
    ctx.app.intercept("sns", "PublishBatch", sns.intercept_publish_batch)
    for action, handler in SubscriptionsApi(ctx.account, ctx.region).intercepts().items():
        ctx.app.intercept("sns", action, handler)
    ctx.app.routes[CERTIFICATE_PATH] = signer.serve
    return sns
