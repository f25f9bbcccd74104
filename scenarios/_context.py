"""Everything a scenario drives: the signed Jobs API, fault plans, the table, the bus and its archive."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from botocore.credentials import Credentials

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.client.waiting import wait_for
from jobkit.errors import JobkitError
from scenarios._model import Difference


@dataclass
class FaultPlans:
    """Puts and lifts fault plans (SSM parameters, docs/contracts.md) scoped to one scenario's jobs."""

    deployment: Deployment
    scope: str
    created: list[str] = field(default_factory=list)

    def put(self, label: str, *faults: dict[str, Any]) -> str:
        prefix = self.deployment.outputs.get("FaultPlanPrefix")
        if not prefix:
            raise JobkitError("this deployment has no fault injection (synthesize with -c faultInjection=true)")
        name = f"{self.scope}-{label}-{uuid4().hex[:8]}"
        self.deployment.client("ssm").put_parameter(
            Name=prefix + name, Value=json.dumps({"faults": list(faults)}), Type="String", Overwrite=True)
        self.created.append(name)
        return name

    def lift(self, name: str) -> None:
        prefix = self.deployment.outputs["FaultPlanPrefix"]
        ssm = self.deployment.client("ssm")
        with contextlib.suppress(ssm.exceptions.ParameterNotFound):
            ssm.delete_parameter(Name=prefix + name)

    def lift_all(self) -> None:
        for name in self.created:
            self.lift(name)


@dataclass
class ScenarioContext:
    """Handed to each scenario's ``run``; its helpers wait on conditions with deadlines."""

    deployment: Deployment
    api: JobsApi
    scenario: str
    difference: Difference | None = None
    faults: FaultPlans = field(init=False)
    job_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.faults = FaultPlans(self.deployment, self.scenario)

    @property
    def target(self) -> str:
        return self.deployment.target

    @property
    def consumers(self) -> list[str]:
        return self.deployment.consumer_ids()

    def submit(self, seconds: Any = 1, fault: str | None = None) -> str:
        job_id = self.api.submit(seconds, fault=fault)
        self.job_ids.append(job_id)
        return job_id

    def wait_statuses(self, job_id: str, expected: dict[str, str], timeout: float = 180) -> dict[str, Any]:
        """Waits until the job shows ``expected``. The deadline is wide because a target that runs one batch
        per shard (LocalStack ignores ParallelizationFactor) queues a job behind every job the other scenarios
        run meanwhile: seen at 60-75 s on a loaded 2-core machine; the wait ends as soon as the job shows it."""
        return self.api.wait_for_statuses(job_id, expected, timeout=timeout)

    def all_consumers(self, status: str) -> dict[str, str]:
        return dict.fromkeys(self.consumers, status)

    def item(self, job_id: str) -> dict[str, Any] | None:
        answer = self.deployment.client("dynamodb").get_item(
            TableName=self.deployment["JobsTableName"], Key={"id": {"S": job_id}}, ConsistentRead=True)
        item = answer.get("Item")
        return dict(item) if item else None

    def table_count(self) -> int:
        """Items in the table (scans; fine for sandboxes)."""
        ddb = self.deployment.client("dynamodb")
        total = 0
        for page in ddb.get_paginator("scan").paginate(TableName=self.deployment["JobsTableName"], Select="COUNT"):
            total += page["Count"]
        return total

    def archive_count(self) -> int:
        from jobkit.replay import archive_event_count

        return archive_event_count(self.deployment)

    def wait_archive_count(self, at_least: int, timeout: float = 60) -> int:
        return wait_for(self.archive_count, lambda n: n >= at_least, timeout=timeout,
                        describe=f"the archive to hold at least {at_least} events")

    def invoke_credentials(self) -> Credentials:
        assert self.api.credentials is not None
        return self.api.credentials
