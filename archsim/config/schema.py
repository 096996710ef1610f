"""Typed configuration fields and the strict conversion between plain YAML trees and dataclasses.

A configuration section is a dataclass whose fields are declared with :func:`param`. Each field has
a Python type, a default, a one-line description and, for physical quantities, a unit kind (values
are then written with units, e.g. ``"10ns"``, and stored in SI base units). Range and choice limits
are declared beside the field so that validation lives in one place.

A section may define ``check(self, fail)``: cross-field validation that calls
``fail(key, message)`` for a problem at one of its keys.

A section may define a static method ``resolve_raw(raw) -> raw`` that rewrites its plain tree before it is
built (``hw`` writes each per-role device section out on top of ``hw.device`` this way).

A section may define a class attribute ``PRESETS`` (name -> dict of field defaults) together with a
``preset`` field: the preset's values replace the class defaults before the file's own keys apply.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from archsim.config.units import UNIT_KINDS, UnitError, format_quantity, parse_quantity
from archsim.errors import ConfigError, did_you_mean, excerpt

#: Largest integer any field accepts: what numba kernels and numpy index with (int64). Fields that size
#: an allocation declare a much smaller ``le``.
MAX_INTEGER = 2**63 - 1
#: Largest magnitude of a real field: far beyond any physical parameter, far enough from the float limit
#: that sums and products of a few of them stay finite.
MAX_MAGNITUDE = 1e100

_BASE_UNIT = {kind: base for kind, (base, _) in UNIT_KINDS.items()}


def param(
    default: Any,
    desc: str,
    *,
    unit: str | None = None,
    kind: str | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple | None = None,
    source: str | None = None,
) -> Any:
    """Declare a configuration field.

    ``unit`` is the unit a bare number is in (e.g. ``"bits"``, ``"cycles"``, ``"nm"``, ``"1"`` for
    dimensionless); ``kind`` marks a physical quantity that must be written with a unit and is stored
    in SI base units. ``ge``/``gt``/``le``/``lt`` bound numbers, ``choices`` enumerates allowed values,
    ``source`` cites where the default comes from.
    """
    if kind is not None:
        unit = _BASE_UNIT[kind]
    if unit is None:
        raise TypeError(f"field {desc!r} needs a unit (use unit='1' for a dimensionless number)")
    metadata = {
        "desc": desc,
        "unit": unit,
        "kind": kind,
        "ge": ge,
        "gt": gt,
        "le": le,
        "lt": lt,
        "choices": choices,
        "source": source,
    }
    if isinstance(default, (list, dict)) or is_dataclass(default):  # mutable: each instance gets a copy
        return field(default_factory=functools.partial(_copy, default), metadata=metadata)
    return field(default=default, metadata=metadata)


def section(cls: type, desc: str) -> Any:
    """Declare a nested section field holding a ``cls`` instance built from its defaults."""
    return field(
        default_factory=cls,
        metadata={
            "desc": desc,
            "unit": "-",
            "kind": None,
            "ge": None,
            "gt": None,
            "le": None,
            "lt": None,
            "choices": None,
            "source": None,
        },
    )


def _copy(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value)
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


@dataclass
class Provenance:
    """Which file set each key path; errors name the file that last touched the offending key."""

    default_file: str
    files: dict[tuple, str] = field(default_factory=dict)

    def record(self, path: tuple, file: str) -> None:
        self.files[path] = file

    def file_for(self, path: tuple) -> str:
        for cut in range(len(path), -1, -1):
            found = self.files.get(tuple(path[:cut]))
            if found is not None:
                return found
        return self.default_file


def _dotted(path: tuple) -> str:
    """``("model", "layers", 0, "out")`` -> ``model.layers.0.out``: the spelling ``--set`` accepts."""
    return ".".join(str(part) for part in path)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"a mapping of names to {_type_name(typing.get_args(tp)[1])}"
    if tp is Any:
        return "values"
    if tp is type(None):
        return "null"
    if is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, str(tp))


class _Builder:
    def __init__(self, provenance: Provenance):
        self.provenance = provenance

    def fail(self, path: tuple, message: str) -> typing.NoReturn:
        raise ConfigError(self.provenance.file_for(path), _dotted(path), message)

    # -- dataclass sections -------------------------------------------------------------------
    def build(self, cls: type, raw: Any, path: tuple) -> Any:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            self.fail(path, f"expected a mapping of keys for this section, got {_describe(raw)}")
        resolve_raw = getattr(cls, "resolve_raw", None)
        if resolve_raw is not None:
            raw = resolve_raw(raw)
        hints = typing.get_type_hints(cls)
        known = {f.name: f for f in fields(cls) if f.init}
        for key in raw:
            if key not in known:
                self.fail(path + (key,), f"unknown key{did_you_mean(key, known)} (allowed: {', '.join(sorted(known))})")
        values: dict[str, Any] = {}
        presets = getattr(cls, "PRESETS", None)
        preset_values: dict[str, Any] = {}
        if presets is not None and raw.get("preset") is not None:
            name = raw["preset"]
            if not isinstance(name, str) or name not in presets:
                self.fail(
                    path + ("preset",),
                    f"unknown preset {excerpt(name)}{did_you_mean(name, presets)}; expected one of {sorted(presets)}",
                )
            preset_values = presets[name]
        for name, f in known.items():
            if name in raw:
                values[name] = self.value(hints[name], raw[name], path + (name,), f.metadata)
            elif name in preset_values:
                values[name] = self.value(hints[name], preset_values[name], path + (name,), f.metadata)
        try:
            obj = cls(**values)
        except TypeError as exc:  # a required field with no default
            self.fail(path, str(exc))
        check = getattr(obj, "check", None)
        if check is not None:
            check(lambda key, message: self.fail(path + tuple(key.split(".")), message))
        return obj

    # -- single values ------------------------------------------------------------------------
    def value(self, tp: Any, raw: Any, path: tuple, meta: Mapping[str, Any]) -> Any:
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            args = typing.get_args(tp)
            if raw is None and type(None) in args:
                return None
            inner = [a for a in args if a is not type(None)]
            if len(inner) == 1:
                return self.value(inner[0], raw, path, meta)
            for candidate in inner:  # first type that accepts the value
                try:
                    return self.value(candidate, raw, path, meta)
                except ConfigError:
                    continue
            self.fail(path, f"expected {_type_name(tp)}, got {_describe(raw)}")
        if origin is list:
            (item_type,) = typing.get_args(tp)
            if not isinstance(raw, list):
                self.fail(path, f"expected {_type_name(tp)}, got {_describe(raw)}")
            return [self.value(item_type, item, path + (i,), meta) for i, item in enumerate(raw)]
        if origin is dict:  # free keys (e.g. key paths of a sweep), values of one type
            _, item_type = typing.get_args(tp)
            if not isinstance(raw, dict):
                self.fail(path, f"expected {_type_name(tp)}, got {_describe(raw)}")
            for key in raw:
                if not isinstance(key, str):
                    self.fail(path, f"expected text keys, got the key {excerpt(key)}")
            return {key: self.value(item_type, item, path + (key,), meta) for key, item in raw.items()}
        if tp is Any:  # any YAML value; its meaning is checked where it is used
            return raw
        if isinstance(tp, type) and is_dataclass(tp):
            return self.build(tp, raw, path)
        kind = meta.get("kind")
        number: Any  # the validated value: a number, a flag or a string
        if kind is not None:
            try:
                number = parse_quantity(raw, kind)
            except UnitError as exc:
                self.fail(path, str(exc))
        elif tp is bool:
            if not isinstance(raw, bool):
                self.fail(path, f"expected true or false, got {_describe(raw)}")
            number = raw
        elif tp is int:
            if isinstance(raw, bool) or not isinstance(raw, int):
                if isinstance(raw, float) and raw.is_integer():
                    raw = int(raw)
                else:
                    self.fail(path, f"expected an integer ({meta.get('unit')}), got {_describe(raw)}")
            if abs(raw) > MAX_INTEGER:
                self.fail(
                    path,
                    f"{excerpt(raw)} is out of range; expected an integer of magnitude at most "
                    f"2^63 - 1 (and within the field's own limits)",
                )
            number = raw
        elif tp is float:
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                self.fail(path, f"expected a number ({meta.get('unit')}), got {_describe(raw)}")
            try:
                number = float(raw)
            except OverflowError:  # an integer beyond the float range
                number = math.inf
            if not math.isfinite(number) or abs(number) > MAX_MAGNITUDE:
                self.fail(path, f"expected a finite number of magnitude at most {MAX_MAGNITUDE:g}, got {excerpt(raw)}")
        elif tp is str:
            if not isinstance(raw, str):
                self.fail(path, f"expected a string, got {_describe(raw)}")
            number = raw
        else:  # pragma: no cover - schema authoring error
            raise TypeError(f"unsupported field type {tp!r} at {_dotted(path)}")
        self.check_limits(number, path, meta)
        return number

    def check_limits(self, value: Any, path: tuple, meta: Mapping[str, Any]) -> None:
        choices = meta.get("choices")
        if choices is not None and value not in choices:
            self.fail(
                path,
                f"{excerpt(value)} is not allowed{did_you_mean(value, choices)} (expected one of: "
                f"{', '.join(str(c) for c in choices)})",
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        unit = meta.get("unit") or ""
        shown = format_quantity(value, meta["kind"]) if meta.get("kind") else repr(value)
        bounds = [
            ("ge", lambda v, b: v >= b, ">="),
            ("gt", lambda v, b: v > b, ">"),
            ("le", lambda v, b: v <= b, "<="),
            ("lt", lambda v, b: v < b, "<"),
        ]
        for key, ok, symbol in bounds:
            bound = meta.get(key)
            if bound is not None and not ok(value, bound):
                limit = format_quantity(bound, meta["kind"]) if meta.get("kind") else repr(bound)
                lo = meta.get("ge", meta.get("gt"))
                hi = meta.get("le", meta.get("lt"))
                if lo is not None and hi is not None:
                    expected = f"expected a value in [{lo}, {hi}]"
                else:
                    expected = f"expected a value {symbol} {limit}"
                self.fail(
                    path, f"{shown} is out of range; {expected}" + (f" ({unit})" if unit not in ("1", "-", "") else "")
                )


def _describe(raw: Any) -> str:
    if raw is None:
        return "nothing (null)"
    if isinstance(raw, bool):
        return f"the boolean {str(raw).lower()}"
    if isinstance(raw, (int, float)):
        return f"the number {excerpt(raw)}"
    if isinstance(raw, str):
        return f"the string {excerpt(raw)}"
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, dict):
        return "a mapping"
    return type(raw).__name__


def build(cls: type, raw: Any, provenance: Provenance, path: tuple = ()) -> Any:
    """Build and validate ``cls`` from a plain tree; raises :class:`ConfigError` on the first problem."""
    return _Builder(provenance).build(cls, raw, path)


def to_plain(obj: Any) -> Any:
    """Convert a configuration dataclass into a plain YAML-ready tree (quantities written with units)."""
    if is_dataclass(obj):
        out = {}
        for f in fields(obj):
            value = getattr(obj, f.name)
            kind = f.metadata.get("kind")
            if kind is not None and value is not None:
                out[f.name] = (
                    format_quantity(value, kind)
                    if not isinstance(value, list)
                    else [format_quantity(v, kind) for v in value]
                )
            else:
                out[f.name] = to_plain(value)
        return out
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


def key_path_problem(cls: type, key: str) -> str | None:
    """Why the dotted ``key`` (as ``--set`` takes it) names no field of ``cls``; None when it does."""
    node: Any = cls
    parts = key.split(".")
    for i, part in enumerate(parts):
        here, parent = ".".join(parts[: i + 1]), ".".join(parts[:i])
        node = _without_none(node)
        if typing.get_origin(node) is list:
            if not part.isdigit():
                return f"{here}: expected a list index (0, 1, ...) after {parent}"
            node = typing.get_args(node)[0]
            continue
        if not is_dataclass(node):
            return f"{parent} is a value, not a section; cannot set {key}"
        hints = typing.get_type_hints(node)
        if part not in hints:
            what = "unknown section" if i == 0 else "unknown key"
            return (
                f"{what} {excerpt(part)}{did_you_mean(part, hints)} (allowed at {parent or 'top level'}: "
                f"{', '.join(sorted(hints))})"
            )
        node = hints[part]
    return None


def _without_none(tp: Any) -> Any:
    """``X | None`` -> ``X``; any other type unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return tp


def iter_fields(cls: type, prefix: str = "") -> typing.Iterator[tuple[str, dataclasses.Field, Any]]:
    """Yield (dotted key, field, type) for every leaf field of ``cls``, recursing into sections."""
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        if isinstance(tp, type) and is_dataclass(tp):
            yield from iter_fields(tp, key + ".")
        else:
            yield key, f, tp


#: What a section's ``check`` calls for a problem at one of its keys: it raises (a ``ConfigError``), never returns.
Fail = Callable[[str, str], typing.NoReturn]
