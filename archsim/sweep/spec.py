"""Sweep specifications: a YAML file that expands into validated run configurations ("points").

A sweep file holds these keys (all optional)::

    description: what the study asks             # free text, shown by --dry-run
    hw: ../../hw_configs/default.yaml            # base hardware file (relative to this file's folder)
    workload: ../fcn_digits.yaml                 # base workload file (relative to this file's folder)
    set:                                         # fixed overrides: key path -> value
      training.epochs: 1
    grid:                                        # cartesian product: key path -> list of values
      hw.adc.bits: [4, 6, 8]
    zip:                                         # parallel lists of equal length, varied together
      hw.tile.rows: [64, 128]
      hw.tile.cols: [64, 128]
    random:                                      # n samples drawn from a seeded generator
      n: 4
      seed: 1
      params:
        training.lr: {range: [0.01, 0.1], log: true}   # real range, 6 significant digits (log-uniform)
        hw.tile.count: {range: [4, 16]}                # integer bounds -> integers, both ends included
        hw.dac.bits: {choices: [4, 6, 8]}
    seeds: [0, 1]                                # every combination runs once per seed (training.seed)

The combinations are the product grid x zip rows x random samples (a missing section contributes one
empty combination); grid keys vary in the order written, the last fastest. Every combination runs once
per seed, and each (combination, seed) pair is one *point*: one run and one row of the results
database, numbered from 1 in this order (``archsim sweep --dry-run`` lists them).

Key paths are the ones ``--set`` takes (``hw.adc.bits``, ``model.layers.0.out``); sweep leaves, not
whole sections (a mapping value replaces the section, like ``--set`` does). Every point is resolved
through :func:`archsim.config.loader.load_run_config` before anything runs; the first problem becomes
one :class:`~archsim.errors.ConfigError` naming the sweep file, the spec entry and the point, e.g.
``sweep.yaml: grid.hw.adc.bits[2] (point 7): 17 is out of range; expected a value in [1, 16]``.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import math
import random as random_module
import re
import types
import typing
from dataclasses import dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from archsim.config.loader import RunConfig, load_run_config, read_yaml_mapping, resolved_yaml
from archsim.config.schema import to_plain
from archsim.errors import ConfigError

SPEC_KEYS = ("description", "hw", "workload", "set", "grid", "zip", "random", "seeds")
RANDOM_KEYS = ("n", "seed", "params")
RANDOM_PARAM_KEYS = ("range", "log", "choices")
SEED_KEY = "training.seed"
REAL_SAMPLE_DIGITS = 6  # significant digits of a real random sample

_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|\d+))*")


@dataclass(frozen=True)
class Assignment:
    """One key path set to one value, remembering where in the sweep file the value came from."""

    key: str
    value: Any
    origin: str  # the value's place in the sweep file, e.g. "grid.hw.adc.bits[2]"

    def as_set(self) -> str:
        """The ``--set`` form ``key=value``; the value is written as YAML so that it reads back equal."""
        return f"{self.key}={_yaml_scalar(self.value)}"


@dataclass(frozen=True)
class RandomParam:
    """How one key is sampled: uniformly from ``choices``, or from the closed range ``low..high``."""

    key: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    def sample(self, rng: random_module.Random) -> Any:
        if self.choices is not None:
            return self.choices[rng.randrange(len(self.choices))]
        assert self.low is not None and self.high is not None
        if self.integer:
            if self.log:
                drawn = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
                return min(int(self.high), max(int(self.low), int(math.floor(drawn))))
            return rng.randint(int(self.low), int(self.high))
        if self.log:
            drawn = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            drawn = rng.uniform(self.low, self.high)
        # Six significant digits keep parameters readable in tables; the rounded value is the one run.
        return min(self.high, max(self.low, float(f"{drawn:.{REAL_SAMPLE_DIGITS}g}")))


@dataclass
class SweepSpec:
    """A parsed, checked sweep file (its points are not resolved yet; see :func:`resolve_points`)."""

    path: Path
    description: str = ""
    hw: Path | None = None
    workload: Path | None = None
    fixed: list[Assignment] = field(default_factory=list)
    grid: list[tuple[str, list]] = field(default_factory=list)
    zip: list[tuple[str, list]] = field(default_factory=list)
    random_n: int = 0
    random_seed: int = 0
    random_params: list[RandomParam] = field(default_factory=list)
    seeds: list[int] | None = None

    def fail(self, key_path: str, message: str) -> typing.NoReturn:
        raise ConfigError(str(self.path), key_path, message)

    @property
    def swept_keys(self) -> list[str]:
        """Keys that vary between points, in the order they are written (the seed last)."""
        keys = [k for k, _ in self.grid] + [k for k, _ in self.zip] + [p.key for p in self.random_params]
        if self.seeds is not None:
            keys.append(SEED_KEY)
        return keys


@dataclass
class SweepPoint:
    """One run of a sweep: a validated, fully resolved configuration and its identity."""

    number: int  # 1-based position in the sweep's expansion order
    assignments: tuple[Assignment, ...]  # the swept values of this point (fixed `set` values excluded)
    config_yaml: str  # the resolved configuration (what a worker runs)
    seed: int  # training.seed of the resolved configuration
    run_id: str  # hash of the resolved configuration and seed: equal configurations share it

    @property
    def params(self) -> dict[str, Any]:
        """Swept key path -> value (JSON-ready)."""
        return {a.key: a.value for a in self.assignments}

    def describe(self) -> str:
        return ", ".join(f"{a.key}={a.value}" for a in self.assignments) or "(base configuration)"


# --------------------------------------------------------------------------------------------------
# Parsing the sweep file
# --------------------------------------------------------------------------------------------------

def _did_you_mean(word: str, allowed: typing.Iterable[str]) -> str:
    hint = difflib.get_close_matches(str(word), list(allowed), n=1, cutoff=0.6)
    return f"; did you mean '{hint[0]}'?" if hint else ""


def _yaml_scalar(value: Any) -> str:
    """One-line YAML for a value (PyYAML writes floats so they read back as floats, e.g. ``1.0e-05``)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    elif text.endswith("..."):
        text = text[:-3].rstrip()
    return text


def _check_key_path(spec: SweepSpec, label: str, key: Any) -> str:
    """Check that ``key`` names a field of the run configuration; fail at ``label`` otherwise."""
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        spec.fail(label, f"expected a dotted key path such as hw.adc.bits, got {key!r}")
    node: Any = RunConfig
    parts = key.split(".")
    for i, part in enumerate(parts):
        here, parent = ".".join(parts[: i + 1]), ".".join(parts[:i])
        node = _without_none(node)
        if typing.get_origin(node) is list:
            if not part.isdigit():
                spec.fail(label, f"{here}: expected a list index (0, 1, ...) after {parent}")
            node = typing.get_args(node)[0]
            continue
        if not is_dataclass(node):
            spec.fail(label, f"{parent} is a value, not a section; cannot set {key}")
        hints = typing.get_type_hints(node)
        if part not in hints:
            what = "unknown section" if i == 0 else "unknown key"
            spec.fail(label, f"{what} {part!r}{_did_you_mean(part, hints)} (allowed at "
                             f"{parent or 'top level'}: {', '.join(sorted(hints))})")
        node = hints[part]
    return key


def _without_none(tp: Any) -> Any:
    """``X | None`` -> ``X``; any other type unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return tp


def _mapping(spec: SweepSpec, label: str, raw: Any) -> dict:
    if not isinstance(raw, dict):
        spec.fail(label, f"expected a mapping of key paths, got {type(raw).__name__} {raw!r}")
    return raw


def _value_list(spec: SweepSpec, label: str, raw: Any) -> list:
    if not isinstance(raw, list) or not raw:
        spec.fail(label, f"expected a non-empty list of values, got {raw!r}")
    return raw


def _base_file(spec: SweepSpec, key: str, raw: Any) -> Path | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        spec.fail(key, f"expected a file name, got {raw!r}")
    path = Path(raw)
    if not path.is_absolute():
        path = spec.path.parent / path
    if not path.is_file():
        spec.fail(key, f"file {str(path)!r} not found (relative paths are taken from the sweep file's folder)")
    return path


def _parse_random(spec: SweepSpec, raw: Any) -> None:
    raw = _mapping(spec, "random", raw)
    for key in raw:
        if key not in RANDOM_KEYS:
            spec.fail(f"random.{key}", f"unknown key{_did_you_mean(key, RANDOM_KEYS)} "
                                       f"(allowed: {', '.join(RANDOM_KEYS)})")
    n = raw.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        spec.fail("random.n", f"expected the number of samples (an integer >= 1), got {n!r}")
    seed = raw.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        spec.fail("random.seed", f"expected an integer >= 0 (the samples are drawn from it), got {seed!r}")
    params = raw.get("params")
    if not isinstance(params, dict) or not params:
        spec.fail("random.params", "expected a mapping of key paths to {range: [low, high]} or {choices: [...]}")
    spec.random_n, spec.random_seed = n, seed
    for key, how in params.items():
        label = f"random.params.{key}"
        _check_key_path(spec, label, key)
        if not isinstance(how, dict):
            spec.fail(label, f"expected {{range: [low, high]}} or {{choices: [...]}}, got {how!r}")
        for sub in how:
            if sub not in RANDOM_PARAM_KEYS:
                spec.fail(f"{label}.{sub}", f"unknown key{_did_you_mean(sub, RANDOM_PARAM_KEYS)} "
                                            f"(allowed: {', '.join(RANDOM_PARAM_KEYS)})")
        if ("range" in how) == ("choices" in how):
            spec.fail(label, "expected exactly one of range: [low, high] or choices: [...]")
        log = how.get("log", False)
        if not isinstance(log, bool):
            spec.fail(f"{label}.log", f"expected true or false, got {log!r}")
        if "choices" in how:
            if log:
                spec.fail(f"{label}.log", "log applies to a range, not to choices")
            choices = _value_list(spec, f"{label}.choices", how["choices"])
            spec.random_params.append(RandomParam(key, choices=tuple(choices)))
            continue
        bounds = how["range"]
        numbers = isinstance(bounds, list) and len(bounds) == 2 and all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b) for b in bounds)
        if not numbers:
            spec.fail(f"{label}.range", f"expected [low, high] as two finite numbers, got {bounds!r}")
        low, high = bounds
        if not low < high:
            spec.fail(f"{label}.range", f"expected low < high, got [{low}, {high}]")
        if log and low <= 0:
            spec.fail(f"{label}.range", f"a log range needs low > 0, got [{low}, {high}]")
        integer = isinstance(low, int) and isinstance(high, int)
        spec.random_params.append(RandomParam(key, low=low, high=high, log=log, integer=integer))


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep file; raises a one-line :class:`ConfigError` on the first problem."""
    spec = SweepSpec(path=Path(path))
    raw = read_yaml_mapping(spec.path)
    for key in raw:
        if key not in SPEC_KEYS:
            spec.fail(str(key), f"unknown key{_did_you_mean(key, SPEC_KEYS)} (allowed: {', '.join(SPEC_KEYS)})")
    description = raw.get("description", "")
    if not isinstance(description, str):
        spec.fail("description", f"expected text, got {description!r}")
    spec.description = description.strip()
    spec.hw = _base_file(spec, "hw", raw.get("hw"))
    spec.workload = _base_file(spec, "workload", raw.get("workload"))

    for key, value in _mapping(spec, "set", raw.get("set") or {}).items():
        spec.fixed.append(Assignment(_check_key_path(spec, f"set.{key}", key), value, f"set.{key}"))
    for key, values in _mapping(spec, "grid", raw.get("grid") or {}).items():
        _check_key_path(spec, f"grid.{key}", key)
        spec.grid.append((key, _value_list(spec, f"grid.{key}", values)))
    zipped = _mapping(spec, "zip", raw.get("zip") or {})
    for key, values in zipped.items():
        _check_key_path(spec, f"zip.{key}", key)
        values = _value_list(spec, f"zip.{key}", values)
        if spec.zip and len(values) != len(spec.zip[0][1]):
            first_key, first_values = spec.zip[0]
            spec.fail(f"zip.{key}", f"has {len(values)} values but zip.{first_key} has {len(first_values)}; "
                                    "zipped lists must have equal lengths")
        spec.zip.append((key, values))
    if raw.get("random") is not None:
        _parse_random(spec, raw["random"])
    if raw.get("seeds") is not None:
        seeds = _value_list(spec, "seeds", raw["seeds"])
        for i, seed in enumerate(seeds):
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                spec.fail(f"seeds[{i}]", f"expected an integer >= 0, got {seed!r}")
            if seed in seeds[:i]:
                spec.fail(f"seeds[{i}]", f"seed {seed} repeats seeds[{seeds.index(seed)}]")
        spec.seeds = list(seeds)

    # One key, one place: a key set in two sections would silently lose one of its values.
    places: dict[str, str] = {}
    entries = ([(a.key, "set") for a in spec.fixed] + [(k, "grid") for k, _ in spec.grid]
               + [(k, "zip") for k, _ in spec.zip] + [(p.key, "random.params") for p in spec.random_params])
    if spec.seeds is not None:
        entries.append((SEED_KEY, "seeds"))
    for key, section in entries:
        if key in places:
            label = "seeds" if section == "seeds" else f"{section}.{key}"
            spec.fail(label, f"{key} is already set by {places[key]}; a key may be set in one place only")
        places[key] = f"{section}.{key}" if section != "seeds" else "seeds"
    return spec


# --------------------------------------------------------------------------------------------------
# Expanding and resolving
# --------------------------------------------------------------------------------------------------

def combinations(spec: SweepSpec) -> list[tuple[Assignment, ...]]:
    """The swept assignments of every combination (grid x zip rows x random samples), seeds excluded."""
    grid_axes = [[Assignment(key, value, f"grid.{key}[{i}]") for i, value in enumerate(values)]
                 for key, values in spec.grid]
    grid_rows = [tuple(row) for row in itertools.product(*grid_axes)]
    zip_rows: list[tuple[Assignment, ...]] = [()]
    if spec.zip:
        length = len(spec.zip[0][1])
        zip_rows = [tuple(Assignment(key, values[i], f"zip.{key}[{i}]") for key, values in spec.zip)
                    for i in range(length)]
    random_rows: list[tuple[Assignment, ...]] = [()]
    if spec.random_params:
        rng = random_module.Random(spec.random_seed)
        random_rows = [tuple(Assignment(p.key, p.sample(rng), f"random.params.{p.key}[{i}]")
                             for p in spec.random_params) for i in range(spec.random_n)]
    return [g + z + r for g, z, r in itertools.product(grid_rows, zip_rows, random_rows)]


def expand(spec: SweepSpec) -> list[tuple[Assignment, ...]]:
    """Every point's swept assignments, in point order (each combination once per seed, seeds innermost)."""
    seed_rows: list[tuple[Assignment, ...]] = [()]
    if spec.seeds is not None:
        seed_rows = [(Assignment(SEED_KEY, seed, f"seeds[{i}]"),) for i, seed in enumerate(spec.seeds)]
    return [combo + seed for combo in combinations(spec) for seed in seed_rows]


def run_id_for(config_yaml_canonical: str, seed: int) -> str:
    """The identity of a run: a hash of its resolved configuration and seed (16 hex digits)."""
    digest = hashlib.sha256(f"{config_yaml_canonical}\nseed={seed}\n".encode("utf-8"))
    return digest.hexdigest()[:16]


def config_identity(config: RunConfig) -> tuple[str, int]:
    """(run_id, seed) of a resolved configuration; independent of YAML comments and field order."""
    canonical = yaml.safe_dump(to_plain(config), sort_keys=True, default_flow_style=False, width=1 << 30)
    seed = config.training.seed
    return run_id_for(canonical, seed), seed


def _normalise_key(key: str) -> tuple:
    """``model.layers.0.out`` and ``model.layers[0].out`` -> ('model', 'layers', 0, 'out')."""
    parts: list = []
    for piece in re.split(r"\.|\[|\]", key):
        if piece == "":
            continue
        parts.append(int(piece) if piece.isdigit() else piece)
    return tuple(parts)


def attribute_error(spec: SweepSpec, error: ConfigError, assignments: typing.Sequence[Assignment],
               point: int | None) -> ConfigError:
    """Re-word a loader error so that it names the sweep entry (and point) that caused it.

    An error at a key the sweep sets (or inside it) is charged to that entry, e.g.
    ``grid.hw.adc.bits[2] (point 7)``. Any other error of a point (a cross-field check such as ADCs
    exceeding the columns a swept tile width leaves) names the key the loader found and lists the
    point's swept values, since one of them must have caused it.
    """
    where = f" (point {point})" if point is not None else ""
    failing = _normalise_key(error.key_path)
    best: Assignment | None = None
    for assignment in assignments:
        key = _normalise_key(assignment.key)
        if failing[: len(key)] == key and (best is None or len(key) > len(_normalise_key(best.key))):
            best = assignment
    if best is not None:
        deeper = failing[len(_normalise_key(best.key)):]
        suffix = f" (at {error.key_path})" if deeper else ""
        return ConfigError(str(spec.path), f"{best.origin}{where}", f"{error.message}{suffix}")
    if point is None:
        return error  # a problem of the base files themselves: report it where it is
    values = ", ".join(f"{a.origin}={a.value!r}" for a in assignments) or "no swept values"
    return ConfigError(str(spec.path), f"{error.key_path}{where}",
                       f"{error.message} (this point sets {values})")


def base_config(spec: SweepSpec) -> RunConfig:
    """The configuration every point starts from: base files plus the fixed ``set`` values."""
    try:
        return load_run_config(spec.workload, spec.hw, [a.as_set() for a in spec.fixed])
    except ConfigError as error:
        raise attribute_error(spec, error, spec.fixed, None) from None


def resolve_points(spec: SweepSpec) -> list[SweepPoint]:
    """Validate and resolve every point; raises a one-line ConfigError naming the first bad point.

    Points whose resolved configuration and seed coincide (a grid value written twice, a repeated random
    draw) share a run_id; all are returned, and the runner runs each run_id once.
    """
    base_config(spec)
    points = []
    for number, assignments in enumerate(expand(spec), start=1):
        sets = [a.as_set() for a in spec.fixed] + [a.as_set() for a in assignments]
        try:
            config = load_run_config(spec.workload, spec.hw, sets)
        except ConfigError as error:
            raise attribute_error(spec, error, assignments, number) from None
        run_id, seed = config_identity(config)
        points.append(SweepPoint(number=number, assignments=tuple(assignments), config_yaml=resolved_yaml(config),
                                 seed=seed, run_id=run_id))
    return points


def unique_points(points: typing.Iterable[SweepPoint]) -> tuple[list[SweepPoint], dict[int, int]]:
    """The first point of each run_id, and {repeated point number: number of the point it repeats}."""
    first: dict[str, SweepPoint] = {}
    repeats: dict[int, int] = {}
    for point in points:
        if point.run_id in first:
            repeats[point.number] = first[point.run_id].number
        else:
            first[point.run_id] = point
    return list(first.values()), repeats
