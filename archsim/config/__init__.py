"""Typed, unit-aware, strictly validated configuration (see :mod:`archsim.config.loader`)."""

from archsim.config.hw import HwConfig
from archsim.config.loader import RunConfig, load_hw_config, load_run_config, resolved_yaml, write_resolved
from archsim.config.schema import to_plain
from archsim.config.units import format_quantity, parse_quantity

__all__ = [
    "HwConfig",
    "RunConfig",
    "format_quantity",
    "load_hw_config",
    "load_run_config",
    "parse_quantity",
    "resolved_yaml",
    "to_plain",
    "write_resolved",
]
