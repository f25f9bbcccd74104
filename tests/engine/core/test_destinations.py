from __future__ import annotations

import pytest

from jobkit.engine.core.destinations import Delivery, Destinations, UnsupportedDestinationError, service_of


def test_a_delivery_goes_to_the_service_its_arn_names() -> None:
    seen: list[tuple[str, str, Delivery]] = []
    routes = Destinations()
    routes.register("sqs", lambda arn, d: seen.append(("sqs", arn, d)))
    routes.register("sns", lambda arn, d: seen.append(("sns", arn, d)))
    delivery = Delivery({"a": 1}, detail_type="x")
    routes.send("arn:aws:sns:us-east-1:000000000000:topic", delivery)
    routes.send("arn:aws:sqs:us-east-1:000000000000:queue", delivery)
    assert [(s, a.rsplit(":", 1)[-1]) for s, a, _ in seen] == [("sns", "topic"), ("sqs", "queue")]
    assert seen[0][2] is delivery


@pytest.mark.parametrize("arn", ["arn:aws:kinesis:us-east-1:000000000000:stream/s", "not-an-arn", ""])
def test_a_destination_no_service_takes_is_an_error_not_a_drop(arn: str) -> None:
    routes = Destinations()
    routes.register("sqs", lambda arn, d: None)
    assert not routes.supports(arn)
    with pytest.raises(UnsupportedDestinationError):
        routes.send(arn, Delivery("x"))


def test_service_of() -> None:
    assert service_of("arn:aws:lambda:us-east-1:1:function:f") == "lambda"
    assert service_of("arn:aws:events:us-east-1:1:event-bus/b") == "events"
    assert service_of("lambda") == ""
