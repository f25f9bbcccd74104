"""Lazily created boto3 clients."""

from __future__ import annotations

import threading
from typing import Any

import boto3

_lock = threading.Lock()


class LazyClient:
    """Creates the client on first use: no region or credentials are needed to import a handler."""

    def __init__(self, service: str, client: Any | None = None) -> None:
        self._service = service
        self._client = client

    def get(self) -> Any:
        """The client, created once (under a lock: boto3's default session is not thread-safe)."""
        if self._client is None:
            with _lock:
                if self._client is None:
                    self._client = boto3.client(self._service)  # type: ignore[call-overload]
        return self._client
