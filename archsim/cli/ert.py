"""``archsim ert``: print the energy reference table of an architecture."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING

from archsim.cli import add_set_option
from archsim.config.loader import load_hw_config
from archsim.errors import ArchsimError

if TYPE_CHECKING:
    from rich.console import JustifyMethod

NAME = "ert"
HELP = "print the energy reference table (energy and latency per component action) of a hardware file"
DESCRIPTION = """Print one entry per (component, action) of the architecture described by HW: its energy (pJ),
latency (ns), the source of its defaults and the parameters that determine it. For example the ADC's
`convert` action gives the energy of one conversion from the survey fit at the configured bits and sample
rate. When hw.role_devices gives an array role its own device, that role's cell actions follow the
shared ones, named ACTION[ROLE] (e.g. device_pulse[A]) with parameters.role. --json prints a JSON list of
{component, action, energy_pj, latency_ns, source, parameters} and nothing else."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("hw", metavar="HW", help="hardware YAML (a name in hw_configs/ such as isaac_like works)")
    add_set_option(parser, "override one hardware field, e.g. --set adc.bits=6 (repeatable)")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def main(args: argparse.Namespace) -> int:
    from archsim.hw import build_ert

    hw = load_hw_config(args.hw, args.sets)
    try:
        entries = with_role_rows(build_ert(hw), hw)
    except OverflowError:  # a value at the edge of its range drives a cost formula past a float
        raise ArchsimError(
            f"{args.hw}: the configured values make the cost model overflow; expected physically plausible settings"
        ) from None
    for entry in entries:
        for quantity in ("energy_pj", "latency_ns"):
            if not math.isfinite(entry[quantity]):
                raise ArchsimError(
                    f"{args.hw}: {entry['component']}.{entry['action']} {quantity} is "
                    f"{entry[quantity]}; the configured values drive it beyond the range of a "
                    "float (expected physically plausible settings)"
                )
    if args.json:
        json.dump(entries, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Energy reference table: {hw.name} ({hw.clock / 1e9:g} GHz, {hw.tech_node_nm} nm)")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("component", "left"),
        ("action", "left"),
        ("energy (pJ)", "right"),
        ("latency (ns)", "right"),
        ("parameters", "left"),
        ("source", "left"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify, overflow="fold")
    for entry in entries:
        parameters = ", ".join(f"{k}={_short(v)}" for k, v in entry["parameters"].items())
        table.add_row(
            entry["component"],
            entry["action"],
            f"{entry['energy_pj']:.4g}",
            f"{entry['latency_ns']:.4g}",
            parameters,
            entry["source"],
        )
    Console(width=200).print(table)
    return 0


def with_role_rows(entries: list[dict], hw) -> list[dict]:
    """``entries`` with, after the shared array rows, the cell actions of every role whose device
    (``hw.role_devices``) is not ``hw.device``: the engine charges that role's reads and writes with them."""
    from archsim.config.roles import role_device
    from archsim.hw.components import CrossbarModel

    rows = []
    for role, cells in CrossbarModel.by_role(hw).items():
        device = role_device(hw, role)
        if device == hw.device:
            continue
        for action in cells.actions():
            row = action.as_dict()
            row["action"] = f"{row['action']}[{role}]"
            row["parameters"] = {"role": role, "device_model": device.model, **row["parameters"]}
            row["source"] += f" | hw.role_devices.{role}"
            rows.append(row)
    array_rows = [i for i, entry in enumerate(entries) if entry["component"] in ("array_read", "array_write")]
    at = array_rows[-1] + 1 if array_rows else len(entries)
    return entries[:at] + rows + entries[at:]


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
