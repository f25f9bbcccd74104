"""``cdk synth`` into a folder of jobkit's own (``.jobkit/synth/cdk.out``), skipped when nothing it reads changed
(a hash of stack/, handlers/, cdk.json and the context) and what it wrote is still there as it was written (the
template, and each file asset it names, by its stamp), so an unchanged stack starts in seconds. The project's
``cdk.out`` is every ``cdk``/``cdklocal`` command's (``cdklocal bootstrap`` synthesizes there without bundling);
jobkit's sandboxes never run from it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from jobkit.deploy.cdk_cli import context_args, run_cdk
from jobkit.folders import folder_stamp
from jobkit.project import ROOT, STATE_DIR
from stack.settings import STACK_NAME

INPUTS = ("stack", "handlers")
OUT = STATE_DIR / "synth" / "cdk.out"
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


def written(out: Path = OUT) -> dict[str, str]:
    """What a synth wrote that a sandbox runs: the template's and each file asset's stamp (an asset that is gone
    or was changed since does not match)."""
    stamps = {"template": _file_stamp(out / f"{STACK_NAME}.template.json")}
    manifest = out / f"{STACK_NAME}.assets.json"
    if manifest.is_file():
        for entry in json.loads(manifest.read_text()).get("files", {}).values():
            path = out / entry["source"]["path"]
            stamps[entry["source"]["path"]] = folder_stamp(path) if path.is_dir() else _file_stamp(path)
    return stamps


def _file_stamp(path: Path) -> str:
    try:
        info = path.stat()
    except OSError:
        return "missing"
    return f"{info.st_size}:{info.st_mtime_ns}"


def synth(context: dict[str, str], *, force: bool = False, out: Path = OUT) -> tuple[Path, bool]:
    """Returns (the cloud assembly's folder, whether it was synthesized now)."""
    wanted = source_hash(context, ROOT)
    if not force and STAMP.exists():
        try:
            stamp = json.loads(STAMP.read_text())
        except ValueError:
            stamp = {}
        if stamp.get("hash") == wanted and stamp.get("out") == str(out) and stamp.get("written") == written(out):
            return out, False
    STAMP.unlink(missing_ok=True)  # a synth that fails half way leaves no stamp that matches
    run_cdk("cdk", ["synth", "--quiet", "--output", str(out), *context_args(context)], log=LOG, step="cdk synth")
    STAMP.parent.mkdir(parents=True, exist_ok=True)
    STAMP.write_text(json.dumps({"hash": wanted, "out": str(out), "written": written(out)}))
    return out, True
