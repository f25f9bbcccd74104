"""cdklocal bootstrap + deploy into LocalStack (either runtime), then the checks that make it usable.

Offline, cdklocal's default endpoints (``*.localhost.localstack.cloud``) do not resolve: both
``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_S3`` point at the engine (cdklocal keeps those two).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

from botocore.exceptions import ClientError

from jobkit.client.deployment import Deployment
from jobkit.client.waiting import wait_for
from jobkit.deploy.cdk_cli import context_args, run_cdk
from jobkit.deploy.outputs import write_outputs
from jobkit.deploy.template import Template
from jobkit.deploy.verify import verify
from jobkit.errors import JobkitError
from jobkit.project import OUTPUTS_FILE, ROOT, STATE_DIR
from jobkit.sandbox import REGION
from jobkit.targets.common import LOCAL_CONTEXT
from jobkit.targets.localstack.attach import Endpoint, Engine, identify
from stack.settings import STACK_NAME

LOG = STATE_DIR / "localstack" / "logs" / "deploy.log"
PROBE_PREFIX = "jobkit-readiness-probe-"


def _cdklocal_env(endpoint_url: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint_url, "AWS_ENDPOINT_URL_S3": endpoint_url,
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}


def local_api_url(endpoint_url: str, api_id: str, stage: str = "dev") -> str:
    """The API's URL that answers offline (the stack's own needs DNS for *.localhost.localstack.cloud)."""
    return f"{endpoint_url.rstrip('/')}/restapis/{api_id}/{stage}/_user_request_/"


def deploy(endpoint_url: str, say: Callable[[str], None], *, public_endpoint_url: str | None = None,
           outputs_file: Path = OUTPUTS_FILE, context: dict[str, str] | None = None,
           engine: Engine | None = None) -> Deployment:
    """Bootstraps (once), deploys, rewrites the outputs for this machine, verifies, waits for readiness. The
    engine (``engine``, else what its health endpoint says) is kept in the outputs: the scenarios' expected
    differences follow it."""
    engine = engine or identify(Endpoint(endpoint_url.rstrip("/"), "the deploy's endpoint"))
    env = _cdklocal_env(endpoint_url)
    ctx = context_args({**LOCAL_CONTEXT, **(context or {})})
    probe = Deployment(target="localstack", outputs={}, endpoint_url=endpoint_url, region=REGION)
    if not _bootstrapped(probe):
        say("cdklocal bootstrap")
        run_cdk("cdklocal", ["bootstrap", *ctx], log=LOG, env=env, step="cdklocal bootstrap")
    say("cdklocal deploy")
    raw_outputs = STATE_DIR / "localstack" / "cdk-outputs.raw.json"
    raw_outputs.parent.mkdir(parents=True, exist_ok=True)
    run_cdk("cdklocal", ["deploy", STACK_NAME, "--require-approval", "never", "--outputs-file",
                         str(raw_outputs), *ctx], log=LOG, env=env, step="cdklocal deploy")
    outputs = json.loads(raw_outputs.read_text())[STACK_NAME]
    public = (public_endpoint_url or endpoint_url).rstrip("/")
    outputs["JobsApiCloudUrl"] = outputs["JobsApiUrl"]
    outputs["JobsApiUrl"] = local_api_url(public, outputs["JobsApiId"])
    outputs.update({"JobkitTarget": "localstack", "JobkitEndpointUrl": public, "JobkitRegion": REGION,
                    **engine.outputs()})
    write_outputs(outputs_file, outputs)
    deployment = Deployment(target="localstack", outputs=outputs, endpoint_url=endpoint_url, region=REGION)
    say("checking every resource of the template on the target")
    report = verify(deployment, Template.load(ROOT / "cdk.out"), say)
    say(f"{report.checked} resources checked, {len(report.repaired)} created by jobkit")
    wait_until_ready(deployment, say)
    return deployment


def _bootstrapped(deployment: Deployment) -> bool:
    try:
        deployment.client("cloudformation").describe_stacks(StackName="CDKToolkit")
    except ClientError:
        return False
    return True


def wait_until_ready(deployment: Deployment, say: Callable[[str], None], timeout: float = 60) -> None:
    """Ready = the API answers and the stream delivers to live mappings.

    LocalStack can miss writes made within about a second of a table's creation although its stream says
    ENABLED, so the stream is probed with a real write: an item that already carries every consumer's
    status, which the processors skip as not submitted through the API (see handlers.processor).
    """
    from jobkit.client.jobs_api import JobsApi  # the signed client needs STS: only once deployed

    lambda_ = deployment.client("lambda")
    for index in range(1, len(deployment.consumer_ids()) + 1):
        function = deployment[f"Consumer{index}FunctionName"]
        wait_for(lambda f=function: [m["State"] for m in lambda_.list_event_source_mappings(  # type: ignore[misc]
                     FunctionName=f)["EventSourceMappings"]],
                 lambda states: bool(states) and all(s == "Enabled" for s in states),
                 timeout=timeout, describe=f"the stream mapping of {function} to be Enabled")
    say("mappings enabled; probing the stream")
    _probe_stream(deployment, timeout)
    from jobkit.client.jobs_api import assume_invoke_role

    # the engine's own address (inside a compose network it is not the one the outputs give the host)
    api = JobsApi(base_url=local_api_url(str(deployment.endpoint_url), deployment["JobsApiId"]),
                  region=deployment.region, credentials=assume_invoke_role(deployment))
    wait_for(lambda: api.get(PROBE_PREFIX + "api").status, lambda status: status == 404,
             timeout=timeout, describe="GET /jobs/{unknown id} to answer 404")


def _probe_stream(deployment: Deployment, timeout: float) -> None:
    ddb = deployment.client("dynamodb")
    streams = deployment.client("dynamodbstreams")
    table = deployment["JobsTableName"]
    stream_arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    done = {"M": {c: {"M": {"status": {"S": "Success"}, "results": {"S": "readiness probe"}}}
                  for c in deployment.consumer_ids()}}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe_id = PROBE_PREFIX + uuid4().hex
        ddb.put_item(TableName=table, Item={"id": {"S": probe_id}, "seconds": {"N": "1"},
                                            "version": {"N": "0"}, "job_status": done})
        try:
            wait_for(lambda pid=probe_id: _seen_in_stream(streams, stream_arn, pid),  # type: ignore[misc]
                     bool, timeout=min(5.0, max(0.1, deadline - time.monotonic())),
                     describe="the probe in the stream")
            ddb.delete_item(TableName=table, Key={"id": {"S": probe_id}})
            return
        except AssertionError:
            ddb.delete_item(TableName=table, Key={"id": {"S": probe_id}})
    raise JobkitError(f"the table's stream did not deliver a write within {timeout:.0f} s")


def _seen_in_stream(client: Any, stream_arn: str, probe_id: str) -> bool:
    shards = client.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    for shard in shards:
        iterator = client.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON",
        )["ShardIterator"]
        for _ in range(20):
            page = client.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                if record["dynamodb"].get("Keys", {}).get("id", {}).get("S") == probe_id:
                    return True
            iterator = page.get("NextShardIterator")
            if not iterator or not page["Records"]:
                break
    return False
