"""The Lambda API's actions on functions that the compute plane must act on, served the same for the template's
functions and for those created while the engine runs.

moto keeps the control-plane record (each action is called through to moto, which stores it and answers
Get/List as Lambda does); the engine acts on what moto accepted: CreateFunction builds the function's local
runtime, UpdateFunctionCode and UpdateFunctionConfiguration replace its environments, DeleteFunction stops them,
the event invoke configuration feeds the asynchronous invoker, and Invoke (RequestResponse, Event, DryRun) runs
the function ("Invoke", https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html). Every refusal of the
engine's own is a Lambda error (``errors.lambda_error``); moto's are passed on as moto gives them.
"""

from __future__ import annotations

import base64
import json
import shutil
from io import BytesIO
from typing import Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from jobkit.engine.core.destinations import service_of
from jobkit.engine.core.server import AwsCall, Interceptor
from jobkit.engine.services.lambda_ import code as function_code
from jobkit.engine.services.lambda_.async_invoke import AsyncInvoker, InvokeConfig
from jobkit.engine.services.lambda_.errors import LambdaError, invalid, lambda_error, not_found
from jobkit.engine.services.lambda_.functions import (
    FunctionExistsError,
    FunctionSpec,
    LambdaService,
    UnknownFunctionError,
)
from jobkit.lambda_runtime.errors import LambdaRuntimeError
from jobkit.lambda_runtime.interpreter import find_interpreter

#: where an asynchronous invocation's record may go ("Capturing records of Lambda asynchronous invocations",
#: https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html: SNS, SQS, Lambda,
#: EventBridge; S3 for on-failure too, which the engine does not deliver to)
ASYNC_DESTINATIONS = ("sns", "sqs", "lambda", "events")

Store = Any  # moto's WSGI application (``EngineApp.store``)


def call_moto(store: Store, request: Request, body: bytes | None = None) -> Response:
    """``request`` answered by moto, with ``body`` in place of the request's own if given."""
    environ = dict(request.environ)
    data = request.get_data() if body is None else body
    environ["wsgi.input"] = BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    return Response.from_app(store, environ, buffered=True)


def function_in(path: str) -> str:
    """The function name or ARN of a ``…/functions/{FunctionName}[/…]`` path."""
    return unquote(path.split("/functions/", 1)[1].split("/", 1)[0])


def json_body(call: AwsCall) -> dict[str, Any]:
    try:
        body = call.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise LambdaError("InvalidRequestContentException", "Could not parse request body into json")
    return body


class FunctionsApi:
    """CreateFunction, UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction, Invoke (and the older
    InvokeAsync), Put/Update/DeleteFunctionEventInvokeConfig."""

    def __init__(self, lambdas: LambdaService, invoker: AsyncInvoker, store: Store,
                 staged: function_code.StagedCode | None = None) -> None:
        self.lambdas = lambdas
        self.invoker = invoker
        self.store = store
        self.staged = staged or function_code.StagedCode()

    def intercepts(self) -> dict[str, Interceptor]:
        """Lambda action -> its interceptor, for ``EngineApp.intercept``."""
        return {
            "CreateFunction": self._guarded(self.create_function),
            "UpdateFunctionCode": self._guarded(self.update_function_code),
            "UpdateFunctionConfiguration": self._guarded(self.update_function_configuration),
            "DeleteFunction": self._guarded(self.delete_function),
            "Invoke": self._guarded(self.invoke),
            "InvokeAsync": self._guarded(self.invoke_async),
            "PutFunctionEventInvokeConfig": self._guarded(self.put_event_invoke_config),
            "UpdateFunctionEventInvokeConfig": self._guarded(self.put_event_invoke_config),
            "DeleteFunctionEventInvokeConfig": self._guarded(self.delete_event_invoke_config),
            "PutFunctionConcurrency": self._guarded(self.put_concurrency),
            "DeleteFunctionConcurrency": self._guarded(self.delete_concurrency),
        }

    @staticmethod
    def _guarded(handler: Interceptor) -> Interceptor:
        def answer(request: Request, call: AwsCall) -> Response | None:
            try:
                return handler(request, call)
            except LambdaError as exc:
                return exc.response()
            except UnknownFunctionError as exc:
                return not_found(str(exc))

        return answer

    # --- functions ------------------------------------------------------------------------------------------
    def create_function(self, request: Request, call: AwsCall) -> Response:
        body = json_body(call)
        name = str(body.get("FunctionName") or "").rsplit(":", 1)[-1]
        if name and self.lambdas.has(name):
            return lambda_error("ResourceConflictException", f"Function already exist: {name}")
        if body.get("PackageType", "Zip") != "Zip":
            return invalid("jobkit's engine runs .zip functions of a pythonX.Y runtime; container images are not run")
        if not body.get("Handler"):
            return invalid("Handler is required for a .zip function")
        _check_runtime(body.get("Runtime"))
        code = function_code.prepare(body.get("Code"), self.lambdas.code_root(), name or "function", self._s3_object,
                                     self.staged)
        try:
            stored_code = function_code.for_moto(body["Code"], self.staged)
            answer = call_moto(self.store, request, json.dumps({**body, "Code": stored_code}).encode())
            if answer.status_code != 201:
                self._discard(code)
                return answer
            stored = json.loads(answer.get_data())
            self.lambdas.create(FunctionSpec(
                name=stored["FunctionName"], arn=stored["FunctionArn"], role_arn=body["Role"], handler=body["Handler"],
                runtime=body["Runtime"], code_dir=code.folder, timeout=float(body.get("Timeout", 3)),
                memory_size=int(body.get("MemorySize", 128)), variables=_variables(body),
                log_group=(body.get("LoggingConfig") or {}).get("LogGroup") or "", owned_code=code.owned,
                hot_reload=code.hot_reload))
        except FunctionExistsError as exc:  # a racing CreateFunction of the same name won
            self._discard(code)
            return lambda_error("ResourceConflictException", str(exc))
        except BaseException:
            self._discard(code)
            raise
        return answer

    def update_function_code(self, request: Request, call: AwsCall) -> Response:
        entry = self.lambdas.function(function_in(request.path))
        body = json_body(call)
        if body.get("DryRun"):
            return call_moto(self.store, request)
        code = function_code.prepare(body, self.lambdas.code_root(), entry.name, self._s3_object, self.staged)
        moto_code = function_code.for_moto({k: v for k, v in body.items() if k in ("ZipFile", "S3Bucket", "S3Key")},
                                           self.staged)
        rest = {k: v for k, v in body.items() if k not in ("ZipFile", "S3Bucket", "S3Key", "S3ObjectVersion")}
        try:
            answer = call_moto(self.store, request, json.dumps({**rest, **moto_code}).encode())
            if answer.status_code != 200:
                self._discard(code)
                return answer
            self.lambdas.update(entry.name, code_dir=code.folder, owned_code=code.owned, hot_reload=code.hot_reload)
        except BaseException:
            self._discard(code)
            raise
        return answer

    def update_function_configuration(self, request: Request, call: AwsCall) -> Response:
        """Handler, Runtime, Timeout, MemorySize, Environment, Role and LoggingConfig reach the function's next
        environment; the rest is moto's record."""
        entry = self.lambdas.function(function_in(request.path))
        body = json_body(call)
        if "Runtime" in body:
            _check_runtime(body["Runtime"])
        if "Environment" in body:  # moto reads Environment.Variables unconditionally
            body["Environment"] = {"Variables": (body["Environment"] or {}).get("Variables") or {}}
        answer = call_moto(self.store, request, json.dumps(body).encode())
        if answer.status_code != 200:
            return answer
        changes: dict[str, Any] = {}
        for key, field, convert in (("Handler", "handler", str), ("Runtime", "runtime", str),
                                    ("Timeout", "timeout", float), ("MemorySize", "memory_size", int),
                                    ("Role", "role_arn", str)):
            if key in body:
                changes[field] = convert(body[key])
        if "Environment" in body:
            changes["variables"] = _variables(body)
        if "LoggingConfig" in body:
            changes["log_group"] = (body["LoggingConfig"] or {}).get("LogGroup") or ""
        self.lambdas.update(entry.name, **changes)
        return answer

    def delete_function(self, request: Request, call: AwsCall) -> Response:
        """The function and its environments; a Qualifier naming a published version deletes that version in
        moto's record only (the engine runs $LATEST)."""
        entry = self.lambdas.function(function_in(request.path))
        answer = call_moto(self.store, request)
        if answer.status_code == 204 and request.args.get("Qualifier", "$LATEST") == "$LATEST":
            self.lambdas.delete(entry.name)
            self.invoker.configure(entry.arn, None)
        return answer

    def put_concurrency(self, request: Request, call: AwsCall) -> Response:
        """Reserved concurrency caps the function's environments at once ("Configuring reserved concurrency",
        https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html); 0 throttles every call,
        which the engine does not model, so it is refused rather than stored and ignored."""
        entry = self.lambdas.function(function_in(request.path))
        reserved = json_body(call).get("ReservedConcurrentExecutions")
        if isinstance(reserved, bool) or not isinstance(reserved, int) or reserved < 1:
            return invalid("ReservedConcurrentExecutions must be a whole number from 1 in jobkit's engine "
                           f"(0, which throttles every invocation, is not modelled), got {reserved!r}")
        answer = call_moto(self.store, request)
        if answer.status_code == 200:
            self.lambdas.update(entry.name, reserved_concurrency=reserved)
        return answer

    def delete_concurrency(self, request: Request, call: AwsCall) -> Response:
        entry = self.lambdas.function(function_in(request.path))
        answer = call_moto(self.store, request)
        if answer.status_code == 204:
            self.lambdas.update(entry.name, reserved_concurrency=None)
        return answer

    # --- invocation -----------------------------------------------------------------------------------------
    def invoke(self, request: Request, call: AwsCall) -> Response:
        name = function_in(request.path)
        self.lambdas.function(name)
        payload = call.body or b"{}"
        _check_payload(payload)
        kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if kind == "DryRun":
            return Response(status=204)
        if kind == "Event":
            request_id = self.invoker.submit(name, json.loads(payload))
            return Response(status=202, headers={"x-amzn-RequestId": request_id})
        if kind != "RequestResponse":
            return invalid(f"InvocationType must be RequestResponse, Event or DryRun, got {kind[:40]!r}")
        result = self.lambdas.invoke(name, payload)
        headers = {"X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": result.request_id}
        if result.is_error:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if request.headers.get("X-Amz-Log-Type") == "Tail":
            headers["X-Amz-Log-Result"] = base64.b64encode(result.logs.encode()[-4096:]).decode()
        return Response(result.payload, status=200, headers=headers, content_type="application/json")

    def invoke_async(self, request: Request, call: AwsCall) -> Response:
        """InvokeAsync, Lambda's older asynchronous call: the event queued as Invoke's Event would queue it."""
        name = function_in(request.path)
        self.lambdas.function(name)
        payload = call.body or b"{}"
        _check_payload(payload)
        request_id = self.invoker.submit(name, json.loads(payload))
        return Response(json.dumps({"Status": 202}), status=202, headers={"x-amzn-RequestId": request_id},
                        content_type="application/json")

    # --- asynchronous invocation's configuration --------------------------------------------------------------
    def put_event_invoke_config(self, request: Request, call: AwsCall) -> Response:
        """Put (overwrites) and Update (merges): moto stores it, its answer is the configuration from now on."""
        entry = self.lambdas.function(function_in(request.path))
        body = json_body(call)
        for outcome in ("OnSuccess", "OnFailure"):
            destination = ((body.get("DestinationConfig") or {}).get(outcome) or {}).get("Destination")
            if destination and service_of(destination) not in ASYNC_DESTINATIONS:
                return invalid(f"The destination {destination} of {outcome} is not supported: jobkit's engine "
                               f"delivers asynchronous invocation records to {', '.join(ASYNC_DESTINATIONS)}")
        answer = call_moto(self.store, request)
        if answer.status_code == 200:
            self.invoker.configure(entry.arn, InvokeConfig.from_properties(json.loads(answer.get_data())))
        return answer

    def delete_event_invoke_config(self, request: Request, call: AwsCall) -> Response:
        entry = self.lambdas.function(function_in(request.path))
        answer = call_moto(self.store, request)
        if answer.status_code == 204:
            self.invoker.configure(entry.arn, None)
        return answer

    # --- helpers ----------------------------------------------------------------------------------------------
    def _s3_object(self, bucket: str, key: str) -> bytes:
        """An object of the engine's S3, or Lambda's error for a missing one."""
        from moto.s3.exceptions import MissingBucket, MissingKey
        from moto.s3.models import s3_backends

        try:
            found = s3_backends[self.lambdas.account]["aws"].get_object(bucket, key)
            if found is not None:
                return bytes(found.value)
            reason = "NoSuchKey. S3 Error Message: The specified key does not exist."
        except MissingBucket:
            reason = "NoSuchBucket. S3 Error Message: The specified bucket does not exist"
        except MissingKey:
            reason = "NoSuchKey. S3 Error Message: The specified key does not exist."
        raise LambdaError("InvalidParameterValueException", f"Error occurred while GetObject. S3 Error Code: {reason}")

    @staticmethod
    def _discard(code: function_code.FunctionCode) -> None:
        if code.owned:
            shutil.rmtree(code.folder, ignore_errors=True)


def _check_runtime(runtime: Any) -> None:
    """A runtime the local runtime runs, with its interpreter on this machine."""
    if not isinstance(runtime, str) or not runtime:
        raise LambdaError("InvalidParameterValueException", "Runtime is required for a .zip function")
    try:
        find_interpreter(runtime)
    except LambdaRuntimeError as exc:
        raise LambdaError("InvalidParameterValueException",
                          f"The runtime parameter of {runtime} is not supported by jobkit's engine: {exc}") from None


def _check_payload(payload: bytes) -> None:
    """An invocation's payload must be JSON ("Invoke" > Errors: InvalidRequestContentException)."""
    try:
        json.loads(payload)
    except ValueError as exc:
        raise LambdaError("InvalidRequestContentException",
                          f"Could not parse request body into json: Could not parse payload into json: {exc}") from None


def _variables(body: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in ((body.get("Environment") or {}).get("Variables") or {}).items()}
