"""The ``differential`` marker: tests that run the embedded engine and LocalStack's engine side by side."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "differential: drives the same jobs through the embedded engine and LocalStack's host "
        "engine and compares what each hands to the handlers (slow: starts LocalStack)")
