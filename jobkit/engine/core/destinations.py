"""Where a record goes next, by the service its ARN names: the one routing table for every hop that hands a
record on (a mapping's on-failure destination, an asynchronous invocation's destinations, an SNS subscription,
an EventBridge target). Each service registers how it takes a delivery; a sender names an ARN and never the
service behind it, so a record never climbs back to the class that wired the engine.

The destinations AWS allows differ per source ("Lambda: Capturing records of asynchronous invocations" and
"Retaining discarded batches for a DynamoDB event source": SNS, SQS, Lambda, EventBridge; "Amazon EventBridge
targets" adds CloudWatch Logs); each source checks its own list when the destination is configured
(``supports``), and a delivery to a service nobody registered is an error, never dropped silently.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Delivery:
    """What is handed on: ``body`` (a document, sent as JSON, or text as is), message attributes where the
    target takes them (SNS, SQS), and the EventBridge detail-type where the target is a bus."""

    body: dict[str, Any] | str
    attributes: dict[str, Any] = field(default_factory=dict)
    detail_type: str = ""


Deliver = Callable[[str, Delivery], object]  # (destination ARN, delivery); what it returns is not used
Screen = Callable[[str, str], None]  # (service, destination ARN); raises to refuse the delivery


class UnsupportedDestinationError(ValueError):
    """No service of the engine takes deliveries to this ARN."""


def service_of(arn: str) -> str:
    """The service an ARN names (``arn:aws:<service>:...``); '' if it is not an ARN."""
    parts = arn.split(":", 3)
    return parts[2] if len(parts) > 3 and parts[0] == "arn" else ""


class Destinations:
    """The routing table: service name -> how that service takes a delivery."""

    def __init__(self, screen: Screen | None = None) -> None:
        """``screen``: what every delivery passes first (the Chaos API's faults, ``core.chaos``)."""
        self._deliver: dict[str, Deliver] = {}
        self._screen = screen
        self._lock = threading.Lock()

    def register(self, service: str, deliver: Deliver) -> None:
        with self._lock:
            self._deliver[service] = deliver

    def supports(self, arn: str) -> bool:
        return service_of(arn) in self._deliver

    def send(self, arn: str, delivery: Delivery) -> None:
        service = service_of(arn)
        deliver = self._deliver.get(service)
        if deliver is None:
            raise UnsupportedDestinationError(f"the engine delivers to no destination like {arn}")
        if self._screen is not None:
            self._screen(service, arn)
        deliver(arn, delivery)
