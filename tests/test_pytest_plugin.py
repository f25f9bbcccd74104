"""The pytest plugin reuses a running sandbox only when the outputs file describes the stack that runs."""

from __future__ import annotations

from jobkit.pytest_plugin import stale_outputs


def test_outputs_of_the_live_stack_are_not_stale() -> None:
    live = {"JobsTableName": "JobsStack-JobsTable-b4ad", "JobsApiId": "a",
            "JobsApiUrl": "https://a.execute-api.localhost.localstack.cloud:4566/dev/"}
    written = {**live, "JobsApiUrl": "http://127.0.0.1:4566/restapis/a/dev/_user_request_/",
               "JobkitTarget": "localstack"}
    assert stale_outputs(written, live) == []  # the URL jobkit rewrote to answer offline is not a difference


def test_outputs_of_another_deployment_are_stale() -> None:
    live = {"JobsTableName": "JobsStack-JobsTable-b4ad", "JobsApiId": "a"}
    written = {"JobsTableName": "JobsStack-JobsTable-0TOH", "JobsApiId": "z", "JobkitTarget": "localstack"}
    assert stale_outputs(written, live) == ["JobsTableName", "JobsApiId"]
