"""The synthesized template, read from cdk.out: the one description every check works from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobkit.errors import JobkitError
from jobkit.project import ROOT
from stack.settings import STACK_NAME


@dataclass(frozen=True)
class Template:
    body: dict[str, Any]

    @classmethod
    def load(cls, cdk_out: Path = ROOT / "cdk.out") -> Template:
        path = cdk_out / f"{STACK_NAME}.template.json"
        if not path.exists():
            raise JobkitError(f"no synthesized template at {path}", "run `make synth`")
        return cls(json.loads(path.read_text()))

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.body.get("Resources", {})

    def of_type(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == type_}
