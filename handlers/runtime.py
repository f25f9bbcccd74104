"""What both handlers share: cached adapters per environment, the clock, and logging setup."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from handlers.adapters.dynamodb import DynamoJobStore
from handlers.adapters.ssm import SsmFaultPlanSource
from handlers.adapters.streams import DynamoStreamReader
from handlers.domain.faults import FaultClock
from handlers.domain.locking import RetryPolicy, StatusWriter
from handlers.settings import Role, Settings, load_settings

DEFAULT_REMAINING_SECONDS: Final = 900.0
"""Lambda's longest timeout: the budget assumed when the context cannot tell the remaining time."""


def make_logger() -> Logger:
    """The Powertools logger; the domain's stdlib loggers (``handlers.*``) write through it too."""
    logger = Logger()
    copy_config_to_registered_loggers(source_logger=logger, include={"handlers"})
    return logger


@dataclass(frozen=True)
class Adapters:
    """The AWS side of one environment; clients inside are created on first use and then reused."""

    store: DynamoJobStore
    streams: DynamoStreamReader
    plans: SsmFaultPlanSource | None


@lru_cache(maxsize=8)
def adapters_for(settings: Settings) -> Adapters:
    """Adapters built once per distinct settings (a warm Lambda reuses its clients)."""
    prefix = settings.fault_plan_prefix
    return Adapters(
        store=DynamoJobStore(settings.table_name),
        streams=DynamoStreamReader(),
        plans=SsmFaultPlanSource(prefix) if prefix else None,
    )


def reset() -> None:
    """Forget cached adapters (tests; an in-process engine after changing credentials or endpoints)."""
    adapters_for.cache_clear()


def status_writer(settings: Settings, store: DynamoJobStore) -> StatusWriter:
    """This consumer's status writer with OPTIMISTIC_LOCKING_RETRY_ATTEMPTS attempts."""
    return StatusWriter(
        store=store,
        consumer=settings.consumer_id,
        policy=RetryPolicy(attempts=settings.optimistic_locking_retry_attempts),
        sleep=lambda seconds: time.sleep(seconds),
    )


def remaining_seconds(context: Any) -> Callable[[], float]:
    """The invocation's remaining wall-clock time, from the Lambda context when it has it."""
    getter = getattr(context, "get_remaining_time_in_millis", None)

    def remaining() -> float:
        if callable(getter):
            return float(getter()) / 1000.0
        return DEFAULT_REMAINING_SECONDS

    return remaining


def fault_clock(settings: Settings, context: Any) -> FaultClock:
    """Sandbox sleeps are divided by JOBKIT_TIME_SCALE; the timeout fault's sleep is wall-clock."""
    scale = settings.time_scale
    return FaultClock(
        sleep=lambda seconds: time.sleep(seconds / scale),
        sleep_real=lambda seconds: time.sleep(seconds),
        remaining_seconds=remaining_seconds(context),
    )


@dataclass(frozen=True)
class Invocation:
    """Everything one invocation works with."""

    settings: Settings
    adapters: Adapters
    writer: StatusWriter
    clock: FaultClock


def start(role: Role, context: Any, logger: Logger) -> Invocation:
    """Read the settings (failing by variable name), reuse the adapters, tag the logs of this invocation."""
    settings = load_settings(role)
    adapters = adapters_for(settings)
    logger.append_keys(consumer=settings.consumer_id, request_id=getattr(context, "aws_request_id", None))
    return Invocation(
        settings=settings,
        adapters=adapters,
        writer=status_writer(settings, adapters.store),
        clock=fault_clock(settings, context),
    )
