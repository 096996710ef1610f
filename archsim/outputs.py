"""Output folders that are written completely or not at all.

A command that writes a folder of results (``archsim run --out``, ``archsim report --out``) claims it
before any work starts, writes every file into a hidden sibling folder, and swaps that folder in only
when all files are written. So an unwritable destination is reported before the work instead of after
it, and an interrupted or failed write never leaves a mix of old and new files: the folder holds either
the previous outputs or the new ones. Files in the folder that archsim did not write this time (a
user's notes, say) are carried over; earlier outputs this run does not write (a ``trace.json`` of an
earlier ``--trace`` run) are not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import typing
from pathlib import Path

from archsim.errors import ArchsimError

#: Every file name archsim writes into an output folder; older copies of these are never carried over.
ARCHSIM_OUTPUTS = frozenset(
    {
        "report.json",
        "config.resolved.yaml",
        "epochs.csv",
        "trace.json",
        "training_curve.png",
        "energy_per_step.png",
        "latency_per_step.png",
        "points.csv",
        "pareto.csv",
    }
)
_STAGING_MARK = ".archsim-partial-"
_OLD_MARK = ".archsim-old-"


def _is_archsim_output(name: str) -> bool:
    return name in ARCHSIM_OUTPUTS or (name.startswith("pareto_") and name.endswith(".png"))


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


@contextlib.contextmanager
def atomic_file(path: str | Path, option: str) -> typing.Iterator[Path]:
    """Yield a temporary name beside ``path`` (same suffix) to write; rename it onto ``path`` on success.

    A failed or interrupted write leaves ``path`` as it was (absent, or the previous file).
    """
    path = Path(path)
    check_parents(option, path)
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.stem}{_STAGING_MARK}", suffix=path.suffix, dir=path.parent)
        os.close(handle)
    except OSError as exc:
        raise ArchsimError(f"{option}: cannot write into {path.parent}: {_reason(exc)}") from None
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as exc:
        raise ArchsimError(f"{option}: cannot write {path}: {_reason(exc)}") from None
    finally:
        temporary.unlink(missing_ok=True)


def check_parents(option: str, path: Path) -> None:
    """Fail with a one-line error when an existing ancestor of ``path`` is a file (``afile/sub``)."""
    for parent in Path(path).parents:
        if parent.exists():
            if not parent.is_dir():
                raise ArchsimError(f"{option}: cannot create {path}: {parent} is a file, not a folder")
            return


class OutputFolder:
    """A folder written atomically: :meth:`open` up front, write into :attr:`staging`, then :meth:`commit`.

    Use as a context manager: leaving it with an exception discards the staged files and leaves the
    destination as it was. ``option`` names the command-line option in error messages.
    """

    def __init__(self, target: str | Path, option: str = "--out"):
        self.target = Path(target)
        self.option = option
        self.staging: Path | None = None

    def fail(self, what: str) -> ArchsimError:
        return ArchsimError(f"{self.option}: {what}")

    def open(self) -> Path:
        """Check the destination and create the staging folder beside it; returns the staging folder."""
        target = self.target
        if target.exists() and not target.is_dir():
            raise self.fail(f"{target} is a file; expected a folder for the outputs")
        check_parents(self.option, target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.staging = Path(tempfile.mkdtemp(prefix=f".{target.name}{_STAGING_MARK}", dir=target.parent))
        except OSError as exc:
            raise self.fail(f"cannot write into {target.parent}: {_reason(exc)}") from None
        return self.staging

    def commit(self) -> None:
        """Swap the staged files in as the destination folder (carrying over files archsim did not write)."""
        assert self.staging is not None, "open() first"
        target = self.target
        old: Path | None = None
        try:
            if target.exists():
                if not target.is_dir():
                    raise self.fail(f"{target} became a file while the outputs were written")
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}{_OLD_MARK}", dir=target.parent))
                os.rename(target, old / "previous")  # one rename: target is gone, its files are intact
                old_files = old / "previous"
            os.rename(self.staging, target)
        except OSError as exc:
            if old is not None and not target.exists() and (old / "previous").exists():
                os.rename(old / "previous", target)  # put the previous outputs back
            raise self.fail(f"cannot replace {target}: {_reason(exc)}; its previous contents are unchanged") from None
        finally:
            if self.staging is not None and self.staging.exists():
                shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        if old is not None:
            stranded = False
            for entry in old_files.iterdir():
                if not _is_archsim_output(entry.name) and not (target / entry.name).exists():
                    try:
                        os.rename(entry, target / entry.name)
                    except OSError:
                        stranded = True  # never delete a file archsim did not write: keep the old folder
            if not stranded:
                shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None

    def __enter__(self) -> Path:
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.commit()
            finally:
                self.discard()
        else:
            self.discard()

    def write_error(self, exc: OSError) -> ArchsimError:
        """The one-line error for a failed write of the staged files (the destination is unchanged)."""
        return self.fail(
            f"cannot write the outputs for {self.target}: {_reason(exc)}; its previous contents are unchanged"
        )
