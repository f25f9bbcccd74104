"""Init hooks (LocalStack's ready.d convention): run in order after the deploy with the environment of
``jobkit env``, a failing one named with its output, a hanging one killed with its process group at its deadline,
and ``GET /_localstack/init`` answering their state in LocalStack's shape."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from jobkit.client.deployment import Deployment
from jobkit.client.waiting import wait_for
from jobkit.errors import JobkitError
from jobkit.init_hooks import (
    DEFAULT_DIR,
    ERROR,
    SUCCESSFUL,
    InitState,
    discover,
    failed_hook_lines,
    hook_environment,
    hook_timeout,
    init_dir,
    run_ready_hooks,
)

if TYPE_CHECKING:
    from jobkit.engine.runtime import EmbeddedEngine


def _script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _deployment() -> Deployment:
    return Deployment(target="embedded", outputs={"JobkitRegion": "eu-west-1"},
                      endpoint_url="http://127.0.0.1:4599", region="eu-west-1")


def test_hooks_run_in_order_with_the_environment_of_jobkit_env(tmp_path: Path) -> None:
    hooks, seen = tmp_path / "ready.d", tmp_path / "seen.txt"
    record = f'#!/bin/sh\necho "$0 $AWS_ENDPOINT_URL $AWS_REGION $AWS_ACCESS_KEY_ID" >> {seen}\n'
    _script(hooks, "20-second.sh", record)
    _script(hooks, "10-first.py", f"import os, sys\nopen({str(seen)!r}, 'a').write(sys.argv[0] + ' ' + "
                                  "os.environ['AWS_ENDPOINT_URL'] + ' ' + os.environ['AWS_DEFAULT_REGION'] + "
                                  "' ' + os.environ['AWS_SECRET_ACCESS_KEY'] + '\\n')\n")
    _script(hooks, "sub/05-in-a-subfolder.sh", record)  # a subfolder after the folder's own scripts
    _script(hooks, "README.md", "not a hook")
    lines: list[str] = []
    results = run_ready_hooks(hook_environment(_deployment(), base={"PATH": os.environ["PATH"]}), lines.append,
                              folder=hooks, timeout=60, logs=tmp_path / "logs")
    assert [r.name for r in results] == ["10-first.py", "20-second.sh", "sub/05-in-a-subfolder.sh"]
    assert all(r.state == SUCCESSFUL for r in results)
    ran = [line.split() for line in seen.read_text().splitlines()]
    assert [Path(r[0]).name for r in ran] == ["10-first.py", "20-second.sh", "05-in-a-subfolder.sh"]
    assert ran[0][1:] == ["http://127.0.0.1:4599", "eu-west-1", "test"]
    assert ran[1][1:] == ["http://127.0.0.1:4599", "eu-west-1", "test"]
    assert len(lines) == 3 and all(" failed" not in line for line in lines)


def test_a_failing_hook_is_named_with_its_output_and_the_others_go_on(tmp_path: Path) -> None:
    hooks = tmp_path / "ready.d"
    _script(hooks, "10-fails.sh", "#!/bin/sh\necho seeding the table\necho 'table not found' >&2\nexit 3\n")
    _script(hooks, "20-runs-after.py", "print('still ran')\n")
    _script(hooks, "30-not-executable.sh", "#!/bin/sh\nexit 0\n").chmod(0o644)
    lines: list[str] = []
    state = InitState()
    results = run_ready_hooks(dict(os.environ), lines.append, folder=hooks, state=state, timeout=60,
                              logs=tmp_path / "logs")
    assert [r.state for r in results] == [ERROR, SUCCESSFUL, ERROR]
    assert lines[0].startswith("init hook 10-fails.sh failed: exit 3: seeding the table | table not found")
    assert "not executable" in lines[2]
    assert (tmp_path / "logs" / "10-fails.sh.log").read_text() == "seeding the table\ntable not found\n"
    assert [s["state"] for s in state.document()["scripts"]] == [ERROR, SUCCESSFUL, ERROR]
    assert state.document()["completed"]["READY"] is True


def test_a_hanging_hook_and_its_children_are_killed_at_its_deadline(tmp_path: Path) -> None:
    hooks, child_pid = tmp_path / "ready.d", tmp_path / "child.pid"
    # the hook starts a child of its own and waits on it: both must be gone at the deadline
    _script(hooks, "10-hangs.sh", f"#!/bin/sh\necho waiting\nsleep 600 &\necho $! > {child_pid}\nwait\n")
    _script(hooks, "20-next.sh", "#!/bin/sh\nexit 0\n")
    lines: list[str] = []
    results = run_ready_hooks(dict(os.environ), lines.append, folder=hooks, timeout=1.5, logs=tmp_path / "logs")
    assert [r.state for r in results] == [ERROR, SUCCESSFUL]
    assert lines[0] == (f"init hook 10-hangs.sh failed: killed at its deadline of 1.5 s: waiting "
                        f"(output: {tmp_path / 'logs' / '10-hangs.sh.log'})")
    pid = int(child_pid.read_text())
    wait_for(lambda: _alive(pid), lambda alive: not alive, timeout=10, describe="the hook's child killed")


def _alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rfind(")") + 2] != "Z"


def test_jobkit_init_dir_names_another_folder(tmp_path: Path) -> None:
    assert init_dir({}) == DEFAULT_DIR
    assert init_dir({"JOBKIT_INIT_DIR": str(tmp_path)}) == tmp_path
    _script(tmp_path, "01-only.sh", "#!/bin/sh\n")
    assert discover(tmp_path) == [tmp_path / "01-only.sh"]
    assert discover(tmp_path / "absent") == []


def test_the_deadline_setting_is_checked() -> None:
    assert hook_timeout({"JOBKIT_INIT_TIMEOUT": "2.5"}) == 2.5
    for bad in ("0", "-1", "soon", "inf"):
        with pytest.raises(JobkitError, match="JOBKIT_INIT_TIMEOUT must be a positive number"):
            hook_timeout({"JOBKIT_INIT_TIMEOUT": bad})


def test_a_background_engines_log_gives_the_failing_hooks_lines() -> None:
    log = ("12:00:00 job - | init | init hook 10-a.sh: done in 0.1 s\n"
           "12:00:01 job - | init | init hook 20-b.sh failed: exit 1: boom (output: x.log)\n"
           "12:00:02 job abc | stream record | failed: no\n")
    assert failed_hook_lines(log) == ["init hook 20-b.sh failed: exit 1: boom (output: x.log)"]


def test_get_localstack_init_answers_localstacks_shape(engine: EmbeddedEngine, tmp_path: Path) -> None:
    hooks = tmp_path / "ready.d"
    _script(hooks, "10-ok.sh", "#!/bin/sh\n")
    _script(hooks, "20-fails.py", "raise SystemExit(1)\n")
    run_ready_hooks(dict(os.environ), lambda _line: None, folder=hooks, state=engine.init, timeout=60,
                    logs=tmp_path / "logs")
    answer = requests.get(f"{engine.endpoint_url}/_localstack/init", timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {
        "completed": {"BOOT": True, "START": True, "READY": True, "SHUTDOWN": False},
        "scripts": [{"stage": "READY", "name": "10-ok.sh", "state": "SUCCESSFUL"},
                    {"stage": "READY", "name": "20-fails.py", "state": "ERROR"}]}
    ready = requests.get(f"{engine.endpoint_url}/_localstack/init/ready", timeout=10).json()
    assert ready == {"completed": True, "scripts": answer.json()["scripts"]}
    assert requests.get(f"{engine.endpoint_url}/_localstack/init/SHUTDOWN", timeout=10).json() == {
        "completed": False, "scripts": []}
