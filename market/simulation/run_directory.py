"""A run's output directory as a unit: staged, made visible atomically, complete or refused.

``privmarket run ... --out OUT`` never writes into ``OUT`` directly.  Everything (the
scenario, the Parquet chunks, the checkpoints, the merged tables and ``summary.json``) goes
into a staging directory ``.OUT.partial`` beside it (:func:`staging`).  When the run has
finished, the merged tables and the summary are flushed to disk (``fsync``), the chunks and
checkpoints are deleted, and the staging directory replaces ``OUT`` by two renames
(:func:`publish`): a reader sees the previous complete run, or nothing, or the new complete
run, never old and new files together.  ``summary.json`` is the completion marker: it is
written last, and :func:`require_complete` (used by ``privmarket report`` and ``plot``)
refuses a directory without it.

An interrupted run stays in its staging directory, where ``privmarket resume OUT`` finds it.

Fault injection for the kill-anywhere test: with the environment variable
``PRIVMARKET_KILL_AT=NAME:N`` the process kills itself (``SIGKILL``) the N-th time it reaches
the named point (:func:`fault_point`): ``round`` (after a round), ``chunk`` (a chunk file
written, not yet renamed), ``checkpoint.arrays``, ``checkpoint.state``, ``checkpoint.swap``
(between the two renames of a checkpoint), ``merge`` (after each merged table), ``summary``
(after ``summary.json``), ``cleanup`` (chunks and checkpoints deleted) and ``publish``
(between the two renames of the run directory).  Unset, it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

#: Files and folders a run directory may hold (a directory holding anything else is never replaced).
RUN_ENTRIES = frozenset({"model.parquet", "owners.parquet", "events.parquet", "scenario.toml", "summary.json",
                         "report.html", "figures", "chunks", "checkpoint", "checkpoint.new", "checkpoint.old"})
#: The completion marker, written last.
MARKER = "summary.json"
KILL_ENV = "PRIVMARKET_KILL_AT"
_reached: dict[str, int] = {}


class RunDirectoryError(ValueError):
    """An output directory cannot be used, resumed or read; the message is one line."""


def fault_point(name: str) -> None:
    """Kill this process here if ``PRIVMARKET_KILL_AT`` asks for it (test-only; see the module docstring)."""
    wanted = os.environ.get(KILL_ENV)
    if not wanted:
        return
    target, _, count = wanted.partition(":")
    if target != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def staging(out: Path) -> Path:
    """The staging directory of output directory ``out``: ``.NAME.partial`` beside it."""
    out = Path(out)
    return out.parent / f".{out.name}.partial"


def prepare(out: Path) -> Path:
    """Check that ``out`` may receive a run and create a fresh, empty staging directory.

    ``out`` may be missing, an empty directory or a previous run directory (which the new run
    replaces when it finishes).  A previous interrupted run's staging directory is discarded.

    Raises
    ------
    RunDirectoryError
        If ``out`` is a file, a directory with other files, or cannot be created.
    """
    out = Path(out)
    if out.name in ("", ".", ".."):
        raise RunDirectoryError(f"{out}: out: give a directory name, not {str(out)!r}")
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise RunDirectoryError(f"{out}: out: exists and is not a directory")
        foreign = sorted(p.name for p in out.iterdir() if p.name not in RUN_ENTRIES)
        if foreign:
            raise RunDirectoryError(f"{out}: out: not a run directory (holds {', '.join(foreign[:3])}); "
                                    "choose a new or empty directory")
    stage = staging(out)
    try:
        if stage.exists():
            shutil.rmtree(stage)
        stage.mkdir(parents=True)
    except OSError as exc:
        raise RunDirectoryError(f"{out}: out: cannot create the output directory ({exc.strerror})") from None
    return stage


def fsync_file(path: Path) -> None:
    """Flush a file's contents to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (renames, new files) to disk."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a directory
        pass
    finally:
        os.close(fd)


def replace_durably(tmp: Path, dest: Path) -> None:
    """Flush ``tmp`` to disk and rename it over ``dest`` (a reader sees the old or the new file)."""
    fsync_file(tmp)
    os.replace(tmp, dest)
    fsync_dir(dest.parent)


def write_text_durably(path: Path, text: str) -> None:
    """Write a text file through a temporary name, flushed, then renamed."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    replace_durably(tmp, path)


def publish(stage: Path, out: Path) -> None:
    """Make the finished staging directory visible as ``out`` (replacing a previous run)."""
    out = Path(out)
    fsync_dir(stage)
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    fault_point("publish")
    stage.rename(out)
    fsync_dir(out.parent)
    shutil.rmtree(old, ignore_errors=True)


def finish_publish(out: Path) -> bool:
    """Complete a publication cut short between its two renames; True if there was one to finish."""
    out = Path(out)
    stage = staging(out)
    if not (stage / MARKER).is_file():
        return False
    for leftover in ("chunks", "checkpoint", "checkpoint.new", "checkpoint.old"):
        shutil.rmtree(stage / leftover, ignore_errors=True)
    for old in out.parent.glob(f".{out.name}.old-*"):
        shutil.rmtree(old, ignore_errors=True)
    publish(stage, out)
    return True


def is_complete(directory: Path) -> bool:
    """Whether ``directory`` is a complete run: its completion marker and tables are there."""
    directory = Path(directory)
    return all((directory / name).is_file() for name in (MARKER, "model.parquet", "scenario.toml"))


def require_complete(directory: Path) -> None:
    """Refuse an incomplete run directory (interrupted, failed or being written).

    Raises
    ------
    RunDirectoryError
        Naming what is missing and how to proceed.
    """
    directory = Path(directory)
    if is_complete(directory):
        return
    if staging(directory).is_dir():
        raise RunDirectoryError(f"{directory}: {MARKER}: the run is incomplete (interrupted or still running); "
                                f"finish it with: privmarket resume {directory}")
    missing = next(n for n in (MARKER, "model.parquet", "scenario.toml") if not (directory / n).is_file())
    raise RunDirectoryError(f"{directory}: {missing}: missing; not a complete run directory")
