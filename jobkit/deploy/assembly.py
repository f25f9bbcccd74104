"""One stack of a synthesized cloud assembly (``cdk.out``): its template and where its file assets are
("Cloud assembly": the template and the asset manifest ``<stack>.assets.json`` cdk writes beside it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobkit.errors import JobkitError
from stack.settings import STACK_NAME


class AssemblyError(JobkitError):
    """The cloud assembly is missing or unreadable."""


@dataclass(frozen=True)
class CloudAssembly:
    """One stack of a synthesized cloud assembly: its template and where its file assets are."""

    template: dict[str, Any]
    #: object key (``<hash>.zip``) -> the asset's folder
    assets: dict[str, Path]

    @classmethod
    def read(cls, cdk_out: Path, stack_name: str = STACK_NAME) -> CloudAssembly:
        path = Path(cdk_out) / f"{stack_name}.template.json"
        if not path.is_file():
            raise AssemblyError(f"{path} does not exist: synthesize the stack first (cdk synth)")
        try:
            template = json.loads(path.read_text())
        except ValueError as exc:
            raise AssemblyError(f"{path} is not a JSON template: {exc}") from None
        assets: dict[str, Path] = {}
        manifest = Path(cdk_out) / f"{stack_name}.assets.json"
        if manifest.is_file():
            for entry in json.loads(manifest.read_text()).get("files", {}).values():
                for destination in entry.get("destinations", {}).values():
                    assets[destination["objectKey"]] = Path(cdk_out) / entry["source"]["path"]
        return cls(template, assets)
