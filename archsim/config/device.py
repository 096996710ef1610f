"""Configuration of the functional analog model: device response, pulsed update and read IO path.

Parameter names follow IBM aihwkit (``dw_min``, ``up_down``, ``w_max``, ``w_min``, ``*_dtod``,
``*_std``, ``gamma_up``/``gamma_down``, ``write_noise_std``) so that fitted devices carry over.
Weights are in normalised units (1 = the nominal full conductance range of aihwkit).

A device's mean step for one pulse is ``scale_up * q_up(w)`` up and ``scale_down * q_down(w)`` down,
where ``scale_up/down`` are ``dw_min`` times the device-to-device gain and the up/down asymmetry, and
``q`` is the response shape of ``model`` (formulas in :mod:`archsim.devices.models`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from archsim.config.schema import Fail, param
from archsim.devices.presets import DEVICE_PRESETS
from archsim.devices.registry import BY_NAME, MODELS
from archsim.devices.registry import NAMES as MODEL_NAMES

DEVICE_MODELS = MODEL_NAMES
#: The pulsed update's modes (``hw.update.mode``): stochastic pulse trains, aihwkit's mean counts, or the expected
#: value of the theory.
UPDATE_MODES = ("stochastic", "mean_count", "expected")

#: Models whose step depends on ``gamma_up``/``gamma_down``, and the value an unset (null) gamma takes
#: (linear_step: aihwkit LinearStepDevice 0; power: 1 makes it soft bounds; exponential: a mildly non-linear 1;
#: pow_step: aihwkit PowStepDevice.pow_gamma 1; exp_step: aihwkit ExpStepDevice gamma_up/down).
GAMMA_DEFAULTS = {m.name: m.gamma_defaults for m in MODELS if m.uses_gamma}

#: aihwkit's spellings of parameters whose archsim name differs: alias -> archsim field(s). An alias set in a
#: configuration is copied into its field(s) and reads back as null (the resolved configuration shows the
#: archsim name). ``pow_gamma`` sets both exponents; ``mult_noise: false`` turns dw_min_std into additive noise.
ALIASES = {
    **{alias: (target,) for m in MODELS for alias, target in m.aliases.items()},
    "pow_gamma": ("gamma_up", "gamma_down"),
}

#: Limits of the device parameters. Every model's step is finite for any parameter set within them (the
#: kernels cap a step at the device's range and clamp exponentials), and every per-device parameter, stored
#: as float32, stays a normal float32: |bounds|, dw_min, noise stds and fit constants up to 1e3 (aihwkit's
#: fits are O(1)-O(10)), spreads up to 10 (aihwkit's are <= 0.3), |gamma| up to 1e3 (an exponential or
#: power response with gamma 1e3 is already a step function), dw_min at least 1e-12 (1e12 states).
MAX_MAGNITUDE = 1e3
MAX_SPREAD = 10.0
MAX_GAMMA = 1e3
MAX_WRITE_NOISE = 1e6  # in units of dw_min (aihwkit's presets use up to 75)

#: How ``up_down`` scales the up and down steps (see ``DeviceConfig.up_down_scaling``).
UP_DOWN_SCALINGS = ("plus_minus", "shrink_smaller")


@dataclass
class DeviceConfig:
    """Pulse response of one resistive device (docs/physics.md, "Device response")."""

    PRESETS = DEVICE_PRESETS  # name -> field values, each preset citing its source in archsim.devices.presets

    model: str = param("soft_bounds", "device response family", unit="-", choices=DEVICE_MODELS)
    preset: str | None = param(None, "named device preset whose values replace these defaults", unit="-")
    dw_min: float = param(
        0.001,
        "mean weight change of one pulse at the symmetric point",
        unit="1",
        ge=1e-12,
        le=MAX_MAGNITUDE,
        source="aihwkit PulsedDevice default",
    )
    dw_min_dtod: float = param(
        0.3,
        "device-to-device spread of dw_min (relative std)",
        unit="1",
        ge=0.0,
        le=MAX_SPREAD,
        source="aihwkit PulsedDevice default",
    )
    dw_min_std: float = param(
        0.3,
        "cycle-to-cycle multiplicative noise of each pulse (relative std of the step)",
        unit="1",
        ge=0.0,
        le=MAX_MAGNITUDE,
        source="aihwkit PulsedDevice default",
    )
    dw_min_std_add: float = param(
        0.0,
        "cycle-to-cycle additive noise of each pulse (std in units of the "
        "device's own step scale; aihwkit's mult_noise=False noise)",
        unit="1",
        ge=0.0,
        le=MAX_MAGNITUDE,
    )
    up_down: float = param(
        0.0,
        "up/down asymmetry c (see up_down_scaling); with plus_minus a soft-bounds "
        "device has its symmetric point at c*tau",
        unit="1",
        gt=-1.0,
        lt=1.0,
    )
    up_down_scaling: str = param(
        "shrink_smaller",
        "how c scales the steps: shrink_smaller = the weaker "
        "direction x(1-|c|), the other keeps dw_min (what aihwkit 1.1's C++ does, so "
        "aihwkit device fits carry over); plus_minus = up x(1+c), down x(1-c) (the seed "
        "paper's offset device and aihwkit's documented formula)",
        unit="-",
        choices=UP_DOWN_SCALINGS,
        source="aihwkit 1.1 PulsedRPUDevice::populate",
    )
    up_down_dtod: float = param(
        0.01,
        "device-to-device spread of up_down (absolute std)",
        unit="1",
        ge=0.0,
        le=MAX_SPREAD,
        source="aihwkit PulsedDevice default",
    )
    w_max: float = param(
        0.6,
        "upper weight bound (tau for soft bounds); [w_min, w_max] must contain 0, as aihwkit requires",
        unit="1",
        ge=-MAX_MAGNITUDE,
        le=MAX_MAGNITUDE,
        source="aihwkit PulsedDevice default",
    )
    w_min: float = param(
        -0.6,
        "lower weight bound (-tau for soft bounds)",
        unit="1",
        ge=-MAX_MAGNITUDE,
        le=MAX_MAGNITUDE,
        source="aihwkit PulsedDevice default",
    )
    w_max_dtod: float = param(
        0.3,
        "device-to-device spread of w_max (relative std)",
        unit="1",
        ge=0.0,
        le=MAX_SPREAD,
        source="aihwkit PulsedDevice default",
    )
    w_min_dtod: float = param(
        0.3,
        "device-to-device spread of w_min (relative std)",
        unit="1",
        ge=0.0,
        le=MAX_SPREAD,
        source="aihwkit PulsedDevice default",
    )
    gamma_up: float | None = param(
        None,
        "shape of the up response (linear_step: slope at the bound; power, "
        "pow_step: exponent; exponential, exp_step: exponential rate); null = the "
        "model's default (linear_step 0, power 1, exponential 1, pow_step 1, "
        "exp_step 12.44625)",
        unit="1",
        ge=-MAX_GAMMA,
        le=MAX_GAMMA,
    )
    gamma_down: float | None = param(
        None,
        "shape of the down response; null = the model's default "
        "(linear_step 0, power 1, exponential 1, pow_step 1, exp_step 12.78785)",
        unit="1",
        ge=-MAX_GAMMA,
        le=MAX_GAMMA,
    )
    gamma_up_dtod: float = param(
        0.05,
        "device-to-device spread of gamma_up (absolute std; not used by "
        "exp_step, whose fit parameters are tile-wide as in aihwkit, nor by pow_step, "
        "which spreads its exponents as aihwkit does: pow_gamma_dtod)",
        unit="1",
        ge=0.0,
        le=MAX_SPREAD,
        source="aihwkit LinearStepDevice default",
    )
    gamma_down_dtod: float = param(
        0.05,
        "device-to-device spread of gamma_down (absolute std)",
        unit="1",
        ge=0.0,
        le=MAX_SPREAD,
        source="aihwkit LinearStepDevice default",
    )
    es_A_up: float = param(
        0.00081,
        "exp_step: factor A of the up direction, step ~ 1 - A_up*exp(gamma_up*z)",
        unit="1",
        ge=-MAX_MAGNITUDE,
        le=MAX_MAGNITUDE,
        source="aihwkit ExpStepDevice.A_up default",
    )
    es_A_down: float = param(
        0.36833,
        "exp_step: factor A of the down direction",
        unit="1",
        ge=-MAX_MAGNITUDE,
        le=MAX_MAGNITUDE,
        source="aihwkit ExpStepDevice.A_down default",
    )
    es_a: float = param(
        0.244,
        "exp_step: slope a of z = 2*a*w/(b_max - b_min) + b",
        unit="1",
        ge=-MAX_MAGNITUDE,
        le=MAX_MAGNITUDE,
        source="aihwkit ExpStepDevice.a default",
    )
    es_b: float = param(
        0.2425,
        "exp_step: offset b of z",
        unit="1",
        ge=-MAX_MAGNITUDE,
        le=MAX_MAGNITUDE,
        source="aihwkit ExpStepDevice.b default",
    )
    piecewise_up: list[float] = param(
        [1.0],
        "piecewise: relative up step at equally spaced nodes from w_min to w_max, linearly interpolated",
        unit="1",
        ge=0.0,
        le=MAX_MAGNITUDE,
        source="aihwkit PiecewiseStepDevice default",
    )
    piecewise_down: list[float] = param(
        [1.0],
        "piecewise: relative down step at the same nodes",
        unit="1",
        ge=0.0,
        le=MAX_MAGNITUDE,
        source="aihwkit PiecewiseStepDevice default",
    )
    pow_gamma_dtod: float = param(
        0.1,
        "pow_step: device-to-device spread of the exponents, a relative gain "
        "shared by both directions (aihwkit PowStep: gamma_up/down = gamma (gain + "
        "bias +- r))",
        unit="1",
        ge=0.0,
        le=MAX_SPREAD,
        source="aihwkit PowStepDevice.pow_gamma_dtod default",
    )
    pow_up_down: float = param(
        0.0,
        "pow_step: up/down asymmetry of the exponents (the weaker direction's exponent x(1-|c|), as aihwkit)",
        unit="1",
        gt=-1.0,
        lt=1.0,
        source="aihwkit PowStepDevice.pow_up_down default",
    )
    pow_up_down_dtod: float = param(
        0.0,
        "pow_step: device-to-device spread of the exponent asymmetry (absolute std)",
        unit="1",
        ge=0.0,
        le=MAX_SPREAD,
        source="aihwkit PowStepDevice.pow_up_down_dtod default",
    )
    r_on: float | None = param(
        None,
        "on-state (lowest) resistance of this device's read path; null: hw.array.r_on",
        kind="resistance",
        gt=0.0,
    )
    on_off_ratio: float | None = param(
        None, "ratio of this device's off- to on-state resistance; null: hw.array.on_off_ratio", unit="1", gt=1.0
    )
    write_energy: float | None = param(
        None,
        "energy one write pulse dissipates in this device when its paper states it (e.g. a three-terminal "
        "device written through its gate); null: V_write^2 * G_mean * t_pulse from hw.array",
        kind="energy",
        ge=0.0,
    )
    write_noise_std: float = param(
        0.0,
        "std of write noise on the apparent weight of a device each time it is pulsed (units of dw_min)",
        unit="1",
        ge=0.0,
        le=MAX_WRITE_NOISE,
        source="aihwkit write_noise_std (scaled by dw_min)",
    )

    # aihwkit spellings (see ALIASES): null unless given; copied into the archsim fields on construction
    A_up: float | None = param(
        None, "aihwkit ExpStepDevice spelling of es_A_up", unit="1", ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE
    )
    A_down: float | None = param(
        None, "aihwkit ExpStepDevice spelling of es_A_down", unit="1", ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE
    )
    a: float | None = param(
        None, "aihwkit ExpStepDevice spelling of es_a", unit="1", ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE
    )
    b: float | None = param(
        None, "aihwkit ExpStepDevice spelling of es_b", unit="1", ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE
    )
    pow_gamma: float | None = param(
        None, "aihwkit PowStepDevice spelling: sets gamma_up and gamma_down", unit="1", ge=-MAX_GAMMA, le=MAX_GAMMA
    )
    mult_noise: bool | None = param(
        None,
        "aihwkit spelling: false makes dw_min_std additive (moved to dw_min_std_add), true keeps it multiplicative",
        unit="-",
    )

    def __post_init__(self) -> None:
        # An alias is copied into its field(s) and cleared; one that contradicts an explicitly set field stays
        # set, and check() reports it.
        for alias, targets in ALIASES.items():
            value = getattr(self, alias)
            if value is None:
                continue
            if any(getattr(self, t) not in (value, _FIELD_DEFAULTS[t]) for t in targets):
                continue
            for target in targets:
                setattr(self, target, value)
            setattr(self, alias, None)
        if self.mult_noise is False and self.dw_min_std_add in (0.0, self.dw_min_std):
            self.dw_min_std_add, self.dw_min_std = self.dw_min_std, 0.0
            self.mult_noise = None
        elif self.mult_noise is True:
            self.mult_noise = None

    def check(self, fail: Fail) -> None:
        for alias, targets in ALIASES.items():
            if getattr(self, alias) is not None:
                fail(
                    alias,
                    f"{alias} is aihwkit's spelling of {' and '.join(targets)}, which is also set "
                    f"to a different value: give one of them",
                )
        if self.mult_noise is not None:
            fail(
                "mult_noise",
                "mult_noise: false moves dw_min_std to dw_min_std_add, which is also set: give one of them",
            )
        if self.w_min >= self.w_max:
            fail("w_min", f"w_min ({self.w_min}) must be below w_max ({self.w_max})")
        if self.w_min > 0.0 or self.w_max < 0.0:
            key = "w_min" if self.w_min > 0.0 else "w_max"
            fail(
                key, f"[w_min, w_max] = [{self.w_min}, {self.w_max}] must contain 0 (weights are signed, as in aihwkit)"
            )
        if len(self.piecewise_up) == 0:
            fail("piecewise_up", "expected at least one node value")
        if len(self.piecewise_up) != len(self.piecewise_down):
            fail(
                "piecewise_down",
                f"expected as many nodes as piecewise_up ({len(self.piecewise_up)}), got {len(self.piecewise_down)}",
            )
        for name in ("piecewise_up", "piecewise_down"):
            if any(v < 0 for v in getattr(self, name)):
                fail(name, "node values are relative step sizes and must be >= 0")

    def gammas(self) -> tuple[float, float]:
        """``(gamma_up, gamma_down)`` with the model's default filling an unset value."""
        up, down = BY_NAME[self.model].gamma_defaults
        return (up if self.gamma_up is None else self.gamma_up, down if self.gamma_down is None else self.gamma_down)


_FIELD_DEFAULTS = {f.name: f.default for f in fields(DeviceConfig)}


@dataclass
class UpdateConfig:
    """How the rank-1 update is turned into pulse trains."""

    bl: int = param(
        31,
        "maximum pulse-train length BL",
        unit="pulses",
        ge=1,
        le=1024,
        source="aihwkit UpdateParameters.desired_bl default",
    )
    mode: str = param(
        "stochastic",
        "stochastic pulse trains, deterministic mean counts, or the expected-value update of the theory",
        unit="-",
        choices=UPDATE_MODES,
    )
    update_management: bool = param(
        True, "balance row and column pulse probabilities", unit="-", source="aihwkit UpdateParameters default"
    )
    update_bl_management: bool = param(
        True, "shorten BL when the step needs fewer pulses", unit="-", source="aihwkit UpdateParameters default"
    )


@dataclass
class IOConfig:
    """Analog read path noise and management (DAC and ADC precision live under hw.dac and hw.adc)."""

    out_noise: float = param(
        0.06,
        "output-referred additive Gaussian read noise (std, normalised units)",
        unit="1",
        ge=0.0,
        source="aihwkit IOParameters.out_noise default",
    )
    w_noise: float = param(0.0, "weight read noise std (normalised units), fresh at every read", unit="1", ge=0.0)
    noise_management: str = param(
        "abs_max",
        "input scaling before the DAC",
        unit="-",
        choices=("abs_max", "none"),
        source="aihwkit IOParameters default",
    )
    bound_management: str = param(
        "iterative",
        "re-read with halved input scale when outputs saturate",
        unit="-",
        choices=("iterative", "none"),
        source="aihwkit IOParameters default",
    )
    max_bm_retries: int = param(
        3,
        "maximum extra reads bound management may take",
        unit="reads",
        ge=0,
        source="design choice: three halvings cover outputs up to 8x the ADC range",
    )
    serial_input_bits: int = param(
        8,
        "input resolution when hw.dac.mode is bit_serial: the quantised input "
        "is streamed as this many two's-complement bit planes, one array pass (and ADC "
        "conversion) each, shift-added digitally",
        unit="bits",
        ge=1,
        le=32,
        source="aihwkit IOParameters.inp_res: 7 bits + sign",
    )

    # -- weight mapping and digital periphery (aihwkit MappingParameter) -------------------------------------------
    weight_scaling_omega: float = param(
        0.0,
        "map each analog layer's weights so that max|W| (per output with weight_scaling_columnwise) sits at this "
        "weight (normalised units, 1 = the nominal conductance range); a digital scale alpha = max|W| / omega "
        "per output restores W x after the ADC; 0: weights mapped as they are",
        unit="1",
        ge=0.0,
        le=MAX_MAGNITUDE,
        source="aihwkit MappingParameter.weight_scaling_omega default 0.0",
    )
    weight_scaling_columnwise: bool = param(
        False,
        "weight_scaling_omega: one mapping scale per output (crossbar column) instead of one per layer",
        unit="-",
        source="aihwkit MappingParameter.weight_scaling_columnwise default",
    )
    learn_out_scaling: bool = param(
        False,
        "a digital output scale (initially 1) after the ADC, trained by digital SGD at training.lr",
        unit="-",
        source="aihwkit MappingParameter.learn_out_scaling default",
    )
    out_scaling_columnwise: bool = param(
        False,
        "learn_out_scaling: one learned scale per output instead of one per layer",
        unit="-",
        source="aihwkit MappingParameter.out_scaling_columnwise default",
    )
    digital_bias: bool = param(
        False,
        "keep each analog layer's bias in digital (added after the ADC, trained by digital SGD) instead of on an "
        "always-on input row of its arrays",
        unit="-",
        source="aihwkit MappingParameter.digital_bias (aihwkit's default is true; archsim's false keeps the analog "
        "bias row its published runs used)",
    )

    def check(self, fail: Fail) -> None:
        if self.weight_scaling_columnwise and self.weight_scaling_omega == 0.0:
            fail("weight_scaling_columnwise", "applies only with weight_scaling_omega > 0; set omega or remove it")
        if self.out_scaling_columnwise and not self.learn_out_scaling:
            fail("out_scaling_columnwise", "applies only with learn_out_scaling: true; set it or remove this key")

    @property
    def scales_outputs(self) -> bool:
        """Whether a digital scale multiplies each analog layer's outputs (mapping scale or learned scale)."""
        return self.weight_scaling_omega > 0.0 or self.learn_out_scaling

    @property
    def maps_weights(self) -> bool:
        """Whether analog layers are wrapped by the digital periphery of :mod:`archsim.algorithms.output_scaling`."""
        return self.scales_outputs or self.digital_bias
