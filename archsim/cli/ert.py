"""``archsim ert``."""

from __future__ import annotations

import argparse

from archsim.errors import ArchsimError

NAME = "ert"
HELP = "ert (not built yet)"
DESCRIPTION = "Not built yet: this command arrives with its issue."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER)


def main(args: argparse.Namespace) -> int:
    raise ArchsimError("archsim ert is not built yet")
