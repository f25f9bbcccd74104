"""Fixes for LocalStack 2026.3.0 defects that this architecture meets, applied when the engine starts.

LocalStack loads :func:`apply_patches` as an ``on_infra_start`` hook (entry point
``localstack.hooks.on_infra_start`` in pyproject.toml), before any service is loaded and before the gateway
listens; installed files are never edited. Each fix is small, targets one function or name, and logs one
line. They run in the engine's venv only (this module imports LocalStack).

Known and deliberately not patched: ``$context.requestTime`` in API Gateway mapping templates lacks its
``+0000`` offset (``dd/MMM/yyyy:HH:mm:ss``); API Gateway ``AWS_IAM`` is not enforced; the stream mapping's
``BisectBatchOnFunctionError`` is stored but not implemented.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from localstack import config
from localstack.runtime import hooks
from localstack.utils.patch import Patch

LOG = logging.getLogger(__name__)
#: The release these fixes were written against; another one gets a warning (the targets may have moved).
LOCALSTACK_VERSION = "2026.3.0"

_applied = False


def _as_datetime(value: Any) -> Any:
    """An archived event's ``time`` (``2026-01-02T03:04:05Z``, as ``format_event`` writes it) as a datetime."""
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def fix_events_replay_time() -> str:
    """StartReplay over a non-empty archive answered 500 ``replace() takes at least 2 positional arguments``.

    Archived events keep ``time`` as the string ``format_event`` made, but ``ArchiveService`` (filtering by
    start/end time), ``get_event_time`` (re-putting the event) and ``ReplayService`` (last replayed time)
    treat it as a datetime. boto3's retry of the 500 then meets the half-created replay and surfaces as
    ``ResourceAlreadyExistsException``.
    """
    from localstack.services.events import archive, replay, utils

    def normalize(fn: Callable[..., Any], self: Any, dt: Any) -> Any:
        return fn(self, _as_datetime(dt))

    def get_event_time(fn: Callable[..., Any], event: Any) -> Any:
        if isinstance(event.get("Time"), str):
            event = {**event, "Time": _as_datetime(event["Time"])}
        return fn(event)

    def set_last_replayed(fn: Callable[..., Any], self: Any, events: Any) -> None:
        fn(self, events)
        self.replay.event_last_replayed_time = _as_datetime(self.replay.event_last_replayed_time)

    Patch.function(archive.ArchiveService._normalize_datetime, normalize).apply()
    Patch.function(utils.get_event_time, get_event_time).apply()
    Patch.function(replay.ReplayService._set_event_last_replayed_time, set_last_replayed).apply()
    return "events: archived event times (strings) accepted by StartReplay (was 500 'replace() takes ...')"


def fix_offline_catalog() -> str:
    """The CloudFormation support check fetched LocalStack's service catalog from api.localstack.cloud.

    With ``CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES=0`` every change set asks the remote catalog which types
    are supported (a request without timeout); offline it falls back to a catalog that knows nothing, and
    *every* resource - SNS topics included - is refused as unsupported. Here the answer comes from what the
    engine actually has: a type is supported iff a resource provider plugin is installed for it. The same
    offline catalog serves the "not implemented" messages of the gateway (no network call per request).
    """
    from localstack.aws import skeleton
    from localstack.aws.handlers import service as service_handlers
    from localstack.services.cloudformation.engine.v2 import change_set_resource_support_checker as checker
    from localstack.utils.catalog import plugins as catalog_plugins
    from localstack.utils.catalog.catalog import AwsCatalogRuntimePlugin
    from localstack.utils.catalog.common import (
        CloudFormationResourcesSupportAtRuntime,
        CloudFormationResourcesSupportInLatest,
    )

    class OfflineCatalog(AwsCatalogRuntimePlugin):
        def get_cloudformation_resource_status(self, resource_name: str, service_name: str,
                                               is_pro_resource: bool = False) -> Any:
            # is_pro_resource: the checker found no resource provider plugin for the type
            if is_pro_resource:
                return CloudFormationResourcesSupportInLatest.NOT_SUPPORTED
            return CloudFormationResourcesSupportAtRuntime.AVAILABLE

    catalog = OfflineCatalog()

    def get_aws_catalog() -> Any:
        return catalog

    for module in (catalog_plugins, checker, skeleton, service_handlers):
        Patch(module, "get_aws_catalog", get_aws_catalog).apply()
    return "catalog: CloudFormation support = installed resource providers, offline (was: every type refused)"


def fix_gateway_listen_host() -> str | None:
    """The twisted gateway ignored the host of ``GATEWAY_LISTEN`` for IPv4 and bound 0.0.0.0."""
    from localstack.runtime.server import twisted as twisted_server
    from twisted.internet import endpoints

    hosts = {listen.port: listen.host for listen in config.GATEWAY_LISTEN}
    if all(host in ("", "0.0.0.0") for host in hosts.values()):  # noqa: S104  # nosec B104  # the value being checked, nothing binds
        return None

    class BoundEndpoints:
        """``twisted.internet.endpoints`` as the gateway module sees it: IPv4 listeners get their host."""

        def __getattr__(self, name: str) -> Any:
            return getattr(endpoints, name)

        @staticmethod
        def TCP4ServerEndpoint(reactor: Any, port: int, backlog: int = 50, interface: str = "") -> Any:
            return endpoints.TCP4ServerEndpoint(reactor, port, backlog, interface or hosts.get(port, ""))

    Patch(twisted_server, "endpoints", BoundEndpoints()).apply()
    listen = ",".join(f"{h}:{p}" for p, h in hosts.items())
    return f"gateway: listens on {listen} as GATEWAY_LISTEN says (was: 0.0.0.0)"


def fix_s3_storage_dir() -> str:
    """S3 object bodies went to the fixed ``/tmp/localstack-s3-storage``; they belong in LocalStack's tmp."""
    from localstack.services.s3 import provider

    target = os.path.join(config.dirs.tmp, "s3-storage")
    Patch(provider, "DEFAULT_S3_TMP_DIR", target).apply()
    return f"s3: object storage under {target} (was /tmp/localstack-s3-storage)"


def fix_lambda_log_group() -> str:
    """A function's logs went to ``/aws/lambda/<name>`` whatever its LoggingConfig named, while
    GetFunctionConfiguration answered the configured group: ``jobkit logs``, a job's trace and any reader of that
    group found it empty. Lambda sends them to LoggingConfig's LogGroup when one is set ("Sending Lambda function
    logs to CloudWatch Logs", https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-loggroups.html);
    LocalStack's ``ExecutionEnvironment.get_log_group_name`` ignores it."""
    from localstack.services.lambda_.invocation.execution_environment import ExecutionEnvironment

    def get_log_group_name(fn: Callable[..., str], self: Any) -> str:
        configured = (self.function_version.config.logging_config or {}).get("LogGroup")
        return str(configured) if configured else fn(self)

    Patch.function(ExecutionEnvironment.get_log_group_name, get_log_group_name).apply()
    return "lambda: logs go to the LoggingConfig's group when one is set (were always /aws/lambda/<name>)"


FIXES: tuple[Callable[[], str | None], ...] = (
    fix_events_replay_time,
    fix_offline_catalog,
    fix_gateway_listen_host,
    fix_s3_storage_dir,
    fix_lambda_log_group,
)


@hooks.on_infra_start(priority=90)  # after LocalStack's own runtime patches (100), before services load
def apply_patches() -> None:
    """Applies every fix once; a fix that no longer fits its target is logged, never fatal."""
    global _applied
    if _applied:
        return
    _applied = True
    from localstack import version

    if version.__version__ != LOCALSTACK_VERSION:
        LOG.warning("jobkit patches were written for LocalStack %s, this is %s", LOCALSTACK_VERSION,
                    version.__version__)
    for fix in FIXES:
        try:
            summary = fix()
        except Exception as exc:  # a moved target must not stop the engine: say which fix is missing
            LOG.error("jobkit patch %s NOT applied: %s", fix.__name__, exc)
            continue
        if summary:
            LOG.info("jobkit patch applied: %s", summary)
