"""Progress and messages for the CLI (rich), and a quiet variant for tests and the pytest plugin."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.text import Text

from jobkit.text import printable


def plain(value: object) -> Text:
    """``value`` as plain text for rich: brackets print as brackets (never markup) and control characters as
    their escapes, so data (event fields, job ids, file names) can neither style the output nor drive the
    terminal."""
    return Text(printable(str(value)))


class Ui:
    """Shows what jobkit is waiting on, live; every step is one line when it ends."""

    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        self.console = console or Console(stderr=True)
        self.quiet = quiet

    def say(self, message: str | Text) -> None:
        """Prints a line. A ``str`` is printed as plain text (messages carry data: names, ids, paths); a
        ``Text`` as it is, for a line jobkit styles itself."""
        if not self.quiet:
            self.console.print(plain(message) if isinstance(message, str) else message)

    def done(self, message: str) -> None:
        """A line saying something finished: a green check, then ``message`` as plain text."""
        self.say(Text.assemble(("✓", "green"), " ", plain(message)))

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        if self.quiet:
            yield
            return
        with self.console.status(plain(title + " ...")):
            yield
        self.done(title)
