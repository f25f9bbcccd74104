"""Template deployment: the synthesized CloudFormation template, created resource by resource in the engine.

The engine has no second definition of the architecture: it reads ``cdk.out`` (template + asset manifest),
resolves the intrinsic functions ("Intrinsic function reference",
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html), evaluates
the template's Rules and Conditions, and creates each resource in dependency order through the AWS APIs of
the engine (moto behind the engine's endpoint). What moto must not run (stream mappings, Lambda subscriptions)
is kept in the registry for jobkit's compute plane. An unsupported resource type is an error naming it.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

from jobkit.deploy.outputs import write_outputs

STACK_NAME = "JobsStack"
BOOTSTRAP_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
BOOTSTRAP_VERSION = "30"
_NO_VALUE = object()
#: the properties of AWS::SNS::Subscription that are subscription attributes ("SetSubscriptionAttributes")
SUBSCRIPTION_ATTRIBUTES = ("DeliveryPolicy", "FilterPolicyScope", "FilterPolicy", "RawMessageDelivery",
                           "RedrivePolicy", "SubscriptionRoleArn")
_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


class DeploymentError(Exception):
    """The template cannot be deployed into the engine (unsupported type, unresolvable reference, rule)."""


ClientFactory = Callable[[str], Any]


@dataclass
class DeployedResource:
    """One created resource: what ``Ref`` and ``Fn::GetAtt`` answer, and its resolved properties."""

    logical_id: str
    type: str
    physical_id: str
    properties: dict[str, Any]
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class StackRegistry:
    """What was deployed (logical id -> resource) and the stack's outputs."""

    stack_name: str
    stack_id: str
    account: str
    region: str
    resources: dict[str, DeployedResource] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    def of_type(self, resource_type: str) -> list[DeployedResource]:
        return [r for r in self.resources.values() if r.type == resource_type]


def physical_name(stack: str, logical_id: str, limit: int = 64) -> str:
    """CloudFormation's generated names: ``<stack>-<logical id>-<12 random>``, truncated to the limit."""
    suffix = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(12))
    head = f"{stack}-{logical_id}"[: limit - 13]
    return f"{head}-{suffix}"


def _attribute_text(value: Any) -> str:
    """A subscription attribute as the SNS API takes it: JSON policies as text, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def placeholder_zip() -> bytes:
    """Lambda's control plane needs some code; the compute plane runs the asset folder itself."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "jobkit runs this function from its cdk.out asset folder\n")
    return buffer.getvalue()


class Resolver:
    """Resolves intrinsic functions against parameters, pseudo parameters and the deployed resources."""

    def __init__(self, registry: StackRegistry, parameters: dict[str, Any], conditions: dict[str, Any]) -> None:
        self.registry = registry
        self.parameters = parameters
        self.condition_defs = conditions
        self._conditions: dict[str, bool] = {}

    def pseudo(self) -> dict[str, Any]:
        r = self.registry
        return {
            "AWS::AccountId": r.account, "AWS::Region": r.region, "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": r.stack_name, "AWS::StackId": r.stack_id,
            "AWS::NoValue": _NO_VALUE, "AWS::NotificationARNs": [],
        }

    def ref(self, name: str) -> Any:
        pseudo = self.pseudo()
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.registry.resources:
            return self.registry.resources[name].physical_id
        raise DeploymentError(f"Ref to {name!r}: no such parameter or (deployed) resource")

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.registry.resources.get(logical_id)
        if resource is None:
            raise DeploymentError(f"Fn::GetAtt {logical_id}.{attribute}: {logical_id} is not deployed")
        if attribute not in resource.attributes:
            raise DeploymentError(f"Fn::GetAtt {logical_id}.{attribute}: {resource.type} has no such attribute here")
        return resource.attributes[attribute]

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self.condition_defs:
                raise DeploymentError(f"condition {name!r} is not defined")
            self._conditions[name] = bool(self.resolve(self.condition_defs[name]))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key, arg)
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:
        if name == "Fn::GetAtt":
            logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else self.resolve(arg)
            return self.get_att(logical_id, attribute)
        if name == "Fn::Join":
            separator, items = arg
            return separator.join(str(i) for i in self.resolve(items))
        if name == "Fn::Sub":
            return self._sub(arg)
        if name == "Fn::Select":
            index, items = self.resolve(arg)
            return items[int(index)]
        if name == "Fn::Split":
            separator, text = self.resolve(arg)
            return str(text).split(separator)
        if name == "Fn::Base64":
            import base64

            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        if name == "Fn::Equals":
            left, right = self.resolve(arg)
            return str(left) == str(right)
        if name == "Fn::Not":
            return not self.resolve(arg[0])
        if name == "Fn::And":
            return all(self.resolve(arg))
        if name == "Fn::Or":
            return any(self.resolve(arg))
        if name == "Fn::If":
            condition, yes, no = arg
            return self.resolve(yes if self.condition(condition) else no)
        if name == "Fn::Contains":
            items, needle = self.resolve(arg)
            return needle in items
        raise DeploymentError(f"intrinsic function {name} is not supported by the embedded engine")

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self.registry.resources:
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return _SUB_VAR.sub(replace, text).replace("${!", "${")


def references(value: Any) -> set[str]:
    """Logical ids a template value refers to (Ref, Fn::GetAtt, Fn::Sub)."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= references(v)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg.split(".")[0] if isinstance(arg, str) else arg[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found |= {m.split(".")[0] for m in _SUB_VAR.findall(text)}
                if not isinstance(arg, str):
                    found |= references(arg[1])
            else:
                found |= references(arg)
    return found


def dependency_order(resources: dict[str, Any]) -> list[str]:
    """Logical ids so that each comes after what it references or DependsOn (template order otherwise)."""
    depends: dict[str, set[str]] = {}
    for logical_id, definition in resources.items():
        explicit = definition.get("DependsOn", [])
        explicit = [explicit] if isinstance(explicit, str) else explicit
        refs = references(definition.get("Properties", {})) | set(explicit)
        depends[logical_id] = {r for r in refs if r in resources}
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            raise DeploymentError(f"circular dependency: {' -> '.join([*path, node])}")
        state[node] = 1
        for dependency in sorted(depends[node]):
            visit(dependency, [*path, node])
        state[node] = 2
        order.append(node)

    for logical_id in resources:
        visit(logical_id, [])
    return order


class TemplateDeployer:
    """Deploys one synthesized stack from ``cdk.out`` through the engine's AWS APIs."""

    def __init__(self, cdk_out: Path, clients: ClientFactory, *, account: str, region: str,
                 stack_name: str = STACK_NAME) -> None:
        self.cdk_out = Path(cdk_out)
        self.clients = clients
        self.account = account
        self.region = region
        self.stack_name = stack_name
        self._creators: dict[str, Callable[[str, dict[str, Any]], DeployedResource]] = {
            "AWS::CDK::Metadata": self._noop,
            "AWS::KMS::Key": self._kms_key,
            "AWS::DynamoDB::Table": self._table,
            "AWS::IAM::Role": self._role,
            "AWS::IAM::Policy": self._policy,
            "AWS::SNS::Topic": self._topic,
            "AWS::SNS::Subscription": self._subscription,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::Logs::ResourcePolicy": self._logs_policy,
            "AWS::Events::EventBus": self._bus,
            "AWS::Events::Archive": self._archive,
            "AWS::Events::Rule": self._rule,
            "AWS::Lambda::Function": self._function,
            "AWS::Lambda::Permission": self._permission,
            "AWS::Lambda::EventSourceMapping": self._mapping,
            "AWS::Lambda::EventInvokeConfig": self._invoke_config,
            "AWS::ApiGateway::RestApi": self._rest_api,
            "AWS::ApiGateway::Account": self._apigw_account,
            "AWS::ApiGateway::Resource": self._api_resource,
            "AWS::ApiGateway::Method": self._api_method,
            "AWS::ApiGateway::Model": self._api_model,
            "AWS::ApiGateway::RequestValidator": self._api_validator,
            "AWS::ApiGateway::Deployment": self._api_deployment,
            "AWS::ApiGateway::Stage": self._api_stage,
            "AWS::SSM::Parameter": self._ssm_parameter,
        }
        self.registry = StackRegistry(
            stack_name=stack_name,
            stack_id=f"arn:aws:cloudformation:{region}:{account}:stack/{stack_name}/{secrets.token_hex(16)}",
            account=account, region=region,
        )

    # --- template --------------------------------------------------------------------------------------
    def template(self) -> dict[str, Any]:
        path = self.cdk_out / f"{self.stack_name}.template.json"
        if not path.is_file():
            raise DeploymentError(f"{path} does not exist: synthesize the stack first (cdk synth)")
        document: dict[str, Any] = json.loads(path.read_text())
        return document

    def asset_dirs(self) -> dict[str, Path]:
        """Object key (``<hash>.zip``) -> the asset's folder in cdk.out, from the asset manifest."""
        path = self.cdk_out / f"{self.stack_name}.assets.json"
        found: dict[str, Path] = {}
        if path.is_file():
            for entry in json.loads(path.read_text()).get("files", {}).values():
                for destination in entry.get("destinations", {}).values():
                    found[destination["objectKey"]] = self.cdk_out / entry["source"]["path"]
        return found

    def check_supported(self, template: dict[str, Any]) -> None:
        unsupported = sorted({
            f"{d['Type']} ({logical_id})" for logical_id, d in template.get("Resources", {}).items()
            if d.get("Type") not in self._creators
        })
        if unsupported:
            raise DeploymentError(
                "the embedded engine does not support the resource type(s): " + ", ".join(unsupported))

    def deploy(self) -> StackRegistry:
        """Creates every resource; raises DeploymentError before creating anything it could not finish."""
        template = self.template()
        self.check_supported(template)
        self._assets = self.asset_dirs()
        parameters = self._parameters(template.get("Parameters", {}))
        resolver = Resolver(self.registry, parameters, template.get("Conditions", {}))
        self._check_rules(resolver, template.get("Rules", {}))
        resources = template.get("Resources", {})
        for logical_id in dependency_order(resources):
            definition = resources[logical_id]
            condition = definition.get("Condition")
            if condition is not None and not resolver.condition(condition):
                continue
            properties = resolver.resolve(definition.get("Properties", {}))
            try:
                deployed = self._creators[definition["Type"]](logical_id, properties)
            except DeploymentError:
                raise
            except Exception as exc:
                raise DeploymentError(f"creating {logical_id} ({definition['Type']}) failed: {exc}") from exc
            self.registry.resources[logical_id] = deployed
        for key, output in template.get("Outputs", {}).items():
            condition = output.get("Condition")
            if condition is None or resolver.condition(condition):
                self.registry.outputs[key] = str(resolver.resolve(output["Value"]))
        return self.registry

    def _parameters(self, definitions: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, definition in definitions.items():
            default = definition.get("Default")
            if str(definition.get("Type", "")).startswith("AWS::SSM::Parameter::Value"):
                values[name] = self._ssm_value(str(default))
            elif default is not None:
                values[name] = default
            else:
                raise DeploymentError(f"parameter {name} has no default and the engine passes none")
        return values

    def _ssm_value(self, name: str) -> str:
        ssm = self.clients("ssm")
        if name == BOOTSTRAP_PARAMETER:  # the engine is its own bootstrapped environment
            ssm.put_parameter(Name=name, Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True)
        value: str = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        return value

    def _check_rules(self, resolver: Resolver, rules: dict[str, Any]) -> None:
        for name, rule in rules.items():
            if "RuleCondition" in rule and not resolver.resolve(rule["RuleCondition"]):
                continue
            for assertion in rule.get("Assertions", []):
                if not resolver.resolve(assertion["Assert"]):
                    raise DeploymentError(f"rule {name} failed: {assertion.get('AssertDescription', '')}")

    # --- resource creators (one per type) -----------------------------------------------------------------
    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    def _noop(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        return DeployedResource(logical_id, "AWS::CDK::Metadata", logical_id, props)

    def _kms_key(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        kms = self.clients("kms")
        args: dict[str, Any] = {"Description": props.get("Description", "")}
        if "KeyPolicy" in props:
            args["Policy"] = json.dumps(props["KeyPolicy"])
        key = kms.create_key(**args)["KeyMetadata"]
        if props.get("EnableKeyRotation"):
            kms.enable_key_rotation(KeyId=key["KeyId"])
        return DeployedResource(logical_id, "AWS::KMS::Key", key["KeyId"], props,
                                {"Arn": key["Arn"], "KeyId": key["KeyId"]})

    def _table(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        name = props.get("TableName") or physical_name(self.stack_name, logical_id, 255)
        args: dict[str, Any] = {
            "TableName": name, "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if "ProvisionedThroughput" in props:
            args["ProvisionedThroughput"] = props["ProvisionedThroughput"]
        if "StreamSpecification" in props:
            args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        sse = props.get("SSESpecification")
        if sse:
            spec = {"Enabled": bool(sse.get("SSEEnabled")), "SSEType": sse.get("SSEType", "KMS")}
            if "KMSMasterKeyId" in sse:
                spec["KMSMasterKeyId"] = sse["KMSMasterKeyId"]
            args["SSESpecification"] = spec
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if key in props:
                args[key] = props[key]
        table = self.clients("dynamodb").create_table(**args)["TableDescription"]
        attributes = {"Arn": table["TableArn"]}
        if "LatestStreamArn" in table:
            attributes["StreamArn"] = table["LatestStreamArn"]
        return DeployedResource(logical_id, "AWS::DynamoDB::Table", name, props, attributes)

    def _role(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        iam = self.clients("iam")
        name = props.get("RoleName") or physical_name(self.stack_name, logical_id)
        role = iam.create_role(RoleName=name, Path=props.get("Path", "/"),
                               AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
                               Description=props.get("Description", ""))["Role"]
        aws_managed: list[str] = []
        for arn in props.get("ManagedPolicyArns", []):
            if arn.startswith("arn:aws:iam::aws:policy/"):
                # moto loads AWS managed policies only on request (slow); the engine keeps the attachment here
                aws_managed.append(arn)
            else:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        for policy in props.get("Policies", []):
            iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"],
                                PolicyDocument=json.dumps(policy["PolicyDocument"]))
        return DeployedResource(logical_id, "AWS::IAM::Role", name, props,
                                {"Arn": role["Arn"], "RoleId": role["RoleId"],
                                 "AwsManagedPolicyArns": ",".join(aws_managed)})

    def _policy(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        iam = self.clients("iam")
        document = json.dumps(props["PolicyDocument"])
        for role in props.get("Roles", []):
            iam.put_role_policy(RoleName=role, PolicyName=props["PolicyName"], PolicyDocument=document)
        if props.get("Users") or props.get("Groups"):
            raise DeploymentError(f"{logical_id}: AWS::IAM::Policy on users or groups is not supported")
        return DeployedResource(logical_id, "AWS::IAM::Policy", props["PolicyName"], props)

    def _topic(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        name = props.get("TopicName") or physical_name(self.stack_name, logical_id, 256)
        attributes = {"DisplayName": props["DisplayName"]} if "DisplayName" in props else {}
        arn = self.clients("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        return DeployedResource(logical_id, "AWS::SNS::Topic", arn, props, {"TopicArn": arn, "TopicName": name})

    def _subscription(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        """Subscribed in moto with its attributes, like a runtime Subscribe: the compute plane reads every
        subscription from moto when a message is published ("AWS::SNS::Subscription": FilterPolicy,
        FilterPolicyScope, RawMessageDelivery, DeliveryPolicy, RedrivePolicy, SubscriptionRoleArn)."""
        attributes = {name: _attribute_text(props[name]) for name in SUBSCRIPTION_ATTRIBUTES if name in props}
        arn = self.clients("sns").subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"],
                                            Endpoint=props["Endpoint"], Attributes=attributes,
                                            ReturnSubscriptionArn=True)["SubscriptionArn"]
        return DeployedResource(logical_id, "AWS::SNS::Subscription", arn, props, {"Arn": arn})

    def _log_group(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        logs = self.clients("logs")
        name = props.get("LogGroupName") or physical_name(self.stack_name, logical_id, 512)
        logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in props:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        return DeployedResource(logical_id, "AWS::Logs::LogGroup", name, props,
                                {"Arn": self._arn("logs", f"log-group:{name}:*")})

    def _logs_policy(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        self.clients("logs").put_resource_policy(policyName=props["PolicyName"],
                                                 policyDocument=props["PolicyDocument"])
        return DeployedResource(logical_id, "AWS::Logs::ResourcePolicy", props["PolicyName"], props)

    def _bus(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        arn = self.clients("events").create_event_bus(Name=props["Name"])["EventBusArn"]
        return DeployedResource(logical_id, "AWS::Events::EventBus", props["Name"], props,
                                {"Arn": arn, "Name": props["Name"]})

    def _archive(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        name = props.get("ArchiveName") or physical_name(self.stack_name, logical_id, 48)
        args: dict[str, Any] = {"ArchiveName": name, "EventSourceArn": props["SourceArn"],
                                "Description": props.get("Description", "")}
        if "EventPattern" in props:
            args["EventPattern"] = json.dumps(props["EventPattern"])
        if "RetentionDays" in props:
            args["RetentionDays"] = int(props["RetentionDays"])
        arn = self.clients("events").create_archive(**args)["ArchiveArn"]
        return DeployedResource(logical_id, "AWS::Events::Archive", name, props, {"Arn": arn})

    def _rule(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        events = self.clients("events")
        name = props.get("Name") or physical_name(self.stack_name, logical_id)
        bus = props.get("EventBusName", "default")
        args: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": props.get("State", "ENABLED"),
                                "Description": props.get("Description", "")}
        if "EventPattern" in props:
            args["EventPattern"] = json.dumps(props["EventPattern"])
        if "ScheduleExpression" in props:
            args["ScheduleExpression"] = props["ScheduleExpression"]
        arn = events.put_rule(**args)["RuleArn"]
        if props.get("Targets"):
            events.put_targets(Rule=name, EventBusName=bus, Targets=props["Targets"])
        physical = name if bus == "default" else f"{bus}|{name}"
        return DeployedResource(logical_id, "AWS::Events::Rule", physical, props, {"Arn": arn, "Name": name})

    def _function(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        name = props.get("FunctionName") or physical_name(self.stack_name, logical_id)
        code = props["Code"]
        if "S3Key" in code:
            code_dir = self._assets.get(code["S3Key"])
            if code_dir is None or not code_dir.is_dir():
                raise DeploymentError(f"{logical_id}: asset {code['S3Key']} is not in {self.cdk_out}")
        else:
            raise DeploymentError(f"{logical_id}: only cdk.out file assets are supported as Lambda code")
        args: dict[str, Any] = {
            "FunctionName": name, "Runtime": props["Runtime"], "Role": props["Role"], "Handler": props["Handler"],
            "Code": {"ZipFile": placeholder_zip()}, "Timeout": int(props.get("Timeout", 3)),
            "MemorySize": int(props.get("MemorySize", 128)),
            "Environment": props.get("Environment", {"Variables": {}}),
            "Architectures": props.get("Architectures", ["x86_64"]),
        }
        if "LoggingConfig" in props:
            args["LoggingConfig"] = props["LoggingConfig"]
        arn = self.clients("lambda").create_function(**args)["FunctionArn"]
        return DeployedResource(logical_id, "AWS::Lambda::Function", name, props,
                                {"Arn": arn, "CodeDir": str(code_dir)})

    def _permission(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        sid = physical_name(self.stack_name, logical_id, 100)
        args: dict[str, Any] = {"FunctionName": props["FunctionName"], "StatementId": sid,
                                "Action": props["Action"], "Principal": props["Principal"]}
        if "SourceArn" in props:
            args["SourceArn"] = props["SourceArn"]
        self.clients("lambda").add_permission(**args)
        return DeployedResource(logical_id, "AWS::Lambda::Permission", sid, props)

    def _mapping(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        # not registered in moto (it would invoke synchronously inside PutItem): the stream poller runs it
        mapping_id = secrets.token_hex(16)
        mapping_id = f"{mapping_id[:8]}-{mapping_id[8:12]}-{mapping_id[12:16]}-{mapping_id[16:20]}-{mapping_id[20:]}"
        return DeployedResource(logical_id, "AWS::Lambda::EventSourceMapping", mapping_id, props,
                                {"Id": mapping_id})

    def _invoke_config(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        args: dict[str, Any] = {"FunctionName": props["FunctionName"]}
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if key in props:
                args[key] = int(props[key])
        if "DestinationConfig" in props:
            args["DestinationConfig"] = props["DestinationConfig"]
        self.clients("lambda").put_function_event_invoke_config(**args)
        return DeployedResource(logical_id, "AWS::Lambda::EventInvokeConfig",
                                f"{props['FunctionName']}:{props.get('Qualifier', '$LATEST')}", props)

    def _rest_api(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        apigw = self.clients("apigateway")
        args: dict[str, Any] = {"name": props.get("Name", logical_id), "description": props.get("Description", "")}
        if "EndpointConfiguration" in props:
            args["endpointConfiguration"] = {"types": props["EndpointConfiguration"]["Types"]}
        api = apigw.create_rest_api(**args)
        root = next(r["id"] for r in apigw.get_resources(restApiId=api["id"])["items"] if r["path"] == "/")
        return DeployedResource(logical_id, "AWS::ApiGateway::RestApi", api["id"], props,
                                {"RootResourceId": root, "RestApiId": api["id"]})

    def _apigw_account(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        return DeployedResource(logical_id, "AWS::ApiGateway::Account", logical_id, props)

    def _api_resource(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        resource = self.clients("apigateway").create_resource(
            restApiId=props["RestApiId"], parentId=props["ParentId"], pathPart=props["PathPart"])
        return DeployedResource(logical_id, "AWS::ApiGateway::Resource", resource["id"], props,
                                {"ResourceId": resource["id"]})

    def _api_method(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        apigw = self.clients("apigateway")
        common = {"restApiId": props["RestApiId"], "resourceId": props["ResourceId"],
                  "httpMethod": props["HttpMethod"]}
        apigw.put_method(**common, authorizationType=props.get("AuthorizationType", "NONE"),
                         requestParameters=props.get("RequestParameters", {}),
                         requestModels=props.get("RequestModels", {}),
                         **({"requestValidatorId": props["RequestValidatorId"]} if "RequestValidatorId" in props
                            else {}))
        for response in props.get("MethodResponses", []):
            apigw.put_method_response(**common, statusCode=response["StatusCode"],
                                      responseModels=response.get("ResponseModels", {}),
                                      responseParameters=response.get("ResponseParameters", {}))
        integration = props.get("Integration")
        if integration:
            apigw.put_integration(**common, type=integration["Type"], uri=integration.get("Uri", ""),
                                  integrationHttpMethod=integration.get("IntegrationHttpMethod", "POST"),
                                  credentials=integration.get("Credentials", ""),
                                  requestTemplates=integration.get("RequestTemplates", {}),
                                  passthroughBehavior=integration.get("PassthroughBehavior", "WHEN_NO_MATCH"))
            for response in integration.get("IntegrationResponses", []):
                apigw.put_integration_response(
                    **common, statusCode=response["StatusCode"],
                    selectionPattern=response.get("SelectionPattern", ""),
                    responseTemplates=response.get("ResponseTemplates", {}),
                    responseParameters=response.get("ResponseParameters", {}))
        physical = secrets.token_hex(5)
        return DeployedResource(logical_id, "AWS::ApiGateway::Method", physical, props)

    def _api_model(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        name = props.get("Name") or logical_id
        self.clients("apigateway").create_model(restApiId=props["RestApiId"], name=name,
                                                contentType=props.get("ContentType", "application/json"),
                                                description=props.get("Description", ""),
                                                schema=json.dumps(props.get("Schema", {})))
        return DeployedResource(logical_id, "AWS::ApiGateway::Model", name, props)

    def _api_validator(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        validator = self.clients("apigateway").create_request_validator(
            restApiId=props["RestApiId"], name=props.get("Name", logical_id),
            validateRequestBody=bool(props.get("ValidateRequestBody")),
            validateRequestParameters=bool(props.get("ValidateRequestParameters")))
        return DeployedResource(logical_id, "AWS::ApiGateway::RequestValidator", validator["id"], props)

    def _api_deployment(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        deployment = self.clients("apigateway").create_deployment(
            restApiId=props["RestApiId"], description=props.get("Description", ""))
        return DeployedResource(logical_id, "AWS::ApiGateway::Deployment", deployment["id"], props,
                                {"DeploymentId": deployment["id"]})

    def _api_stage(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        self.clients("apigateway").create_stage(restApiId=props["RestApiId"], stageName=props["StageName"],
                                                deploymentId=props["DeploymentId"],
                                                variables=props.get("Variables", {}))
        return DeployedResource(logical_id, "AWS::ApiGateway::Stage", props["StageName"], props)

    def _ssm_parameter(self, logical_id: str, props: dict[str, Any]) -> DeployedResource:
        name = props.get("Name") or f"CFN-{logical_id}-{secrets.token_hex(6)}"
        self.clients("ssm").put_parameter(Name=name, Value=props["Value"], Type=props.get("Type", "String"),
                                          Overwrite=True)
        return DeployedResource(logical_id, "AWS::SSM::Parameter", name, props, {"Type": props.get("Type", "String"),
                                                                                 "Value": props["Value"]})


def local_outputs(registry: StackRegistry, endpoint_url: str) -> dict[str, str]:
    """The stack outputs as an engine caller needs them: execute-api URLs point at the engine (LocalStack's
    ``/restapis/{id}/{stage}/_user_request_/`` form), plus how to reach the engine."""
    pattern = re.compile(r"^https://([a-z0-9]+)\.execute-api\.[^/]+\.amazonaws\.com/([^/]+)/(.*)$")
    outputs: dict[str, str] = {}
    for key, value in registry.outputs.items():
        match = pattern.match(value)
        outputs[key] = (f"{endpoint_url}/restapis/{match.group(1)}/{match.group(2)}/_user_request_/{match.group(3)}"
                        if match else value)
    outputs.update({"JobkitTarget": "embedded", "JobkitEndpointUrl": endpoint_url, "JobkitRegion": registry.region})
    return outputs


def write_outputs_file(path: Path, registry: StackRegistry, endpoint_url: str) -> dict[str, str]:
    """Writes ``cdk-outputs.json`` in the shape ``cdk deploy --outputs-file`` writes."""
    outputs = local_outputs(registry, endpoint_url)
    write_outputs(Path(path), outputs)
    return outputs
