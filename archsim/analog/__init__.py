"""The analog tile as a functional object: conductance state, reads through the IO model, pulsed updates.

Public API: :class:`AnalogArray` (one logical weight matrix split over physical tiles), and the statistics
it returns for the cost side, :class:`ReadStats` / :class:`UpdateStats` (lists of per-block
:class:`BlockReadStats` / :class:`BlockUpdateStats` under ``.blocks``).

The names load lazily so that the cost side can import :mod:`archsim.analog.io` (the home of the read
path's input resolution and passes) without the numba device kernels.
"""

import importlib

_HOMES = {
    "AnalogArray": "array",
    "BlockReadStats": "array",
    "BlockUpdateStats": "array",
    "ReadStats": "array",
    "UpdateStats": "array",
    "IOModel": "io",
    "analog_read": "io",
}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"archsim.analog.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'archsim.analog' has no attribute {name!r}")


__all__ = ["AnalogArray", "BlockReadStats", "BlockUpdateStats", "ReadStats", "UpdateStats", "IOModel", "analog_read"]
