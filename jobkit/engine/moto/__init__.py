"""moto, as the engine uses it: every change jobkit makes to moto's internals is installed from here, and only
on the moto version the changes were written for (each reaches into moto's private classes and functions, which
another release may have moved or changed: a patch that silently missed would change answers, not fail).

- ``fast``: moto's per-request costs out of the hot path, and some of its memory and start-up costs, each
  without changing an answer.
- ``writes``: moto's DynamoDB writes atomic per call, as DynamoDB's are.
- ``lambdas``: moto's Lambda a control plane only: it never runs a function (no Docker, no synchronous stream
  triggers inside a write), and a function's asynchronous invocation settings are overwritten by a Put.
- ``streams``: a DynamoDB write that changes nothing writes no stream record, as on DynamoDB Streams.
- ``bucket_policies``: a bucket policy's statement applies only when its conditions hold (moto ignored all but
  ``StringEquals``: cdk's bootstrap bucket, which denies requests without TLS, refused every upload).
"""

from __future__ import annotations

from importlib.metadata import version

from jobkit.errors import JobkitError

#: the release every patch here was written and tested against (pyproject pins it)
MOTO_VERSION = "5.2.5"


class MotoVersionError(JobkitError):
    """The installed moto is not the release jobkit's patches were written for."""


def check_version(installed: str | None = None) -> None:
    installed = installed or version("moto")
    if installed != MOTO_VERSION:
        raise MotoVersionError(f"jobkit's engine patches moto {MOTO_VERSION}, and moto {installed} is installed",
                               f"pip install 'moto[all,server]=={MOTO_VERSION}'")


def install() -> None:
    """Every patch, once per process (idempotent), after the version check."""
    check_version()
    from jobkit.engine.moto import bucket_policies, fast, lambdas, streams, writes

    fast.install()
    writes.install()
    streams.install()
    lambdas.install()
    bucket_policies.install()
