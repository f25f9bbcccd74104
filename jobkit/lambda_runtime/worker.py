"""jobkit's Lambda worker: the "runtime" half that runs inside a function's own interpreter.

It is started as a script, `python3.12 -I -S -u -X utf8 worker.py CMD_FD RESULT_FD`, by
`jobkit.lambda_runtime.process`. Because `-I -S` leaves only the stdlib on `sys.path` (and `-I` implies
`-P`, so not even this file's folder), it must not import anything outside the stdlib, jobkit included:
the wire protocol below is therefore spelled out here and in `channel.py`, and both must change together.

Wire protocol (one JSON object per line, never containing a raw newline):
- CMD_FD, manager -> worker: first `{"type": "init", "handler", "code_dir", "paths", "token"}`, then
  `{"type": "invoke", "seq", "request_id", "payload" (base64), "deadline_ms", "invoked_function_arn",
  "trace_id", "client_context", "cognito_identity"}` per invocation. EOF means "shut down".
- RESULT_FD, worker -> manager: `{"type": "init", "ok", "error"}` once, then per invocation
  `{"type": "result", "seq", "ok", "payload" (base64: the result, or Lambda's error document),
  "error_type", "max_rss_kb", "finished_ms" (when the handler returned, epoch ms: judged against deadline_ms)}`.
- stdout/stderr (one pipe) are the function's logs. After init and after every invocation the worker writes
  the marker `\\x1ejobkit:<token>:<seq>\\x1e` to fd 1 *before* answering, so the manager can cut the log
  stream exactly at invocation boundaries.

Lambda behaviours reproduced here, with where they are documented:
- Error document `errorMessage`/`errorType`/`requestId`/`stackTrace` and the `[ERROR] Type: message`
  log line: "Lambda function errors in Python",
  https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html ; the exact messages of the runtime's
  own faults (`Runtime.ImportModuleError` "Unable to import module 'x': ...", `Runtime.HandlerNotFound`,
  `Runtime.MalformedHandlerName`, `Runtime.UserCodeSyntaxError`, `Runtime.MarshalError`,
  `Runtime.UnmarshalError`) follow AWS's Python runtime interface client (awslambdaric/bootstrap.py,
  lambda_runtime_exception.py, lambda_runtime_marshaller.py in aws/aws-lambda-python-runtime-interface-client).
- The context object: "Using the Lambda context object to retrieve Python function information",
  https://docs.aws.amazon.com/lambda/latest/dg/python-context.html (values read from the environment as
  awslambdaric/lambda_context.py does, so `memory_limit_in_mb` is a string there too).
- The root logger's handler and format `[LEVEL]\\t<time>Z\\t<request id>\\t<message>`:
  https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html

Zygote mode, `worker.py --zygote SOCK_FD CODE_DIR [PATH ...]` (see `zygote.py` for the manager's half): the
process imports the runtime-provided SDK (`PRELOAD`) exactly as a function of that code dir would resolve it,
then forks one worker per request. A fork starts with those modules' memory shared and without paying their
import again; everything else (the handler's own import, the environment, the session) is per worker as
before. Messages on the SOCK_SEQPACKET socket are JSON datagrams: `{"op": "spawn", "id", "env"}` with the
worker's three pipe ends attached (SCM_RIGHTS), `{"op": "kill", "pid"}`; answers `{"op": "ready"}`
or `{"op": "failed", "error"}` once, then `{"op": "spawned", "id", "pid"}` and `{"op": "exit",
"pid", "returncode"}`.
"""

from __future__ import annotations

import base64
import contextlib
import decimal
import gc
import importlib
import json
import logging
import math
import os
import resource
import select
import signal
import socket
import sys
import threading
import time
import traceback
from typing import Any, BinaryIO, NoReturn

_WORKER_FILE = os.path.abspath(__file__)
_REQUEST_ID: str | None = None

IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"


class FaultError(Exception):
    """A failure of the runtime's own contract (bad handler, import, (un)marshalling), not of user code."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace


def make_error(
    message: str, error_type: str, stack_trace: list[str] | None, request_id: str | None = None
) -> dict[str, Any]:
    """Lambda's error document; `requestId` is empty for init errors, as on Lambda."""
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": stack_trace or [],
    }


def _user_frames(tb: Any) -> list[traceback.FrameSummary]:
    """Drop the worker's and importlib's own leading frames, so the trace starts in user code."""
    frames = list(traceback.extract_tb(tb))
    for index, frame in enumerate(frames):
        if frame.filename != _WORKER_FILE and not frame.filename.startswith("<frozen importlib"):
            return frames[index:]
    return frames


def error_from_exception(exc: BaseException, request_id: str | None) -> dict[str, Any]:
    """Error document for an exception raised by user code."""
    if isinstance(exc, FaultError):
        return make_error(exc.message, exc.error_type, exc.trace, request_id)
    stack = traceback.format_list(_user_frames(exc.__traceback__))
    return make_error(str(exc), type(exc).__name__, stack, request_id)


def log_error(error: dict[str, Any]) -> None:
    """Write the error to the function's log the way Lambda's Python runtime does."""
    description = "[ERROR]"
    if error.get("errorType"):
        description += " " + error["errorType"]
    if error.get("errorMessage"):
        if error.get("errorType"):
            description += ":"
        description += " " + error["errorMessage"]
    lines = [description]
    stack = error.get("stackTrace")
    if stack is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack:
            lines.extend(element.splitlines() if element else [""])
    _write_stdout("\n".join(lines) + "\n")


def load_handler(handler: str) -> Any:
    """Import `module.function` from the code dir, with Lambda's error types and messages."""
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as exc:
        raise FaultError(MALFORMED_HANDLER_NAME, f"Bad handler '{handler}': {exc}") from None
    try:
        if module_name.split(".")[0] in sys.builtin_module_names:
            raise FaultError(BUILT_IN_MODULE_CONFLICT, f"Cannot use built-in module {module_name} as a handler module")
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise FaultError(IMPORT_MODULE_ERROR, f"Unable to import module '{module_name}': {exc}") from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise FaultError(USER_CODE_SYNTAX_ERROR, f"Syntax error in module '{module_name}': {exc}", trace) from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise FaultError(HANDLER_NOT_FOUND, f"Handler '{function_name}' missing on module '{module_name}'") from None


class CognitoIdentity:
    """`context.identity` (mobile apps); both fields None unless the invoke carried an identity."""

    def __init__(self, data: dict[str, Any] | None) -> None:
        data = data or {}
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")


class Client:
    """`context.client_context.client` (mobile apps)."""

    def __init__(self, data: dict[str, Any] | None) -> None:
        data = data or {}
        self.installation_id = data.get("installation_id")
        self.app_title = data.get("app_title")
        self.app_version_name = data.get("app_version_name")
        self.app_version_code = data.get("app_version_code")
        self.app_package_name = data.get("app_package_name")


class ClientContext:
    """`context.client_context` (mobile apps)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.custom = data.get("custom")
        self.env = data.get("env")
        self.client = Client(data.get("client"))


class LambdaContext:
    """The context object handed to the handler; see the python-context page cited in the module docstring."""

    def __init__(
        self,
        request_id: str,
        deadline_ms: int,
        invoked_function_arn: str,
        client_context: dict[str, Any] | None = None,
        cognito_identity: dict[str, Any] | None = None,
    ) -> None:
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context = ClientContext(client_context) if client_context is not None else None
        self.identity = CognitoIdentity(cognito_identity)
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation times out (never negative)."""
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, message: Any) -> None:
        _write_stdout(str(message))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


class _Encoder(json.JSONEncoder):
    """Lambda's Python runtime serialises Decimal (e.g. from DynamoDB) as a number, not as an error."""

    def default(self, o: Any) -> Any:
        if isinstance(o, decimal.Decimal):
            if o.is_nan():
                return math.nan
            if o.is_finite() and o == o.to_integral_value():
                return int(o)
            return float(o)
        return super().default(o)


def marshal_response(response: Any) -> bytes:
    if isinstance(response, bytes):
        return response
    # The python3.12 runtime writes non-ASCII characters as they are; older runtimes escape them.
    ensure_ascii = os.environ.get("AWS_EXECUTION_ENV") != "AWS_Lambda_python3.12"
    try:
        return json.dumps(response, cls=_Encoder, ensure_ascii=ensure_ascii).encode("utf-8")
    except Exception as exc:
        raise FaultError(MARSHAL_ERROR, f"Unable to marshal response: {exc}") from None


def unmarshal_request(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except Exception as exc:
        raise FaultError(UNMARSHAL_ERROR, f"Unable to unmarshal input: {exc}") from None


class _LambdaLogHandler(logging.Handler):
    """Root handler writing to whatever `sys.stdout` is at emit time, as Lambda's runtime does."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _write_stdout(self.format(record))
        except Exception:
            self.handleError(record)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _REQUEST_ID or ""
        return True


def setup_logging() -> None:
    """Give the root logger Lambda's handler, so `logging` output reaches the log like on Lambda."""
    logging.Formatter.converter = time.gmtime
    handler = _LambdaLogHandler()
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n", "%Y-%m-%dT%H:%M:%S"
        )
    )
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper()
    if level and isinstance(logging.getLevelName(level), int):  # works on every python3.x runtime
        root.setLevel(level)


def _write_stdout(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _flush_and_mark(token: str, seq: int) -> None:
    """Flush the function's output, then write the boundary marker straight to fd 1."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # noqa: S110  # nosec B110  # a function may have closed or replaced its streams
            pass
    _write_all(1, f"\x1ejobkit:{token}:{seq}\x1e".encode())


def _max_rss_kb() -> int:
    """Peak memory of this environment in KiB. On Linux `ru_maxrss` survives exec, so a worker forked from a
    big engine would report the engine's size: read this address space's own high-water mark instead."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return max(int(line.split()[1]), int(children))
    except (OSError, ValueError):
        pass
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":  # bytes there, KiB elsewhere
        return int(max(own, children) // 1024)
    return int(max(own, children))


def _watch_parent(parent: int) -> None:
    """Kill this whole process group when the manager dies, so an engine crash leaves no orphans."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os.killpg(os.getpgrp(), signal.SIGKILL)


class _Channel:
    def __init__(self, cmd_fd: int, result_fd: int) -> None:
        self._commands: BinaryIO = os.fdopen(cmd_fd, "rb")
        self._result_fd = result_fd

    def receive(self) -> dict[str, Any] | None:
        line = self._commands.readline()
        if not line:
            return None
        message: dict[str, Any] = json.loads(line)
        return message

    def send(self, message: dict[str, Any]) -> None:
        _write_all(self._result_fd, json.dumps(message).encode("ascii") + b"\n")


def _invoke(handler: Any, message: dict[str, Any]) -> tuple[bool, bytes, str | None]:
    global _REQUEST_ID
    request_id: str = message["request_id"]
    _REQUEST_ID = request_id
    if message.get("trace_id"):
        os.environ["_X_AMZN_TRACE_ID"] = message["trace_id"]
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    try:
        context = LambdaContext(
            request_id,
            int(message["deadline_ms"]),
            message["invoked_function_arn"],
            message.get("client_context"),
            message.get("cognito_identity"),
        )
        event = unmarshal_request(base64.b64decode(message["payload"]))
        body = marshal_response(handler(event, context))
        return True, body, None
    except Exception as exc:
        error = error_from_exception(exc, request_id)
        log_error(error)
        return False, json.dumps(error).encode("utf-8"), error["errorType"]


def main(argv: list[str]) -> int:
    cmd_fd, result_fd = int(argv[1]), int(argv[2])
    os.set_inheritable(cmd_fd, False)
    os.set_inheritable(result_fd, False)
    sys.argv = argv[:1]
    parent = os.getppid()
    threading.Thread(target=_watch_parent, args=(parent,), name="jobkit-parent-watch", daemon=True).start()

    channel = _Channel(cmd_fd, result_fd)
    init = channel.receive()
    if init is None or init.get("type") != "init":
        return 2
    token: str = init["token"]
    code_dir: str = init["code_dir"]
    # Lambda's order: the function's code first, then what the runtime provides, then the stdlib.
    prefix = [code_dir, *init.get("paths", [])]
    sys.path[:] = prefix + [entry for entry in sys.path if entry not in prefix]
    os.chdir(code_dir)
    setup_logging()

    init_error: dict[str, Any] | None = None
    handler: Any = None
    try:
        handler = load_handler(init["handler"])
    except Exception as exc:
        init_error = error_from_exception(exc, None)
        log_error(init_error)
    _flush_and_mark(token, 0)
    channel.send({"type": "init", "ok": init_error is None, "error": init_error})
    if init_error is not None:
        return 1

    while True:
        message = channel.receive()
        if message is None:
            return 0
        ok, body, error_type = _invoke(handler, message)
        finished_ms = int(time.time() * 1000)
        _flush_and_mark(token, int(message["seq"]))
        channel.send(
            {
                "type": "result",
                "seq": message["seq"],
                "ok": ok,
                "payload": base64.b64encode(body).decode("ascii"),
                "error_type": error_type,
                "max_rss_kb": _max_rss_kb(),
                "finished_ms": finished_ms,
            }
        )


#: what Lambda's Python runtime provides besides the stdlib, imported once by a zygote
PRELOAD: tuple[str, ...] = ("boto3", "boto3.dynamodb.types", "boto3.dynamodb.conditions")
_DATAGRAM_MAX = 1 << 20


def _send_datagram(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message).encode("utf-8"))


def _exit_code(code: object) -> int:
    """What the interpreter would exit with for `SystemExit(code)` (a message is printed, then 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _become_worker(request: dict[str, Any], fds: list[int], inherited: list[int]) -> NoReturn:
    """The forked child: what `subprocess.Popen(start_new_session=True, env=..., cwd=...)` and the
    interpreter's start would have given it, then the worker's `main`."""
    code = 1
    try:
        command_r, result_w, log_w = fds
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in inherited:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(log_w, 1)
        os.dup2(log_w, 2)
        os.close(log_w)
        os.environ.clear()
        os.environ.update(request["env"])
        time.tzset()
        tempfile = sys.modules.get("tempfile")
        if tempfile is not None:
            tempfile.tempdir = None  # type: ignore[attr-defined]  # TMPDIR is read again
        gc.enable()
        code = main([_WORKER_FILE, str(command_r), str(result_w)])
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:  # the interpreter would print it and exit 1
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a function may have closed its streams
                stream.flush()
        os._exit(code)


def _reap(children: set[int], sock: socket.socket) -> None:
    """Collect exited workers: their group goes too (as when Lambda ends an environment), then the exit is
    reported. Only reaped pids leave `children`, so a later kill never reaches a reused pid."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in children:
            children.discard(pid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            _send_datagram(sock, {"op": "exit", "pid": pid, "returncode": os.waitstatus_to_exitcode(status)})


def zygote(argv: list[str]) -> int:
    """Preload, then fork workers on request until the manager closes the socket (then kill them all)."""
    sock = socket.socket(fileno=int(argv[2]))
    code_dir, paths = argv[3], argv[4:]
    sys.path[:0] = [code_dir, *paths]  # the order `main` gives a worker, so imports resolve the same way
    try:
        for name in PRELOAD:
            importlib.import_module(name)
    except BaseException as exc:  # reported: the manager starts fresh interpreters instead
        _send_datagram(sock, {"op": "failed", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    del sys.path[: 1 + len(paths)]
    gc.collect()
    gc.freeze()  # the preloaded objects stay out of every collection, so a collection never copies their pages
    gc.disable()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    children: set[int] = set()
    _send_datagram(sock, {"op": "ready"})
    try:
        while True:
            readable, _, _ = select.select([sock.fileno(), wake_r], [], [])
            if wake_r in readable:
                while True:
                    try:
                        if not os.read(wake_r, 512):
                            break
                    except BlockingIOError:
                        break
            _reap(children, sock)
            if sock.fileno() not in readable:
                continue
            data, fds, _, _ = socket.recv_fds(sock, _DATAGRAM_MAX, 3)
            if not data:
                return 0
            request = json.loads(data)
            if request["op"] == "spawn":
                try:
                    pid = os.fork()
                except OSError as exc:
                    _send_datagram(sock, {"op": "error", "id": request["id"], "error": str(exc)})
                    pid = -1
                if pid == 0:
                    _become_worker(request, fds, [sock.fileno(), wake_r, wake_w])
                for fd in fds:
                    os.close(fd)
                if pid > 0:
                    children.add(pid)
                    _send_datagram(sock, {"op": "spawned", "id": request["id"], "pid": pid})
            elif request["op"] == "kill" and request["pid"] in children:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(request["pid"], signal.SIGKILL)
    except (BrokenPipeError, ConnectionResetError):
        return 0
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--zygote":
        sys.exit(zygote(sys.argv))
    sys.exit(main(sys.argv))
