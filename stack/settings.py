"""The stack's settings, read from CDK context so every target synthesizes the same app.

Context keys (``cdk synth -c key=value``):
- ``consumers``: how many consumers process each job in parallel (default 2).
- ``faultInjection``: ``true`` deploys the fault plan (SSM) and lets ``POST /jobs`` carry ``fault``;
  local targets turn it on, ``aws`` leaves it off unless asked.
- ``parallelizationFactor``: how many batches of the table's stream each consumer's mapping processes at
  once (1-10, default 10): jobs run side by side, one item's records still in order. The pattern's page
  bounds concurrent jobs by the functions' concurrency; with the default of 1 a consumer would run one job
  at a time per shard ("Parallelization factor",
  https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html).
- ``functionTimeout``: the consumers' Lambda timeout in seconds (default ``jobTimeout`` + 30). Local
  targets set it short so a timeout fault ends in seconds, not minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

STACK_NAME = "JobsStack"
FAULT_PLAN_PREFIX = "/jobkit/faults/"


class ContextSource(Protocol):
    def try_get_context(self, key: str) -> Any: ...


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class StackSettings:
    """Every tunable of the architecture, passed down to the resources and handlers that use it."""

    consumers: int = 2
    job_timeout: int = 300
    function_timeout: int = 330
    error_handler_timeout: int = 30
    locking_retry_attempts: int = 5
    parallelization_factor: int = 10
    max_record_age_seconds: int = 6 * 3600
    max_event_age_seconds: int = 6 * 3600
    max_job_seconds: int = 86400
    log_retention_days: int = 7
    fault_injection: bool = False
    stage_name: str = "dev"

    @classmethod
    def from_context(cls, node: ContextSource) -> StackSettings:
        consumers = int(node.try_get_context("consumers") or cls.consumers)
        if not 1 <= consumers <= 9:
            raise ValueError(f"consumers must be between 1 and 9, got {consumers}")
        parallelization_factor = int(node.try_get_context("parallelizationFactor") or cls.parallelization_factor)
        if not 1 <= parallelization_factor <= 10:
            raise ValueError(f"parallelizationFactor must be between 1 and 10, got {parallelization_factor}")
        job_timeout = int(node.try_get_context("jobTimeout") or cls.job_timeout)
        function_timeout = int(node.try_get_context("functionTimeout") or job_timeout + 30)
        return cls(
            consumers=consumers,
            parallelization_factor=parallelization_factor,
            job_timeout=job_timeout,
            function_timeout=function_timeout,
            locking_retry_attempts=int(
                node.try_get_context("lockingRetryAttempts") or cls.locking_retry_attempts
            ),
            max_record_age_seconds=int(
                node.try_get_context("maxRecordAgeSeconds") or cls.max_record_age_seconds
            ),
            fault_injection=_as_bool(node.try_get_context("faultInjection") or False),
        )

    def consumer_ids(self) -> list[str]:
        return [f"consumer_{i}" for i in range(1, self.consumers + 1)]
