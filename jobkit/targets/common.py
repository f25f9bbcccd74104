"""What every local target shares (kept in one place): the context the one stack is synthesized with, and how
a reset's summary reads."""

from __future__ import annotations

import re
from typing import Any

#: Fault injection on; the consumers' Lambda timeout short enough that a timeout fault ends in seconds.
LOCAL_CONTEXT: dict[str, str] = {"faultInjection": "true", "functionTimeout": "15"}
#: AWS: fault injection off unless asked for (``jobkit deploy --target aws --fault-injection``).
AWS_CONTEXT: dict[str, str] = {}


def reset_lines(summary: dict[str, Any]) -> list[str]:
    """A reset's summary (``{"cleared": {service: {what: count}}, ...}``), one line per service:
    ``dynamodb  items 3, stream records 6``."""
    cleared = summary.get("cleared") or {}
    width = max((len(service) for service in cleared), default=0)
    return [f"  {service:<{width}}  " + ", ".join(f"{_words(what)} {_number(count)}" for what, count in counts.items())
            for service, counts in cleared.items()]


def _number(value: float) -> str:
    """A count as digits, never in exponent form; a fraction (the clock's seconds) to the millisecond."""
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}".rstrip("0")


def _words(key: str) -> str:
    """``streamRecordsDropped`` -> ``stream records dropped``."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", key).lower()
