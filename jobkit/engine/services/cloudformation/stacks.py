"""CloudFormation's read actions for the stack the engine deployed (moto's CloudFormation never saw it):
DescribeStacks (with the outputs), DescribeStackResources, ListStackResources. Query protocol, XML answers
as in the CloudFormation API reference (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/).
"""

from __future__ import annotations

import datetime as dt
import uuid
from xml.sax.saxutils import escape  # nosec B406  # escapes output we write; nothing is parsed

from werkzeug.wrappers import Request, Response

from jobkit.engine.core.server import AwsCall
from jobkit.engine.services.cloudformation.deployer import StackRegistry

_NS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"


class StackApi:
    def __init__(self, registry: StackRegistry, outputs: dict[str, str]) -> None:
        self.registry = registry
        self.outputs = outputs
        self.created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def _wrap(self, action: str, inner: str) -> Response:
        body = (f'<{action}Response xmlns="{_NS}"><{action}Result>{inner}</{action}Result>'
                f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>")
        return Response(body, content_type="text/xml")

    def _not_found(self, name: str) -> Response:
        body = (f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>ValidationError</Code>'
                f"<Message>Stack with id {escape(name)} does not exist</Message></Error>"
                f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
        return Response(body, status=400, content_type="text/xml")

    def _matches(self, name: str | None) -> bool:
        return name in (None, "", self.registry.stack_name, self.registry.stack_id)

    def describe_stacks(self, request: Request, call: AwsCall) -> Response:
        name = call.form().get("StackName")
        if not self._matches(name):
            return self._not_found(str(name))
        outputs = "".join(f"<member><OutputKey>{escape(k)}</OutputKey><OutputValue>{escape(v)}</OutputValue></member>"
                          for k, v in self.outputs.items())
        stack = (f"<member><StackName>{self.registry.stack_name}</StackName><StackId>{self.registry.stack_id}"
                 f"</StackId><CreationTime>{self.created}</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus>"
                 f"<Outputs>{outputs}</Outputs></member>")
        return self._wrap("DescribeStacks", f"<Stacks>{stack}</Stacks>")

    def _resources(self, summary: bool) -> str:
        members = []
        for resource in self.registry.resources.values():
            time_tag = "LastUpdatedTimestamp" if summary else "Timestamp"
            stack = "" if summary else (f"<StackName>{self.registry.stack_name}</StackName>"
                                        f"<StackId>{self.registry.stack_id}</StackId>")
            members.append(
                f"<member>{stack}<LogicalResourceId>{escape(resource.logical_id)}</LogicalResourceId>"
                f"<PhysicalResourceId>{escape(resource.physical_id)}</PhysicalResourceId>"
                f"<ResourceType>{resource.type}</ResourceType><{time_tag}>{self.created}</{time_tag}>"
                "<ResourceStatus>CREATE_COMPLETE</ResourceStatus></member>")
        return "".join(members)

    def describe_stack_resources(self, request: Request, call: AwsCall) -> Response:
        name = call.form().get("StackName")
        if not self._matches(name):
            return self._not_found(str(name))
        return self._wrap("DescribeStackResources", f"<StackResources>{self._resources(False)}</StackResources>")

    def list_stack_resources(self, request: Request, call: AwsCall) -> Response:
        name = call.form().get("StackName")
        if not self._matches(name):
            return self._not_found(str(name))
        return self._wrap("ListStackResources",
                          f"<StackResourceSummaries>{self._resources(True)}</StackResourceSummaries>")
