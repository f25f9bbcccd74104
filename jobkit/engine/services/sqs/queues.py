"""SQS in the engine: moto keeps queues and their messages (control and data plane alike); what the engine
adds is taking deliveries from the other services (a destination, a subscription, a rule's target) into a queue
named by its ARN, with message attributes in SQS's own shape ("Amazon SQS message attributes",
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html)."""

from __future__ import annotations

import json

from moto.backends import get_backend

from jobkit.engine.core.destinations import Delivery
from jobkit.engine.core.service import moto_backends


class Queues:
    def __init__(self, account: str, region: str) -> None:
        self.account = account
        self.region = region

    def deliver(self, arn: str, delivery: Delivery) -> None:
        """Sends one message to the queue ``arn`` names (``arn:aws:sqs:<region>:<account>:<name>``)."""
        _, _, _, region, account, name = arn.split(":", 5)
        body = delivery.body if isinstance(delivery.body, str) else json.dumps(delivery.body)
        backend = get_backend("sqs")[account or self.account][region or self.region]
        backend.send_message(name, body, message_attributes=delivery.attributes or None)

    def reset(self) -> dict[str, int]:
        """A sandbox reset: every queue purged (messages visible, in flight or delayed), its settings kept.
        Unlike PurgeQueue it leaves no once-a-minute limit behind for the caller's own purge."""
        queues = messages = 0
        for backend in moto_backends("sqs", self.account):
            for queue in list(backend.queues.values()):
                with queue._messages_lock:
                    queues, messages = queues + 1, messages + len(queue._messages)
                    queue._messages, queue._pending_messages, queue.deleted_messages = [], set(), set()
        return {"queues": queues, "messages": messages}
