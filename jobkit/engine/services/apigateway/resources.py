"""API Gateway's resource types ("Amazon API Gateway resource type reference",
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/AWS_ApiGateway.html), made through the
API Gateway API the engine serves. The gateway serves what the stacks' records say (``gateway.apis_from``),
so each change here is seen by the next request once the deployment is applied.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from jobkit.engine.services.cloudformation.resource_types import (
    DeployContext,
    DeployedResource,
    ResourceType,
    changed,
    delete_quietly,
)


def _kept(old: DeployedResource, props: dict[str, Any]) -> DeployedResource:
    return DeployedResource(old.logical_id, old.type, old.physical_id, props, old.attributes)


def _create_api(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    apigw = ctx.clients("apigateway")
    args: dict[str, Any] = {"name": props.get("Name", logical_id), "description": props.get("Description", "")}
    if "EndpointConfiguration" in props:
        args["endpointConfiguration"] = {"types": props["EndpointConfiguration"]["Types"]}
    api = apigw.create_rest_api(**args)
    root = next(r["id"] for r in apigw.get_resources(restApiId=api["id"])["items"] if r["path"] == "/")
    return DeployedResource(logical_id, "AWS::ApiGateway::RestApi", api["id"], props,
                            {"RootResourceId": root, "RestApiId": api["id"]})


def _update_api(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    patches = [{"op": "replace", "path": f"/{key.lower()}", "value": str(props.get(key, ""))}
               for key in ("Name", "Description") if props.get(key) != old.properties.get(key)]
    if patches:
        ctx.clients("apigateway").update_rest_api(restApiId=old.physical_id, patchOperations=patches)
    return _kept(old, props)


def _delete_api(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("apigateway").delete_rest_api(restApiId=resource.physical_id))


def _account(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    return DeployedResource(logical_id, "AWS::ApiGateway::Account", logical_id, props)


def _create_resource(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    resource = ctx.clients("apigateway").create_resource(restApiId=props["RestApiId"], parentId=props["ParentId"],
                                                         pathPart=props["PathPart"])
    return DeployedResource(logical_id, "AWS::ApiGateway::Resource", resource["id"], props,
                            {"ResourceId": resource["id"]})


def _delete_resource(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("apigateway").delete_resource(restApiId=resource.properties["RestApiId"],
                                                                     resourceId=resource.physical_id))


def _method_key(props: dict[str, Any]) -> dict[str, Any]:
    return {"restApiId": props["RestApiId"], "resourceId": props["ResourceId"], "httpMethod": props["HttpMethod"]}


def _put_method(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    apigw, common = ctx.clients("apigateway"), _method_key(props)
    validator = {"requestValidatorId": props["RequestValidatorId"]} if "RequestValidatorId" in props else {}
    apigw.put_method(**common, authorizationType=props.get("AuthorizationType", "NONE"),
                     requestParameters=props.get("RequestParameters", {}),
                     requestModels=props.get("RequestModels", {}), **validator)
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
            apigw.put_integration_response(**common, statusCode=response["StatusCode"],
                                           selectionPattern=response.get("SelectionPattern", ""),
                                           responseTemplates=response.get("ResponseTemplates", {}),
                                           responseParameters=response.get("ResponseParameters", {}))
    return DeployedResource(logical_id, "AWS::ApiGateway::Method", secrets.token_hex(5), props)


def _update_method(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if _method_key(props) != _method_key(old.properties):
        return None
    _delete_method(ctx, old)  # PutMethod makes the method anew: responses and integration follow
    return DeployedResource(old.logical_id, old.type, _put_method(ctx, old.logical_id, props).physical_id, props)


def _delete_method(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("apigateway").delete_method(**_method_key(resource.properties)))


def _create_model(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    name = props.get("Name") or logical_id
    ctx.clients("apigateway").create_model(restApiId=props["RestApiId"], name=name,
                                           contentType=props.get("ContentType", "application/json"),
                                           description=props.get("Description", ""),
                                           schema=json.dumps(props.get("Schema", {})))
    return DeployedResource(logical_id, "AWS::ApiGateway::Model", name, props)


def _delete_model(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("apigateway").delete_model(restApiId=resource.properties["RestApiId"],
                                                                  modelName=resource.physical_id))


def _create_validator(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    validator = ctx.clients("apigateway").create_request_validator(
        restApiId=props["RestApiId"], name=props.get("Name", logical_id),
        validateRequestBody=bool(props.get("ValidateRequestBody")),
        validateRequestParameters=bool(props.get("ValidateRequestParameters")))
    return DeployedResource(logical_id, "AWS::ApiGateway::RequestValidator", validator["id"], props)


def _delete_validator(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("apigateway").delete_request_validator(
        restApiId=resource.properties["RestApiId"], requestValidatorId=resource.physical_id))


def _create_deployment(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    deployment = ctx.clients("apigateway").create_deployment(restApiId=props["RestApiId"],
                                                             description=props.get("Description", ""))
    return DeployedResource(logical_id, "AWS::ApiGateway::Deployment", deployment["id"], props,
                            {"DeploymentId": deployment["id"]})


def _delete_deployment(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("apigateway").delete_deployment(restApiId=resource.properties["RestApiId"],
                                                                       deploymentId=resource.physical_id))


def _create_stage(ctx: DeployContext, logical_id: str, props: dict[str, Any]) -> DeployedResource:
    ctx.clients("apigateway").create_stage(restApiId=props["RestApiId"], stageName=props["StageName"],
                                           deploymentId=props["DeploymentId"], variables=props.get("Variables", {}))
    return DeployedResource(logical_id, "AWS::ApiGateway::Stage", props["StageName"], props)


def _update_stage(ctx: DeployContext, old: DeployedResource, props: dict[str, Any]) -> DeployedResource | None:
    if changed(old.properties, props, ("RestApiId", "StageName")):
        return None
    patches: list[dict[str, str]] = []
    if props["DeploymentId"] != old.properties["DeploymentId"]:
        patches.append({"op": "replace", "path": "/deploymentId", "value": props["DeploymentId"]})
    before, after = old.properties.get("Variables", {}), props.get("Variables", {})
    patches += [{"op": "replace", "path": f"/variables/{k}", "value": str(v)} for k, v in after.items()
                if before.get(k) != v]
    patches += [{"op": "remove", "path": f"/variables/{k}"} for k in before if k not in after]
    if patches:
        ctx.clients("apigateway").update_stage(restApiId=props["RestApiId"], stageName=props["StageName"],
                                               patchOperations=patches)
    return _kept(old, props)


def _delete_stage(ctx: DeployContext, resource: DeployedResource) -> None:
    delete_quietly(lambda: ctx.clients("apigateway").delete_stage(restApiId=resource.properties["RestApiId"],
                                                                  stageName=resource.physical_id))


RESOURCE_TYPES = (
    ResourceType("AWS::ApiGateway::RestApi", _create_api, _update_api, _delete_api),
    ResourceType("AWS::ApiGateway::Account", _account, lambda _ctx, old, props: _kept(old, props)),
    ResourceType("AWS::ApiGateway::Resource", _create_resource, None, _delete_resource),
    ResourceType("AWS::ApiGateway::Method", _put_method, _update_method, _delete_method),
    ResourceType("AWS::ApiGateway::Model", _create_model, None, _delete_model),
    ResourceType("AWS::ApiGateway::RequestValidator", _create_validator, None, _delete_validator),
    ResourceType("AWS::ApiGateway::Deployment", _create_deployment, None, _delete_deployment),
    ResourceType("AWS::ApiGateway::Stage", _create_stage, _update_stage, _delete_stage),
)
