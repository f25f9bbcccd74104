"""The Chaos API: fault rules and network effects, with the JSON shapes of LocalStack's (a paid LocalStack
feature, served here by the embedded engine), so a script written for LocalStack's runs unchanged
("Chaos API", https://docs.localstack.cloud/user-guide/chaos-engineering/chaos-api/).

- ``/_localstack/chaos/faults``: a list of rules ``{"region", "service", "operation", "probability",
  "error": {"statusCode", "code"}}``, every key optional (a rule without ``service`` matches every service;
  ``probability`` defaults to 1, the error to 503 ``ServiceUnavailable``). ``GET`` lists the rules, ``POST``
  replaces them, ``PATCH`` adds the given ones, ``DELETE`` removes the given ones (each exactly as it was
  added). Rules are tried in order and the first that matches decides. Each answer is the rules as they are
  then.
- ``/_localstack/chaos/effects``: ``{"latency": milliseconds}`` added to every served AWS call; ``GET`` reads
  it, ``POST`` sets it.

What a fault reaches: every AWS call the engine serves (answered with the rule's status and code in the
service's own error shape, ``core.errors``), and the calls the platform makes for itself: a delivery to a
destination (``PLATFORM_CALLS``: an SNS ``Publish``, an EventBridge ``PutEvents``, an SQS ``SendMessage``),
a function invocation by a stream mapping or the asynchronous queue (lambda ``Invoke``), and API Gateway's
DynamoDB integration calls.
"""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from jobkit.engine.core.endpoints import answer, json_object, methods_only, no_constant, refuse
from jobkit.engine.core.errors import AwsError

FAULTS_PATH = "/_localstack/chaos/faults"
EFFECTS_PATH = "/_localstack/chaos/effects"
RULE_KEYS = frozenset({"region", "service", "operation", "probability", "error"})
ERROR_KEYS = frozenset({"statusCode", "code"})
#: LocalStack's documented defaults for a rule without ``error``
DEFAULT_STATUS = 503
DEFAULT_CODE = "ServiceUnavailable"
#: the most rules kept, and the longest latency taken: a chaos setting must never stall the engine for good
MAX_RULES = 1000
MAX_LATENCY_MS = 60_000
#: the operation a delivery to a destination is, by the service its ARN names (Lambda's deliveries are
#: asynchronous invocations: the queue takes them, and a fault on ``Invoke`` meets them when they run)
PLATFORM_CALLS = {"sns": "Publish", "events": "PutEvents", "sqs": "SendMessage"}


def parse_rules(body: bytes) -> list[dict[str, Any]]:
    """The rules of a request body: a JSON array of rule objects; ValueError with the reason otherwise."""
    try:
        document = json.loads(body or b"null", parse_constant=no_constant)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"the body must be a JSON array of fault rules: {exc}") from None
    if not isinstance(document, list):
        raise ValueError('the body must be a JSON array of fault rules, like [{"service": "sns", "operation": '
                         '"Publish"}]')
    if len(document) > MAX_RULES:
        raise ValueError(f"at most {MAX_RULES} fault rules are kept, got {len(document)}")
    for index, rule in enumerate(document):
        _check_rule(index, rule)
    return document


def _check_rule(index: int, rule: Any) -> None:
    where = f"rule {index}"
    if not isinstance(rule, dict):
        raise ValueError(f"{where} must be an object, got {json.dumps(rule)[:40]}")
    unknown = set(rule) - RULE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {', '.join(sorted(k[:40] for k in unknown))}; a rule takes "
                         f"{', '.join(sorted(RULE_KEYS))}")
    for key in ("region", "service", "operation"):
        if key in rule and not (isinstance(rule[key], str) and rule[key]):
            raise ValueError(f"{where}: {key} must be a non-empty string, got {json.dumps(rule[key])[:40]}")
    if "probability" in rule:
        probability = rule["probability"]
        if isinstance(probability, bool) or not isinstance(probability, int | float) or not 0 <= probability <= 1:
            raise ValueError(f"{where}: probability must be a number from 0 to 1, got {json.dumps(probability)[:40]}")
    if "error" in rule:
        error = rule["error"]
        if not isinstance(error, dict):
            raise ValueError(f"{where}: error must be an object with statusCode and code")
        unknown = set(error) - ERROR_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown error keys {', '.join(sorted(k[:40] for k in unknown))}; an error "
                             "takes statusCode and code")
        status = error.get("statusCode", DEFAULT_STATUS)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"{where}: error.statusCode must be an HTTP error status from 400 to 599, got "
                             f"{json.dumps(status)[:40]}")
        code = error.get("code", DEFAULT_CODE)
        if not (isinstance(code, str) and code.isascii() and code.isprintable() and 0 < len(code) <= 128):
            raise ValueError(f"{where}: error.code must be a printable string of 1 to 128 characters")


def parse_effects(body: bytes) -> int:
    """The latency (milliseconds) of an effects body ``{"latency": ms}``; ValueError with the reason otherwise."""
    document = json_object(body, ("latency",), '{"latency": 100}', 'with one key, "latency" (milliseconds)',
                           empty="null")
    latency = document.get("latency", 0)
    if isinstance(latency, bool) or not isinstance(latency, int) or not 0 <= latency <= MAX_LATENCY_MS:
        raise ValueError(f"latency must be a whole number of milliseconds from 0 to {MAX_LATENCY_MS}, got "
                         f"{json.dumps(latency)[:40]}")
    return latency


def region_of(arn: str) -> str:
    parts = arn.split(":", 4)
    return parts[3] if len(parts) > 4 else ""


class Chaos:
    """The engine's fault rules and effects; read on every call, so reads take a snapshot under a lock."""

    def __init__(self, rand: random.Random | None = None) -> None:
        self._rules: list[dict[str, Any]] = []
        self._latency_ms = 0
        self._lock = threading.Lock()
        self._random = rand or random.Random()  # nosec B311  # chance of a fault, not a secret

    # --- state ----------------------------------------------------------------------------------------
    @property
    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(rule) for rule in self._rules]

    def set_rules(self, rules: list[dict[str, Any]]) -> None:
        with self._lock:
            self._rules = list(rules)

    def add_rules(self, rules: list[dict[str, Any]]) -> None:
        with self._lock:
            if len(self._rules) + len(rules) > MAX_RULES:
                raise ValueError(f"at most {MAX_RULES} fault rules are kept")
            self._rules.extend(rules)

    def remove_rules(self, rules: list[dict[str, Any]]) -> None:
        """Removes each rule equal to one given (LocalStack: "The rule to be removed must be exactly the same as
        in the existing configuration"); a given rule that matches none removes nothing."""
        with self._lock:
            self._rules = [rule for rule in self._rules if rule not in rules]

    @property
    def active(self) -> bool:
        """Any rule set: a served call looks up its operation only then."""
        return bool(self._rules)

    @property
    def latency_ms(self) -> int:
        return self._latency_ms

    def set_latency(self, milliseconds: int) -> None:
        self._latency_ms = milliseconds

    def clear(self) -> dict[str, int]:
        """No fault and no latency (a sandbox reset: a healthy sandbox for the next test); what was cleared."""
        with self._lock:
            cleared = {"faults": len(self._rules), "latencyMs": self._latency_ms}
            self._rules = []
            self._latency_ms = 0
        return cleared

    # --- matching ---------------------------------------------------------------------------------------
    def fault(self, service: str, operation: str, region: str) -> AwsError | None:
        """The error of the first rule that matches this call and comes up on its probability, else None."""
        with self._lock:
            rules = self._rules
        for rule in rules:
            if any(key in rule and rule[key] != value
                   for key, value in (("service", service), ("operation", operation), ("region", region))):
                continue
            if self._random.random() >= rule.get("probability", 1):
                continue  # "Probability of invoking this rule": a rule not invoked lets the next ones be tried
            error = rule.get("error") or {}
            return AwsError(error.get("code", DEFAULT_CODE), f"Service '{service}' not accessible due to an outage",
                            error.get("statusCode", DEFAULT_STATUS))
        return None

    def check(self, service: str, operation: str, region: str) -> None:
        """Raises the matching fault's ``AwsError``: for the calls the platform makes for itself."""
        error = self.fault(service, operation, region)
        if error is not None:
            raise error

    def check_delivery(self, service: str, arn: str) -> None:
        """A delivery to a destination (``PLATFORM_CALLS``) meets the faults of the call it is on AWS."""
        operation = PLATFORM_CALLS.get(service)
        if operation is not None:
            self.check(service, operation, region_of(arn))

    def delay(self) -> None:
        """The effects' latency, on the thread serving the call."""
        latency = self._latency_ms
        if latency:
            time.sleep(latency / 1000)

    # --- HTTP -------------------------------------------------------------------------------------------
    def routes(self) -> dict[str, Any]:
        return {FAULTS_PATH: self.faults_http, EFFECTS_PATH: self.effects_http}

    def faults_http(self, request: Request) -> Response:
        refused = methods_only(request, ("GET", "POST", "PATCH", "DELETE"),
                               "GET lists the fault rules, POST replaces them, PATCH adds the given ones, "
                               "DELETE removes them")
        if refused is not None:
            return refused
        if request.method != "GET":
            try:
                rules = parse_rules(request.get_data())
                {"POST": self.set_rules, "PATCH": self.add_rules, "DELETE": self.remove_rules}[request.method](rules)
            except ValueError as exc:
                return refuse(400, str(exc))
        return answer(self.rules)

    def effects_http(self, request: Request) -> Response:
        refused = methods_only(request, ("GET", "POST"), 'GET reads the effects, POST {"latency": ms} sets them')
        if refused is not None:
            return refused
        if request.method == "POST":
            try:
                self.set_latency(parse_effects(request.get_data()))
            except ValueError as exc:
                return refuse(400, str(exc))
        return answer({"latency": self.latency_ms})
