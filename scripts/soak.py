"""Soak: many jobs with injected faults, then a replay; nothing lost, nothing written twice.

    python scripts/soak.py                                  # 10,000 jobs on an embedded engine (free port)
    python scripts/soak.py --jobs 200 --port 0
    python scripts/soak.py --jobs 1000 --target localstack  # the deployment in cdk-outputs.json

One job in ten asks for a processor ``raise`` on the first consumer (it ends ``Failure`` there through SNS
and its error handler); one in twenty asks for a processor ``raise`` *and* an error-handler ``raise`` on the
second consumer (its failure goes to the bus and the archive, the job stays ``Running`` there). Once every
job has settled as far as it can, the plans are lifted and the archive is replayed over the run's window:
the error handler records the missing ``Failure``. The counts printed at the end are the verdict:

- lost: accepted jobs missing from the table, or without a terminal status for some consumer;
- duplicated: jobs whose ``version`` is not exactly 2 writes per consumer (``Running`` + one terminal), or
  items in the table no accepted job accounts for;
- unexpected: jobs whose terminal statuses are not the ones their fault plan implies.

The embedded engine is started in this process on a free port (``--port``, never 4566 by default) with its
own outputs file, so a sandbox that runs already (and its ``cdk-outputs.json``) is left alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from botocore.exceptions import ClientError  # noqa: E402

from jobkit.client.deployment import Deployment  # noqa: E402
from jobkit.client.jobs_api import TERMINAL, JobsApi  # noqa: E402
from jobkit.client.waiting import WaitTimeout, wait_for  # noqa: E402
from jobkit.errors import JobkitError  # noqa: E402
from jobkit.replay import archive_event_count, replay_archive  # noqa: E402
from scenarios._context import FaultPlans  # noqa: E402

CLEAN, PROCESSOR, ERROR_HANDLER = "clean", "processor_fault", "error_handler_fault"
WRITES_PER_CONSUMER = 2  # Running, then exactly one of Success/Failure


def kind_of(index: int) -> str:
    """Deterministic mix: 5 % error-handler faults (index ≡ 0 mod 20), 10 % processor faults (≡ 1 mod 10)."""
    if index % 20 == 0:
        return ERROR_HANDLER
    if index % 10 == 1:
        return PROCESSOR
    return CLEAN


def expected_statuses(kind: str, consumers: list[str]) -> dict[str, str]:
    """What each consumer must end with once the replay has run."""
    first, second = consumers[0], consumers[1]
    expected = dict.fromkeys(consumers, "Success")
    if kind == PROCESSOR:
        expected[first] = "Failure"
    elif kind == ERROR_HANDLER:
        expected[second] = "Failure"
    return expected


@dataclass
class SoakReport:
    target: str
    jobs: int
    accepted: int = 0
    refused: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    archived_before_replay: int = 0
    replayed_events: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    submit_seconds: float = 0.0
    settle_seconds: float = 0.0
    replay_seconds: float = 0.0
    elapsed_seconds: float = 0.0
    timed_out: int | None = None
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.refused == 0 and self.lost == 0 and self.duplicated == 0 and self.unexpected == 0

    def lines(self) -> list[str]:
        per_consumer = "; ".join(
            f"{c}: Success {s.get('Success', 0)}, Failure {s.get('Failure', 0)}"
            + "".join(f", {k} {v}" for k, v in sorted(s.items()) if k not in TERMINAL)
            for c, s in sorted(self.statuses.items()))
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.kinds.items()))
        out = [
            f"[{self.target}] {self.jobs} jobs: accepted {self.accepted}, refused {self.refused} ({kinds})",
            f"[{self.target}] lost {self.lost}, duplicated {self.duplicated}, unexpected {self.unexpected}",
            f"[{self.target}] {per_consumer}",
            f"[{self.target}] invocations timed out: "
            f"{'unknown' if self.timed_out is None else self.timed_out} (from the functions' logs)",
            f"[{self.target}] versions {dict(sorted(self.versions.items()))}; archived {self.archived_before_replay}, "
            f"replayed {self.replayed_events}",
            f"[{self.target}] elapsed {self.elapsed_seconds:.1f} s (submit {self.submit_seconds:.1f} s, settle "
            f"{self.settle_seconds:.1f} s, replay {self.replay_seconds:.1f} s)",
            f"[{self.target}] {'OK' if self.ok else 'FAILED'}",
        ]
        out.extend(f"[{self.target}]   {example}" for example in self.examples[:10])
        return out


def scan_items(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """Every item of the jobs table (consistent scan), by id, in DynamoDB JSON."""
    ddb = deployment.client("dynamodb")
    items: dict[str, dict[str, Any]] = {}
    # only what the verdict reads: a soak polls the whole table, and on the embedded engine it shares the
    # engine's process, so every byte it scans is time the functions wait for
    for page in ddb.get_paginator("scan").paginate(TableName=deployment["JobsTableName"], ConsistentRead=True,
                                                    ProjectionExpression="#i, #s, #v",
                                                    ExpressionAttributeNames={"#i": "id", "#s": "job_status",
                                                                              "#v": "version"}):
        for item in page.get("Items", []):
            items[item["id"]["S"]] = item
    return items


TIMED_OUT = "Task timed out after"


def timed_out_invocations(deployment: Deployment) -> int | None:
    """How many invocations of the stack's functions timed out ("Task timed out after" in their log groups):
    what explains a clean job's Failure when the machine was too loaded for a sped-up clock's timeouts."""
    logs = deployment.client("logs")
    try:
        groups = [group["logGroupName"] for page in logs.get_paginator("describe_log_groups").paginate()
                  for group in page["logGroups"] if "Function" in group["logGroupName"]]
        return sum(1 for group in groups
                   for page in logs.get_paginator("filter_log_events").paginate(
                       logGroupName=group, filterPattern=f'"{TIMED_OUT}"')
                   for event in page["events"] if TIMED_OUT in event.get("message", ""))
    except ClientError:
        return None


def status_of(item: dict[str, Any] | None, consumer: str) -> str | None:
    if not item:
        return None
    entry = item.get("job_status", {}).get("M", {}).get(consumer, {}).get("M", {})
    value = entry.get("status", {}).get("S")
    return str(value) if value is not None else None


def settled_count(items: dict[str, dict[str, Any]]) -> int:
    """Terminal statuses in the table: what a wait watches to tell a slow run from a stuck one."""
    return sum(1 for item in items.values() for entry in item.get("job_status", {}).get("M", {}).values()
               if entry.get("M", {}).get("status", {}).get("S") in TERMINAL)


def _version(item: dict[str, Any]) -> int:
    return int(item.get("version", {}).get("N", "-1"))


def submit_all(deployment: Deployment, plans: dict[str, str | None], jobs: int,
               workers: int) -> tuple[dict[str, str], int]:
    """Submits ``jobs`` jobs from a thread pool (one signed client per thread); returns {id: kind}, refused."""
    credentials = JobsApi.for_deployment(deployment).credentials
    local = threading.local()

    def one(index: int) -> tuple[str | None, str]:
        kind = kind_of(index)
        if not hasattr(local, "api"):
            local.api = JobsApi.for_deployment(deployment, credentials)
        try:
            return local.api.submit(1, fault=plans[kind]), kind
        except JobkitError:
            return None, kind

    accepted: dict[str, str] = {}
    refused = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for job_id, kind in pool.map(one, range(jobs)):
            if job_id is None:
                refused += 1
            else:
                accepted[job_id] = kind
    return accepted, refused


def run_soak(deployment: Deployment, jobs: int, *, workers: int = 16, timeout: float | None = None,
             say: Callable[[str], None] = lambda _: None) -> SoakReport:
    """Runs the whole soak against ``deployment`` and returns its counts (never raises for a lost job)."""
    consumers = deployment.consumer_ids()
    if len(consumers) < 2:
        raise JobkitError(f"the soak needs two consumers, the deployment has {consumers}")
    first, second = consumers[0], consumers[1]
    # a stall timeout: every wait goes on while jobs keep settling (LocalStack settles about 2 jobs a second, the
    # embedded engine at time scale 20 about 10), and gives up this long after the last one settled
    wait = timeout if timeout is not None else 180.0
    poll = max(2.0, jobs / 1000)  # seconds between whole-table scans at most: 10 s for 10,000 jobs
    report = SoakReport(target=deployment.target, jobs=jobs)
    began = time.monotonic()
    started = datetime.now(UTC) - timedelta(seconds=2)
    archived_at_start = archive_event_count(deployment)
    preexisting = set(scan_items(deployment)) if deployment.target == "embedded" else set()
    faults = FaultPlans(deployment, "soak")
    plans: dict[str, str | None] = {
        CLEAN: None,
        PROCESSOR: faults.put("p", {"where": "processor", "kind": "raise", "consumers": [first]}),
        ERROR_HANDLER: faults.put("eh", {"where": "processor", "kind": "raise", "consumers": [second]},
                                  {"where": "error_handler", "kind": "raise", "consumers": [second]}),
    }
    try:
        say(f"submitting {jobs} jobs with {workers} threads")
        accepted, report.refused = submit_all(deployment, plans, jobs, workers)
        report.accepted = len(accepted)
        report.kinds = dict(Counter(accepted.values()))
        report.submit_seconds = time.monotonic() - began
        wanted_archive = archived_at_start + report.kinds.get(ERROR_HANDLER, 0)

        def before_replay(items: dict[str, dict[str, Any]]) -> bool:
            # every consumer settled, except the error-handler-fault jobs' second consumer (still Running)
            for job_id, kind in accepted.items():
                item = items.get(job_id)
                for consumer in consumers:
                    if kind == ERROR_HANDLER and consumer == second:
                        continue
                    if status_of(item, consumer) not in TERMINAL:
                        return False
            return archive_event_count(deployment) >= wanted_archive

        say("waiting for every job to settle as far as the faults let it")
        settle_began = time.monotonic()
        try:
            wait_for(lambda: scan_items(deployment), before_replay, timeout=wait, interval=0.5, max_interval=poll,
                     describe="every job to settle before the replay", progress=settled_count)
        except WaitTimeout as exc:
            report.examples.append(f"before the replay: {str(exc)[:200]}")
        report.settle_seconds = time.monotonic() - settle_began
        report.archived_before_replay = archive_event_count(deployment) - archived_at_start
    finally:
        faults.lift_all()

    say(f"replaying the archive ({report.archived_before_replay} event(s) of this run)")
    replay_began = time.monotonic()
    result = replay_archive(deployment, since=started, until=datetime.now(UTC) + timedelta(seconds=1),
                            timeout=wait)
    report.replayed_events = len(result.events)

    def all_settled(items: dict[str, dict[str, Any]]) -> bool:
        return all(status_of(items.get(j), c) in TERMINAL for j in accepted for c in consumers)

    try:
        items = wait_for(lambda: scan_items(deployment), all_settled, timeout=wait, interval=0.5, max_interval=poll,
                         describe="every job to settle after the replay", progress=settled_count)
    except WaitTimeout as exc:
        items = exc.last if isinstance(exc.last, dict) else scan_items(deployment)
    report.replay_seconds = time.monotonic() - replay_began
    tally(report, accepted, items, consumers, preexisting)
    report.timed_out = timed_out_invocations(deployment)
    report.elapsed_seconds = time.monotonic() - began
    return report


def tally(report: SoakReport, accepted: dict[str, str], items: dict[str, dict[str, Any]],
          consumers: list[str], preexisting: set[str] | None = None) -> None:
    """The verdict: lost, duplicated and unexpected jobs, and the statuses per consumer.

    Every consumer writes its status exactly twice per job, whatever the fault: the processor writes
    ``Running`` and then either ``Success`` or raises; a processor that raises is not retried
    (``retry_attempts=0``), its record goes to SNS and the error handler writes ``Failure`` once. An error
    handler that raises (its fault applies before its write) writes nothing; its failure is archived, and
    the replay, with the plan lifted, writes ``Failure`` once. So ``version`` = 2 x consumers for every job;
    more would be a duplicated write (a record processed twice, a replay applied twice).
    """
    writes = WRITES_PER_CONSUMER * len(consumers)
    statuses: dict[str, Counter[str]] = {c: Counter() for c in consumers}
    versions: Counter[int] = Counter()
    for job_id, kind in accepted.items():
        item = items.get(job_id)
        seen = {c: status_of(item, c) for c in consumers}
        for consumer, status in seen.items():
            statuses[consumer][status or "missing"] += 1
        if item is None or any(s not in TERMINAL for s in seen.values()):
            report.lost += 1
            report.examples.append(f"lost {job_id} ({kind}): {seen}")
            continue
        version = _version(item)
        versions[version] += 1
        if version != writes:
            report.duplicated += 1
            report.examples.append(f"version {version} (expected {writes}) on {job_id} ({kind}): {seen}")
        if seen != expected_statuses(kind, consumers):
            report.unexpected += 1
            report.examples.append(f"unexpected {job_id} ({kind}): {json.dumps(item.get('job_status'))[:400]}")
    strays = [job_id for job_id in items if job_id not in accepted and job_id not in (preexisting or set())]
    if report.target == "embedded":  # a shared LocalStack may hold others' jobs; this engine only ours
        report.duplicated += len(strays)
        report.examples.extend(f"stray item {job_id}" for job_id in strays[:5])
    report.statuses = {c: dict(s) for c, s in statuses.items()}
    report.versions = {str(v): n for v, n in sorted(versions.items())}


@contextmanager
def embedded_deployment(port: int, time_scale: float) -> Iterator[Deployment]:
    """An embedded engine in this process, on ``port`` (0: a free one), with its own outputs file."""
    from jobkit.engine.runtime import EmbeddedEngine

    cdk_out = ROOT / "cdk.out"
    if not (cdk_out / "JobsStack.template.json").is_file():
        from jobkit.deploy.synth import synth
        from jobkit.targets.common import LOCAL_CONTEXT

        cdk_out, _ = synth(LOCAL_CONTEXT)
    with tempfile.TemporaryDirectory(prefix="jobkit-soak-") as folder:
        outputs = Path(folder) / "cdk-outputs.json"
        engine = EmbeddedEngine(port=port, out=None)
        try:
            engine.start(cdk_out, outputs, time_scale=time_scale)
        except OSError as exc:
            raise JobkitError(f"the embedded engine cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
        try:
            yield Deployment.load(outputs, target="embedded")
        finally:
            engine.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs to submit (default %(default)s)")
    parser.add_argument("--target", choices=["embedded", "localstack"], default="embedded")
    parser.add_argument("--port", type=int, default=0, help="embedded: port of the engine (default: a free one)")
    parser.add_argument("--time-scale", type=float, default=20.0, help="embedded: sandbox clock speed-up")
    parser.add_argument("--outputs", type=Path, default=ROOT / "cdk-outputs.json",
                        help="localstack: the running deployment's outputs file")
    parser.add_argument("--workers", type=int, default=16, help="submitting threads")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds a wait goes on without a job settling (default 180)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")

    def say(line: str) -> None:
        print(f"[{args.target}] {line}", flush=True)

    try:
        if args.target == "embedded":
            with embedded_deployment(args.port, args.time_scale) as deployment:
                say(f"engine at {deployment.endpoint_url}")
                report = run_soak(deployment, args.jobs, workers=args.workers, timeout=args.timeout, say=say)
        else:
            deployment = Deployment.load(args.outputs, target=args.target).require_up()
            report = run_soak(deployment, args.jobs, workers=args.workers, timeout=args.timeout, say=say)
    except JobkitError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    if args.json is not None:
        args.json.write_text(json.dumps({**asdict(report), "ok": report.ok}, indent=2) + "\n")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
