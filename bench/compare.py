"""Figures for both local targets in one run (prints a table, writes JSON and a PNG; not a test).

Per target: ready time (engine up + stack deployed; the synth cached), pipeline overhead (POST until both
consumers show Success, minus the job's own 1 s of sleep, at the target's real clock) p50/p95/p99 over
``--jobs`` sequential jobs polled every 10 ms after 3 warm-up jobs, a burst of ``--burst`` concurrent jobs
(jobs per second until all settled, and its p99), the failure path (``seconds: 301`` until both Failure),
and resident memory of the engine with every child process (Java, Node, function workers).
A floor beside them: moto alone, in process, doing a job's table writes (1 PutItem + 4 conditional
UpdateItems), so the engine's own overhead shows as a ratio. Run: ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.project import ROOT
from jobkit.ui import Ui

RESULTS = ROOT / "bench" / "results"


def rss_mb(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def descendants(root: int) -> set[int]:
    """The process and every descendant (function workers, Java, Node), by parent pid."""
    children: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(status.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def measure(deployment: Deployment, args: argparse.Namespace) -> tuple[dict[str, float], list[float]]:
    api = JobsApi.for_deployment(deployment)
    both = deployment.consumer_ids()
    for _ in range(3):  # warm-up: function environments started
        api.wait_for_statuses(api.submit(1), dict.fromkeys(both, "Success"), timeout=60, poll=0.01)
    overheads = []
    for _ in range(args.jobs):
        start = time.monotonic()
        job = api.submit(1)
        api.wait_for_statuses(job, dict.fromkeys(both, "Success"), timeout=60, poll=0.01)
        overheads.append((time.monotonic() - start - 1.0) * 1000)
    figures: dict[str, float] = {
        "overhead_p50_ms": round(percentile(overheads, 50)), "overhead_p95_ms": round(percentile(overheads, 95)),
        "overhead_p99_ms": round(percentile(overheads, 99)),
    }
    start = time.monotonic()
    job = api.submit(301)
    api.wait_for_statuses(job, dict.fromkeys(both, "Failure"), timeout=120, poll=0.01)
    figures["failure_path_ms"] = round((time.monotonic() - start) * 1000)

    def one(_: int) -> float:
        began = time.monotonic()
        job_id = api.submit(1)
        api.wait_for_statuses(job_id, dict.fromkeys(both, "Success"), timeout=600, poll=0.05)
        return time.monotonic() - began

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        latencies = list(pool.map(one, range(args.burst)))
    elapsed = time.monotonic() - start
    figures["burst_jobs_per_s"] = round(args.burst / elapsed, 1)
    figures["burst_p99_ms"] = round(percentile(latencies, 99) * 1000)
    return figures, overheads


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


def run_target(name: str, up: Callable[[], Deployment], down: Callable[[], None], pids: Callable[[], set[int]],
               args: argparse.Namespace) -> tuple[dict[str, float], list[float]]:
    start = time.monotonic()
    deployment = up()
    ready = time.monotonic() - start
    try:
        figures, overheads = measure(deployment, args)
        figures["ready_s"] = round(ready, 2)
        figures["memory_mb"] = round(rss_mb(pids()))
    finally:
        down()
    print(f"  {name}: done", flush=True)
    return figures, overheads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--burst", type=int, default=60)
    parser.add_argument("--skip-localstack", action="store_true")
    args = parser.parse_args()
    ui = Ui(quiet=True)
    from jobkit.deploy.synth import synth
    from jobkit.targets.common import LOCAL_CONTEXT
    from jobkit.targets.embedded import EmbeddedSandbox

    synth(LOCAL_CONTEXT)
    results: dict[str, dict[str, float]] = {}
    samples: dict[str, list[float]] = {}
    embedded = EmbeddedSandbox()
    results["embedded"], samples["embedded"] = run_target(
        "embedded", lambda: embedded.up(ui), lambda: embedded.down(ui),
        lambda: descendants(int((ROOT / ".jobkit" / "embedded" / "engine.pid").read_text())), args)
    if not args.skip_localstack:
        from jobkit.targets.localstack.sandbox import HostSandbox

        host = HostSandbox()
        results["localstack"], samples["localstack"] = run_target(
            "localstack", lambda: host.up(ui), lambda: host.down(ui), host.runtime.processes, args)
    floor = moto_floor()

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "compare.json").write_text(json.dumps(
        {"method": __doc__.strip().splitlines()[0], "jobs": args.jobs, "burst": args.burst,
         "moto_floor_ms_per_job": round(floor, 2), "targets": results}, indent=2) + "\n")
    keys = list(results["embedded"])
    print(f"\n{'figure':<18} {'embedded':>10} {'localstack':>11} {'ratio':>7}")
    for key in keys:
        e = results["embedded"][key]
        line = f"{key:<18} {e:>10}"
        if "localstack" in results:
            ls = results["localstack"][key]
            better_high = key.endswith("per_s")
            ratio = (e / ls if better_high else ls / e) if e and ls else 0
            line += f" {ls:>11} {ratio:>6.1f}x"
        print(line)
    print(f"moto floor: {floor:.2f} ms per job of table writes in process; embedded overhead p50 is "
          f"{results['embedded']['overhead_p50_ms'] / floor:.0f}x that")
    plot(samples, RESULTS / "overhead.png")
    print(f"(json: {RESULTS / 'compare.json'}, plot: {RESULTS / 'overhead.png'})")


def plot(samples: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 3.5))
    axis.boxplot(list(samples.values()), tick_labels=list(samples), vert=False, showfliers=True)
    axis.set_xscale("log")
    axis.set_xlabel("POST until both consumers Success, minus the job's 1 s (ms, log scale)")
    axis.set_title("Pipeline overhead per target (same run, this machine)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
