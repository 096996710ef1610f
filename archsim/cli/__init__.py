"""The ``archsim`` command line: one subcommand per module in this package.

Every subcommand module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``main(args) -> int``.
Errors caused by the user's input (:class:`archsim.errors.ArchsimError`) become one line on stderr
and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import typing

from archsim.errors import ArchsimError, one_line


def add_set_option(
    parser: argparse.ArgumentParser, help: str = "override one field, e.g. --set hw.adc.bits=6 (repeatable)"
) -> None:
    """The repeatable ``--set KEY.PATH=VALUE`` override a command takes (into ``args.sets``); ``help`` says what
    it overrides, with an example."""
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY.PATH=VALUE", help=help)


SUBCOMMANDS = ("run", "sweep", "report", "ert", "device_response", "validate", "config")


class _Parser(argparse.ArgumentParser):
    """argparse with the same one-line ``error:`` form as every other input error (exit status 2)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"error: {self.prog}: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="archsim",
        description="Accuracy, latency and energy of training neural networks on analog in-memory computing "
        "hardware. Run `archsim <command> --help` for each command.",
    )
    from archsim import __version__

    parser.add_argument("--version", action="version", version=f"archsim {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMANDS:
        module = importlib.import_module(f"archsim.cli.{module_name}")
        sub = commands.add_parser(
            module.NAME,
            help=module.HELP,
            description=module.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(handler=module.main)
    return parser


def add_config_arguments(parser: argparse.ArgumentParser, workload: bool = True) -> None:
    """The options shared by commands that resolve a configuration."""
    if workload:
        parser.add_argument(
            "workload",
            nargs="?",
            default=None,
            help="workload YAML (default: workloads/fcn_digits.yaml); a config.resolved.yaml "
            "written by an earlier run also works",
        )
    parser.add_argument("--hw", default=None, help="hardware YAML (default: hw_configs/default.yaml)")
    add_set_option(parser)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except ArchsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `archsim ... | head`: the reader left; stop quietly, as other tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
        return 141


def entry_point() -> None:
    sys.exit(main())
