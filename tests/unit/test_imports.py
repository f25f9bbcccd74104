"""Packaging rules: the domain never imports boto3, and the handlers import with no AWS environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter with an empty environment (no region, no credentials, no settings)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_domain_does_not_import_boto3() -> None:
    result = run_python(
        "import sys, pkgutil, importlib, handlers.domain as d\n"
        "for m in pkgutil.iter_modules(d.__path__): importlib.import_module(f'handlers.domain.{m.name}')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'boto3', 'botocore'})\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_handlers_import_without_region_or_settings() -> None:
    result = run_python("import handlers.processor, handlers.error_handler")
    assert result.returncode == 0, result.stderr


def test_requirements_pin_powertools_only() -> None:
    lines = (ROOT / "handlers" / "requirements.txt").read_text().split()
    assert lines == ["aws-lambda-powertools==3.37.0"]
