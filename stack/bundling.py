"""Local bundling of the handlers' asset: no Docker, no Lambda layer.

CDK falls back to ``docker run`` when local bundling returns False, which fails on machines without a
Docker engine; so this bundler either succeeds or raises with the pip output.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

#: the Lambda platform, not the build machine's (see docs/toolchain notes)
PIP_PLATFORM_ARGS = (
    "--platform", "manylinux2014_x86_64",
    "--implementation", "cp",
    "--python-version", "3.12",
    "--only-binary=:all:",
)


@jsii.implements(ILocalBundling)
class LocalPythonBundler:
    """Copies the ``handlers`` package and pip-installs its pinned requirements into the asset."""

    def __init__(self, package_dir: Path) -> None:
        self._package_dir = package_dir

    def try_bundle(self, output_dir: str, options: Any) -> bool:
        out = Path(output_dir)
        requirements = self._package_dir / "requirements.txt"
        if requirements.exists():
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 "--no-compile", "-r", str(requirements), "-t", str(out), *PIP_PLATFORM_ARGS],
                capture_output=True, text=True, check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"bundling {self._package_dir.name}: pip failed:\n{proc.stderr}")
        shutil.copytree(
            self._package_dir,
            out / self._package_dir.name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt"),
            dirs_exist_ok=True,
        )
        return True


def handlers_code(package_dir: Path) -> lambda_.Code:
    """One asset for every function: the handlers package and its dependencies."""
    return lambda_.Code.from_asset(
        str(package_dir),
        bundling=BundlingOptions(
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
            local=LocalPythonBundler(package_dir),  # type: ignore[arg-type]  # jsii passes options positionally
        ),
    )
