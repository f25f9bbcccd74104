"""Reading and writing the files a user names to jobkit (``--outputs``, ``--from-file``, ``--jsonl``).

Such a file may be anything: a directory, a FIFO, a device, gigabytes, bytes that are not UTF-8, JSON nested
deeper than the parser recurses. Each of those ends in one ``JobkitError`` naming the file (and the line where
there is one), never a traceback; and only a regular file is read, up to a cap the caller names, so a wrong
path cannot hang jobkit or fill its memory.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import IO, Any

from jobkit.errors import JobkitError

MiB = 1024 * 1024


class MissingFile(JobkitError):
    """The file named does not exist (a caller may say what that means, e.g. "no deployment found")."""


def _size(count: int) -> str:
    return f"{count // MiB} MiB" if count >= MiB and count % MiB == 0 else f"{count} bytes"


def read_text_file(path: Path, *, what: str, max_bytes: int) -> str:
    """The text of the regular file ``path``, decoded as UTF-8, if it holds at most ``max_bytes``.

    ``what`` names the file in errors ("outputs file", "export file"). The file is opened non-blocking so a
    FIFO is refused rather than waited on; its type is checked on the open descriptor (no race with a rename).
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as exc:
        raise MissingFile(f"{what} {path} does not exist") from exc
    except OSError as exc:
        raise JobkitError(f"{what} {path} cannot be read: {exc.strerror}") from exc
    too_large = f"is larger than {_size(max_bytes)}, the most jobkit reads of one"
    status = os.fstat(descriptor)
    refused = ("is a directory" if stat.S_ISDIR(status.st_mode)
               else "is not a regular file" if not stat.S_ISREG(status.st_mode)
               else too_large if status.st_size > max_bytes else None)
    if refused:
        os.close(descriptor)
        raise JobkitError(f"{what} {path} {refused}")
    with os.fdopen(descriptor, "rb") as handle:
        try:
            data = handle.read(max_bytes + 1)  # one more than the cap: a file that grew since is refused too
        except OSError as exc:
            raise JobkitError(f"{what} {path} cannot be read: {exc.strerror}") from exc
    if len(data) > max_bytes:
        raise JobkitError(f"{what} {path} {too_large}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise JobkitError(f"{what} {path}:{line} is not UTF-8 text (byte 0x{data[exc.start]:02x})") from exc


def parse_json(text: str, *, where: str, expected: str = "JSON") -> Any:
    """``text`` parsed as JSON; anything else is ``JobkitError("<where> is not <expected> (why)")``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        position = f"line {exc.lineno} column {exc.colno}" if "\n" in text.rstrip("\n") else f"column {exc.colno}"
        reason = f"{exc.msg} at {position}"
    except RecursionError:
        reason = "nested deeper than jobkit parses"
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        reason = str(exc).split(":")[0]
    raise JobkitError(f"{where} is not {expected} ({reason})")


def open_for_writing(path: Path, *, what: str) -> IO[str]:
    """``path`` opened to write UTF-8 text; a path that cannot be written is one ``JobkitError`` naming it."""
    try:
        return path.open("w", encoding="utf-8")
    except OSError as exc:
        raise JobkitError(f"cannot write {what} {path}: {exc.strerror}") from exc
