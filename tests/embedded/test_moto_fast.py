"""The engine's direct JSON for DynamoDB item answers means exactly what moto's serializer writes; its direct
dispatch of DynamoDB (Streams) calls answers as moto's Flask app does; moto's SSM
loads without moto's EC2."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.responses import DynamoResult

from jobkit.engine import moto_fast

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
                self.result, context.operation_model.output_shape.members))
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


def test_installed_engine_answers_through_the_direct_encoding() -> None:
    moto_fast.install()
    moto_fast.install()  # twice: still one wrapper around moto's own
    assert DynamoResult.execute_result is moto_fast._execute_result
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
from jobkit.engine import moto_fast

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
    root = Path(__file__).resolve().parents[2]
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
from jobkit.engine import moto_fast
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
from jobkit.engine import moto_fast
moto_fast.install()
from moto.ssm import models
print(json.dumps({"real": models.ec2_backends is moto.ec2.ec2_backends}))
""")
    assert facts == {"real": True}


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
    from jobkit.engine.server import EngineApp

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
