"""Lambda's resource types, made through the Lambda API the engine serves (so a template's function, mapping or
invoke configuration is served exactly as one a test creates at runtime):

- AWS::Lambda::Function (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-lambda-function.html):
  its code a file asset of the cloud assembly (staged, see ``code.StagedCode``), an object of the engine's S3,
  or inline ``ZipFile`` source (written as ``index.py``/``index.js``, as CloudFormation does). A new
  FunctionName replaces it; code and configuration are updated in place.
- AWS::Lambda::EventSourceMapping: a new source or starting position replaces it; its other settings are
  updated in place (UpdateEventSourceMapping).
- AWS::Lambda::Permission (every change replaces it, as its page says) and AWS::Lambda::EventInvokeConfig.
"""

from __future__ import annotations

import zipfile
from io import BytesIO
from typing import Any

from jobkit.engine.services.cloudformation.resource_types import (
    DeployContext,
    DeployedResource,
    DeploymentError,
    ResourceType,
    changed,
    delete_quietly,
)

#: the configuration UpdateFunctionConfiguration takes, as the template names it
_CONFIGURATION = ("Role", "Handler", "Runtime", "Timeout", "MemorySize", "Environment", "LoggingConfig",
                  "Description")
#: "AWS::Lambda::EventSourceMapping": Update requires Replacement
_MAPPING_REPLACING = ("EventSourceArn", "StartingPosition", "StartingPositionTimestamp")


def _code(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
    code = props["Code"]
    if "S3Key" in code:
        folder = ctx.assets.get(code["S3Key"])
        if folder is not None:
            if not folder.is_dir():
                raise DeploymentError(f"{logical_id}: asset {code['S3Key']} is not a folder of the cloud assembly")
            ctx.stage_code(code["S3Bucket"], code["S3Key"], folder)
        return {"S3Bucket": code["S3Bucket"], "S3Key": code["S3Key"]}
    if "ZipFile" in code:
        name = "index.js" if str(props.get("Runtime", "")).startswith("nodejs") else "index.py"
        buffer = BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(name, code["ZipFile"])
        return {"ZipFile": buffer.getvalue()}
    raise DeploymentError(f"{logical_id}: Code needs S3Bucket and S3Key or ZipFile (container images are not run)")


def _configuration(props: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {"Role": props["Role"], "Handler": props["Handler"], "Runtime": props["Runtime"],
                            "Timeout": int(props.get("Timeout", 3)), "MemorySize": int(props.get("MemorySize", 128)),
                            "Environment": props.get("Environment", {"Variables": {}}),
                            "Description": props.get("Description", "")}
    if "LoggingConfig" in props:
        args["LoggingConfig"] = props["LoggingConfig"]
    return args


def _concurrency(lambdas: Any, name: str, props: dict[str, Any]) -> None:
    if props.get("ReservedConcurrentExecutions") is not None:
        lambdas.put_function_concurrency(FunctionName=name,
                                         ReservedConcurrentExecutions=int(props["ReservedConcurrentExecutions"]))


def _create_function(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    lambdas = ctx.clients("lambda")
    name = props.get("FunctionName") or ctx.name(logical_id)
    arn = lambdas.create_function(FunctionName=name, Code=_code(ctx, logical_id, props),
                                  Architectures=props.get("Architectures", ["x86_64"]),
                                  **_configuration(props))["FunctionArn"]
    _concurrency(lambdas, name, props)
    return DeployedResource(logical_id, "AWS::Lambda::Function", name, props, {"Arn": arn})


def _update_function(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if props.get("FunctionName") != old.properties.get("FunctionName"):
        return None
    lambdas, name, before = ctx.clients("lambda"), old.physical_id, old.properties
    if any(props.get(key) != before.get(key) for key in _CONFIGURATION):
        lambdas.update_function_configuration(FunctionName=name, **_configuration(props))
    if props["Code"] != before["Code"]:
        lambdas.update_function_code(FunctionName=name, **_code(ctx, old.logical_id, props))
    if props.get("ReservedConcurrentExecutions") != before.get("ReservedConcurrentExecutions"):
        if props.get("ReservedConcurrentExecutions") is None:
            lambdas.delete_function_concurrency(FunctionName=name)
        _concurrency(lambdas, name, props)
    return DeployedResource(old.logical_id, old.type, name, props, old.attributes)


def _delete_function(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("lambda").delete_function(FunctionName=resource.physical_id))


def _add_permission(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    sid = ctx.name(logical_id, 100)
    args: dict[str, Any] = {"FunctionName": props["FunctionName"], "StatementId": sid, "Action": props["Action"],
                            "Principal": props["Principal"]}
    for key in ("SourceArn", "SourceAccount"):
        if key in props:
            args[key] = props[key]
    ctx.clients("lambda").add_permission(**args)
    return DeployedResource(logical_id, "AWS::Lambda::Permission", sid, props)


def _remove_permission(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("lambda").remove_permission(
        FunctionName=resource.properties["FunctionName"], StatementId=resource.physical_id))


def _mapping_settings(props: dict[str, Any]) -> dict[str, Any]:
    """The mapping's settings as the API takes them: the template's names are the API's."""
    return {key: value for key, value in props.items()
            if key not in ("EventSourceArn", "StartingPosition", "StartingPositionTimestamp", "Tags")}


def _create_mapping(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    args = {**_mapping_settings(props), "EventSourceArn": props["EventSourceArn"]}
    for key in ("StartingPosition", "StartingPositionTimestamp"):
        if key in props:
            args[key] = props[key]
    mapping = ctx.clients("lambda").create_event_source_mapping(**args)
    return DeployedResource(logical_id, "AWS::Lambda::EventSourceMapping", mapping["UUID"], props,
                            {"Id": mapping["UUID"]})


def _update_mapping(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if changed(old.properties, props, _MAPPING_REPLACING):
        return None
    before, after = _mapping_settings(old.properties), _mapping_settings(props)
    changes = {key: value for key, value in after.items() if before.get(key) != value}
    if set(before) - set(after):
        return None  # a setting taken away: its default comes with a new mapping
    if changes:
        ctx.clients("lambda").update_event_source_mapping(UUID=old.physical_id, **changes)
    return DeployedResource(old.logical_id, old.type, old.physical_id, props, old.attributes)


def _delete_mapping(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("lambda").delete_event_source_mapping(UUID=resource.physical_id))


def _put_invoke_config(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    args: dict[str, Any] = {"FunctionName": props["FunctionName"], "Qualifier": props.get("Qualifier", "$LATEST")}
    for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
        if key in props:
            args[key] = int(props[key])
    if "DestinationConfig" in props:
        args["DestinationConfig"] = props["DestinationConfig"]
    ctx.clients("lambda").put_function_event_invoke_config(**args)
    return DeployedResource(logical_id, "AWS::Lambda::EventInvokeConfig",
                            f"{props['FunctionName']}:{props.get('Qualifier', '$LATEST')}", props)


def _update_invoke_config(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if changed(old.properties, props, ("FunctionName", "Qualifier")):
        return None
    return _put_invoke_config(ctx, old.logical_id, props)


def _delete_invoke_config(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("lambda").delete_function_event_invoke_config(
        FunctionName=resource.properties["FunctionName"], Qualifier=resource.properties.get("Qualifier", "$LATEST")))


RESOURCE_TYPES = (
    ResourceType("AWS::Lambda::Function", _create_function, _update_function, _delete_function),
    ResourceType("AWS::Lambda::Permission", _add_permission, None, _remove_permission),
    ResourceType("AWS::Lambda::EventSourceMapping", _create_mapping, _update_mapping, _delete_mapping),
    ResourceType("AWS::Lambda::EventInvokeConfig", _put_invoke_config, _update_invoke_config, _delete_invoke_config),
)
