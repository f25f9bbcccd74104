"""Role sessions from moto's STS: the engine assumes a role where AWS would on a caller's behalf (a function's
execution role, an API Gateway integration's credentials role), and recognizes the keys it issued.

"AssumeRole" (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html): a session lasts
``DurationSeconds`` and its keys sign as the role; the engine's SigV4 check accepts only keys found here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from moto.backends import get_backend
from moto.sts.models import AssumedRole

from jobkit.engine.services.apigateway.sigv4 import Credential


def assume_role(account: str, region: str, role_arn: str, session_name: str, duration_seconds: int) -> AssumedRole:
    """A new session of ``role_arn``, issued by moto's STS of ``account``."""
    sts = get_backend("sts")[account]["global"]
    return sts.assume_role(region_name=region, role_session_name=session_name, role_arn=role_arn, policy="",
                           duration=duration_seconds, external_id="")


def sts_credentials(account: str) -> Callable[[str], Credential | None]:
    """A lookup of the credentials moto's STS issued (AssumeRole), by access key id."""

    def lookup(access_key_id: str) -> Credential | None:
        sts = get_backend("sts")[account]["global"]
        for assumed in reversed(sts.assumed_roles):
            if assumed.access_key_id == access_key_id:
                expiration = assumed.expiration
                if expiration.tzinfo is None:
                    expiration = expiration.replace(tzinfo=dt.UTC)
                return Credential(assumed.access_key_id, assumed.secret_access_key, assumed.session_token,
                                  assumed.arn, assumed.role_arn, expiration)
        return None

    return lookup
