from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobkit.client.deployment import Deployment
from jobkit.deploy.assembly import AssemblyError, CloudAssembly
from jobkit.engine.runtime import EmbeddedEngine
from jobkit.engine.services.cloudformation.deployer import StackDeployer, local_outputs
from jobkit.engine.services.cloudformation.resource_types import DeploymentError, StackRegistry
from jobkit.engine.services.cloudformation.template import Resolver, dependency_order


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


def _deployer(clients) -> StackDeployer:
    return StackDeployer(clients, account="000000000000", region="us-east-1")


def _write_template(folder: Path, resources: dict, **extra: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "JobsStack.template.json").write_text(json.dumps({"Resources": resources, **extra}))
    return folder


def test_unknown_resource_type_is_refused_by_name(tmp_path: Path, moto_endpoint) -> None:
    out = _write_template(tmp_path / "cdk.out", {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {}},
    })
    with pytest.raises(DeploymentError, match=r"AWS::EC2::VPC \(Vpc\)"):
        _deployer(moto_endpoint).apply_assembly(out)
    # nothing was created before the refusal
    assert not [t for t in moto_endpoint("sns").list_topics()["Topics"] if "JobsStack-Topic-" in t["TopicArn"]]


def test_failing_rule_stops_the_deployment(tmp_path: Path, moto_endpoint) -> None:
    out = _write_template(tmp_path / "cdk.out", {"T": {"Type": "AWS::SNS::Topic", "Properties": {}}}, Rules={
        "R": {"Assertions": [{"Assert": {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]},
                              "AssertDescription": "only eu-west-1"}]}})
    with pytest.raises(DeploymentError, match="only eu-west-1"):
        _deployer(moto_endpoint).apply_assembly(out)


def test_conditions_skip_resources(tmp_path: Path, moto_endpoint) -> None:
    out = _write_template(tmp_path / "cdk.out", {
        "T": {"Type": "AWS::SNS::Topic", "Condition": "Never", "Properties": {"TopicName": "never"}},
        "U": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "always"}},
    }, Conditions={"Never": {"Fn::Equals": ["a", "b"]}})
    deployer = _deployer(moto_endpoint)
    deployer.apply_assembly(out)
    registry = deployer.registry
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
    deployer = _deployer(moto_endpoint)
    deployer.apply_assembly(out)
    registry = deployer.registry
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
    assert engine.stacks is not None
    own = engine.stacks.find("JobsStack")
    assert own is not None
    registry = own.registry
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


def _table(**extra: object) -> dict:
    return {"Type": "AWS::DynamoDB::Table", "Properties": {
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST", **extra}}


def test_applying_again_creates_updates_and_deletes_in_place_and_keeps_the_items(moto_endpoint) -> None:
    deployer = _deployer(moto_endpoint)
    deployer.apply({"Resources": {
        "Table": _table(),
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "before"}},
        "Old": {"Type": "AWS::SNS::Topic", "Properties": {}},
    }, "Outputs": {"TableName": {"Value": {"Ref": "Table"}}}})
    table, topic, old = (deployer.registry.resources[k].physical_id for k in ("Table", "Topic", "Old"))
    dynamodb, sns = moto_endpoint("dynamodb"), moto_endpoint("sns")
    dynamodb.put_item(TableName=table, Item={"id": {"S": "kept"}})

    changes = deployer.apply({"Resources": {
        "Table": _table(StreamSpecification={"StreamViewType": "NEW_IMAGE"}),
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "after"}},
        "Group": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/in-place/new"}},
    }, "Outputs": {"TableName": {"Value": {"Ref": "Table"}},
                   "Stream": {"Value": {"Fn::GetAtt": ["Table", "StreamArn"]}}}})

    assert changes.summary() == {"created": ["Group"], "updated": ["Table", "Topic"], "replaced": [],
                                 "deleted": ["Old"], "unchanged": []}
    assert deployer.registry.resources["Table"].physical_id == table  # updated, not replaced: the items stay
    assert dynamodb.get_item(TableName=table, Key={"id": {"S": "kept"}})["Item"] == {"id": {"S": "kept"}}
    described = dynamodb.describe_table(TableName=table)["Table"]
    assert described["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert deployer.registry.outputs["Stream"] == described["LatestStreamArn"]
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["DisplayName"] == "after"
    assert old not in {t["TopicArn"] for t in sns.list_topics()["Topics"]}
    assert moto_endpoint("logs").describe_log_groups(logGroupNamePrefix="/in-place/")["logGroups"][0][
        "logGroupName"] == "/in-place/new"


def test_a_change_a_type_cannot_make_in_place_replaces_the_resource_and_what_refers_to_it(moto_endpoint) -> None:
    deployer = _deployer(moto_endpoint)
    subscription = {"Type": "AWS::SNS::Subscription", "Properties": {
        "TopicArn": {"Ref": "Topic"}, "Protocol": "sqs", "Endpoint": "arn:aws:sqs:us-east-1:000000000000:q"}}
    deployer.apply({"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "first"}},
                                  "Sub": subscription}})
    first = deployer.registry.resources["Sub"].physical_id
    changes = deployer.apply({"Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "second"}}, "Sub": subscription}})
    assert changes.replaced == ["Topic", "Sub"]  # a new name is a new topic; its subscription follows it
    sns = moto_endpoint("sns")
    topics = {t["TopicArn"].rsplit(":", 1)[-1] for t in sns.list_topics()["Topics"]}
    assert "second" in topics and "first" not in topics
    [listed] = sns.list_subscriptions_by_topic(TopicArn=deployer.registry.resources["Topic"].physical_id)[
        "Subscriptions"]
    assert listed["SubscriptionArn"] == deployer.registry.resources["Sub"].physical_id != first


def test_a_template_the_engine_cannot_deploy_changes_nothing(moto_endpoint) -> None:
    deployer = _deployer(moto_endpoint)
    deployer.apply({"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "kept"}}}})
    before = dict(deployer.registry.resources)
    for template, reason in (
        ({"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "changed"}},
                        "Bucket": {"Type": "AWS::Nope::Thing"}}}, r"AWS::Nope::Thing \(Bucket\)"),
        ({"Resources": {}}, "no Resources"),
        ({"Parameters": {"P": {"Type": "String"}}, "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Ref": "P"}}}}},
         r"Parameters: \[P\] must have values"),
    ):
        with pytest.raises(DeploymentError, match=reason):
            deployer.apply(template)
        assert deployer.registry.resources == before
    topic = before["Topic"].physical_id
    assert moto_endpoint("sns").get_topic_attributes(TopicArn=topic)["Attributes"]["DisplayName"] == "kept"


def test_delete_takes_every_resource_away_in_reverse_order(moto_endpoint) -> None:
    events: list[tuple[str, str]] = []
    deployer = StackDeployer(moto_endpoint, account="000000000000", region="us-east-1",
                             on_event=lambda e: events.append((e.logical_id, e.status)))
    deployer.apply({"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "gone-soon"}},
                                  "Sub": {"Type": "AWS::SNS::Subscription", "Properties": {
                                      "TopicArn": {"Ref": "Topic"}, "Protocol": "sqs",
                                      "Endpoint": "arn:aws:sqs:us-east-1:000000000000:q"}}}})
    assert deployer.delete() == ["Sub", "Topic"]
    assert events == [("Topic", "CREATE_COMPLETE"), ("Sub", "CREATE_COMPLETE"), ("Sub", "DELETE_COMPLETE"),
                      ("Topic", "DELETE_COMPLETE")]
    assert "gone-soon" not in str(moto_endpoint("sns").list_topics()["Topics"])


def test_the_cloud_assembly_names_its_file_assets(tmp_path: Path) -> None:
    out = _write_template(tmp_path / "cdk.out", {"T": {"Type": "AWS::SNS::Topic"}})
    (out / "JobsStack.assets.json").write_text(json.dumps({"files": {"h": {
        "source": {"path": "asset.h", "packaging": "zip"},
        "destinations": {"d": {"bucketName": "b", "objectKey": "h.zip"}}}}}))
    assert CloudAssembly.read(out).assets == {"h.zip": out / "asset.h"}
    with pytest.raises(AssemblyError, match="synthesize"):
        CloudAssembly.read(tmp_path / "missing")


def test_plan_says_what_apply_would_do_and_touches_nothing(moto_endpoint) -> None:
    deployer = _deployer(moto_endpoint)
    deployer.apply({"Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "before"}},
        "Kept": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "kept"}},
        "Gone": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "Group": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/plan/group"}},
    }})
    before = dict(deployer.registry.resources)
    planned = deployer.plan({"Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "after"}},
        "Kept": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "kept"}},
        "New": {"Type": "AWS::SNS::Topic", "Properties": {}},
        # refers to what is being added: its value is known only then
        "Group": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": {"Fn::Sub": "/plan/${New}"}}},
    }})
    assert [(p.action, p.logical_id, p.replacement, p.properties) for p in planned] == [
        ("Modify", "Topic", "Conditional", ("DisplayName",)), ("Add", "New", "", ()),
        ("Modify", "Group", "Conditional", ("LogGroupName",)), ("Remove", "Gone", "", ())]
    assert planned[-1].physical_id == before["Gone"].physical_id
    assert deployer.registry.resources == before
    assert moto_endpoint("sns").get_topic_attributes(TopicArn=before["Topic"].physical_id)["Attributes"][
        "DisplayName"] == "before"
    assert deployer.plan(deployer.template) == []


def test_a_retained_resource_outlives_its_removal_and_the_stack(moto_endpoint) -> None:
    """"DeletionPolicy attribute": Retain keeps the resource when it leaves the template or the stack goes."""
    events: list[tuple[str, str]] = []
    deployer = StackDeployer(moto_endpoint, account="000000000000", region="us-east-1", stack_name="Retaining",
                             on_event=lambda e: events.append((e.logical_id, e.status)))
    kept = {"Type": "AWS::SNS::Topic", "DeletionPolicy": "Retain", "Properties": {"TopicName": "retained-one"}}
    deployer.apply({"Resources": {"Kept": kept, "Other": {"Type": "AWS::SNS::Topic", "Properties": {
        "TopicName": "retained-two", "DisplayName": "x"}, "DeletionPolicy": "Retain"}}})
    deployer.apply({"Resources": {"Other": deployer.template["Resources"]["Other"]}})
    deployer.delete()
    assert ("Kept", "DELETE_SKIPPED") in events and ("Other", "DELETE_SKIPPED") in events
    topics = {t["TopicArn"].rsplit(":", 1)[-1] for t in moto_endpoint("sns").list_topics()["Topics"]}
    assert {"retained-one", "retained-two"} <= topics
    assert deployer.registry.resources == {}


def test_exports_are_recorded_and_imported(moto_endpoint) -> None:
    exporting = StackDeployer(moto_endpoint, account="000000000000", region="us-east-1", stack_name="Exporting")
    exporting.apply({
        "Resources": {"T": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "exported-topic"}}},
        "Outputs": {"Arn": {"Value": {"Ref": "T"}, "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-arn"}}}}})
    assert exporting.registry.exports == {"Exporting-arn": exporting.registry.outputs["Arn"]}
    importing = StackDeployer(moto_endpoint, account="000000000000", region="us-east-1", stack_name="Importing",
                              imports=exporting.registry.exports.__getitem__)
    importing.apply({"Resources": {"G": {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": {"Fn::Join": ["/", ["", "imported", {"Fn::Select": [5, {"Fn::Split": [
            ":", {"Fn::ImportValue": "Exporting-arn"}]}]}]]}}}}})
    assert importing.registry.resources["G"].physical_id == "/imported/exported-topic"


@pytest.mark.parametrize(("definition", "value", "message"), [
    ({"Type": "String", "AllowedValues": ["a", "b"]}, "c", "Parameter 'P' must be one of AllowedValues"),
    ({"Type": "String", "AllowedPattern": "[a-z]{1,3}"}, "abcd", r"Parameter 'P' must match pattern \[a-z\]\{1,3\}"),
    ({"Type": "String", "AllowedPattern": "[a-z]+", "ConstraintDescription": "lower case only"}, "A",
     "Parameter 'P' failed to satisfy constraint: lower case only"),
])
def test_parameter_constraints_are_checked_before_anything_is_touched(moto_endpoint, definition: dict,
                                                                      value: str, message: str) -> None:
    deployer = _deployer(moto_endpoint)
    template = {"Parameters": {"P": definition}, "Resources": {"T": {"Type": "AWS::SNS::Topic", "Properties": {
        "DisplayName": {"Ref": "P"}}}}}
    with pytest.raises(DeploymentError, match=message):
        deployer.plan(template, {"P": value})
    with pytest.raises(DeploymentError, match=message):
        deployer.apply(template, parameters={"P": value})
    assert deployer.registry.resources == {}
