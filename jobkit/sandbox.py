"""The AWS account and region of a local sandbox, jobkit's engine or LocalStack: what their ARNs, queue URLs and
endpoints name, and what a function runs in when neither its ARN nor its environment says otherwise.

LocalStack's own defaults (the account of any non-numeric access key such as ``test``, "Credentials",
https://docs.localstack.cloud/references/credentials/), so one stack's outputs read alike on both targets. A
module of constants only: the Lambda runtime, the targets and the engine all import it, and it imports nothing.
"""

from __future__ import annotations

ACCOUNT = "000000000000"
REGION = "us-east-1"
