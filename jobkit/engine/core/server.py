"""The engine's one HTTP endpoint (127.0.0.1:4566 by default), laid out like LocalStack's.

Routing, in order: ``/_localstack/health``; the REST APIs (``/restapis/{id}/{stage}/_user_request_/...`` and
host ``{id}.execute-api.localhost.localstack.cloud``) to the gateway; the AWS actions the compute plane owns
(Lambda Invoke, EventBridge PutEvents/StartReplay, ...) to their interceptors, and every action of a service the
engine serves whole (CloudFormation) to its own or to "not implemented"; everything else to moto's in-process
server, which is the store and control plane.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from moto.backends import list_of_moto_modules
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from jobkit.engine import moto as moto_patches
from jobkit.engine.core.chaos import Chaos
from jobkit.engine.core.endpoints import refuse
from jobkit.engine.core.errors import internal_failure, not_implemented, protocol_of, rest_operation
from jobkit.engine.core.front_door import FrontDoor, FrontDoorSettings, Refusal, request_limit, too_large
from jobkit.engine.moto import fast as moto_fast
from jobkit.engine.services.apigateway.gateway import RAW_HEADERS, refusal, sent_path
from jobkit.engine.services.iam.sts import assume_role
from jobkit.sandbox import ACCOUNT, REGION

_log = logging.getLogger("jobkit.engine")
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_USER_REQUEST = re.compile(r"^/restapis/([^/]+)/([^/]+)/_user_request_(/.*)?$")
_API_HOST = re.compile(r"^([a-z0-9]+)\.execute-api\.localhost\.localstack\.cloud(:\d+)?$")
_FN = "/functions/[^/]+"
_ESM = "/2015-03-31/event-source-mappings"
#: the Lambda API's REST paths of the actions the engine takes over (method, path, action; "Lambda API
#: Reference", each action's Request Syntax, https://docs.aws.amazon.com/lambda/latest/api/API_Operations.html)
_LAMBDA_ROUTES = tuple((method, re.compile(f"^{path}/?$"), action) for method, path, action in (
    ("POST", f"/2015-03-31{_FN}/invocations", "Invoke"), ("POST", f"/2014-11-13{_FN}/invoke-async", "InvokeAsync"),
    ("POST", "/2015-03-31/functions", "CreateFunction"), ("DELETE", f"/2015-03-31{_FN}", "DeleteFunction"),
    ("PUT", f"/2015-03-31{_FN}/code", "UpdateFunctionCode"),
    ("PUT", f"/2015-03-31{_FN}/configuration", "UpdateFunctionConfiguration"),
    ("PUT", f"/2019-09-25{_FN}/event-invoke-config", "PutFunctionEventInvokeConfig"),
    ("POST", f"/2019-09-25{_FN}/event-invoke-config", "UpdateFunctionEventInvokeConfig"),
    ("DELETE", f"/2019-09-25{_FN}/event-invoke-config", "DeleteFunctionEventInvokeConfig"),
    ("POST", _ESM, "CreateEventSourceMapping"), ("GET", _ESM, "ListEventSourceMappings"),
    ("GET", f"{_ESM}/[^/]+", "GetEventSourceMapping"), ("PUT", f"{_ESM}/[^/]+", "UpdateEventSourceMapping"),
    ("DELETE", f"{_ESM}/[^/]+", "DeleteEventSourceMapping"),
))
#: a connection silent this long (stalled before or inside a request, or an idle keep-alive) is closed
IDLE_TIMEOUT = 30.0
#: connections served at once; far above what the sandbox's own callers open (the functions' and the tests'
#: clients), so that hundreds of stalled clients still leave room for a real request
MAX_CONNECTIONS = 512
MAX_CHUNK_LINE = 4096
#: after a refusal, the unread body is discarded for at most this long, and this much
LINGER_SECONDS = 2.0
LINGER_BYTES = 128 * 1024 * 1024
MAX_TRAILERS = 32
SERVICES = ("apigateway", "cloudformation", "dynamodb", "dynamodbstreams", "ecr", "events", "iam", "kms", "lambda",
            "logs", "s3", "sns", "sqs", "ssm", "sts")


@dataclass(frozen=True)
class AwsCall:
    """Which AWS API action a request is (service from the SigV4 scope, action from target/body/path)."""

    service: str
    region: str
    action: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


Interceptor = Callable[[Request, AwsCall], Response | None]
ApiHandler = Callable[[Request, str, str, str], Response]


def identify(request: Request, body: bytes) -> AwsCall | None:
    match = _SCOPE.search(request.headers.get("Authorization", ""))
    if match is None:
        return None
    region, service = match.group(1), match.group(2)
    target = request.headers.get("X-Amz-Target", "")
    if target:
        action = target.rsplit(".", 1)[-1]
    elif service == "lambda":
        action = next((name for method, path, name in _LAMBDA_ROUTES
                       if method == request.method and path.match(request.path)), "")
    else:
        action = parse_qs(body.decode(errors="replace")).get("Action", [""])[0] or request.args.get("Action", "")
    return AwsCall(service, region, action, body)


def health_document() -> dict[str, Any]:
    """LocalStack's ``/_localstack/health`` shape: services with their state, edition, version."""
    return {"services": dict.fromkeys(SERVICES, "running"), "edition": "community", "version": "jobkit-embedded"}


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher with its host -> service lookup remembered: moto lists its package directory
    (``list_of_moto_modules``, hundreds of ``isdir`` calls) and then tries every URL pattern, under one lock,
    on every request; profiled, that was the largest single cost of a DynamoDB call through the engine."""

    def __init__(self) -> None:
        super().__init__(self._create_app)
        self._modules = frozenset(list_of_moto_modules())
        self._backends: dict[str, Any] = {}

    @staticmethod
    def _create_app(backend: Any) -> Any:
        """moto's Flask app for a service, letting its exceptions reach the engine (Flask would answer each with
        a bare 500 page): an operation moto has not implemented becomes the engine's 501 naming it."""
        app = create_backend_app(backend)
        app.config["PROPAGATE_EXCEPTIONS"] = True
        return app

    def get_backend_for_host(self, host: str | None) -> Any:
        if host is None or host == "moto_api" or host in self._modules:
            return host
        if host not in self._backends:
            self._backends[host] = next(
                (backend for backend, pattern in self.backend_url_patterns if pattern.match(f"http://{host}")), None)
        return self._backends[host]


class EngineApp:
    """The WSGI application behind the endpoint."""

    def __init__(self, account: str = ACCOUNT, chaos: Chaos | None = None) -> None:
        self.account = account
        #: the Chaos API's faults and effects (``core.chaos``), met by every AWS call served
        self.chaos = chaos or Chaos()
        moto_patches.install()  # every patch of moto's internals, on the release they were written for
        self.moto = _Dispatcher()
        self.interceptors: dict[tuple[str, str], Interceptor] = {}
        #: services the engine serves whole: an action without an interceptor is refused, never passed to moto
        self.owned: set[str] = set()
        self.routes: dict[str, Callable[[Request], Response]] = {}
        self.api_handler: ApiHandler | None = None

    def intercept(self, service: str, action: str, handler: Interceptor) -> None:
        self.interceptors[(service, action)] = handler

    def own(self, service: str) -> None:
        """Serves ``service`` from its interceptors only: any other action of it answers ``not_implemented``
        (moto's would act on a store the engine does not read)."""
        self.owned.add(service)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data(cache=True)
        environ["wsgi.input"] = BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        # one account, like LocalStack's default; moto honours this header over the access key
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = self.account
        call = identify(request, body)
        try:
            response = self._chaos(request, call) or self._route(request, call)
            if response is not None:
                return response(environ, start_response)
            if call is None:
                return self.store(environ, start_response)
            return self._stored(call, request, environ, start_response)
        except NotImplementedError:
            if call is None:
                raise
            return not_implemented(call.service, call.action).response(call.service)(environ, start_response)
        except Exception as exc:
            if call is None:
                raise
            # a failure inside moto or a served operation: AWS's InternalFailure in the service's protocol, so the
            # SDK raises its usual error (and retries it), not a parse error on an HTML page
            _log.exception("%s %s failed", call.service, call.action or request.path)
            return internal_failure(call.service, call.action, exc).response(call.service)(environ, start_response)

    def store(self, environ: dict[str, Any], start_response: Any) -> Any:
        """moto, the store and control plane: DynamoDB (Streams) calls straight to their handler, the rest
        through moto's dispatcher."""
        handler = moto_fast.direct_handler(environ)
        if handler is not None:
            return moto_fast.dispatch_direct(handler, environ, start_response)
        return self.moto(environ, start_response)

    def _stored(self, call: AwsCall, request: Request, environ: dict[str, Any], start_response: Any) -> Any:
        """An AWS call answered by moto. A REST service's path that moto routes nowhere is an operation it does
        not implement: answered 501 naming the operation (from the service's model), not with moto's HTML 404."""
        if moto_fast.direct_handler(environ) is not None or protocol_of(call.service) != "rest-json":
            return self.store(environ, start_response)
        answered: list[Any] = []

        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answered[:] = [status, headers]
            return lambda _data: None

        body = b"".join(self.store(environ, keep))
        status, headers = answered
        if status.startswith("404") and any(n.lower() == "content-type" and v.startswith("text/html")
                                            for n, v in headers):
            operation = call.action or rest_operation(call.service, request.method, request.path)
            return not_implemented(call.service, operation).response(call.service)(environ, start_response)
        start_response(status, headers)
        return [body]

    def _chaos(self, request: Request, call: AwsCall | None) -> Response | None:
        """The Chaos API's latency on every served call, and the answer of a matching fault rule, in the
        service's error shape; jobkit's and LocalStack's own endpoints are never delayed or faulted."""
        if request.path.startswith(("/_localstack/", "/_jobkit/")):
            return None
        self.chaos.delay()
        if call is None or not self.chaos.active:
            return None
        operation = call.action or (rest_operation(call.service, request.method, request.path)
                                    if protocol_of(call.service).startswith("rest") else "")
        error = self.chaos.fault(call.service, operation, call.region)
        return error.response(call.service) if error is not None else None

    def _route(self, request: Request, call: AwsCall | None) -> Response | None:
        if request.path == "/_localstack/health":
            return Response(json.dumps(health_document()), content_type="application/json")
        if request.path in self.routes:
            return self.routes[request.path](request)
        if request.path.startswith("/_jobkit/"):  # a route ending in "/" serves the paths under it
            head = request.path[:request.path.find("/", 9) + 1]
            if head and head in self.routes:
                return self.routes[head](request)
        if request.path.startswith("/_jobkit/"):  # jobkit's own namespace: nothing under it reaches moto
            return refuse(404, f"not found: jobkit serves {', '.join(sorted(self.routes))}")
        api = self._api_target(request)
        if api is not None:
            if self.api_handler is None:
                return Response(json.dumps({"message": "no REST API is deployed"}), status=404)
            return self.api_handler(request, *api)
        if call is not None:
            handler = self.interceptors.get((call.service, call.action))
            if handler is not None:
                return handler(request, call)
            if call.service in self.owned:
                return not_implemented(call.service, call.action).response(call.service)
        if request.path.startswith("/restapis/") and (call is None or call.service == "execute-api"
                                                      or _USER_REQUEST.match(request.path)):
            # a caller of the API (not of API Gateway's control plane) on a path the API does not serve, or an
            # API request whose prefix is spelled percent-encoded: API Gateway answers it like an unsigned request
            return refusal(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        return None

    @staticmethod
    def _api_target(request: Request) -> tuple[str, str, str] | None:
        """(api id, stage, resource path as sent) of a REST API request, else None. Split on the path as sent,
        still percent-encoded: an encoded ``/`` is not a separator (the gateway decides what to do with it)."""
        path = sent_path(request)
        match = _USER_REQUEST.match(path)
        if match:
            return match.group(1), match.group(2), match.group(3) or "/"
        host = _API_HOST.match(request.host)
        if host:
            stage, _, rest = path.removeprefix("/").partition("/")
            return host.group(1), stage, "/" + rest
        return None


class _Handler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive, and no line per request (the engine prints one line per hop of a job instead).

    werkzeug's own handler closes every connection (and then waits up to 10 ms for request bytes to discard,
    which on a kept connection would be the caller's next request), so every AWS call paid a new connection
    and a new server thread. Here the request body is read before the application runs and the answer is
    buffered (the engine's answers are small documents), so every answer carries its Content-Length and the
    connection serves the caller's next request: botocore in the functions and the client library keep theirs.

    The front door (``jobkit.engine.core.front_door``) screens each request on its head, before its body is read:
    a refused request costs no read, an oversized one is answered 413 on its ``Content-Length`` (or when its
    chunks pass the limit), and a framing this server cannot trust (a ``Content-Length`` that is not digits,
    both framings at once, a malformed chunk) is answered 400 and the connection closed, so no byte of a
    body is ever taken for a request. A connection that sends nothing for ``IDLE_TIMEOUT`` seconds (a stalled
    client, an idle keep-alive) is closed: the socket's timeout ends the read that waits on it.
    """

    front: FrontDoor
    disable_nagle_algorithm = True  # headers and body are two writes: no wait for the caller's delayed ACK
    timeout = IDLE_TIMEOUT

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None

    def log_error(self, format: str, *args: Any) -> None:
        """Quiet: a client timing out or sending garbage is answered, not logged (errors of the application
        still reach the log, through ``server.log``)."""
        return None

    def handle_expect_100(self) -> bool:
        """``100 Continue`` is sent once the request's head has passed the screen (``run_wsgi``), so a caller
        that waits for it sends no body the engine would refuse."""
        return True

    def make_environ(self) -> Any:
        """WSGI's environ, plus the headers as they came: werkzeug drops any header whose name holds ``_``
        (against spoofing through CGI names), but a SigV4 signature covers them, and API Gateway checks it
        over the headers as sent."""
        environ = super().make_environ()
        environ[RAW_HEADERS] = list(self.headers.items())
        return environ

    def run_wsgi(self) -> None:
        path = self._routed_path()
        refused = (_bad("the request target must be a path (this is not a proxy)") if path is None
                   else self.front.screen(self.command, path, self.headers))
        if refused is None and path is not None:
            refused = self._framing_refusal(path)
        if refused is not None:
            self._refuse(refused)
            return
        if self.front.is_preflight(self.command, self.headers):  # an allowed origin's preflight: no body to read
            self._send(204, self.front.cors_headers("OPTIONS", self.headers), b"")
            return
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            body = self._read_body()
        except _BadRequest as exc:
            self._refuse(exc.refusal)
            return
        except (ConnectionError, TimeoutError):  # the caller went away, or stalled mid-body
            self.close_connection = True
            return
        environ = self.make_environ()
        environ["wsgi.input"] = BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        status, headers, data = self._answer(environ)
        code, _, reason = status.partition(" ")
        # moto's own CORS (flask-cors on every Flask app) echoes any origin: only the front door's decide
        kept = [(n, v) for n, v in headers if not n.lower().startswith("access-control-")]
        self._send(int(code), kept + self.front.cors_headers(self.command, self.headers), data, reason)

    def _routed_path(self) -> str | None:
        """The path as the application will see it (werkzeug's ``PATH_INFO``: percent-decoded, a leading ``//``
        kept as a path), so the screen judges what is routed; None for an absolute-form target."""
        target = urlsplit(self.path)
        if target.scheme:
            return None
        return unquote(f"/{target.netloc}{target.path}" if target.netloc else target.path)

    # --- framing ---------------------------------------------------------------------------------------
    def _framing_refusal(self, path: str) -> Refusal | None:
        """400 for a framing that cannot be trusted; 413 for a declared body above the request's limit."""
        self._path = path
        lengths = self.headers.get_all("Content-Length") or []
        codings = self.headers.get_all("Transfer-Encoding") or []
        if codings:
            if lengths:  # RFC 9112, 6.1: a request with both is a smuggling attempt or a broken client
                return _bad("both Content-Length and Transfer-Encoding are set")
            if ",".join(codings).strip().lower() != "chunked":
                return Refusal(501, "NotImplementedException", "only the chunked transfer coding is supported")
            self._length: int | None = None
            self._limit = request_limit(self.command, path, self.headers)
            return None
        if len({value.strip() for value in lengths}) > 1:
            return _bad("Content-Length is given more than once, with different values")
        value = lengths[0].strip() if lengths else "0"
        if not value.isascii() or not value.isdigit():  # RFC 9110, 8.6: 1*DIGIT; no sign, no spaces
            return _bad(f"Content-Length must be digits, got {value[:40]!r}")
        self._length = int(value)
        self._limit = request_limit(self.command, path, self.headers)
        if self._length > self._limit:
            return too_large(path, self.headers, self._limit)
        return None

    def _read_body(self) -> bytes:
        if self._length is not None:
            body = self.rfile.read(self._length)
            if len(body) < self._length:
                raise ConnectionError("the caller closed before sending its body")
            return body
        return self._read_chunks()

    def _read_chunks(self) -> bytes:
        """A chunked body (RFC 9112, 7.1), capped at the request's limit; a malformed one is a 400."""
        body = bytearray()
        while True:
            line = self.rfile.readline(MAX_CHUNK_LINE + 1)
            if not line.endswith(b"\n") or len(line) > MAX_CHUNK_LINE:
                raise _BadRequest(_bad("malformed chunk header"))
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 16 or any(c not in _HEX for c in size_text):
                raise _BadRequest(_bad("malformed chunk size"))
            size = int(size_text, 16)
            if size == 0:
                break
            if len(body) + size > self._limit:
                raise _BadRequest(too_large(self._path, self.headers, self._limit))
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise ConnectionError("the caller closed inside a chunk")
            body += chunk
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BadRequest(_bad("a chunk does not end with CRLF"))
        for _ in range(MAX_TRAILERS):  # trailer fields, then the empty line
            line = self.rfile.readline(MAX_CHUNK_LINE + 1)
            if line in (b"\r\n", b"\n"):
                return bytes(body)
            if not line.endswith(b"\n"):
                raise _BadRequest(_bad("malformed chunked trailer"))
        raise _BadRequest(_bad("too many chunked trailer fields"))

    # --- answers ---------------------------------------------------------------------------------------
    def _refuse(self, refusal: Refusal) -> None:
        """A refusal, and the connection closed: what follows on it is a body never read, not a request.

        The body the caller may still be sending is drained for a bounded while after the answer (a lingering
        close): closing a socket with unread bytes resets the connection, and the caller would see a reset
        instead of the answer."""
        self.close_connection = True
        self._send(refusal.status, [*refusal.headers(), ("Connection", "close")], refusal.body())
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            self.connection.settimeout(LINGER_SECONDS)
            drained = 0
            while time.monotonic() < deadline and drained < LINGER_BYTES:
                chunk = self.rfile.read1(65536)
                if not chunk:
                    break
                drained += len(chunk)

    def _send(self, code: int, headers: list[tuple[str, str]], data: bytes, reason: str | None = None) -> None:
        self.send_response(code, reason)
        head = self.command == "HEAD"
        for name, value in headers:
            framing = name.lower() in ("content-length", "transfer-encoding", "connection")
            if head or not framing or (name.lower() == "connection" and value.lower() == "close"):
                self.send_header(name, value)
        if not head and code not in (204, 304) and code >= 200:
            self.send_header("Content-Length", str(len(data)))
            # the blank line and the body join the buffered headers: one write, one segment on loopback (two
            # writes were a quarter of the engine's time, profiled under GetItem calls)
            self._headers_buffer.append(b"\r\n" + data)
            self.flush_headers()
        else:
            self.end_headers()
        self.wfile.flush()

    def _answer(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """(status, headers, body) of the application, or werkzeug's 500 if it fails."""
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return written.append  # WSGI's write()

        try:
            result = self.server.app(environ, start_response)
            try:
                written.extend(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            return started[0], started[1], b"".join(written)
        except Exception:
            self.server.log("error", "Error on request:\n%s", traceback.format_exc())
            return "500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")], b"Internal Server Error"


_HEX = frozenset(b"0123456789abcdefABCDEF")


class _BadRequest(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def _bad(message: str) -> Refusal:
    return Refusal(400, "BadRequestException", message)


class _Connections:
    """The server's open connections, counted for the cap and shut on stop: a kept connection would otherwise
    go on serving its caller from a stopped engine (an engine restarted in the same process, on the same port)."""

    def __init__(self) -> None:
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._open)

    def add(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.add(connection)

    def discard(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.discard(connection)

    def shut(self) -> None:
        with self._lock:
            open_now, self._open = self._open, set()
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"x-amzn-ErrorType: ServiceUnavailableException\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s")


class _Server(ThreadedWSGIServer):
    """One thread per connection, up to ``MAX_CONNECTIONS``; beyond that a connection is answered 503 and
    closed on the accepting thread, so stalled clients cannot take every thread (each also times out)."""

    request_queue_size = 1024  # a burst of connections waits in the kernel's queue instead of being reset
    connections: _Connections
    max_connections: int

    def process_request(self, request: Any, client_address: Any) -> None:
        if len(self.connections) >= self.max_connections:
            body = json.dumps({"message": f"the engine serves at most {self.max_connections} connections at "
                                          "once; retry when one closes"}).encode()
            with contextlib.suppress(OSError):
                request.settimeout(1)
                request.sendall(_BUSY % (len(body), body))
            super().shutdown_request(request)
            return
        self.connections.add(request)  # counted here, on the accepting thread, so a burst cannot overshoot the cap
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Called once a connection's thread is done with it, however it ended."""
        self.connections.discard(request)
        super().shutdown_request(request)


class EngineServer:
    """A threaded HTTP server on a thread of its own (one thread per connection, as concurrent callers need)."""

    def __init__(self, app: EngineApp, host: str = "127.0.0.1", port: int = 4566, *,
                 front: FrontDoor | None = None, idle_timeout: float = IDLE_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        """``front``: what the port lets in (from the environment's settings if None,
        ``FrontDoorSettings.from_env``)."""
        self.app = app
        self._connections = _Connections()
        handler = type("EngineHandler", (_Handler,), {
            "connections": self._connections, "timeout": idle_timeout,
            "front": front or FrontDoor(FrontDoorSettings.from_env())})
        self._server = _Server(host, port, app, handler)
        self._server.connections = self._connections
        self._server.max_connections = max_connections
        self._thread = threading.Thread(target=self._server.serve_forever, name="jobkit-endpoint", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._connections.shut()
        self._thread.join(5)


def json_response(document: Any, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = "application/x-amz-json-1.1") -> Response:
    return Response(json.dumps(document), status=status, headers=headers or {}, content_type=content_type)


class MotoCaller:
    """Calls moto's JSON-protocol APIs in process (no socket) as a role, with credentials from moto's STS, the
    way API Gateway calls a service with an integration's execution role."""

    TARGETS = {"dynamodb": "DynamoDB_20120810", "dynamodbstreams": "DynamoDBStreams_20120810",
               "events": "AWSEvents", "logs": "Logs_20140328", "ssm": "AmazonSSM", "kms": "TrentService"}

    def __init__(self, app: EngineApp, region: str = REGION) -> None:
        from werkzeug.test import Client

        self.app = app
        self.region = region
        self._client = Client(app.store)  # DynamoDB calls skip moto's Flask apps, as the endpoint's do
        self._credentials: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _role_credentials(self, role_arn: str) -> Any:
        import datetime as dt

        from botocore.credentials import Credentials

        with self._lock:
            cached = self._credentials.get(role_arn)
            soon = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=5)
            if cached is not None and cached[1] > soon:
                return cached[0]
            assumed = assume_role(self.app.account, self.region, role_arn, "jobkit-apigateway", 3600)
            credentials = Credentials(assumed.access_key_id, assumed.secret_access_key, assumed.session_token)
            self._credentials[role_arn] = (credentials, assumed.expiration)
            return credentials

    def __call__(self, service: str, action: str, body: bytes, role_arn: str) -> tuple[int, bytes]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        fault = self.app.chaos.fault(service, action, self.region)  # an integration's call is a served call too
        if fault is not None:
            return fault.status, fault.response(service).get_data()
        host = f"{service}.{self.region}.amazonaws.com"
        headers = {"X-Amz-Target": f"{self.TARGETS[service]}.{action}",
                   "Content-Type": "application/x-amz-json-1.0", "Host": host}
        request = AWSRequest(method="POST", url=f"https://{host}/", data=body, headers=headers)
        if role_arn:
            SigV4Auth(self._role_credentials(role_arn), service, self.region).add_auth(request)
        environ_headers = dict(request.headers.items())
        environ_headers["x-moto-account-id"] = self.app.account
        response = self._client.post("/", data=body, headers=environ_headers, base_url=f"https://{host}")
        return response.status_code, response.get_data()
