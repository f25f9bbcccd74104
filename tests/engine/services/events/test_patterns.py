from __future__ import annotations

import pytest

from jobkit.engine.services.events.patterns import PatternError, matches

RECORD = {"eventName": "INSERT", "dynamodb": {"NewImage": {"seconds": {"N": "5"}, "id": {"S": "abc-1"}}},
          "size": 12, "tags": ["a", "b"]}


@pytest.mark.parametrize(("pattern", "expected"), [
    ({"eventName": ["INSERT"]}, True),
    ({"eventName": ["MODIFY"]}, False),
    ({"eventName": ["MODIFY", "INSERT"]}, True),
    ({"dynamodb": {"NewImage": {"id": {"S": [{"prefix": "abc"}]}}}}, True),
    ({"dynamodb": {"NewImage": {"id": {"S": [{"prefix": "xyz"}]}}}}, False),
    ({"dynamodb": {"NewImage": {"fault": [{"exists": False}]}}}, True),
    ({"dynamodb": {"NewImage": {"seconds": [{"exists": True}]}}}, True),
    ({"missing": [{"exists": True}]}, False),
    ({"size": [{"numeric": [">", 10, "<=", 12]}]}, True),
    ({"size": [{"numeric": [">", 12]}]}, False),
    ({"eventName": [{"anything-but": ["REMOVE", "MODIFY"]}]}, True),
    ({"eventName": [{"anything-but": "INSERT"}]}, False),
    ({"eventName": [{"anything-but": {"prefix": "IN"}}]}, False),
    ({"tags": ["b"]}, True),
    ({"eventName": [{"equals-ignore-case": "insert"}]}, True),
    ({"eventName": [{"suffix": "ERT"}]}, True),
])
def test_content_filtering(pattern: dict, expected: bool) -> None:
    assert matches(pattern, RECORD) is expected


def test_json_text_patterns_and_the_stack_filter() -> None:
    assert matches('{"eventName":["INSERT"]}', RECORD)


def test_invalid_pattern_is_an_error() -> None:
    with pytest.raises(PatternError):
        matches({"eventName": "INSERT"}, RECORD)
