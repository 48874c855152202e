"""Sampling designs for sweeps: Latin hypercube, Sobol (Saltelli) and Morris, drawn with SALib.

``privmarket sweep SCENARIO --design lhs|sobol|morris --param KEY=LOW:HIGH ... --samples N``
samples points in the box of the parameter ranges and runs each point
``replicates`` times exactly as a grid sweep runs a cell (:mod:`analysis.sweep`:
same task, same output files, same Dask path), so ``privmarket report``
renders it (``privmarket plot`` names that command), and ``privmarket sensitivity`` computes indices
from it (:mod:`analysis.sensitivity`).

Parameters are ranges ``KEY=LOW:HIGH`` (uniform; whole numbers at both ends
make an integer parameter, rounded to the nearest integer) or categorical sets
``KEY=A,B,C`` (values as in ``--grid``; sampled as a uniform index in
``[0, k)``, floored).  Sizes (``--samples N``, ``D`` parameters):

======  ==========================================  ================================
design  SALib sampler                               points
======  ==========================================  ================================
lhs     ``SALib.sample.latin.sample``               N
sobol   ``SALib.sample.sobol.sample`` (second       N (2D + 2); N a power of 2
        order, scrambled Sobol' sequence)
morris  ``SALib.sample.morris.sample`` (4 levels)   N (D + 1); N trajectories
======  ==========================================  ================================

The design is written to ``DIR/design.json``: its kind, seed, sample size, the
parameters, SALib's problem and the sampled matrix (one row per cell), and
the summary table's schema metadata repeats kind, seed and sample size.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
from SALib.sample import latin, morris, sobol

from analysis.distributed import Failure, dask_client
from analysis.sweep import parse_grid
from analysis.sweep_tasks import (SweepTask, collect_failures, is_done, load_summary, run_sweep_tasks, set_overrides,
                                  write_summary)
from scenarios.schema import load

DESIGNS = ("lhs", "sobol", "morris")
#: Morris grid levels (SALib's default).
MORRIS_LEVELS = 4


@dataclass(frozen=True)
class Param:
    """One design parameter: a range ``[low, high]`` (``integer``: rounded) or categorical ``values``."""

    key: str
    low: float = 0.0
    high: float = 1.0
    integer: bool = False
    values: tuple = ()

    @property
    def bounds(self) -> list[float]:
        """SALib bounds: the range, or ``[0, k]`` for an index into ``k`` categories."""
        return [0.0, float(len(self.values))] if self.values else [self.low, self.high]

    def value(self, x: float) -> Any:
        """The scenario value at sampled coordinate ``x``."""
        if self.values:
            return self.values[min(int(math.floor(x)), len(self.values) - 1)]
        return int(round(x)) if self.integer else float(x)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "low": self.low, "high": self.high, "integer": self.integer,
                "values": list(self.values)}


def parse_params(specs: Sequence[str]) -> list[Param]:
    """Parse ``KEY=LOW:HIGH`` ranges and ``KEY=A,B,C`` categorical sets.

    Raises
    ------
    ValueError
        ``"param: ..."`` for a malformed entry, an empty range or a repeated key.
    """
    params: list[Param] = []
    for spec in specs:
        key, sep, text = spec.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key or not text:
            raise ValueError(f"param: {spec!r}: expected KEY=LOW:HIGH or KEY=A,B,C")
        if any(p.key == key for p in params):
            raise ValueError(f"param: {key!r} given twice")
        parts = text.split(":")
        if len(parts) == 2 and not any(c in text for c in "[{\""):
            try:
                low, high = float(parts[0]), float(parts[1])
            except ValueError:
                raise ValueError(f"param: {spec!r}: LOW:HIGH needs two numbers") from None
            if not low < high:
                raise ValueError(f"param: {spec!r}: LOW must be below HIGH")
            integer = all(p.strip().lstrip("+-").isdigit() for p in parts)
            params.append(Param(key, low, high, integer))
            continue
        values = parse_grid([f"{key}={text}"])[key]
        if len(values) < 2:
            raise ValueError(f"param: {spec!r}: a categorical set needs at least two values")
        params.append(Param(key, values=tuple(values)))
    if not params:
        raise ValueError("param: give at least one KEY=LOW:HIGH or KEY=A,B,C")
    return params


def problem(params: Sequence[Param]) -> dict[str, Any]:
    """SALib's problem dict: ``num_vars``, ``names``, ``bounds``."""
    return {"num_vars": len(params), "names": [p.key for p in params], "bounds": [p.bounds for p in params]}


def sample(kind: str, params: Sequence[Param], samples: int, seed: int) -> np.ndarray:
    """The design matrix (one row per point) of ``kind`` from SALib; see the module docstring for sizes.

    Raises
    ------
    ValueError
        For an unknown design, a sample size below 1, or a Sobol base size that is not a power of 2.
    """
    if kind not in DESIGNS:
        raise ValueError(f"design: must be one of {', '.join(DESIGNS)}, got {kind!r}")
    if samples < 1:
        raise ValueError("samples: must be at least 1")
    prob = problem(params)
    if kind == "lhs":
        return latin.sample(prob, samples, seed=seed)
    if kind == "sobol":
        if samples & (samples - 1):
            raise ValueError(f"samples: a Sobol design needs a power of 2, got {samples}")
        return sobol.sample(prob, samples, calc_second_order=True, seed=seed)
    return morris.sample(prob, samples, num_levels=MORRIS_LEVELS, seed=seed)


@dataclass
class Design:
    """A sampled design: ``kind``, ``seed``, ``samples`` (the size argument), ``params`` and the matrix ``x``."""

    kind: str
    seed: int
    samples: int
    params: list[Param]
    x: np.ndarray

    @property
    def points(self) -> list[dict[str, Any]]:
        """The scenario values of each point (cell ``k`` is row ``k`` of ``x``)."""
        return [{p.key: p.value(v) for p, v in zip(self.params, row)} for row in self.x]

    def to_dict(self) -> dict[str, Any]:
        return {"design": self.kind, "seed": self.seed, "samples": self.samples, "points": len(self.x),
                "params": [p.to_dict() for p in self.params], "problem": problem(self.params),
                "x": self.x.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Design:
        params = [Param(d["key"], d["low"], d["high"], d["integer"], tuple(d["values"])) for d in data["params"]]
        return cls(data["design"], int(data["seed"]), int(data["samples"]), params, np.asarray(data["x"], float))


def make_design(kind: str, params: Sequence[Param], samples: int, seed: int = 0) -> Design:
    """Sample a :class:`Design`."""
    return Design(kind, int(seed), int(samples), list(params), sample(kind, params, samples, seed))


@dataclass
class DesignedSweepResult:
    """What a designed sweep produced: the ``design``, the ``summary`` table, runs ``computed`` now, ``failures``."""

    design: Design
    summary: Any
    computed: int
    failures: list[Failure] = field(default_factory=list)
    out_dir: Path | None = None


def designed_sweep(scenario: str | Path | Mapping[str, Any], kind: str, params: Sequence[Param], samples: int, *,
                   out: str | Path, seed: int = 0, replicates: int = 1, rounds: int | None = None,
                   overrides: Sequence[str] = (), client: Any = None, scheduler: str | None = None,
                   n_workers: int | None = None, processes: bool = True, progress: bool = False,
                   tol: float = 0.01) -> DesignedSweepResult:
    """Sample a design and run every point ``replicates`` times on Dask (resumable); see the module docstring.

    Raises
    ------
    ValueError
        For a bad design or parameter, or an output directory holding another sweep.
    scenarios.schema.ScenarioError
        If the scenario or a sampled value is invalid (every point is checked before anything runs).
    """
    if replicates < 1:
        raise ValueError("replicates: must be at least 1")
    design = make_design(kind, params, samples, seed)
    base = load(scenario, list(overrides), rounds=rounds)
    base_dict = base.to_dict()
    points = design.points
    for point in points:  # fail fast on a bad value, before any worker starts
        load(base_dict, set_overrides(point), label=base.source)
    out_dir = Path(out)
    _manifest(out_dir, design, base_dict, replicates)
    tasks = [SweepTask(base_dict, c, r, point, str(out_dir), tol, 0, base.source)
             for c, point in enumerate(points) for r in range(replicates)]
    todo = [t for t in tasks if not is_done(t)]
    if todo:
        with dask_client(scheduler, n_workers, processes, client) as running:
            run_sweep_tasks(running, todo, progress)
    failures = [Failure(f"cell={row.cell}__replicate={row.replicate}", row.reason)
                for row in collect_failures(out_dir).itertuples()]
    summary = load_summary(out_dir)
    info = {"design": design.kind, "design_seed": design.seed, "samples": design.samples,
            "points": len(points), "replicates": replicates}
    write_summary(out_dir, summary, base_dict, **info)
    return DesignedSweepResult(design, summary, len(todo) - len(failures), failures, out_dir)


def _manifest(out_dir: Path, design: Design, scenario: dict[str, Any], replicates: int) -> None:
    """Write ``design.json`` and ``scenario.toml``, or check that the directory holds this very design."""
    data = {**design.to_dict(), "scenario": scenario["name"], "rounds": scenario["rounds"],
            "base_seed": scenario["seed"], "replicates": replicates}
    path = out_dir / "design.json"
    text = tomli_w.dumps(scenario)
    if path.exists():
        same = (out_dir / "scenario.toml").exists() and (out_dir / "scenario.toml").read_text() == text
        if json.loads(path.read_text()) != json.loads(json.dumps(data)) or not same:
            raise ValueError(f"out: {out_dir} holds a different sweep (remove it or choose another directory)")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "scenario.toml").write_text(text)
    path.write_text(json.dumps(data, indent=2) + "\n")


def read_design(out_dir: str | Path) -> tuple[Design, dict[str, Any]]:
    """The :class:`Design` of a designed sweep directory and its whole ``design.json``.

    Raises
    ------
    ValueError
        If the directory holds no designed sweep.
    """
    path = Path(out_dir) / "design.json"
    if not path.is_file():
        raise ValueError(f"{out_dir}: no design.json (not a sweep run with --design)")
    data = json.loads(path.read_text())
    return Design.from_dict(data), data
