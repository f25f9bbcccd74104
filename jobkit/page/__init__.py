"""The page's files: one HTML page, its style sheet and two scripts, served by the embedded engine at
``/_jobkit/``; the style sheet and the timeline are also inlined whole, with ``report.js``, into the HTML report of
``jobkit scenarios run --html`` (``jobkit.page.report``). Plain files, no build step and nothing fetched from
elsewhere: they work offline and on a machine with no Node."""

from __future__ import annotations

from importlib import resources

#: each file the page is made of, with its media type; nothing else is served from here
ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
    "timeline.js": "text/javascript; charset=utf-8",
    "page.js": "text/javascript; charset=utf-8",
    "report.js": "text/javascript; charset=utf-8",
}


def asset(name: str) -> bytes:
    """The file ``name`` (one of ``ASSETS``); KeyError for any other name, so a path never reaches the disk."""
    if name not in ASSETS:
        raise KeyError(name)
    return (resources.files(__package__) / "static" / name).read_bytes()
