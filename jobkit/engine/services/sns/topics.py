"""SNS in the engine: moto keeps topics and non-Lambda subscribers; Lambda subscriptions (from the template)
are delivered here, as asynchronous invocations with the documented SNS event.

Event shape: "Invoking Lambda functions with Amazon SNS notifications"
(https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html); SNS invokes Lambda asynchronously, so the
function's event invoke config (retries, destinations) applies.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape  # nosec B406  # escapes output we write; nothing is parsed

from moto.backends import get_backend
from werkzeug.wrappers import Request, Response

from jobkit.engine.core.clock import SandboxClock
from jobkit.engine.core.server import AwsCall
from jobkit.engine.services.cloudformation.deployer import StackRegistry
from jobkit.engine.services.lambda_.async_invoke import AsyncInvoker


def sns_event(topic_arn: str, subscription_arn: str, message_id: str, message: str, subject: str | None,
              timestamp: float, region: str) -> dict[str, Any]:
    return {"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": topic_arn,
            "Subject": subject,
            "Message": message,
            "Timestamp": dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{int(timestamp * 1000) % 1000:03d}Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertUrl": f"https://sns.{region}.amazonaws.com/SimpleNotificationService-0000000000000000.pem",
            "UnsubscribeUrl": f"https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
            + subscription_arn,
            "MessageAttributes": {},
        },
    }]}


class SnsService:
    """Publishes to a topic: moto for its own subscribers, the compute plane for Lambda subscriptions."""

    def __init__(self, registry: StackRegistry, async_invoker: AsyncInvoker, clock: SandboxClock,
                 on_publish: Callable[[str, str, str], None] | None = None) -> None:
        self.account = registry.account
        self.region = registry.region
        self.async_invoker = async_invoker
        self.clock = clock
        self.on_publish = on_publish  # (topic arn, subscription's function arn, message) for the hop log
        self.lambda_subscriptions: dict[str, list[tuple[str, str]]] = {}
        for resource in registry.of_type("AWS::SNS::Subscription"):
            props = resource.properties
            if props["Protocol"] == "lambda":
                self.lambda_subscriptions.setdefault(props["TopicArn"], []).append(
                    (resource.physical_id, props["Endpoint"]))

    def publish(self, topic_arn: str, message: str, subject: str | None = None) -> str:
        backend = get_backend("sns")[self.account][self.region]
        message_id: str = backend.publish(message, arn=topic_arn, subject=subject)
        for subscription_arn, function_arn in self.lambda_subscriptions.get(topic_arn, []):
            if self.on_publish is not None:
                self.on_publish(topic_arn, function_arn, message)
            event = sns_event(topic_arn, subscription_arn, message_id, message, subject, time.time(),
                              self.region)
            self.async_invoker.submit(function_arn, event)
        return message_id

    def intercept_publish(self, request: Request, call: AwsCall) -> Response:
        """The Publish action over HTTP (query protocol), so callers' messages reach Lambda subscribers too."""
        form = call.form()
        topic_arn = form.get("TopicArn") or form.get("TargetArn", "")
        message_id = self.publish(topic_arn, form.get("Message", ""), form.get("Subject"))
        body = (f'<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>'
                f"{escape(message_id)}</MessageId></PublishResult><ResponseMetadata><RequestId>{uuid.uuid4()}"
                "</RequestId></ResponseMetadata></PublishResponse>")
        return Response(body, content_type="text/xml")
