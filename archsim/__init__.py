"""archsim: accuracy, latency and energy of training neural networks on analog in-memory computing chips.

The Python API (:mod:`archsim.api`) is importable from here — ``archsim.load_config``, ``archsim.simulate``,
``archsim.Report``, ``archsim.run_sweep``, ``archsim.load_sweep`` — and is loaded on first use, so that
``import archsim`` stays cheap (command-line start-up and sweep workers import this package first).
"""

__version__ = "0.1.0"

# (not ``archsim.sweep``: that name is the subpackage archsim/sweep/)
_API = ("load_config", "simulate", "Report", "run_sweep", "SweepResult", "SweepRun", "load_sweep")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from archsim import api

        return getattr(api, name)
    raise AttributeError(f"module 'archsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
