"""Configuration of the functional analog model: device response, pulsed update and read IO path.

Parameter names follow IBM aihwkit (``dw_min``, ``up_down``, ``w_max``, ``w_min``, ``*_dtod``,
``*_std``, ``gamma_up``/``gamma_down``, ``write_noise_std``) so that fitted devices carry over.
Weights are in normalised units (1 = the nominal full conductance range of aihwkit).
"""

from __future__ import annotations

from dataclasses import dataclass

from archsim.config.schema import Fail, param

DEVICE_MODELS = ("constant_step", "linear_step", "soft_bounds", "power", "exponential", "exp_step",
                 "piecewise")


@dataclass
class DeviceConfig:
    """Pulse response of one resistive device (see DESIGN section 5)."""

    PRESETS = {}  # filled by archsim.devices.presets (name -> field values), each citing its source

    model: str = param("soft_bounds", "device response family", unit="-", choices=DEVICE_MODELS)
    preset: str | None = param(None, "named device preset whose values replace these defaults", unit="-")
    dw_min: float = param(0.001, "mean weight change of one pulse at the symmetric point", unit="1", gt=0.0,
                          source="aihwkit PulsedDevice default")
    dw_min_dtod: float = param(0.3, "device-to-device spread of dw_min (relative std)", unit="1", ge=0.0)
    dw_min_std: float = param(0.3, "cycle-to-cycle multiplicative noise of each pulse (relative std)",
                              unit="1", ge=0.0)
    dw_min_std_add: float = param(0.0, "cycle-to-cycle additive noise of each pulse (in units of dw_min)",
                                  unit="1", ge=0.0)
    up_down: float = param(0.0, "up/down asymmetry c: up steps scale by (1+c), down by (1-c)", unit="1",
                           gt=-1.0, lt=1.0)
    up_down_dtod: float = param(0.01, "device-to-device spread of up_down (absolute std)", unit="1", ge=0.0)
    w_max: float = param(0.6, "upper weight bound (tau for soft bounds)", unit="1")
    w_min: float = param(-0.6, "lower weight bound (-tau for soft bounds)", unit="1")
    w_max_dtod: float = param(0.3, "device-to-device spread of w_max (relative std)", unit="1", ge=0.0)
    w_min_dtod: float = param(0.3, "device-to-device spread of w_min (relative std)", unit="1", ge=0.0)
    gamma_up: float = param(0.0, "slope/shape parameter of the up response (linear_step, power, exponential)",
                            unit="1")
    gamma_down: float = param(0.0, "slope/shape parameter of the down response", unit="1")
    gamma_up_dtod: float = param(0.05, "device-to-device spread of gamma_up (absolute std)", unit="1", ge=0.0)
    gamma_down_dtod: float = param(0.05, "device-to-device spread of gamma_down (absolute std)", unit="1",
                                   ge=0.0)
    write_noise_std: float = param(0.0, "std of write noise added to the programmed weight (units of dw_min)",
                                   unit="1", ge=0.0)

    def check(self, fail: Fail) -> None:
        if self.w_min >= self.w_max:
            fail("w_min", f"w_min ({self.w_min}) must be below w_max ({self.w_max})")


@dataclass
class UpdateConfig:
    """How the rank-1 update is turned into pulse trains."""

    bl: int = param(31, "maximum pulse-train length BL", unit="pulses", ge=1, le=1024,
                    source="aihwkit UpdateParameters.desired_bl default")
    mode: str = param("stochastic", "stochastic pulse trains, deterministic mean counts, or the expected-value "
                      "update of the theory", unit="-", choices=("stochastic", "mean_count", "expected"))
    update_management: bool = param(True, "balance row and column pulse probabilities", unit="-")
    update_bl_management: bool = param(True, "shorten BL when the step needs fewer pulses", unit="-")


@dataclass
class IOConfig:
    """Analog read path noise and management (DAC and ADC precision live under hw.dac and hw.adc)."""

    out_noise: float = param(0.06, "output-referred additive Gaussian read noise (std, normalised units)",
                             unit="1", ge=0.0, source="aihwkit IOParameters.out_noise default")
    w_noise: float = param(0.0, "weight read noise std (normalised units)", unit="1", ge=0.0)
    noise_management: str = param("abs_max", "input scaling before the DAC", unit="-",
                                  choices=("abs_max", "none"))
    bound_management: str = param("iterative", "re-read with halved input scale when outputs saturate",
                                  unit="-", choices=("iterative", "none"))
    max_bm_retries: int = param(3, "maximum extra reads bound management may take", unit="reads", ge=0)
