"""MkDocs hooks: pages generated from the code at build time, so they cannot drift from it.

Declared under ``hooks:`` in ``mkdocs.yml``.  :func:`on_files` adds three generated pages to the
site (nothing is written into ``docs/``):

``reference/scenarios.md``
    every scenario table and key with its default, the distributions, and one section per
    registered mechanism and decision rule, built from their ``Params`` dataclasses (field, type,
    default, and the description from the class's numpy-style ``Attributes`` section);
``reference/cli.md``
    every ``privmarket`` subcommand with its usage and arguments, read from the argparse parser;
``gallery.md``
    every built-in scenario with its description, plus figures of short runs of a few of them
    (:data:`GALLERY_RUNS`), drawn with matplotlib at build time.

The functions ``scenario_reference``, ``cli_reference`` and ``gallery`` return the markdown and
are what ``tests/test_docs.py`` checks.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # mkdocs runs from the repository root; make its packages importable
    sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from mkdocs.structure.files import File  # noqa: E402

from market.cli import build_parser  # noqa: E402
from market.registry import MECHANISMS, RULES  # noqa: E402
from market.core.network import NETWORK_KEYS  # noqa: E402
from market.core.population import (  # noqa: E402
    CORE_ATTRIBUTES,
    DISTRIBUTIONS,
    DRIFT_KEYS,
    OPTIONAL_DIST_PARAMS,
)
from market.runner import run  # noqa: E402
from scenarios import schema  # noqa: E402

#: Built-in scenarios drawn in the gallery: (name, rounds, overrides) -- short runs, a second or so each.
GALLERY_RUNS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("quickstart", 80, ("population.owners=300",)),
    ("p001_tipping_above", 20, ()),
    ("p003_nonexistence", 12, ()),
    ("p004_pooling_collapse", 12, ()),
)


# ------------------------------------------------------------------------------------------
# numpy docstrings
# ------------------------------------------------------------------------------------------
def attribute_docs(cls: type) -> dict[str, str]:
    """Field descriptions from the ``Attributes`` sections of ``cls`` and its bases (nearest wins)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        docs.update(_parse_attributes(klass.__dict__.get("__doc__") or ""))
    return docs


def _parse_attributes(doc: str) -> dict[str, str]:
    lines = [line.rstrip() for line in doc.expandtabs().splitlines()]
    out: dict[str, str] = {}
    try:
        start = next(i for i, line in enumerate(lines[:-1])
                     if line.strip() == "Attributes" and set(lines[i + 1].strip()) == {"-"})
    except StopIteration:
        return out
    body = lines[start + 2:]
    indent = min((len(x) - len(x.lstrip()) for x in body if x.strip()), default=0)
    names: list[str] = []
    for line in body:
        if not line.strip():
            continue
        level = len(line) - len(line.lstrip())
        if level < indent:
            break
        text = line.strip()
        if level == indent:
            if set(text) == {"-"}:  # the next section's underline: stop
                names = []
                break
            head = text.split(" : ")[0]
            names = [n.strip() for n in head.split(",")]
            for n in names:
                out.setdefault(n, "")
        else:
            for n in names:
                out[n] = (out[n] + " " + text).strip()
    return out


def _md(text: str) -> str:
    """Docstring text to markdown table cell: RST roles and double backquotes to code, pipes escaped."""
    text = re.sub(r":(?:math|mod|func|class|meth|data|attr):`([^`]*)`", r"`\1`", text)
    text = text.replace("``", "`").replace("|", "\\|")
    return text


def _value(value: Any) -> str:
    if dataclasses.is_dataclass(value) or callable(value):
        return f"`{type(value).__name__}`"
    if isinstance(value, tuple):
        value = list(value)
    return f"`{value!r}`".replace("|", "\\|")


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return "(required)"


def _type(f: dataclasses.Field) -> str:
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return f"`{t}`".replace("|", "\\|")


def params_table(params_cls: type) -> str:
    """A markdown table of the fields of a ``Params`` dataclass."""
    fields = dataclasses.fields(params_cls)
    if not fields:
        return "No parameters.\n"
    docs = attribute_docs(params_cls)
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for f in fields:
        rows.append(f"| `{f.name}` | {_type(f)} | {_value(_default(f))} | {_md(docs.get(f.name, ''))} |")
    return "\n".join(rows) + "\n"


def _first_paragraph(doc: str | None) -> str:
    return _md(" ".join((doc or "").strip().split("\n\n")[0].split()))


# ------------------------------------------------------------------------------------------
# the generated pages
# ------------------------------------------------------------------------------------------
def _defaults_table(defaults: dict[str, Any]) -> str:
    rows = ["| key | default |", "|---|---|"]
    rows += [f"| `{k}` | {_value(v)} |" for k, v in defaults.items()]
    return "\n".join(rows) + "\n"


def scenario_reference() -> str:
    """The scenario reference: tables, keys, defaults, distributions, mechanisms and rules."""
    out = ["# Scenario reference", "",
           "Generated from the code at build time (`docs/hooks.py`): the scenario schema "
           "(`scenarios/schema.py`) and the `Params` dataclass of every registered mechanism and "
           "decision rule. A scenario is a TOML file; every key can be overridden on the command "
           "line with `--set key.path=value`.", "",
           "## Top-level keys", "",
           "| key | meaning |", "|---|---|",
           "| `name`, `description` | shown by `privmarket list` |",
           "| `rounds`, `seed` | length of the run and the seed of every random stream |"]
    for key in schema.TOP_KEYS:
        if key not in ("name", "description", "rounds", "seed"):
            out.append(f"| `[{key}]` | see below |")
    out += ["", "## `[population]`", "",
            f"`owners` owners drawn from a mixture of `[[population.types]]` (each with a `share`), or an "
            f"explicit list of `[[population.owner]]` tables with an optional `count`. Core owner "
            f"attributes: {', '.join(f'`{a}`' for a in CORE_ATTRIBUTES)}; a mechanism may declare more "
            f"(listed with each mechanism below). `initial_action`: a number or a distribution (default: "
            f"the mechanism's starting action). A type may set `correlation`, the Gaussian-copula "
            f"correlation of sensitivity and data size.", "",
            "## Distributions", "",
            "Any attribute, budget or stay may be a number or a table `{ dist = NAME, ... }`:", "",
            "| `dist` | parameters |", "|---|---|"]
    for name, (_, params) in DISTRIBUTIONS.items():
        optional = OPTIONAL_DIST_PARAMS.get(name, ())
        shown = ", ".join(f"`{p}`" + (" (optional)" if p in optional else "") for p in params)
        out.append(f"| `{name}` | {shown} |")
    tables = (("decision", schema.DECISION_KEYS, "how owners revise; the rule's own parameters follow "
               "(see [decision rules](#decision-rules))"),
              ("buyers", schema.BUYER_KEYS, "gradient/model buyers arriving as a Poisson process"),
              ("churn", schema.CHURN_KEYS, "owners leaving and joining"),
              ("output", schema.OUTPUT_KEYS, "what the run records"),
              ("network", NETWORK_KEYS, "a social graph among owners"),
              ("drift", DRIFT_KEYS, "sensitivity drift over time"))
    for name, defaults, meaning in tables:
        out += ["", f"## `[{name}]`", "", f"{meaning[0].upper()}{meaning[1:]}.", "", _defaults_table(defaults)]
    out += ["", "## Mechanisms", "",
            "`[mechanism] name = ...` selects one; its parameters are keys of the same table.", ""]
    for name, cls in sorted(MECHANISMS.items()):
        out += [f"### `{name}`", "", _first_paragraph(cls.description or cls.__doc__), ""]
        if cls.owner_attributes:
            extra = ", ".join(f"`{a}` (default {_value(v)})" for a, v in cls.owner_attributes.items())
            out += [f"Owner attributes: {extra}.", ""]
        out += [params_table(cls.Params), ""]
    out += ['<a id="decision-rules"></a>', "", "## Decision rules", "",
            "`[decision] rule = ...` selects one; its parameters are keys of the `[decision]` table.", ""]
    for name, cls in sorted(RULES.items()):
        out += [f"### `{name}`", "", _first_paragraph(cls.description or cls.__doc__), "",
                params_table(cls.Params), ""]
    return "\n".join(out)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """``{name: subparser}`` of an argparse parser with subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _argument_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| argument | meaning | default |", "|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        flag = ", ".join(action.option_strings) or action.dest
        if action.metavar and action.option_strings:
            flag += f" {action.metavar}"
        default = "" if action.default in (None, argparse.SUPPRESS, [], False) else _value(action.default)
        helptext = (action.help or "").replace("|", "\\|")
        if action.required and action.option_strings:
            helptext += " (required)"
        rows.append(f"| `{flag}` | {helptext} | {default} |")
    return rows


def cli_reference() -> str:
    """The command-line reference: every subcommand of ``privmarket`` with its arguments."""
    parser = build_parser()
    out = ["# Command-line reference", "",
           "Generated from the argument parser (`market.cli.build_parser`) at build time.", "",
           "```text", parser.format_usage().strip(), "```", "",
           "| command | what it does |", "|---|---|"]
    subs = subcommands(parser)
    helps = {a.dest: a.help for a in parser._subparsers._group_actions[0]._choices_actions}  # type: ignore[union-attr]
    out += [f"| [`{name}`](#{name}) | {helps.get(name, '')} |" for name in subs]
    for name, sub in subs.items():
        out += ["", f'<a id="{name}"></a>', "", f"## `privmarket {name}`", "", helps.get(name, "") or "", "",
                "```text", sub.format_usage().strip(), "```", ""]
        rows = _argument_rows(sub)
        out += rows if len(rows) > 2 else ["No arguments."]
    return "\n".join(out) + "\n"


def _gallery_figure(name: str, rounds: int, overrides: tuple[str, ...]) -> bytes:
    result = run(name, rounds=rounds, overrides=list(overrides), owner_every=0)
    frame = result.model
    # the levels some owners actually play (a continuous action space has only ``share_zero``)
    shares = [c for c in frame.columns
              if c.startswith("share_") and c != "share_zero" and frame[c].max() > 0.01]
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8), layout="constrained")
    if shares:
        for c in shares:
            axes[0].plot(frame["round"], frame[c], label=c.removeprefix("share_"))
        axes[0].set_ylabel("share of owners")
        axes[0].legend(title="action", fontsize=7, title_fontsize=7, loc="best")
    else:
        axes[0].plot(frame["round"], frame["mean_action"])
        axes[0].set_ylabel("mean action")
    for column, label in (("total_payments", "payments"), ("mean_utility", "owners' mean utility"),
                          ("platform_utility", "platform utility")):
        if column == "mean_utility" or frame[column].abs().max() > 0:
            axes[1].plot(frame["round"], frame[column], label=label)
    axes[1].set_ylabel("per round")
    axes[1].legend(fontsize=7, loc="best")
    for ax in axes:
        ax.set_xlabel("round")
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(f"{name} ({rounds} rounds)", fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def gallery(draw: bool = True) -> tuple[str, dict[str, bytes]]:
    """The gallery page and its figures (``{path: png}``; none when ``draw`` is false)."""
    descriptions = schema.builtin_descriptions()
    figures: dict[str, bytes] = {}
    out = ["# Gallery of built-in scenarios", "",
           "Every built-in scenario (`privmarket list`), with its description. The figures are short "
           "runs made when the site is built; run any scenario yourself with "
           "`privmarket run NAME --out runs/NAME` and draw its standard figures with "
           "`privmarket plot runs/NAME`.", ""]
    if draw:
        for name, rounds, overrides in GALLERY_RUNS:
            path = f"gallery/{name}.png"
            figures[path] = _gallery_figure(name, rounds, overrides)
            shown = f" with `{' '.join('--set ' + o for o in overrides)}`" if overrides else ""
            out += [f"## `{name}`", "", descriptions[name], "",
                    f"![{name}]({path})", "",
                    f"`privmarket run {name} --rounds {rounds}{shown}`", ""]
    out += ["## All scenarios", "", "| scenario | description |", "|---|---|"]
    out += [f"| `{name}` | {_md(text)} |" for name, text in descriptions.items()]
    return "\n".join(out) + "\n", figures


# ------------------------------------------------------------------------------------------
# mkdocs events
# ------------------------------------------------------------------------------------------
def on_files(files, config):
    """Add the generated pages (and the gallery's figures) to the site."""
    page, figures = gallery()
    generated = {"reference/scenarios.md": scenario_reference(), "reference/cli.md": cli_reference(),
                 "gallery.md": page}
    for path, content in {**generated, **figures}.items():
        files.append(File.generated(config, path, content=content))
    return files
