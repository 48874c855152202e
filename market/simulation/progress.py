"""Progress bars of long commands, shown only on a terminal.

Every long command (``run``, ``resume``, ``sweep``, ``reproduce``,
``train-auction``) reports progress through :func:`progress_bar`.  The bar is
drawn on standard error only when standard error is a terminal: redirected
to a log file (``privmarket sweep ... 2> sweep.log``), nothing is drawn, so
the log holds no carriage returns, only the lines of the ``logging`` module.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


def on_terminal() -> bool:
    """Whether standard error is an interactive terminal."""
    return sys.stderr.isatty()


def progress_bar(total: int, unit: str, *, initial: int = 0, desc: str | None = None,
                 enabled: bool = True) -> tqdm:
    """A ``tqdm`` bar on standard error, disabled unless ``enabled`` and on a terminal.

    Parameters
    ----------
    total : int
        Number of steps (rounds, runs, stages).
    unit : str
        What a step is, shown after the rate (``"round"``, ``"run"``).
    initial : int
        Steps already done (a resumed run).
    desc : str, optional
        Label in front of the bar.
    enabled : bool
        The caller's wish (e.g. ``progress=True`` of :func:`market.runner.run`).
    """
    return tqdm(total=total, initial=initial, unit=unit, desc=desc, file=sys.stderr, leave=False,
                disable=not (enabled and on_terminal()))
