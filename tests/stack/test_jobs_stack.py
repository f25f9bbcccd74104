"""CDK assertions on what the reference left untested: every setting the pattern relies on."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from stack.settings import FAULT_PLAN_PREFIX


def resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def logical_id_of(template: dict[str, Any], type_: str, prefix: str) -> str:
    [logical_id] = [k for k in resources(template, type_) if k.startswith(prefix)]
    return logical_id


def test_table_has_new_image_stream_pitr_and_kms(template: Template) -> None:
    template.has_resource("AWS::DynamoDB::Table", {
        "Properties": {
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": Match.any_value()},
        },
        "DeletionPolicy": "Delete",
    })


@pytest.mark.parametrize("index", [1, 2])
def test_each_consumer_has_its_own_mapping_with_the_pattern_settings(
    template_json: dict[str, Any], index: int,
) -> None:
    function = logical_id_of(template_json, "AWS::Lambda::Function", f"Consumer{index}Function")
    topic = logical_id_of(template_json, "AWS::SNS::Topic", f"ErrorHandling{index}Topic")
    [mapping] = [m["Properties"] for m in resources(template_json, "AWS::Lambda::EventSourceMapping").values()
                 if m["Properties"]["FunctionName"] == {"Ref": function}]
    assert mapping["BatchSize"] == 1
    assert mapping["ParallelizationFactor"] == 10
    assert mapping["MaximumRetryAttempts"] == 0
    assert mapping["MaximumRecordAgeInSeconds"] == 6 * 3600
    assert mapping["BisectBatchOnFunctionError"] is False
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FilterCriteria"] == {"Filters": [{"Pattern": '{"eventName":["INSERT"]}'}]}
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": {"Ref": topic}}}
    table = logical_id_of(template_json, "AWS::DynamoDB::Table", "JobsTable")
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [table, "StreamArn"]}


@pytest.mark.parametrize("index", [1, 2])
def test_each_topic_is_subscribed_by_its_own_error_handler(template_json: dict[str, Any], index: int) -> None:
    topic = logical_id_of(template_json, "AWS::SNS::Topic", f"ErrorHandling{index}Topic")
    handler = logical_id_of(template_json, "AWS::Lambda::Function", f"ErrorHandler{index}Function")
    subscriptions = [s["Properties"] for s in resources(template_json, "AWS::SNS::Subscription").values()
                     if s["Properties"]["TopicArn"] == {"Ref": topic}]
    assert subscriptions == [{"Protocol": "lambda", "TopicArn": {"Ref": topic},
                              "Endpoint": {"Fn::GetAtt": [handler, "Arn"]}}]


@pytest.mark.parametrize("index", [1, 2])
def test_error_handler_async_config_sends_failures_to_the_bus(template_json: dict[str, Any], index: int) -> None:
    handler = logical_id_of(template_json, "AWS::Lambda::Function", f"ErrorHandler{index}Function")
    bus = logical_id_of(template_json, "AWS::Events::EventBus", "FailedJobsEventBus")
    [config] = [c["Properties"] for c in resources(template_json, "AWS::Lambda::EventInvokeConfig").values()
                if c["Properties"]["FunctionName"] == {"Ref": handler}]
    assert config["MaximumRetryAttempts"] == 0
    assert config["MaximumEventAgeInSeconds"] == 6 * 3600
    assert config["Qualifier"] == "$LATEST"
    assert config["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [bus, "Arn"]}}}


def test_functions_run_python_312_with_bounded_log_retention(template_json: dict[str, Any]) -> None:
    functions = resources(template_json, "AWS::Lambda::Function")
    assert len(functions) == 4
    groups = resources(template_json, "AWS::Logs::LogGroup")
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12"
        group = props["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group]["Properties"]["RetentionInDays"] <= 30
        assert groups[group]["DeletionPolicy"] == "Delete"


@pytest.mark.parametrize(("prefix", "handler", "consumer"), [
    ("Consumer1Function", "handlers.processor.handler", "consumer_1"),
    ("Consumer2Function", "handlers.processor.handler", "consumer_2"),
    ("ErrorHandler1Function", "handlers.error_handler.handler", "consumer_1"),
    ("ErrorHandler2Function", "handlers.error_handler.handler", "consumer_2"),
])
def test_functions_get_their_settings_from_the_stack(
    template_json: dict[str, Any], prefix: str, handler: str, consumer: str,
) -> None:
    props = template_json["Resources"][logical_id_of(template_json, "AWS::Lambda::Function", prefix)]["Properties"]
    env = props["Environment"]["Variables"]
    assert props["Handler"] == handler
    assert env["CONSUMER_ID"] == consumer
    assert env["OPTIMISTIC_LOCKING_RETRY_ATTEMPTS"] == "5"
    assert env["TABLE_NAME"] == {"Ref": logical_id_of(template_json, "AWS::DynamoDB::Table", "JobsTable")}
    assert env["FAULT_PLAN_PREFIX"] == FAULT_PLAN_PREFIX
    if "processor" in handler:
        assert env["TIMEOUT"] == "300"
        assert props["Timeout"] == 330


def test_no_fault_injection_unless_asked(template_no_faults: dict[str, Any]) -> None:
    for function in resources(template_no_faults, "AWS::Lambda::Function").values():
        assert "FAULT_PLAN_PREFIX" not in function["Properties"]["Environment"]["Variables"]
    [model] = resources(template_no_faults, "AWS::ApiGateway::Model").values()
    assert set(model["Properties"]["Schema"]["properties"]) == {"seconds"}
    assert "ssm:GetParameter" not in str(template_no_faults)


def test_consumers_setting_scales_every_per_consumer_resource(template_three_consumers: dict[str, Any]) -> None:
    t = template_three_consumers
    assert len(resources(t, "AWS::Lambda::EventSourceMapping")) == 3
    assert len(resources(t, "AWS::SNS::Topic")) == 3
    assert len(resources(t, "AWS::Lambda::EventInvokeConfig")) == 3
    assert {"ErrorHandlingTopic3Arn", "Consumer3FunctionName"} <= set(t["Outputs"])


def test_parallelization_factor_from_context_and_its_bounds() -> None:
    from stack.settings import StackSettings

    class Context(dict[str, Any]):
        def try_get_context(self, key: str) -> Any:
            return self.get(key)

    assert StackSettings.from_context(Context(parallelizationFactor="3")).parallelization_factor == 3
    for wrong in ("0", "11"):
        with pytest.raises(ValueError, match="parallelizationFactor must be between 1 and 10"):
            StackSettings.from_context(Context(parallelizationFactor=wrong))


def test_bus_archive_keeps_every_event(template_json: dict[str, Any]) -> None:
    bus = logical_id_of(template_json, "AWS::Events::EventBus", "FailedJobsEventBus")
    assert template_json["Resources"][bus]["Properties"]["Name"] == "FailedJobsEventBus"
    [archive] = resources(template_json, "AWS::Events::Archive").values()
    props = archive["Properties"]
    assert props["ArchiveName"] == "FailedJobsEventArchive"
    assert props["SourceArn"] == {"Fn::GetAtt": [bus, "Arn"]}
    assert props["EventPattern"] == {"account": [{"Ref": "AWS::AccountId"}]}


def test_replayed_failures_go_back_to_their_error_handler(template_json: dict[str, Any]) -> None:
    for index in (1, 2):
        handler = logical_id_of(template_json, "AWS::Lambda::Function", f"ErrorHandler{index}Function")
        [rule] = [r["Properties"] for k, r in resources(template_json, "AWS::Events::Rule").items()
                  if k.startswith(f"Redrive{index}Rule")]
        assert rule["EventPattern"]["detail-type"] == ["Lambda Function Invocation Result - Failure"]
        # only replays: a rule on live failures would re-invoke a failing handler forever
        assert rule["EventPattern"]["replay-name"] == [{"exists": True}]
        assert rule["EventPattern"]["detail"] == {
            "requestContext": {"functionArn": [{"prefix": {"Fn::GetAtt": [handler, "Arn"]}}]},
        }
        assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": [handler, "Arn"]}


def test_failed_events_are_captured_in_a_log_group(template_json: dict[str, Any]) -> None:
    [rule] = [r["Properties"] for k, r in resources(template_json, "AWS::Events::Rule").items()
              if k.startswith("FailedJobsCaptureRule")]
    assert rule["EventPattern"]["replay-name"] == [{"exists": False}]
    group = logical_id_of(template_json, "AWS::Logs::LogGroup", "FailedJobsEventLogs")
    assert rule["Targets"][0]["Arn"] == {"Fn::GetAtt": [group, "Arn"]}
    assert resources(template_json, "AWS::Logs::ResourcePolicy")


def test_request_model_requires_seconds_and_refuses_extra_properties(template_json: dict[str, Any]) -> None:
    [model] = resources(template_json, "AWS::ApiGateway::Model").values()
    schema = model["Properties"]["Schema"]
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert schema["required"] == ["seconds"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["seconds"]["type"] == "integer"
    assert schema["properties"]["seconds"]["minimum"] == 1
    assert schema["properties"]["fault"]["pattern"] == "^[A-Za-z0-9_.-]{1,64}$"


def test_post_validates_the_body_and_both_methods_need_iam(template_json: dict[str, Any]) -> None:
    [validator_id] = resources(template_json, "AWS::ApiGateway::RequestValidator")
    validator = template_json["Resources"][validator_id]["Properties"]
    assert validator["ValidateRequestBody"] is True
    methods = {m["Properties"]["HttpMethod"]: m["Properties"]
               for m in resources(template_json, "AWS::ApiGateway::Method").values()}
    assert set(methods) == {"POST", "GET"}
    for method in methods.values():
        assert method["AuthorizationType"] == "AWS_IAM"
        assert method["Integration"]["Type"] == "AWS"
        assert "dynamodb:action" in str(method["Integration"]["Uri"])
    assert methods["POST"]["RequestValidatorId"] == {"Ref": validator_id}
    assert methods["POST"]["Integration"]["PassthroughBehavior"] == "NEVER"
    assert "PutItem" in str(methods["POST"]["Integration"]["Uri"])
    assert "GetItem" in str(methods["GET"]["Integration"]["Uri"])
    selection = {r.get("SelectionPattern", ""): r["StatusCode"]
                 for r in methods["GET"]["Integration"]["IntegrationResponses"]}
    assert selection == {"": "200", r"4\d{2}": "400", r"5\d{2}": "503"}


def test_execution_role_is_for_api_gateway(template_json: dict[str, Any]) -> None:
    role = template_json["Resources"][logical_id_of(template_json, "AWS::IAM::Role", "JobsAPIExecutionRole")]
    statement = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    methods = resources(template_json, "AWS::ApiGateway::Method")
    for method in methods.values():
        assert method["Properties"]["Integration"]["Credentials"]["Fn::GetAtt"][0].startswith("JobsAPIExecutionRole")


def test_invoke_role_may_invoke_exactly_the_two_methods(template_json: dict[str, Any]) -> None:
    role_id = logical_id_of(template_json, "AWS::IAM::Role", "JobsAPIInvokeRole")
    [policy] = [p["Properties"] for p in resources(template_json, "AWS::IAM::Policy").values()
                if p["Properties"]["Roles"] == [{"Ref": role_id}]]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "execute-api:Invoke"
    assert statement["Effect"] == "Allow"
    resources_ = [str(r) for r in statement["Resource"]]
    assert len(resources_) == 2
    assert any("/POST/jobs" in r for r in resources_)
    assert any("/GET/jobs/*" in r for r in resources_)
    trust = template_json["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert "AWS" in trust["Principal"]


def test_access_log_group_is_removed_with_the_stack(template_json: dict[str, Any]) -> None:
    [stage] = resources(template_json, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["StageName"] == "dev"
    group = stage["Properties"]["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    assert template_json["Resources"][group]["DeletionPolicy"] == "Delete"
    assert "LogGroupName" not in template_json["Resources"][group]["Properties"]


def test_outputs_name_the_deployment(template_json: dict[str, Any]) -> None:
    assert {
        "JobsApiUrl", "JobsApiInvokeRoleArn", "JobsTableName", "FailedJobsEventBusName",
        "FailedJobsEventArchiveName", "ErrorHandlingTopic1Arn", "ErrorHandlingTopic2Arn",
    } <= set(template_json["Outputs"])


@pytest.mark.parametrize(("type_", "checks"), [
    ("AWS::Lambda::Function", {"CKV_AWS_115", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"}),
    ("AWS::Logs::LogGroup", {"CKV_AWS_158"}),
    ("AWS::SNS::Topic", {"CKV_AWS_26"}),
    ("AWS::ApiGateway::Stage", {"CKV_AWS_120", "CKV_AWS_73"}),
])
def test_accepted_security_findings_carry_their_reason_on_each_resource(
    template_json: dict[str, Any], type_: str, checks: set[str],
) -> None:
    found = resources(template_json, type_)
    assert found
    for logical_id, resource in found.items():
        skips = resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
        assert {s["id"] for s in skips} == checks, logical_id
        assert all(len(s["comment"]) > 40 for s in skips), logical_id  # a reason, not a placeholder
