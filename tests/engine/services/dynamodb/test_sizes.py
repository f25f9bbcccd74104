"""SizeBytes of a stream record by DynamoDB's item-size rules: the Lambda guide's example event sizes to the
numbers it shows."""

from __future__ import annotations

import base64

import pytest

from jobkit.engine.services.dynamodb.sizes import item_size, number_size, record_size

ITEM = {"Message": {"S": "New item!"}, "Id": {"N": "101"}}
CHANGED = {"Message": {"S": "This item has changed"}, "Id": {"N": "101"}}
KEYS = {"Id": {"N": "101"}}


def test_the_lambda_guides_example_event_sizes_26_59_and_38() -> None:
    """"Using AWS Lambda with Amazon DynamoDB" (with-ddb.html), the example event: a NEW_AND_OLD_IMAGES stream's
    INSERT, MODIFY and REMOVE of one item, with SizeBytes 26, 59 and 38."""
    insert = {"Keys": KEYS, "NewImage": ITEM, "StreamViewType": "NEW_AND_OLD_IMAGES", "SequenceNumber": "111"}
    modify = {"OldImage": ITEM, "SequenceNumber": "222", "Keys": KEYS, "NewImage": CHANGED,
              "StreamViewType": "NEW_AND_OLD_IMAGES"}
    remove = {"Keys": KEYS, "SequenceNumber": "333", "OldImage": CHANGED, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert [record_size(r) for r in (insert, modify, remove)] == [26, 59, 38]


@pytest.mark.parametrize(("number", "size"), [
    ("101", 3), ("0", 1), ("7", 2), ("12", 2), ("123", 3), ("-123", 3), ("1000", 2), ("0.0012", 2),
    ("123.4500", 4), ("1E+3", 2),
])
def test_a_number_is_one_byte_per_two_significant_digits_plus_one(number: str, size: int) -> None:
    assert number_size(number) == size


def test_each_type_is_sized_by_its_rule() -> None:
    """"DynamoDB item sizes and formats": names and strings in UTF-8 bytes, binaries raw, Booleans and nulls 1
    byte, lists and maps 3 bytes plus 1 per element."""
    raw = base64.b64encode(b"\x00\x01\x02\x03").decode()
    assert item_size({"é": {"S": "ü"}}) == 4
    assert item_size({"b": {"B": raw}}) == 1 + 4
    assert item_size({"t": {"BOOL": True}, "n": {"NULL": True}}) == 4
    assert item_size({"l": {"L": [{"S": "ab"}, {"N": "1"}]}}) == 1 + 3 + (2 + 1) + (2 + 1)
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"m": {"M": {}}}) == 1 + 3
    assert item_size({"s": {"SS": ["a", "bc"]}, "ns": {"NS": ["1", "22"]}}) == 1 + 3 + 2 + 2 + 2


def test_a_keys_only_record_is_its_keys() -> None:
    assert record_size({"Keys": KEYS, "StreamViewType": "KEYS_ONLY"}) == 5
