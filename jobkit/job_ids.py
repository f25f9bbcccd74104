"""What a job id looks like, for the engine's endpoints and the CLI alike: API Gateway's ``$context.requestId``
(a UUID), with room for other ids of that alphabet. A module of constants: it imports nothing of jobkit."""

from __future__ import annotations

import re

JOB_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
JOB_ID_RULE = "a job id is 1 to 128 letters, digits, '.', '_' or '-'"
