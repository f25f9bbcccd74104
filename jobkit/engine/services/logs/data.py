"""The sandbox's CloudWatch Logs data in moto's models, cleared by a reset: every log event. Log groups (the
stack made them) and their streams stay, empty: a function keeps writing to the stream it has."""

from __future__ import annotations

from collections.abc import Mapping

from jobkit.engine.core.service import moto_backends


def reset(account: str, outputs: Mapping[str, str]) -> dict[str, int]:
    groups = streams = events = 0
    for backend in moto_backends("logs", account):
        for group in list(backend.groups.values()):
            groups += 1
            for stream in list(group.streams.values()):
                streams += 1
                events += len(stream.events)
                stream.events = []
                stream.stored_bytes = 0
                stream.first_event_timestamp = stream.last_event_timestamp = stream.last_ingestion_time = None
    return {"logGroups": groups, "logStreams": streams, "logEvents": events}
