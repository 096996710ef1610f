"""Calling the ``archsim`` command line in-process (no interpreter start-up: ~100x cheaper than a subprocess)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

from archsim.cli import main

#: Longest error line any input may produce (characters); archsim.errors cuts messages at 600.
MAX_ERROR_CHARS = 700


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_inprocess(*argv) -> CliResult:
    """Run ``archsim *argv`` in this process; argparse usage errors (exit status 2) are returned, not raised."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return CliResult(code, out.getvalue(), err.getvalue())


def one_error_line(result: CliResult) -> str:
    """Assert exit status 2 with exactly one short ``error:`` line and no traceback; return the line."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert len(lines[0]) <= MAX_ERROR_CHARS, len(lines[0])
    return lines[0]
