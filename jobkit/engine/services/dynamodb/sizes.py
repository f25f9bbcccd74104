"""Item sizes by DynamoDB's rules, for a stream record's ``SizeBytes``.

"DynamoDB item sizes and formats" (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
an item's size is the sum of its attributes' names and values, each name its UTF-8 bytes; a string its UTF-8
bytes; a number 1 byte per two significant digits plus 1; a binary its raw bytes; a Boolean or null 1 byte; a
list or map 3 bytes plus its elements, each element 1 byte more. A stream record's SizeBytes is the size of the
keys and images it carries: the Lambda guide's example event ("Using AWS Lambda with Amazon DynamoDB",
https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html) gives 26, 59 and 38 for its INSERT, MODIFY and
REMOVE of ``{"Id": 101, "Message": ...}`` in a NEW_AND_OLD_IMAGES stream, which are exactly these sums.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

#: the parts of a stream record that are sized (StreamRecord, Keys / NewImage / OldImage)
SIZED_PARTS = ("Keys", "NewImage", "OldImage")


def record_size(data: Mapping[str, Any]) -> int:
    """SizeBytes of a stream record's ``dynamodb`` member: its keys and images, each sized as an item."""
    return sum(item_size(data[part]) for part in SIZED_PARTS if isinstance(data.get(part), Mapping))


def item_size(item: Mapping[str, Any]) -> int:
    """An item in DynamoDB JSON (``{"name": {"S": "..."}}``): its attributes' names and values."""
    return sum(_utf8(name) + value_size(value) for name, value in item.items())


def value_size(value: Mapping[str, Any]) -> int:
    """One attribute value in DynamoDB JSON, without its name."""
    kind, content = next(iter(value.items()))
    if kind == "S":
        return _utf8(content)
    if kind == "N":
        return number_size(content)
    if kind == "B":
        return _raw(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(_utf8(v) for v in content)
    if kind == "NS":
        return sum(number_size(v) for v in content)
    if kind == "BS":
        return sum(_raw(v) for v in content)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in content)
    if kind == "M":
        return 3 + sum(_utf8(name) + value_size(v) + 1 for name, v in content.items())
    raise ValueError(f"not a DynamoDB attribute value: {value!r}")


def number_size(text: Any) -> int:
    """1 byte per two significant digits (leading and trailing zeroes trimmed), plus 1."""
    try:
        digits = Decimal(str(text)).normalize().as_tuple().digits
    except InvalidOperation:
        digits = tuple(int(c) for c in str(text) if c.isdigit())  # moto validated it; size what is there
    significant = "".join(map(str, digits)).strip("0")
    return (len(significant) + 1) // 2 + 1


def _utf8(text: Any) -> int:
    return len(str(text).encode("utf-8"))


def _raw(content: Any) -> int:
    """A binary's raw length: DynamoDB JSON carries it base64-encoded."""
    if isinstance(content, bytes | bytearray):
        return len(content)
    try:
        return len(base64.b64decode(str(content), validate=True))
    except (binascii.Error, ValueError):
        return _utf8(content)
