"""CloudFormation's API as the engine serves it, with boto3 against the session's engine: each action's shapes,
a stack's life through change sets (created from YAML, updated from an object of the engine's S3, a change set
that changes nothing, deleted), rollbacks, and the errors CloudFormation answers. Each test's stacks have
names of their own and are deleted at its end (moto's state is the process's)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from jobkit.client.deployment import Deployment
from jobkit.client.waiting import wait_for
from jobkit.engine.runtime import EmbeddedEngine
from jobkit.engine.services.cloudformation.api import s3_location

YAML = """
Description: a topic and a parameter
Parameters:
  Greeting: {Type: String, Default: hello, AllowedValues: [hello, hi]}
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: !Ref Greeting
  Value:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub "/api-test/${AWS::StackName}/topic"
      Type: String
      Value: !Ref Topic
Outputs:
  TopicArn:
    Description: the topic
    Value: !Ref Topic
    Export: {Name: !Sub "${AWS::StackName}-topic"}
"""


@pytest.fixture
def cfn(deployment: Deployment) -> Any:
    return deployment.client("cloudformation")


@pytest.fixture
def stack_name(cfn: Any) -> Iterator[str]:
    """A name of the test's own; its stack, if any is left, deleted after it."""
    name = f"ApiTest-{uuid.uuid4().hex[:10]}"
    yield name
    cfn.delete_stack(StackName=name)
    wait_for(lambda: [s["StackStatus"] for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == name],
             lambda statuses: not statuses or statuses[0] in ("DELETE_COMPLETE", "DELETE_FAILED"), timeout=60,
             describe=f"{name} deleted")


def _settled(cfn: Any, stack: str) -> dict[str, Any]:
    """The stack once no operation is under way on it."""
    return wait_for(lambda: cfn.describe_stacks(StackName=stack)["Stacks"][0],
                    lambda s: not s["StackStatus"].endswith("_IN_PROGRESS"), timeout=60,
                    describe=f"{stack} to settle")


def _error(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return {"Code": raised.value.response["Error"]["Code"], "Message": raised.value.response["Error"]["Message"],
            "Status": raised.value.response["ResponseMetadata"]["HTTPStatusCode"]}


def test_the_engines_own_stack_is_described_with_its_parameters_and_events(cfn: Any) -> None:
    [stack] = cfn.describe_stacks(StackName="JobsStack")["Stacks"]
    assert stack["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    assert stack["StackId"].startswith("arn:aws:cloudformation:us-east-1:000000000000:stack/JobsStack/")
    assert stack["Parameters"] == [{"ParameterKey": "BootstrapVersion",
                                    "ParameterValue": "/cdk-bootstrap/hnb659fds/version",
                                    "ResolvedValue": stack["Parameters"][0]["ResolvedValue"]}]
    assert stack["Parameters"][0]["ResolvedValue"].isdigit()
    assert stack["Capabilities"] == [] and stack["Tags"] == [] and stack["EnableTerminationProtection"] is False
    events = cfn.describe_stack_events(StackName="JobsStack")["StackEvents"]
    assert events[0]["Timestamp"] >= events[-1]["Timestamp"]  # newest first
    first = events[-1]
    assert (first["LogicalResourceId"], first["ResourceType"], first["ResourceStatus"],
            first["ResourceStatusReason"]) == ("JobsStack", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS",
                                               "User Initiated")
    summaries = cfn.list_stack_resources(StackName="JobsStack")["StackResourceSummaries"]
    table = next(s for s in summaries if s["ResourceType"] == "AWS::DynamoDB::Table")
    assert table["ResourceStatus"].endswith("_COMPLETE")
    detail = cfn.describe_stack_resource(StackName="JobsStack",
                                         LogicalResourceId=table["LogicalResourceId"])["StackResourceDetail"]
    assert detail["PhysicalResourceId"] == table["PhysicalResourceId"] and detail["StackName"] == "JobsStack"
    # by a resource's physical id: the stack it belongs to, with every resource of it
    described = cfn.describe_stack_resources(PhysicalResourceId=table["PhysicalResourceId"])["StackResources"]
    assert {r["StackName"] for r in described} == {"JobsStack"} and len(described) == len(summaries)
    template = cfn.get_template(StackName="JobsStack")
    assert set(template["TemplateBody"]["Resources"]) == {s["LogicalResourceId"] for s in summaries}
    assert template["StagesAvailable"] == ["Original", "Processed"]


def test_a_stacks_life_through_change_sets(engine: EmbeddedEngine, deployment: Deployment, cfn: Any,
                                           stack_name: str) -> None:
    jobs_outputs = dict(engine.outputs)
    created = cfn.create_change_set(StackName=stack_name, ChangeSetName="first", ChangeSetType="CREATE",
                                    TemplateBody=YAML, Tags=[{"Key": "team", "Value": "jobs"}])
    assert created["Id"].startswith("arn:aws:cloudformation:us-east-1:000000000000:changeSet/first/")
    described = cfn.describe_change_set(ChangeSetName=created["Id"])
    assert (described["Status"], described["ExecutionStatus"], described["StackName"]) == (
        "CREATE_COMPLETE", "AVAILABLE", stack_name)
    assert described["Parameters"] == [{"ParameterKey": "Greeting", "ParameterValue": "hello"}]
    assert [(c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"])
            for c in described["Changes"]] == [("Add", "Topic"), ("Add", "Value")]
    assert cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    assert cfn.get_template(StackName=stack_name, ChangeSetName="first")["TemplateBody"] == YAML
    assert [s["ChangeSetName"] for s in cfn.list_change_sets(StackName=stack_name)["Summaries"]] == ["first"]

    cfn.execute_change_set(ChangeSetName="first", StackName=stack_name, ClientRequestToken="exec-first")
    stack = _settled(cfn, stack_name)
    assert stack["StackStatus"] == "CREATE_COMPLETE" and stack["Description"] == "a topic and a parameter"
    assert stack["Tags"] == [{"Key": "team", "Value": "jobs"}]
    topic = next(o for o in stack["Outputs"] if o["OutputKey"] == "TopicArn")
    assert topic["Description"] == "the topic" and topic["ExportName"] == f"{stack_name}-topic"
    assert deployment.client("sns").get_topic_attributes(TopicArn=topic["OutputValue"])["Attributes"][
        "DisplayName"] == "hello"
    assert {"Name": f"{stack_name}-topic", "Value": topic["OutputValue"], "ExportingStackId": stack["StackId"]} \
        in cfn.list_exports()["Exports"]
    events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    assert [e["ResourceStatus"] for e in events if e["LogicalResourceId"] == stack_name] == [
        "CREATE_COMPLETE", "CREATE_IN_PROGRESS", "REVIEW_IN_PROGRESS"]
    assert {e["ClientRequestToken"] for e in events if e["LogicalResourceId"] == "Topic"} == {"exec-first"}
    assert cfn.get_template(StackName=stack_name)["TemplateBody"] == YAML  # as submitted: YAML stays YAML

    # an update from an object of the engine's S3, the previous parameter value kept
    changed = YAML.replace("DisplayName: !Ref Greeting", "DisplayName: !Sub '${Greeting} again'")
    s3 = deployment.client("s3")
    bucket = f"api-test-{stack_name.lower()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="templates/next.yaml", Body=changed.encode())
    cfn.create_change_set(StackName=stack_name, ChangeSetName="second",
                          TemplateURL=f"https://s3.us-east-1.amazonaws.com/{bucket}/templates/next.yaml",
                          Parameters=[{"ParameterKey": "Greeting", "UsePreviousValue": True}])
    [change] = cfn.describe_change_set(ChangeSetName="second", StackName=stack_name)["Changes"]
    resource = change["ResourceChange"]
    assert (resource["Action"], resource["LogicalResourceId"], resource["Replacement"]) == (
        "Modify", "Topic", "Conditional")
    assert resource["PhysicalResourceId"] == topic["OutputValue"]
    assert [d["Target"]["Name"] for d in resource["Details"]] == ["DisplayName"]
    cfn.execute_change_set(ChangeSetName="second", StackName=stack_name)
    stack = _settled(cfn, stack_name)
    assert stack["StackStatus"] == "UPDATE_COMPLETE" and "LastUpdatedTime" in stack
    assert deployment.client("sns").get_topic_attributes(TopicArn=topic["OutputValue"])["Attributes"][
        "DisplayName"] == "hello again"
    # "ExecuteChangeSet": the stack's other change sets are deleted; the executed one says it ran
    assert [(c["ChangeSetName"], c["ExecutionStatus"]) for c in cfn.list_change_sets(StackName=stack_name)[
        "Summaries"]] == [("second", "EXECUTE_COMPLETE")]

    # the same again changes nothing: FAILED, in CloudFormation's words, and not executable
    cfn.create_change_set(StackName=stack_name, ChangeSetName="third",
                          TemplateURL=f"http://{bucket}.s3.localhost.localstack.cloud:4566/templates/next.yaml",
                          Parameters=[{"ParameterKey": "Greeting", "UsePreviousValue": True}])
    same = cfn.describe_change_set(ChangeSetName="third", StackName=stack_name)
    assert (same["Status"], same["ExecutionStatus"], same["Changes"]) == ("FAILED", "UNAVAILABLE", [])
    assert same["StatusReason"] == ("The submitted information didn't contain changes. Submit different "
                                    "information to create a change set.")
    refused = _error(cfn.execute_change_set, ChangeSetName="third", StackName=stack_name)
    assert refused["Code"] == "InvalidChangeSetStatus" and "[FAILED]" in refused["Message"]
    cfn.delete_change_set(ChangeSetName="third", StackName=stack_name)
    cfn.delete_change_set(ChangeSetName="third", StackName=stack_name)  # gone already: no error
    with pytest.raises(cfn.exceptions.ChangeSetNotFoundException):
        cfn.describe_change_set(ChangeSetName="third", StackName=stack_name)

    assert engine.outputs == jobs_outputs  # the engine's own stack and its outputs are untouched
    stack_id = stack["StackId"]
    cfn.delete_stack(StackName=stack_name)
    wait_for(lambda: cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"],
             lambda status: status == "DELETE_COMPLETE", timeout=60, describe="the stack deleted")
    assert _error(cfn.describe_stacks, StackName=stack_name)["Message"] == f"Stack with id {stack_name} does not exist"
    assert stack_id in {s["StackId"] for s in cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]}
    with pytest.raises(ClientError, match="ParameterNotFound"):
        deployment.client("ssm").get_parameter(Name=f"/api-test/{stack_name}/topic")
    s3.delete_object(Bucket=bucket, Key="templates/next.yaml")
    s3.delete_bucket(Bucket=bucket)


def test_create_and_update_stack_roll_back_what_failed(deployment: Deployment, cfn: Any, stack_name: str) -> None:
    good = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "kept"}}}}
    failing = {"Resources": {**good["Resources"], "Policy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
        "Bucket": "no-such-bucket-for-api-test", "PolicyDocument": {"Statement": []}}}}}
    created = cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(failing))
    stack = _settled(cfn, created["StackId"])
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName=created["StackId"])["StackEvents"]
    failed = next(e for e in events if e["ResourceStatus"] == "CREATE_FAILED")
    assert failed["LogicalResourceId"] == "Policy" and "NoSuchBucket" in failed["ResourceStatusReason"]
    rolled = next(e for e in events if e["ResourceStatus"] == "ROLLBACK_IN_PROGRESS")
    assert rolled["ResourceStatusReason"] == ("The following resource(s) failed to create: [Policy]. "
                                              "Rollback requested by user.")
    assert cfn.list_stack_resources(StackName=created["StackId"])["StackResourceSummaries"] == []
    refused = _error(cfn.update_stack, StackName=stack_name, TemplateBody=json.dumps(good))
    assert refused["Message"].endswith("is in ROLLBACK_COMPLETE state and can not be updated.")
    cfn.delete_stack(StackName=stack_name)
    _settled(cfn, created["StackId"])

    created = cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(good))
    assert _settled(cfn, created["StackId"])["StackStatus"] == "CREATE_COMPLETE"
    topic = cfn.describe_stack_resource(StackName=stack_name, LogicalResourceId="Topic")[
        "StackResourceDetail"]["PhysicalResourceId"]
    renamed = json.loads(json.dumps(failing).replace('"kept"', '"changed"'))
    cfn.update_stack(StackName=stack_name, TemplateBody=json.dumps(renamed))
    assert _settled(cfn, stack_name)["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert deployment.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]["DisplayName"] == "kept"
    assert json.loads(json.dumps(cfn.get_template(StackName=stack_name)["TemplateBody"])) == good
    assert _error(cfn.update_stack, StackName=stack_name, TemplateBody=json.dumps(good))["Message"] == \
        "No updates are to be performed."
    cfn.delete_stack(StackName=stack_name)
    _settled(cfn, created["StackId"])

    # with rollback disabled, the failure stays as it is: what was made is kept, for the next attempt
    created = cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(failing), DisableRollback=True)
    stack = _settled(cfn, created["StackId"])
    assert stack["StackStatus"] == "CREATE_FAILED" and stack["DisableRollback"] is True
    assert [r["LogicalResourceId"] for r in cfn.list_stack_resources(StackName=stack_name)[
        "StackResourceSummaries"]] == ["Topic"]


def test_a_protected_stack_is_not_deleted(cfn: Any, stack_name: str) -> None:
    template = json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}})
    created = cfn.create_stack(StackName=stack_name, TemplateBody=template, EnableTerminationProtection=True)
    assert _settled(cfn, stack_name)["EnableTerminationProtection"] is True
    refused = _error(cfn.delete_stack, StackName=stack_name)
    assert refused["Message"] == f"Stack [{stack_name}] cannot be deleted while TerminationProtection is enabled"
    assert cfn.update_termination_protection(StackName=stack_name, EnableTerminationProtection=False)[
        "StackId"] == created["StackId"]
    cfn.delete_stack(StackName=stack_name)
    assert _settled(cfn, created["StackId"])["StackStatus"] == "DELETE_COMPLETE"


ROLE = {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                   "Principal": {"Service": "lambda.amazonaws.com"}}]}}}}}


def test_what_cloudformation_refuses_is_refused_in_its_words(cfn: Any, stack_name: str) -> None:
    topic = json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}}})
    cases: list[tuple[Any, dict[str, Any], str, str, int]] = [
        (cfn.create_stack, {"StackName": stack_name, "TemplateBody": json.dumps(ROLE)},
         "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]", 400),
        (cfn.create_stack, {"StackName": stack_name, "Capabilities": ["CAPABILITY_IAM"], "TemplateBody": json.dumps(
            {"Resources": {"Role": {**ROLE["Resources"]["Role"], "Properties": {
                **ROLE["Resources"]["Role"]["Properties"], "RoleName": "named"}}}})},
         "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_NAMED_IAM]", 400),
        (cfn.create_stack, {"StackName": "bad_name", "TemplateBody": topic}, "ValidationError",
         "Value 'bad_name' at 'stackName' failed to satisfy constraint", 400),
        (cfn.create_stack, {"StackName": stack_name}, "ValidationError",
         "Either Template URL or Template Body must be specified.", 400),
        (cfn.create_stack, {"StackName": stack_name, "TemplateBody": topic, "TemplateURL": "https://x/y"},
         "ValidationError", "Specify exactly one of 'TemplateBody' or 'TemplateUrl'", 400),
        (cfn.create_stack, {"StackName": stack_name, "TemplateURL": "https://example.com/t.json"},
         "ValidationError", "TemplateURL must be an Amazon S3 URL", 400),
        (cfn.create_stack, {"StackName": stack_name, "TemplateURL": "https://s3.amazonaws.com/no-such-bucket/t"},
         "ValidationError", "S3 error: The specified bucket does not exist", 400),
        (cfn.create_stack, {"StackName": stack_name, "TemplateBody": "Resources: [unclosed"}, "ValidationError",
         "Template format error: YAML not well-formed.", 400),
        (cfn.create_stack, {"StackName": stack_name, "TemplateBody": json.dumps(
            {"Resources": {"V": {"Type": "AWS::EC2::VPC"}}})}, "ValidationError",
         "does not support the resource type(s): AWS::EC2::VPC (V)", 400),
        (cfn.create_stack, {"StackName": stack_name, "TemplateBody": topic,
                            "Parameters": [{"ParameterKey": "Nope", "ParameterValue": "x"}]},
         "ValidationError", "Parameters: [Nope] do not exist in the template", 400),
        (cfn.create_change_set, {"StackName": stack_name, "ChangeSetName": "c", "TemplateBody": topic},
         "ValidationError", f"Stack [{stack_name}] does not exist", 400),
        (cfn.create_change_set, {"StackName": stack_name, "ChangeSetName": "c", "TemplateBody": topic,
                                 "ChangeSetType": "BOGUS"},
         "ValidationError", "Member must satisfy enum value set: [CREATE, UPDATE, IMPORT]", 400),
        (cfn.create_change_set, {"StackName": "JobsStack", "ChangeSetName": "c", "TemplateBody": topic,
                                 "ChangeSetType": "CREATE"},
         "ValidationError", "Stack [JobsStack] already exists and cannot be created again", 400),
        (cfn.describe_change_set, {"ChangeSetName": "c"}, "ValidationError",
         "StackName must be specified if ChangeSetName is not specified as an ARN.", 400),
        (cfn.describe_change_set, {"ChangeSetName": "nope", "StackName": "JobsStack"}, "ChangeSetNotFound",
         "ChangeSet [nope] does not exist", 404),
        (cfn.describe_stack_resource, {"StackName": "JobsStack", "LogicalResourceId": "Nope"}, "ValidationError",
         "Resource Nope does not exist for stack JobsStack", 400),
        (cfn.describe_stack_events, {"StackName": "NoSuchStack"}, "ValidationError",
         "Stack with id NoSuchStack does not exist", 400),
        (cfn.create_stack, {"StackName": "JobsStack", "TemplateBody": topic}, "AlreadyExistsException",
         "Stack [JobsStack] already exists", 400),
    ]
    for call, kwargs, code, message, status in cases:
        got = _error(call, **kwargs)
        assert (got["Code"], got["Status"]) == (code, status), (kwargs, got)
        assert message in got["Message"], (kwargs, got)
    assert [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == stack_name] == []


def test_a_missing_required_member_is_a_validation_error(engine: EmbeddedEngine) -> None:
    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=engine.endpoint_url + "/",
                         data="Action=DescribeStackResource&Version=2010-05-15",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials("test", "test"), "cloudformation", "us-east-1").add_auth(request)
    answer = requests.post(request.url, data=request.body, headers=dict(request.headers), timeout=10)
    assert answer.status_code == 400
    assert "<Code>ValidationError</Code>" in answer.text
    assert ("2 validation errors detected: Value null at 'stackName' failed to satisfy constraint: Member must not "
            "be null; Value null at 'logicalResourceId'") in answer.text


def test_templates_are_validated_and_summarized(cfn: Any) -> None:
    validated = cfn.validate_template(TemplateBody=YAML)
    assert validated["Description"] == "a topic and a parameter"
    assert validated["Parameters"] == [{"ParameterKey": "Greeting", "DefaultValue": "hello", "NoEcho": False}]
    assert "Capabilities" not in validated
    summary = cfn.get_template_summary(TemplateBody=json.dumps(ROLE))
    assert summary["Capabilities"] == ["CAPABILITY_IAM"]
    assert summary["CapabilitiesReason"] == "The following resource(s) require capabilities: [AWS::IAM::Role]"
    assert summary["ResourceTypes"] == ["AWS::IAM::Role"]
    jobs = cfn.get_template_summary(StackName="JobsStack")
    assert jobs["Parameters"][0]["ParameterKey"] == "BootstrapVersion"
    assert jobs["Parameters"][0]["ParameterType"] == "AWS::SSM::Parameter::Value<String>"
    assert "AWS::Lambda::Function" in jobs["ResourceTypes"]


def test_an_action_the_engine_does_not_serve_is_refused_and_never_reaches_moto(cfn: Any) -> None:
    from moto.cloudformation.models import cloudformation_backends

    got = _error(cfn.create_stack_set, StackSetName="never", TemplateBody=json.dumps(ROLE))
    assert (got["Code"], got["Status"]) == ("InternalFailure", 501)
    assert "does not implement cloudformation CreateStackSet" in got["Message"]
    assert not cloudformation_backends["000000000000"]["us-east-1"].stacksets


@pytest.mark.parametrize(("url", "where"), [
    ("https://s3.amazonaws.com/b/k/t.json", ("b", "k/t.json")),
    ("https://s3.us-east-1.amazonaws.com/b/t.json", ("b", "t.json")),
    ("https://s3-us-west-2.amazonaws.com/b/t.json", ("b", "t.json")),
    ("https://b.s3.amazonaws.com/t.json", ("b", "t.json")),
    ("https://cdk-hnb659fds-assets-000000000000-us-east-1.s3.us-east-1.amazonaws.com/t.json",
     ("cdk-hnb659fds-assets-000000000000-us-east-1", "t.json")),
    ("http://127.0.0.1:4566/b/t%20x.json", ("b", "t x.json")),
    ("http://localhost:4566/b/t.json", ("b", "t.json")),
    ("http://s3.localhost.localstack.cloud:4566/b/t.json", ("b", "t.json")),
    ("http://b.s3.localhost.localstack.cloud:4566/t.json", ("b", "t.json")),
    ("http://b.localhost:4566/t.json", ("b", "t.json")),
])
def test_template_urls_in_every_form_cdk_writes(url: str, where: tuple[str, str]) -> None:
    assert s3_location(url) == where
