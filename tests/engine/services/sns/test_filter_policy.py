"""Filter policies as the SNS developer guide's examples describe them ("Amazon SNS message filtering" and the
pages under it): on message attributes and on the message body."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from jobkit.engine.services.sns.filter_policy import MESSAGE_BODY, accepts, validate
from jobkit.engine.services.sns.messages import SnsError


def _attributes(**values: Any) -> dict[str, dict[str, str]]:
    """Attributes as SNS delivers them; a list is a String.Array, a number a Number, bytes a Binary."""
    shaped = {}
    for name, value in values.items():
        if isinstance(value, list):
            shaped[name] = {"Type": "String.Array", "Value": json.dumps(value)}
        elif isinstance(value, bytes):
            shaped[name] = {"Type": "Binary", "Value": base64.b64encode(value).decode()}
        elif isinstance(value, int | float):
            shaped[name] = {"Type": "Number", "Value": str(value)}
        else:
            shaped[name] = {"Type": "String", "Value": value}
    return shaped


def on_attributes(policy: dict[str, Any], **values: Any) -> bool:
    return accepts(json.dumps(policy), None, _attributes(**values), "the body is not read")


def on_body(policy: dict[str, Any], body: Any) -> bool:
    return accepts(json.dumps(policy), MESSAGE_BODY, {}, body if isinstance(body, str) else json.dumps(body))


def test_no_policy_or_an_empty_one_takes_every_message() -> None:
    assert accepts(None, None, {}, "x") and accepts("", None, {}, "x") and accepts("{}", MESSAGE_BODY, {}, "x")


@pytest.mark.parametrize(("policy", "values", "taken"), [
    ({"customer_interests": ["rugby", "tennis"]}, {"customer_interests": "rugby"}, True),
    ({"customer_interests": ["rugby", "tennis"]}, {"customer_interests": "baseball"}, False),
    ({"customer_interests": ["rugby", "tennis"]}, {"customer_interests": ["baseball", "tennis"]}, True),
    ({"customer_interests": ["rugby"]}, {"store": "example_corp"}, False),
    ({"customer_interests": [{"prefix": "bas"}]}, {"customer_interests": "basketball"}, True),
    ({"customer_interests": [{"suffix": "ball"}]}, {"customer_interests": "rugby"}, False),
    ({"customer_interests": [{"equals-ignore-case": "RUGBY"}]}, {"customer_interests": "rugby"}, True),
    ({"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}, {"customer_interests": "football"}, True),
    ({"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}, {"customer_interests": "rugby"}, False),
    ({"customer_interests": [{"anything-but": ["rugby"]}]}, {"customer_interests": ["rugby", "baseball"]}, True),
    ({"customer_interests": [{"anything-but": {"prefix": "bas"}}]}, {"customer_interests": "baseball"}, False),
    ({"price_usd": [{"numeric": [">", 0, "<=", 150]}]}, {"price_usd": 150}, True),
    ({"price_usd": [{"numeric": [">", 0, "<=", 150]}]}, {"price_usd": 150.5}, False),
    ({"price_usd": [{"numeric": ["=", 301.5]}]}, {"price_usd": 3.015e2}, True),
    ({"price_usd": [301.5]}, {"price_usd": 301.5}, True),
    ({"price_usd": [301.5]}, {"price_usd": "301.5"}, False),  # a String attribute is not a number
    ({"price_usd": [{"numeric": [">", 0]}]}, {"price_usd": "5"}, False),
    ({"price": [{"anything-but": [100, 500]}]}, {"price": 100.1}, True),
    ({"store": [{"exists": True}]}, {"store": "fans"}, True),
    ({"store": [{"exists": True}]}, {"other": "x"}, False),
    ({"store": [{"exists": False}]}, {"other": "x"}, True),
    ({"store": [{"exists": False}]}, {}, False),  # "exists": false needs at least one attribute
    ({"store": [{"exists": False}]}, {"store": "fans"}, False),
    ({"kind": ["a"], "price": [{"numeric": ["<", 10]}]}, {"kind": "a", "price": 20}, False),  # AND across keys
    ({"blob": [{"exists": True}]}, {"blob": b"\x00"}, False),  # Binary attributes are ignored
])
def test_attribute_policies(policy: dict[str, Any], values: dict[str, Any], taken: bool) -> None:
    assert on_attributes(policy, **values) is taken


def test_or_spans_keys_when_it_holds_two_or_more_policies() -> None:
    policy = {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]}
    assert on_attributes(policy, source="aws.cloudwatch", namespace="AWS/EC2")
    assert on_attributes(policy, source="aws.cloudwatch", metricName="CPUUtilization")
    assert not on_attributes(policy, source="aws.cloudwatch", namespace="AWS/S3")
    assert not on_attributes(policy, source="aws.s3", namespace="AWS/EC2")


def test_or_over_reserved_keywords_is_an_attribute_named_or() -> None:
    policy = {"$or": [{"numeric": 123}, {"prefix": "abc"}]}
    assert not on_attributes(policy, anything="x")


@pytest.mark.parametrize(("body", "taken"), [
    ({"order": {"status": "paid", "total": 120}}, True),
    ({"order": {"status": "paid", "total": 80}}, False),
    ({"order": {"status": "open", "total": 120}}, False),
    ({"order": [{"status": "open", "total": 1}, {"status": "paid", "total": 200}]}, True),
    ({"status": "paid", "total": 120}, False),  # the properties at the top, not under "order"
    ("not JSON", False),
    (["an", "array"], False),
])
def test_body_policies_read_nested_properties(body: Any, taken: bool) -> None:
    assert on_body({"order": {"status": ["paid"], "total": [{"numeric": [">=", 100]}]}}, body) is taken


def test_body_policies_match_nulls_booleans_and_arrays() -> None:
    assert on_body({"deleted": [None]}, {"deleted": None})
    assert on_body({"urgent": [True]}, {"urgent": True})
    assert not on_body({"urgent": [True]}, {"urgent": "true"})
    assert on_body({"tags": ["b"]}, {"tags": ["a", "b"]})
    assert not on_body({"store": [{"exists": True}]}, {"store": None})  # exists needs a value
    assert on_body({"store": [{"exists": False}]}, {"other": 1})


def test_a_policy_on_attributes_never_reads_the_body() -> None:
    assert not accepts(json.dumps({"kind": ["order"]}), "MessageAttributes", {}, json.dumps({"kind": "order"}))


@pytest.mark.parametrize(("cidr", "address", "taken"), [
    ("10.0.0.0/24", "10.0.0.255", True),
    ("10.0.0.0/24", "10.0.1.0", False),
    ("2001:db8::/32", "2001:db8:1::1", True),
    ("10.0.0.0/24", "not an address", False),
])
def test_cidr_matches_ip_addresses_in_the_range(cidr: str, address: str, taken: bool) -> None:
    """"IP address matching" (https://docs.aws.amazon.com/sns/latest/dg/ip-address-matching.html)."""
    assert on_attributes({"source_ip": [{"cidr": cidr}]}, source_ip=address) is taken
    assert on_body({"source_ip": [{"cidr": cidr}]}, {"source_ip": address}) is taken


def test_anything_but_a_suffix() -> None:
    policy = {"file": [{"anything-but": {"suffix": ".tmp"}}]}
    assert on_attributes(policy, file="a.txt") and not on_attributes(policy, file="a.tmp")


@pytest.mark.parametrize("policy", [
    {"a": ["x"], "b": [1, 2.5], "c": [None, True], "d": [{"exists": False}], "e": [{"cidr": "10.0.0.0/8"}]},
    {"k": [str(n) for n in range(150)]},  # exactly 150 combinations
    {"a": [{"numeric": [">", 0, "<=", 5]}, {"anything-but": ["x", 1]}, {"anything-but": {"prefix": "p"}}]},
    {"source": ["s"], "$or": [{"a": ["1"]}, {"b": ["2"]}]},
])
def test_validate_takes_what_sns_takes(policy: dict[str, Any]) -> None:
    validate(json.dumps(policy), None)


@pytest.mark.parametrize(("policy", "reason"), [
    ({"a": ["1"], "b": ["1"], "c": ["1"], "d": ["1"], "e": ["1"], "f": ["1"]}, "can not have more than 5 keys"),
    ({"a": [str(n) for n in range(13)], "b": [str(n) for n in range(12)]}, "too complex"),  # 156 > 150
    ({"s": ["x", "y"], "$or": [{"a": [str(n) for n in range(40)]}, {"b": [str(n) for n in range(40)]}]},
     "too complex"),  # 2 x (40 + 40)
    ({"order": {"status": ["paid"]}}, "does not support nested filter policy"),
    ({"a": "x"}, '"a" must be an object or an array'),
    ({"a": []}, "Empty arrays"),
    ({"a": [["nested"]]}, "Match value must be String, number, true, false, or null"),
    ({"a": [2e9]}, "between -1.0E9 and 1.0E9"),
    ({"a": [{"wild": "x"}]}, "Unrecognized match type wild"),
    ({"a": [{"prefix": 1}]}, "prefix match pattern must be a string"),
    ({"a": [{"exists": "yes"}]}, "exists match pattern must be either true or false."),
    ({"a": [{"numeric": ["<", "100"]}]}, "Value of < must be numeric"),
    ({"a": [{"numeric": ["!", 1]}]}, "Unrecognized numeric range operator: !"),
    ({"a": [{"numeric": [">", 5, "<", 1]}]}, "Bottom must be less than top"),
    ({"a": [{"numeric": ["<", 5, ">", 1]}]}, "Too many elements in numeric expression"),
    ({"a": [{"anything-but": [True]}]}, "Value of anything-but must be an array or single string/number value."),
    ({"a": [{"cidr": "10.0.0.0"}]}, "Malformed CIDR"),
    ({"a": [{"cidr": "10.0.0.300/8"}]}, "Malformed CIDR"),
    ({"a": [{"prefix": "x", "suffix": "y"}]}, "Only one key allowed in match expression"),
])
def test_validate_refuses_what_sns_refuses_with_invalid_parameter(policy: dict[str, Any], reason: str) -> None:
    with pytest.raises(SnsError) as refused:
        validate(json.dumps(policy), None)
    assert refused.value.code == "InvalidParameter" and refused.value.message.startswith("Invalid parameter: ")
    assert reason in refused.value.message


def test_validate_reads_nesting_by_scope_and_refuses_text_that_is_not_a_json_object() -> None:
    validate(json.dumps({"order": {"status": ["paid"], "total": [{"numeric": [">=", 100]}]}}), MESSAGE_BODY)
    validate("", None)  # an empty policy removes the subscription's policy
    for text in ("{not json", "[1, 2]", '"text"'):
        with pytest.raises(SnsError) as refused:
            validate(text, None)
        assert refused.value.message.startswith("Invalid parameter: FilterPolicy: ")
