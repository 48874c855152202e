"""Scenario files: loading, command-line overrides and validation.

A scenario is a TOML file (see ``README.md`` for the format).  Built-in
scenarios live in ``scenarios/builtin`` and are found by name.  Loading a
scenario validates every key and value, fills in defaults, and returns a
:class:`Scenario` whose :meth:`Scenario.to_dict` is the fully resolved
scenario written next to every run's output.

Every user mistake raises :class:`ScenarioError` with a one-line message that
names the file and the key, e.g.::

    quickstart.toml: population.types[0].sensitivity: negative sensitivity (-0.5)
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from market.core.decision_rule import DecisionRule
from market.core.mechanism import Mechanism
from market.core.network import KINDS as NETWORK_KINDS, NETWORK_KEYS
from market.core.population import (
    CORE_ATTRIBUTES,
    DISTRIBUTIONS,
    DRIFT_KEYS,
    OPTIONAL_DIST_PARAMS,
    draw,
    empirical_values,
)
from market.registry import MECHANISMS, RULES
from market.registry import PLATFORM_LEARNERS as LEARNERS
from market.rules.mixed import MixedRules
from scenarios.platform import PLATFORM_KEYS, check_values

BUILTIN_PACKAGE = "scenarios.builtin"
REVISIONS = ("synchronous", "sequential", "asynchronous")
TOP_KEYS = ("name", "description", "rounds", "seed", "population", "mechanism", "decision",
            "buyers", "churn", "output", "network", "drift", "platform")
DECISION_KEYS = {"rule": "best_response", "revision": "synchronous", "revisions_per_round": 1,
                 "clock_rate": 1.0, "inertia": 0.0}
BUYER_KEYS = {"initial": 0, "arrival_rate": 0.0, "budget": 10.0, "valuation": 1.0,
              "stay": {"dist": "exponential", "scale": 20.0}, "strategy": {}}
#: ``[buyers.strategy]`` keys besides the decision rule's parameters.
STRATEGY_KEYS = ("rule", "spend", "initial_spend")
#: Rules that need the owners' social graph, which buyers do not have.
NETWORK_RULES = ("imitation",)
CHURN_KEYS = {"leave_rate": 0.0, "join_rate": 0.0, "newcomers": []}
#: Most rounds a scenario may ask for (a billion rounds of one owner already take days).
MAX_ROUNDS = 10**9
#: Largest product of the drift schedule's factors (sensitivities stay far from overflow).
MAX_DRIFT = 1e100
#: Draws of the overflow probe of every distribution (:func:`_probe`).
PROBE_DRAWS = 4096
OUTPUT_KEYS = {"owner_every": 1, "owner_sample": 0, "checkpoint_every": 0, "measures_every": 1}


class ScenarioError(ValueError):
    """A scenario (or an override of it) is invalid; the message is one line."""


@dataclass
class Scenario:
    """A validated scenario with every default filled in.

    Attributes
    ----------
    name, description : str
        Identification shown by ``privmarket list``.
    rounds : int
        Number of rounds to simulate.
    seed : int
        Seed of every random stream of the run.
    population : dict
        ``owners`` and ``types`` (a mixture), or ``owner`` (an explicit list),
        and ``initial_action``.
    mechanism : Mechanism
        The platform's mechanism, built from the ``[mechanism]`` table.
    rule : DecisionRule
        The owners' decision rule, built from the ``[decision]`` table.
    decision, buyers, churn, output : dict
        The remaining tables with defaults filled in.
    source : str
        The file the scenario came from (for messages).
    platform : dict
        The resolved ``[platform]`` table of a learning platform (empty: the
        platform posts fixed parameters; :mod:`scenarios.platform`).
    platform_params : object or None
        The learning algorithm's ``Params``.
    buyer_rule_params : object or None
        The strategic buyers' decision rule's ``Params`` (``[buyers.strategy]``;
        :mod:`agents.buyer_strategy`).
    """

    name: str
    description: str
    rounds: int
    seed: int
    population: dict[str, Any]
    mechanism: Mechanism
    rule: DecisionRule
    decision: dict[str, Any]
    buyers: dict[str, Any]
    churn: dict[str, Any]
    output: dict[str, Any]
    source: str = "scenario.toml"
    raw_mechanism: dict[str, Any] = field(default_factory=dict)
    network: dict[str, Any] = field(default_factory=lambda: dict(NETWORK_KEYS))
    drift: dict[str, Any] = field(default_factory=lambda: dict(DRIFT_KEYS))
    platform: dict[str, Any] = field(default_factory=dict)
    platform_params: Any = None
    buyer_rule_params: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The resolved scenario as a TOML-ready dict (defaults included)."""
        mech = {"name": self.mechanism.name}
        mech.update(_plain(dataclasses.asdict(self.mechanism.params)))
        decision = dict(self.decision)
        # a mixed population's rules come back from its types; [decision] keeps the default rule's parameters
        rule = self.rule.rules[0] if isinstance(self.rule, MixedRules) else self.rule
        decision.update(_plain(dataclasses.asdict(rule.params)))
        out = {
            "name": self.name, "description": self.description,
            "rounds": self.rounds, "seed": self.seed,
            "population": _plain(self.population), "mechanism": mech, "decision": decision,
            "buyers": _plain(self._buyers()), "churn": _plain(self.churn), "output": _plain(self.output),
            "network": _plain(self.network), "drift": _plain(self.drift),
        }
        if self.platform:
            table = {k: v for k, v in self.platform.items() if v is not None}
            table.update(_plain(dataclasses.asdict(self.platform_params)))
            out["platform"] = _plain(table)
        return out


    def _buyers(self) -> dict[str, Any]:
        """The buyers table; the strategy table only for strategic buyers, with its rule's parameters."""
        out = {k: v for k, v in self.buyers.items() if k != "strategy"}
        if self.buyers["strategy"]:
            out["strategy"] = dict(self.buyers["strategy"]) | dataclasses.asdict(self.buyer_rule_params)
        return out


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively (TOML has no tuples)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def builtin_names() -> list[str]:
    """Names of the built-in scenarios, sorted."""
    folder = resources.files(BUILTIN_PACKAGE)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def builtin_descriptions() -> dict[str, str]:
    """``{name: one-line description}`` of every built-in scenario."""
    out = {}
    for name in builtin_names():
        raw = tomllib.loads(resources.files(BUILTIN_PACKAGE).joinpath(f"{name}.toml").read_text())
        out[name] = str(raw.get("description", ""))
    return out


def read_raw(name_or_path: str | Path) -> tuple[dict[str, Any], str]:
    """Read a scenario by built-in name or file path; return ``(raw dict, label)``."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ScenarioError(f"{path}: no such scenario file")
        label = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ScenarioError(f"{label}: not valid UTF-8 (byte {exc.start})") from None
        except OSError as exc:
            raise ScenarioError(f"{label}: cannot read the scenario ({exc.strerror})") from None
    else:
        name = str(name_or_path)
        if name not in builtin_names():
            raise ScenarioError(unknown_scenario(name))
        text = resources.files(BUILTIN_PACKAGE).joinpath(f"{name}.toml").read_text()
        label = f"{name}.toml"
    try:
        return tomllib.loads(text), label
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{label}: not valid TOML ({exc})") from None


def unknown_scenario(name: str) -> str:
    """The message for a scenario name that is neither built in nor a file: the closest names, not all."""
    names = builtin_names()
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return (f"{name}: unknown scenario ({hint}`privmarket list` shows all {len(names)} built-in ones; "
            "or give a .toml path)")


def apply_overrides(raw: dict[str, Any], overrides: list[str], label: str) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides; values are parsed as TOML (else a string).

    List elements are addressed by index: ``population.types.0.share=0.5``.
    """
    for item in overrides:
        if "=" not in item:
            raise ScenarioError(f"{label}: --set {item}: expected KEY=VALUE")
        key, text = item.split("=", 1)
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        parts = key.strip().split(".")
        node: Any = raw
        for i, part in enumerate(parts[:-1]):
            node = _child(node, part, ".".join(parts[: i + 1]), label, create=True)
        last = parts[-1]
        if not isinstance(node, (dict, list)):
            raise ScenarioError(f"{label}: {'.'.join(parts[:-1])}: is not a table (cannot set {key})")
        if isinstance(node, list):
            node[_index(node, last, key, label)] = value
        else:
            node[last] = value
    return raw


def _index(node: list, part: str, key: str, label: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ScenarioError(f"{label}: {key}: no list element {part!r}")
    return int(part)


def _child(node: Any, part: str, key: str, label: str, create: bool) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, key, label)]
    if not isinstance(node, dict):
        raise ScenarioError(f"{label}: {key}: is not a table")
    if part not in node and create:
        node[part] = {}
    return node[part]


def load(name_or_path: str | Path | Mapping[str, Any], overrides: list[str] | None = None,
         *, label: str | None = None, **fields: Any) -> Scenario:
    """Load, override and validate a scenario.

    Parameters
    ----------
    name_or_path : str, path or mapping
        A built-in scenario name, a ``.toml`` path, or an already-parsed dict.
    overrides : list of str, optional
        ``key.path=value`` strings, as given to ``--set``.
    label : str, optional
        The file named in error messages.  Default: the file read, or for a
        dict the built-in file of its ``name`` (``quickstart.toml``); pass
        :attr:`Scenario.source` when reloading a resolved scenario's dict.
    **fields
        Top-level values to override (``rounds=...``, ``seed=...``); ``None`` is ignored.

    Raises
    ------
    ScenarioError
        On any invalid key or value; the message names the file and key.
    """
    if isinstance(name_or_path, Mapping):
        raw = _deepcopy(name_or_path)
        label = label or dict_label(raw)
    else:
        raw, read_label = read_raw(name_or_path)
        label = label or read_label
    raw = apply_overrides(raw, overrides or [], label)
    raw.update({k: v for k, v in fields.items() if v is not None})
    return validate(raw, label)


def dict_label(raw: Mapping[str, Any]) -> str:
    """The file label of a scenario given as a dict: ``<name>.toml`` (its file, when built in)."""
    return f"{raw.get('name') or 'scenario'}.toml"


def _deepcopy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deepcopy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_deepcopy(v) for v in value]
    return value


def validate(raw: dict[str, Any], label: str | None = None) -> Scenario:
    """Validate a parsed scenario dict and build the :class:`Scenario` (errors name ``label``)."""
    label = label or dict_label(raw)
    def fail(key: str, problem: str) -> ScenarioError:
        return ScenarioError(f"{label}: {key}: {problem}")

    _known(raw, TOP_KEYS, "", fail)
    for key in ("population", "mechanism"):
        if not isinstance(raw.get(key), dict):
            raise fail(key, "missing table")
    name = _name(raw.get("name", Path(label).stem), fail)
    rounds = _number(raw.get("rounds", 100), "rounds", fail, integer=True, minimum=1, maximum=MAX_ROUNDS)
    seed = _number(raw.get("seed", 0), "seed", fail, integer=True, minimum=0, maximum=2**63 - 1)
    mechanism = _build_mechanism(raw["mechanism"], fail)
    decision, rule = _build_rule(raw.get("decision", {}), mechanism, fail)
    population = _population(raw["population"], mechanism, fail)
    buyers = _table(raw.get("buyers", {}), BUYER_KEYS, "buyers", fail)
    for key in ("initial",):
        _number(buyers[key], f"buyers.{key}", fail, integer=True, minimum=0)
    _number(buyers["arrival_rate"], "buyers.arrival_rate", fail, minimum=0)
    for key in ("budget", "valuation", "stay"):
        _spec(buyers[key], f"buyers.{key}", fail, nonnegative=True)
    buyers["strategy"], buyer_rule_params = _strategy(buyers["strategy"], mechanism, fail)
    churn = _table(raw.get("churn", {}), CHURN_KEYS, "churn", fail)
    _number(churn["leave_rate"], "churn.leave_rate", fail, minimum=0, maximum=1)
    _number(churn["join_rate"], "churn.join_rate", fail, minimum=0)
    if churn["newcomers"] != []:
        churn["newcomers"] = _types(churn["newcomers"], "churn.newcomers", mechanism, fail)
    n_owners = population.get("owners", sum(o["count"] for o in population.get("owner", [])))
    _check_memory(int(n_owners), "population.owners" if "owners" in population else "population.owner", fail)
    try:
        mechanism.check_population(int(n_owners), churn["leave_rate"] > 0 or churn["join_rate"] > 0)
    except ValueError as exc:
        raise fail("mechanism", str(exc)) from None
    rule = _mixed_rules(rule, population.get("types", []) + churn["newcomers"], mechanism)
    network = _network(raw.get("network", {}), fail)
    drift = _drift(raw.get("drift", {}), fail)
    platform, platform_params = _platform(raw.get("platform", {}), mechanism, fail)
    output = _table(raw.get("output", {}), OUTPUT_KEYS, "output", fail)
    for key in OUTPUT_KEYS:
        _number(output[key], f"output.{key}", fail, integer=True, minimum=0)
    if output["measures_every"] < 1:
        raise fail("output.measures_every", "must be at least 1 (measure every k-th round)")
    return Scenario(
        name=name, description=str(raw.get("description", "")),
        rounds=int(rounds), seed=int(seed), population=population, mechanism=mechanism,
        rule=rule, decision=decision, buyers=buyers, churn=churn, output=output, source=label,
        network=network, drift=drift, platform=platform, platform_params=platform_params,
        buyer_rule_params=buyer_rule_params,
    )


def _strategy(given: Any, mechanism: Mechanism, fail) -> tuple[dict[str, Any], Any]:
    """Validate ``[buyers.strategy]``, the strategic buyers' rule and spends (:mod:`agents.buyer_strategy`)."""
    if not isinstance(given, dict):
        raise fail("buyers.strategy", "must be a table")
    if not given:
        return {}, None
    if not mechanism.strategic_buyers:
        raise fail("buyers.strategy", f"the {mechanism.name} mechanism does not let buyers choose their spend")
    rule = given.get("rule")
    if rule not in RULES or rule in NETWORK_RULES:
        known = ", ".join(sorted(r for r in RULES if r not in NETWORK_RULES))
        raise fail("buyers.strategy.rule", f"unknown or unsuitable buyer rule {rule!r} (known: {known})")
    spend = given.get("spend")
    if not isinstance(spend, list) or len(spend) < 2:
        raise fail("buyers.strategy.spend", f"expected a list of at least two spends, got {spend!r}")
    for v in spend:
        _number(v, "buyers.strategy.spend", fail, minimum=0)
    if any(b <= a for a, b in zip(spend, spend[1:])):
        raise fail("buyers.strategy.spend", "must be strictly increasing")
    if "initial_spend" in given and given["initial_spend"] not in spend:
        raise fail("buyers.strategy.initial_spend", f"must be one of the spends, got {given['initial_spend']!r}")
    cls = RULES[rule]
    own = {k: v for k, v in given.items() if k not in STRATEGY_KEYS}
    params = _params(cls.Params, own, "buyers.strategy", fail)
    if getattr(params, "information", "global") != "global":
        raise fail("buyers.strategy.information", "buyers have no social graph: only \"global\"")
    table = {k: given[k] for k in STRATEGY_KEYS if k in given}
    table.setdefault("initial_spend", given["spend"][(len(given["spend"]) - 1) // 2])
    return table, params


def _platform(given: Any, mechanism: Mechanism, fail) -> tuple[dict[str, Any], Any]:
    """Validate the ``[platform]`` table of a learning platform (:mod:`scenarios.platform`)."""
    if not isinstance(given, dict):
        raise fail("platform", "must be a table")
    if not given:
        return {}, None
    algorithm = given.get("algorithm", PLATFORM_KEYS["algorithm"])
    if algorithm not in LEARNERS:
        raise fail("platform.algorithm", f"unknown algorithm {algorithm!r} (known: {', '.join(LEARNERS)})")
    cls = LEARNERS[algorithm]
    own = {f.name for f in dataclasses.fields(cls.Params)}
    _known(given, list(PLATFORM_KEYS) + sorted(own), "platform.", fail)
    table = dict(PLATFORM_KEYS)
    table.update(given)
    _number(table["update_every"], "platform.update_every", fail, integer=True, minimum=1)
    _number(table["regret_points"], "platform.regret_points", fail, integer=True, minimum=2)
    if not isinstance(table["regret"], bool):
        raise fail("platform.regret", f"expected true or false, got {table['regret']!r}")
    params = _params(cls.Params, {k: v for k, v in given.items() if k in own}, "platform", fail)
    try:
        cls(params)
        check_values(table, mechanism)
    except ValueError as exc:
        key, _, problem = str(exc).partition(": ")
        raise fail(f"platform.{key}", problem) from None
    return {k: v for k, v in table.items() if k in PLATFORM_KEYS}, params


#: A lower bound of the memory one owner needs (its arrays and the per-round candidate utilities; owners
#: have no per-owner Python object), in bytes: measured 89 B live and 163 B at the peak of a round per
#: owner (quickstart, 10^6 owners, benchmarks/bench_memory.py).  A population that cannot fit even at
#: this bound is refused before anything is allocated (a MemoryError would otherwise end in a traceback).
BYTES_PER_OWNER = 128


def _name(value: Any, fail) -> str:
    """A scenario name: it names the default output directory ``runs/<name>-seed<seed>``,
    so it may not hold a path separator or start with a dot (``../../x`` would escape ``runs/``)."""
    if not isinstance(value, str) or not value.strip():
        raise fail("name", f"expected a non-empty string, got {value!r}")
    if any(c in value for c in "/\\\0") or value.startswith("."):
        raise fail("name", f"must not contain a path separator or start with a dot, got {value!r}")
    return value


def _check_memory(n_owners: int, key: str, fail) -> None:
    """Refuse a population whose owner arrays alone exceed this machine's memory."""
    try:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    need = n_owners * BYTES_PER_OWNER
    if need > available:
        raise fail(key, f"{n_owners} owners need at least {need / 2**30:.3g} GiB of memory; "
                        f"this machine has {available / 2**30:.3g} GiB")


def _network(given: Any, fail) -> dict[str, Any]:
    """Validate the ``[network]`` table (social graph; see :mod:`market.core.network`)."""
    net = _table(given, NETWORK_KEYS, "network", fail)
    if net["kind"] not in NETWORK_KINDS:
        raise fail("network.kind", f"unknown kind {net['kind']!r} (known: {', '.join(NETWORK_KINDS)})")
    _number(net["p"], "network.p", fail, minimum=0, maximum=1)
    _number(net["rewire"], "network.rewire", fail, minimum=0, maximum=1)
    for key in ("k", "m"):
        _number(net[key], f"network.{key}", fail, integer=True, minimum=1)
    _number(net["attach"], "network.attach", fail, integer=True, minimum=0)
    if not isinstance(net["file"], str):
        raise fail("network.file", f"expected a path string, got {net['file']!r}")
    if net["kind"] == "file" and not Path(net["file"]).is_file():
        raise fail("network.file", f"no such graph file {net['file']!r}")
    return net


def _drift(given: Any, fail) -> dict[str, Any]:
    """Validate the ``[drift]`` table (sensitivity drift; see :func:`market.core.population.drift`)."""
    drift = _table(given, DRIFT_KEYS, "drift", fail)
    _number(drift["random_walk_sd"], "drift.random_walk_sd", fail, minimum=0)
    schedule = drift["schedule"]
    if not isinstance(schedule, list):
        raise fail("drift.schedule", "expected a list of [round, factor] pairs")
    for i, pair in enumerate(schedule):
        if not isinstance(pair, list) or len(pair) != 2:
            raise fail(f"drift.schedule[{i}]", f"expected [round, factor], got {pair!r}")
        _number(pair[0], f"drift.schedule[{i}]", fail, integer=True, minimum=1)
        _number(pair[1], f"drift.schedule[{i}]", fail, minimum=0)
    if not math.isfinite(math.prod(pair[1] for pair in schedule)) or \
            math.prod(pair[1] for pair in schedule) > MAX_DRIFT:
        raise fail("drift.schedule", f"the factors multiply to more than {MAX_DRIFT:g} (sensitivities would overflow)")
    return drift


def _known(table: Mapping[str, Any], allowed: Any, prefix: str, fail) -> None:
    for key in table:
        if key not in allowed:
            where = f"{prefix}{key}"
            raise fail(where, f"unknown key (allowed: {', '.join(allowed)})")


def _table(given: Any, defaults: dict[str, Any], name: str, fail) -> dict[str, Any]:
    if not isinstance(given, dict):
        raise fail(name, "must be a table")
    _known(given, defaults, f"{name}.", fail)
    out = dict(defaults)
    out.update(given)
    return out


def _number(value: Any, key: str, fail, integer: bool = False, minimum: float | None = None,
            maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(key, f"expected a number, got {value!r}")
    if integer and not float(value).is_integer():
        raise fail(key, f"expected a whole number, got {value!r}")
    if not math.isfinite(value):
        raise fail(key, f"expected a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise fail(key, f"must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise fail(key, f"must be <= {maximum}, got {value!r}")
    return value


def _spec(spec: Any, key: str, fail, nonnegative: bool = False) -> None:
    """Validate a number or a named-distribution table."""
    if not isinstance(spec, Mapping):
        _number(spec, key, fail, minimum=0 if nonnegative else None)
        if nonnegative and spec < 0:
            raise fail(key, f"must be non-negative, got {spec!r}")
        return
    name = spec.get("dist")
    if not isinstance(name, str) or name not in DISTRIBUTIONS:
        raise fail(f"{key}.dist", f"unknown distribution {name!r} (known: {', '.join(DISTRIBUTIONS)})")
    _, params = DISTRIBUTIONS[name]
    optional = OPTIONAL_DIST_PARAMS.get(name, ())
    _known({k: v for k, v in spec.items() if k != "dist"}, params, f"{key}.", fail)
    for p in params:
        if p not in spec and p not in optional:
            raise fail(f"{key}.{p}", f"missing parameter of the {name} distribution")
    if name == "empirical":
        for p in params:
            if not isinstance(spec[p], str):
                raise fail(f"{key}.{p}", f"expected a string, got {spec[p]!r}")
        try:
            values = empirical_values(spec["file"], spec["column"])
        except ValueError as exc:
            raise fail(key, str(exc)) from None
        if nonnegative and values.min() < 0:
            raise fail(key, f"column {spec['column']!r} has negative values; this attribute must be non-negative")
        return
    if name == "choice":
        values = spec["values"]
        if not isinstance(values, list) or not values:
            raise fail(f"{key}.values", "expected a non-empty list")
        for v in values:
            _number(v, f"{key}.values", fail, minimum=0 if nonnegative else None)
        if "p" in spec:
            _probabilities(spec["p"], len(values), f"{key}.p", fail)
        return
    for p in params:
        _number(spec[p], f"{key}.{p}", fail)
    checks = {"uniform": spec.get("low", 0) <= spec.get("high", 0),
              "normal": spec.get("sd", 0) >= 0, "lognormal": spec.get("sigma", 0) >= 0,
              "exponential": spec.get("scale", 1) > 0, "pareto": spec.get("shape", 1) > 0
              and spec.get("scale", 1) > 0, "beta": spec.get("a", 1) > 0 and spec.get("b", 1) > 0}
    if not checks.get(name, True):
        raise fail(key, f"invalid parameters for the {name} distribution")
    if nonnegative and ((name == "uniform" and spec["low"] < 0) or name == "normal"
                        or (name == "constant" and spec["value"] < 0)):
        raise fail(key, "can be negative; this attribute must be non-negative")
    _probe(spec, key, fail)


def _probe(spec: Mapping[str, Any], key: str, fail) -> None:
    """Draw a sample with a fixed seed: a distribution that overflows (``lognormal`` with
    ``mean = 800``, ``exponential`` with ``scale = 1e308``) is refused here, where it enters."""
    with np.errstate(all="ignore"):
        try:
            sample = draw(spec, PROBE_DRAWS, np.random.default_rng(0))
        except (ValueError, OverflowError) as exc:
            raise fail(key, f"invalid parameters for the {spec['dist']} distribution ({exc})") from None
    if not np.all(np.isfinite(sample)):
        raise fail(key, f"the {spec['dist']} distribution draws non-finite values (overflow)")


def _probabilities(p: Any, n: int, key: str, fail) -> None:
    if not isinstance(p, list) or len(p) != n:
        raise fail(key, f"expected a list of {n} probabilities")
    for v in p:
        _number(v, key, fail, minimum=0)
    if abs(sum(p) - 1.0) > 1e-9:
        raise fail(key, f"probabilities sum to {sum(p):g}, not 1")


def _build_mechanism(table: dict[str, Any], fail) -> Mechanism:
    name = table.get("name")
    if not isinstance(name, str) or name not in MECHANISMS:
        raise fail("mechanism.name", f"unknown mechanism {name!r} (known: {', '.join(sorted(MECHANISMS))})")
    cls = MECHANISMS[name]
    params = _params(cls.Params, {k: v for k, v in table.items() if k != "name"}, "mechanism", fail)
    try:
        return cls(params)
    except ValueError as exc:
        raise fail("mechanism", str(exc)) from None


def _build_rule(table: Any, mechanism: Mechanism, fail) -> tuple[dict[str, Any], DecisionRule]:
    if not isinstance(table, dict):
        raise fail("decision", "must be a table")
    rule_name = table.get("rule", DECISION_KEYS["rule"])
    if not isinstance(rule_name, str) or rule_name not in RULES:
        raise fail("decision.rule", f"unknown decision rule {rule_name!r} (known: {', '.join(sorted(RULES))})")
    cls = RULES[rule_name]
    common = {k: table.get(k, v) for k, v in DECISION_KEYS.items()}
    if common["revision"] not in REVISIONS:
        raise fail("decision.revision", f"unknown revision {common['revision']!r} (known: {', '.join(REVISIONS)})")
    _number(common["revisions_per_round"], "decision.revisions_per_round", fail, integer=True, minimum=1)
    _number(common["clock_rate"], "decision.clock_rate", fail, minimum=0)
    _number(common["inertia"], "decision.inertia", fail, minimum=0, maximum=1)
    rule_params = _params(cls.Params, {k: v for k, v in table.items() if k not in DECISION_KEYS},
                          "decision", fail)
    try:
        rule = cls(rule_params, mechanism.action_space)
    except ValueError as exc:
        raise fail("decision", str(exc)) from None
    return common, rule


def _mixed_rules(rule: DecisionRule, types: list[dict[str, Any]], mechanism: Mechanism) -> DecisionRule:
    """``rule`` alone, or a :class:`~market.rules.mixed.MixedRules` when owner types name their own rules.

    Group 0 is ``[decision] rule`` (with its parameters); every other rule a
    type names is a further group, in order of first appearance, with its
    default parameters.
    """
    names = [rule.name]
    for spec in types:
        if "rule" in spec and spec["rule"] not in names:
            names.append(spec["rule"])
    if len(names) == 1:
        return rule
    members = ((type(rule), rule.params),) + tuple((RULES[n], RULES[n].Params()) for n in names[1:])
    return MixedRules(MixedRules.Params(rules=members), mechanism.action_space)


def _params(params_cls: type, given: dict[str, Any], prefix: str, fail) -> Any:
    """Build a frozen ``Params`` dataclass from a table, checking names and types."""
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    _known(given, fields, f"{prefix}.", fail)
    values = {}
    for key, value in given.items():
        default = _default(fields[key])
        values[key] = _coerce(value, default, f"{prefix}.{key}", fail)
    return params_cls(**values)


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _coerce(value: Any, default: Any, key: str, fail) -> Any:
    """Coerce a TOML value to the type of the parameter's default."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise fail(key, f"expected true or false, got {value!r}")
        return value
    if isinstance(default, (int, float)):
        _number(value, key, fail, integer=isinstance(default, int) and not isinstance(default, float))
        return type(default)(value)
    if isinstance(default, tuple):
        if not isinstance(value, list):
            raise fail(key, f"expected a list, got {value!r}")
        if default and isinstance(default[0], (int, float)):
            for v in value:
                _number(v, key, fail)
            return tuple(float(v) for v in value)
        return tuple(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise fail(key, f"expected a string, got {value!r}")
        return value
    return value


def _population(table: dict[str, Any], mechanism: Mechanism, fail) -> dict[str, Any]:
    attributes = CORE_ATTRIBUTES + tuple(mechanism.owner_attributes)
    _known(table, ("owners", "types", "owner", "initial_action"), "population.", fail)
    out: dict[str, Any] = {"initial_action": table.get("initial_action", mechanism.initial_action)}
    _spec(out["initial_action"], "population.initial_action", fail)
    _check_actions(out["initial_action"], mechanism, "population.initial_action", fail)
    if "owner" in table:
        if "types" in table or "owners" in table:
            raise fail("population.owner", "give either an explicit owner list or owners + types, not both")
        owners = table["owner"]
        if not isinstance(owners, list) or not owners:
            raise fail("population.owner", "expected a non-empty list of owner tables")
        for i, owner in enumerate(owners):
            key = f"population.owner[{i}]"
            _known(owner, attributes + ("count",), f"{key}.", fail)
            _number(owner.get("count", 1), f"{key}.count", fail, integer=True, minimum=1)
            for attr in attributes:
                if attr in owner:
                    _attribute(owner[attr], attr, f"{key}.{attr}", fail, allow_dist=False)
        out["owner"] = [_defaults(o, mechanism) | {"count": o.get("count", 1)} for o in owners]
        return out
    if "types" not in table:
        raise fail("population", "needs either [[population.types]] with owners = N, or [[population.owner]]")
    n = _number(table.get("owners", 0), "population.owners", fail, integer=True, minimum=1)
    out["owners"] = int(n)
    out["types"] = _types(table["types"], "population.types", mechanism, fail)
    return out


def _types(types: Any, name: str, mechanism: Mechanism, fail) -> list[dict[str, Any]]:
    """Validate a mixture of owner types (population or newcomers); fill defaults.

    A type may set ``correlation`` in [-1, 1], the Gaussian-copula
    correlation of its sensitivity and data size
    (:func:`market.core.population.couple`).
    """
    attributes = CORE_ATTRIBUTES + tuple(mechanism.owner_attributes)
    if not isinstance(types, list) or not types:
        raise fail(name, "expected a non-empty list of type tables")
    for i, spec in enumerate(types):
        key = f"{name}[{i}]"
        if not isinstance(spec, dict):
            raise fail(key, "must be a table")
        _known(spec, attributes + ("share", "correlation", "rule"), f"{key}.", fail)
        if "rule" in spec and (not isinstance(spec["rule"], str) or spec["rule"] not in RULES):
            raise fail(f"{key}.rule", f"unknown decision rule {spec['rule']!r} (known: {', '.join(sorted(RULES))})")
        if "share" not in spec and len(types) > 1:
            raise fail(f"{key}.share", "missing (every type of a mixture needs a share)")
        for attr in attributes:
            if attr in spec:
                _attribute(spec[attr], attr, f"{key}.{attr}", fail, allow_dist=True)
        if "correlation" in spec:
            _number(spec["correlation"], f"{key}.correlation", fail, minimum=-1, maximum=1)
    shares = [t.get("share", 1.0) for t in types]
    _probabilities(shares, len(types), f"{name}.share", fail)
    return [_defaults(t, mechanism) | {"share": t.get("share", 1.0)}
            | ({"correlation": t["correlation"]} if "correlation" in t else {})
            | ({"rule": t["rule"]} if "rule" in t else {}) for t in types]


#: Distributions whose support is unbounded above (or below): never inside a bounded action set.
UNBOUNDED = ("normal", "lognormal", "exponential", "pareto")


def _check_actions(spec: Any, mechanism: Mechanism, key: str, fail) -> None:
    """Check an action-valued setting against the mechanism's action space.

    A level set (``kind = "levels"``) accepts only its levels: a number equal to a level, or a
    ``constant`` / ``choice`` / ``empirical`` of levels (a negative or fractional level would index
    the wrong price).  A continuous set accepts values in ``[lowest, highest]`` of its grid, so a
    distribution must be bounded (``uniform``, ``beta``, ``constant``, ``choice``, ``empirical``).
    """
    space = mechanism.action_space
    low, high = float(space.values[0]), float(space.values[-1])
    levels = space.kind == "levels"
    allowed = (f"one of the levels {', '.join(space.labels)}" if levels
               else f"in [{low:g}, {high:g}]")

    def check(values: Any, what: str) -> None:
        arr = np.atleast_1d(np.asarray(values, dtype=float))
        bad = ~np.isin(arr, space.values) if levels else (arr < low) | (arr > high)
        if bad.any():
            raise fail(key, f"{what} {arr[bad][0]:g} is not an action of mechanism "
                            f"{mechanism.name!r} (must be {allowed})")

    if not isinstance(spec, Mapping):
        check(spec, "action")
        return
    name = spec["dist"]
    if name == "constant":
        check(spec["value"], "action")
    elif name == "choice":
        check(spec["values"], "action")
    elif name == "empirical":
        check(empirical_values(spec["file"], spec["column"]), f"column {spec['column']!r} holds action")
    elif levels or name in UNBOUNDED:
        raise fail(key, f"a {name} distribution can draw actions outside mechanism {mechanism.name!r}'s "
                        f"action set (must be {allowed}); use constant or choice")
    elif name == "uniform":
        check([spec["low"], spec["high"]], "bound")
    elif name == "beta":
        check([0.0, 1.0], "bound")


def _attribute(spec: Any, attr: str, key: str, fail, allow_dist: bool) -> None:
    if isinstance(spec, Mapping) and not allow_dist:
        raise fail(key, "expected a number for an explicit owner")
    nonneg = attr in CORE_ATTRIBUTES
    if not isinstance(spec, Mapping) and nonneg and isinstance(spec, (int, float)) and spec < 0:
        raise fail(key, f"negative {attr.replace('_', ' ')} ({spec!r})")
    _spec(spec, key, fail, nonnegative=nonneg)


def _defaults(spec: Mapping[str, Any], mechanism: Mechanism) -> dict[str, Any]:
    out = {"sensitivity": spec.get("sensitivity", 1.0), "data_size": spec.get("data_size", 1.0)}
    for attr, default in mechanism.owner_attributes.items():
        out[attr] = spec.get(attr, default)
    return out
