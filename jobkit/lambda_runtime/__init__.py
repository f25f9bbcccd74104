"""jobkit's local Lambda runtime: runs a Python function as a local process of its own runtime's version.

Shared by jobkit's targets (LocalStack's executor plugin, jobkit's embedded engine); stdlib only (besides
`jobkit.processes`, itself stdlib only), because it is imported inside LocalStack's process as well as jobkit's.

    function = LocalFunction(FunctionConfig("processor", Path("build/asset"), "handlers.processor.handler"))
    result = function.invoke(b'{"Records": []}', request_id="...")
    function.stop()
"""

from __future__ import annotations

from jobkit.lambda_runtime.environment import FunctionConfig
from jobkit.lambda_runtime.errors import (
    ConcurrencyLimitError,
    FunctionStoppedError,
    InterpreterNotFoundError,
    LambdaRuntimeError,
    RuntimePackagesError,
    UnsupportedRuntimeError,
)
from jobkit.lambda_runtime.function import InitResult, InvocationResult, LocalFunction
from jobkit.lambda_runtime.interpreter import find_interpreter, python_version_for_runtime
from jobkit.lambda_runtime.packages import (
    RUNTIME_REQUIREMENTS,
    default_cache_dir,
    ensure_runtime_packages,
    runtime_packages_dir,
)

__all__ = [
    "RUNTIME_REQUIREMENTS",
    "ConcurrencyLimitError",
    "FunctionConfig",
    "FunctionStoppedError",
    "InitResult",
    "InterpreterNotFoundError",
    "InvocationResult",
    "LambdaRuntimeError",
    "LocalFunction",
    "RuntimePackagesError",
    "UnsupportedRuntimeError",
    "default_cache_dir",
    "ensure_runtime_packages",
    "find_interpreter",
    "python_version_for_runtime",
    "runtime_packages_dir",
]
