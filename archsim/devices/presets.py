"""Named device presets: plain field values for :class:`archsim.config.device.DeviceConfig`.

Each preset is a fit published with IBM aihwkit (``aihwkit.simulator.presets.devices``), carried over
parameter by parameter; the paper each was fitted to is cited. aihwkit's ``mult_noise=False`` (additive
cycle-to-cycle noise) maps to ``dw_min_std_add``; its up_down sign convention (the weaker direction is
scaled by ``1 - |up_down|``) is kept with ``up_down_scaling: shrink_smaller`` so the response is the same.

This module is pure data: the configuration loader imports it without pulling in the numba kernels.
"""

from __future__ import annotations

DEVICE_PRESETS: dict[str, dict] = {
    # The seed paper's MNIST device: Wu, Gokmen, Rasch & Chen, "Towards exact gradient-based training on analog
    # in-memory computing", NeurIPS 2024 (its MNIST experiment): soft bounds with tau = 0.7 and dw_min = 1e-3;
    # spreads and cycle-to-cycle noise are aihwkit's PulsedDevice defaults. The default hardware's device.
    "seed_mnist": {
        "model": "soft_bounds",
        "dw_min": 0.001,
        "dw_min_dtod": 0.3,
        "dw_min_std": 0.3,
        "dw_min_std_add": 0.0,
        "up_down": 0.0,
        "up_down_dtod": 0.01,
        "w_max": 0.7,
        "w_min": -0.7,
        "w_max_dtod": 0.3,
        "w_min_dtod": 0.3,
        "write_noise_std": 0.0,
    },
    # aihwkit ReRamESPresetDevice: ExpStep fit to Gong et al., Nat. Commun. 9:2102 (2018),
    # https://www.nature.com/articles/s41467-018-04485-1
    "reram_es": {
        "model": "exp_step",
        "dw_min": 0.00135,
        "up_down": 0.259359,
        "up_down_scaling": "shrink_smaller",
        "w_max": 1.0,
        "w_min": -1.0,
        "es_a": -0.5,
        "es_b": -0.5,
        "gamma_up": 5.0,
        "gamma_down": 5.0,
        "es_A_up": -1.18445,
        "es_A_down": -0.081404,
        "dw_min_dtod": 0.2,
        "up_down_dtod": 0.05,
        "w_max_dtod": 0.3,
        "w_min_dtod": 0.3,
        "dw_min_std": 5.0,
        "dw_min_std_add": 0.0,
        "write_noise_std": 75.0,
    },
    # aihwkit ReRamSBPresetDevice: loose soft-bounds fit to Gong et al., Nat. Commun. 9:2102 (2018);
    # symmetric point assumed calibrated by a reference device.
    "reram_sb": {
        "model": "soft_bounds",
        "dw_min": 0.002,
        "up_down": 0.0,
        "w_max": 1.25,
        "w_min": -0.75,
        "dw_min_dtod": 0.3,
        "up_down_dtod": 0.01,
        "w_max_dtod": 0.3 / 1.25,
        "w_min_dtod": 0.3 / 0.75,
        "dw_min_std": 0.0,
        "dw_min_std_add": 3.75,
        "write_noise_std": 56.0,
    },
    # aihwkit EcRamPresetDevice: LinearStep fit to Tang et al., IEDM 2018 (Li-ion ECRAM),
    # https://ieeexplore.ieee.org/document/8614551 ; range shifted so the symmetric point is at zero.
    # Electrics: ECRAM is written through its gate, not through the read channel; Tang et al. (IEDM 2018, abstract)
    # project a switching energy of ~1 fJ per pulse for 100x100 nm^2 devices (5 ns pulses shown).
    "ecram": {
        "write_energy": "1fJ",
        "model": "linear_step",
        "dw_min": 0.002,
        "up_down": 0.0,
        "w_max": 1.1724,
        "w_min": -0.8276,
        "gamma_up": 0.1153,
        "gamma_down": 0.5085,
        "dw_min_dtod": 0.1,
        "up_down_dtod": 0.01,
        "w_max_dtod": 0.05,
        "w_min_dtod": 0.05,
        "gamma_up_dtod": 0.05,
        "gamma_down_dtod": 0.05,
        "dw_min_std": 0.3,
        "dw_min_std_add": 0.0,
        "write_noise_std": 0.0,
    },
    # aihwkit EcRamMOPresetDevice: LinearStep fit to Kim et al., IEDM 2019 (metal-oxide ECRAM),
    # https://ieeexplore.ieee.org/document/8993463
    "ecram_mo": {
        "model": "linear_step",
        "dw_min": 2.8214e-4,
        "up_down": 0.0,
        "w_max": 1.1714,
        "w_min": -0.8286,
        "gamma_up": 0.4152,
        "gamma_down": 0.7342,
        "dw_min_dtod": 0.1,
        "up_down_dtod": 0.01,
        "w_max_dtod": 0.05,
        "w_min_dtod": 0.05,
        "gamma_up_dtod": 0.05,
        "gamma_down_dtod": 0.05,
        "dw_min_std": 2.0,
        "dw_min_std_add": 0.0,
        "write_noise_std": 0.0,
    },
    # aihwkit CapacitorPresetDevice: LinearStep fit to Li et al., VLSI 2018,
    # https://ieeexplore.ieee.org/abstract/document/8510648 (capacitor leakage is not modelled here).
    "capacitor": {
        "model": "linear_step",
        "dw_min": 0.005,
        "up_down": 0.0,
        "w_max": 1.0,
        "w_min": -1.0,
        "gamma_up": 0.05,
        "gamma_down": 0.05,
        "dw_min_dtod": 0.1,
        "up_down_dtod": 0.06,
        "w_max_dtod": 0.07,
        "w_min_dtod": 0.07,
        "gamma_up_dtod": 0.01,
        "gamma_down_dtod": 0.01,
        "dw_min_std": 0.0,
        "dw_min_std_add": 0.3,
        "write_noise_std": 0.0,
    },
    # aihwkit IdealizedPresetDevice: ConstantStep from Gokmen & Vlasov, Front. Neurosci. 10:333 (2016) with
    # 10000 states and no up/down asymmetry, as used by Rasch, Gokmen & Haensch, IEEE Design & Test (2019).
    "idealized": {
        "model": "constant_step",
        "dw_min": 0.0002,
        "dw_min_dtod": 0.3,
        "dw_min_std": 0.3,
        "dw_min_std_add": 0.0,
        "up_down": 0.0,
        "up_down_dtod": 0.0,
        "w_max": 1.0,
        "w_min": -1.0,
        "w_max_dtod": 0.3,
        "w_min_dtod": 0.3,
        "write_noise_std": 0.0,
    },
    # aihwkit GokmenVlasovPresetDevice: ConstantStep, Gokmen & Vlasov, Front. Neurosci. 10:333 (2016).
    "gokmen_vlasov": {
        "model": "constant_step",
        "dw_min": 0.0016,
        "dw_min_dtod": 0.3,
        "dw_min_std": 0.3,
        "dw_min_std_add": 0.0,
        "up_down": 0.0,
        "up_down_dtod": 0.01,
        "w_max": 1.0,
        "w_min": -1.0,
        "w_max_dtod": 0.3,
        "w_min_dtod": 0.3,
        "write_noise_std": 0.0,
    },
}
