"""A function's .zip unpacked into its own folder, never beyond it; Lambda's error answers in one shape."""

from __future__ import annotations

import base64
import io
import json
import stat
import zipfile
from pathlib import Path

import pytest

from jobkit.engine.services.lambda_ import code
from jobkit.engine.services.lambda_.errors import LambdaError, lambda_error


def zip_with(*members: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def no_s3(bucket: str, key: str) -> bytes:
    raise AssertionError("no S3 object expected")


def test_a_zip_is_unpacked_into_a_new_folder_of_the_root(tmp_path: Path) -> None:
    data = zip_with(("app.py", b"def handler(e, c):\n    return 1\n"), ("pkg/mod.py", b"x = 1\n"))
    found = code.prepare({"ZipFile": base64.b64encode(data).decode()}, tmp_path, "fn", no_s3)
    assert found.owned and not found.hot_reload and found.folder.parent == tmp_path
    assert (found.folder / "app.py").read_bytes().startswith(b"def handler")
    assert (found.folder / "pkg" / "mod.py").read_text() == "x = 1\n"


@pytest.mark.parametrize("name", ["../escaped.py", "/etc/escaped.py", "pkg/../../escaped.py", "C:/escaped.py"])
def test_a_member_outside_the_folder_is_refused_and_nothing_is_left(tmp_path: Path, name: str) -> None:
    with pytest.raises(LambdaError, match="outside its folder") as raised:
        code.unpack(zip_with(("ok.py", b""), (name, b"x")), tmp_path / "fn")
    assert raised.value.kind == "InvalidParameterValueException"
    assert list(tmp_path.iterdir()) == []
    assert not (tmp_path.parent / "escaped.py").exists()


def test_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("secrets")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with pytest.raises(LambdaError, match="symbolic link"):
        code.unpack(zip_with((link, b"/etc/passwd")), tmp_path / "fn")


def test_more_than_lambdas_unzipped_size_is_refused_as_it_is_written(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code, "MAX_UNZIPPED", 1000)
    with pytest.raises(LambdaError, match="Unzipped size must be smaller than 1000 bytes"):
        code.unpack(zip_with(("a.bin", b"\0" * 600), ("b.bin", b"\0" * 600)), tmp_path / "fn")
    assert not (tmp_path / "fn").exists()


def test_what_is_not_a_zip_gets_lambdas_answer(tmp_path: Path) -> None:
    with pytest.raises(LambdaError, match="Could not unzip uploaded file"):
        code.unpack(b"not a zip", tmp_path / "fn")


def test_a_local_folder_must_be_absolute_and_exist(tmp_path: Path) -> None:
    found = code.prepare({"S3Bucket": "hot-reload", "S3Key": str(tmp_path)}, tmp_path, "fn", no_s3)
    assert found.hot_reload and not found.owned and found.folder == tmp_path.resolve()
    with pytest.raises(LambdaError, match="absolute"):
        code.prepare({"S3Bucket": "hot-reload", "S3Key": "relative/path"}, tmp_path, "fn", no_s3)
    with pytest.raises(LambdaError, match="does not exist"):
        code.prepare({"S3Bucket": "hot-reload", "S3Key": str(tmp_path / "missing")}, tmp_path, "fn", no_s3)
    assert code.for_moto({"S3Bucket": "hot-reload", "S3Key": str(tmp_path)}).keys() == {"ZipFile"}


def test_lambda_errors_carry_the_member_their_shape_names() -> None:
    missing = lambda_error("ResourceNotFoundException", "Function not found: x")
    assert missing.status_code == 404 and missing.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert json.loads(missing.get_data()) == {"Type": "User", "Message": "Function not found: x"}
    refused = lambda_error("InvalidParameterValueException", "no")
    assert refused.status_code == 400 and json.loads(refused.get_data()) == {"Type": "User", "message": "no"}
    assert lambda_error("ResourceConflictException", "exists").status_code == 409
