"""Where jobkit finds the project it works on, and what an installed jobkit needs at run time."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

from jobkit.project import find_root

ROOT = Path(__file__).resolve().parents[1]


def test_the_project_is_the_nearest_folder_with_cdk_json(tmp_path: Path) -> None:
    project = tmp_path / "app"
    (project / "stack" / "deep").mkdir(parents=True)
    (project / "cdk.json").write_text("{}")
    site = tmp_path / "site-packages" / "jobkit"
    site.mkdir(parents=True)
    assert find_root(project / "stack" / "deep", package_dir=site) == project
    assert find_root(project, package_dir=site) == project


def test_an_installed_jobkit_never_takes_site_packages_for_the_project(tmp_path: Path) -> None:
    site = tmp_path / "site-packages" / "jobkit"
    site.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert find_root(elsewhere, package_dir=site) == elsewhere


def test_outside_any_project_a_checkout_of_jobkit_is_the_project(tmp_path: Path) -> None:
    assert find_root(tmp_path, package_dir=ROOT / "jobkit") == ROOT


#: modules of the package that only the project's own tools use (fuzzing, the OpenAPI description), and the
#: plugins LocalStack's engine loads in its own environment (which has localstack-core)
DEV_ONLY = {"jobkit/fuzz.py", "jobkit/openapi.py"}
LOCALSTACK_SIDE = {"jobkit/targets/localstack/patches.py", "jobkit/targets/localstack/executor.py",
                   "jobkit/targets/localstack/cfn_providers.py"}


def _third_party_imports() -> dict[str, str]:
    """Top-level module -> a file of jobkit's run-time code that imports it."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "jobkit").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in DEV_ONLY | LOCALSTACK_SIDE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                     else [])
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in {"jobkit", "stack", "handlers", "scenarios",
                                                                       "__future__"}:
                    found.setdefault(top, relative)
    return found


def _closure(requirements: list[str]) -> set[str]:
    """The distributions the requirements install, with their extras, transitively."""
    seen: set[str] = set()
    todo = [(Requirement(r), set(Requirement(r).extras)) for r in requirements]
    while todo:
        requirement, extras = todo.pop()
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = distribution(requirement.name).requires or []
        except PackageNotFoundError:
            continue
        for text in requires:
            child = Requirement(text)
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in (extras or {""})):
                todo.append((child, set(child.extras)))
    return seen


def test_what_jobkit_imports_at_run_time_is_a_run_time_dependency() -> None:
    """``pip install .`` then ``jobkit up``: no import of the engine, the CLI or the plugin may need a dev tool."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    installed = _closure(project["dependencies"])
    by_module = packages_distributions()
    missing = {}
    for module, where in _third_party_imports().items():
        if module == "pytest":  # the plugin is loaded by pytest itself
            continue
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in by_module.get(module, [])}
        if not dists & installed:
            missing[module] = where
    assert not missing, f"imported at run time but not a run-time dependency: {missing}"
