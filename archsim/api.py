"""The Python API: resolve a configuration, simulate it, read the report; run and read sweeps.

    import archsim

    config = archsim.load_config("workloads/fcn_digits.yaml", hw="hw_configs/isaac_like.yaml")
    report = archsim.simulate(config, **{"hw.adc.bits": 6, "training.epochs": 2})
    report.metric, report.energy_pj, report.energy_pj_by_component["adc"], report.per_epoch[-1]

Overrides are the keys ``--set`` takes (``hw.adc.bits``, ``model.layers.0.out``), given as keyword
arguments; ``hw__adc__bits=6`` is the same key spelled as a Python identifier. Values are checked exactly
as in a file: quantities carry their unit (``"10ns"``, ``"1.2GHz"``). A bad value raises
:class:`archsim.errors.ConfigError` naming the key. The command line (``archsim run``) goes through
:func:`simulate` too, so a script and the CLI produce the same report for the same configuration.

Nothing heavy is imported until a simulation runs, so ``import archsim`` stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from archsim.errors import ConfigError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from archsim.config.loader import RunConfig
    from archsim.sweep.runner import SweepSummary

__all__ = ["load_config", "simulate", "Report", "run_sweep", "SweepResult", "SweepRun", "load_sweep"]

#: Keyword arguments of :func:`simulate` that are run options, not configuration keys.
RUN_OPTIONS = ("out", "progress", "trace", "costing", "source")
OVERRIDES_SOURCE = "(overrides)"


# ---------------------------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------------------------


def _set_text(key: str, value: Any) -> str:
    """``key=value`` as ``--set`` takes it; the value written as a YAML scalar or flow collection."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    elif text.endswith("..."):
        text = text[: -len("...")].strip()
    return f"{key}={text}"


def _override_sets(overrides: Mapping[str, Any] | Iterable[str]) -> list[str]:
    """``{"hw.adc.bits": 6}`` or ``["hw.adc.bits=6"]`` -> ``["hw.adc.bits=6"]``; ``a__b`` means ``a.b``."""
    if isinstance(overrides, Mapping):
        return [_set_text(str(key).replace("__", "."), value) for key, value in overrides.items()]
    return [str(item) for item in overrides]


def _check_keys(sets: list[str]) -> None:
    """A bare name such as ``epochs`` is a mistake for ``training.epochs``: say so before anything runs."""
    from archsim.config.loader import RunConfig
    from archsim.config.schema import iter_fields

    keys = [dotted for dotted, _, _ in iter_fields(RunConfig)]
    for assignment in sets:
        key = assignment.partition("=")[0].strip()
        if "." in key:
            continue  # full key paths are checked by the schema, with the file/key error it gives everywhere
        candidates = [k for k in keys if k.rsplit(".", 1)[-1] == key]
        if candidates:
            hint = f"; did you mean {' or '.join(repr(c) for c in candidates)}?"
        else:
            hint = did_you_mean(key, sorted({k.rsplit(".", 1)[-1] for k in keys} | set(RUN_OPTIONS)))
        raise ConfigError(OVERRIDES_SOURCE, key, f"expected a dotted key path such as hw.adc.bits{hint}")


def load_config(
    workload: str | Path | None = None,
    *,
    hw: str | Path | None = None,
    overrides: Mapping[str, Any] | Iterable[str] = (),
) -> RunConfig:
    """Resolve a run's configuration as ``archsim run`` does: ``workload`` (default
    ``workloads/fcn_digits.yaml``; a ``config.resolved.yaml`` works too), ``hw`` (default
    ``hw_configs/default.yaml``) and ``overrides`` (``{"hw.adc.bits": 6}`` or ``["hw.adc.bits=6"]``)."""
    from archsim.config.loader import load_run_config

    sets = _override_sets(overrides)
    _check_keys(sets)
    return load_run_config(workload, hw, sets)


def with_overrides(config: RunConfig, overrides: Mapping[str, Any] | Iterable[str]) -> RunConfig:
    """A copy of ``config`` with ``overrides`` applied and the whole tree validated again."""
    from archsim.config.loader import RunConfig, _apply_set, parse_set
    from archsim.config.schema import Provenance, build, to_plain

    sets = _override_sets(overrides)
    if not sets:
        return config
    _check_keys(sets)
    tree = to_plain(config)
    provenance = Provenance(default_file=OVERRIDES_SOURCE)
    for assignment in sets:
        parts, value = parse_set(assignment)
        _apply_set(tree, parts, value, provenance)
    return build(RunConfig, tree, provenance)


# ---------------------------------------------------------------------------------------------------------------
# simulation and its report
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """What one run reports: the metric, per-step latency and energy (by component and phase), per-epoch
    series and totals. ``data`` is the ``report.json`` content; the accessors read it with units in their
    names (``_pj``, ``_ns``). Cost accessors raise ``ValueError`` for a run simulated with ``costing=False``."""

    data: dict
    config: RunConfig | None = field(default=None, compare=False, repr=False)

    # -- accuracy ---------------------------------------------------------------------------------------
    @property
    def metric_name(self) -> str:
        """``test_accuracy`` (%) for classification, the relative error for least squares, ..."""
        return str(self.data["metric"]["name"])

    @property
    def metric(self) -> float:
        """The metric after the last epoch."""
        return float(self.data["metric"]["final"])

    @property
    def algorithm(self) -> str:
        return str(self.data.get("algorithm", ""))

    @property
    def seed(self) -> int:
        return int(self.data["seed"])

    # -- per-step cost ----------------------------------------------------------------------------------
    def _per_step(self) -> dict:
        per_step = self.data.get("per_step")
        if per_step is None:
            raise ValueError("this run was simulated without costing (costing=False): it has no latency or energy")
        return per_step

    @property
    def latency_ns(self) -> float:
        """Mean latency of one training step (ns)."""
        return float(self._per_step()["latency_ns"])

    @property
    def latency_cycles(self) -> float:
        """Mean latency of one training step (clock cycles)."""
        return float(self._per_step()["latency_cycles"])

    @property
    def energy_pj(self) -> float:
        """Mean energy of one training step (pJ)."""
        return float(self._per_step()["energy_pj"])

    @property
    def energy_pj_by_component(self) -> dict[str, float]:
        """Mean energy of one step by component (``adc``, ``dac``, ``array_read``, ...; pJ)."""
        return {k: float(v) for k, v in self._per_step()["energy_pj_by_component"].items()}

    @property
    def energy_pj_by_phase(self) -> dict[str, float]:
        """Mean energy of one step by phase (``forward``, ``backward``, ``update``, ``transfer``; pJ)."""
        return {k: float(v) for k, v in self._per_step()["energy_pj_by_phase"].items()}

    @property
    def latency_ns_by_phase(self) -> dict[str, float]:
        """Mean span of each phase within a step (ns); phases overlap, so they need not sum to the step."""
        return {k: float(v) for k, v in self._per_step()["latency_ns_by_phase"].items()}

    @property
    def energy_pj_by_component_phase(self) -> dict[str, dict[str, float]]:
        """Mean energy of one step by component, then phase (pJ), when the report carries that table
        (``per_step.energy_pj_by_component_phase``); ``ValueError`` otherwise."""
        table = self._per_step().get("energy_pj_by_component_phase")
        if table is None:
            raise ValueError("this report breaks energy down by component and by phase separately, not by both")
        return {c: {p: float(v) for p, v in phases.items()} for c, phases in table.items()}

    def energy(self, component: str | None = None, phase: str | None = None) -> float:
        """Mean energy of one step (pJ): all of it, of one ``component``, of one ``phase``, or of both."""
        if component is not None and phase is not None:
            table = self.energy_pj_by_component_phase
            _check_name(component, table)
            _check_name(phase, table[component])
            return table[component][phase]
        if component is not None:
            return _check_name(component, self.energy_pj_by_component)
        if phase is not None:
            return _check_name(phase, self.energy_pj_by_phase)
        return self.energy_pj

    # -- per-epoch series and totals --------------------------------------------------------------------
    @property
    def per_epoch(self) -> list[dict[str, float]]:
        """One row per epoch: ``epoch``, ``metric``, ``train_loss`` and, when costed, ``energy_pj_per_step``
        and ``latency_ns_per_step`` (the mean step of that epoch)."""
        metrics = self.data["metric"]["per_epoch"]
        losses = self.data.get("train_loss", {}).get("per_epoch", [None] * len(metrics))
        costs = self.data.get("per_epoch_step") or []
        rows = []
        for index, (metric, loss) in enumerate(zip(metrics, losses, strict=False)):
            row = {"epoch": index + 1, "metric": metric, "train_loss": loss}
            if index < len(costs):
                row["energy_pj_per_step"] = costs[index]["energy_pj"]
                row["latency_ns_per_step"] = costs[index]["latency_ns"]
            rows.append(row)
        return rows

    def series(self, name: str) -> list[float]:
        """One per-epoch series by its column name in :attr:`per_epoch` (e.g. ``"metric"``)."""
        rows = self.per_epoch
        if not rows or name not in rows[0]:
            known = ", ".join(rows[0]) if rows else "(no epochs)"
            raise KeyError(f"{name!r} is not a per-epoch series; expected one of {known}")
        return [row[name] for row in rows]

    @property
    def totals(self) -> dict[str, float]:
        """``steps``, ``samples`` and, when costed, the whole run's ``latency_ns`` and ``energy_pj``."""
        return dict(self.data["totals"])

    # -- output -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return json.loads(json.dumps(self.data))

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as ``report.json`` text; also written to ``path`` when given."""
        text = json.dumps(self.data, indent=2) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, path_or_text: str | Path) -> Report:
        """Read a ``report.json`` written by ``archsim run`` or :meth:`to_json`."""
        text = str(path_or_text)
        if not text.lstrip().startswith("{"):
            text = Path(path_or_text).read_text(encoding="utf-8")
        return cls(json.loads(text))

    def plot(self, out_dir: str | Path) -> list[Path]:
        """Write the run's figures (training curve, energy per step by component and phase, latency by
        phase) as PNG files into ``out_dir``; returns their paths."""
        from archsim.report.plots import plot_run

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        return plot_run(self.data, out)


def _check_name(name: str, table: dict) -> Any:
    """``table[name]``, or a KeyError listing the names there are."""
    if name not in table:
        raise KeyError(f"{name!r} is not one of {', '.join(table)}")
    return table[name]


def simulate(
    config: RunConfig | str | Path | None = None,
    *,
    out: str | Path | None = None,
    progress: bool = False,
    trace: bool = False,
    costing: bool = True,
    source: str | None = None,
    **overrides: Any,
) -> Report:
    """Train and cost ``config`` (a :class:`RunConfig`, a workload path, or None for the defaults) with
    ``overrides`` applied; returns its :class:`Report`.

    ``out``: also write the run's files there (``report.json``, ``config.resolved.yaml``, ``epochs.csv``,
    figures; with ``trace``, ``trace.json``). ``costing=False`` trains without the cost model (faster; the
    report then has no latency or energy). ``progress`` shows a progress bar. ``source`` names the
    workload in error messages (default: the workload path, when given one).
    """
    from archsim.config.loader import RunConfig
    from archsim.run import execute

    if not isinstance(config, RunConfig):
        if source is None and config is not None:
            source = str(config)
        config = load_config(config)
    config = with_overrides(config, overrides)
    data = execute(
        config,
        None if out is None else Path(out),
        progress=progress,
        trace=trace,
        source=source or "workload",
        costing=costing,
    )
    return Report(data, config)


# ---------------------------------------------------------------------------------------------------------------
# sweeps
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepRun:
    """One recorded point of a sweep: its swept parameters, status and (when done) its report."""

    run_id: str
    status: str  # "done" or "failed"
    params: dict[str, Any]  # swept key path -> value
    report: Report | None  # None when the point failed
    error: str | None
    seed: int | None
    config_yaml: str  # the resolved configuration the point ran


@dataclass
class SweepResult:
    """A sweep's results database: the runs recorded in it, and the counts of the invocation that ran it."""

    db: Path
    summary: SweepSummary | None = None

    def runs(self) -> list[SweepRun]:
        return list(load_sweep(self.db))

    def done(self) -> list[SweepRun]:
        return [run for run in self.runs() if run.status == "done"]


def load_sweep(db: str | Path) -> Iterator[SweepRun]:
    """Every run recorded in a sweep database, in finishing order."""
    from archsim.errors import ArchsimError
    from archsim.sweep.store import ResultStore, is_sqlite_file

    path = Path(db)
    if not is_sqlite_file(path):
        raise ArchsimError(f"{path}: not a sweep results database (expected a file written by archsim sweep)")
    with ResultStore(path, create=False) as store:
        rows = list(store.rows())
    for row in rows:
        yield SweepRun(
            run_id=row["run_id"],
            status=row["status"],
            params=row["params"],
            report=Report(row["report"]) if row["report"] else None,
            error=row["error"],
            seed=row["seed"],
            config_yaml=row["config"],
        )


def run_sweep(
    spec: str | Path, db: str | Path = "results.db", *, workers: int | None = None, scheduler: str | None = None
) -> SweepResult:
    """Run the sweep file ``spec`` (see ``workloads/sweeps/README.md``) as ``archsim sweep`` does: every point
    validated first, points already done in ``db`` skipped, the rest on ``workers`` local processes (default:
    one per core) or on the Dask cluster at ``scheduler``. Returns the database's results."""
    from archsim.errors import ArchsimError
    from archsim.sweep import runner
    from archsim.sweep.spec import load_spec, resolve_points
    from archsim.sweep.store import ResultStore

    if scheduler is not None and workers is not None:
        raise ArchsimError("run_sweep: give workers (a local cluster) or scheduler (an existing one), not both")
    if workers is not None and workers < 1:
        raise ArchsimError(f"run_sweep: workers: expected at least 1, got {workers}")
    points = resolve_points(load_spec(spec))
    path = Path(db)
    with ResultStore(path) as store:
        todo, _ = runner.pending_points(points, store)
        if not todo:
            summary = runner.run_sweep(points, store, None)
        else:
            count = None if scheduler else min(workers or runner.default_workers(), len(todo))
            with runner.open_client(count, scheduler) as client:
                summary = runner.run_sweep(points, store, client)
    return SweepResult(path, summary)
