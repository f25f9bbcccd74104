"""The manager's side of the pipes to a worker: control messages, and the function's log stream.

The wire protocol is described in `worker.py` (which cannot import this module); keep both in step.
"""

from __future__ import annotations

import json
import os
import select
import threading
import time
from collections.abc import Mapping
from typing import Any

_READ_CHUNK = 1 << 16


class ChannelClosedError(Exception):
    """The worker closed its end: it exited or was killed."""


def marker(token: str, seq: int) -> bytes:
    """The boundary the worker writes to its stdout after init (seq 0) and after each invocation."""
    return f"\x1ejobkit:{token}:{seq}\x1e".encode()


class MessageChannel:
    """JSON-lines messages: commands to the worker, answers from it, with deadlines on the answers."""

    def __init__(self, command_fd: int, result_fd: int) -> None:
        self._command_fd = command_fd
        self._result_fd = result_fd
        self._pending = bytearray()
        self._poller = select.poll()  # poll, not select: an engine may hold more than FD_SETSIZE fds
        self._poller.register(result_fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        self._closed = False

    def send(self, message: Mapping[str, Any]) -> None:
        data = memoryview(json.dumps(message).encode("ascii") + b"\n")
        try:
            while data:
                written = os.write(self._command_fd, data)
                data = data[written:]
        except OSError as exc:  # EPIPE/EBADF: the worker is gone
            raise ChannelClosedError(str(exc)) from exc

    def receive(self, deadline: float) -> dict[str, Any] | None:
        """Next message, or None when `deadline` (time.monotonic) passes first.

        Past the deadline, what the worker has already written is still read: a caller that was not scheduled
        in time (a loaded engine) must not turn an answer that is waiting in the pipe into a timeout.
        """
        while True:
            newline = self._pending.find(b"\n")
            if newline >= 0:
                line = bytes(self._pending[:newline])
                del self._pending[: newline + 1]
                message: dict[str, Any] = json.loads(line)
                return message
            remaining = deadline - time.monotonic()
            if not self._poller.poll(max(int(remaining * 1000), 1) if remaining > 0 else 0):
                if remaining <= 0:
                    return None
                continue  # re-check the deadline
            try:
                chunk = os.read(self._result_fd, _READ_CHUNK)
            except OSError as exc:
                raise ChannelClosedError(str(exc)) from exc
            if not chunk:
                raise ChannelClosedError("worker closed its result pipe")
            self._pending += chunk

    def close_commands(self) -> None:
        """Close the command pipe: an idle worker reads EOF and exits on its own."""
        if self._command_fd >= 0:
            try:
                os.close(self._command_fd)
            finally:
                self._command_fd = -1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.close_commands()
        try:
            self._poller.unregister(self._result_fd)
        finally:
            os.close(self._result_fd)


class LogCollector:
    """Drains a worker's stdout+stderr pipe on a thread (so a chatty function never blocks on a full pipe)
    and hands out the output cut at the worker's markers."""

    def __init__(self, fd: int, name: str, history_limit: int = 64 * 1024) -> None:
        self._fd = fd
        self._buffer = bytearray()
        self._history = bytearray()
        self._history_limit = history_limit
        self._eof = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._drain, name=f"jobkit-logs-{name}", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        try:
            while True:
                try:
                    chunk = os.read(self._fd, _READ_CHUNK)
                except OSError:
                    chunk = b""
                with self._cond:
                    if not chunk:
                        self._eof = True
                        self._cond.notify_all()
                        return
                    self._buffer += chunk
                    self._cond.notify_all()
        finally:
            os.close(self._fd)

    def take_until(self, boundary: bytes, deadline: float) -> tuple[str, bool]:
        """Output up to `boundary` (dropping it) and True; or, if it has not come by the deadline or EOF,
        everything so far and False."""
        with self._cond:
            while True:
                index = self._buffer.find(boundary)
                if index >= 0:
                    data = bytes(self._buffer[:index])
                    del self._buffer[: index + len(boundary)]
                    return self._keep(data), True
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    break
                self._cond.wait(remaining)
            data = bytes(self._buffer)
            self._buffer.clear()
            return self._keep(data), False

    def take_rest(self, deadline: float) -> str:
        """Everything until the pipe closes (all writers gone) or the deadline passes."""
        with self._cond:
            while not self._eof:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            data = bytes(self._buffer)
            self._buffer.clear()
            return self._keep(data)

    def history(self) -> str:
        """The most recent output already handed out (for diagnostics)."""
        with self._cond:
            return self._history.decode("utf-8", errors="replace")

    def _keep(self, data: bytes) -> str:
        self._history += data
        if len(self._history) > self._history_limit:
            del self._history[: len(self._history) - self._history_limit]
        return data.decode("utf-8", errors="replace")
