"""Every training algorithm in one table: its name, the module that builds its weight store, and the
``algorithm`` keys it reads.

Adding an algorithm: write its module (a ``build(layer, weights, hw, algorithm, training, seed)`` that returns
a store, see :mod:`archsim.algorithms.common`), add one :class:`AlgorithmSpec` here, and declare any new keys in
:class:`archsim.config.workload.AlgorithmConfig`. The configuration rejects a key the chosen algorithm does
not read (one that differs from its default), so a setting is never silently ignored.

This module imports no store, so the configuration can read the table without loading the analog model.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the store protocol's module loads the recorder: kept out of the table's imports
    from archsim.algorithms.common import WeightStore

#: keys read by every member of the Tiki-Taka family
_FAMILY = ("fast_lr", "transfer_lr", "transfer_every", "n_reads_per_transfer", "transfer_direction", "gamma")
#: keys of TTv2's buffered whole-pulse write
_BUFFER = ("ttv2_threshold", "ttv2_max_pulses", "momentum", "forget_buffer")
_CHOPPER = ("chopper_probability", "chopper_schedule")
#: keys of aihwkit's auto-scaled fast learning rate and automatic buffer granularity (ChoppedTransferCompound)
_AUTO = ("auto_scale", "auto_scale_lr", "auto_momentum", "auto_granularity")

#: aihwkit 1.1 presets ChoppedTTv2ReRamSBPreset and AGADReRamSBPreset (aihwkit/simulator/presets/configs.py):
#: in_chop_prob 0.01 (random) and 0.02 (regular) and auto_scale on (with fast_lr 0.5, archsim's auto_scale_lr, at
#: desired_bl 31, archsim's default hw.update.bl); aihwkit's build_config("c-ttv2"/"agad") also turns auto_scale on
#: and neither changes the class default forget_buffer = True
_CHOPPED_TTV2_PRESET = (("chopper_probability", 0.01), ("auto_scale", True), ("forget_buffer", True))
_AGAD_PRESET = (("chopper_probability", 0.02), ("auto_scale", True), ("forget_buffer", True))
#: archsim's TTv2 follows Gokmen 2021 and aihwkit's build_config("ttv2") (auto_scale off): A learns at fast_lr;
#: its buffer keeps the remainder after a write (archsim's choice, documented in tiki_taka.py)
_TTV2_DEFAULTS = (("auto_scale", False), ("forget_buffer", False))


@dataclass(frozen=True)
class AlgorithmSpec:
    """One algorithm: ``module`` (under :mod:`archsim.algorithms`) has the ``build`` function; ``keys`` are the
    ``algorithm`` settings it reads besides ``name``; ``presets`` the values its keys take when they are null
    (``null: the algorithm's preset`` in the configuration reference)."""

    name: str
    module: str
    keys: tuple[str, ...]
    summary: str
    presets: tuple[tuple[str, object], ...] = ()

    def build(self, layer, weights, hw, algorithm, training, seed) -> WeightStore:
        module = importlib.import_module(f"archsim.algorithms.{self.module}")
        return module.build(layer, weights, hw, algorithm, training, seed)


ALGORITHMS: dict[str, AlgorithmSpec] = {
    spec.name: spec
    for spec in (
        AlgorithmSpec("digital_sgd", "digital_sgd", (), "floating-point SGD, the reference"),
        AlgorithmSpec("analog_sgd", "analog_sgd", (), "pulsed SGD straight onto one analog array"),
        AlgorithmSpec("tiki_taka", "tiki_taka", _FAMILY + ("reference_array",), "Tiki-Taka v1: fast A, slow C"),
        AlgorithmSpec("residual", "tiki_taka", _FAMILY, "Tiki-Taka v1 with A zero-shifted against a reference R"),
        AlgorithmSpec(
            "ttv2",
            "tiki_taka",
            _FAMILY + _BUFFER + _AUTO + ("reference_array",),
            "Tiki-Taka v2: digital buffer H",
            _TTV2_DEFAULTS,
        ),
        AlgorithmSpec(
            "chopped_ttv2",
            "tiki_taka",
            _FAMILY + _BUFFER + _CHOPPER + _AUTO + ("reference_array",),
            "TTv2 with per-line input choppers",
            _CHOPPED_TTV2_PRESET,
        ),
        AlgorithmSpec(
            "agad",
            "tiki_taka",
            _FAMILY + _BUFFER + _CHOPPER + _AUTO + ("agad_tail_weight", "agad_buffer_cap"),
            "chopped TTv2 with AGAD's dynamic reference",
            _AGAD_PRESET,
        ),
        AlgorithmSpec(
            "mixed_precision",
            "mixed_precision",
            ("mp_threshold", "mp_transfer_every"),
            "digital gradient accumulator, whole-pulse writes",
        ),
    )
}


def analog_roles(algorithm, analog: bool = True) -> tuple[str, ...]:
    """The arrays (roles) one layer puts on analog tiles under ``algorithm``, known before any store exists."""
    if not analog or algorithm.name == "digital_sgd":
        return ()
    module = importlib.import_module(f"archsim.algorithms.{ALGORITHMS[algorithm.name].module}")
    return module.roles(algorithm)


def make_store(
    layer: int, weights, analog: bool, hw, algorithm, training, seed: int, bias: bool = False
) -> WeightStore:
    """The weight store of one layer under the configured algorithm (digital for non-analog layers). ``bias``: the
    last column of ``weights`` is the layer's bias. An analog layer with weight or output scaling or a digital bias
    (``hw.io``) sits behind :class:`~archsim.algorithms.output_scaling.OutputScaledStore`."""
    spec = ALGORITHMS["digital_sgd" if not analog else algorithm.name]
    if not analog or not hw.io.maps_weights or spec.name == "digital_sgd":
        return spec.build(layer, weights, hw, algorithm, training, seed)
    from archsim.algorithms.output_scaling import OutputScaledStore

    return OutputScaledStore(
        layer,
        weights,
        hw.io,
        training.lr,
        bias,
        lambda mapped: spec.build(layer, mapped, hw, algorithm, training, seed),
    )


def tile_columns(columns: int, bias: bool, hw) -> int:
    """Inputs of a layer's arrays: its matrix's ``columns`` less the bias column when the bias is kept in digital."""
    return columns - 1 if bias and hw.io.digital_bias else columns


def preset_text(key: str) -> str:
    """The values ``key`` takes when null, per algorithm, for the configuration reference: e.g. ``false for ttv2;
    true for chopped_ttv2 and agad`` (algorithms grouped by value, in the table's order)."""
    by_value: dict[str, list[str]] = {}
    for spec in ALGORITHMS.values():
        for name, value in spec.presets:
            if name == key:
                text = str(value).lower() if isinstance(value, bool) else str(value)
                by_value.setdefault(text, []).append(spec.name)
    return "; ".join(f"{value} for {' and '.join(names)}" for value, names in by_value.items())
