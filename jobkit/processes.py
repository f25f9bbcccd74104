"""This machine's process table: what stopping an engine and measuring its memory both need to see."""

from __future__ import annotations

import os
import subprocess
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
