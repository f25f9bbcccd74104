"""A folder's stamp: what changes when one of its files is written, added or removed. The engine's hot-reload
watcher, the live code of ``jobkit up`` and the synth cache's check of what it serves all compare stamps."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: folders a code folder's stamp leaves out: written by Python itself (bytecode caches) or by tools
UNWATCHED = frozenset({"__pycache__", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache", "node_modules"})


def folder_stamp(folder: Path, limit: int = 20_000) -> str:
    """A digest of a folder's files (relative path, size, modification time), ``limit`` files at most: what
    changes when a file is written, added or removed. Bytecode caches and tool folders are left out."""
    entries: list[str] = []
    stack = [folder]
    while stack and len(entries) < limit:
        current = stack.pop()
        try:
            with os.scandir(current) as scan:
                for item in scan:
                    if item.is_dir(follow_symlinks=False):
                        if item.name not in UNWATCHED:
                            stack.append(Path(item.path))
                    elif item.is_file(follow_symlinks=False):
                        info = item.stat(follow_symlinks=False)
                        entries.append(f"{os.path.relpath(item.path, folder)}\0{info.st_size}\0{info.st_mtime_ns}")
        except OSError:
            entries.append(f"{current}\0gone")
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()
