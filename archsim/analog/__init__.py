"""The analog tile as a functional object: conductance state, reads through the IO model, pulsed updates.

Public API: :class:`AnalogArray` (one logical weight matrix split over physical tiles), and the statistics
it returns for the cost side, :class:`ReadStats` / :class:`UpdateStats` (lists of per-block
:class:`BlockReadStats` / :class:`BlockUpdateStats` under ``.blocks``).
"""

from archsim.analog.array import AnalogArray, BlockReadStats, BlockUpdateStats, ReadStats, UpdateStats
from archsim.analog.io import IOModel, analog_read

__all__ = ["AnalogArray", "BlockReadStats", "BlockUpdateStats", "ReadStats", "UpdateStats", "IOModel",
           "analog_read"]
