"""jobkit's cached synth: its own output folder, and a cache that checks what it serves, not only the sources.

``cdk`` itself is replaced by a writer of a small cloud assembly (the real synth runs in ``make synth`` and
whenever a sandbox starts): what is tested is when the cache is trusted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from jobkit.deploy import synth as synth_module


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    root = tmp_path / "project"
    for name, text in {"cdk.json": "{}", "package-lock.json": "{}", "stack/app.py": "# app\n",
                       "handlers/a.py": "x = 1\n"}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    runs: list[list[str]] = []

    def fake_cdk(tool: str, args: list[str], **_: Any) -> None:
        runs.append(args)
        out = Path(args[args.index("--output") + 1])
        (out / "asset.h" / "handlers").mkdir(parents=True, exist_ok=True)
        (out / "asset.h" / "handlers" / "a.py").write_text((root / "handlers" / "a.py").read_text())
        (out / "JobsStack.template.json").write_text(json.dumps({"Resources": {}}))
        (out / "JobsStack.assets.json").write_text(json.dumps({"files": {"h": {
            "source": {"path": "asset.h"}, "destinations": {"d": {"objectKey": "h.zip"}}}}}))

    monkeypatch.setattr(synth_module, "run_cdk", fake_cdk)
    monkeypatch.setattr(synth_module, "ROOT", root)
    monkeypatch.setattr(synth_module, "STAMP", tmp_path / "state" / "stamp.json")
    return {"root": root, "out": tmp_path / "state" / "cdk.out", "runs": runs}


def test_the_synth_writes_its_own_folder_and_is_cached_while_what_it_wrote_is_intact(project: dict[str, Any]) -> None:
    out = project["out"]
    assert synth_module.synth({"k": "v"}, out=out) == (out, True)
    assert project["runs"][0][:3] == ["synth", "--quiet", "--output"] and str(out) in project["runs"][0]
    assert synth_module.synth({"k": "v"}, out=out) == (out, False)  # cached
    assert synth_module.synth({"k": "other"}, out=out) == (out, True)  # another context
    assert synth_module.synth({"k": "other"}, out=out) == (out, False)


def test_an_asset_changed_or_gone_since_the_synth_is_synthesized_again(project: dict[str, Any]) -> None:
    out = project["out"]
    synth_module.synth({}, out=out)
    # what another command does to a cdk.out: an asset rewritten without bundling
    (out / "asset.h" / "handlers" / "a.py").write_text("unbundled\n")
    assert synth_module.synth({}, out=out)[1] is True
    shutil.rmtree(out / "asset.h")
    assert synth_module.synth({}, out=out)[1] is True
    (project["root"] / "handlers" / "a.py").write_text("x = 2\n")  # a source changed
    assert synth_module.synth({}, out=out)[1] is True
    assert synth_module.synth({}, out=out)[1] is False
