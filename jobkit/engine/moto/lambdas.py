"""moto's Lambda kept to the control plane: moto stores functions and their settings, jobkit's compute plane
runs them, and moto never runs a function's code.

moto 5.2 runs a function itself wherever one of its services hands it an event: ``LambdaFunction.invoke``
(Invoke and InvokeAsync, SNS and SQS deliveries, CloudWatch Logs subscriptions, Kinesis records) reaches
``_invoke_lambda``, which pulls images and starts a Docker container (and, without Docker, writes the Docker
client's error into the function's log group); and every DynamoDB write runs ``StreamShard.add``, which calls
``send_dynamodb_items`` synchronously, inside the writer's PutItem, for each mapping moto knows of, and empties
the shard when that returns an answer (a stream reader then sees records vanish). Here:

- ``_invoke_lambda`` answers a function error saying that jobkit runs functions, and starts nothing: an event
  that only moto would deliver (a path the engine does not take over) fails in the open instead of in Docker.
- ``send_dynamodb_items`` delivers nothing and returns no answer, so moto keeps every stream record: the engine's
  stream pollers ("Using AWS Lambda with Amazon DynamoDB", https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html)
  read the shard and invoke the mappings' functions, asynchronously to the write, as Lambda does.
- ``put_function_event_invoke_config`` overwrites the function's configuration, and
  ``update_function_event_invoke_config`` changes only the settings it is given ("PutFunctionEventInvokeConfig":
  "If a configuration already exists for a function, version, or alias, this operation overwrites it. If you
  exclude any settings, they are removed. To set one option without affecting existing settings for other
  options, use UpdateFunctionEventInvokeConfig",
  https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionEventInvokeConfig.html). moto appends each Put to
  a list and answers the first forever after, so a second Put would never be read back.
- A function's ``LoggingConfig`` is kept and answered, as Lambda answers it on every configuration
  ("LoggingConfig": LogFormat ``Text`` by default, LogGroup ``/aws/lambda/<name>`` by default, the log levels
  with the JSON format only, https://docs.aws.amazon.com/lambda/latest/api/API_LoggingConfig.html); moto drops it,
  and the engine's functions write to the group it names.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from moto.awslambda.models import EventInvokeConfig, LambdaBackend, LambdaFunction

LOG = logging.getLogger(__name__)

#: the errorType of the answer moto gives in place of running a function
NOT_RUN_ERROR = "Jobkit.NotRunByMoto"
_installed = threading.Lock()
_done = False


def _invoke_lambda(self: LambdaFunction, event: str | None = None) -> tuple[str, bool, str]:
    """moto's ``_invoke_lambda``, without Docker: (payload, is_error, logs)."""
    LOG.warning("moto was asked to run Lambda function %s; jobkit's engine runs functions, moto does not",
                self.function_name)
    return json.dumps({"errorType": NOT_RUN_ERROR,
                       "errorMessage": f"jobkit's engine runs Lambda functions; this event for {self.function_name} "
                                      "took a path that only moto serves, and moto runs no code"}), True, ""


def _send_dynamodb_items(self: LambdaBackend, function_arn: str, items: list[Any], source: str) -> None:
    """Nothing sent, nothing answered: the shard keeps its records for the engine's pollers."""
    return None


def _put_event_invoke_config(self: LambdaBackend, function_name: str, config: dict[str, Any]) -> dict[str, Any]:
    fn = self.get_function(function_name)
    event_config = EventInvokeConfig(fn.function_arn, fn.last_modified, config)
    fn.event_invoke_config = [event_config]
    return event_config.response()


def _update_event_invoke_config(self: LambdaBackend, function_name: str, config: dict[str, Any]) -> dict[str, Any]:
    fn = self.get_function(function_name)
    merged = {**(fn.event_invoke_config[0].config if fn.event_invoke_config else {}), **config}
    return _put_event_invoke_config(self, function_name, merged)


_original_init = LambdaFunction.__init__
_original_configuration = LambdaFunction.get_configuration
_original_update = LambdaFunction.update_configuration


def _init(self: LambdaFunction, account_id: str, spec: dict[str, Any], region: str, version: str | int = 1) -> None:
    _original_init(self, account_id, spec, region, version)
    self.jobkit_logging = dict(spec.get("LoggingConfig") or {})  # type: ignore[attr-defined]


def _logging_config(self: LambdaFunction) -> dict[str, Any]:
    given: dict[str, Any] = getattr(self, "jobkit_logging", {})
    answer = {"LogFormat": given.get("LogFormat", "Text"),
              "LogGroup": given.get("LogGroup") or f"/aws/lambda/{self.function_name}"}
    if answer["LogFormat"] == "JSON":
        answer["ApplicationLogLevel"] = given.get("ApplicationLogLevel", "INFO")
        answer["SystemLogLevel"] = given.get("SystemLogLevel", "INFO")
    return answer


def _get_configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = _original_configuration(self, on_create)
    config["LoggingConfig"] = _logging_config(self)
    return config


def _update_configuration(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
    if "LoggingConfig" in config_updates:
        self.jobkit_logging = {**getattr(self, "jobkit_logging", {}),  # type: ignore[attr-defined]
                               **(config_updates["LoggingConfig"] or {})}
    answer: dict[str, Any] = _original_update(self, config_updates)
    return answer


def install() -> None:
    """Once per process (idempotent)."""
    global _done
    with _installed:
        if not _done:
            LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
            LambdaBackend.send_dynamodb_items = _send_dynamodb_items  # type: ignore[method-assign,assignment]
            LambdaBackend.put_function_event_invoke_config = _put_event_invoke_config  # type: ignore[method-assign]
            LambdaBackend.update_function_event_invoke_config = _update_event_invoke_config  # type: ignore[method-assign]
            LambdaFunction.__init__ = _init  # type: ignore[method-assign]
            LambdaFunction.get_configuration = _get_configuration  # type: ignore[method-assign]
            LambdaFunction.update_configuration = _update_configuration  # type: ignore[method-assign]
            _done = True
