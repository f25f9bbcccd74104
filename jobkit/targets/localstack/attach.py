"""Attach to an engine someone else started (setup-localstack in GitHub Actions, a testcontainers LocalStack, any
emulator that answers LocalStack's health endpoint): deploy into it and test it, never stop it.

The engine's address is ``--endpoint-url``, else ``AWS_ENDPOINT_URL`` (the SDKs' endpoint of every service:
https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html), else ``LOCALSTACK_HOST`` (``host[:port]``,
port 4566 by default, as LocalStack and awslocal read it: https://docs.localstack.cloud/references/configuration/).
What the engine is (LocalStack's edition and version, or jobkit's embedded engine) comes from its
``GET /_localstack/health`` and chooses the scenarios' expected differences.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from jobkit.client.deployment import Deployment
from jobkit.errors import JobkitError
from jobkit.ui import Ui

#: the port LocalStack's gateway listens on unless told otherwise
DEFAULT_PORT = 4566
#: the version the embedded engine's health document gives (``jobkit.engine.core.server.health_document``)
EMBEDDED_VERSION = "jobkit-embedded"


@dataclass(frozen=True)
class Endpoint:
    url: str
    #: where it came from, for the line that says nothing answers there
    source: str


def _checked(url: str, source: str) -> str:
    parts = urlsplit(url)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok or not url.isascii() \
            or not url.isprintable() or any(c.isspace() for c in url) or parts.query or parts.fragment:
        raise JobkitError(f"{source} is not an engine's address: {url!r}", "e.g. http://localhost:4566")
    return url.rstrip("/")


def resolve_endpoint(option: str | None, environ: Mapping[str, str] = os.environ) -> Endpoint | None:
    """The running engine to attach to, or None (jobkit starts its own)."""
    if option is not None and option.strip():
        return Endpoint(_checked(option.strip(), "--endpoint-url"), "--endpoint-url")
    url = environ.get("AWS_ENDPOINT_URL", "").strip()
    if url:
        return Endpoint(_checked(url, "AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL")
    host = environ.get("LOCALSTACK_HOST", "").strip()
    if host:
        name, colon, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
        if not colon:
            name, port = host, str(DEFAULT_PORT)
        if not port.isdigit():
            raise JobkitError(f"LOCALSTACK_HOST is not host[:port]: {host!r}", "e.g. localhost:4566")
        return Endpoint(_checked(f"http://{name or 'localhost'}:{port}", "LOCALSTACK_HOST"), "LOCALSTACK_HOST")
    return None


@dataclass(frozen=True)
class Engine:
    """What an engine's health document says it is."""

    #: "embedded" (jobkit's engine) or "localstack" (LocalStack or any emulator that answers its health endpoint)
    kind: str
    edition: str
    version: str

    @property
    def keys(self) -> tuple[str, ...]:
        """The names a scenario's expected differences may be declared under, most specific first: an edition
        of LocalStack other than the community one (``localstack-pro``), then the engine's kind. localstack-core
        run from its package (not its image) answers the edition ``unknown``: the community engine."""
        if self.kind == "localstack" and self.edition not in ("", "community", "unknown"):
            return (f"localstack-{self.edition}", "localstack")
        return (self.kind,)

    def outputs(self) -> dict[str, str]:
        """Kept in the outputs file, so that whatever reads the deployment later knows the engine."""
        return {"JobkitEngine": self.kind, "JobkitEngineEdition": self.edition, "JobkitEngineVersion": self.version}

    @property
    def label(self) -> str:
        if self.kind == "embedded":
            return "jobkit's embedded engine"
        return f"LocalStack {self.edition or '?'} {self.version or '?'}".strip()


def engine_of(health: object) -> Engine:
    """LocalStack's health document (``{"services": {...}, "edition": ..., "version": ...}``) read as an engine;
    the embedded engine answers the same shape with version ``jobkit-embedded``."""
    document = health if isinstance(health, dict) else {}
    edition = str(document.get("edition") or "").strip().lower()
    version = str(document.get("version") or "").strip()
    kind = "embedded" if version == EMBEDDED_VERSION else "localstack"
    return Engine(kind, edition, version)


def identify(endpoint: Endpoint, timeout: float = 5.0) -> Engine:
    """The engine at ``endpoint``, from its health document; none there is one line."""
    session = requests.Session()
    session.trust_env = False  # a local address: never through a proxy
    url = f"{endpoint.url}/_localstack/health"
    try:
        answer = session.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise JobkitError(f"no engine answers at {endpoint.url} (from {endpoint.source}): "
                          f"{type(exc).__name__}", "start one, or leave out the address to let jobkit start "
                          "LocalStack") from None
    finally:
        session.close()
    try:
        document = answer.json() if answer.ok else None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise JobkitError(f"{endpoint.url} (from {endpoint.source}) is not an engine that answers LocalStack's "
                          f"health endpoint: GET /_localstack/health answered {answer.status_code}")
    return engine_of(document)


def engine_keys(deployment: Deployment) -> tuple[str, ...]:
    """The names a deployment's engine answers to (``Engine.keys``): the engine recorded at deploy time, else the
    deployment's target."""
    recorded = deployment.outputs.get("JobkitEngine")
    if not recorded:
        return (deployment.target,)
    return Engine(recorded, deployment.outputs.get("JobkitEngineEdition", ""),
                  deployment.outputs.get("JobkitEngineVersion", "")).keys


class AttachedSandbox:
    """``jobkit up --target localstack --endpoint-url URL``: the stack deployed into a running engine; ``down``
    leaves the engine running (jobkit did not start it)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    @property
    def endpoint_url(self) -> str:
        return self.endpoint.url

    def up(self, ui: Ui) -> Deployment:
        from jobkit.init_hooks import after_deploy
        from jobkit.targets.localstack.deploy import deploy

        engine = identify(self.endpoint)
        ui.say(f"attached to {engine.label} at {self.endpoint.url} (from {self.endpoint.source})")
        with ui.step("deploying the stack with cdklocal"):
            deployment = deploy(self.endpoint.url, ui.say, engine=engine)
        after_deploy(deployment, ui.say)
        return deployment

    def down(self, ui: Ui) -> None:
        ui.say(f"the engine at {self.endpoint.url} was started by someone else: left running")

    def running(self) -> bool:
        try:
            identify(self.endpoint, timeout=2)
        except JobkitError:
            return False
        return True
