"""What recording job traces costs the embedded engine, recording on and off in one run (prints, writes JSON).

Overhead p50 and CPU per job with recording on (the default) and off (``JOBKIT_TRACE_JOBS=0``); not a test.

The two settings alternate (on, off, off, on, ...), each in an engine of its own, so that the machine's drift
reaches both alike; each figure is taken as ``compare.py`` takes it, by its functions. The budget: recording costs
at most 5 % of the overhead p50 (the figure with recording on, as ``make bench`` reports it). A run's overhead
p50 moves by more than that between two engines of the same setting, so the end-to-end difference is told with
that spread, and beside it what recording itself takes: a job's hops, as the engine recorded them, recorded again
in process. Run: ``python bench/trace_cost.py`` (``--help`` for the sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import time
from typing import Any

import requests
from compare import (
    JOB_SECONDS,
    RESULTS,
    StreamWatcher,
    TreeSampler,
    burst_figures,
    engine_pids,
    overhead,
    percentile,
    warm_up,
)

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.engine.core.trace import TRACE_JOBS_ENV, JobTraces
from jobkit.ui import Ui

SETTINGS = {"on": None, "off": "0"}  # JOBKIT_TRACE_JOBS: unset (the default, 10,000 jobs kept), or 0
BUDGET_PERCENT = 5.0


def how(args: argparse.Namespace) -> dict[str, str]:
    return {
        "overhead_p50_ms": f"compare.py's overhead: {args.jobs} sequential {JOB_SECONDS} s jobs after 3 warm-up jobs "
                           f"per engine, {args.rounds} engines per setting; the p50 of all of a setting's samples",
        "overhead_p50_spread_ms": "the highest minus the lowest p50 of one engine among a setting's engines: how "
                                  "far two engines of the same code and setting differ in this run",
        "throughput_cpu_ms_per_job": f"compare.py's burst of {args.burst} jobs per engine: CPU of the engine's "
                                     "process tree per job, the median of a setting's engines",
        "recording_cost_percent": "(overhead p50 on - off) / overhead p50 on x 100",
        "record_us_per_job": "a job's hops as the engine recorded them (its trace read back through GET "
                             "/_jobkit/jobs/{id}/trace), recorded again into a JobTraces of the default size in "
                             "this process, for 20,000 jobs: microseconds per job",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(setting: str, port: int, args: argparse.Namespace, ui: Ui) -> tuple[dict[str, Any], list[float],
                                                                                list[dict[str, Any]]]:
    """One engine with recording ``setting``: its overhead samples, burst figures, and one job's recorded hops
    (none when off: the engine answers 404 for a trace it did not keep)."""
    from jobkit.targets.embedded import EmbeddedSandbox

    value = SETTINGS[setting]
    if value is None:
        os.environ.pop(TRACE_JOBS_ENV, None)
    else:
        os.environ[TRACE_JOBS_ENV] = value
    sandbox = EmbeddedSandbox(port=port, time_scale=1.0)
    deployment = sandbox.up(ui)
    try:
        api = JobsApi.for_deployment(deployment)
        both = deployment.consumer_ids()
        with TreeSampler(engine_pids) as sampler, StreamWatcher(deployment, both) as watcher:
            warm_up(api, both)
            samples = overhead(watcher, api, args.jobs, 1.0)
            figures = burst_figures(watcher, api, sampler, args.burst)
        hops = recorded_hops(deployment, api, both)
        if bool(hops) != (setting == "on"):
            raise RuntimeError(f"recording {setting}, but the engine {'kept no' if not hops else 'kept a'} trace")
    finally:
        sandbox.down(ui)
        os.environ.pop(TRACE_JOBS_ENV, None)
    return figures, samples, hops


def recorded_hops(deployment: Deployment, api: JobsApi, both: list[str]) -> list[dict[str, Any]]:
    """The hops the engine recorded for one more job, as it recorded them (times back to epoch seconds)."""
    job = api.submit(JOB_SECONDS)
    api.wait_for_statuses(job, dict.fromkeys(both, "Success"), timeout=60, poll=0.01)
    answer = requests.get(f"{deployment.endpoint_url}/_jobkit/jobs/{job}/trace", timeout=10)
    if answer.status_code == 404:
        return []
    answer.raise_for_status()
    hops: list[dict[str, Any]] = answer.json()["hops"]
    for hop in hops:
        del hop["at"]  # recorded at the time of recording, as the engine records most hops
        hop.pop("error", None)  # a successful job's hops carry none (a failed one's raw document is recorded)
    return hops


def record_us_per_job(hops: list[dict[str, Any]], jobs: int = 20_000) -> float:
    """Microseconds ``JobTraces.record`` takes for one job's hops, over ``jobs`` jobs (past the default limit
    the oldest job is dropped for each new one, as in an engine that has run a while)."""
    traces = JobTraces()
    start = time.perf_counter()
    for n in range(jobs):
        job = f"job-{n}"
        for hop in hops:
            traces.record(job, **hop)
    return (time.perf_counter() - start) * 1e6 / jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=50, help="sequential jobs per engine for the overhead")
    parser.add_argument("--burst", type=int, default=100, help="jobs submitted at once per engine for the CPU")
    parser.add_argument("--rounds", type=int, default=4, help="engines per setting (alternating; even: as many "
                        "engines of each setting first as second)")
    parser.add_argument("--port", type=int, default=0, help="the engines' port (default: a free one)")
    args = parser.parse_args()
    ui = Ui(quiet=True)
    port = args.port or free_port()
    samples: dict[str, list[float]] = {s: [] for s in SETTINGS}
    p50s: dict[str, list[float]] = {s: [] for s in SETTINGS}
    bursts: dict[str, list[dict[str, float]]] = {s: [] for s in SETTINGS}
    hops: list[dict[str, Any]] = []
    for round_ in range(args.rounds):
        # on, off, off, on, ...: a drift of the machine through the run weighs on both settings alike
        for setting in list(SETTINGS)[::-1 if round_ % 2 else 1]:
            figures, taken, recorded = measure(setting, port, args, ui)
            samples[setting] += taken
            p50s[setting].append(percentile(taken, 50))
            bursts[setting].append(figures)
            hops = recorded or hops
            print(f"  round {round_ + 1} recording {setting}: overhead p50 {percentile(taken, 50):.1f} ms, "
                  f"{figures}", flush=True)
    results = {s: {"overhead_p50_ms": round(percentile(samples[s], 50), 1),
                   "overhead_p50_spread_ms": round(max(p50s[s]) - min(p50s[s]), 1),
                   "throughput_cpu_ms_per_job": round(statistics.median(
                       b["throughput_cpu_ms_per_job"] for b in bursts[s]), 1),
                   "throughput_jobs_per_s": round(statistics.median(b["throughput_jobs_per_s"] for b in bursts[s]), 2)}
               for s in SETTINGS}
    on, off = results["on"]["overhead_p50_ms"], results["off"]["overhead_p50_ms"]
    cost = (on - off) / on * 100
    per_job = record_us_per_job(hops)
    document = {"method": __doc__.strip().splitlines()[0], "jobs": args.jobs, "burst": args.burst,
                "rounds": args.rounds, "how": how(args), "settings": results,
                "recording_cost_percent": round(cost, 1), "budget_percent": BUDGET_PERCENT,
                "hops_per_job": len(hops), "record_us_per_job": round(per_job, 1),
                "record_percent_of_overhead_p50": round(per_job / 1000 / on * 100, 2),
                "overhead_samples_ms": {s: [round(v, 1) for v in vs] for s, vs in samples.items()}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "trace_cost.json").write_text(json.dumps(document, indent=2) + "\n")
    print(f"\n{'recording':<10}{'overhead p50':>14}{'spread':>9}{'CPU/job':>10}{'jobs/s':>9}")
    for setting, figures in results.items():
        print(f"{setting:<10}{figures['overhead_p50_ms']:>11.1f} ms{figures['overhead_p50_spread_ms']:>6.1f} ms"
              f"{figures['throughput_cpu_ms_per_job']:>7.1f} ms{figures['throughput_jobs_per_s']:>9.2f}")
    print(f"recording costs {on - off:+.1f} ms of the overhead p50 ({cost:+.1f} %; budget {BUDGET_PERCENT:g} %); "
          f"recording a job's {len(hops)} hops takes {per_job:.1f} us in process "
          f"({per_job / 1000 / on * 100:.2f} % of the overhead p50)")
    print(f"(json: {RESULTS / 'trace_cost.json'})")


if __name__ == "__main__":
    main()
