"""``archsim sweep``."""

from __future__ import annotations

import argparse

from archsim.errors import ArchsimError

NAME = "sweep"
HELP = "sweep (not built yet)"
DESCRIPTION = "Not built yet: this command arrives with its issue."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER)


def main(args: argparse.Namespace) -> int:
    raise ArchsimError("archsim sweep is not built yet")
