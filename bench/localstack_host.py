"""Figures for the LocalStack host runtime (prints a table; not a test).

Measures: time to healthy and to Ready. (first run: environment created; warm: engine environment cached),
deploy time, POST until both consumers show Success (p50 and max over N jobs of 1 s, minus the job's own
second), and the engine's resident memory with all its children (Java, Node). Run: `make bench`.
Stops any engine of this project first, so the first run measures a cold start of the engine process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from jobkit.client.jobs_api import JobsApi
from jobkit.project import ROOT
from jobkit.targets.localstack.deploy import deploy
from jobkit.targets.localstack.host import HostRuntime
from jobkit.ui import Ui


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "localstack_host.json")
    args = parser.parse_args()
    ui = Ui(quiet=True)
    runtime = HostRuntime(ROOT)
    runtime.down(ui)
    figures: dict[str, float | int | str] = {}

    for label in ("first", "warm"):
        t0 = time.monotonic()
        runtime.up(ui)
        figures[f"healthy_{label}_s"] = round(time.monotonic() - t0, 2)
        t1 = time.monotonic()
        deployment = deploy(runtime.endpoint_url, lambda _message: None)
        figures[f"deploy_{label}_s"] = round(time.monotonic() - t1, 2)
        figures[f"ready_{label}_s"] = round(time.monotonic() - t0, 2)
        if label == "first":
            runtime.down(ui)

    api = JobsApi.for_deployment(deployment)
    consumers = deployment.consumer_ids()
    overheads = []
    for _ in range(args.jobs):
        start = time.monotonic()
        job = api.submit(1)
        api.wait_for_statuses(job, dict.fromkeys(consumers, "Success"), timeout=60, poll=0.02)
        overheads.append(time.monotonic() - start - 1.0)
    figures["jobs"] = args.jobs
    figures["post_to_success_overhead_p50_ms"] = round(statistics.median(overheads) * 1000)
    figures["post_to_success_overhead_max_ms"] = round(max(overheads) * 1000)
    figures["engine_rss_with_children_mb"] = round(rss_mb(runtime.processes()))
    runtime.down(ui)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n")
    width = max(len(k) for k in figures)
    print("LocalStack host runtime (localstack-core 2026.3.0), this machine:")
    for key, value in figures.items():
        print(f"  {key:<{width}}  {value}")
    print(f"(json: {args.json}; overhead = POST until both consumers Success, minus the job's 1 s)")


if __name__ == "__main__":
    main()
