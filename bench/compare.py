"""Figures for both local targets in one run (prints a table, writes JSON and a PNG; not a test).

Three columns: the embedded engine at the real clock, the embedded engine with its clock sped up (the speed
``make test`` runs the scenarios at), and LocalStack's engine on this host (real clock: it has no sandbox
clock). The ratio is LocalStack over the embedded engine at the same (real) clock. How each figure is taken
is written beside it in the JSON (``how``), so a run can be repeated; a floor beside them: moto alone, in
process, doing a job's table writes. Run: ``make bench`` (``--help`` for the sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.client.waiting import wait_for
from jobkit.processes import cpu_seconds, descendants
from jobkit.project import ROOT
from jobkit.replay import archive_event_count, replay_archive
from jobkit.ui import Ui

RESULTS = ROOT / "bench" / "results"
FAST_CLOCK = 20.0  # the scenarios' speed in `make test`
JOB_SECONDS = 1  # every measured job asks for 1 s (the model's minimum)
#: a share of the machine, or a bound the stack sets: not speeds, so no "x times better"
NO_RATIO = frozenset({"throughput_cpu_cores", "throughput_ceiling_jobs_per_s"})


def how(args: argparse.Namespace) -> dict[str, str]:
    """How each figure is taken (the JSON carries it next to the numbers)."""
    return {
        "ready_uncached_s": "engine started and stack deployed until the stack answers, synth cache removed first",
        "ready_s": "the same with the synth cached (a second start)",
        "overhead_p50_ms": f"{args.jobs} sequential 1 s jobs after 3 warm-up jobs: POST until both consumers show "
                           "Success, minus the job's own 1 s (its sleep / clock speed); the writes are seen on the "
                           "table's stream (GetRecords every 10 ms from its end), not by polling GET",
        "throughput_jobs_per_s": f"{args.burst} jobs of 1 s (LocalStack: {args.burst_localstack}) submitted as fast "
                                 "as 8 threads can sign and send them: jobs / seconds from the first POST until "
                                 "the last job shows Success for both consumers (seen on the stream, as above)",
        "throughput_p99_ms": "p99 of those jobs' times from their POST until both Success is seen on the stream",
        "throughput_cpu_ms_per_job": "CPU time (user + system) of the target's whole process tree during the "
                                     "burst, per job (a process started meanwhile counts from 0)",
        "throughput_cpu_cores": "that CPU time over the burst's wall time: how many of this machine's "
                                f"{os.cpu_count()} cores the target kept busy",
        "throughput_ceiling_jobs_per_s": "the most the stack allows with these jobs, whatever the engine: each "
                                         "consumer's mapping runs at most ParallelizationFactor batches of one "
                                         f"record per open shard at once, and each lasts at least the job's "
                                         f"{JOB_SECONDS} s (divided by the clock's speed): the smallest factor (read "
                                         f"back with ListEventSourceMappings) x open shards / ({JOB_SECONDS} s / "
                                         "speed)",
        "failure_path_ms": "a refused job (seconds 301 > the 300 s timeout) from POST until both show Failure",
        "replay_round_trip_ms": "a job whose processor and error handler both fail for the second consumer is "
                                "archived; from the moment the fault plan is lifted: replay started, completed, "
                                "and Failure visible on the job",
        "reset_ms": "a reset once the measurements above are done (the sandbox holding their jobs, stream records, "
                    "archived failures and logs): from the request until its answer; the embedded engine's "
                    "POST /_jobkit/reset, LocalStack's through the AWS APIs (`jobkit reset --target localstack`)",
        "suite_s": "the whole scenario suite (`jobkit scenarios run`, 4 in parallel)",
        "memory_ready_mb": "memory (the sum of PSS, see memory_mb) of the engine with every child process "
                           "(functions, Java, Node) once ready, after the warm-up jobs",
        "memory_peak_mb": "the highest such sum, sampled every 0.5 s through every measurement of the target",
    }


class Background:
    """Calls ``tick`` every ``every`` seconds on a thread of its own while the ``with`` block runs."""

    def __init__(self, every: float, name: str) -> None:
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def tick(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.tick()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


class TreeSampler(Background):
    """Samples a target's process tree every 0.5 s in the background, one walk of it for both figures: the
    memory (the highest sum is ``peak``) and each process's CPU time so far, so that the CPU used between two
    moments can be told (a process that ends meanwhile keeps what it had used at its last sample; one started
    meanwhile counts from 0)."""

    def __init__(self, pids: Callable[[], set[int]], every: float = 0.5) -> None:
        super().__init__(every, "bench-sampler")
        self.pids, self.peak = pids, 0.0
        self._cpu: dict[int, float] = {}

    def tick(self) -> None:
        self.sample()

    def sample(self) -> float:
        """The memory now (and the CPU times, refreshed)."""
        try:
            pids = self.pids()
            now = memory_mb(pids)
        except (OSError, ValueError):  # the engine is between runs
            return 0.0
        self.peak = max(self.peak, now)
        for pid in pids:
            used = cpu_seconds(pid)
            if used is not None:
                self._cpu[pid] = used
        return now

    def cpu_mark(self) -> dict[int, float]:
        self.sample()
        return dict(self._cpu)

    def cpu_since(self, mark: dict[int, float]) -> float:
        """CPU seconds the tree used since ``mark`` (from ``cpu_mark``)."""
        self.sample()
        return sum(used - mark.get(pid, 0.0) for pid, used in self._cpu.items())

    def __exit__(self, *_: object) -> None:
        super().__exit__()
        self.sample()


def memory_mb(pids: set[int]) -> float:
    """The memory of a process tree: the sum of each process's proportional set size (PSS: its private pages,
    plus each shared page divided among the processes sharing it), so pages the functions' interpreters share
    (the interpreter, its libraries) count once, not once per process as a sum of RSS would; RSS where the
    kernel gives no ``smaps_rollup``."""
    total = 0
    for pid in pids:
        try:
            pairs = (line.partition(":") for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines())
            fields = {key: value for key, _, value in pairs if " " not in key}  # the first line is the range
            total += int((fields.get("Pss") or fields["Rss"]).split()[0])
        except (OSError, KeyError, ValueError):
            try:
                status = Path(f"/proc/{pid}/status").read_text().splitlines()
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                continue  # the process has gone
    return total / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class StreamWatcher(Background):
    """Sees each job's status writes as they happen, by reading the jobs table's stream from its end (a
    client's view, as GET's, but the table's own record of each write): what it costs the target grows with
    the writes, not with the table or the jobs in flight, so measuring perturbs the figure less than polling
    GET or scanning would (a scan every 100 ms was a third of the engine's time under a 300-job burst).
    Record shape: "DynamoDB Streams API Reference", GetRecords / StreamRecord NewImage."""

    def __init__(self, deployment: Deployment, both: list[str], every: float = 0.01) -> None:
        super().__init__(every, "bench-stream")
        self.both = both
        self.streams = deployment.client("dynamodbstreams")
        self.stream_arn = arn = deployment.client("dynamodb").describe_table(
            TableName=deployment["JobsTableName"])["Table"]["LatestStreamArn"]
        shards = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        self._iterators = [self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                                          ShardIteratorType="LATEST")["ShardIterator"]
                           for shard in shards if "EndingSequenceNumber" not in shard["SequenceNumberRange"]]
        self.shards = len(self._iterators)  # the open shards
        self.seen: dict[tuple[str, str], float] = {}  # (job, status both consumers show) -> first seen
        self._cond = threading.Condition()

    def tick(self) -> None:
        for n, iterator in enumerate(self._iterators):
            answer = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            self._iterators[n] = answer.get("NextShardIterator") or iterator
            now = time.monotonic()
            with self._cond:
                for record in answer["Records"]:
                    self._take(record["dynamodb"].get("NewImage", {}), now)
                self._cond.notify_all()

    def _take(self, image: dict[str, Any], now: float) -> None:
        statuses = image.get("job_status", {}).get("M", {})
        shown = {statuses.get(c, {}).get("M", {}).get("status", {}).get("S") for c in self.both}
        if len(shown) == 1 and None not in shown:
            self.seen.setdefault((image["id"]["S"], str(shown.pop())), now)

    def wait(self, job: str, status: str, timeout: float) -> float:
        """When both consumers were first seen showing ``status`` for ``job``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (job, status) not in self.seen:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    raise TimeoutError(f"bench: job {job} did not show {status} for both consumers in {timeout} s")
                self._cond.wait(left)
            return self.seen[(job, status)]


def warm_up(api: JobsApi, both: list[str]) -> None:
    """Three jobs first, so the figures meet started function environments."""
    for _ in range(3):
        api.wait_for_statuses(api.submit(JOB_SECONDS), dict.fromkeys(both, "Success"), timeout=60, poll=0.01)


def overhead(watcher: StreamWatcher, api: JobsApi, jobs: int, scale: float) -> list[float]:
    samples = []
    for _ in range(jobs):
        start = time.monotonic()
        job = api.submit(JOB_SECONDS)
        samples.append((watcher.wait(job, "Success", 60) - start - JOB_SECONDS / scale) * 1000)
    return samples


def overhead_percentiles(samples: list[float]) -> dict[str, int]:
    return {f"overhead_p{q}_ms": round(percentile(samples, q)) for q in (50, 95, 99)}


def burst_figures(watcher: StreamWatcher, api: JobsApi, sampler: TreeSampler, burst: int) -> dict[str, float]:
    """The throughput of a burst of ``burst`` jobs, their p99, and the CPU the target's tree used for them."""
    mark = sampler.cpu_mark()
    rate, p99 = throughput(watcher, api, burst)
    cpu = sampler.cpu_since(mark)
    # two decimals: LocalStack's rate is below 1 job/s, and the ratio to it is taken from these figures
    return {"throughput_jobs_per_s": round(rate, 2), "throughput_p99_ms": round(p99),
            "throughput_cpu_ms_per_job": round(cpu * 1000 / burst, 1),
            "throughput_cpu_cores": round(cpu * rate / burst, 2)}


def throughput(watcher: StreamWatcher, api: JobsApi, jobs: int) -> tuple[float, float]:
    """Jobs per second end to end with as many jobs in flight as the target takes, and their p99 latency."""
    submitted: dict[str, float] = {}

    def submit(_: int) -> None:
        began = time.monotonic()
        submitted[api.submit(JOB_SECONDS)] = began

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(submit, range(jobs)))
    done = {job: watcher.wait(job, "Success", 900) for job in submitted}
    latencies = [done[job] - submitted[job] for job in done]
    return jobs / (max(done.values()) - start), percentile(latencies, 99) * 1000


def ceiling(deployment: Deployment, watcher: StreamWatcher, scale: float) -> float:
    """Jobs per second the stack itself allows for these jobs (see ``how``). "Lambda parameters for Amazon
    DynamoDB event source mappings": ParallelizationFactor, default 1, maximum 10 (batches of a shard processed
    at once)."""
    mappings = deployment.client("lambda").list_event_source_mappings(
        EventSourceArn=watcher.stream_arn)["EventSourceMappings"]
    factor = min(int(m.get("ParallelizationFactor") or 1) for m in mappings)
    return factor * watcher.shards / (JOB_SECONDS / scale)


def failure_path(api: JobsApi, both: list[str]) -> float:
    start = time.monotonic()
    api.wait_for_statuses(api.submit(301), dict.fromkeys(both, "Failure"), timeout=120, poll=0.01)
    return (time.monotonic() - start) * 1000


def replay_round_trip(deployment: Deployment, api: JobsApi) -> float:
    from scenarios._context import FaultPlans

    second = deployment.consumer_ids()[1]
    plans = FaultPlans(deployment, "bench")
    began = datetime.now(UTC) - timedelta(seconds=2)
    archived = archive_event_count(deployment)
    try:
        plan = plans.put("replay", {"where": "processor", "kind": "raise", "consumers": [second]},
                         {"where": "error_handler", "kind": "raise", "consumers": [second]})
        job = api.submit(1, fault=plan)
        wait_for(lambda: archive_event_count(deployment), lambda n: n > archived, timeout=120, interval=0.01,
                 max_interval=0.05, describe="the failed job's event in the archive")
    finally:
        plans.lift_all()
    start = time.monotonic()
    replay_archive(deployment, since=began, until=datetime.now(UTC) + timedelta(seconds=1), timeout=120)
    api.wait_for_statuses(job, {second: "Failure"}, timeout=120, poll=0.01)
    return (time.monotonic() - start) * 1000


def reset_time(deployment: Deployment) -> float:
    start = time.monotonic()
    if deployment.target == "localstack":
        from jobkit.targets.localstack.reset import reset

        reset(deployment)
    else:
        from jobkit.targets.embedded import reset_endpoint

        reset_endpoint(str(deployment.endpoint_url))
    return (time.monotonic() - start) * 1000


class SuiteFailed(Exception):
    """A scenario failed while the suite was timed."""


def suite(deployment: Deployment) -> float:
    from scenarios._runner import run_all, select

    start = time.monotonic()
    outcomes = run_all(select(None), deployment, parallel=4)
    failed = [f"{o.scenario.name}: {o.detail}" for o in outcomes if not o.ok]
    if failed:
        raise SuiteFailed(f"scenarios failed on {deployment.target}: {failed}")
    return time.monotonic() - start


@dataclass
class Target:
    name: str
    up: Callable[[], Deployment]
    down: Callable[[], None]
    pids: Callable[[], set[int]]
    scale: float = 1.0


def run_target(target: Target, args: argparse.Namespace, wanted: set[str]) -> tuple[dict[str, Any], list[float]]:
    from jobkit.deploy.synth import STAMP

    figures: dict[str, Any] = {}
    samples: list[float] = []
    if "ready" in wanted:
        STAMP.unlink(missing_ok=True)
        start = time.monotonic()
        target.up()
        figures["ready_uncached_s"] = round(time.monotonic() - start, 2)
        target.down()
    start = time.monotonic()
    deployment = target.up()
    if "ready" in wanted:
        figures["ready_s"] = round(time.monotonic() - start, 2)
    try:
        api = JobsApi.for_deployment(deployment)
        both = deployment.consumer_ids()
        with TreeSampler(target.pids) as sampler, StreamWatcher(deployment, both) as watcher:
            warm_up(api, both)
            if "memory" in wanted:
                figures["memory_ready_mb"] = round(sampler.sample())
            if "overhead" in wanted:
                samples = overhead(watcher, api, args.jobs, target.scale)
                figures.update(overhead_percentiles(samples))
            figures.update(burst_figures(watcher, api, sampler,
                                         args.burst_localstack if target.name == "localstack" else args.burst))
            figures["throughput_ceiling_jobs_per_s"] = round(ceiling(deployment, watcher, target.scale), 1)
            figures["failure_path_ms"] = round(failure_path(api, both))
            figures["replay_round_trip_ms"] = round(replay_round_trip(deployment, api))
            figures["reset_ms"] = round(reset_time(deployment), 1)
            if "suite" in wanted:
                try:
                    figures["suite_s"] = round(suite(deployment), 1)
                except SuiteFailed as failed:  # the other figures stand; the failure is reported with them
                    figures["suite_failed"] = str(failed)
        if "memory" in wanted:
            figures["memory_peak_mb"] = round(sampler.peak)
    finally:
        target.down()
    print(f"  {target.name}: {figures}", flush=True)
    return figures, samples


def engine_pids() -> set[int]:
    """The running embedded engine's process tree (the engine and its function environments)."""
    from jobkit.targets.embedded import PID_FILE

    root = int(PID_FILE.read_text())
    return {root} | descendants(root)


def moto_floor(jobs: int = 200) -> float:
    """Milliseconds per job for moto alone doing the pattern's table writes in process."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST",
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
        start = time.monotonic()
        for n in range(jobs):
            key = {"id": {"S": f"j{n}"}}
            ddb.put_item(TableName="t", Item={**key, "job_status": {"M": {}}, "seconds": {"N": "1"},
                                              "version": {"N": "0"}})
            for version, (consumer, status) in enumerate([("c1", "Running"), ("c2", "Running"),
                                                          ("c1", "Success"), ("c2", "Success")]):
                ddb.update_item(TableName="t", Key=key, UpdateExpression="SET job_status.#c = :s, version = :n",
                                ConditionExpression="version = :v", ExpressionAttributeNames={"#c": consumer},
                                ExpressionAttributeValues={":s": {"M": {"status": {"S": status}}},
                                                           ":v": {"N": str(version)}, ":n": {"N": str(version + 1)}})
        return (time.monotonic() - start) * 1000 / jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=50, help="sequential jobs for the overhead percentiles")
    parser.add_argument("--burst", type=int, default=300, help="jobs submitted at once for the throughput")
    parser.add_argument("--burst-localstack", type=int, default=60,
                        help="the same on LocalStack (it runs one job per consumer at a time: 300 would take 15 min)")
    parser.add_argument("--skip-localstack", action="store_true")
    args = parser.parse_args()
    ui = Ui(quiet=True)
    from jobkit.targets.embedded import EmbeddedSandbox

    real, fast = EmbeddedSandbox(time_scale=1.0), EmbeddedSandbox(time_scale=FAST_CLOCK)
    targets = [
        (Target("embedded", lambda: real.up(ui), lambda: real.down(ui), engine_pids),
         {"ready", "overhead", "memory"}),
        (Target(f"embedded x{FAST_CLOCK:g}", lambda: fast.up(ui), lambda: fast.down(ui), engine_pids, FAST_CLOCK),
         {"overhead", "suite", "memory"}),
    ]
    if not args.skip_localstack:
        from jobkit.targets.localstack.sandbox import HostSandbox

        host = HostSandbox()
        targets.append((Target("localstack", lambda: host.up(ui), lambda: host.down(ui), host.runtime.processes),
                        {"ready", "overhead", "suite", "memory"}))
    results: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[float]] = {}
    for target, wanted in targets:
        try:
            results[target.name], samples[target.name] = run_target(target, args, wanted)
        except Exception as exc:  # one target's failure leaves the other targets' figures standing
            results[target.name], samples[target.name] = {"failed": f"{type(exc).__name__}: {exc}"}, []
            print(f"  {target.name}: failed: {exc}", flush=True)
    floor = moto_floor()

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "compare.json").write_text(json.dumps(
        {"method": __doc__.strip().splitlines()[0], "jobs": args.jobs, "burst": args.burst,
         "fast_clock": FAST_CLOCK, "how": how(args), "moto_floor_ms_per_job": round(floor, 2),
         "targets": results, "overhead_samples_ms": {k: [round(v, 1) for v in vs] for k, vs in samples.items()}},
        indent=2) + "\n")
    print_table(results, floor)
    plot(samples, RESULTS / "overhead.png")
    print(f"(json: {RESULTS / 'compare.json'}, plot: {RESULTS / 'overhead.png'})")


def print_table(results: dict[str, dict[str, Any]], floor: float) -> None:
    names = list(results)
    keys = list(dict.fromkeys(k for figures in results.values() for k, v in figures.items()
                              if isinstance(v, int | float)))
    print(f"\n{'figure':<22}" + "".join(f"{n:>14}" for n in names) + f"{'ratio':>8}")
    for key in keys:
        row = f"{key:<22}" + "".join(f"{results[n].get(key, '-'):>14}" for n in names)
        e, ls = results.get("embedded", {}).get(key), results.get("localstack", {}).get(key)
        if isinstance(e, int | float) and isinstance(ls, int | float) and e and ls and key not in NO_RATIO:
            row += f"{(e / ls if key.endswith('per_s') else ls / e):>7.1f}x"
        print(row)
    for name, figures in results.items():
        for key in ("failed", "suite_failed"):
            if key in figures:
                print(f"{name}: {key.replace('_', ' ')}: {figures[key]}")
    p50 = results.get("embedded", {}).get("overhead_p50_ms")
    if p50:
        print(f"moto floor: {floor:.2f} ms per job of table writes in process; embedded overhead p50 is "
              f"{p50 / floor:.1f}x that")


def plot(samples: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {name: values for name, values in samples.items() if values}
    figure, axis = plt.subplots(figsize=(7, 3.5))
    axis.boxplot(list(shown.values()), tick_labels=list(shown), vert=False, showfliers=True)
    axis.set_xscale("log")
    axis.set_xlabel("POST until both consumers Success, minus the job's sleep (ms, log scale)")
    axis.set_title("Pipeline overhead per target (same run, this machine)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
