"""``jobkit``: start a sandbox, deploy the stack, run the scenarios, read the functions' logs, replay failed events.

Every failure the user can act on is one clear line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import math
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from jobkit.client.deployment import Deployment
from jobkit.errors import JobkitError
from jobkit.project import OUTPUTS_FILE
from jobkit.targets.catalog import DEFAULT_TARGET, TARGET_NAMES
from jobkit.targets.registry import sandbox
from jobkit.ui import Ui, plain

if TYPE_CHECKING:
    from jobkit.failed_events import FailedEvent

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
scenarios_app = typer.Typer(no_args_is_help=True, help="List and run the fault scenarios.")
failed_app = typer.Typer(no_args_is_help=True, help="Failed events captured from FailedJobsEventBus.")
app.add_typer(scenarios_app, name="scenarios")
app.add_typer(failed_app, name="failed-events")
out = Console(soft_wrap=True)
ui = Ui()

TargetOption = Annotated[str, typer.Option("--target", "-t", help=f"one of {', '.join(TARGET_NAMES)}")]
OutputsOption = Annotated[Path, typer.Option("--outputs", help="the outputs file of the deployment")]
EndpointOption = Annotated[str | None, typer.Option(
    "--endpoint-url", help="localstack: attach to the engine already running at this address (default: "
    "$AWS_ENDPOINT_URL, else $LOCALSTACK_HOST, when set); jobkit never stops it")]


def _check_target(target: str) -> str:
    if target not in TARGET_NAMES:
        raise JobkitError(f"unknown target {target!r}", f"choose one of {', '.join(TARGET_NAMES)}")
    return target


def _deployment(target: str | None, outputs: Path) -> Deployment:
    return Deployment.load(outputs, target=target).require_up()


def _attached_deployment(target: str, outputs: Path, endpoint_url: str | None) -> Deployment:
    """The deployment of ``outputs``; on localstack with an engine's address (``--endpoint-url``,
    AWS_ENDPOINT_URL, LOCALSTACK_HOST), it must be on that engine: another engine's outputs would drive the
    wrong one."""
    if endpoint_url is not None and target != "localstack":
        raise JobkitError("--endpoint-url attaches to a running engine with --target localstack")
    deployment = _deployment(target, outputs)
    if target != "localstack":
        return deployment
    from jobkit.targets.localstack.attach import resolve_endpoint

    endpoint = resolve_endpoint(endpoint_url)
    if endpoint is not None and (deployment.endpoint_url or "").rstrip("/") != endpoint.url:
        raise JobkitError(f"{outputs} describes a deployment at {deployment.endpoint_url}, not at {endpoint.url} "
                          f"(from {endpoint.source})",
                          f"deploy into it: `jobkit deploy --target localstack --endpoint-url {endpoint.url}`")
    return deployment


def _print_ready(deployment: Deployment) -> None:
    # the values come from the outputs file: printed as plain text
    out.print("Ready.")
    out.print(plain(f"  Jobs API        {deployment['JobsApiUrl']}"))
    if deployment.endpoint_url:
        out.print(plain(f"  AWS endpoint    {deployment.endpoint_url}  (region {deployment.region})"))
    out.print(plain(f"  Invoke role     {deployment['JobsApiInvokeRoleArn']}"))
    out.print(plain(f"  Jobs table      {deployment['JobsTableName']}"))
    out.print(plain(f"  Outputs file    {OUTPUTS_FILE}"))


@app.command()
def up(
    target: TargetOption = DEFAULT_TARGET,
    runtime: Annotated[str | None, typer.Option(help="localstack only: host or docker (default: docker "
                                                    "where a Docker engine answers, else host)")] = None,
    detach: Annotated[bool, typer.Option(help="return once ready instead of staying in the foreground")] = False,
    time_scale: Annotated[float, typer.Option(help="embedded only: sandbox clock speed (retry delays, event "
                                                   "ages and the jobs' sleeps take 1/N of real time)")] = 1.0,
    watch: Annotated[bool, typer.Option(help="embedded, in the foreground: a saved handler reaches the "
                                             "functions, a saved stack is applied in place")] = True,
    archive_delay: Annotated[float | None, typer.Option(help="embedded only: seconds of the sandbox clock before "
                                                           "an archived event is counted and replayable, as "
                                                           "archiving lags on AWS (default 0; "
                                                           "JOBKIT_ARCHIVE_DELAY)")] = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Start a sandbox (or attach to a running LocalStack), deploy the stack into it, print Ready. and the
    endpoints."""
    if not (math.isfinite(time_scale) and time_scale > 0):
        raise JobkitError(f"--time-scale must be a positive number, got {time_scale}")
    if _check_target(target) == "embedded":
        from jobkit.engine.core.front_door import FrontDoorSettings
        from jobkit.engine.core.trace import trace_jobs_from_env
        from jobkit.engine.services.events.buses import ARCHIVE_DELAY_ENV, archive_delay_from_env

        if archive_delay is not None:  # the engine (in this process or the one it starts) reads the setting
            os.environ[ARCHIVE_DELAY_ENV] = f"{archive_delay:g}"
        FrontDoorSettings.from_env()  # a bad setting is one line now, not after the synth
        trace_jobs_from_env()
        archive_delay_from_env()
    elif archive_delay is not None:
        raise JobkitError("--archive-delay is served by the embedded engine only")
    if endpoint_url is not None and target != "localstack":
        raise JobkitError("--endpoint-url attaches to a running engine with --target localstack")
    if target == "embedded" and not detach:
        from jobkit.targets.embedded import serve

        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())

        def ready(deployment: Deployment, seconds: float) -> None:
            _print_ready(deployment)
            out.print(f"(ready in {seconds:.1f} s; one line per hop below) Press Ctrl-C to stop.")

        serve(time_scale=time_scale, on_ready=ready, stop=stop, watch=watch)
        return
    box = sandbox(target, runtime, time_scale=time_scale, endpoint_url=endpoint_url)
    deployment = box.up(ui)
    _print_ready(deployment)
    if detach:
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    follow = getattr(box, "follow", None) if watch else None  # the host runtime runs code where it lies
    watcher = follow(deployment, ui).start() if follow is not None else None
    out.print("Press Ctrl-C to stop." + (" Saved handlers and stack changes are applied as they come."
                                         if watcher is not None else ""))
    try:
        stop.wait()
    finally:
        if watcher is not None:
            watcher.stop()
        box.down(ui)


@app.command()
def down(target: TargetOption = DEFAULT_TARGET,
         runtime: Annotated[str | None, typer.Option(help="localstack only: host or docker")] = None,
         endpoint_url: EndpointOption = None) -> None:
    """Stop a sandbox and everything it started (an engine it attached to is left running)."""
    if _check_target(target) == "localstack" and endpoint_url is None and runtime is None:
        # what jobkit started is stopped even with AWS_ENDPOINT_URL exported (``eval "$(jobkit env)"``)
        from jobkit.targets.registry import docker_engine_answers

        runtime = "docker" if docker_engine_answers() else "host"
    sandbox(target, runtime, endpoint_url=endpoint_url).down(ui)


@app.command()
def deploy(
    target: Annotated[str | None, typer.Option(
        "--target", "-t", help=f"one of {', '.join(TARGET_NAMES)} (default: embedded when its sandbox runs, "
        "else aws)")] = None,
    fault_injection: Annotated[bool, typer.Option(help="deploy the fault plans (aws: off by default)")] = False,
    endpoint_url: Annotated[str | None, typer.Option(
        help="localstack: the engine's address (default: $AWS_ENDPOINT_URL, else $LOCALSTACK_HOST, else "
        "http://127.0.0.1:4566)")] = None,
    public_endpoint_url: Annotated[str | None, typer.Option(
        help="localstack: the address the outputs file gives (default: --endpoint-url)")] = None,
) -> None:
    """Deploy the stack: to the running embedded sandbox in place (its data kept), to a running LocalStack or to
    AWS (``cdk deploy`` with the same outputs file)."""
    if target is None:
        target = "embedded" if sandbox("embedded", None).running() else "aws"
    if _check_target(target) == "aws":
        from jobkit.targets.aws import deploy_to_aws

        deployment = deploy_to_aws(ui, fault_injection=fault_injection)
    elif target == "localstack":
        from jobkit.init_hooks import after_deploy
        from jobkit.targets.localstack.attach import Endpoint, identify, resolve_endpoint
        from jobkit.targets.localstack.deploy import deploy as deploy_localstack

        endpoint = resolve_endpoint(endpoint_url) or Endpoint("http://127.0.0.1:4566", "the default address")
        engine = identify(endpoint)  # none there is one line, before cdklocal starts
        deployment = deploy_localstack(endpoint.url, ui.say, public_endpoint_url=public_endpoint_url, engine=engine)
        after_deploy(deployment, ui.say)
    else:
        from jobkit.targets.embedded import deploy_in_place

        deployment = deploy_in_place(ui)
    _print_ready(deployment)


@app.command()
def reset(target: TargetOption = DEFAULT_TARGET, outputs: OutputsOption = OUTPUTS_FILE) -> None:
    """Clear a sandbox's data (table items and stream, queues, archive, logs, fault plans, the clock's jumps) and
    keep every deployed resource."""
    from jobkit.targets.common import reset_lines

    if _check_target(target) == "aws":
        raise JobkitError("reset clears a local sandbox's data; it never deletes data on AWS",
                          "use --target embedded or --target localstack")
    if target == "embedded":
        from jobkit.targets.embedded import reset_in_place

        summary = reset_in_place(ui)
        out.print(f"reset in {summary['milliseconds']:g} ms; every resource kept")
    else:
        from jobkit.targets.localstack.reset import reset as reset_localstack

        deployment = _deployment(target, outputs)
        with ui.step("clearing LocalStack's data through the AWS APIs"):
            summary = reset_localstack(deployment)
        out.print(f"reset in {summary['milliseconds'] / 1000:.2f} s: LocalStack is reset through the AWS APIs, "
                  "slower than the embedded engine's own reset; every resource kept")
    for line in reset_lines(summary):
        out.print(plain(line))


@app.command()
def destroy(target: TargetOption = "aws") -> None:
    """Delete the stack from AWS (``cdk destroy``)."""
    if _check_target(target) != "aws":
        raise JobkitError("only the aws target is destroyed; stop a sandbox with `jobkit down`")
    from jobkit.targets.aws import destroy_on_aws

    destroy_on_aws(ui)


# --- the sandbox from a shell ---------------------------------------------------------------------------
@app.command()
def env(target: TargetOption = DEFAULT_TARGET, outputs: OutputsOption = OUTPUTS_FILE) -> None:
    """Print the exports that point the AWS CLI, the SDKs and awslocal at the deployment:
    eval "$(jobkit env)"."""
    from jobkit.client.environment import exports

    deployment = _deployment(_check_target(target), outputs)
    variables = exports(deployment, str(outputs))
    if deployment.endpoint_url is None:
        ui.say("target aws: only the region is exported (your own credentials and AWS's endpoints apply)")
    for name, value in variables.items():
        typer.echo(f"export {name}={shlex.quote(value)}")


#: how often ``jobkit logs --follow`` asks for new lines
FOLLOW_INTERVAL = 0.5


@app.command()
def logs(
    function: Annotated[str | None, typer.Argument(
        help="consumer1, error-handler1, ... or a function's name or ARN (default: every function of the stack)",
        show_default=False)] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="print new lines as they come, until Ctrl-C")] = False,
    since: Annotated[str, typer.Option(help="30s, 10m, 2h, 1d or an ISO 8601 time")] = "10m",
    target: TargetOption = DEFAULT_TARGET,
    outputs: OutputsOption = OUTPUTS_FILE,
) -> None:
    """The stack's functions' CloudWatch Logs lines: time (UTC), function, message."""
    from jobkit.function_logs import LogLine, LogReader, message_text, parse_since, resolve
    from jobkit.lambda_runtime.report import log_timestamp

    start = parse_since(since)
    deployment = _deployment(_check_target(target), outputs)
    functions = resolve(deployment, function)
    width = max(len(f.short) for f in functions)

    def show(lines: list[LogLine]) -> None:
        # the messages are the functions' output: plain text, control characters escaped
        for line in lines:
            out.print(plain(f"{log_timestamp(line.timestamp / 1000)} {line.function:<{width}} "
                            f"{message_text(line.message)}"))

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)} \
        if follow else {}
    try:
        reader = LogReader.of(deployment, functions, start)
        show(reader.poll())
        while follow and not stop.wait(FOLLOW_INTERVAL):
            show(reader.poll())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --- scenarios -----------------------------------------------------------------------------------------
STYLE = {"passed": "green", "failed": "red", "not run": "yellow", "running": "cyan", "pending": "dim",
         "passed (expected difference)": "green"}


def _table(outcomes: list[Any], target: str) -> Table:
    table = Table(title=f"scenarios on {target}")
    table.add_column("scenario", no_wrap=True)
    table.add_column("outcome")
    table.add_column("duration", justify="right")
    table.add_column("detail", overflow="fold")
    for o in outcomes:
        # the detail quotes what the target answered: plain text
        table.add_row(plain(o.scenario.name), Text(o.status, style=STYLE.get(o.status, "")),
                      f"{o.duration:.1f} s" if o.duration else "", plain(o.detail))
    return table


@scenarios_app.command("list")
def scenarios_list() -> None:
    """The scenarios, what each checks, and where it expects a difference or needs the sandbox clock."""
    from scenarios._runner import discover

    table = Table()
    table.add_column("scenario", no_wrap=True)
    for column in ("checks", "per target"):
        table.add_column(column)
    for s in discover().values():
        notes = [f"{t}: expected difference" for t in s.differences] + [f"needs {n}" for n in sorted(s.needs)]
        table.add_row(s.name, s.title, "; ".join(notes))
    out.print(table)


def _write_report(kind: str, path: Path, write: Callable[[], None]) -> None:
    """Writes one report of a run; a path that cannot be written is one line."""
    try:
        write()
    except OSError as exc:
        raise JobkitError(f"cannot write the {kind} report {path}: {exc.strerror or exc}") from exc
    out.print(plain(f"{kind} report: {path}"))


@scenarios_app.command("run")
def scenarios_run(
    names: Annotated[list[str] | None, typer.Argument(help="scenario names (default: all)")] = None,
    target: TargetOption = DEFAULT_TARGET,
    outputs: OutputsOption = OUTPUTS_FILE,
    junit_xml: Annotated[Path | None, typer.Option("--junit-xml", help="write a JUnit report here")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="write an HTML report here: each outcome and its "
                                                             "jobs' timelines, one file that opens offline")] = None,
    parallel: Annotated[int, typer.Option(help="scenarios run at once")] = 4,
    endpoint_url: EndpointOption = None,
) -> None:
    """Run scenarios against a deployed target; a live table shows each outcome and duration. The expected
    differences are the engine's (LocalStack's edition, or jobkit's embedded engine), as its health endpoint
    said at deploy time."""
    from scenarios._runner import FAILED, run_all, select, write_junit

    selected = select(names)
    deployment = _attached_deployment(_check_target(target), outputs, endpoint_url)
    with Live(console=out, refresh_per_second=4) as live:
        outcomes = run_all(selected, deployment, parallel=parallel,
                           on_change=lambda o: live.update(_table(o, target)))
        live.update(_table(outcomes, target))
    # the reports are written whatever the outcomes: a failed run is when they are read
    if junit_xml:
        _write_report("JUnit", junit_xml, lambda: write_junit(outcomes, junit_xml, target))
    if html:
        from jobkit.page.report import read_traces, write_report

        traces = read_traces(deployment, outcomes)
        _write_report("HTML", html, lambda: write_report(outcomes, traces, html, target,
                                                         consumers=deployment.consumer_ids()))
    failed = [o for o in outcomes if o.status == FAILED]
    if failed:
        raise typer.Exit(1)


# --- failed events and replay --------------------------------------------------------------------------
def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise JobkitError(f"not an ISO 8601 time: {value!r}", "e.g. 2026-11-25T13:00:00Z") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@failed_app.command("list")
def failed_list(target: TargetOption = DEFAULT_TARGET, outputs: OutputsOption = OUTPUTS_FILE,
                since: Annotated[str | None, typer.Option()] = None,
                until: Annotated[str | None, typer.Option()] = None) -> None:
    """The failures that reached the bus: when, which handler, which job, the error."""
    from jobkit.failed_events import job_of, list_failed

    deployment = _deployment(_check_target(target), outputs)
    events = list_failed(deployment, _time(since), _time(until))
    out.print(_failed_table(events, lambda e: job_of(deployment, e)))
    out.print(f"{len(events)} failed event(s)")


def _failed_table(events: list[FailedEvent], job_of: Callable[[FailedEvent], dict[str, Any] | None]) -> Table:
    """One row per failure; every cell is event data (anyone who can put events on the bus writes it)."""
    table = Table()
    for column in ("time", "event id", "job", "function", "error"):
        table.add_column(column, overflow="fold")
    for e in events:
        job = job_of(e)
        table.add_row(*map(plain, (e.time, e.id, job["id"] if job else "?", e.function_name, e.error)))
    return table


@failed_app.command("export")
def failed_export(jsonl: Annotated[Path, typer.Option("--jsonl", help="file to write, one event per line")],
                  target: TargetOption = DEFAULT_TARGET, outputs: OutputsOption = OUTPUTS_FILE,
                  since: Annotated[str | None, typer.Option()] = None,
                  until: Annotated[str | None, typer.Option()] = None) -> None:
    """Write the captured failures, with their jobs, to a JSON Lines file (replayable anywhere)."""
    from jobkit.failed_events import export_jsonl

    deployment = _deployment(_check_target(target), outputs)
    count = export_jsonl(deployment, jsonl, _time(since), _time(until))
    out.print(plain(f"exported {count} failed event(s) to {jsonl}"))


@app.command()
def replay(target: TargetOption = DEFAULT_TARGET, outputs: OutputsOption = OUTPUTS_FILE,
           since: Annotated[str | None, typer.Option(help="ISO 8601; default: the archive's creation")] = None,
           until: Annotated[str | None, typer.Option(help="ISO 8601; default: now")] = None,
           archive: Annotated[str | None, typer.Option(help="default: the stack's archive")] = None,
           from_file: Annotated[Path | None, typer.Option("--from-file", help="an export to re-drive")] = None,
           ) -> None:
    """Replay archived failures (or an exported file) and show what became of each job."""
    from jobkit.replay import read_export, replay_archive, replay_events

    # the user's file is checked before the target is looked for: a bad file is reported even with none up
    exported = read_export(from_file) if from_file is not None else None
    deployment = _deployment(_check_target(target), outputs)
    with ui.step("replaying"):
        if exported is not None:
            result = replay_events(deployment, exported, say=ui.say)
        else:
            result = replay_archive(deployment, since=_time(since), until=_time(until), archive=archive,
                                    say=ui.say)
    out.print(plain(f"replay {result.name}: {result.state}, {len(result.events)} event(s) replayed"))
    out.print(_outcomes_table(result.outcomes, deployment.consumer_ids()))


def _outcomes_table(outcomes: dict[str, dict[str, Any]], consumers: list[str]) -> Table:
    """Each replayed job's status per consumer; ids and statuses are the target's data, printed as plain text."""
    table = Table()
    table.add_column("job")
    for consumer in consumers:
        table.add_column(consumer)
    for job_id, statuses in outcomes.items():
        cells = [seen.get("status", "-") if isinstance(seen := statuses.get(c), dict) else "-" for c in consumers]
        table.add_row(*map(plain, (job_id, *cells)))
    return table


# --- a job's trace ----------------------------------------------------------------------------------------
@app.command()
def trace(job_id: Annotated[str, typer.Argument(help="the job id POST /jobs answered")],
          target: TargetOption = DEFAULT_TARGET, outputs: OutputsOption = OUTPUTS_FILE,
          as_json: Annotated[bool, typer.Option("--json", help="the trace as JSON instead of a table")] = False,
          ) -> None:
    """What happened to a job: each hop (request, item, stream record, invocations, retries, on-failure record,
    SNS, error handler, bus, archive, replay) with its time and the milliseconds since the previous one."""
    import json

    from jobkit.client.traces import check_job_id, job_trace

    check_job_id(job_id)  # a bad id is said before the target is looked for
    found = job_trace(_deployment(_check_target(target), outputs), job_id)
    if as_json:
        print(json.dumps(found, indent=2))
        return
    out.print(_trace_table(found))


def _trace_table(found: dict[str, Any]) -> Table:
    """The timeline; every cell is the target's data (job ids, log lines): plain text."""
    from jobkit.client.traces import rows

    table = Table(title=plain(f"job {found.get('jobId', '?')}"))
    table.add_column("time", no_wrap=True)
    table.add_column("+ms", justify="right", no_wrap=True)
    for column in ("service", "hop"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail", overflow="fold")
    for row in rows(found):
        table.add_row(*map(plain, row))
    return table


def main(argv: list[str] | None = None) -> None:
    """Entry point: known failures become one line on stderr and exit 2."""
    err = Console(stderr=True)
    handlers: dict[type[BaseException], Callable[[BaseException], str]] = {
        JobkitError: lambda e: str(e),
        ClientError: lambda e: f"AWS refused: {e}",
        BotoCoreError: lambda e: f"AWS client error: {e}",
        AssertionError: lambda e: str(e),
    }
    try:
        # outside standalone mode, click returns a command's typer.Exit code instead of raising it
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("jobkit: interrupted")
        sys.exit(130)
    except Exception as exc:
        for kind, render in handlers.items():
            if isinstance(exc, kind):
                err.print(plain(f"jobkit: {render(exc)}"), soft_wrap=True)
                sys.exit(2)
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # a usage error of the CLI framework
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
