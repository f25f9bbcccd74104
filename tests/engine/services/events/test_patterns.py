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
    ({"dynamodb": {"NewImage": {"seconds": {"N": [{"exists": True}]}}}}, True),
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


# The cases below follow "Comparison operators for use in event patterns in Amazon EventBridge"
# (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html).
DOC_EVENT = {"detail": {"c-count": 5, "d-count": 3, "x-limit": 301.8, "state": "initializing", "count": "5",
                        "flag": True, "source-ip": "10.0.0.255", "ipv6": "2011:db8::1", "FileName": "photo.PNG",
                        "EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/myEventBus",
                        "Path": "dir/a?b[c].txt", "object": {"key": "k"}, "items": [{"a": 1}], "big": 2**53 + 1}}


@pytest.mark.parametrize(("pattern", "expected"), [
    # numeric matching works on JSON numbers, by value
    ({"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}],
      "x-limit": [{"numeric": ["=", 3.018e2]}]}, True),
    ({"count": [{"numeric": ["=", 5]}]}, False),  # the string "5" is not a number
    ({"c-count": [5]}, True), ({"c-count": [5.0]}, True),  # equal numbers
    ({"c-count": ["5"]}, False), ({"count": [5]}, False),  # a number never equals a string
    ({"flag": [1]}, False), ({"c-count": [True]}, False),  # nor a boolean
    ({"big": [2**53]}, False), ({"big": [{"numeric": [">", 2**53]}]}, True),  # compared exactly, not as doubles
    # exists matches leaf values only
    ({"state": [{"exists": True}]}, True),
    ({"object": [{"exists": True}]}, False), ({"object": [{"exists": False}]}, True),
    ({"items": [{"exists": True}]}, False),
    ({"object": {"key": [{"exists": True}]}}, True),
    ({"nothing": [{"exists": False}]}, True),
    # wildcard: only * is a wildcard
    ({"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}, True),
    ({"Path": [{"wildcard": "dir/a?b[c].txt"}]}, True),  # ? and [] are plain characters
    ({"Path": [{"wildcard": "dir/a?b[c]?txt"}]}, False),
    ({"Path": [{"wildcard": "dir/axb*"}]}, False),
    ({"state": [{"wildcard": "init\\*"}]}, False),  # \* is a literal star
    # prefix / suffix, also ignoring case
    ({"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}, True),
    ({"FileName": [{"suffix": ".png"}]}, False),
    ({"state": [{"prefix": {"equals-ignore-case": "INIT"}}]}, True),
    ({"c-count": [{"prefix": "5"}]}, False),  # string filters on strings only
    # anything-but
    ({"state": [{"anything-but": {"suffix": "ing"}}]}, False),
    ({"FileName": [{"anything-but": {"wildcard": "*.jpg"}}]}, True),
    ({"x-limit": [{"anything-but": [100, 200, 300]}]}, True),
    # cidr
    ({"source-ip": [{"cidr": "10.0.0.0/24"}]}, True), ({"source-ip": [{"cidr": "10.0.1.0/24"}]}, False),
    ({"ipv6": [{"cidr": "2011:db8::/64"}]}, True), ({"state": [{"cidr": "10.0.0.0/8"}]}, False),
])
def test_documented_comparison_operators(pattern: dict, expected: bool) -> None:
    assert matches({"detail": pattern}, DOC_EVENT) is expected
