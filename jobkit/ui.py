"""Progress and messages for the CLI (rich), and a quiet variant for tests and the pytest plugin."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console


class Ui:
    """Shows what jobkit is waiting on, live; every step is one line when it ends."""

    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        self.console = console or Console(stderr=True)
        self.quiet = quiet

    def say(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message, highlight=False)

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        if self.quiet:
            yield
            return
        with self.console.status(title + " ..."):
            yield
        self.console.print(f"[green]✓[/green] {title}", highlight=False)
