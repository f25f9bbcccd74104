"""Attaching to an engine someone else started: where its address comes from (``--endpoint-url``, then
AWS_ENDPOINT_URL, then LOCALSTACK_HOST), what its health endpoint says it is, the scenarios' expected differences
chosen from that, and one line when no engine is there. A tiny HTTP server on a free port plays the engine."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from jobkit.client.deployment import Deployment
from jobkit.errors import JobkitError
from jobkit.project import ROOT
from jobkit.targets.localstack.attach import (
    AttachedSandbox,
    Endpoint,
    Engine,
    engine_keys,
    engine_of,
    identify,
    resolve_endpoint,
)
from jobkit.targets.registry import sandbox
from scenarios._model import Difference, Scenario
from scenarios._runner import discover

LOCALSTACK_HEALTH = {"services": {"dynamodb": "running", "lambda": "available"}, "edition": "community",
                     "version": "4.14.0"}


class _Health(BaseHTTPRequestHandler):
    document: Any = LOCALSTACK_HEALTH
    status = 200

    def do_GET(self) -> None:  # the name http.server calls
        body = json.dumps(self.document).encode() if self.path == "/_localstack/health" else b"{}"
        self.send_response(self.status if self.path == "/_localstack/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


def _serve(document: Any, status: int = 200) -> Iterator[str]:
    handler = type("Handler", (_Health,), {"document": document, "status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def localstack_like() -> Iterator[str]:
    yield from _serve(LOCALSTACK_HEALTH)


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------ the address
def test_the_option_comes_before_the_environment() -> None:
    env = {"AWS_ENDPOINT_URL": "http://env:4566", "LOCALSTACK_HOST": "other:4510"}
    assert resolve_endpoint("http://given:4566/", env) == Endpoint("http://given:4566", "--endpoint-url")
    assert resolve_endpoint(None, env) == Endpoint("http://env:4566", "AWS_ENDPOINT_URL")
    assert resolve_endpoint(None, {"LOCALSTACK_HOST": "other:4510"}) == Endpoint("http://other:4510",
                                                                                 "LOCALSTACK_HOST")
    assert resolve_endpoint(None, {}) is None
    assert resolve_endpoint("", {"AWS_ENDPOINT_URL": " "}) is None


def test_localstack_host_is_host_and_port_4566_by_default() -> None:
    assert resolve_endpoint(None, {"LOCALSTACK_HOST": "localstack"}).url == "http://localstack:4566"  # type: ignore[union-attr]
    assert resolve_endpoint(None, {"LOCALSTACK_HOST": ":4567"}).url == "http://localhost:4567"  # type: ignore[union-attr]
    with pytest.raises(JobkitError, match="LOCALSTACK_HOST is not host"):
        resolve_endpoint(None, {"LOCALSTACK_HOST": "localstack:port"})


@pytest.mark.parametrize("bad", ["localhost:4566", "ftp://h:1", "http://", "http://h:99999", "http://h:1/?q=1",
                                 "http://h :1"])
def test_an_address_that_is_not_a_url_is_one_line(bad: str) -> None:
    with pytest.raises(JobkitError, match="--endpoint-url is not an engine's address"):
        resolve_endpoint(bad, {})


# ------------------------------------------------------------------------------------- what the engine is
def test_localstack_is_told_from_the_embedded_engine_by_its_health_document(localstack_like: str) -> None:
    engine = identify(Endpoint(localstack_like, "--endpoint-url"))
    assert engine == Engine("localstack", "community", "4.14.0")
    assert engine.keys == ("localstack",)
    assert engine_of({"edition": "community", "version": "jobkit-embedded"}).keys == ("embedded",)
    assert engine_of({"edition": "pro", "version": "4.14.0"}).keys == ("localstack-pro", "localstack")
    assert engine_of({"edition": "unknown", "version": "4.14.0"}).keys == ("localstack",)  # localstack-core from pip
    assert engine_of({"services": {}}).keys == ("localstack",)  # another emulator on LocalStack's health shape


def test_an_engine_that_is_not_there_is_one_line(free_port: int) -> None:
    with pytest.raises(JobkitError, match=rf"no engine answers at http://127.0.0.1:{free_port} \(from "
                                          r"AWS_ENDPOINT_URL\)"):
        identify(Endpoint(f"http://127.0.0.1:{free_port}", "AWS_ENDPOINT_URL"), timeout=2)


def test_a_server_without_the_health_endpoint_is_not_an_engine() -> None:
    for url in _serve({"message": "nope"}, status=404):
        with pytest.raises(JobkitError, match="GET /_localstack/health answered 404"):
            identify(Endpoint(url, "--endpoint-url"))


def test_the_recorded_engine_chooses_the_expected_differences() -> None:
    def on(**engine: str) -> Deployment:
        return Deployment(target="localstack", outputs=engine, endpoint_url="http://h:4566", region="us-east-1")

    embedded_as_localstack = on(**Engine("embedded", "community", "jobkit-embedded").outputs())
    pro = on(**Engine("localstack", "pro", "4.14.0").outputs())
    assert engine_keys(on()) == ("localstack",)  # an outputs file written before engines were recorded
    assert engine_keys(embedded_as_localstack) == ("embedded",)
    auth = discover()["auth"]
    assert auth.difference_on(engine_keys(on())) is auth.differences["localstack"]
    assert auth.difference_on(engine_keys(embedded_as_localstack)) is None  # the embedded engine enforces IAM
    assert auth.difference_on(engine_keys(pro)) is auth.differences["localstack"]
    only_pro = Scenario("x", "x", run=lambda _ctx: None, differences={
        "localstack-pro": Difference("pro", "p"), "localstack": Difference("community", "c")})
    assert only_pro.difference_on(engine_keys(pro)).reason == "pro"  # type: ignore[union-attr]
    clock = Scenario("y", "y", run=lambda _ctx: None, needs=frozenset({"sandbox clock"}))
    assert clock.missing_on(engine_keys(embedded_as_localstack)) == frozenset()
    assert clock.missing_on(engine_keys(pro)) == frozenset({"sandbox clock"})


# ----------------------------------------------------------------------------------- the CLI and registry
def test_the_environment_attaches_unless_a_runtime_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4599")
    box = sandbox("localstack")
    assert isinstance(box, AttachedSandbox) and box.endpoint == Endpoint("http://127.0.0.1:4599", "AWS_ENDPOINT_URL")
    assert not isinstance(sandbox("localstack", "host"), AttachedSandbox)
    with pytest.raises(JobkitError, match="--runtime starts one"):
        sandbox("localstack", "host", endpoint_url="http://127.0.0.1:4599")
    with pytest.raises(JobkitError, match="with --target localstack"):
        sandbox("embedded", endpoint_url="http://127.0.0.1:4599")


def _jobkit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "LOCALSTACK_HOST")}
    return subprocess.run([sys.executable, "-m", "jobkit.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False, env={**clean, "PYTHONPATH": str(ROOT), **(env or {})})


def test_up_against_no_engine_is_one_line_and_exit_2(free_port: int) -> None:
    for ran in (_jobkit("up", "--target", "localstack", "--endpoint-url", f"http://127.0.0.1:{free_port}",
                        "--detach"),
                _jobkit("deploy", "--target", "localstack", env={"LOCALSTACK_HOST": f"127.0.0.1:{free_port}"})):
        assert ran.returncode == 2, ran.stderr
        lines = ran.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"jobkit: no engine answers at http://127.0.0.1:{free_port}")


def test_down_leaves_an_engine_it_attached_to_running(localstack_like: str) -> None:
    ran = _jobkit("down", "--target", "localstack", "--endpoint-url", localstack_like)
    assert ran.returncode == 0
    assert f"the engine at {localstack_like} was started by someone else: left running" in ran.stderr
    assert AttachedSandbox(Endpoint(localstack_like, "--endpoint-url")).running()


def test_the_pytest_plugin_fails_the_session_in_one_line_when_no_engine_is_there(tmp_path: Path,
                                                                                 free_port: int) -> None:
    (tmp_path / "test_inner.py").write_text("def test_uses(jobkit_deployment):\n    pass\n")
    clean = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "LOCALSTACK_HOST")}
    ran = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_inner.py",
                          "--target", "localstack", "--jobkit-outputs", str(tmp_path / "none.json")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
                         env={**clean, "PYTHONPATH": str(ROOT), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port}"})
    assert ran.returncode == 1, ran.stdout
    assert f"jobkit: no engine answers at http://127.0.0.1:{free_port} (from AWS_ENDPOINT_URL)" in ran.stdout
    ran = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_inner.py",
                          "--target", "embedded", "--endpoint-url", "http://127.0.0.1:1"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
                         env={**clean, "PYTHONPATH": str(ROOT)})
    assert ran.returncode != 0 and "--endpoint-url attaches to a running engine with --target localstack" in ran.stderr
