"""The REST API front, over HTTP against the engine: IAM, validation, content types, VTL, integration responses."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import uuid
from urllib.parse import urlsplit

import botocore.auth
import pytest
from botocore.credentials import Credentials

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi, assume_invoke_role
from jobkit.engine.services.apigateway.gateway import ResourcePath, resource_path, select_integration_response


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> JobsApi:
    return JobsApi.for_deployment(deployment)


def post(api: JobsApi, body: str, content_type: str = "application/json", headers_extra: dict[str, str] | None = None,
         **kwargs):
    return api.request("POST", "jobs", body, headers={"Content-Type": content_type, **(headers_extra or {})}, **kwargs)


def test_signed_post_then_get(api: JobsApi) -> None:
    answer = post(api, json.dumps({"seconds": 1}))
    assert answer.status == 200
    job_id = answer.body["id"]
    uuid.UUID(job_id)  # $context.requestId is a UUID
    assert answer.headers["x-amzn-RequestId"] == job_id
    assert answer.headers["Content-Type"] == "application/json"
    assert api.get(job_id).status == 200


def test_unsigned_request_is_refused(api: JobsApi) -> None:
    answer = post(api, json.dumps({"seconds": 1}), sign=False)
    assert answer.status == 403
    assert answer.body == {"message": "Missing Authentication Token"}
    assert answer.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert answer.headers["x-amzn-RequestId"]


def test_signed_headers_named_with_underscores_count_as_sent(api: JobsApi) -> None:
    """werkzeug drops headers named with ``_`` from WSGI's environ; the signature covers them all the same
    (found by schemathesis: 5 of 240 generated requests were refused 403)."""
    answer = post(api, json.dumps({"seconds": 1}), headers_extra={"X_Trace_Id": "abc", "moto_api": "P3l!{d"})
    assert answer.status == 200, answer.text
    assert api.request("GET", "jobs/" + answer.body["id"], headers={"Custom_Header": "x"}).status == 200


def test_tampered_signature_is_refused(api: JobsApi, deployment: Deployment) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method="POST", url=api.url("jobs"), data=b'{"seconds": 1}',
                         headers={"Content-Type": "application/json"})
    assert api.credentials is not None
    SigV4Auth(api.credentials, "execute-api", "us-east-1").add_auth(request)
    response = api.session.post(str(request.url), data=b'{"seconds": 2}', headers=dict(request.headers.items()))
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert response.json()["message"].startswith("The request signature we calculated does not match")


def test_expired_signature_is_refused(api: JobsApi, monkeypatch: pytest.MonkeyPatch) -> None:
    old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: old)
    answer = post(api, json.dumps({"seconds": 1}))
    assert answer.status == 403
    assert answer.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert answer.body["message"].startswith(f"Signature expired: {old:%Y%m%dT%H%M%SZ} is now earlier than ")


def test_unknown_credentials_are_refused(api: JobsApi) -> None:
    answer = post(api, json.dumps({"seconds": 1}), credentials=Credentials("test", "test"))
    assert answer.status == 403
    assert answer.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert answer.body == {"message": "The security token included in the request is invalid."}


def test_other_principal_is_not_authorized(api: JobsApi, deployment: Deployment) -> None:
    role = deployment.client("iam").get_role(RoleName=deployment.client("lambda").get_function(
        FunctionName=deployment["Consumer1FunctionName"])["Configuration"]["Role"].rsplit("/", 1)[-1])["Role"]
    c = deployment.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="intruder")["Credentials"]
    answer = post(api, json.dumps({"seconds": 1}),
                  credentials=Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]))
    assert answer.status == 403
    assert answer.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    resource = (f"arn:aws:execute-api:us-east-1:000000000000:{deployment['JobsApiId']}/dev/POST/jobs")
    assert answer.body == {"Message": f"User: arn:aws:sts::000000000000:assumed-role/{role['RoleName']}/intruder "
                                      f"is not authorized to perform: execute-api:Invoke on resource: {resource} "
                                      "because no identity-based policy allows the execute-api:Invoke action"}


def test_invoke_role_may_not_call_other_methods(api: JobsApi) -> None:
    answer = api.request("DELETE", "jobs/x")
    assert answer.status == 403  # no such method: API Gateway answers like an unsigned request
    assert answer.body == {"message": "Missing Authentication Token"}


@pytest.mark.parametrize("body", ['{"seconds": 0}', '{"seconds": "1"}', '{}', '{"seconds": 1, "x": 1}',
                                  '{"seconds": 1, "fault": "bad name!"}', "not json"])
def test_invalid_body_is_400(api: JobsApi, body: str) -> None:
    answer = post(api, body)
    assert answer.status == 400
    assert answer.body == {"message": "Invalid request body"}
    assert answer.headers["x-amzn-ErrorType"] == "BadRequestException"


def test_other_content_type_is_415(api: JobsApi) -> None:
    answer = post(api, "seconds=1", content_type="text/plain")
    assert answer.status == 415
    assert answer.body == {"message": "Unsupported Media Type"}
    assert answer.headers["x-amzn-ErrorType"] == "UnsupportedMediaTypeException"


def test_unknown_job_is_404(api: JobsApi) -> None:
    answer = api.get(str(uuid.uuid4()))
    assert answer.status == 404
    assert answer.body == {"message": "Job not found"}


def test_vtl_flattens_job_status_and_stores_fault(api: JobsApi, deployment: Deployment) -> None:
    job_id = api.submit(1, fault="no-such-plan")
    table = deployment.client("dynamodb")
    item = table.get_item(TableName=deployment["JobsTableName"], Key={"id": {"S": job_id}})["Item"]
    assert item["fault"] == {"S": "no-such-plan"} and item["seconds"] == {"N": "1"}
    probe = str(uuid.uuid4())
    table.put_item(TableName=deployment["JobsTableName"], Item={
        "id": {"S": probe}, "seconds": {"N": "3"}, "version": {"N": "2"},
        "job_status": {"M": {"consumer_9": {"M": {"status": {"S": "Failure"}, "seconds": {"N": "3"},
                                                  "error": {"S": 'it "broke"'}}}}}})
    answer = api.get(probe)
    assert answer.status == 200
    # (the consumers may already have added their own entries: the stream sees this INSERT too)
    assert answer.body["consumer_9"] == {"status": "Failure", "seconds": 3, "error": 'it "broke"'}


def test_host_form_of_the_url(api: JobsApi, deployment: Deployment) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    port = str(deployment.endpoint_url).rsplit(":", 1)[1]
    host = f"{deployment['JobsApiId']}.execute-api.localhost.localstack.cloud:{port}"
    request = AWSRequest(method="GET", url=f"http://{host}/dev/jobs/{uuid.uuid4()}")
    SigV4Auth(assume_invoke_role(deployment), "execute-api", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    response = api.session.get(f"{deployment.endpoint_url}/dev/jobs/{str(request.url).rsplit('/', 1)[1]}",
                               headers={**headers, "Host": host})
    assert response.status_code == 404
    assert response.json() == {"message": "Job not found"}


@pytest.mark.parametrize(("raw", "segments"), [
    ("", ()), ("/", ()), ("/jobs", ("jobs",)), ("/jobs/a%20b", ("jobs", "a b")), ("/jobs/%25", ("jobs", "%")),
    ("/jobs/%E6%97%A5", ("jobs", "\u65e5")), ("/jobs/...", ("jobs", "...")), ("/jobs/a.b", ("jobs", "a.b")),
])
def test_a_canonical_path_keeps_its_spelling_and_decodes_its_segments(raw: str, segments: tuple[str, ...]) -> None:
    assert resource_path(raw) == ResourcePath(raw or "/", segments)


@pytest.mark.parametrize("raw", ["/jobs/", "/jobs//x", "//jobs", "/jobs/./x", "/jobs/x/..", "/jobs/%2e", "/jobs/%2E%2e",
                                 "/jobs/a%2Fb", "/jobs%2F", "/jobs/%FF", "/jobs/\u00e9", "jobs"])
def test_a_path_with_another_spelling_is_not_canonical(raw: str) -> None:
    assert resource_path(raw) is None


def test_the_method_arn_names_the_decoded_segments() -> None:
    path = resource_path("/jobs/a%20b")
    assert path is not None
    assert path.method_arn("us-east-1", "000000000000", "abc", "dev", "GET") == \
        "arn:aws:execute-api:us-east-1:000000000000:abc/dev/GET/jobs/a b"
    root = resource_path("/")
    assert root is not None and root.method_arn("us-east-1", "1", "abc", "dev", "GET").endswith("abc/dev/GET/")


@pytest.mark.parametrize("suffix", ["/", "//", "/.", "%2F"])
def test_a_job_path_spelled_otherwise_is_refused(api: JobsApi, suffix: str) -> None:
    job_id = api.submit(1)
    assert api.request("GET", f"jobs/{job_id}").status == 200
    answer = api.request("GET", f"jobs/{job_id}{suffix}")
    assert answer.status == 403, answer.text
    assert answer.body == {"message": "Missing Authentication Token"}
    assert answer.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize("service", ["execute-api", "apigateway"])
def test_an_api_path_with_an_encoded_prefix_is_refused(deployment: Deployment, service: str) -> None:
    """``%5F`` for ``_``: werkzeug decodes it, the gateway (which splits the path as sent) does not serve it;
    refused like an unknown route whatever service the request claims, never passed on to moto."""
    url = urlsplit(str(deployment.endpoint_url))
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    authorization = (f"AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/{service}/aws4_request, "
                     "SignedHeaders=host;x-amz-date, Signature=0")
    connection.request("GET", f"/restapis/{deployment['JobsApiId']}/dev/%5Fuser_request_/jobs/x",
                       headers={"Authorization": authorization, "X-Amz-Date": "20240101T000000Z"})
    response = connection.getresponse()
    assert response.status == 403
    assert json.loads(response.read()) == {"message": "Missing Authentication Token"}
    assert response.getheader("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    connection.close()


def test_selection_patterns_match_the_whole_status() -> None:
    responses = [{"StatusCode": "200"}, {"StatusCode": "500", "SelectionPattern": r"4\d{2}"},
                 {"StatusCode": "503", "SelectionPattern": r"5\d{2}"}]
    chosen = {status: (select_integration_response(responses, status) or {}).get("StatusCode")
              for status in ("200", "400", "503", "1400")}
    assert chosen == {"200": "200", "400": "500", "503": "503", "1400": "200"}


def test_health_in_localstack_shape(deployment: Deployment, api: JobsApi) -> None:
    health = api.session.get(f"{deployment.endpoint_url}/_localstack/health").json()
    assert health["services"]["dynamodb"] == "running" and "version" in health
