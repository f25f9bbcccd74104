"""``jobkit.live`` on folders: which project folders an asset was built from, the syntax check, the snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobkit.live import Asset, LiveCode, sources_of, syntax_error


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_bundle_maps_its_package_folder_and_a_plain_copy_its_whole_folder(tmp_path: Path) -> None:
    root = _tree(tmp_path / "project", {"handlers/a.py": "x = 1\n", "fn/index.py": "y = 2\n"})
    bundle = _tree(tmp_path / "asset.1", {"handlers/a.py": "x = 1\n", "dep/__init__.py": "", "dep.py": ""})
    copy = _tree(tmp_path / "asset.2", {"index.py": "y = 2\n"})
    unknown = _tree(tmp_path / "asset.3", {"other.py": ""})
    assert sources_of(bundle, root) == {"handlers": root / "handlers"}
    assert sources_of(copy, root) == {"": root / "fn"}
    assert sources_of(unknown, root) == {}


def test_a_syntax_error_is_named_by_file_and_line(tmp_path: Path) -> None:
    folder = _tree(tmp_path, {"ok.py": "x = 1\n", "sub/broken.py": "x = 1\ndef f(:\n"})
    assert syntax_error(folder) == f"{folder / 'sub' / 'broken.py'}:2: invalid syntax"
    (folder / "sub" / "broken.py").write_text("x = 2\n")
    assert syntax_error(folder) is None


class _Lambda:
    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    def update_function_code(self, **kwargs: Any) -> None:
        self.updates.append(kwargs)


def test_a_held_change_snapshots_the_asset_and_updates_its_functions(tmp_path: Path) -> None:
    root = _tree(tmp_path / "project", {"handlers/a.py": "x = 1\n"})
    asset = _tree(tmp_path / "asset.1", {"handlers/a.py": "x = 1\n", "dep/mod.py": "d = 1\n"})
    said: list[tuple[str, str]] = []
    client = _Lambda()
    code = LiveCode([Asset(asset, {"handlers": root / "handlers"}, ("fn-1", "fn-2"))], client,
                    tmp_path / "snapshots", lambda hop, detail: said.append((hop, detail)), root)
    code.look()
    assert client.updates == []  # nothing changed
    (root / "handlers" / "a.py").write_text("x = 2\n")
    code.look()
    assert client.updates == []  # changed, not yet held for one look
    code.look()
    [first, second] = client.updates
    snapshot = Path(first["S3Key"])
    assert first == {"FunctionName": "fn-1", "S3Bucket": "hot-reload", "S3Key": str(snapshot)}
    assert second["FunctionName"] == "fn-2"
    assert (snapshot / "handlers" / "a.py").read_text() == "x = 2\n"
    assert (snapshot / "dep").is_symlink() and (snapshot / "dep" / "mod.py").read_text() == "d = 1\n"
    assert said == [("code reloaded", "handlers/a.py -> fn-1, fn-2")]

    (root / "handlers" / "a.py").write_text("def broken(:\n")
    code.look()
    code.look()
    assert len(client.updates) == 2  # the code that runs stays
    assert said[-1][0] == "code not reloaded" and "handlers/a.py:1:" in said[-1][1]
    code.close()
    assert not snapshot.exists()
