import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=None, timeout=600):
    """Run the real CLI in a subprocess; returns CompletedProcess with text output."""
    return subprocess.run([sys.executable, "-m", "archsim", *map(str, args)], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli
