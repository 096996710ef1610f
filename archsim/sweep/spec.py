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

import hashlib
import itertools
import math
import random as random_module
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from archsim.config.loader import RunConfig, load_run_config, read_yaml_mapping, resolved_yaml
from archsim.config.schema import Fail, Provenance, build, key_path_problem, param, to_plain
from archsim.errors import ConfigError, excerpt

#: Most points one sweep file may expand to (each is resolved and checked before anything runs).
MAX_POINTS = 100_000
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
                return min(int(self.high), max(int(self.low), math.floor(drawn)))
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


def _yaml_scalar(value: Any) -> str:
    """One-line YAML for a value (PyYAML writes floats so they read back as floats, e.g. ``1.0e-05``)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    elif text.endswith("..."):
        text = text[:-3].rstrip()
    return text


# The sweep file's own schema: types, limits and unknown keys are checked by archsim.config.schema, like
# every configuration file; the checks below are only those that relate several fields.


@dataclass
class RandomParamFile:
    """How one key of ``random.params`` is drawn."""

    range: list[Any] | None = param(None, "closed interval [low, high]; integer bounds draw integers", unit="-")
    log: bool = param(False, "draw log-uniformly from the range", unit="-")
    choices: list[Any] | None = param(None, "values drawn uniformly", unit="-")

    def check(self, fail: Fail) -> None:
        if (self.range is None) == (self.choices is None):
            fail("range", "expected exactly one of range: [low, high] or choices: [...]")
        if self.choices is not None:
            if self.log:
                fail("log", "log applies to a range, not to choices")
            if not self.choices:
                fail("choices", "expected a non-empty list of values")
            return
        bounds = self.range
        assert bounds is not None  # exactly one of range and choices is set (first check above)
        numbers = len(bounds) == 2 and all(
            isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b) for b in bounds
        )
        if not numbers:
            fail("range", f"expected [low, high] as two finite numbers, got {excerpt(bounds)}")
        low, high = bounds
        if not low < high:
            fail("range", f"expected low < high, got [{low}, {high}]")
        if self.log and low <= 0:
            fail("range", f"a log range needs low > 0, got [{low}, {high}]")


@dataclass
class RandomFile:
    """``random``: n samples of the keys in ``params``, drawn from a generator seeded with ``seed``."""

    n: int | None = param(None, "number of samples", unit="samples", ge=1, le=MAX_POINTS)
    seed: int | None = param(None, "seed of the samples", unit="-", ge=0)
    params: dict[str, RandomParamFile] = param({}, "key path -> how it is drawn", unit="-")

    def check(self, fail: Fail) -> None:
        if self.n is None:
            fail("n", "expected the number of samples (an integer >= 1)")
        if self.seed is None:
            fail("seed", "expected an integer >= 0 (the samples are drawn from it)")
        if not self.params:
            fail("params", "expected a mapping of key paths to {range: [low, high]} or {choices: [...]}")


@dataclass
class SweepFile:
    """A sweep file (see the module docstring)."""

    description: str = param("", "what the study asks (shown by --dry-run)", unit="-")
    hw: str | None = param(None, "base hardware file, relative to the sweep file's folder", unit="-")
    workload: str | None = param(None, "base workload file, relative to the sweep file's folder", unit="-")
    set: dict[str, Any] | None = param(None, "fixed overrides: key path -> value", unit="-")
    grid: dict[str, list[Any]] | None = param(None, "cartesian product: key path -> values", unit="-")
    zip: dict[str, list[Any]] | None = param(None, "parallel lists of equal length: key path -> values", unit="-")
    random: RandomFile | None = param(None, "random samples", unit="-")
    seeds: list[int] | None = param(None, "every combination runs once per seed (training.seed)", unit="-", ge=0)

    def check(self, fail: Fail) -> None:
        sections = [
            ("set", self.set),
            ("grid", self.grid),
            ("zip", self.zip),
            ("random.params", self.random.params if self.random else None),
        ]
        for section, entries in sections:
            for key, values in (entries or {}).items():
                label = f"{section}.{key}"
                if not _KEY_RE.fullmatch(key):
                    fail(label, f"expected a dotted key path such as hw.adc.bits, got {excerpt(key)}")
                problem = key_path_problem(RunConfig, key)
                if problem is not None:
                    fail(label, problem)
                if section in ("grid", "zip") and not values:
                    fail(label, "expected a non-empty list of values")
        zipped = list((self.zip or {}).items())
        for key, values in zipped[1:]:
            if len(values) != len(zipped[0][1]):
                fail(
                    f"zip.{key}",
                    f"has {len(values)} values but zip.{zipped[0][0]} has {len(zipped[0][1])}; "
                    "zipped lists must have equal lengths",
                )
        seeds = self.seeds or []
        for i, seed in enumerate(seeds):
            if seed in seeds[:i]:
                fail(f"seeds.{i}", f"seed {seed} repeats seeds.{seeds.index(seed)}")
        if self.seeds == []:
            fail("seeds", "expected a non-empty list of seeds")
        total = (
            math.prod(len(v) for v in (self.grid or {}).values())
            * (len(zipped[0][1]) if zipped else 1)
            * ((self.random.n or 1) if self.random else 1)
            * len(self.seeds or [0])
        )
        if total > MAX_POINTS:
            fail(
                "grid" if self.grid else "random.n",
                f"the sweep expands to {total} points; expected at most {MAX_POINTS}",
            )


def _base_file(spec: SweepSpec, key: str, raw: str | None) -> Path | None:
    if raw is None:
        return None
    if not raw.strip():
        spec.fail(key, "expected a file name, got an empty string")
    path = Path(raw)
    if not path.is_absolute():
        path = spec.path.parent / path
    if not path.is_file():
        spec.fail(key, f"file {excerpt(str(path))} not found (relative paths are taken from the sweep file's folder)")
    return path


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep file; raises a one-line :class:`ConfigError` on the first problem."""
    spec = SweepSpec(path=Path(path))
    file = build(SweepFile, read_yaml_mapping(spec.path), Provenance(default_file=str(spec.path)))
    spec.description = file.description.strip()
    spec.hw = _base_file(spec, "hw", file.hw)
    spec.workload = _base_file(spec, "workload", file.workload)
    spec.fixed = [Assignment(key, value, f"set.{key}") for key, value in (file.set or {}).items()]
    spec.grid = list((file.grid or {}).items())
    spec.zip = list((file.zip or {}).items())
    if file.random is not None:
        spec.random_n, spec.random_seed = file.random.n, file.random.seed
        for key, how in file.random.params.items():
            if how.choices is not None:
                spec.random_params.append(RandomParam(key, choices=tuple(how.choices)))
            else:
                low, high = how.range
                integer = isinstance(low, int) and isinstance(high, int)
                spec.random_params.append(RandomParam(key, low=low, high=high, log=how.log, integer=integer))
    spec.seeds = list(file.seeds) if file.seeds is not None else None

    # One key, one place: a key set in two sections would silently lose one of its values.
    places: dict[str, str] = {}
    entries = (
        [(a.key, "set") for a in spec.fixed]
        + [(k, "grid") for k, _ in spec.grid]
        + [(k, "zip") for k, _ in spec.zip]
        + [(p.key, "random.params") for p in spec.random_params]
    )
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
    grid_axes = [
        [Assignment(key, value, f"grid.{key}[{i}]") for i, value in enumerate(values)] for key, values in spec.grid
    ]
    grid_rows = [tuple(row) for row in itertools.product(*grid_axes)]
    zip_rows: list[tuple[Assignment, ...]] = [()]
    if spec.zip:
        length = len(spec.zip[0][1])
        zip_rows = [
            tuple(Assignment(key, values[i], f"zip.{key}[{i}]") for key, values in spec.zip) for i in range(length)
        ]
    random_rows: list[tuple[Assignment, ...]] = [()]
    if spec.random_params:
        rng = random_module.Random(spec.random_seed)
        random_rows = [
            tuple(Assignment(p.key, p.sample(rng), f"random.params.{p.key}[{i}]") for p in spec.random_params)
            for i in range(spec.random_n)
        ]
    return [g + z + r for g, z, r in itertools.product(grid_rows, zip_rows, random_rows)]


def expand(spec: SweepSpec) -> list[tuple[Assignment, ...]]:
    """Every point's swept assignments, in point order (each combination once per seed, seeds innermost)."""
    seed_rows: list[tuple[Assignment, ...]] = [()]
    if spec.seeds is not None:
        seed_rows = [(Assignment(SEED_KEY, seed, f"seeds[{i}]"),) for i, seed in enumerate(spec.seeds)]
    return [combo + seed for combo in combinations(spec) for seed in seed_rows]


def run_id_for(config_yaml_canonical: str, seed: int) -> str:
    """The identity of a run: a hash of its resolved configuration and seed (16 hex digits)."""
    digest = hashlib.sha256(f"{config_yaml_canonical}\nseed={seed}\n".encode())
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


def attribute_error(
    spec: SweepSpec, error: ConfigError, assignments: typing.Sequence[Assignment], point: int | None
) -> ConfigError:
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
        deeper = failing[len(_normalise_key(best.key)) :]
        suffix = f" (at {error.key_path})" if deeper else ""
        return ConfigError(str(spec.path), f"{best.origin}{where}", f"{error.message}{suffix}")
    if point is None:
        return error  # a problem of the base files themselves: report it where it is
    values = ", ".join(f"{a.origin}={a.value!r}" for a in assignments) or "no swept values"
    return ConfigError(str(spec.path), f"{error.key_path}{where}", f"{error.message} (this point sets {values})")


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
        points.append(
            SweepPoint(
                number=number,
                assignments=tuple(assignments),
                config_yaml=resolved_yaml(config),
                seed=seed,
                run_id=run_id,
            )
        )
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
