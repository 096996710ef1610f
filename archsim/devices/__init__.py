"""Device physics: response models, presets, device-to-device sampling and the numba kernels.

Knows nothing of SimPy, costs or the engine. Submodules:

- :mod:`archsim.devices.registry` — one entry per device model (code, aihwkit counterpart, defaults,
  aliases, reference response): the list everything else derives from (pure Python);
- :mod:`archsim.devices.presets` — named device fits (pure data, imported by the configuration);
- :mod:`archsim.devices.models` — model codes, per-device parameter sampling, mean responses,
  symmetric points;
- :mod:`archsim.devices.rng` — the counter-based random numbers every kernel uses;
- :mod:`archsim.devices.kernels` — private numba kernels (pulsed updates, pulse protocols);
- :mod:`archsim.devices.update` — public drivers: update management, pulsed update of a device array;
- :mod:`archsim.devices.reference` — slow, obviously correct NumPy/Python references for the kernels.

This ``__init__`` stays import-light so that loading a configuration does not compile kernels.
"""
