"""``archsim validate``: check configuration files without running anything."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from archsim.cli import add_set_option
from archsim.config.hw import HwConfig
from archsim.config.loader import (
    HW_DIR,
    WORKLOAD_SECTIONS,
    find_file,
    load_hw_config,
    load_run_config,
    read_yaml_mapping,
)

NAME = "validate"
HELP = "check hardware and workload YAML files"
DESCRIPTION = """Check hardware (hw_configs/) and workload (workloads/) files: every key known, every value
of the right type, unit and range. A file whose keys are hardware fields is checked as a hardware
description; any other as a workload on the default hardware. Prints one line per valid file; the first
problem is reported as `error: <file>: <key.path>: <what is expected>` with exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", help="YAML files to check")
    parser.add_argument("--hw", default=None, help="hardware YAML to check workloads against")
    add_set_option(parser, "override one field while checking (repeatable)")


def is_hw_file(path: Path, seen: int = 0) -> bool:
    """A hardware file lives in hw_configs/, or has hardware keys and none of a workload's sections."""
    if path.parent.name == HW_DIR:
        return True
    data = read_yaml_mapping(path)
    keys = set(data) - {"base"}
    if not keys and isinstance(data.get("base"), str) and seen < 32:
        return is_hw_file(path.parent / data["base"], seen + 1)
    hw_keys = {f.name for f in fields(HwConfig)}
    return bool(keys & hw_keys) and not (keys & set(WORKLOAD_SECTIONS))


def main(args: argparse.Namespace) -> int:
    for name in args.files:
        path = find_file(name, HW_DIR)
        if not path.exists():
            path = Path(name)
        if path.exists() and is_hw_file(path):
            load_hw_config(path, args.sets)
            print(f"ok: {name} (hardware)")
        else:
            load_run_config(name, args.hw, args.sets)
            print(f"ok: {name} (workload)")
    return 0
