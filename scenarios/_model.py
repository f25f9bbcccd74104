"""What a scenario is: a name, what it drives, and what it expects on each target.

A target known to lack a behaviour is not skipped: the scenario declares a ``Difference`` (the reason and a
source) and checks the target's actual behaviour against it. A scenario that needs something a target has
not (the sandbox clock) is reported "not run: needs ..." there, never as passed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scenarios._context import ScenarioContext

from jobkit.targets.catalog import capabilities


@dataclass(frozen=True)
class Difference:
    """A target's known departure from AWS, checked as such by the scenario."""

    reason: str
    source: str


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    run: Callable[[ScenarioContext], str | None]
    needs: frozenset[str] = frozenset()
    differences: dict[str, Difference] = field(default_factory=dict)
    timeout: float = 300.0  # above the waits' deadline (ScenarioContext.wait_statuses)
    #: runs alone (its replay window would re-drive other scenarios' failures)
    exclusive: bool = False
    #: mostly waits for a long while (a function timeout, a burst of jobs): started before the others, so that
    #: the suite does not end with it running alone
    long: bool = False

    def missing_on(self, engine: tuple[str, ...] | str) -> frozenset[str]:
        """What the scenario needs that the engine has not; ``engine`` is its names, most specific first
        (``jobkit.targets.localstack.attach.engine_keys``): the last one is the engine's kind."""
        keys = (engine,) if isinstance(engine, str) else engine
        return self.needs - capabilities(keys[-1])

    def difference_on(self, engine: tuple[str, ...]) -> Difference | None:
        """The expected difference declared for the most specific of the engine's names (``localstack-pro``
        before ``localstack``), if any."""
        return next((self.differences[key] for key in engine if key in self.differences), None)


class ScenarioFailure(AssertionError):
    """What was expected, what was seen, and the job ids involved."""

    def __init__(self, expected: str, seen: object, job_ids: list[str] | None = None) -> None:
        ids = f" [jobs: {', '.join(job_ids)}]" if job_ids else ""
        super().__init__(f"expected {expected}; saw {seen!r}{ids}")


def expect(condition: bool, expected: str, seen: object, job_ids: list[str] | None = None) -> None:
    if not condition:
        raise ScenarioFailure(expected, seen, job_ids)
