"""What every local target synthesizes the one stack with (kept in one place)."""

from __future__ import annotations

#: Fault injection on; the consumers' Lambda timeout short enough that a timeout fault ends in seconds.
LOCAL_CONTEXT: dict[str, str] = {"faultInjection": "true", "functionTimeout": "15"}
#: AWS: fault injection off unless asked for (``jobkit deploy --target aws --fault-injection``).
AWS_CONTEXT: dict[str, str] = {}
