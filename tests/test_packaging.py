"""Declared dependencies match the imports: every third-party package archsim imports is declared in
pyproject.toml, and every declared runtime dependency is used."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Distribution name -> the import names it provides, where they differ.
PROVIDES = {"pyyaml": {"yaml"}, "scikit-learn": {"sklearn"}, "dask": {"dask", "distributed"}}


def imported_packages() -> dict[str, str]:
    """Top-level third-party import name -> one place that imports it."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "archsim").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "find_spec"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names = [str(node.args[0].value)]  # a package used for its files (e.g. scikit-learn's digits)
            for name in names:
                top = name.split(".")[0]
                if top != "archsim" and top not in sys.stdlib_module_names:
                    found.setdefault(top, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def declared_runtime() -> dict[str, set[str]]:
    """Runtime dependency -> the import names it provides."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {}
    for requirement in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
        declared[name] = PROVIDES.get(name, {name.replace("-", "_")})
    return declared


def test_every_imported_package_is_declared():
    provided = set().union(*declared_runtime().values())
    missing = {name: where for name, where in imported_packages().items() if name not in provided}
    assert not missing, f"imported but not declared in pyproject.toml [project] dependencies: {missing}"


def test_every_declared_dependency_is_imported():
    imported = set(imported_packages())
    unused = [name for name, provides in declared_runtime().items() if not provides & imported]
    assert not unused, f"declared in pyproject.toml but never imported by archsim: {unused}"
