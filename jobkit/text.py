"""Text from outside jobkit (event data, request paths, file names) made safe to print on a terminal.

Kept free of rich so the engine's hop log can use it too; ``jobkit.ui.plain`` builds on it for the CLI.
"""

from __future__ import annotations

import re

# C0 controls, DEL and C1 controls (ESC starts a terminal escape sequence, CSI is its 8-bit form, BEL rings),
# the Unicode line and paragraph separators (a line break to some terminals), the bidirectional overrides and
# isolates (they reorder what the terminal shows), and lone surrogates (a file name's undecodable bytes: they
# cannot be encoded to print at all)
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]  # Python's own escape: \x1b, \n, \t, \u202e, \udcff


def printable(value: str) -> str:
    """``value`` with every character a terminal would act on written as its Python escape (ESC as the four
    characters ``\\x1b``, a newline as ``\\n``); everything else unchanged."""
    return _UNPRINTABLE.sub(_escape, value)
