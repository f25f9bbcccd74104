"""Exceptions raised by the local Lambda runtime to its callers (the engine, the LocalStack executor).

Function failures are never raised: they come back as an `InvocationResult` with `is_error=True`, in the
shape Lambda gives them. These exceptions mean the runtime itself could not do its job.
"""

from __future__ import annotations


class LambdaRuntimeError(Exception):
    """Base class: the local runtime could not run the function at all."""


class UnsupportedRuntimeError(LambdaRuntimeError):
    """The function's runtime is not one this runtime can run (only `pythonX.Y` is)."""


class InterpreterNotFoundError(LambdaRuntimeError):
    """No interpreter of the function's Python version exists on this machine."""


class RuntimePackagesError(LambdaRuntimeError):
    """The runtime-provided packages (boto3/botocore) could not be installed."""


class FunctionStoppedError(LambdaRuntimeError):
    """An invocation arrived after `LocalFunction.stop()`."""


class ConcurrencyLimitError(LambdaRuntimeError):
    """Every environment of the function stayed busy until the caller's acquire timeout."""
