"""The hop log ``jobkit up`` prints: a request path is decoded (``%1b`` is ESC), and job ids and details come
from requests and function output, so a client could clear or retitle the developer's terminal. Hop lines
print control characters as their escapes."""

from __future__ import annotations

from io import StringIO

from jobkit.engine.core.hops import HopLog
from tests.reliability.conftest import Sandbox

CONTROLS = "\x1b[2J\x1b]0;pwned\x07\x9b31m\r\nforged line"


def test_a_hop_line_escapes_control_characters_of_the_job_id_and_detail() -> None:
    out = StringIO()
    HopLog(out=out)("request", CONTROLS, f"GET /jobs/{CONTROLS} -> 403")
    line = out.getvalue()
    assert not any(c in line for c in "\x1b\x07\x9b\r") and line.count("\n") == 1
    assert line.count("\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\r\\nforged line") == 2


def test_a_request_path_with_escapes_prints_escaped_in_the_hop_log(sandbox: Sandbox) -> None:
    out = StringIO()
    hops = sandbox.engine.hops
    before, hops.out = hops.out, out
    try:
        answer = sandbox.api.request("GET", "jobs/%1b%5b2J%1b%5d0;pwned%07", sign=False)  # refused: unsigned
    finally:
        hops.out = before
    assert answer.status >= 400
    printed = out.getvalue()
    assert "\\x1b[2J\\x1b]0;pwned\\x07" in printed, printed
    assert "\x1b" not in printed and "\x07" not in printed
