"""How the engine's parts depend on each other: what a newcomer relies on when adding a service."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobkit.deploy.outputs import write_outputs
from jobkit.engine import moto as engine_moto
from stack.settings import STACK_NAME


def test_the_engine_does_not_import_the_client_library() -> None:
    code = "import sys, jobkit.engine.runtime; print([m for m in sys.modules if m.startswith('jobkit.client')])"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout


def test_moto_of_another_release_is_refused_in_one_line() -> None:
    with pytest.raises(engine_moto.MotoVersionError) as refused:
        engine_moto.check_version("5.3.0")
    assert str(refused.value).count("\n") == 0
    assert engine_moto.MOTO_VERSION in str(refused.value) and "5.3.0" in str(refused.value)
    engine_moto.check_version()  # the installed one is the pinned one


def test_the_outputs_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "cdk-outputs.json"
    write_outputs(path, {"A": "1"})
    write_outputs(path, {"A": "2"})
    assert json.loads(path.read_text()) == {STACK_NAME: {"A": "2"}}
    assert [p.name for p in tmp_path.iterdir()] == ["cdk-outputs.json"]


def test_each_service_folder_is_registered_for_what_it_declares() -> None:
    """A service's folder holds its start (``service.py``) and its CloudFormation types (``resources.py``); each
    is registered once in ``jobkit.engine.services``, so adding a service touches its folder and that list."""
    from jobkit.engine import services

    folder = Path(services.__file__).parent
    served = {p.parent.name for p in folder.glob("*/service.py")}
    declaring = {p.parent.name for p in folder.glob("*/resources.py")}
    assert served == set(services.SERVED)
    assert declaring == set(services.WITH_RESOURCE_TYPES)
    kinds = services.resource_types()
    for service in services.WITH_RESOURCE_TYPES:  # and a type lives in its own service's folder
        module = importlib.import_module(f"jobkit.engine.services.{service}.resources")
        for kind in module.RESOURCE_TYPES:
            assert kinds[kind.name] is kind
            namespace = kind.name.split("::")[1].lower()
            assert namespace == service.rstrip("_") or (service == "cloudformation" and namespace in (
                "cdk", "cloudformation")), kind.name
