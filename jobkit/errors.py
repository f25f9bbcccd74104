"""Errors the CLI turns into one clear line (never a traceback)."""

from __future__ import annotations


class JobkitError(Exception):
    """A failure the user can act on; ``hint`` says how."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} ({self.hint})" if self.hint else text
