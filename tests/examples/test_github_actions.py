"""The GitHub Actions examples (examples/github-actions/): valid workflows, every jobkit and make command they run
accepted by the CLI's parser and the Makefile, both reports uploaded, and LocalStack's service container started
as the pytest plugin's container is."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.main import get_command

from jobkit.cli import app
from jobkit.project import ROOT
from jobkit.targets.catalog import TARGET_NAMES
from jobkit.targets.localstack.testcontainer import DOCKER_SOCKET, LOCALSTACK_IMAGE, container_settings

EXAMPLES = ROOT / "examples" / "github-actions"
WORKFLOWS = sorted(EXAMPLES.glob("*.yml"))


def load(path: Path) -> dict[str, Any]:
    workflow: dict[Any, Any] = yaml.safe_load(path.read_text())
    if True in workflow:  # YAML 1.1 (PyYAML) reads the key `on` as the boolean true; GitHub reads YAML 1.2
        workflow["on"] = workflow.pop(True)
    return workflow


def steps(workflow: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from job["steps"]


def commands(script: str) -> Iterator[list[str]]:
    """The commands of a step's ``run`` script: lines (continuations joined), split at ``&&``, ``||``, ``;``
    and ``|``, leading ``NAME=value`` assignments dropped."""
    for line in script.replace("\\\n", " ").splitlines():
        for part in re.split(r"&&|\|\||;|\|", line):
            argv = shlex.split(part, comments=True)
            while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", argv[0]):
                argv.pop(0)
            if argv:
                yield argv


def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9_.-]+):(?!=)", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))


def check_jobkit(args: list[str]) -> typer.Context:
    """Parses ``jobkit ARGS`` as the CLI would, without running it: an unknown command or option, a missing value
    or a wrong choice raises (the CLI framework's usage error, an AssertionError for a command or target)."""
    command: Any = get_command(app)
    ctx: typer.Context | None = None
    name = "jobkit"
    while hasattr(command, "list_commands"):  # a group: the next word names its command
        ctx = typer.Context(command, info_name=name, parent=ctx)
        assert args, f"`{ctx.command_path}` needs a command"
        name, *args = args
        command = command.get_command(ctx, name)
        assert command is not None, f"`{ctx.command_path}` has no command {name!r}"
    parsed: typer.Context = command.make_context(name, list(args), parent=ctx)
    target = parsed.params.get("target")
    assert target is None or target in TARGET_NAMES, f"`{parsed.command_path}`: no target {target!r}"
    return parsed


def check_command(argv: list[str]) -> None:
    program = Path(argv[0]).name
    if program == "make":
        goals = [a for a in argv[1:] if not a.startswith("-") and "=" not in a]
        missing = set(goals) - make_targets()
        assert not missing, f"`{shlex.join(argv)}`: no Makefile target {sorted(missing)}"
    elif program == "jobkit":
        check_jobkit(argv[1:])


def test_both_examples_are_there() -> None:
    assert [p.name for p in WORKFLOWS] == ["embedded-tests.yml", "localstack-tests.yml"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_validates_against_the_github_workflow_schema(path: Path) -> None:
    tool = shutil.which("check-jsonschema", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    assert tool, "check-jsonschema (PyPI) is a dev dependency"
    proc = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", str(path)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_has_triggers_and_jobs_whose_steps_each_run_or_use(path: Path) -> None:
    workflow = load(path)
    assert workflow["on"]
    assert workflow["jobs"]
    for job in workflow["jobs"].values():
        assert job["runs-on"] and job["steps"] and job["timeout-minutes"]
    for step in steps(workflow):
        assert ("run" in step) != ("uses" in step), step
        if "uses" in step:  # an action pinned to a release
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_jobkit_and_make_command_of_the_workflow_exists(path: Path) -> None:
    ran = [argv for step in steps(load(path)) if "run" in step for argv in commands(step["run"])]
    assert any(Path(argv[0]).name == "jobkit" for argv in ran)
    for argv in ran:
        check_command(argv)


@pytest.mark.parametrize("argv", [
    "make no-such-target", "jobkit no-such-command", "jobkit scenarios run --no-such-option",
    "jobkit up --target nowhere", "jobkit scenarios", ".venv/bin/jobkit scenarios run --junit-xml",
])
def test_the_command_check_refuses_what_does_not_exist(argv: str) -> None:
    with pytest.raises((AssertionError, typer.TyperException)):
        check_command(shlex.split(argv))


def test_commands_of_a_script_are_split_as_the_shell_would() -> None:
    script = "A=1 make setup && .venv/bin/jobkit up \\\n  --detach; echo done | tee log  # a comment\n"
    assert list(commands(script)) == [["make", "setup"], [".venv/bin/jobkit", "up", "--detach"], ["echo", "done"],
                                      ["tee", "log"]]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_both_reports_are_written_and_uploaded_whatever_the_outcome(path: Path) -> None:
    workflow = load(path)
    [scenarios] = [check_jobkit(argv[1:]) for step in steps(workflow) if "run" in step
                   for argv in commands(step["run"]) if argv[1:3] == ["scenarios", "run"]]
    junit, html = scenarios.params["junit_xml"], scenarios.params["html"]
    assert junit and html
    uploads = [s for s in steps(workflow) if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert any({str(junit), str(html)} <= set(s["with"]["path"].split()) and s["if"] == "always()" for s in uploads)
    [published] = [s for s in steps(workflow) if s.get("uses", "").startswith("mikepenz/action-junit-report@")]
    assert published["with"]["report_paths"] == str(junit) and published["if"] == "always()"


def test_the_embedded_example_needs_no_docker() -> None:
    workflow = load(EXAMPLES / "embedded-tests.yml")
    assert all("services" not in job and "container" not in job for job in workflow["jobs"].values())
    ran = [argv for step in steps(workflow) if "run" in step for argv in commands(step["run"])]
    assert not any("docker" in argv[0] for argv in ran)
    assert all(check_jobkit(argv[1:]).params.get("target") in (None, "embedded")
               for argv in ran if Path(argv[0]).name == "jobkit")


def test_the_localstack_service_container_is_started_as_the_plugins_container() -> None:
    workflow = load(EXAMPLES / "localstack-tests.yml")
    [job] = workflow["jobs"].values()
    service = job["services"]["localstack"]
    settings = container_settings({})
    assert service["image"] == LOCALSTACK_IMAGE
    assert {k: str(v) for k, v in service["env"].items()} == settings.env
    assert f"{DOCKER_SOCKET}:{DOCKER_SOCKET}" in service["volumes"]
    assert "/_localstack/health" in service["options"]
    assert "4566:4566" in service["ports"]


def test_the_localstack_example_deploys_with_cdklocal_into_the_service_container() -> None:
    workflow = load(EXAMPLES / "localstack-tests.yml")
    ran = [check_jobkit(argv[1:]) for step in steps(workflow) if "run" in step for argv in commands(step["run"])
           if Path(argv[0]).name == "jobkit"]
    [deploy] = [ctx for ctx in ran if ctx.info_name == "deploy"]
    assert deploy.params["target"] == "localstack" and deploy.params["endpoint_url"] == "http://127.0.0.1:4566"
    assert all(ctx.params["target"] == "localstack" for ctx in ran)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_the_scenarios_run_before_the_sandbox_is_stopped(path: Path) -> None:
    """The HTML report reads the jobs' traces from the target during the run: a stop step comes after it."""
    ran = [check_jobkit(argv[1:]).info_name for step in steps(load(path)) if "run" in step
           for argv in commands(step["run"]) if Path(argv[0]).name == "jobkit"]
    assert "run" in ran
    assert all(index > ran.index("run") for index, name in enumerate(ran) if name == "down")
