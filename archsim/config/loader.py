"""Loading configuration files: ``base:`` inheritance, ``--set`` overrides, strict validation.

A hardware file (``hw_configs/*.yaml``) holds the keys of the ``hw`` section. A workload file
(``workloads/*.yaml``) holds ``model``, ``dataset``, ``training`` and ``algorithm`` and may carry an
``hw`` mapping of overrides (a workload may fix its device, for instance). Either may start from
another file with ``base: other.yaml`` (relative to the file's folder). Precedence, lowest first:
field defaults, hardware file, workload's ``hw`` overrides, ``--set``.

A written ``config.resolved.yaml`` is itself a workload file with a complete ``hw`` section, so
``archsim run config.resolved.yaml`` reproduces the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from archsim.config.hw import HwConfig
from archsim.config.roles import check_roles_used
from archsim.config.schema import Fail, Provenance, _dotted, build, section, to_plain
from archsim.config.workload import AlgorithmConfig, DatasetConfig, ModelConfig, TrainingConfig
from archsim.config.yamltext import YamlProblem, parse_yaml, read_config_text, yaml_error_text
from archsim.errors import ConfigError, did_you_mean, excerpt

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HW_DIR = "hw_configs"
WORKLOAD_DIR = "workloads"
DEFAULT_HW = "default.yaml"
DEFAULT_WORKLOAD = "fcn_digits.yaml"
WORKLOAD_SECTIONS = ("hw", "model", "dataset", "training", "algorithm")
#: Longest chain of ``base:`` files (the shipped ones use one or two).
MAX_BASE_DEPTH = 16


@dataclass
class RunConfig:
    """The one resolved configuration tree of a run."""

    hw: HwConfig = section(HwConfig, "hardware description")
    model: ModelConfig = section(ModelConfig, "network")
    dataset: DatasetConfig = section(DatasetConfig, "data set")
    training: TrainingConfig = section(TrainingConfig, "optimisation loop")
    algorithm: AlgorithmConfig = section(AlgorithmConfig, "training algorithm")

    def check(self, fail: Fail) -> None:
        check_roles_used(self.hw, self.algorithm, fail)  # a role device for an array the algorithm lacks


def find_file(name: str | Path, folder: str) -> Path:
    """Resolve a config file name: as given, then under ``folder`` of the cwd, then of the project."""
    path = Path(name)
    candidates = [path]
    if not path.is_absolute():
        for root in (Path.cwd(), PROJECT_ROOT):
            candidates.append(root / folder / path)
            if path.suffix == "":
                candidates.append(root / folder / path.with_suffix(".yaml"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return path


def read_yaml_mapping(path: Path, prefix: tuple = ()) -> dict:
    """Read a YAML file that must hold a mapping; one-line ConfigError otherwise.

    ``prefix`` is the key path the file's keys sit under (``("hw",)`` for a hardware file), so that an
    error inside the file names the same key path as ``--set`` would.
    """
    file = str(path)
    try:
        data = parse_yaml(read_config_text(path))
    except YamlProblem as exc:
        where = exc.key_path if exc.key_path == "(file)" else _dotted(prefix + tuple(exc.key_path.split(".")))
        raise ConfigError(file, where, exc.message) from None
    except yaml.YAMLError as exc:
        raise ConfigError(file, "(file)", yaml_error_text(exc)) from None
    if data is None:
        raise ConfigError(file, "(file)", "file is empty; expected a mapping of configuration keys")
    if not isinstance(data, dict):
        raise ConfigError(file, "(file)", f"expected a mapping of configuration keys, got a {type(data).__name__}")
    return data


def _merge(target: dict, overrides: dict, file: str, provenance: Provenance, path: tuple) -> None:
    for key, value in overrides.items():
        here = path + (key,)
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            provenance.files.setdefault(here, file)
            _merge(target[key], value, file, provenance, here)
        else:
            target[key] = value
            provenance.record(here, file)
            for stale in [p for p in provenance.files if len(p) > len(here) and p[: len(here)] == here]:
                provenance.files[stale] = file


def _load_chain(path: Path, prefix: tuple = ()) -> list[tuple[str, dict]]:
    """Load ``path`` and, in turn, its ``base:`` files; returns (file, data) pairs, base first."""
    chain: list[tuple[str, dict]] = []
    seen: list[Path] = []
    while True:
        resolved = path.resolve()
        if resolved in seen:
            loop = " -> ".join(p.name for p in seen + [resolved])
            raise ConfigError(str(path), "base", f"base files form a loop ({loop}); expected a chain that ends")
        if len(seen) >= MAX_BASE_DEPTH:
            raise ConfigError(
                str(path), "base", f"more than {MAX_BASE_DEPTH} files deep in base: chains; expected a shorter chain"
            )
        seen.append(resolved)
        data = read_yaml_mapping(path, prefix)
        base = data.pop("base", None)
        chain.append((str(path), data))
        if base is None:
            return chain[::-1]
        if not isinstance(base, str):
            raise ConfigError(str(path), "base", f"expected a file name, got {excerpt(base)}")
        base_path = path.parent / base
        if not base_path.exists():
            raise ConfigError(str(path), "base", f"base file {excerpt(str(base_path))} not found")
        path = base_path


def parse_set(assignment: str) -> tuple[tuple, Any]:
    """Split ``key.path=value``; the value is read as a YAML scalar (``8``, ``true``, ``10ns``)."""
    if "=" not in assignment:
        raise ConfigError("--set", assignment, "expected key.path=value")
    key, _, text = assignment.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError("--set", key or "(empty)", "expected a dotted key path such as hw.adc.bits")
    try:
        value = parse_yaml(text) if text.strip() else None
    except YamlProblem as exc:
        raise ConfigError("--set", key, f"value {exc.message}") from None
    except yaml.YAMLError:
        value = text
    parts = tuple(int(p) if p.isdigit() else p for p in key.split("."))
    return parts, value


def _apply_set(tree: dict, parts: tuple, value: Any, provenance: Provenance) -> None:
    node: Any = tree
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                raise ConfigError("--set", ".".join(map(str, parts[: i + 1])), "no such list element")
            node = node[part]
            if not isinstance(node, (dict, list)):
                raise ConfigError("--set", ".".join(map(str, parts[: i + 1])), "is a value, not a section")
        else:
            if node.get(part) is None:
                node[part] = {}
                provenance.files.setdefault(parts[: i + 1], "--set")  # the section exists because of --set
            node = node[part]
            if not isinstance(node, (dict, list)):
                raise ConfigError("--set", ".".join(map(str, parts[: i + 1])), "is a value, not a section")
    last = parts[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or last >= len(node):
            raise ConfigError("--set", ".".join(map(str, parts)), "no such list element")
    node[last] = value
    provenance.record(parts, "--set")


def load_run_config(
    workload: str | Path | None = None, hw: str | Path | None = None, sets: list[str] | tuple[str, ...] = ()
) -> RunConfig:
    """Resolve a run's configuration from a workload file, a hardware file and ``--set`` overrides."""
    workload_path = find_file(workload or DEFAULT_WORKLOAD, WORKLOAD_DIR)
    hw_path = find_file(hw or DEFAULT_HW, HW_DIR)
    provenance = Provenance(default_file=str(workload_path))
    tree: dict = {"hw": {}}
    provenance.record(("hw",), str(hw_path))
    for file, data in _load_chain(hw_path, ("hw",)):
        _merge(tree["hw"], data, file, provenance, ("hw",))
    for file, data in _load_chain(workload_path):
        for key in data:
            if key not in WORKLOAD_SECTIONS:
                suggestion = did_you_mean(key, WORKLOAD_SECTIONS)
                raise ConfigError(
                    file, str(key), f"unknown section{suggestion} (allowed: {', '.join(WORKLOAD_SECTIONS)})"
                )
        _merge(tree, data, file, provenance, ())
    for assignment in sets:
        parts, value = parse_set(assignment)
        if parts[0] not in WORKLOAD_SECTIONS:
            suggestion = did_you_mean(parts[0], WORKLOAD_SECTIONS)
            raise ConfigError(
                "--set",
                ".".join(map(str, parts)),
                f"unknown section{suggestion} (allowed: {', '.join(WORKLOAD_SECTIONS)})",
            )
        _apply_set(tree, parts, value, provenance)
    config = build(RunConfig, tree, provenance)
    config.provenance = provenance  # not a field: errors found later name the file that set a key
    config.hw.provenance = provenance  # where each hw key was set: the ERT cites it (archsim.hw.architecture)
    return config


def config_file(config: RunConfig, key_path: str, default: str) -> str:
    """The file (or ``--set``) that set ``key_path`` of a loaded ``config``; ``default`` if unknown."""
    provenance = getattr(config, "provenance", None)
    if provenance is None:
        return default
    parts = tuple(int(p) if p.isdigit() else p for p in key_path.split("."))
    return provenance.file_for(parts)


def load_hw_config(hw: str | Path | None = None, sets: list[str] | tuple[str, ...] = ()) -> HwConfig:
    """Resolve just a hardware description (``--set`` keys may be written with or without ``hw.``)."""
    hw_path = find_file(hw or DEFAULT_HW, HW_DIR)
    provenance = Provenance(default_file=str(hw_path))
    tree: dict = {"hw": {}}
    for file, data in _load_chain(hw_path, ("hw",)):
        _merge(tree["hw"], data, file, provenance, ("hw",))
    for assignment in sets:
        parts, value = parse_set(assignment)
        if parts[0] != "hw":
            parts = ("hw",) + parts
        _apply_set(tree, parts, value, provenance)
    config = build(HwConfig, tree["hw"], provenance, ("hw",))
    config.provenance = provenance  # where each hw key was set: the ERT cites it (archsim.hw.architecture)
    return config


def resolved_yaml(config: RunConfig) -> str:
    """The fully resolved configuration as YAML text (every field, quantities with units)."""
    header = (
        "# archsim resolved configuration: every field, defaults included.\n"
        "# `archsim run <this file>` reproduces the run.\n"
    )
    return header + yaml.safe_dump(to_plain(config), sort_keys=False, default_flow_style=False, width=100)


def write_resolved(config: RunConfig, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(resolved_yaml(config), encoding="utf-8")
    return path
