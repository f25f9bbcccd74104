"""This machine's process table: what stopping an engine and measuring its memory both need to see."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    state: str


def process_table() -> dict[int, Proc]:
    """This machine's processes (Linux /proc; elsewhere ``ps``), zombies included with state Z."""
    table: dict[int, Proc] = {}
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                raw = (entry / "stat").read_text()
            except OSError:
                continue
            # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
            fields = raw[raw.rfind(")") + 2:].split()
            table[int(entry.name)] = Proc(int(entry.name), int(fields[1]), int(fields[2]), fields[0])
        return table
    out = subprocess.run(["ps", "-Ao", "pid=,ppid=,pgid=,stat="], capture_output=True, text=True,
                         check=False).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            table[int(parts[0])] = Proc(int(parts[0]), int(parts[1]), int(parts[2]), parts[3][0])
    return table


def descendants(root: int, table: dict[int, Proc] | None = None) -> set[int]:
    """Every process below ``root`` (children, their children, ...), by parent pid; ``root`` not included."""
    table = process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for p in table.values():
        children.setdefault(p.ppid, []).append(p.pid)
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def state(pid: int) -> str | None:
    """``pid``'s state letter from /proc (``Z``: exited, not yet reaped by its parent); None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2:].split()[0]


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) ``pid`` has used so far, from /proc; None once it is gone (or off Linux)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2:].split()  # utime and stime are fields 14 and 15 of proc(5)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def command_line(pid: int) -> list[str] | None:
    """``pid``'s arguments, its program first (Linux /proc; elsewhere ``ps``, split at spaces); None once it is
    gone or cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None
        out = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True,
                             check=False).stdout
        return out.split() or None
    except OSError:
        return None
    return [arg.decode(errors="surrogateescape") for arg in raw.split(b"\0")[:-1]] or None


def started_as(pid: int, command: Sequence[str]) -> bool:
    """Whether ``pid`` is a live process started as ``command`` in a process group of its own.

    What a pid file needs before anything is signalled: its process may have exited long ago and the pid been
    reused by any other process of the user. ``command`` is a run of consecutive arguments of its command line
    (e.g. ``("-m", "jobkit.targets.embedded")``), and the group must be its own (``pgid == pid``: it was started
    with ``start_new_session``), so signalling the group reaches what it started and nothing else.
    """
    if pid <= 0:  # 0 and -1 mean this process's group and every process to the system calls
        return False
    try:
        if os.getpgid(pid) != pid:
            return False
    except OSError:  # gone
        return False
    if state(pid) == "Z":
        return False
    argv = command_line(pid) or []
    wanted = list(command)
    return any(argv[i:i + len(wanted)] == wanted for i in range(len(argv) - len(wanted) + 1))


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Signals process group ``pgid``; a group already gone (or no longer ours to signal) is left alone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
