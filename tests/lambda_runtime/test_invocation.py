"""One invocation: results, raised errors, Init failures and the logs Lambda writes around them."""

from __future__ import annotations

from tests.lambda_runtime.conftest import MakeFunction
from tests.lambda_runtime.helpers import new_request_id


def test_handler_result_and_platform_log_lines(make_function: MakeFunction) -> None:
    function = make_function(
        {
            "app.py": """
            import decimal

            def handler(event, context):
                return {"echo": event, "amount": decimal.Decimal("12.5"), "count": decimal.Decimal("3"), "text": "é"}
            """
        }
    )
    request_id = new_request_id()

    result = function.invoke(b'{"job": 1}', request_id)

    assert not result.is_error and result.error_type is None
    # Decimal (as DynamoDB hands it out) is a JSON number; python3.12 writes non-ASCII characters as they are.
    assert result.payload == '{"echo": {"job": 1}, "amount": 12.5, "count": 3, "text": "é"}'.encode()
    lines = result.logs.splitlines()
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert lines[-2] == f"END RequestId: {request_id}"
    report = lines[-1].split("\t")
    assert report[0] == f"REPORT RequestId: {request_id}"
    assert [field.split(":")[0] for field in report[1:]] == [
        "Duration",
        "Billed Duration",
        "Memory Size",
        "Max Memory Used",
        "Init Duration",  # first invocation of the environment
    ]
    assert report[3] == "Memory Size: 128 MB"
    assert result.init_duration_ms is not None and result.init_duration_ms > 0
    assert result.billed_duration_ms >= result.duration_ms
    assert 0 < result.max_memory_used_mb < 128  # the function's own memory, not the engine's


def test_bytes_result_is_returned_raw(make_function: MakeFunction) -> None:
    function = make_function({"app.py": "def handler(event, context):\n    return b'\\x00raw'\n"})

    assert function.invoke(b"{}", new_request_id()).payload == b"\x00raw"


def test_raised_exception_is_lambdas_error_document(make_function: MakeFunction) -> None:
    function = make_function(
        {
            "app.py": """
            def helper():
                raise ValueError("boom: job 42")

            def handler(event, context):
                helper()
            """
        }
    )
    request_id = new_request_id()

    result = function.invoke(b"{}", request_id)

    assert result.is_error and result.error_type == "ValueError"
    error = result.json()
    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "boom: job 42"
    assert error["requestId"] == request_id
    # User frames only (none of the runtime's), each as traceback.format_list renders it.
    assert len(error["stackTrace"]) == 2
    assert error["stackTrace"][0].startswith('  File "') and "app.py" in error["stackTrace"][0]
    assert ", in handler\n    helper()\n" in error["stackTrace"][0]
    assert ', in helper\n    raise ValueError("boom: job 42")\n' in error["stackTrace"][1]
    assert "[ERROR] ValueError: boom: job 42\nTraceback (most recent call last):\n" in result.logs
    # A handled function error changes nothing in REPORT (no Status field).
    assert "Status:" not in result.logs.splitlines()[-1]


def test_import_error_is_runtime_import_module_error(make_function: MakeFunction) -> None:
    function = make_function(
        {"handlers/__init__.py": "", "handlers/processor.py": "import does_not_exist\n"},
        handler="handlers.processor.handler",
    )
    request_id = new_request_id()

    result = function.invoke(b"{}", request_id)

    assert result.is_error and result.error_type == "Runtime.ImportModuleError"
    assert result.json() == {
        "errorMessage": "Unable to import module 'handlers.processor': No module named 'does_not_exist'",
        "errorType": "Runtime.ImportModuleError",
        "requestId": "",
        "stackTrace": [],
    }
    assert (
        "[ERROR] Runtime.ImportModuleError: Unable to import module 'handlers.processor': "
        "No module named 'does_not_exist'" in result.logs
    )
    assert "INIT_REPORT Init Duration:" in result.logs
    assert result.logs.splitlines()[-1].endswith("Status: error\tError Type: Runtime.ImportModuleError")
    assert f"START RequestId: {request_id}" in result.logs


def test_init_is_retried_at_every_invocation_after_a_failure(make_function: MakeFunction) -> None:
    function = make_function({"app.py": "import missing_dependency\n"})
    assert function.invoke(b"{}", new_request_id()).error_type == "Runtime.ImportModuleError"

    (function.config.code_dir / "missing_dependency.py").write_text("")
    (function.config.code_dir / "app.py").write_text(
        "import missing_dependency\ndef handler(e, c):\n    return 'fixed'\n"
    )

    assert function.invoke(b"{}", new_request_id()).payload == b'"fixed"'


def test_other_init_faults(make_function: MakeFunction) -> None:
    cases = {
        "app.nope": ("Runtime.HandlerNotFound", "Handler 'nope' missing on module 'app'"),
        "nodots": ("Runtime.MalformedHandlerName", "Bad handler 'nodots': not enough values to unpack"),
        "syntax.handler": ("Runtime.UserCodeSyntaxError", "Syntax error in module 'syntax'"),
        "raising.handler": ("KeyError", "'TABLE_NAME'"),
    }
    files = {
        "app.py": "def handler(e, c):\n    return 1\n",
        "syntax.py": "def handler(:\n",
        "raising.py": "import os\nTABLE = os.environ['TABLE_NAME']\n",
    }
    for handler, (error_type, message) in cases.items():
        result = make_function(files, handler=handler).invoke(b"{}", new_request_id())
        assert result.error_type == error_type, handler
        assert result.json()["errorMessage"].startswith(message), result.json()


def test_unserialisable_result_is_marshal_error(make_function: MakeFunction) -> None:
    function = make_function({"app.py": "def handler(event, context):\n    return {1, 2}\n"})

    error = function.invoke(b"{}", new_request_id()).json()

    assert error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable"


def test_logs_capture_stdout_stderr_and_logging_per_invocation(make_function: MakeFunction) -> None:
    function = make_function(
        {
            "app.py": """
            import logging
            import sys

            print("loaded")  # Init output belongs to the first invocation's log, before START
            logger = logging.getLogger()
            logger.setLevel(logging.INFO)

            def handler(event, context):
                print("out", event["n"])
                print("err", event["n"], file=sys.stderr)
                logger.info("info %s", event["n"])
                return event["n"]
            """
        }
    )
    first_id, second_id = new_request_id(), new_request_id()

    first = function.invoke(b'{"n": 1}', first_id)
    second = function.invoke(b'{"n": 2}', second_id)

    first_lines = first.logs.splitlines()
    assert first_lines[0] == "loaded"
    assert first_lines[1].startswith(f"START RequestId: {first_id}")
    assert first_lines[2:4] == ["out 1", "err 1"]
    level, timestamp, request_id, message = first_lines[4].split("\t")
    assert (level, request_id, message) == ("[INFO]", first_id, "info 1")
    assert timestamp.endswith("Z")
    assert "out 2" not in first.logs and "loaded" not in second.logs and "out 1" not in second.logs
    second_lines = second.logs.splitlines()
    assert second_lines[0].startswith(f"START RequestId: {second_id}")
    assert second_lines[1:3] == ["out 2", "err 2"]
    assert second_lines[3].split("\t")[2:] == [second_id, "info 2"]
    assert "Init Duration" not in second.logs
