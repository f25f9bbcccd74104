"""Differential check of the embedded engine against LocalStack's engine, in one run.

The same jobs are driven through both targets; what each hands to the handlers and what the API answers is
read back through the targets' own AWS APIs (no handler change needed) and compared key for key:

- ``api.*``: status, JSON body and API Gateway's own headers of an accepted ``POST /jobs``, a ``GET`` of that
  job, and the refusals (unsigned, bad body, wrong content type, unknown id);
- ``stream_record``: the job's ``INSERT`` as DynamoDB Streams ``GetRecords`` returns it;
- ``on_failure_record``: the event source mapping's on-failure record (the SNS ``Message``);
- ``sns_sqs_envelope``: the SNS notification as an SQS subscriber of the same topic gets it;
- ``sns_lambda_event``: the SNS event the error handler was invoked with (the destination record's
  ``requestPayload``);
- ``destination_record`` and ``eventbridge_envelope``: the failed error handler's destination record and the
  EventBridge envelope around it (from the stack's capture log group ``/jobkit/failed-events``);
- ``runtime_mapping_event``: the stream event a function created at runtime gets through a stream mapping
  created at runtime (CreateTable, CreateFunction, CreateEventSourceMapping through the target's API);
- ``sns_filtered_sqs_envelope`` and ``sns_filter_unmatched``: what an SQS subscription made at runtime with a
  filter policy on message attributes gets of two publishes to consumer 1's error topic, one that matches it
  and one that does not (which must not be delivered).

:func:`compare` walks two captures: key sets recursively, value types, and values, where values that differ
naturally between two deployments (ids, ARNs' account and random name suffixes, timestamps, sequence
numbers, signatures) are compared by shape only (:func:`shape`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import ApiResponse, JobsApi
from jobkit.client.waiting import wait_for
from jobkit.sandbox import REGION

JSON_HEADERS = {"Content-Type": "application/json"}
UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"
#: Headers API Gateway itself documents on its answers; the rest (Date, Server, Connection, ...) belong to
#: whichever HTTP server fronts the engine and are not compared.
COMPARED_HEADER_PREFIXES = ("x-amz", "content-type")


# --------------------------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Difference:
    """One place where the two captures differ: ``path`` as ``a.b[0].c``, each side rendered by :func:`render`."""

    path: str
    embedded: str
    localstack: str

    def __str__(self) -> str:
        return f"{self.path}: embedded {self.embedded} / localstack {self.localstack}"


MISSING = "<absent>"

# (name, pattern): a string matching one is compared by the name only; the first match wins.
_SHAPES: list[tuple[str, re.Pattern[str]]] = [
    ("<uuid>", re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")),
    ("<iso-time>", re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?")),
    ("<x-ray-trace-id>", re.compile(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}(?:;.*)?")),
    ("<digits>", re.compile(r"\d{10,}")),
]
# Substitutions applied inside longer strings (ARNs, URLs, messages, stack frames) before they are compared,
# in this order: per-deployment names first, then ids, account, region.
_SUBSTITUTIONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<uuid>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "<iso-time>"),
    # resource names CloudFormation generates differ per deployment (and per engine's naming scheme)
    (re.compile(r"(?<=:function:)[A-Za-z0-9_-]+"), "<function>"),
    (re.compile(r"(?<=:sns:)([a-z0-9-]+:\d{12}:)[A-Za-z0-9_-]+"), r"\1<topic>"),
    (re.compile(r"(?<=:table/)[A-Za-z0-9_.-]+"), "<table>"),
    (re.compile(r"(?<=:role/)[A-Za-z0-9_+=,.@-]+"), "<role>"),
    (re.compile(r"(?<=/restapis/)[a-z0-9]{10}"), "<api-id>"),
    (re.compile(r"SimpleNotificationService-[0-9a-f]+\.pem"), "SimpleNotificationService-<hex>.pem"),
    # the embedded engine runs on a free port: its own URLs (the SNS signing certificate's) name it
    (re.compile(r"http://127\.0\.0\.1:\d+/"), "http://127.0.0.1:<port>/"),
    # where the function's code was unpacked is the engine's business; the frames inside it are not
    (re.compile(r'File "[^"]*?/(handlers/[^"]+)"'), r'File "<code>/\1"'),
    (re.compile(r"(?<=:)\d{12}(?=:)"), "<account>"),
    (re.compile(r"(?<=:)[a-z]{2}(?:-[a-z]+)+-\d(?=:)"), "<region>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<hex32>"),
    (re.compile(r"(?<=-)[0-9a-f]{8}\b"), "<hex8>"),  # the scoped fault plan's name
    (re.compile(r"\d{10,}"), "<digits>"),
]
#: Keys whose string values are opaque per delivery (compared as "non-empty string" only).
OPAQUE_KEYS = frozenset({"Signature", "x-amz-apigw-id", "x-amzn-requestid", "MessageId", "id", "requestId",
                         "shardId", "eventID"})
#: Keys holding DynamoDB Streams sequence numbers: 21 to 40 digits ("StreamRecord", DynamoDB Streams API).
SEQUENCE_KEYS = frozenset({"SequenceNumber", "startSequenceNumber", "endSequenceNumber"})
#: Keys whose numeric values are instants (compared by unit: seconds or milliseconds since the epoch).
TIME_KEYS = frozenset({"ApproximateCreationDateTime", "timestamp", "approximateArrivalOfFirstRecord",
                       "approximateArrivalOfLastRecord", "time"})


def shape(value: Any, key: str = "") -> str:
    """The form of a value that two deployments must share (the value itself when it is not volatile)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"bool:{value}"
    if isinstance(value, int | float):
        kind = type(value).__name__
        if key in TIME_KEYS or abs(value) >= 1e9:
            return f"{kind}:<epoch-{'ms' if abs(value) >= 1e11 else 's'}>"
        return f"{kind}:{value!r}"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, str):
        if key in OPAQUE_KEYS:
            return "str:<opaque>" if value else "str:''"
        if key in SEQUENCE_KEYS:
            size = len(value) if value.isdigit() else -1
            return "str:<digits, 21..40>" if 21 <= size <= 40 else f"str:<{size} digits>"
        for name, pattern in _SHAPES:
            if pattern.fullmatch(value):
                return f"str:{name}"
        text = value
        for pattern, replacement in _SUBSTITUTIONS:
            text = pattern.sub(replacement, text)
        return "str:" + json.dumps(text)[1:-1][:300]
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return f"array[{len(value)}]"
    return type(value).__name__


def render(value: Any, key: str = "") -> str:
    return MISSING if value is _ABSENT else shape(value, key)


_ABSENT = object()


def compare(a: Any, b: Any, path: str = "") -> list[Difference]:
    """Differences of ``b`` (LocalStack) from ``a`` (embedded): missing or extra keys (recursively), types,
    lengths of arrays, and values compared by :func:`shape`."""
    key = path.rsplit(".", 1)[-1].split("[", 1)[0] if path else ""
    if isinstance(a, dict) and isinstance(b, dict):
        found: list[Difference] = []
        for name in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{name}" if path else str(name)
            if name not in b:
                found.append(Difference(sub, render(a[name], str(name)), MISSING))
            elif name not in a:
                found.append(Difference(sub, MISSING, render(b[name], str(name))))
            else:
                found.extend(compare(a[name], b[name], sub))
        return found
    if isinstance(a, list) and isinstance(b, list):
        found = []
        if len(a) != len(b):
            found.append(Difference(path, f"array[{len(a)}]", f"array[{len(b)}]"))
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            found.extend(compare(x, y, f"{path}[{index}]"))
        return found
    left, right = shape(a, key), shape(b, key)
    return [] if left == right else [Difference(path, left, right)]


# ---------------------------------------------------------------------------------------------- collection


def decode_json_strings(value: Any) -> Any:
    """Strings that hold a JSON object are compared as the object (SNS ``Message``, log lines)."""
    if isinstance(value, dict):
        return {k: decode_json_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_json_strings(v) for v in value]
    if isinstance(value, str) and value.startswith("{"):
        try:
            return decode_json_strings(json.loads(value))
        except ValueError:
            return value
    return value


def api_answer(answer: ApiResponse) -> dict[str, Any]:
    """Status, body and API Gateway's own headers (names lower-cased) of one answer."""
    headers = {name.lower(): value for name, value in answer.headers.items()
               if name.lower().startswith(COMPARED_HEADER_PREFIXES)}
    return {"status": answer.status, "body": answer.body if answer.body is not None else answer.text,
            "headers": headers}


@dataclass
class Probe:
    """An SQS queue that reads what a target hands on: subscribed to consumer 1's error-handling topic (made
    before any job is driven), with ``filter_policy`` on message attributes if given; or, not subscribed, the
    queue a recording function sends its events to."""

    deployment: Deployment
    queue_url: str = ""
    queue_arn: str = ""

    def create(self) -> Probe:
        sqs = self.deployment.client("sqs")
        self.queue_url = sqs.create_queue(QueueName=f"jobkit-differential-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url,
                                                  AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return self

    def subscribe(self, filter_policy: dict[str, Any] | None = None) -> Probe:
        self.create()
        # "SNS subscription filter policies", scope MessageAttributes:
        # https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html
        attributes = {"FilterPolicy": json.dumps(filter_policy), "FilterPolicyScope": "MessageAttributes"} \
            if filter_policy is not None else {}
        self.deployment.client("sns").subscribe(TopicArn=self.deployment["ErrorHandlingTopic1Arn"], Protocol="sqs",
                                                Endpoint=self.queue_arn, Attributes=attributes)
        return self

    def messages(self) -> list[dict[str, Any]]:
        sqs = self.deployment.client("sqs")
        answer = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                     VisibilityTimeout=0)
        return [json.loads(m["Body"]) for m in answer.get("Messages", [])]

    def delete(self) -> None:
        self.deployment.client("sqs").delete_queue(QueueUrl=self.queue_url)


#: a function that records each event it gets: the JSON of the event, sent to the queue RECORDED_EVENTS
RECORDER = """\
import json
import os

import boto3

SQS = boto3.client("sqs")


def handler(event, context):
    SQS.send_message(QueueUrl=os.environ["RECORDED_EVENTS"], MessageBody=json.dumps(event))
"""
LAMBDA_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
#: the filter policy of the runtime subscription, and the attribute values of the two publishes
FILTER_ATTRIBUTE = "differential"
FILTER_POLICY = {FILTER_ATTRIBUTE: ["matched"]}


def _zip(source: str, name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, source)
    return buffer.getvalue()


@dataclass
class RuntimeMapping:
    """A stream mapping made through the target's API while it runs, not by the template: a table with a
    stream, a python3.12 function that records its events in ``recorded`` (a :class:`Probe` queue), and a
    mapping between them (TRIM_HORIZON: a record written before the mapping polls is still read)."""

    deployment: Deployment
    recorded: Probe
    name: str = ""
    mapping: str = ""

    def create(self, timeout: float = 60) -> RuntimeMapping:
        ddb, lam = self.deployment.client("dynamodb"), self.deployment.client("lambda")
        self.name = f"jobkit-differential-{uuid.uuid4().hex[:8]}"
        stream = ddb.create_table(
            TableName=self.name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )["TableDescription"]["LatestStreamArn"]
        wait_for(lambda: ddb.describe_table(TableName=self.name)["Table"]["TableStatus"],
                 lambda status: status == "ACTIVE", timeout=timeout, describe=f"table {self.name} active")
        role = self.deployment.client("iam").create_role(RoleName=self.name,
                                                         AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]["Arn"]
        lam.create_function(FunctionName=self.name, Runtime="python3.12", Role=role, Handler="recorder.handler",
                            Code={"ZipFile": _zip(RECORDER, "recorder.py")}, Timeout=10,
                            Environment={"Variables": {"RECORDED_EVENTS": self.recorded.queue_url}})
        wait_for(lambda: lam.get_function_configuration(FunctionName=self.name).get("State", "Active"),
                 lambda state: state == "Active", timeout=timeout, describe=f"function {self.name} active")
        self.mapping = lam.create_event_source_mapping(FunctionName=self.name, EventSourceArn=stream,
                                                       StartingPosition="TRIM_HORIZON", BatchSize=1)["UUID"]
        wait_for(lambda: lam.get_event_source_mapping(UUID=self.mapping)["State"],
                 lambda state: state == "Enabled", timeout=timeout, describe=f"mapping {self.mapping} enabled")
        return self

    def event_of_a_write(self, timeout: float) -> dict[str, Any]:
        """Writes one item; the event the function was invoked with for it."""
        key = str(uuid.uuid4())
        self.deployment.client("dynamodb").put_item(
            TableName=self.name, Item={"id": {"S": key}, "seconds": {"N": "1"}, "note": {"S": "differential"}})
        seen: list[dict[str, Any]] = []

        def recorded() -> dict[str, Any] | None:
            seen.extend(self.recorded.messages())
            return next((event for event in seen
                         if any(_job_id_of(r) == key for r in event.get("Records", []))), None)

        event = wait_for(recorded, lambda found: found is not None, timeout=timeout,
                         describe="the runtime mapping's function to record the item's event")
        assert event is not None
        return event

    def delete(self) -> None:
        lam, client = self.deployment.client("lambda"), self.deployment.client
        steps = [lambda: lam.delete_event_source_mapping(UUID=self.mapping) if self.mapping else None,
                 lambda: lam.delete_function(FunctionName=self.name),
                 lambda: client("iam").delete_role(RoleName=self.name),
                 lambda: client("dynamodb").delete_table(TableName=self.name)]
        for step in steps:
            with contextlib.suppress(Exception):  # each goes if it was made; what is left goes with the target
                step()


@dataclass
class RuntimeResources:
    """What a run creates through a target's API while it runs: the stream mapping and the filtered
    subscription (both made before any job is driven)."""

    mapping: RuntimeMapping
    filtered: Probe

    @classmethod
    def create(cls, deployment: Deployment) -> RuntimeResources:
        made = cls(RuntimeMapping(deployment, Probe(deployment)), Probe(deployment))
        made.mapping.recorded.create()
        made.mapping.create()
        made.filtered.subscribe(FILTER_POLICY)
        return made

    def delete(self) -> None:
        self.mapping.delete()
        for probe in (self.mapping.recorded, self.filtered):
            if probe.queue_url:
                probe.delete()


def filtered_deliveries(deployment: Deployment, probe: Probe, message: str,
                        timeout: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Publishes ``message`` to consumer 1's error topic twice, with a message attribute the filter policy
    does not match, then with one it does; the notification the filtered subscriber got, and any it got of
    the unmatched publish (none, on AWS)."""
    sns = deployment.client("sns")
    for value in ("unmatched", "matched"):
        sns.publish(TopicArn=deployment["ErrorHandlingTopic1Arn"], Message=message, MessageAttributes={
            FILTER_ATTRIBUTE: {"DataType": "String", "StringValue": value}})
    seen: list[dict[str, Any]] = []

    def matched() -> dict[str, Any] | None:
        seen.extend(probe.messages())
        return next((m for m in seen if _attribute(m) == "matched"), None)

    found = wait_for(matched, lambda envelope: envelope is not None, timeout=timeout,
                     describe="the filtered subscription's notification")
    assert found is not None
    seen.extend(probe.messages())  # one more long poll: an unmatched delivery published first would be here
    return found, [m for m in seen if _attribute(m) != "matched"]


def _attribute(envelope: dict[str, Any]) -> Any:
    return envelope.get("MessageAttributes", {}).get(FILTER_ATTRIBUTE, {}).get("Value")


def stream_records(deployment: Deployment) -> list[dict[str, Any]]:
    """Every record of the jobs table's stream, from the trim horizon of each shard."""
    ddb, streams = deployment.client("dynamodb"), deployment.client("dynamodbstreams")
    arn = ddb.describe_table(TableName=deployment["JobsTableName"])["Table"]["LatestStreamArn"]
    found: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for _ in range(50):  # bounded: an open shard always answers with a next iterator
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            found.extend(page["Records"])
            iterator = page.get("NextShardIterator")
            if not iterator or not page["Records"]:
                break
    return found


def _job_id_of(record: dict[str, Any]) -> str | None:
    value = record.get("dynamodb", {}).get("Keys", {}).get("id", {}).get("S")
    return str(value) if value is not None else None


def failed_events(deployment: Deployment) -> list[dict[str, Any]]:
    """The EventBridge events the stack's capture rule wrote to ``/jobkit/failed-events``."""
    logs = deployment.client("logs")
    group = deployment["FailedJobsEventLogGroupName"]
    events: list[dict[str, Any]] = []
    try:
        pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group)
        for page in pages:
            for event in page.get("events", []):
                try:
                    events.append(json.loads(event["message"]))
                except ValueError:
                    continue
    except logs.exceptions.ResourceNotFoundException:
        return []
    return events


@dataclass
class Jobs:
    """The job ids driven on one target."""

    happy: str
    refused: str
    handler_fault: str


def drive(deployment: Deployment, api: JobsApi, fault_plan: str) -> tuple[Jobs, dict[str, Any]]:
    """Submits the three jobs and asks the API's refusals; returns the ids and the API's answers."""
    happy_answer = api.request("POST", "jobs", json.dumps({"seconds": 1}), headers=JSON_HEADERS)
    jobs = Jobs(
        happy=str(happy_answer.body["id"]),
        refused=api.submit(301),
        handler_fault=api.submit(301, fault=fault_plan),
    )
    answers = {
        "post_accepted": api_answer(happy_answer),
        "unsigned": api_answer(api.request("GET", f"jobs/{UNKNOWN_ID}", sign=False)),
        "bad_body": api_answer(api.request("POST", "jobs", json.dumps({"seconds": 0}), headers=JSON_HEADERS)),
        "not_json": api_answer(api.request("POST", "jobs", "seconds=1", headers=JSON_HEADERS)),
        "wrong_content_type": api_answer(api.request("POST", "jobs", "seconds=1",
                                                     headers={"Content-Type": "text/plain"})),
        "unknown_id": api_answer(api.get(UNKNOWN_ID)),
    }
    return jobs, answers


def _strip(value: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k not in keys}


def collect(deployment: Deployment, api: JobsApi, probe: Probe, fault_plan: str, runtime: RuntimeResources,
            timeout: float = 40) -> dict[str, Any]:
    """Drives the jobs on one target and returns what it handed to the handlers and what the API answered;
    then what the resources made at runtime got (after the jobs: the publishes to the error topic reach
    its error handler too, which handles the refused job's record again, idempotently)."""
    jobs, answers = drive(deployment, api, fault_plan)
    consumers = deployment.consumer_ids()
    api.wait_for_statuses(jobs.happy, dict.fromkeys(consumers, "Success"), timeout=timeout)
    answers["get_succeeded"] = api_answer(api.get(jobs.happy))
    api.wait_for_statuses(jobs.refused, dict.fromkeys(consumers, "Failure"), timeout=timeout)
    answers["get_failed"] = api_answer(api.get(jobs.refused))

    records = {r["dynamodb"]["SequenceNumber"]: r for r in stream_records(deployment)}
    refused_insert = next(r for r in records.values()
                          if r["eventName"] == "INSERT" and _job_id_of(r) == jobs.refused)
    refused_sequence = refused_insert["dynamodb"]["SequenceNumber"]

    def refused_notification(seen: list[dict[str, Any]]) -> dict[str, Any] | None:
        for envelope in seen:
            message = decode_json_strings(envelope.get("Message"))
            info = message.get("DDBStreamBatchInfo", {}) if isinstance(message, dict) else {}
            if info.get("startSequenceNumber") == refused_sequence:
                return envelope
        return None

    received: list[dict[str, Any]] = []

    def poll() -> dict[str, Any] | None:
        received.extend(probe.messages())
        return refused_notification(received)

    notification = wait_for(poll, lambda found: found is not None, timeout=timeout,
                            describe="the refused job's on-failure record in the SQS probe")
    assert notification is not None
    function_1 = deployment["ErrorHandler1FunctionName"]

    def fault_envelope() -> dict[str, Any] | None:
        for event in failed_events(deployment):
            detail = event.get("detail", {})
            payload = json.dumps(detail.get("requestPayload", {}))
            arn = detail.get("requestContext", {}).get("functionArn", "")
            if function_1 in arn and _payload_job(deployment, payload, records) == jobs.handler_fault:
                return event
        return None

    envelope = wait_for(fault_envelope, lambda found: found is not None, timeout=timeout,
                        describe="the failed error handler's event in /jobkit/failed-events")
    assert envelope is not None
    happy_insert = records_of(records.values(), jobs.happy)
    detail = envelope["detail"]
    sns_lambda_event = decode_json_strings(detail.get("requestPayload"))
    runtime_event = runtime.mapping.event_of_a_write(timeout)
    filtered, unmatched = filtered_deliveries(deployment, runtime.filtered, notification["Message"], timeout)
    return {
        "api": answers,
        "stream_record": happy_insert,
        "on_failure_record": decode_json_strings(notification["Message"]),
        "sns_sqs_envelope": _strip(notification, "Message"),
        "sns_lambda_event": sns_lambda_event,
        "destination_record": _strip(detail, "requestPayload"),
        "eventbridge_envelope": _strip(envelope, "detail"),
        "runtime_mapping_event": runtime_event,
        "sns_filtered_sqs_envelope": _strip(filtered, "Message"),
        "sns_filter_unmatched": unmatched,
    }


def records_of(records: Iterable[dict[str, Any]], job_id: str) -> dict[str, Any] | None:
    return next((r for r in records if r.get("eventName") == "INSERT" and _job_id_of(r) == job_id), None)


_SEQUENCE = re.compile(r'"startSequenceNumber":\s*"(\d+)"')


def _payload_job(deployment: Deployment, payload: str, records: dict[str, dict[str, Any]]) -> str | None:
    """The job of an SNS event (the on-failure record's start sequence number, looked up in the stream)."""
    match = _SEQUENCE.search(payload.replace('\\"', '"'))
    if not match:
        return None
    record = records.get(match.group(1))
    if record is None:
        records.update({r["dynamodb"]["SequenceNumber"]: r for r in stream_records(deployment)})
        record = records.get(match.group(1))
    return _job_id_of(record) if record else None




# ------------------------------------------------------------------------------------- known differences

GATEWAY_RESPONSES = "https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html"
PASSTHROUGH = "https://docs.aws.amazon.com/apigateway/latest/developerguide/integration-passthrough-behaviors.html"
IAM_AUTH = "https://docs.aws.amazon.com/apigateway/latest/developerguide/permissions.html"
XRAY_APIGW = "https://docs.aws.amazon.com/xray/latest/devguide/xray-services-apigateway.html"
STREAM_RECORD = "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_StreamRecord.html"
ITEM_SIZES = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html"
#: LocalStack's stream records (localstack-core 2026.3.0, the version the LocalStack target runs)
LOCALSTACK_DDB_RECORDS = ("https://github.com/localstack/localstack/blob/main/localstack-core/localstack/services/"
                          "dynamodb/provider.py")
DDB_ON_FAILURE = "https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html"
DDB_EVENT = "https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html"
SNS_EVENT = "https://docs.aws.amazon.com/lambda/latest/dg/with-sns.html"
SNS_FORMAT = "https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html"
SNS_SIGNATURES = "https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html"
ASYNC_RECORDS = "https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html"


@dataclass(frozen=True)
class KnownDifference:
    """One row of the table: ``path`` is a glob over :class:`Difference` paths (``*`` spans dots)."""

    path: str
    embedded: str
    localstack: str
    aws: str  # which side AWS's documentation supports: "embedded", "localstack", "neither" or "undecided"
    reason: str
    source: str

    def matches(self, found: Difference) -> bool:
        return (fnmatchcase(found.path, self.path.replace("[", "[[]")) and found.embedded == self.embedded
                and found.localstack == self.localstack)


KNOWN_DIFFERENCES: list[KnownDifference] = [
    KnownDifference(
        "api.unsigned.status", "int:403", "int:404", "embedded",
        "LocalStack's free engine does not enforce AWS_IAM on API Gateway: the unsigned GET is served (404 for "
        "the unknown id); AWS refuses it with MISSING_AUTHENTICATION_TOKEN, 403",
        f"{GATEWAY_RESPONSES} ; {IAM_AUTH}"),
    KnownDifference(
        "api.unsigned.body.message", "str:Missing Authentication Token", "str:Job not found", "embedded",
        "as above: the default body of MISSING_AUTHENTICATION_TOKEN on AWS; LocalStack answers the integration's",
        GATEWAY_RESPONSES),
    KnownDifference(
        "api.unsigned.headers.x-amzn-errortype", "str:MissingAuthenticationTokenException", MISSING, "embedded",
        "as above: gateway responses carry x-amzn-ErrorType; LocalStack answered from the integration",
        GATEWAY_RESPONSES),
    KnownDifference(
        "api.wrong_content_type.status", "int:415", "int:400", "embedded",
        "POST with Content-Type text/plain: the integration has passthrough NEVER and only an application/json "
        "template, so AWS answers UNSUPPORTED_MEDIA_TYPE (415); LocalStack validates the body against the "
        "application/json model and answers BAD_REQUEST_BODY (400)",
        f"{PASSTHROUGH} ; {GATEWAY_RESPONSES}"),
    KnownDifference(
        "api.wrong_content_type.body.message", "str:Unsupported Media Type", "str:Invalid request body",
        "embedded", "as above (default messages of UNSUPPORTED_MEDIA_TYPE and BAD_REQUEST_BODY)",
        GATEWAY_RESPONSES),
    KnownDifference(
        "api.wrong_content_type.headers.x-amzn-errortype", "str:UnsupportedMediaTypeException",
        "str:BadRequestException", "embedded", "as above", GATEWAY_RESPONSES),
    KnownDifference(
        "api.*.headers.x-amzn-trace-id", MISSING, "str:<x-ray-trace-id>", "undecided",
        "LocalStack adds an X-Ray trace header to answers that reached the integration; on AWS API Gateway "
        "passes X-Amzn-Trace-Id when X-Ray tracing is on for the stage, which this stack does not turn on",
        XRAY_APIGW),
    KnownDifference(
        "*SequenceNumber", "str:<digits, 21..40>", "str:<56 digits>", "embedded",
        "DynamoDB Streams sequence numbers are 21 to 40 characters; LocalStack's streams run on a Kinesis "
        "emulator and hand out Kinesis' 56-digit numbers (in the stream record and in the on-failure record's "
        "DDBStreamBatchInfo alike)",
        f"{STREAM_RECORD} ; {DDB_ON_FAILURE}"),
    KnownDifference(
        "stream_record.dynamodb.SizeBytes", "int:106", "int:113", "embedded",
        "SizeBytes is the size of the record's keys and images by DynamoDB's item-size rules (attribute names plus "
        "values, numbers by significant digits): the Lambda guide's example event shows 26, 59 and 38 for its "
        "records, which are exactly those sums, as the embedded engine counts; LocalStack (_get_size_bytes) "
        "counts the compact JSON of the item (type tags, quotes and braces included)",
        f"{STREAM_RECORD} ; {ITEM_SIZES} ; {DDB_EVENT} ; {LOCALSTACK_DDB_RECORDS}"),
    KnownDifference(
        "runtime_mapping_event.Records[0].dynamodb.SizeBytes", "int:101", "int:99", "embedded",
        "as above, in the event of a mapping created at runtime",
        f"{ITEM_SIZES} ; {DDB_EVENT} ; {LOCALSTACK_DDB_RECORDS}"),
    KnownDifference(
        "sns_lambda_event.Records[0].Sns.UnsubscribeUrl",
        f"str:https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:<region>:"
        "<account>:<topic>:<uuid>",
        "str:http://localhost.localstack.cloud:4566/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:<region>:"
        "<account>:<topic>:<uuid>", "neither",
        "the host is naturally each engine's own (AWS: https://sns.<region>.amazonaws.com)",
        SNS_EVENT),
    KnownDifference(
        "sns_*.SigningCert*", "str:http://127.0.0.1:<port>/_jobkit/sns/SimpleNotificationService.pem",
        "str:http://localhost.localstack.cloud:4566/_aws/sns/SimpleNotificationService-<hex>.pem", "neither",
        "each engine signs with a key of its own and serves its certificate on its own endpoint, where a "
        "subscriber that verifies signatures fetches it (AWS: Amazon's certificate at "
        "https://sns.<region>.amazonaws.com/SimpleNotificationService-<hex>.pem)",
        f"{SNS_FORMAT} ; {SNS_SIGNATURES}"),
    KnownDifference(
        "sns_*sqs_envelope.UnsubscribeURL",
        f"str:https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:<region>:"
        "<account>:<topic>:<uuid>",
        "str:http://localhost.localstack.cloud:4566/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:<region>:"
        "<account>:<topic>:<uuid>", "embedded",
        "the endpoint host, as above",
        SNS_FORMAT),
    KnownDifference(
        "eventbridge_envelope.resources", "array[2]", "array[1]", "undecided",
        "the destination's EventBridge envelope: the embedded engine lists [event bus ARN, function ARN with "
        ":$LATEST], LocalStack only the function ARN without qualifier. The page shows the destination record "
        "(detail), not the envelope's resources; nothing in the stack matches on resources",
        ASYNC_RECORDS),
    KnownDifference(
        "eventbridge_envelope.resources[0]", "str:arn:aws:events:<region>:<account>:event-bus/FailedJobsEventBus",
        "str:arn:aws:lambda:<region>:<account>:function:<function>", "undecided", "as above", ASYNC_RECORDS),
]


def unexplained(found: list[Difference], known: list[KnownDifference] = KNOWN_DIFFERENCES) -> list[Difference]:
    """Differences no row of the table explains."""
    return [d for d in found if not any(k.matches(d) for k in known)]


def stale(found: list[Difference], known: list[KnownDifference] = KNOWN_DIFFERENCES) -> list[KnownDifference]:
    """Rows of the table that no found difference matches any more."""
    return [k for k in known if not any(k.matches(d) for d in found)]


def markdown_table(known: list[KnownDifference] = KNOWN_DIFFERENCES) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| path | embedded | LocalStack | AWS's documentation supports | reason | source |",
             "|---|---|---|---|---|---|"]
    for k in known:
        sources = " ; ".join(f"<{s.strip()}>" for s in k.source.split(";"))
        lines.append(f"| `{cell(k.path)}` | `{cell(k.embedded)}` | `{cell(k.localstack)}` | {k.aws} | "
                     f"{cell(k.reason)} | {sources} |")
    return "\n".join(lines) + "\n"
