"""``archsim device-response``."""

from __future__ import annotations

import argparse

from archsim.errors import ArchsimError

NAME = "device-response"
HELP = "device-response (not built yet)"
DESCRIPTION = "Not built yet: this command arrives with its issue."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER)


def main(args: argparse.Namespace) -> int:
    raise ArchsimError("archsim device-response is not built yet")
