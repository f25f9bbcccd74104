"""SNS in the engine: Publish and PublishBatch fan out to the subscriptions moto keeps (``topics``), signed with
the engine's key, whose certificate the engine serves (``signing``); subscription attributes are checked when
they are set (``subscriptions``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.core.exceptions import ServiceException
from werkzeug.wrappers import Request, Response

from jobkit.engine.core.errors import not_implemented, service_model
from jobkit.engine.core.server import AwsCall
from jobkit.engine.core.service import EngineContext
from jobkit.engine.services.sns.messages import SnsError, error_response
from jobkit.engine.services.sns.signing import CERTIFICATE_PATH, Signer
from jobkit.engine.services.sns.subscriptions import SubscriptionsApi
from jobkit.engine.services.sns.topics import SnsService


def start(ctx: EngineContext) -> SnsService:
    signer = Signer(ctx.url)
    sns = SnsService(ctx.account, ctx.region, ctx.destinations, ctx.clock, signer,
                     on_publish=ctx.hops.sns_to_function, on_message=ctx.hops.sns_published)
    ctx.destinations.register("sns", sns.deliver)
    moto = _guarded(ctx.app.store)
    served: dict[str, Callable[[Request, AwsCall], Response | None]] = {
        "Publish": sns.intercept_publish, "PublishBatch": sns.intercept_publish_batch,
        **SubscriptionsApi(ctx.account, ctx.region).intercepts()}
    # every action is answered by the engine's handler or, where it leaves the action to moto, by moto through a
    # guard: what moto fails on is an SNS error, never a 500 page
    for action in service_model("sns")["operations"]:
        ctx.app.intercept("sns", action, _either(served[action], moto) if action in served else moto)
    ctx.app.routes[CERTIFICATE_PATH] = signer.serve
    return sns


def _either(handler: Callable[[Request, AwsCall], Response | None],
            moto: Callable[[Request, AwsCall], Response]) -> Callable[[Request, AwsCall], Response]:
    """The engine's handler, and moto (guarded) for what it leaves to moto (a FIFO topic, an SMS)."""

    def answer(request: Request, call: AwsCall) -> Response:
        try:
            response = handler(request, call)
        except UnicodeDecodeError:
            return error_response(SnsError("InvalidParameter", "Invalid parameter: the request body is not UTF-8"))
        return moto(request, call) if response is None else response

    return answer


def _guarded(store: Callable[[dict[str, Any], Any], Any]) -> Callable[[Request, AwsCall], Response]:
    """moto's answer to an SNS action, or, where moto fails, an error in the query protocol's shape
    ("Common Errors", https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html): its own refusals keep their
    code; input it could not read (a malformed ARN or JSON document) is the caller's InvalidParameter, as SNS
    answers it; anything else is an InternalError (500) naming the failure."""

    def handler(request: Request, call: AwsCall) -> Response:
        try:
            return Response.from_app(store, request.environ, buffered=True)
        except NotImplementedError:
            return not_implemented("sns", call.action).response("sns")
        except ServiceException as exc:
            return error_response(SnsError(exc.code, exc.message, 404 if exc.code == "NotFound" else 400))
        except (ValueError, KeyError, TypeError) as exc:
            return error_response(SnsError("InvalidParameter", f"Invalid parameter: {call.action}: {exc}"))
        except Exception as exc:
            return error_response(SnsError("InternalError", f"{call.action} failed: {type(exc).__name__}", 500))

    return handler
