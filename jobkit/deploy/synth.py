"""``cdk synth`` into cdk.out, skipped when nothing it reads changed (a hash of stack/, handlers/, cdk.json and
the context), so an unchanged stack starts in seconds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from jobkit.deploy.cdk_cli import context_args, run_cdk
from jobkit.project import ROOT, STATE_DIR
from stack.settings import STACK_NAME

INPUTS = ("stack", "handlers")
STAMP = STATE_DIR / "synth" / "stamp.json"
LOG = STATE_DIR / "synth" / "synth.log"


def source_hash(context: dict[str, str], root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    files = [root / "cdk.json", root / "package-lock.json"]
    for folder in INPUTS:
        files += sorted(p for p in (root / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    digest.update(json.dumps(context, sort_keys=True).encode())
    return digest.hexdigest()


def synth(context: dict[str, str], *, force: bool = False) -> tuple[Path, bool]:
    """Returns (cdk.out, whether it was synthesized now)."""
    out = ROOT / "cdk.out"
    wanted = source_hash(context)
    template = out / f"{STACK_NAME}.template.json"
    if not force and template.exists() and STAMP.exists() and json.loads(STAMP.read_text()).get("hash") == wanted:
        return out, False
    run_cdk("cdk", ["synth", "--quiet", *context_args(context)], log=LOG, step="cdk synth")
    STAMP.parent.mkdir(parents=True, exist_ok=True)
    STAMP.write_text(json.dumps({"hash": wanted}))
    return out, True
