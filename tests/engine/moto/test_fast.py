"""The engine's direct JSON for DynamoDB item answers means exactly what moto's serializer writes; its direct
dispatch of DynamoDB (Streams) calls answers as moto's Flask app does; moto's SSM
loads without moto's EC2."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.dynamodb.responses import DynamoResult

from jobkit.engine.moto import fast as moto_fast

ITEM: dict[str, Any] = {
    "id": {"S": "j-1"},
    "n": {"N": "-12.50"},
    "blob": {"B": b"\x00\xffbytes"},
    "blobs": {"BS": [b"a", b"\x01\x02"]},
    "strings": {"SS": ["x", "y"]},
    "numbers": {"NS": ["1", "2.5"]},
    "flag": {"BOOL": False},
    "nothing": {"NULL": True},
    "empty": {"M": {}},
    "job_status": {"M": {"consumer_1": {"M": {"status": {"S": "Success"}, "seconds": {"N": "1"}}}}},
    "list": {"L": [{"S": "a"}, {"N": "1"}, {"M": {"b": {"B": b"z"}}}, {"L": []}]},
}


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, Any, Any]]]:
    """Every DynamoDB answer of the test, encoded both ways: (operation, moto's, the engine's)."""
    original = moto_fast._original or DynamoResult.execute_result
    pairs: list[tuple[str, Any, Any]] = []

    def both(self: DynamoResult, context: Any) -> Any:
        theirs = original(self, context)
        name = context.operation_model.name
        if name in moto_fast.ITEM_OPERATIONS:
            ours = (200, {"Content-Type": moto_fast.CONTENT_TYPE}, moto_fast.encode(
                self.result, context.operation_model.output_shape))
            pairs.append((name, theirs, ours))
        return theirs

    monkeypatch.setattr(DynamoResult, "execute_result", both)
    with mock_aws():
        yield pairs


def test_item_answers_of_every_attribute_type_match_moto(compared: list[tuple[str, Any, Any]]) -> None:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    key = {"id": ITEM["id"]}
    ddb.put_item(TableName="t", Item=ITEM, ReturnConsumedCapacity="TOTAL")
    ddb.put_item(TableName="t", Item=ITEM, ReturnValues="ALL_OLD")
    ddb.get_item(TableName="t", Key=key, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    ddb.get_item(TableName="t", Key={"id": {"S": "missing"}})
    ddb.get_item(TableName="t", Key=key, ProjectionExpression="#b, job_status.consumer_1",
                 ExpressionAttributeNames={"#b": "blob"})
    ddb.update_item(TableName="t", Key=key, UpdateExpression="SET job_status.#c = :s, version = :v",
                    ExpressionAttributeNames={"#c": "consumer_2"},
                    ExpressionAttributeValues={":s": {"M": {"status": {"S": "Running"}}}, ":v": {"N": "1"}},
                    ReturnValues="ALL_NEW")
    ddb.update_item(TableName="t", Key=key, UpdateExpression="SET version = :v",
                    ExpressionAttributeValues={":v": {"N": "2"}})
    ddb.query(TableName="t", KeyConditionExpression="id = :id", ExpressionAttributeValues={":id": ITEM["id"]})
    ddb.scan(TableName="t", Limit=1)
    ddb.scan(TableName="t", FilterExpression="flag = :t", ExpressionAttributeValues={":t": {"BOOL": True}})
    ddb.batch_get_item(RequestItems={"t": {"Keys": [key, {"id": {"S": "missing"}}]}})
    ddb.delete_item(TableName="t", Key=key, ReturnValues="ALL_OLD")
    ddb.delete_item(TableName="t", Key=key)

    assert {name for name, _, _ in compared} == moto_fast.ITEM_OPERATIONS
    for name, (status, headers, body), (our_status, our_headers, our_body) in compared:
        assert (our_status, our_headers["Content-Type"]) == (status, headers["Content-Type"]), name
        assert json.loads(our_body) == json.loads(body), name


@pytest.fixture
def compared_records(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, Any]]]:
    """Every GetRecords answer of the test, encoded both ways: (moto's, the engine's)."""
    from moto.core.responses import ActionResult
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    original = ActionResult.execute_result
    pairs: list[tuple[Any, Any]] = []

    def both(self: ActionResult, context: Any) -> Any:
        theirs = original(self, context)
        if context.operation_model.name == "GetRecords":
            pairs.append((theirs, moto_fast._RecordsResult(self.result).execute_result(context)))
        return theirs

    monkeypatch.setattr(DynamoDBStreamsHandler, "get_records", moto_fast._GET_RECORDS)  # moto's, if installed
    monkeypatch.setattr(ActionResult, "execute_result", both)
    with mock_aws():
        yield pairs


def _streams(action: str, body: dict[str, Any]) -> dict[str, Any]:
    """One DynamoDB Streams call through moto's handler, as the engine makes it (boto3's in-process streams
    client is routed to DynamoDB's handler by mock_aws)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    headers = {"X-Amz-Target": f"DynamoDBStreams_20120810.{action}", "Content-Type": moto_fast.CONTENT_TYPE,
               "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261204/us-east-1/dynamodb/aws4_request, "
                                "SignedHeaders=host, Signature=0"}
    environ: dict[str, Any] = EnvironBuilder(path="/", method="POST", data=json.dumps(body), headers=headers,
                                             base_url="http://streams.dynamodb.us-east-1.amazonaws.com").get_environ()
    environ["HTTP_X_MOTO_ACCOUNT_ID"] = DEFAULT_ACCOUNT_ID
    chunks, status, _ = run_wsgi_app(
        lambda env, start: moto_fast.dispatch_direct(DynamoDBStreamsHandler.dispatch, env, start), environ)
    assert status.startswith("200"), (status, b"".join(chunks))
    answer: dict[str, Any] = json.loads(b"".join(chunks))
    return answer


def test_stream_records_of_every_attribute_and_view_type_match_moto(compared_records: list[tuple[Any, Any]]) -> None:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    for view in ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        arn = ddb.create_table(TableName=view, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                               AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                               BillingMode="PAY_PER_REQUEST",
                               StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
                               )["TableDescription"]["LatestStreamArn"]
        ddb.put_item(TableName=view, Item=ITEM)
        ddb.update_item(TableName=view, Key={"id": ITEM["id"]}, UpdateExpression="SET version = :v",
                        ExpressionAttributeValues={":v": {"N": "1"}})
        ddb.delete_item(TableName=view, Key={"id": ITEM["id"]})
        shard = _streams("DescribeStream", {"StreamArn": arn})["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = _streams("GetShardIterator", {"StreamArn": arn, "ShardId": shard,
                                                 "ShardIteratorType": "TRIM_HORIZON"})["ShardIterator"]
        answer = _streams("GetRecords", {"ShardIterator": iterator, "Limit": 2})
        assert [r["eventName"] for r in answer["Records"]] == ["INSERT", "MODIFY"]
        _streams("GetRecords", {"ShardIterator": answer["NextShardIterator"]})
        _streams("GetRecords", {"ShardIterator": answer["NextShardIterator"], "Limit": 1000})

    assert len(compared_records) == 12
    for (status, headers, body), (our_status, our_headers, our_body) in compared_records:
        assert (our_status, our_headers["Content-Type"]) == (status, headers["Content-Type"])
        ours = json.loads(our_body)
        assert ours == json.loads(body)
        assert all(isinstance(r["dynamodb"]["ApproximateCreationDateTime"], int | float) for r in ours["Records"])
    bodies = [json.loads(body)["Records"] for (_, _, body), _ in compared_records]
    assert any("NewImage" in r["dynamodb"] and "OldImage" in r["dynamodb"] for records in bodies for r in records)
    assert any(r["eventName"] == "REMOVE" for records in bodies for r in records)


def test_installed_engine_answers_through_the_direct_encoding() -> None:
    moto_fast.install()
    moto_fast.install()  # twice: still one wrapper around moto's own
    assert DynamoResult.execute_result is moto_fast._execute_result
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    assert DynamoDBStreamsHandler.get_records is moto_fast._get_records
    assert moto_fast._original is not moto_fast._execute_result


def test_action_lookup_is_remembered_and_unchanged() -> None:
    import moto.core.responses
    from moto.core.utils import method_names_from_class

    moto_fast.install()
    remembered = moto.core.responses.method_names_from_class
    assert remembered(DynamoResult) == method_names_from_class(DynamoResult)
    assert remembered(DynamoResult) is remembered(DynamoResult)


#: Run in a fresh interpreter: whether moto.ec2 gets imported depends on what the process imported before.
SSM_WITHOUT_EC2 = """
import json, sys
import boto3
from moto import mock_aws
from jobkit.engine.moto import fast as moto_fast

moto_fast.install()
facts = {}
with mock_aws():
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/jobkit/faults/a", Value="1", Type="String")
    ssm.put_parameter(Name="/jobkit/faults/b", Value="2", Type="String", Overwrite=True)
    facts["value"] = ssm.get_parameter(Name="/jobkit/faults/a")["Parameter"]["Value"]
    facts["by_path"] = sorted(p["Name"] for p in ssm.get_parameters_by_path(Path="/jobkit/faults")["Parameters"])
    ssm.delete_parameter(Name="/jobkit/faults/a")
    facts["ec2_after_ssm"] = "moto.ec2" in sys.modules

    from moto.ssm import models
    proxy = models.ec2_backends
    # SendCommand with instance targets is what SSM needs EC2 for: the proxy imports the real package
    ssm.send_command(DocumentName="AWS-RunShellScript", Parameters={"commands": ["true"]},
                     Targets=[{"Key": "tag:role", "Values": ["worker"]}])
    import moto.ec2
    from moto.ec2.models import ec2_backends
    facts["ec2_after_send_command"] = "moto.ec2" in sys.modules
    facts["real_package"] = hasattr(moto.ec2, "__path__") and moto.ec2.ec2_backends is ec2_backends
    facts["proxy_item_is_real"] = proxy["123456789012"] is ec2_backends["123456789012"]
    facts["proxy_attribute_is_real"] = proxy.service_name == ec2_backends.service_name == "ec2"
print(json.dumps(facts))
"""


def _fresh_python(code: str) -> dict[str, Any]:
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    facts: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return facts


def test_ssm_runs_without_importing_moto_ec2_until_it_needs_it() -> None:
    facts = _fresh_python(SSM_WITHOUT_EC2)
    assert facts["value"] == "1"
    assert facts["by_path"] == ["/jobkit/faults/a", "/jobkit/faults/b"]
    assert facts["ec2_after_ssm"] is False
    assert facts["ec2_after_send_command"] is True
    assert facts["real_package"] is True
    assert facts["proxy_item_is_real"] is True
    assert facts["proxy_attribute_is_real"] is True


def test_a_later_import_of_moto_ec2_gets_the_real_package() -> None:
    facts = _fresh_python("""
import json, sys
from jobkit.engine.moto import fast as moto_fast
moto_fast.install()
loaded = "moto.ec2" in sys.modules
import moto.ec2.models
from moto.ssm import models
print(json.dumps({"loaded": loaded, "package": hasattr(sys.modules["moto.ec2"], "__path__"),
                  "same": models.ec2_backends["1"] is moto.ec2.ec2_backends["1"]}))
""")
    assert facts == {"loaded": False, "package": True, "same": True}


def test_nothing_to_do_when_moto_ec2_is_loaded_already() -> None:
    facts = _fresh_python("""
import json
import moto.ec2
from jobkit.engine.moto import fast as moto_fast
moto_fast.install()
from moto.ssm import models
print(json.dumps({"real": models.ec2_backends is moto.ec2.ec2_backends}))
""")
    assert facts == {"real": True}


#: Run in a fresh interpreter: which loader decoded a model depends on what the process did before install.
SHARED_MODELS = """
import json
import boto3
from moto import mock_aws
from moto.core.utils import get_service_model
from jobkit.engine.moto import fast as moto_fast
from jobkit.engine.runtime import EmbeddedEngine

stock_session = boto3.Session()  # moto's own way: every partition's regions
stock = sorted(r for p in stock_session.get_available_partitions()
               for r in stock_session.get_available_regions("dynamodb", partition_name=p))
moto_fast.install()
with mock_aws():
    ddb = boto3.client("dynamodb", region_name="eu-west-1")
    ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    from moto.dynamodb.models import dynamodb_backends
    regions = sorted(dynamodb_backends["123456789012"].regions)
    tables = ddb.list_tables()["TableNames"]
document = moto_fast.LOADER.load_service_model("dynamodb", "service-2")
deployer = EmbeddedEngine()._clients("http://127.0.0.1:9")("dynamodb")
print(json.dumps({"tables": tables, "regions": regions == stock, "eu-west-1": "eu-west-1" in regions,
                  "moto": get_service_model("dynamodb")._service_description is document,
                  "deployer": deployer.meta.service_model._service_description is document,
                  "deployer_keys": deployer._request_signer._credentials.access_key}))
"""


def test_moto_and_the_deployer_share_one_decoded_model_per_service() -> None:
    facts = _fresh_python(SHARED_MODELS)
    assert facts["tables"] == ["t"]  # moto answers as before
    assert facts["regions"] is True and facts["eu-west-1"] is True  # moto's backends know the same regions
    assert facts["moto"] is True  # moto's model is the loader's document, not a copy
    assert facts["deployer"] is True  # so is the deployer clients'
    assert facts["deployer_keys"] == "test"


def _answer_both_ways(app: Any, target: str, body: dict[str, Any]) -> tuple[Any, Any]:
    """(moto's Flask answer, the direct answer) to one DynamoDB call: (status, JSON body)."""
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    def environ() -> dict[str, Any]:
        headers = {"X-Amz-Target": target, "Content-Type": moto_fast.CONTENT_TYPE,
                   "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261204/us-east-1/dynamodb/aws4_request, "
                                    "SignedHeaders=host, Signature=0"}
        env: dict[str, Any] = EnvironBuilder(path="/", method="POST", data=json.dumps(body), headers=headers,
                                             base_url="http://dynamodb.us-east-1.amazonaws.com").get_environ()
        env["HTTP_X_MOTO_ACCOUNT_ID"] = "000000000000"
        return env

    answers: list[Any] = []
    for call in (app.moto, lambda env, start: moto_fast.dispatch_direct(moto_fast.direct_handler(env), env, start)):
        try:
            chunks, status, _ = run_wsgi_app(call, environ())
        except Exception as exc:  # the engine's server answers 500 to either
            answers.append(type(exc).__name__)
            continue
        answers.append((status, json.loads(b"".join(chunks) or b"null")))
    return answers[0], answers[1]


def test_direct_dispatch_answers_as_motos_flask_app() -> None:
    from jobkit.engine.core.server import EngineApp

    app = EngineApp()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="d", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST",
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
        ddb.put_item(TableName="d", Item={"id": {"S": "j"}, "version": {"N": "0"}})
        stream = ddb.describe_table(TableName="d")["Table"]["LatestStreamArn"]
        calls = [
            ("DynamoDB_20120810.GetItem", {"TableName": "d", "Key": {"id": {"S": "j"}}}),
            ("DynamoDB_20120810.GetItem", {"TableName": "missing", "Key": {"id": {"S": "j"}}}),
            ("DynamoDB_20120810.UpdateItem", {"TableName": "d", "Key": {"id": {"S": "j"}},
                                              "UpdateExpression": "SET version = :n", "ConditionExpression":
                                              "version = :v", "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                                              "ExpressionAttributeValues": {":n": {"N": "1"}, ":v": {"N": "7"}}}),
            ("DynamoDB_20120810.Nonsense", {}),
            ("DynamoDBStreams_20120810.DescribeStream", {"StreamArn": stream}),
        ]
        for target, body in calls:
            flask, direct = _answer_both_ways(app, target, body)
            assert direct == flask, target
        assert moto_fast.direct_handler({"HTTP_X_AMZ_TARGET": "AmazonSSM.GetParameter"}) is None


# --- change 5: UpdateItem's expression work, against stock moto ---------------------------------------------

UPDATE = "SET job_status.#c = :s, version = :n"
JOB: dict[str, Any] = {"id": {"S": "j1"}, "job_status": {"M": {}}, "version": {"N": "0"}, "seconds": {"N": "1"},
                       "l": {"L": [{"S": "a"}, {"N": "2"}]}, "cnt": {"N": "5"}, "tags": {"SS": ["x", "y"]},
                       "a": {"M": {"b": {"M": {"c": {"N": "1"}}}}}}
KEY = {"id": {"S": "j1"}}


def _update(update: str | None = None, key: dict[str, Any] | None = None, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    call: dict[str, Any] = {"TableName": "t", "Key": key or KEY, **kwargs}
    if update is not None:
        call["UpdateExpression"] = update
    return "update_item", call


def _status(consumer: str, status: str, version: int, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    """The pattern's write (handlers/adapters/dynamodb.py ``put_status``)."""
    return _update(UPDATE, ConditionExpression="version = :v", ExpressionAttributeNames={"#c": consumer},
                   ExpressionAttributeValues={":s": {"M": {"status": {"S": status}}}, ":n": {"N": str(version + 1)},
                                              ":v": {"N": str(version)}},
                   ReturnValuesOnConditionCheckFailure="ALL_OLD", **kwargs)


ONE = {":one": {"N": "1"}}
#: PutItem / UpdateItem / TransactWriteItems calls, in order, on table ``t`` (key ``id``) and ``r`` (``id``, ``n``)
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("put_item", {"TableName": "t", "Item": JOB}),
    _status("c1", "Running", 0),
    _status("c2", "Running", 1, ReturnValues="ALL_NEW"),  # the same string, other names and values
    _status("c1", "Success", 1),  # a lost race: ALL_OLD item in the error
    _update(UPDATE, ConditionExpression="version = :v", ExpressionAttributeNames={"#c": "c1"},
            ExpressionAttributeValues={":s": {"S": "x"}, ":n": {"N": "9"}, ":v": {"N": "0"}}),  # fails, no item
    _status("c1", "Success", 2, ReturnValues="UPDATED_OLD"),
    _status("c2", "Success", 3, ReturnValues="UPDATED_NEW"),
    _update("SET job_status = :m, version = :new", ConditionExpression="attribute_exists(id) AND "
            "attribute_not_exists(version)", ExpressionAttributeValues={":m": {"M": {}}, ":new": {"N": "1"}}),
    _update("SET version = if_not_exists(version, :zero) + :one", ConditionExpression="attribute_exists(id)",
            ExpressionAttributeValues={":zero": {"N": "0"}, **ONE}, ReturnValues="ALL_NEW"),
    _update("SET fresh = if_not_exists(fresh, :zero) + :one", ReturnValues="UPDATED_NEW",
            ExpressionAttributeValues={":zero": {"N": "0"}, **ONE}),
    _update("SET #l = list_append(#l, :more), cnt = cnt - :one", ReturnValues="UPDATED_NEW",
            ExpressionAttributeNames={"#l": "l"}, ExpressionAttributeValues={":more": {"L": [{"BOOL": True}]}, **ONE}),
    _update("SET #l = list_append(:front, #l)", ExpressionAttributeNames={"#l": "l"},
            ExpressionAttributeValues={":front": {"L": [{"NULL": True}]}}, ReturnValues="ALL_OLD"),
    _update("SET l[9] = :x, a.b.d = :x", ExpressionAttributeValues={":x": {"B": b"\x00\x01"}}, ReturnValues="ALL_NEW"),
    _update("REMOVE job_status.c1, l[0], l[2] SET seconds = :one", ExpressionAttributeValues=ONE,
            ReturnValues="ALL_OLD"),
    _update("ADD cnt :one, tags :more", ReturnValues="UPDATED_NEW",
            ExpressionAttributeValues={**ONE, ":more": {"SS": ["z"]}}),
    _update("DELETE tags :less ADD added :more", ReturnValues="ALL_NEW",
            ExpressionAttributeValues={":more": {"NS": ["1", "2"]}, ":less": {"SS": ["x"]}}),
    _update("   SET   version=version+:one   ", ExpressionAttributeValues=ONE, ReturnValues="UPDATED_OLD"),
    _update("SET created = :one", key={"id": {"S": "j2"}}, ConditionExpression="attribute_not_exists(id)",
            ExpressionAttributeValues=ONE, ReturnValues="ALL_NEW"),
    _update("SET created = :one", key={"id": {"S": "j3"}}, ConditionExpression="attribute_exists(id)",
            ExpressionAttributeValues=ONE, ReturnValuesOnConditionCheckFailure="ALL_OLD"),
    _update("SET job_status.#c = :s", ConditionExpression="attribute_exists(job_status.#c) OR size(l) > :one",
            ExpressionAttributeNames={"#c": "c9"}, ExpressionAttributeValues={":s": {"S": "s"}, **ONE}),
    _update("SET job_status.#c = :s", ConditionExpression="NOT (version BETWEEN :one AND :one) AND "
            "cnt IN (:one, :s)", ExpressionAttributeNames={"#c": "c8"},
            ExpressionAttributeValues={":s": {"N": "5"}, **ONE}, ReturnValuesOnConditionCheckFailure="ALL_OLD"),
    _update(None, AttributeUpdates={"legacy": {"Value": {"S": "v"}, "Action": "PUT"}}, ReturnValues="ALL_NEW"),
    ("update_item", {"TableName": "r", "Key": {"id": {"S": "r"}, "n": {"N": "1"}}, "ReturnValues": "ALL_NEW",
                     "UpdateExpression": "SET #c = :s, version = :n", "ExpressionAttributeNames": {"#c": "c1"},
                     "ExpressionAttributeValues": {":s": {"S": "s"}, ":n": {"N": "1"}}}),
    ("update_item", {"TableName": "r", "Key": {"id": {"S": "r"}, "n": {"N": "2"}}, "UpdateExpression": UPDATE,
                     "ExpressionAttributeNames": {"#c": "c1"},
                     "ExpressionAttributeValues": {":s": {"S": "s"}, ":n": {"N": "1"}}}),
    ("transact_write_items", {"TransactItems": [
        {"Update": {"TableName": "t", "Key": KEY, "UpdateExpression": UPDATE,
                    "ConditionExpression": "attribute_exists(id)", "ExpressionAttributeNames": {"#c": "c3"},
                    "ExpressionAttributeValues": {":s": {"S": "t"}, ":n": {"N": "50"}}}}]}),
    ("transact_write_items", {"TransactItems": [
        {"Update": {"TableName": "t", "Key": KEY, "UpdateExpression": UPDATE, "ConditionExpression": "version = :v",
                    "ExpressionAttributeNames": {"#c": "c3"}, "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    "ExpressionAttributeValues": {":s": {"S": "t"}, ":n": {"N": "51"}, ":v": {"N": "0"}}}}]}),
    # invalid: each must raise moto's error, with its message
    _update("SET = :x", ExpressionAttributeValues={":x": ONE[":one"]}),
    _update("SET a = :x,", ExpressionAttributeValues={":x": ONE[":one"]}),
    _update("", ExpressionAttributeValues=ONE),
    _update("SET version = :one, version = :one", ExpressionAttributeValues=ONE),
    _update("SET a.b = :one, a = :one", ExpressionAttributeValues=ONE),
    _update("SET id = :one", ExpressionAttributeValues=ONE),
    _update("SET x = :missing, y = :one", ExpressionAttributeValues=ONE),
    _update("SET #missing = :one, #c = :one", ExpressionAttributeNames={"#c": "c"}, ExpressionAttributeValues=ONE),
    _update("SET x = :missing", ExpressionAttributeValues=ONE),
    _update("SET x = :one", ExpressionAttributeNames={"#unused": "u"}, ExpressionAttributeValues=ONE),
    _update("SET nope.deeper = :one", ExpressionAttributeValues=ONE),
    _update("SET x = nope + :one", ExpressionAttributeValues=ONE),
    _update("SET x = tags + :one", ExpressionAttributeValues=ONE),
    _update("SET x = list_append(cnt, :one)", ExpressionAttributeValues=ONE),
    _update("SET size = :one", ExpressionAttributeValues=ONE),
    _update("SET x = list_append(nope, :one)", ExpressionAttributeValues=ONE),
    _update("SET x = if_not_exists(nope)", ExpressionAttributeValues=ONE),
    _update("SET x = :one", key={"id": {"S": ""}}, ExpressionAttributeValues=ONE),
    _update("SET x = :one", key={"nope": {"S": "j1"}}, ExpressionAttributeValues=ONE),
    _update("ADD a :one ADD b :one", ExpressionAttributeValues=ONE),
    _update("SET x = :one REMOVE y SET z = :one", ExpressionAttributeValues=ONE),
    _update("SET x = :one", ConditionExpression="version = = :one", ExpressionAttributeValues=ONE),
    _update("SET x = :one", ConditionExpression="version = :one AND", ExpressionAttributeValues=ONE),
    _update("SET x = :one", ConditionExpression="version ~ :one", ExpressionAttributeValues=ONE),
    _update("SET x = :one", ConditionExpression="size = :one", ExpressionAttributeValues=ONE),
    _update("SET x = :one", ConditionExpression="version = :two", ExpressionAttributeValues=ONE),
    _update("SET x = :one", AttributeUpdates={"x": {"Value": ONE[":one"]}}, ExpressionAttributeValues=ONE),
    _update("SET x = :one", ReturnValues="SOME", ExpressionAttributeValues=ONE),
    _status("c1", "Done", 0),  # and the pattern's write again, after all that
]


def _patched_moto(patched: bool) -> Any:
    """Change 5 on or off (moto's own functions) for the ``with`` block, then as it was."""

    @contextlib.contextmanager
    def switched() -> Iterator[None]:
        before = [(owner, name, owner.__dict__.get(name, moto_fast._ABSENT))
                  for owner, name, _, _ in moto_fast.UPDATE_PATCHES]

        def put(pairs: list[tuple[type, str, Any]]) -> None:
            for owner, name, value in pairs:
                if value is moto_fast._ABSENT:
                    if name in owner.__dict__:
                        delattr(owner, name)
                else:
                    setattr(owner, name, value)

        put([(owner, name, replacement if patched else original)
             for owner, name, original, replacement in moto_fast.UPDATE_PATCHES])
        try:
            yield
        finally:
            put(before)

    return switched()


def _outcomes(calls: list[tuple[str, dict[str, Any]]], patched: bool) -> dict[str, Any]:
    """Every answer or error of ``calls``, then the tables' stream records and items, under stock or patched moto."""
    from datetime import datetime
    from unittest import mock

    answers: list[Any] = []
    # records carry the clock, and their SizeBytes its length: one instant for both runs
    clock = mock.patch("moto.dynamodb.models.table.utcnow", return_value=datetime(2026, 12, 4, 17, 0, 0, 123456))
    with _patched_moto(patched), clock, mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST",
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        ddb.create_table(TableName="r", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"},
                                                   {"AttributeName": "n", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                                               {"AttributeName": "n", "AttributeType": "N"}],
                         BillingMode="PAY_PER_REQUEST")
        for operation, kwargs in calls:
            try:
                answer = getattr(ddb, operation)(**kwargs)
                answer.pop("ResponseMetadata", None)
                answers.append(("ok", answer))
            except ClientError as exc:
                answers.append(("error", exc.response["Error"], exc.response.get("Item"),
                                exc.response.get("CancellationReasons")))
            except Exception as exc:  # moto's unhandled errors: the same type and text either way
                answers.append(("raised", type(exc).__name__, str(exc)))
        # the shard's records as GetRecords returns them (boto3's in-process streams client is routed elsewhere)
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        shard = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_table("t").stream_shard
        records = []
        for record in shard.get(shard.starting_sequence_number, 1000):
            record = json.loads(json.dumps(record, default=repr))
            record.pop("eventID")  # random
            records.append(record)
        items = {name: sorted(ddb.scan(TableName=name)["Items"], key=repr) for name in ("t", "r")}
    return {"answers": answers, "records": records, "items": items}


def test_update_items_answer_as_stock_moto() -> None:
    stock = _outcomes(CALLS, patched=False)
    assert _outcomes(CALLS, patched=True) == stock
    assert _outcomes(CALLS, patched=True) == stock  # with the expressions remembered from the run before
    kinds = [answer[0] for answer in stock["answers"]]
    assert kinds.count("error") >= 25 and kinds.count("ok") >= 20  # the table exercises both
    messages = {answer[1]["Message"] for answer in stock["answers"] if answer[0] == "error"}
    assert any("Syntax error" in message for message in messages)
    assert any(answer[2] for answer in stock["answers"] if answer[0] == "error")  # an ALL_OLD item


#: UpdateExpression / ConditionExpression pairs the generated sequences draw from (``{p}``: a path)
TEMPLATES = [
    ("SET job_status.#c = :s, version = :n", "version = :v"),
    ("SET {p} = :s", "attribute_exists(id)"),
    ("SET {p} = if_not_exists({p}, :s)", None),
    ("SET l = list_append(l, :l)", "size(l) < :n"),
    ("SET l = list_append(:l, l)", None),
    ("REMOVE {p}", "attribute_exists({p})"),
    ("ADD version :n", "version <= :v"),
    ("SET version = version + :n", None),
    ("SET {p} = :s REMOVE l[0]", "NOT attribute_exists({p}) OR version > :v"),
    ("SET {p}.deeper = :s", None),
]


def _generated_call(template: int, path: str, consumer: str, number: int, word: str,
                    returns: str, on_failure: bool) -> tuple[str, dict[str, Any]]:
    update, condition = TEMPLATES[template]
    call: dict[str, Any] = {"UpdateExpression": update.format(p=path), "ReturnValues": returns}
    if condition is not None:
        call["ConditionExpression"] = condition.format(p=path)
    text = update + (condition or "")
    values = {":s": {"S": word}, ":n": {"N": str(number)}, ":v": {"N": str(number - 1)},
              ":l": {"L": [{"S": word}]}}
    call["ExpressionAttributeValues"] = {k: v for k, v in values.items() if k in text}
    if "#c" in text:
        call["ExpressionAttributeNames"] = {"#c": consumer}
    if on_failure:
        call["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return _update(**call)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.builds(
    _generated_call, st.integers(0, len(TEMPLATES) - 1),
    st.sampled_from(["p", "job_status.q", "l[1]", "job_status.#c"]), st.sampled_from(["c1", "c2", "version"]),
    st.integers(0, 3), st.sampled_from(["a", "b", ""]),
    st.sampled_from(["NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"]), st.booleans()),
    min_size=1, max_size=12))
def test_generated_update_sequences_answer_as_stock_moto(calls: list[tuple[str, dict[str, Any]]]) -> None:
    sequence = [("put_item", {"TableName": "t", "Item": JOB}), *calls]
    assert _outcomes(sequence, patched=True) == _outcomes(sequence, patched=False)


def test_the_same_expression_with_other_names_and_values_updates_what_they_name() -> None:
    moto_fast.install()
    with _patched_moto(True), mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        ddb.put_item(TableName="t", Item={"id": {"S": "j1"}, "job_status": {"M": {}}, "version": {"N": "0"}})
        steps = [("c1", "Running"), ("c2", "Running"), ("c1", "Success"), ("c2", "Failure"), ("c3", "Running")]
        for version, (consumer, status) in enumerate(steps):
            _, kwargs = _status(consumer, status, version, ReturnValues="UPDATED_NEW")
            answer = ddb.update_item(**kwargs)
            assert answer["Attributes"] == {"version": {"N": str(version + 1)},
                                            "job_status": {"M": {consumer: {"M": {"status": {"S": status}}}}}}
        item = ddb.get_item(TableName="t", Key=KEY)["Item"]
        assert item["version"] == {"N": "5"}
        assert item["job_status"]["M"] == {"c1": {"M": {"status": {"S": "Success"}}},
                                           "c2": {"M": {"status": {"S": "Failure"}}},
                                           "c3": {"M": {"status": {"S": "Running"}}}}
        with pytest.raises(ClientError) as lost:
            ddb.update_item(**_status("c1", "Late", 1)[1])
        assert lost.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
        assert lost.value.response["Item"]["version"] == {"N": "5"}


def _shape(node: Any, seen: dict[int, int] | None = None) -> Any:
    """A node tree as plain data: classes, fields, children, and each parent as the position it was reached at."""
    from moto.dynamodb.parsing.ast_nodes import Node

    seen = {} if seen is None else seen
    if not isinstance(node, Node):
        return ("value", type(node).__name__, repr(node))
    seen.setdefault(id(node), len(seen))
    fields = {key: value for key, value in vars(node).items() if key not in {"children", "parent"}}
    parent = None if node.parent is None else seen.get(id(node.parent), "outside")
    children = None if node.children is None else [_shape(child, seen) for child in node.children]
    return type(node).__name__, fields, parent, children


def test_remembered_parse_trees_are_moto_s_and_never_shared() -> None:
    import copy

    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    expressions = [UPDATE, "SET version = if_not_exists(version, :zero) + :one", "REMOVE a[1], b.c ADD n :one",
                   "SET #l = list_append(#l, :x) DELETE s :y", "SET a.b[2].c = a.b[1] - :one"]
    with _patched_moto(False):
        stock = [_shape(UpdateExpressionParser.make(expression)) for expression in expressions]
        default_copies = [_shape(copy.deepcopy(UpdateExpressionParser.make(expression))) for expression in expressions]
    with _patched_moto(True):
        for n, expression in enumerate(expressions):
            first, second = UpdateExpressionParser.make(expression), UpdateExpressionParser.make(expression)
            assert first is not second and first.children[0] is not second.children[0]
            assert _shape(first) == _shape(second) == stock[n] == default_copies[n]
            first.children.clear()  # what a caller does to its tree stays with it
            assert _shape(UpdateExpressionParser.make(expression)) == stock[n]
            assert _shape(copy.deepcopy(UpdateExpressionParser.make(expression))) == stock[n]


def test_node_copies_are_deepcopy_s_with_shared_and_typed_children() -> None:
    import copy

    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.parsing.ast_nodes import DDBTypedValue, NoneExistingPath, UpdateExpressionValue

    def tree() -> Any:
        typed = DDBTypedValue(DynamoType({"M": {"k": {"L": [{"S": "v"}]}}}))
        shared = NoneExistingPath(creatable=True)
        root = UpdateExpressionValue(children=[typed, shared, shared, "text", 3, None])
        root.extra = {"kept": [1, 2]}
        return root, typed

    with _patched_moto(False):
        stock_root, _ = tree()
        stock = copy.deepcopy(stock_root)
        stock_sub = copy.deepcopy(stock_root.children[0])
    with _patched_moto(True):
        ours_root, typed = tree()
        ours = copy.deepcopy(ours_root)
        ours_sub = copy.deepcopy(ours_root.children[0])
        assert ours.children[1] is ours.children[2]  # shared stays shared, as deepcopy's memo keeps it
        assert ours.children[0].children[0] is not typed.children[0]  # DynamoType copied (its own __deepcopy__)
        assert ours.children[0].children[0].value["k"].value[0] == DynamoType({"S": "v"})
        assert ours.extra == {"kept": [1, 2]} and ours.extra is not ours_root.extra
        assert ours_sub.parent is not ours_root and ours_sub.parent.children[0] is ours_sub  # parent copied too
    assert stock.children[1] is stock.children[2]
    assert _shape(ours) == _shape(stock) and _shape(ours_sub) == _shape(stock_sub)
    assert repr(ours.children[0].children[0]) == repr(stock.children[0].children[0])


def test_condition_tokens_are_moto_s_and_new_each_time() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    conditions = ["version = :v", "attribute_exists(id) AND attribute_not_exists(version)",
                  "NOT (a.b[1] <> :x) OR size(#n) >= :y", "a IN (:x, :y) AND b BETWEEN :x AND :y"]
    for condition in conditions:
        with _patched_moto(False):
            stock = list(ConditionExpressionParser(condition, {}, {})._lex_condition_expression())
        with _patched_moto(True):
            first = ConditionExpressionParser(condition, {}, {})._lex_condition_expression()
            second = ConditionExpressionParser(condition, {}, {})._lex_condition_expression()
        assert list(first) == list(second) == stock
        assert all(a.children is not b.children for a, b in zip(first, second, strict=True))
    for bad in ["version ~ :v", "a = :v $"]:
        errors = []
        for patched in (False, True, True):
            with _patched_moto(patched), pytest.raises(ValueError) as raised:
                ConditionExpressionParser(bad, {}, {})._lex_condition_expression()
            errors.append(str(raised.value))
        assert errors[0] == errors[1] == errors[2]


APIGATEWAY_IMPORTS = """
import json, sys
import boto3
from moto import mock_aws
{install}
loaded_at_start = "openapi_spec_validator" in sys.modules
with mock_aws():
    client = boto3.client("apigateway", region_name="us-east-1")
    api = client.create_rest_api(name="plain")["id"]
    loaded_after_create = "openapi_spec_validator" in sys.modules
    answers = []
    ok = ('{{"openapi": "3.0.0", "info": {{"title": "t", "version": "1", "description": "d"}}, '
          '"paths": {{"/x": {{"get": {{"responses": {{"200": {{"description": "ok"}}}}}}}}}}}}')
    for body in (ok,
                 '{{"openapi": "3.0.0", "info": {{"title": "t", "description": "d"}}, "paths": {{}}}}',
                 '{{"swagger": "2.0", "info": {{"title": "t", "version": "1", "description": "d"}}, "paths": {{}}}}'):
        try:
            imported = client.import_rest_api(body=body.encode(), failOnWarnings=True)
            answers.append(["ok", imported["name"], sorted(r["path"] for r in client.get_resources(
                restApiId=imported["id"])["items"])])
        except client.exceptions.ClientError as exc:
            answers.append(["error", exc.response["Error"]["Code"], exc.response["Error"]["Message"]])
    try:
        client.put_rest_api(restApiId=api, body=b'{{"openapi": "3.0.0", "paths": {{}}}}', failOnWarnings=True)
        answers.append(["ok"])
    except client.exceptions.ClientError as exc:
        answers.append(["error", exc.response["Error"]["Code"], exc.response["Error"]["Message"]])
print(json.dumps({{"loaded_at_start": loaded_at_start, "loaded_after_create": loaded_after_create,
                  "answers": answers}}))
"""


def test_api_gateway_loads_its_openapi_validator_only_to_import_a_document_and_answers_as_stock_moto() -> None:
    stock = _fresh_python(APIGATEWAY_IMPORTS.format(install=""))
    install = "from jobkit.engine.moto import fast as moto_fast\nmoto_fast.install()"
    ours = _fresh_python(APIGATEWAY_IMPORTS.format(install=install))
    assert (ours["loaded_at_start"], ours["loaded_after_create"]) == (False, False)
    assert ours["answers"] == stock["answers"]
    # a valid document imported; an invalid one, a Swagger 2.0 one and an invalid PutRestApi refused
    assert [answer[0] for answer in ours["answers"]] == ["ok", "error", "error", "error"]
    assert "is a required property" in ours["answers"][1][2]
