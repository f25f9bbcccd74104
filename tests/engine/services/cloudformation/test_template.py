"""A template's text: JSON or YAML with CloudFormation's short forms, and what is not a template refused in
CloudFormation's words; the intrinsic functions a template of cdk's may use."""

from __future__ import annotations

import pytest

from jobkit.engine.services.cloudformation.resource_types import DeploymentError, StackRegistry
from jobkit.engine.services.cloudformation.template import Resolver, parse_template

YAML = """
AWSTemplateFormatVersion: 2010-09-09
Description: short forms
Parameters:
  Qualifier: {Type: String, Default: hnb659fds}
Conditions:
  IsDefault: !Equals [!Ref Qualifier, hnb659fds]
Resources:
  Other: {Type: AWS::SNS::Topic}
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub "cdk-${Qualifier}-topic"
      DisplayName: !If [IsDefault, !Join ["-", [a, !Select [1, !Split [",", "x,b"]]]], other]
      Tags:
        - {Key: arn, Value: !GetAtt Other.Arn}
        - {Key: list, Value: !GetAtt [Other, Arn]}
        - {Key: b64, Value: !Base64 text}
        - {Key: map, Value: !FindInMap [Regions, !Ref "AWS::Region", Name]}
        - {Key: import, Value: !ImportValue shared-name}
        - {Key: cond, Value: !Condition IsDefault}
"""


def test_yaml_short_forms_are_the_long_forms() -> None:
    template = parse_template(YAML)
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"  # a date left as text
    props = template["Resources"]["Topic"]["Properties"]
    assert props["TopicName"] == {"Fn::Sub": "cdk-${Qualifier}-topic"}
    assert props["DisplayName"] == {"Fn::If": ["IsDefault", {"Fn::Join": ["-", ["a", {"Fn::Select": [
        1, {"Fn::Split": [",", "x,b"]}]}]]}, "other"]}
    assert [t["Value"] for t in props["Tags"]] == [
        {"Fn::GetAtt": ["Other", "Arn"]}, {"Fn::GetAtt": ["Other", "Arn"]}, {"Fn::Base64": "text"},
        {"Fn::FindInMap": ["Regions", {"Ref": "AWS::Region"}, "Name"]}, {"Fn::ImportValue": "shared-name"},
        {"Condition": "IsDefault"}]
    assert template["Conditions"]["IsDefault"] == {"Fn::Equals": [{"Ref": "Qualifier"}, "hnb659fds"]}
    assert parse_template('{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}') == {
        "Resources": {"T": {"Type": "AWS::SNS::Topic"}}}


@pytest.mark.parametrize(("body", "message"), [
    ('{"Resources": {', r"Template format error: JSON not well-formed\. \(line 1,  column 16\)"),
    ("Resources: [unclosed", r"Template format error: YAML not well-formed\. \(line 1, column 21\)"),
    ("just text", "must be a JSON or YAML object"),
    ("Resources: {}", "At least one Resources member must be defined"),
    ("Description: none", "At least one Resources member must be defined"),
    ("Resourcez: {T: {Type: AWS::SNS::Topic}}\nResources: {T: {Type: AWS::SNS::Topic}}",
     r"Invalid template property or properties \[Resourcez\]"),
    ("Transform: AWS::Serverless-2016-10-31\nResources: {T: {Type: AWS::SNS::Topic}}", "does not run transforms"),
    ("Resources: {T: {Properties: {}}}", "Every Resources object must contain a Type member"),
    ("Resources: {T: {Type: AWS::SNS::Topic}}\nOutputs: {O: {Description: x}}",
     r"Every Outputs member must contain a Value object \(O\)"),
    ("Resources: {T: {Type: AWS::SNS::Topic, DependsOn: [Gone], Properties: {DisplayName: !GetAtt Other.Name,"
     " TopicName: !Sub ['${Local}-${AWS::Region}-${Missing}', {Local: x}]}}}",
     r"Unresolved resource dependencies \[Gone, Missing, Other\] in the Resources block of the template"),
])
def test_what_is_not_a_template_is_refused_in_cloudformations_words(body: str, message: str) -> None:
    with pytest.raises(DeploymentError, match=message):
        parse_template(body)


def test_find_in_map_import_value_and_get_azs() -> None:
    registry = StackRegistry("S", "arn:aws:cloudformation:us-east-1:000000000000:stack/S/x", "000000000000",
                             "us-east-1")
    exports = {"shared-name": "shared-value"}
    resolver = Resolver(registry, {}, {}, mappings={"Regions": {"us-east-1": {"Name": "virginia"}}},
                        imports=exports.__getitem__)
    assert resolver.resolve({"Fn::FindInMap": ["Regions", {"Ref": "AWS::Region"}, "Name"]}) == "virginia"
    assert resolver.resolve({"Fn::FindInMap": ["Regions", "eu-west-1", "Name", {"DefaultValue": "elsewhere"}]}) \
        == "elsewhere"
    assert resolver.resolve({"Fn::ImportValue": "shared-name"}) == "shared-value"
    assert resolver.resolve({"Fn::Select": [0, {"Fn::GetAZs": ""}]}) == "us-east-1a"
    with pytest.raises(DeploymentError, match=r"Template error: Fn::Join is malformed \(\"a\"\)"):
        resolver.resolve({"Fn::Join": "a"})
    with pytest.raises(DeploymentError, match="No export named missing found"):
        resolver.resolve({"Fn::ImportValue": "missing"})
    with pytest.raises(DeploymentError, match=r"mapping Regions has no eu-west-1\.Name"):
        resolver.resolve({"Fn::FindInMap": ["Regions", "eu-west-1", "Name"]})
