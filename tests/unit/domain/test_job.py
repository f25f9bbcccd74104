from __future__ import annotations

from decimal import Decimal

import pytest

from handlers.domain.job import InvalidJob, parse_job


def test_parses_a_deserialized_new_image() -> None:
    job = parse_job(
        {
            "id": "job-1",
            "seconds": Decimal("5"),
            "version": Decimal("0"),
            "fault": "slow",
            "job_status": {"consumer_2": {"status": "Running"}},
        }
    )
    assert (job.id, job.seconds, job.version, job.fault) == ("job-1", 5, 0, "slow")
    assert job.status_of("consumer_2") == {"status": "Running"}
    assert job.status_of("consumer_1") is None


def test_optional_attributes_default_to_nothing() -> None:
    job = parse_job({"id": "job-1", "seconds": 0})
    assert job.fault is None and job.version is None and dict(job.job_status) == {}


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ({"seconds": 1}, "no string 'id'"),
        ({"id": "j"}, "has no 'seconds'"),
        ({"id": "j", "seconds": Decimal("1.5")}, "whole number"),
        ({"id": "j", "seconds": -1}, "whole number"),
        ({"id": "j", "seconds": "abc"}, "must be a number"),
        ({"id": "j", "seconds": True}, "must be a number"),
        ({"id": "j", "seconds": 1, "fault": 3}, "'fault' must be a string"),
        ({"id": "j", "seconds": 1, "job_status": "x"}, "'job_status' must be a map"),
        ({"id": "j", "seconds": 1, "job_status": {"consumer_1": "x"}}, "job_status.consumer_1"),
    ],
)
def test_refuses_malformed_items_naming_the_attribute(image: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidJob, match=message):
        parse_job(image)
