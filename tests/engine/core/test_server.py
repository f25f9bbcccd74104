"""The engine's endpoint: DynamoDB conditional writes stay atomic under concurrent clients (moto alone
checks the condition, then writes, without a lock)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

WRITERS = 8
ROUNDS = 10


def _widen_the_race(monkeypatch: Any) -> None:
    """Makes moto pause between evaluating an update's condition and writing, as a thread switch there would."""
    import moto.dynamodb.models as models

    original = models.create_condition_expression_parser

    def slow_parser(*args: Any, **kwargs: Any) -> Any:
        parser = original(*args, **kwargs)
        parse = parser.parse

        def parse_slowly() -> Any:
            op = parse()
            evaluate = op.expr

            def expr(item: Any) -> Any:
                verdict = evaluate(item)
                time.sleep(0.005)  # the window between check and write, widened on purpose
                return verdict

            op.expr = expr
            return op

        parser.parse = parse_slowly
        return parser

    monkeypatch.setattr(models, "create_condition_expression_parser", slow_parser)


def test_racing_conditional_writes_on_one_version_let_exactly_one_through(
    moto_endpoint: Callable[[str], Any], monkeypatch: Any,
) -> None:
    _widen_the_race(monkeypatch)
    clients = [moto_endpoint("dynamodb") for _ in range(WRITERS)]
    clients[0].create_table(TableName="race", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
    clients[0].put_item(TableName="race", Item={"id": {"S": "j"}, "version": {"N": "0"}})
    barrier = threading.Barrier(WRITERS)

    def write(ddb: Any, expected: int) -> bool:
        barrier.wait()  # every writer read the same version and writes at once
        try:
            ddb.update_item(TableName="race", Key={"id": {"S": "j"}}, UpdateExpression="SET version = :n",
                            ConditionExpression="version = :v",
                            ExpressionAttributeValues={":v": {"N": str(expected)}, ":n": {"N": str(expected + 1)}})
        except ddb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    winners = []
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        for expected in range(ROUNDS):
            winners.append(sum(pool.map(lambda c, e=expected: write(c, e), clients)))
    assert winners == [1] * ROUNDS
