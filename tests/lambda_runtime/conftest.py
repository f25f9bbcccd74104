"""Fixtures for the local Lambda runtime's tests: functions written to a temp dir, stopped afterwards."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from jobkit.lambda_runtime import FunctionConfig, LocalFunction, ensure_runtime_packages


@pytest.fixture(scope="session")
def runtime_packages() -> Path:
    """The runtime-provided boto3/botocore (installed into the project's cache on first use)."""
    return ensure_runtime_packages("python3.12")


MakeFunction = Callable[..., LocalFunction]


@pytest.fixture
def make_function(tmp_path: Path, runtime_packages: Path) -> Iterator[MakeFunction]:
    """`make_function({"app.py": source}, handler="app.handler", **config)` -> a started-on-demand function."""
    functions: list[LocalFunction] = []

    def make(
        files: Mapping[str, str],
        handler: str = "app.handler",
        *,
        name: str | None = None,
        max_concurrency: int = 1,
        tmp_root: Path | None = None,
        **config: object,
    ) -> LocalFunction:
        function_name = name or f"fn-{uuid.uuid4().hex[:8]}"
        code_dir = tmp_path / function_name
        for relative, source in files.items():
            target = code_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(source))
        function = LocalFunction(
            FunctionConfig(function_name=function_name, code_dir=code_dir, handler=handler, **config),  # type: ignore[arg-type]
            max_concurrency=max_concurrency,
            packages_dir=runtime_packages,
            tmp_root=tmp_root,
        )
        functions.append(function)
        return function

    yield make
    for function in functions:
        function.stop(timeout=2.0)
