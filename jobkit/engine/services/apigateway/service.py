"""API Gateway's data plane in the engine: the REST APIs the stacks deployed, served on the engine's endpoint
(``gateway``), their integrations calling the services in process with the execution role's credentials."""

from __future__ import annotations

from jobkit.engine.core.server import MotoCaller
from jobkit.engine.core.service import EngineContext
from jobkit.engine.services.apigateway.gateway import Gateway, GatewayResult
from jobkit.engine.services.iam.sts import sts_credentials


def start(ctx: EngineContext) -> Gateway:
    hops = ctx.hops

    def reported(result: GatewayResult) -> None:
        hops.api_result(result.method, result.path, result.status, result.request_id, result.received)

    gateway = Gateway({}, account=ctx.account, region=ctx.region, credentials=sts_credentials(ctx.account),
                      call_service=MotoCaller(ctx.app), on_result=reported)
    ctx.app.api_handler = gateway
    return gateway
