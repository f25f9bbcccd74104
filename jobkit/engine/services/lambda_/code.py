"""A function's code as a folder the local runtime runs: a .zip unpacked (``Code.ZipFile``, or an object of the
engine's S3), or a folder of this machine named the way LocalStack names one for hot reloading.

- .zip: "Lambda quotas" (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html): a deployment
  package is at most 250 MB unzipped. Each member must land inside the folder: an absolute name, a ``..``
  segment or a symbolic link is refused (a zip may name any path; unpacked naively, it writes anywhere). The
  size is counted as bytes are written, not taken from the zip's own headers.
- A deployment's file asset: the folder of the cloud assembly that ``cdk deploy`` would zip and upload to the
  bootstrap bucket, staged under that bucket and key (``StagedCode``) so that a template deployed from
  ``cdk.out`` runs its folders as they are, with nothing zipped, uploaded or unpacked. An object really
  uploaded there (``cdk deploy`` against the engine) is unpacked like any other.
- Hot reloading: LocalStack's convention, ``Code={"S3Bucket": "hot-reload", "S3Key": "/absolute/path"}``
  ("Hot Reloading", https://docs.localstack.cloud/user-guide/lambda-tools/hot-reloading): the function runs
  the folder itself, and a change in it is picked up by the next new environment (``LambdaService`` recycles
  the warm ones when the folder changes).
"""

from __future__ import annotations

import base64
import binascii
import shutil
import stat
import uuid
import zipfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import Any

from jobkit.engine.services.lambda_.errors import LambdaError

#: LocalStack's bucket name for a local code folder
HOT_RELOAD_BUCKET = "hot-reload"
#: "Lambda quotas": deployment package (.zip file archive) size, unzipped
MAX_UNZIPPED = 262_144_000
#: members of one archive (far beyond any function's; a cap on an archive of millions of empty files)
MAX_MEMBERS = 100_000


@dataclass(frozen=True)
class FunctionCode:
    """Where a function's code is. ``owned``: a folder the engine unpacked (removed once no function uses it);
    ``hot_reload``: a folder of this machine, watched for changes."""

    folder: Path
    owned: bool = False
    hot_reload: bool = False


class StagedCode:
    """(bucket, key) -> the folder a deployment staged for that object."""

    def __init__(self) -> None:
        self._folders: dict[tuple[str, str], Path] = {}

    def stage(self, bucket: str, key: str, folder: Path) -> None:
        self._folders[(bucket, key)] = folder

    def folder(self, code: dict[str, Any]) -> Path | None:
        return self._folders.get((str(code.get("S3Bucket")), str(code.get("S3Key"))))


def placeholder_zip() -> str:
    """What moto stores for code that is a local folder (moto would look for the bucket in its S3), base64."""
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "jobkit runs this function from a folder of the machine it runs on\n")
    return base64.b64encode(buffer.getvalue()).decode()


def is_hot_reload(code: dict[str, Any]) -> bool:
    return code.get("S3Bucket") == HOT_RELOAD_BUCKET


def for_moto(code: dict[str, Any], staged: StagedCode | None = None) -> dict[str, Any]:
    """The ``Code`` moto stores: the request's, or a placeholder for a local or staged folder (moto would look
    for the object in its S3)."""
    local = is_hot_reload(code) or (staged is not None and staged.folder(code) is not None)
    return {"ZipFile": placeholder_zip()} if local else code


def prepare(code: Any, root: Path, name: str, s3_object: Any, staged: StagedCode | None = None) -> FunctionCode:
    """The folder of a ``Code`` (CreateFunction) or UpdateFunctionCode request; a new folder under ``root`` for
    a .zip. ``s3_object(bucket, key) -> bytes``: an object of the engine's S3. Raises ``LambdaError``."""
    if staged is not None and isinstance(code, dict) and (folder := staged.folder(code)) is not None:
        return FunctionCode(folder)
    if not isinstance(code, dict):
        raise LambdaError("InvalidParameterValueException", "Code must be an object with ZipFile or S3Bucket/S3Key")
    if code.get("ImageUri"):
        raise LambdaError("InvalidParameterValueException",
                          "jobkit's engine runs .zip functions of a pythonX.Y runtime; container images are not run")
    if is_hot_reload(code):
        return FunctionCode(local_folder(code.get("S3Key")), hot_reload=True)
    if code.get("ZipFile") is not None:
        archive = code["ZipFile"]
        try:
            data = base64.b64decode(archive, validate=True) if isinstance(archive, str) else bytes(archive)
        except (binascii.Error, ValueError, TypeError):
            raise LambdaError("InvalidParameterValueException", "ZipFile is not base64-encoded") from None
    elif code.get("S3Bucket") and code.get("S3Key"):
        data = s3_object(str(code["S3Bucket"]), str(code["S3Key"]))
    else:
        raise LambdaError("InvalidParameterValueException",
                          "Code must have ZipFile, S3Bucket and S3Key, or (LocalStack's hot reloading) "
                          f'S3Bucket "{HOT_RELOAD_BUCKET}" and an absolute folder as S3Key')
    folder = root / f"{name[:64]}-{uuid.uuid4().hex[:12]}"
    unpack(data, folder)
    return FunctionCode(folder, owned=True)


def local_folder(path: Any) -> Path:
    """The folder a hot-reloading function runs: absolute, existing."""
    if not isinstance(path, str) or not path:
        raise LambdaError("InvalidParameterValueException", "S3Key must be the absolute path of the code folder")
    folder = Path(path)
    if not folder.is_absolute():
        raise LambdaError("InvalidParameterValueException",
                          f"S3Key must be an absolute path for hot reloading, got {path!r}")
    if not folder.is_dir():
        raise LambdaError("InvalidParameterValueException", f"the code folder {path!r} does not exist")
    return folder.resolve()


def unpack(data: bytes, folder: Path) -> None:
    """``data`` (a .zip) into the new ``folder``; LambdaError (nothing left behind) if it is not a safe zip."""
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                raise LambdaError("InvalidParameterValueException",
                                  f"the .zip has {len(members)} entries; jobkit's engine unpacks at most {MAX_MEMBERS}")
            folder.mkdir(parents=True)
            written = 0
            for member in members:
                written = _extract(archive, member, folder, written)
    except LambdaError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, RuntimeError):
        shutil.rmtree(folder, ignore_errors=True)
        raise LambdaError("InvalidParameterValueException",
                          "Could not unzip uploaded file. Please check your file, then try to upload again.") from None


def _extract(archive: zipfile.ZipFile, member: zipfile.ZipInfo, folder: Path, written: int) -> int:
    name = member.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or ".." in parts or ":" in parts[0]:
        raise LambdaError("InvalidParameterValueException", f"the .zip names a path outside its folder: {name!r}")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise LambdaError("InvalidParameterValueException",
                          f"the .zip holds a symbolic link ({name!r}); jobkit's engine unpacks files and folders only")
    target = folder.joinpath(*parts)
    if member.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return written
    target.parent.mkdir(parents=True, exist_ok=True)
    with archive.open(member) as source, target.open("wb") as sink:
        while chunk := source.read(1 << 20):
            written += len(chunk)
            if written > MAX_UNZIPPED:
                raise LambdaError("InvalidParameterValueException",
                                  f"Unzipped size must be smaller than {MAX_UNZIPPED} bytes")
            sink.write(chunk)
    if member.external_attr >> 16 & 0o111:
        target.chmod(0o755)
    return written
