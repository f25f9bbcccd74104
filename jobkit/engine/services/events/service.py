"""EventBridge in the engine: events put on the buses moto keeps, delivered to their rules' targets, archived
and replayed (``buses``)."""

from __future__ import annotations

from jobkit.engine.core.service import EngineContext
from jobkit.engine.services.events.buses import EventsService, archive_delay_from_env


def start(ctx: EngineContext) -> EventsService:
    events = EventsService(ctx.account, ctx.region, ctx.destinations, on_event=ctx.hops.bus_event, clock=ctx.clock,
                           archive_delay=archive_delay_from_env())
    ctx.destinations.register("events", events.deliver)
    for action, handler in events.interceptors().items():
        ctx.app.intercept("events", action, handler)
    return events
