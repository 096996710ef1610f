"""The documentation in docs/ is checked against the code, so it cannot drift.

- docs/architecture.md's dependency diagram must list exactly the package-level imports of archsim;
- docs/configuration.md must be what ``archsim config reference`` generates from the schema;
- docs/physics.md's device-model and algorithm tables list exactly the registries' entries;
- the code cites the docs, never the design brief.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "archsim"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
#: Importable from anywhere, import nothing: left out of the diagram.
UNIVERSAL = {"errors", "__init__"}

EDGE = re.compile(r"^\s*(\w+)\s*(-->|-\.->)\s*(?:\|([^|]*)\|)?\s*(\w+)\s*$")


def _node(module: str) -> str | None:
    """``archsim.engine.costing`` -> ``engine``; ``archsim.run`` -> ``run``; ``archsim`` -> ``__init__``."""
    parts = module.split(".")
    if parts[0] != "archsim":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every archsim module ``path`` imports (at any depth, lazy imports included), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.append((module, node.lineno))
            # ``from archsim.nn import functional`` imports the module archsim.nn.functional
            found += [(f"{module}.{alias.name}", node.lineno) for alias in node.names]
    return [(m, line) for m, line in found if m == "archsim" or m.startswith("archsim.")]


def _existing_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (ROOT / relative.with_suffix(".py")).is_file() or (ROOT / relative / "__init__.py").is_file()


def actual_edges() -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(importer node, imported node) -> [(imported module, "file:line"), ...]."""
    edges: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _node(_module_name(path))
        if source in (None, "__main__"):
            continue
        for module, line in _imports(path):
            if not _existing_module(module):
                continue  # ``from archsim.x import name`` also yields archsim.x.name, which may not be a module
            target = _node(module)
            if target is None or target == source:
                continue
            edges[(source, target)].append((module, f"{path.relative_to(ROOT)}:{line}"))
    return edges


def documented_edges() -> dict[tuple[str, str], tuple[str, ...] | None]:
    """(importer, imported) -> None for a full edge, or the modules a dotted edge is restricted to."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    block = re.search(r"```mermaid\n(.*?)```", text, re.S)
    assert block, "docs/architecture.md lost its ```mermaid dependency diagram"
    edges = {}
    for line in block.group(1).splitlines():
        match = EDGE.match(line)
        if match:
            source, arrow, label, target = match.groups()
            restricted = tuple(m.strip() for m in label.split(",")) if arrow == "-.->" else None
            edges[(source, target)] = restricted
    assert edges, "no edges found in docs/architecture.md's diagram"
    return edges


def diagram_problems(actual, documented) -> list[str]:
    """Every difference between the imports and the diagram, one line each."""
    problems = []
    for (source, target), sites in sorted(actual.items()):
        if source == "__init__" and target == "api":
            continue  # the package root re-exports the API lazily
        if source in UNIVERSAL:
            problems.append(
                f"{sites[0][1]}: archsim.{source} must import nothing from archsim (but the API), "
                f"yet imports {sites[0][0]}"
            )
            continue
        if target in UNIVERSAL:
            continue
        if (source, target) not in documented:
            module, where = sites[0]
            problems.append(
                f"{where}: {source} imports {module}, but docs/architecture.md has no edge "
                f"'{source} --> {target}': remove the import or add the edge and say why"
            )
            continue
        allowed = documented[(source, target)]
        if allowed is not None:
            for module, where in sites:
                if not any(
                    module == f"archsim.{target}.{name}" or module.startswith(f"archsim.{target}.{name}.")
                    for name in allowed
                ):
                    problems.append(
                        f"{where}: {source} imports {module}; the dotted edge '{source} -.-> {target}' "
                        f"allows only {', '.join(allowed)}"
                    )
    for source, target in sorted(documented):
        if (source, target) not in actual:
            problems.append(
                f"docs/architecture.md shows '{source} --> {target}' but no module of {source} "
                f"imports {target}: remove the edge"
            )
    return problems


def test_dependency_diagram_matches_the_imports():
    problems = diagram_problems(actual_edges(), documented_edges())
    assert not problems, "\n".join(problems)


def test_dotted_edges_name_leaf_modules():
    """A dotted edge's modules are data-only: they import nothing from archsim but errors."""
    for (source, target), allowed in documented_edges().items():
        for name in allowed or ():
            path = PACKAGE / target / f"{name}.py"
            assert path.is_file(), f"dotted edge {source} -.-> {target} names {name}, which is not a module"
            imported = {_node(m) for m, _ in _imports(path)} - {None, target, "errors"}
            assert not imported, f"{path.relative_to(ROOT)} imports {imported}: not a leaf module"


def _reaches(edges, start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for (source, target), allowed in edges.items():
            if source == stack[-1] and allowed is None and target not in seen:
                seen.add(target)
                stack.append(target)
                break
        else:
            stack.pop()
    return seen


def packages_on_cycles(edges) -> set[str]:
    """Packages that reach themselves through full edges (dotted edges name leaf modules, which import
    nothing, so they cannot close a cycle)."""
    return {source for source, _ in edges if source in _reaches(edges, source)}


def test_packages_form_no_cycle():
    """A package never imports, even indirectly, a package that imports it (report and sweep once did)."""
    on_cycles = packages_on_cycles(documented_edges())
    assert not on_cycles, f"docs/architecture.md's full edges form a cycle through {sorted(on_cycles)}"


def test_cycle_check_finds_a_cycle():
    edges = {**documented_edges(), ("sweep", "report"): None}
    assert {"sweep", "report"} <= packages_on_cycles(edges)


@pytest.mark.parametrize(
    "side, forbidden",
    [
        ("engine", {"devices", "analog", "algorithms", "nn"}),
        ("hw", {"devices", "analog", "algorithms", "nn", "engine"}),
        ("mapping", {"devices", "analog", "algorithms", "nn", "engine"}),
        ("devices", {"engine", "hw", "mapping", "algorithms", "nn", "analog"}),
        ("analog", {"engine", "hw", "mapping", "algorithms", "nn"}),
    ],
)
def test_the_two_sides_stay_apart(side, forbidden):
    """The invariants architecture.md states, over the transitive closure of the (checked) diagram."""
    reached = _reaches(documented_edges(), side) & forbidden
    assert not reached, f"{side} reaches {reached} through docs/architecture.md's edges"


def test_diagram_checker_reports_each_kind_of_drift():
    """The checker itself, on a forbidden import, a stale edge and a dotted edge used beyond its modules."""
    actual = actual_edges()
    documented = documented_edges()
    rogue = dict(actual)
    rogue[("engine", "devices")] = [("archsim.devices.models", "archsim/engine/x.py:3")]
    rogue[("config", "devices")] = [("archsim.devices.kernels", "archsim/config/x.py:5")]
    stale = {("engine", "nn"): None}
    problems = "\n".join(diagram_problems(rogue, {**documented, **stale}))
    assert "archsim/engine/x.py:3: engine imports archsim.devices.models" in problems
    assert "archsim/config/x.py:5: config imports archsim.devices.kernels" in problems
    assert "shows 'engine --> nn' but no module of engine imports nn" in problems


def test_code_cites_the_docs_not_the_design_brief():
    offenders = []
    for folder in ("archsim", "tests", "tools", "hw_configs", "workloads"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".yaml", ".md") or path == Path(__file__):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if re.search(r"DESIGN(\.md)?\s*(section|§)", line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "cite docs/*.md instead of the design brief:\n" + "\n".join(offenders)


def test_configuration_reference_is_generated_from_the_schema():
    from archsim.cli.config import reference_markdown

    written = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert written == reference_markdown(), (
        "docs/configuration.md differs from the schema: run `archsim config reference > docs/configuration.md`"
    )


def test_configuration_reference_lists_every_key_once():
    from archsim.cli.config import schema_keys

    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## `([^`]*)`", text, re.M)
    rows = {}
    section = None
    for line in text.splitlines():
        heading = re.match(r"^## `([^`]*)`", line)
        if heading:
            section = heading.group(1)
        row = re.match(r"^\| `([^`]*)` \|", line)
        if row and section is not None:
            key = f"{section}.{row.group(1)}"
            assert key not in rows, f"{key} listed twice"
            rows[key] = line
    assert set(rows) == {k.dotted for k in schema_keys()}
    assert "hw.adc" in sections and "model.layers.N" in sections
    # a quantity shows its SI unit and its default written with a unit
    assert "| `read_time` | float | s | `10ns` |" in rows["hw.array.read_time"]


#: A path in backticks, optionally followed by ``: name`` (a symbol defined in that file).
CITED = re.compile(r"`((?:archsim|tests|tools|hw_configs|workloads|docs)/[\w/.-]+\.(?:py|yaml|md))(?:: (\w+))?`")


def test_files_and_names_the_docs_cite_exist():
    """A file moved or a function renamed must show up here, not as a stale pointer in the docs."""
    missing = []
    for doc in sorted((ROOT / "docs").glob("*.md")):
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for path, name in CITED.findall(line):
                target = ROOT / path
                where = f"docs/{doc.name}:{number}"
                if not target.is_file():
                    missing.append(f"{where}: {path} does not exist")
                elif name and not re.search(rf"^\s*(def |class )?{name}\b", target.read_text(encoding="utf-8"), re.M):
                    missing.append(f"{where}: {path} defines no {name}")
    assert not missing, "\n".join(missing)


def _table_names(doc: Path, header: str) -> list[str]:
    """The first column (a backticked name) of the markdown table whose header row starts with ``header``."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    names = []
    for line in lines[start + 2 :]:
        match = re.match(r"^\| `(\w+)` \|", line)
        if not match:
            break
        names.append(match.group(1))
    return names


def test_physics_tables_list_every_registered_model_and_algorithm():
    """docs/physics.md's device-model and algorithm tables follow the registries (a checklist step of
    docs/extending.md that would otherwise be forgotten)."""
    from archsim.algorithms.registry import ALGORITHMS
    from archsim.devices.registry import NAMES

    physics = ROOT / "docs" / "physics.md"
    assert sorted(_table_names(physics, "| model |")) == sorted(NAMES)
    assert sorted(_table_names(physics, "| `algorithm.name` |")) == sorted(ALGORITHMS)
