"""A running sandbox that follows the project's files: a saved handler reaches the functions that run it, a
saved stack is synthesized and applied in place.

Code: a function's code is the file asset its template names, a folder the synth bundled (the project's
``handlers/`` package beside its pip dependencies). ``LiveCode`` finds which project folders an asset was built
from; when one of them changes (its stamp differs, and held for one look, as an editor writes in steps), every
``.py`` file of it is compiled first (a syntax error is one line naming the file and line, and the code that
runs stays), then a new snapshot of the asset is made (the changed folder copied, the rest linked) and each
function that runs the asset gets it through ``UpdateFunctionCode``, with LocalStack's hot-reload convention
(``S3Bucket: hot-reload``, the folder as ``S3Key``): warm environments are recycled, the next invocation runs
the new code. No synth: the dependencies did not change.

Stack: a change under ``stack/`` is synthesized again and applied in place by the caller's ``apply`` (the
engine's in-place deployment); a synth that fails prints cdk's message and the stack that runs stays.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobkit.errors import JobkitError
from jobkit.folders import UNWATCHED, folder_stamp

#: how often the watched folders are looked at; a change is acted on once it held for one look
LOOK_INTERVAL = 0.2
#: project folders never taken for an asset's source
_NOT_SOURCES = frozenset({"cdk.out", "node_modules", "tests", "bench", "scripts", "docs", *UNWATCHED})
HOT_RELOAD_BUCKET = "hot-reload"


@dataclass(frozen=True)
class Asset:
    """A file asset the template names, and the project folders it was built from: entry name in the asset ->
    the project folder (``{"handlers": <root>/handlers}`` for a bundle; ``{"": folder}`` for a plain copy)."""

    folder: Path
    sources: dict[str, Path]
    #: the functions whose code it is
    functions: tuple[str, ...]


def sources_of(asset: Path, root: Path) -> dict[str, Path]:
    """The project folders an asset folder was built from: each of its top-level folders that is a folder of
    the project (a bundle: the package beside its dependencies), or else the project folder it copies whole."""
    found = {entry.name: root / entry.name for entry in _entries(asset)
             if entry.is_dir() and entry.name not in _NOT_SOURCES and not entry.name.startswith(".")
             and (root / entry.name).is_dir()}
    if found:
        return found
    files = _files(asset)
    for candidate in _candidates(root):
        if _files(candidate) == files:
            return {"": candidate}
    return {}


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if p.is_file() and not UNWATCHED.intersection(p.relative_to(folder).parts)}


def _candidates(root: Path, depth: int = 2) -> list[Path]:
    found: list[Path] = []
    level = [root]
    for _ in range(depth):
        level = [p for parent in level for p in _entries(parent) if p.is_dir() and not p.name.startswith(".")
                 and p.name not in _NOT_SOURCES and p.name != ".jobkit"]
        found += level
    return found


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Each file of a folder (bytecode caches and tool folders left out): its size and modification time."""
    found: dict[str, tuple[int, int]] = {}
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if UNWATCHED.intersection(relative.parts) or not path.is_file():
            continue
        info = path.stat()
        found[str(relative)] = (info.st_size, info.st_mtime_ns)
    return found


def syntax_error(folder: Path) -> str | None:
    """The first syntax error of the folder's Python files, as ``path:line: message``; None if all compile."""
    for path in sorted(folder.rglob("*.py")):
        if UNWATCHED.intersection(path.relative_to(folder).parts):
            continue
        try:
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            return f"{path}:{exc.lineno}: {exc.msg}"
        except (OSError, ValueError) as exc:
            return f"{path}: {exc}"
    return None


@dataclass
class LiveCode:
    """Keeps the functions' code in step with the project folders their assets were built from."""

    assets: list[Asset]
    lambda_client: Any
    snapshots: Path
    say: Callable[[str, str], None]  # (hop, detail)
    root: Path
    #: called with each reloaded function's name: starts an environment of the new code before a job needs it
    warm: Callable[[str], None] = lambda _function: None
    _stamps: dict[Path, str] = field(default_factory=dict)
    _listings: dict[Path, dict[str, tuple[int, int]]] = field(default_factory=dict)
    _pending: set[Path] = field(default_factory=set)
    _made: list[Path] = field(default_factory=list)
    _count: int = 0

    def __post_init__(self) -> None:
        for source in self.watched():
            self._stamps[source] = folder_stamp(source)
            self._listings[source] = listing(source)

    def watched(self) -> list[Path]:
        return sorted({source for asset in self.assets for source in asset.sources.values()})

    def look(self) -> None:
        """One look at every watched folder: a change that held since the last look is applied."""
        for source in self.watched():
            stamp = folder_stamp(source)
            if stamp != self._stamps.get(source):
                self._stamps[source] = stamp
                self._pending.add(source)
            elif source in self._pending:
                self._pending.discard(source)
                self.reload(source)

    def reload(self, source: Path) -> None:
        error = syntax_error(source)
        if error is not None:
            self.say("code not reloaded", f"{self._relative(error)} (the code that runs stays)")
            return
        now = listing(source)
        before, self._listings[source] = self._listings.get(source, {}), now
        touched = sorted(name for name in set(before) | set(now) if before.get(name) != now.get(name))
        files = ", ".join(self._relative(str(source / name)) for name in touched[:3]) or self._relative(str(source))
        if len(touched) > 3:
            files += f" and {len(touched) - 3} more"
        for asset in self.assets:
            if source not in asset.sources.values():
                continue
            snapshot = self._snapshot(asset)
            for function in asset.functions:
                self.lambda_client.update_function_code(FunctionName=function, S3Bucket=HOT_RELOAD_BUCKET,
                                                        S3Key=str(snapshot))
            for function in asset.functions:
                self.warm(function)
            names = ", ".join(function.rsplit(":", 1)[-1] for function in asset.functions)
            self.say("code reloaded", f"{files} -> {names}")

    def _snapshot(self, asset: Asset) -> Path:
        """The asset as it would be bundled now: its project folders copied, the rest linked."""
        self._count += 1
        folder = self.snapshots / f"{self._count}-{asset.folder.name[-12:]}"
        if folder.exists():
            shutil.rmtree(folder)
        if "" in asset.sources:
            shutil.copytree(asset.sources[""], folder, ignore=shutil.ignore_patterns(*UNWATCHED))
        else:
            folder.mkdir(parents=True)
            for entry in _entries(asset.folder):
                if entry.name in asset.sources:
                    shutil.copytree(asset.sources[entry.name], folder / entry.name,
                                    ignore=shutil.ignore_patterns(*UNWATCHED, "requirements.txt"))
                else:
                    (folder / entry.name).symlink_to(entry)
        self._made.append(folder)
        for old in self._made[:-2]:  # the one before stays for an invocation that started on it
            shutil.rmtree(old, ignore_errors=True)
        self._made = self._made[-2:]
        return folder

    def _relative(self, text: str) -> str:
        return text.replace(str(self.root) + os.sep, "")

    def close(self) -> None:
        for folder in self._made:
            shutil.rmtree(folder, ignore_errors=True)
        self._made.clear()


def function_assets(template: dict[str, Any], assets: dict[str, Path], physical: Callable[[str], str | None],
                    root: Path) -> list[Asset]:
    """The file assets the template's functions run, each with its project sources and functions (by name)."""
    by_folder: dict[Path, list[str]] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        key = (resource.get("Properties", {}).get("Code") or {}).get("S3Key")
        folder = assets.get(key) if isinstance(key, str) else None
        name = physical(logical_id)
        if folder is not None and name is not None:
            by_folder.setdefault(folder, []).append(name)
    found = []
    for folder, functions in by_folder.items():
        sources = sources_of(folder, root)
        if sources:
            found.append(Asset(folder, sources, tuple(functions)))
    return found


class Watcher:
    """Looks at the project on a thread of its own until stopped: code through ``LiveCode``, the stack through
    ``on_stack`` (called with no argument once a change under ``stack`` held for one look)."""

    def __init__(self, code: LiveCode | None, stack: Path | None, on_stack: Callable[[], None],
                 say: Callable[[str, str], None]) -> None:
        self.code = code
        self.stack = stack
        self.on_stack = on_stack
        self.say = say
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobkit-live", daemon=True)
        self._stack_stamp = folder_stamp(stack) if stack is not None else ""
        self._stack_pending = False

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        self._thread.join(timeout)
        if self.code is not None:
            self.code.close()

    def _run(self) -> None:
        while not self._stop.wait(LOOK_INTERVAL):
            try:
                if self.code is not None:
                    self.code.look()
                self._look_at_stack()
            except JobkitError as exc:
                self.say("not applied", str(exc))
            except Exception as exc:  # a failed reload is reported; the watcher, and the sandbox, go on
                self.say("not applied", f"{type(exc).__name__}: {exc}")

    def _look_at_stack(self) -> None:
        if self.stack is None:
            return
        stamp = folder_stamp(self.stack)
        if stamp != self._stack_stamp:
            self._stack_stamp = stamp
            self._stack_pending = True
        elif self._stack_pending:
            self._stack_pending = False
            self.on_stack()
