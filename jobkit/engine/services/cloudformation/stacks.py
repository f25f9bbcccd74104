"""CloudFormation's read actions for the stacks the engine deployed (moto's CloudFormation never saw them):
DescribeStacks (with the outputs), DescribeStackResources, ListStackResources. Query protocol, XML answers
as in the CloudFormation API reference (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from xml.sax.saxutils import escape  # nosec B406  # escapes output we write; nothing is parsed

from werkzeug.wrappers import Request, Response

from jobkit.engine.core.server import AwsCall, Interceptor
from jobkit.engine.services.cloudformation.resource_types import StackRegistry

_NS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"


#: the stacks as they are now, each with the outputs a caller gets
Stacks = Callable[[], list[tuple[StackRegistry, dict[str, str]]]]


class StackApi:
    def __init__(self, stacks: Stacks) -> None:
        self.stacks = stacks
        self.created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def intercepts(self) -> dict[str, Interceptor]:
        return {"DescribeStacks": self.describe_stacks, "DescribeStackResources": self.describe_stack_resources,
                "ListStackResources": self.list_stack_resources}

    def _wrap(self, action: str, inner: str) -> Response:
        body = (f'<{action}Response xmlns="{_NS}"><{action}Result>{inner}</{action}Result>'
                f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>")
        return Response(body, content_type="text/xml")

    def _not_found(self, name: str) -> Response:
        body = (f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>ValidationError</Code>'
                f"<Message>Stack with id {escape(name)} does not exist</Message></Error>"
                f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
        return Response(body, status=400, content_type="text/xml")

    def _matching(self, name: str | None) -> list[tuple[StackRegistry, dict[str, str]]]:
        return [(registry, outputs) for registry, outputs in self.stacks()
                if name in (None, "", registry.stack_name, registry.stack_id)]

    def describe_stacks(self, request: Request, call: AwsCall) -> Response:
        name = call.form().get("StackName")
        found = self._matching(name)
        if not found:
            return self._not_found(str(name))
        members = []
        for registry, outputs in found:
            listed = "".join(f"<member><OutputKey>{escape(k)}</OutputKey><OutputValue>{escape(v)}</OutputValue>"
                             "</member>" for k, v in outputs.items())
            members.append(f"<member><StackName>{registry.stack_name}</StackName><StackId>{registry.stack_id}"
                           f"</StackId><CreationTime>{self.created}</CreationTime>"
                           f"<StackStatus>CREATE_COMPLETE</StackStatus><Outputs>{listed}</Outputs></member>")
        return self._wrap("DescribeStacks", f"<Stacks>{''.join(members)}</Stacks>")

    def _resources(self, registry: StackRegistry, summary: bool) -> str:
        members = []
        for resource in registry.resources.values():
            time_tag = "LastUpdatedTimestamp" if summary else "Timestamp"
            stack = "" if summary else (f"<StackName>{registry.stack_name}</StackName>"
                                        f"<StackId>{registry.stack_id}</StackId>")
            members.append(
                f"<member>{stack}<LogicalResourceId>{escape(resource.logical_id)}</LogicalResourceId>"
                f"<PhysicalResourceId>{escape(resource.physical_id)}</PhysicalResourceId>"
                f"<ResourceType>{resource.type}</ResourceType><{time_tag}>{self.created}</{time_tag}>"
                "<ResourceStatus>CREATE_COMPLETE</ResourceStatus></member>")
        return "".join(members)

    def describe_stack_resources(self, request: Request, call: AwsCall) -> Response:
        name = call.form().get("StackName")
        found = self._matching(name)
        if not name or not found:
            return self._not_found(str(name))
        return self._wrap("DescribeStackResources",
                          f"<StackResources>{self._resources(found[0][0], False)}</StackResources>")

    def list_stack_resources(self, request: Request, call: AwsCall) -> Response:
        name = call.form().get("StackName")
        found = self._matching(name)
        if not name or not found:
            return self._not_found(str(name))
        return self._wrap("ListStackResources",
                          f"<StackResourceSummaries>{self._resources(found[0][0], True)}</StackResourceSummaries>")
