"""The front door's decisions on a request's head: hosts, origins, admin paths, body limits, and the settings
that widen them."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import Headers

from jobkit.engine.core.front_door import (
    OTHER_SERVICE_LIMIT,
    OWN_ENDPOINT_LIMIT,
    REQUEST_LIMITS,
    FrontDoor,
    FrontDoorSettings,
    SettingError,
    request_limit,
)


def door(**env: str) -> FrontDoor:
    return FrontDoor(FrontDoorSettings.from_env(env))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:4566", "localhost", "LOCALHOST:80", "[::1]:4566",
                                  "app.localhost", "localhost.localstack.cloud:4566",
                                  "abc123.execute-api.localhost.localstack.cloud:4566",
                                  "sqs.us-east-1.localhost.localstack.cloud"])
def test_local_host_names_are_answered(host: str) -> None:
    assert door().host_allowed(host)


@pytest.mark.parametrize("host", ["evil.example", "localhost.evil", "127.0.0.2", "0.0.0.0", "", "a b",  # noqa: S104
                                  "localstack.cloud", "evil-localhost", "[::1]x"])
def test_other_host_names_are_not(host: str) -> None:
    assert not door().host_allowed(host)


def test_allowed_hosts_widen_by_name_and_by_suffix() -> None:
    wider = door(JOBKIT_ALLOWED_HOSTS="devbox.lan, *.corp.example")
    assert wider.host_allowed("devbox.lan:4566")
    assert wider.host_allowed("engine.corp.example")
    assert not wider.host_allowed("corp.example.evil")
    assert door(JOBKIT_ALLOWED_HOSTS="*").host_allowed("anything.example")


@pytest.mark.parametrize("origin", ["http://localhost:3000", "https://localhost", "http://127.0.0.1:8080",
                                    "http://[::1]:5173", "https://app.localhost.localstack.cloud",
                                    "http://ui.localhost:3000"])
def test_local_origins_are_allowed(origin: str) -> None:
    assert door().origin_allowed(origin)


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "file://", "http://localhost.evil",
                                    "ftp://localhost", "http://localhost:3000/path", ""])
def test_foreign_origins_are_not(origin: str) -> None:
    assert not door().origin_allowed(origin)


def test_allowed_origins_are_exact_and_the_escape_hatch_allows_all() -> None:
    wider = door(JOBKIT_CORS_ALLOWED_ORIGINS="https://ui.corp.example, http://devbox.lan:3000")
    assert wider.origin_allowed("https://ui.corp.example")
    assert wider.origin_allowed("https://UI.corp.example:443")  # the default port is the same origin
    assert wider.origin_allowed("http://devbox.lan:3000")
    assert not wider.origin_allowed("http://devbox.lan:3001")
    assert not wider.origin_allowed("http://ui.corp.example")
    assert door(JOBKIT_DISABLE_CORS_CHECKS="1").origin_allowed("http://evil.example")


@pytest.mark.parametrize("env", [{"JOBKIT_CORS_ALLOWED_ORIGINS": "evil.example"},
                                 {"JOBKIT_CORS_ALLOWED_ORIGINS": "http://a.example/path"},
                                 {"JOBKIT_ALLOWED_HOSTS": "a b"},
                                 {"JOBKIT_DISABLE_CORS_CHECKS": "maybe"},
                                 {"JOBKIT_MOTO_API": "on please"}])
def test_a_bad_setting_is_one_error_naming_it(env: dict[str, str]) -> None:
    with pytest.raises(SettingError) as caught:
        FrontDoorSettings.from_env(env)
    assert next(iter(env)) in str(caught.value)


def test_motos_admin_api_is_served_only_when_asked() -> None:
    headers = Headers({"Host": "127.0.0.1:4566"})
    refused = door().screen("GET", "/moto-api/data.json", headers)
    assert refused is not None and refused.status == 404 and "JOBKIT_MOTO_API" in refused.message
    assert door(JOBKIT_MOTO_API="1").screen("GET", "/moto-api/data.json", headers) is None


def test_a_referer_stands_in_for_a_missing_origin() -> None:
    refused = door().screen("POST", "/", Headers({"Host": "localhost", "Referer": "http://evil.example/x?y"}))
    assert refused is not None and "'http://evil.example'" in refused.message
    assert door().screen("POST", "/", Headers({"Host": "localhost", "Referer": "http://localhost:3000/"})) is None
    assert door().screen("POST", "/", Headers({"Host": "localhost"})) is None  # the CLI and the SDKs send neither


def _signed(service: str) -> Headers:
    return Headers({"Host": "127.0.0.1", "Authorization": f"AWS4-HMAC-SHA256 Credential=AKIA/20261207/us-east-1/"
                                                          f"{service}/aws4_request, SignedHeaders=host, Signature=0"})


def test_each_request_is_capped_by_its_service() -> None:
    assert request_limit("POST", "/restapis/a/dev/_user_request_/jobs", Headers({"Host": "x"})) == 10 * 1024 * 1024
    assert request_limit("POST", "/dev/jobs", Headers({"Host": "a1.execute-api.localhost.localstack.cloud"})) \
        == REQUEST_LIMITS["execute-api"]
    assert request_limit("POST", "/2015-03-31/functions/f/invocations", _signed("lambda")) == 6 * 1024 * 1024
    assert request_limit("POST", "/2015-03-31/functions", _signed("lambda")) == REQUEST_LIMITS["lambda"]
    assert request_limit("POST", "/", _signed("dynamodb")) == 16 * 1024 * 1024
    assert request_limit("POST", "/", _signed("sns")) == OTHER_SERVICE_LIMIT
    # an S3 object in one PUT: as large as a function's code can be (cdk uploads each asset in one)
    assert request_limit("PUT", "/bucket/asset.zip", _signed("s3")) == 250 * 1024 * 1024
    assert request_limit("POST", "/_jobkit/clock", Headers({"Host": "x"})) == OWN_ENDPOINT_LIMIT
