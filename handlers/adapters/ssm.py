"""Fault plans stored as SSM String parameters ``${FAULT_PLAN_PREFIX}<name>`` (docs/contracts.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from handlers.adapters.clients import LazyClient

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient


class SsmFaultPlanSource:
    """``handlers.domain.faults.FaultPlanSource`` on SSM Parameter Store; a missing parameter = no plan."""

    def __init__(self, prefix: str, client: SSMClient | None = None) -> None:
        self.prefix = prefix
        self._client = LazyClient("ssm", client)

    @property
    def client(self) -> SSMClient:
        """The SSM client, created on first use."""
        client: SSMClient = self._client.get()
        return client

    def read(self, name: str) -> str | None:
        """The plan's JSON, or None when the parameter does not exist (a lifted fault)."""
        try:
            response = self.client.get_parameter(Name=f"{self.prefix}{name}")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
                return None
            raise
        return response["Parameter"].get("Value")
