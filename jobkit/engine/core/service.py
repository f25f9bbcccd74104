"""What a service of the engine gets when it starts, and what it gives back. Each service folder has a
``service.py`` whose ``start(ctx)`` builds the service, registers its intercepted operations on the HTTP front
(``ctx.app``), its deliveries in the routing table (``ctx.destinations``) and reports hops to ``ctx.hops``;
``jobkit.engine.services.SERVED`` lists them in start order. The engine stops them in reverse order."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from moto.backends import get_backend

from jobkit.engine.core.clock import SandboxClock
from jobkit.engine.core.destinations import Destinations
from jobkit.engine.core.hops import HopObserver
from jobkit.engine.core.server import EngineApp


class Started(Protocol):
    """A started service; one with threads or processes of its own also has ``stop()``, one that holds data of
    the sandbox ``reset() -> {what: count}`` (it clears that data and keeps every resource)."""


@dataclass
class EngineContext:
    app: EngineApp
    account: str
    region: str
    #: the engine's own endpoint: what functions call as their AWS endpoint
    url: str
    clock: SandboxClock
    destinations: Destinations
    hops: HopObserver
    #: where function environments keep their /tmp and unpacked code (the system's temporary folder if None)
    scratch: Path | None = None
    #: the services started before this one, by folder name (Lambda's, for those that invoke functions)
    started: dict[str, Any] = field(default_factory=dict)


def moto_backends(service: str, account: str) -> list[Any]:
    """moto's backends of ``service`` for ``account``, one per region that holds any (through the plain dicts:
    moto's own lookup would make one for each region asked)."""
    regions = dict.get(get_backend(service), account)  # type: ignore[call-overload]
    return list(dict.values(regions)) if regions is not None else []
