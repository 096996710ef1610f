"""``archsim config``: the resolved configuration with the origin of every value, one key explained, and
the reference of every key (``docs/configuration.md`` is this command's output).

Everything here is derived from the schema (the ``param(...)`` declarations in :mod:`archsim.config`):
type, unit, default, allowed values, description and source are never restated.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from archsim.cli import add_set_option
from archsim.errors import ArchsimError, did_you_mean

NAME = "config"
HELP = "show a resolved configuration with each value's origin, explain a key, or print the key reference"
DESCRIPTION = """Subcommands:
  show [FILE] [--hw HW] [--set k=v]  every resolved key: value, unit, origin (schema default, preset, which
                                     file, or --set) and description; FILE is a workload (default
                                     workloads/fcn_digits.yaml) or a hardware file (then only `hw` is shown)
  explain KEY                        one key (e.g. hw.adc.bits, model.layers.0.out) or one section (hw.adc):
                                     type, unit, default, allowed values, description, source, presets
  reference                          the Markdown reference of every key (docs/configuration.md)"""

DEFAULT_ORIGIN = "default"
LIST_INDEX = "N"  # how the reference spells the index of a list of sections (model.layers.N.out)


# ---------------------------------------------------------------------------------------------------------------
# the schema, walked
# ---------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Key:
    """One leaf of the schema: where it is, what it is, and (for a resolved tree) its value."""

    path: tuple  # e.g. ("hw", "adc", "bits") or ("model", "layers", 0, "out")
    field: dataclasses.Field
    type: Any
    owner: type  # the dataclass section declaring the field
    value: Any = None

    @property
    def dotted(self) -> str:
        return ".".join(str(p) for p in self.path)

    @property
    def meta(self) -> dict:
        return dict(self.field.metadata)


def _root_class() -> type:
    from archsim.config.loader import RunConfig

    return RunConfig


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and is_dataclass(tp)


def _list_item_class(tp: Any) -> type | None:
    """The section class of a ``list[Section]`` field, else None."""
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        if _is_section(item):
            return item
    return None


def schema_keys(cls: type | None = None, prefix: tuple = ()) -> Iterator[Key]:
    """Every leaf key of the schema, in declaration order; list items are spelled with ``N``."""
    cls = cls or _root_class()
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        tp = hints[f.name]
        path = prefix + (f.name,)
        if _is_section(tp):
            yield from schema_keys(tp, path)
            continue
        yield Key(path, f, tp, cls)
        item = _list_item_class(tp)
        if item is not None:
            yield from schema_keys(item, path + (LIST_INDEX,))


def resolved_keys(obj: Any, prefix: tuple = ()) -> Iterator[Key]:
    """Every leaf key of a resolved configuration object with its value; list items by index."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        tp = hints[f.name]
        value = getattr(obj, f.name)
        path = prefix + (f.name,)
        if is_dataclass(tp) or is_dataclass(value):  # a section, or an optional one that is set (role devices)
            yield from resolved_keys(value, path)
            continue
        item = _list_item_class(tp)
        if item is not None:
            for index, element in enumerate(value):
                yield from resolved_keys(element, path + (index,))
            continue
        yield Key(path, f, tp, type(obj), value)


def sections(cls: type | None = None, prefix: tuple = ()) -> Iterator[tuple[tuple, type, str]]:
    """Every section (path, class, description), the root first, list items spelled with ``N``."""
    cls = cls or _root_class()
    if not prefix:
        yield (), cls, ""
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        tp = hints[f.name]
        item = tp if _is_section(tp) else _list_item_class(tp)
        if item is None:
            continue
        path = prefix + ((f.name,) if _is_section(tp) else (f.name, LIST_INDEX))
        yield path, item, f.metadata.get("desc", "")
        yield from sections(item, path)


# ---------------------------------------------------------------------------------------------------------------
# formatting, from the field's metadata
# ---------------------------------------------------------------------------------------------------------------


def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if origin is list:
        item = typing.get_args(tp)[0]
        return "list of sections" if is_dataclass(item) else f"list of {type_name(item)}"
    if tp is type(None):
        return "null"
    if is_dataclass(tp):
        return "section"
    return getattr(tp, "__name__", str(tp))


def unit_of(meta: dict) -> str:
    """The unit values are given in: the SI base unit of a quantity, or the declared unit ('-': none)."""
    unit = meta.get("unit") or "-"
    return unit


def format_value(value: Any, meta: dict) -> str:
    """A value as a user writes it in YAML: quantities with their unit, lists and sections in flow style."""
    from archsim.config.schema import to_plain
    from archsim.config.units import format_quantity

    kind = meta.get("kind")
    if value is None:
        return "null"
    if kind is not None:
        if isinstance(value, str):  # a preset's quantity, written with its unit as in YAML
            return value
        if isinstance(value, list):
            return "[" + ", ".join(format_quantity(v, kind) for v in value) + "]"
        return format_quantity(value, kind)
    plain = to_plain(value)
    if isinstance(plain, (list, dict)):
        return yaml.safe_dump(plain, default_flow_style=True, width=10**6, sort_keys=False).strip()
    if isinstance(plain, bool):
        return "true" if plain else "false"
    return str(plain)


def default_of(key: Key) -> Any:
    f = key.field
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def allowed_of(meta: dict) -> str:
    """Choices or numeric limits of a field, as text ('' when unconstrained)."""
    if meta.get("choices"):
        return ", ".join(str(c) for c in meta["choices"])
    from archsim.config.units import format_quantity

    kind = meta.get("kind")
    shown = (lambda v: format_quantity(v, kind)) if kind else repr
    parts = []
    for name, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if meta.get(name) is not None:
            parts.append(f"{symbol} {shown(meta[name])}")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# origins: which source set each value
# ---------------------------------------------------------------------------------------------------------------


def _mark(origins: dict, path: tuple, value: Any, source: str) -> None:
    """Record that ``source`` set ``value`` at ``path``, as the loader's merge applies it."""
    if isinstance(value, dict):
        for key, item in value.items():
            _mark(origins, path + (key,), item, source)
        return
    for stale in [p for p in origins if len(p) > len(path) and p[: len(path)] == path]:
        del origins[stale]  # a replaced list takes nothing from what it replaced
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for index, item in enumerate(value):
            _mark(origins, path + (index,), item, source)
    else:
        origins[path] = source


def value_origins(
    workload: str | Path | None, hw: str | Path | None, sets: list[str], hw_only: bool = False
) -> dict[tuple, str]:
    """key path -> the file (or ``--set``) that set it last, replaying the loader's precedence: hardware
    file (and its bases), workload file (and its bases, with any ``hw:`` overrides), ``--set``. With
    ``hw_only`` there is no workload and ``--set`` keys may omit ``hw.``, as for ``load_hw_config``."""
    from archsim.config import loader

    origins: dict[tuple, str] = {}
    for file, data in loader._load_chain(loader.find_file(hw or loader.DEFAULT_HW, loader.HW_DIR)):
        _mark(origins, ("hw",), data, file)
    if not hw_only:
        for file, data in loader._load_chain(
            loader.find_file(workload or loader.DEFAULT_WORKLOAD, loader.WORKLOAD_DIR)
        ):
            _mark(origins, (), data, file)
    for assignment in sets:
        parts, value = loader.parse_set(assignment)
        if hw_only and parts[0] != "hw":
            parts = ("hw",) + parts
        _mark(origins, parts, value, "--set")
    return origins


def _preset_origins(obj: Any, prefix: tuple, origins: dict) -> dict[tuple, str]:
    """Keys a section's preset set (and no file or --set overrode)."""
    found: dict[tuple, str] = {}
    presets = getattr(type(obj), "PRESETS", None)
    name = getattr(obj, "preset", None)
    if presets is not None and name in presets:
        for key in presets[name]:
            if prefix + (key,) not in origins:
                found[prefix + (key,)] = f"preset {name}"
    for f in fields(obj):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            found.update(_preset_origins(value, prefix + (f.name,), origins))
    return found


def _inherited_origins(keys: list[Key], origins: dict) -> dict[tuple, str]:
    """Keys of a role device section without a preset of its own (archsim/config/roles.py) that it took from
    hw.device: the origin of the hw.device key, marked as inherited."""
    found: dict[tuple, str] = {}
    for key in keys:
        path = key.path
        if path[:2] != ("hw", "role_devices") or len(path) < 4 or path in origins:
            continue
        if path[:3] + ("preset",) in origins:  # the role names its own preset: it inherits nothing
            continue
        source = origins.get(("hw", "device") + path[3:])
        if source is not None:
            found[path] = f"{source} via hw.device"
    return found


def _display(source: str) -> str:
    """A file path relative to the working directory when it lies below it."""
    if source.endswith(" via hw.device"):
        return _display(source.removesuffix(" via hw.device")) + " via hw.device"
    if source in ("--set", DEFAULT_ORIGIN) or source.startswith("preset "):
        return source
    try:
        return str(Path(source).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return source


# ---------------------------------------------------------------------------------------------------------------
# the three subcommands
# ---------------------------------------------------------------------------------------------------------------


def show_lines(workload: str | None, hw: str | None, sets: list[str]) -> list[str]:
    """The ``config show`` listing: ``key = value unit  [origin]  description`` for every resolved key."""
    from archsim.cli.validate import is_hw_file
    from archsim.config.loader import HW_DIR, find_file, load_hw_config, load_run_config

    hw_only = False
    if workload is not None:
        candidate = find_file(workload, HW_DIR)
        if candidate.exists() and is_hw_file(candidate):
            hw_only, hw, workload = True, str(candidate), None
    if hw_only:
        config: Any = load_hw_config(hw, sets)
        keys = list(resolved_keys(config, ("hw",)))
        origins = value_origins(None, hw, sets, hw_only=True)
        origins.update(_inherited_origins(keys, origins))
        origins.update(_preset_origins(config, ("hw",), origins))
    else:
        config = load_run_config(workload, hw, sets)
        keys = list(resolved_keys(config))
        origins = value_origins(workload, hw, sets)
        origins.update(_inherited_origins(keys, origins))
        origins.update(_preset_origins(config, (), origins))
    rows = []
    for key in keys:
        unit = unit_of(key.meta)
        value = format_value(key.value, key.meta)
        if unit not in ("-", "1") and not key.meta.get("kind") and key.value is not None:
            value = f"{value} {unit}"
        rows.append((key.dotted, value, _display(origins.get(key.path, DEFAULT_ORIGIN)), key.meta.get("desc", "")))
    width_key = max(len(r[0]) for r in rows)
    width_value = min(max(len(r[1]) for r in rows), 40)
    width_origin = max(len(r[2]) for r in rows)
    return [f"{k:<{width_key}} = {v:<{width_value}}  [{o}]{' ' * (width_origin - len(o))}  {d}" for k, v, o, d in rows]


def _lookup(dotted: str) -> tuple[list[Key], tuple | None]:
    """Keys matching ``dotted`` (a leaf, or every leaf of a section) and the section path if it is one."""
    parts = tuple(LIST_INDEX if p.isdigit() else p for p in dotted.strip().split("."))
    keys = list(schema_keys())
    leaf = [k for k in keys if k.path == parts]
    if leaf:
        return leaf, None
    section_paths = {path for path, _, _ in sections()}
    if parts in section_paths:
        return [k for k in keys if k.path[: len(parts)] == parts and len(k.path) == len(parts) + 1], parts
    for key in keys:  # a key inside an optional section (hw.role_devices.A.dw_min): the section's own home
        inner = typing.get_args(key.type)
        if parts[: len(key.path)] == key.path and len(parts) > len(key.path):
            home = next((path for path, cls, _ in sections() if cls in inner), None)
            if home is not None:
                return _lookup(".".join(home + parts[len(key.path) :]))
    known = [k.dotted for k in keys] + [".".join(p) for p in section_paths if p]
    suggestion = did_you_mean(".".join(parts), known)
    raise ArchsimError(f"config explain: {dotted}: unknown key{suggestion} (see `archsim config reference`)")


def explain_lines(dotted: str) -> list[str]:
    keys, section_path = _lookup(dotted)
    if section_path is not None:
        desc = next(d for p, _, d in sections() if p == section_path)
        out = [f"{'.'.join(section_path)}: section — {desc}"]
        width = max(len(k.path[-1]) for k in keys)
        for k in keys:
            out.append(
                f"  {k.path[-1]:<{width}}  {type_name(k.type)}, {unit_of(k.meta)}, default "
                f"{format_value(default_of(k), k.meta)}: {k.meta.get('desc', '')}"
            )
        return out
    (key,) = keys
    meta = key.meta
    lines = [
        f"{key.dotted}",
        f"  description: {meta.get('desc', '')}",
        f"  type:        {type_name(key.type)}",
        f"  unit:        {unit_of(meta)}"
        + (
            f"  (write it with a unit, e.g. {format_value(default_of(key), meta)})"
            if meta.get("kind") and default_of(key) is not None
            else ""
        ),
        f"  default:     {format_value(default_of(key), meta)}",
    ]
    if allowed_of(meta):
        lines.append(f"  allowed:     {allowed_of(meta)}")
    lines.append(f"  source:      {meta.get('source') or '-'}")
    presets = getattr(key.owner, "PRESETS", None)
    if presets:
        changed = [
            f"{name}={format_value(values[key.path[-1]], meta)}"
            for name, values in sorted(presets.items())
            if key.path[-1] in values
        ]
        if changed:
            lines.append(f"  presets:     {', '.join(changed)}")
    return lines


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") if text not in (None, "") else ""


def reference_markdown() -> str:
    """docs/configuration.md: every section and key of the schema, generated."""
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by `archsim config reference > docs/configuration.md` from the schema in archsim/config/;",
        "     do not edit by hand: tests/test_docs.py fails when this file and the schema differ. -->",
        "",
        "A run resolves one tree: `hw` from a hardware file (`hw_configs/`), `model`, `dataset`, `training` and "
        "`algorithm` from a workload file (`workloads/`, which may also carry `hw:` overrides), then `--set "
        "key.path=value` overrides, in that order. Unknown keys are errors. A quantity with a physical unit "
        "(*unit* below is its SI unit) must be written with a unit, e.g. `10ns`, `1.2GHz`, `1.5pJ`, `0.5V`; "
        "other numbers are bare, in the unit shown (`1`: dimensionless, `-`: not a number). Items of a list of "
        "sections are addressed by index: `model.layers.0.out`.",
        "",
        "`archsim config show FILE` prints a resolved configuration with the origin of every value; "
        "`archsim config explain KEY` prints one key.",
        "",
    ]
    keys = list(schema_keys())
    for path, cls, desc in sections():
        own = [k for k in keys if k.path[:-1] == path]
        if not own:
            continue
        title = ".".join(path) if path else "(top level)"
        out.append(f"## `{title}`" + (f" — {desc}" if desc else ""))
        out.append("")
        doc = (cls.__doc__ or "").strip()
        if doc and not doc.startswith(cls.__name__ + "("):
            out += [" ".join(doc.split()), ""]
        out.append("| key | type | unit | default | allowed | description | source |")
        out.append("|---|---|---|---|---|---|---|")
        for k in own:
            out.append(
                f"| `{k.path[-1]}` | {_cell(type_name(k.type))} | {_cell(unit_of(k.meta))} | "
                f"`{_cell(format_value(default_of(k), k.meta))}` | {_cell(allowed_of(k.meta))} | "
                f"{_cell(k.meta.get('desc'))} | {_cell(k.meta.get('source'))} |"
            )
        out.append("")
        presets = getattr(cls, "PRESETS", None)
        if presets:
            out.append(
                f"Presets of `{title}.preset` (values each one sets; citations in the module that "
                f"defines them, `{_module_file(presets, cls)}`):"
            )
            out.append("")
            meta_of = {k.path[-1]: k.meta for k in own}
            for name, values in presets.items():
                shown = ", ".join(f"{key}={format_value(v, meta_of.get(key, {}))}" for key, v in values.items())
                out.append(f"- `{name}`: {shown}")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _module_file(presets: dict, cls: type) -> str:
    """Where a section's presets are defined (the module whose global holds them)."""
    import sys

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("archsim.") and module is not sys.modules.get(cls.__module__):
            for value in vars(module).values():
                if value is presets:
                    return module.__name__.replace(".", "/") + ".py"
    return cls.__module__.replace(".", "/") + ".py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    show = commands.add_parser("show", help="the resolved configuration with the origin of every value")
    show.add_argument(
        "file", nargs="?", default=None, help="workload YAML (default: workloads/fcn_digits.yaml) or a hardware YAML"
    )
    show.add_argument("--hw", default=None, help="hardware YAML (default: hw_configs/default.yaml)")
    add_set_option(show)
    explain = commands.add_parser(
        "explain", help="type, unit, default, allowed values, description and source of one key or section"
    )
    explain.add_argument("key", help="dotted key, e.g. hw.adc.bits, model.layers.0.out, or a section: hw.adc")
    commands.add_parser("reference", help="the Markdown reference of every key (docs/configuration.md)")


def main(args: argparse.Namespace) -> int:
    if args.config_command == "show":
        lines = show_lines(args.file, args.hw, list(args.sets))
    elif args.config_command == "explain":
        lines = explain_lines(args.key)
    else:
        print(reference_markdown(), end="")
        return 0
    print("\n".join(lines))
    return 0
