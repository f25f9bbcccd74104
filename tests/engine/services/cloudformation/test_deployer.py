from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobkit.client.deployment import Deployment
from jobkit.engine.runtime import EmbeddedEngine
from jobkit.engine.services.cloudformation.deployer import (
    DeploymentError,
    Resolver,
    StackRegistry,
    TemplateDeployer,
    dependency_order,
    local_outputs,
)


def _registry() -> StackRegistry:
    return StackRegistry("S", "arn:aws:cloudformation:us-east-1:000000000000:stack/S/x", "000000000000", "us-east-1")


def test_intrinsics() -> None:
    resolver = Resolver(_registry(), {"Env": "dev"}, {"IsDev": {"Fn::Equals": [{"Ref": "Env"}, "dev"]}})
    assert resolver.resolve({"Fn::Sub": "arn:${AWS::Partition}:x:${AWS::Region}:${AWS::AccountId}:${Env}"}) == \
        "arn:aws:x:us-east-1:000000000000:dev"
    assert resolver.resolve({"Fn::Sub": ["${A}-${!Literal}", {"A": "a"}]}) == "a-${Literal}"
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}) == "b"
    assert resolver.resolve({"Fn::Join": ["-", ["a", {"Ref": "Env"}]]}) == "a-dev"
    assert resolver.resolve({"Fn::If": ["IsDev", "yes", "no"]}) == "yes"
    assert resolver.resolve([{"Ref": "AWS::NoValue"}, "kept"]) == ["kept"]
    with pytest.raises(DeploymentError, match="Fn::ImportValue"):
        resolver.resolve({"Fn::ImportValue": "x"})
    with pytest.raises(DeploymentError, match="Nope"):
        resolver.resolve({"Ref": "Nope"})


def test_dependency_order_follows_refs_getatts_and_depends_on() -> None:
    resources = {
        "C": {"Type": "T", "Properties": {"X": {"Fn::GetAtt": ["B", "Arn"]}}},
        "B": {"Type": "T", "Properties": {"X": {"Ref": "A"}}},
        "A": {"Type": "T", "DependsOn": "D"},
        "D": {"Type": "T"},
    }
    order = dependency_order(resources)
    assert order.index("D") < order.index("A") < order.index("B") < order.index("C")
    with pytest.raises(DeploymentError, match="circular"):
        dependency_order({"A": {"Type": "T", "Properties": {"X": {"Ref": "B"}}},
                          "B": {"Type": "T", "Properties": {"X": {"Ref": "A"}}}})


def _write_template(folder: Path, resources: dict, **extra: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "JobsStack.template.json").write_text(json.dumps({"Resources": resources, **extra}))
    return folder


def test_unknown_resource_type_is_refused_by_name(tmp_path: Path, moto_endpoint) -> None:
    out = _write_template(tmp_path / "cdk.out", {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
    })
    deployer = TemplateDeployer(out, moto_endpoint, account="000000000000", region="us-east-1")
    with pytest.raises(DeploymentError, match=r"AWS::S3::Bucket \(Bucket\)"):
        deployer.deploy()
    # nothing was created before the refusal
    assert not [t for t in moto_endpoint("sns").list_topics()["Topics"] if "JobsStack-Topic-" in t["TopicArn"]]


def test_failing_rule_stops_the_deployment(tmp_path: Path, moto_endpoint) -> None:
    out = _write_template(tmp_path / "cdk.out", {"T": {"Type": "AWS::SNS::Topic", "Properties": {}}}, Rules={
        "R": {"Assertions": [{"Assert": {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]},
                              "AssertDescription": "only eu-west-1"}]}})
    with pytest.raises(DeploymentError, match="only eu-west-1"):
        TemplateDeployer(out, moto_endpoint, account="000000000000", region="us-east-1").deploy()


def test_conditions_skip_resources(tmp_path: Path, moto_endpoint) -> None:
    out = _write_template(tmp_path / "cdk.out", {
        "T": {"Type": "AWS::SNS::Topic", "Condition": "Never", "Properties": {"TopicName": "never"}},
        "U": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "always"}},
    }, Conditions={"Never": {"Fn::Equals": ["a", "b"]}})
    registry = TemplateDeployer(out, moto_endpoint, account="000000000000", region="us-east-1").deploy()
    assert set(registry.resources) == {"U"}


def test_subscriptions_are_subscribed_in_moto_with_their_attributes(tmp_path: Path, moto_endpoint) -> None:
    """The compute plane reads subscriptions from moto at each Publish: the template's must be there, filter
    policy and raw delivery included, like a runtime Subscribe's."""
    function = "arn:aws:lambda:us-east-1:000000000000:function:handler"
    queue = "arn:aws:sqs:us-east-1:000000000000:inbox"
    out = _write_template(tmp_path / "cdk.out", {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "deployed-subscriptions"}},
        "ToFunction": {"Type": "AWS::SNS::Subscription", "Properties": {
            "TopicArn": {"Ref": "Topic"}, "Protocol": "lambda", "Endpoint": function,
            "FilterPolicyScope": "MessageBody", "FilterPolicy": {"order": {"status": ["paid"]}}}},
        "ToQueue": {"Type": "AWS::SNS::Subscription", "Properties": {
            "TopicArn": {"Ref": "Topic"}, "Protocol": "sqs", "Endpoint": queue, "RawMessageDelivery": True}},
    })
    registry = TemplateDeployer(out, moto_endpoint, account="000000000000", region="us-east-1").deploy()
    sns = moto_endpoint("sns")
    topic = registry.resources["Topic"].physical_id
    listed = {s["Endpoint"]: s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)[
        "Subscriptions"]}
    assert listed == {function: registry.resources["ToFunction"].physical_id,
                      queue: registry.resources["ToQueue"].physical_id}
    to_function = sns.get_subscription_attributes(SubscriptionArn=listed[function])["Attributes"]
    assert json.loads(to_function["FilterPolicy"]) == {"order": {"status": ["paid"]}}
    assert to_function["FilterPolicyScope"] == "MessageBody"
    assert sns.get_subscription_attributes(SubscriptionArn=listed[queue])["Attributes"]["RawMessageDelivery"] == \
        "true"


def test_synthesized_stack_is_deployed_with_outputs(engine: EmbeddedEngine, deployment: Deployment) -> None:
    registry = engine.registry
    assert registry is not None
    template = json.loads((Path(__file__).resolve().parents[4] / "cdk.out" / "JobsStack.template.json").read_text())
    assert set(registry.resources) == set(template["Resources"])
    outputs = deployment.outputs
    api_id = outputs["JobsApiId"]
    assert outputs["JobsApiUrl"] == f"{engine.endpoint_url}/restapis/{api_id}/dev/_user_request_/"
    assert outputs["JobkitTarget"] == "embedded"
    assert outputs["JobkitEndpointUrl"] == engine.endpoint_url
    assert outputs["JobkitRegion"] == "us-east-1"
    table = deployment.client("dynamodb").describe_table(TableName=outputs["JobsTableName"])["Table"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    assert table["LatestStreamArn"] == outputs["JobsTableStreamArn"]
    names = {f["FunctionName"] for f in deployment.client("lambda").list_functions()["Functions"]}
    assert outputs["Consumer1FunctionName"] in names
    # stream mappings stay out of moto (the compute plane runs them) and the Lambda API describes them
    mappings = deployment.client("lambda").list_event_source_mappings()["EventSourceMappings"]
    assert len(mappings) == 2
    assert {(m["State"], m["ParallelizationFactor"], m["EventSourceArn"]) for m in mappings} == {
        ("Enabled", 10, outputs["JobsTableStreamArn"])}
    stacks = deployment.client("cloudformation").describe_stacks(StackName="JobsStack")["Stacks"]
    assert {o["OutputKey"]: o["OutputValue"] for o in stacks[0]["Outputs"]} == outputs


def test_local_outputs_rewrite_execute_api_urls() -> None:
    registry = _registry()
    registry.outputs = {"Url": "https://abc123.execute-api.us-east-1.amazonaws.com/dev/", "Other": "x"}
    outputs = local_outputs(registry, "http://127.0.0.1:4566")
    assert outputs["Url"] == "http://127.0.0.1:4566/restapis/abc123/dev/_user_request_/"
    assert outputs["Other"] == "x"
