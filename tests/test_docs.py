"""The documentation site: it builds with warnings as errors, its generated references cover the
code, and every ``docs/...md#anchor`` cited in the packages exists."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from market.cli import build_parser
from market.registry import MECHANISMS, RULES

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("market", "agents", "analysis", "scenarios")
#: A citation of a documentation page with an anchor, as docstrings, tables and scenarios write it.
CITATION = re.compile(r"docs/((?:[\w-]+/)*[\w-]+\.md)#([\w-]+)")
#: Further anchors of the same page after a citation: "docs/models/fair_value.md#g2 and #g3", "#g6 to #g12".
FOLLOW = re.compile(r"docs/((?:[\w-]+/)*[\w-]+\.md)#[\w-]+((?:(?:\s*[/,]\s*|\s+and\s+|\s+to\s+)#[\w-]+)+)")
#: Citations of the outside paper notes that the repository must not contain (the CI grep, then other forms).
OUTSIDE = re.compile(r"\bspec (G|GT|Sec|[0-9]{3})|shared/(spec|seeds)")
OUTSIDE_OTHER = re.compile(r"(?i)\bspec(?:'s)? (?:G\d|GT\d|sec|section|§|\d|golden|tests?\b|number|has|leaves|found|corrects)"
                           r"|\bthe spec\b|\bspec's\b")


@functools.cache
def _hooks():
    """``docs/hooks.py`` (needs mkdocs: the tests that use it are skipped without the 'docs' extra)."""
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (the 'docs' extra)")
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n### ", start + len(heading))
    return text[start:] if end < 0 else text[start:end]


def _slug(heading: str) -> str:
    """Python-Markdown's default heading id (toc extension)."""
    text = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode()
    return re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", text).strip().lower())


def anchors(page: Path) -> set[str]:
    """Ids a page defines: ``<a id="...">`` tags, ``{ #... }`` heading attributes and plain headings' slugs."""
    text = page.read_text()
    ids = set(re.findall(r'<a id="([\w-]+)"', text)) | set(re.findall(r"\{ *#([\w-]+) *\}", text))
    for heading in re.findall(r"^#+ +(.+?) *$", text, re.M):
        if "{" not in heading:
            ids.add(_slug(heading))
    return ids


def source_files() -> list[Path]:
    files = []
    for package in PACKAGES:
        files += [p for p in (ROOT / package).rglob("*") if p.suffix in (".py", ".toml")]
    return sorted(files)


def test_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (the 'docs' extra)")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is not installed (the 'docs' extra)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    site = tmp_path / "site"
    for page in ("models/fair_value", "models/data_contribution", "models/fl_market",
                 "models/contribution_game", "models/value_of_privacy", "concepts", "measures",
                 "reference/scenarios", "reference/cli", "reference/api", "gallery"):
        assert (site / page / "index.html").is_file(), page
    for name, *_ in _hooks().GALLERY_RUNS:
        assert (site / "gallery" / f"{name}.png").stat().st_size > 5000
    # mkdocstrings rendered the API, not the directive
    api = (site / "reference" / "api" / "index.html").read_text()
    assert "DataMarket" in api and ":::" not in api


def test_scenario_reference_lists_every_parameter():
    text = _hooks().scenario_reference()
    for registry in (MECHANISMS, RULES):
        assert registry
        for name, cls in registry.items():
            section = _section(text, f"### `{name}`")
            for f in dataclasses.fields(cls.Params):
                row = re.search(rf"^\| `{f.name}` \|.*\| (.*) \|$", section, re.M)
                assert row, f"{name}.{f.name} missing from the scenario reference"
                assert row.group(1).strip(), f"{name}.{f.name} has no description in its Params docstring"


def test_cli_reference_lists_every_subcommand_and_option():
    hooks = _hooks()
    text = hooks.cli_reference()
    commands = hooks.subcommands(build_parser())
    assert {"run", "sweep", "reproduce", "list"} <= set(commands)
    for name, sub in commands.items():
        section = text[text.index(f"## `privmarket {name}`"):]
        for action in sub._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}" in section.split("\n## ")[0], f"{name} {flag}"


def test_gallery_lists_every_builtin_scenario():
    from scenarios.schema import builtin_descriptions

    text, figures = _hooks().gallery(draw=False)
    assert figures == {}
    for name, description in builtin_descriptions().items():
        assert f"| `{name}` |" in text
        assert description, f"built-in scenario {name} has no description"


def test_model_pages_define_their_equations_and_goldens():
    pages = {p.stem: anchors(p) for p in (ROOT / "docs" / "models").glob("*.md")}
    assert set(pages) == {"fair_value", "data_contribution", "fl_market", "contribution_game", "value_of_privacy"}
    for name, ids in pages.items():
        assert {"model", "golden", "corrections", "not-reproduced", "implementation"} <= ids, name
        assert sum(i.startswith("eq-") for i in ids) >= 5, name
    assert {f"gt{k}" for k in range(1, 11)} <= pages["value_of_privacy"]
    assert {f"g{k}" for k in range(1, 11)} <= pages["fair_value"]
    assert {f"g{k}" for k in range(1, 13)} <= pages["fl_market"]


def test_every_cited_anchor_exists():
    cited: dict[tuple[str, str], list[str]] = {}
    for path in source_files() + sorted((ROOT / "tests").glob("*.py")):
        text = path.read_text()
        for match in CITATION.finditer(text):
            cited.setdefault(match.groups(), []).append(str(path.relative_to(ROOT)))
        for match in FOLLOW.finditer(text):
            for anchor in re.findall(r"#([\w-]+)", match.group(2)):
                cited.setdefault((match.group(1), anchor), []).append(str(path.relative_to(ROOT)))
    # the docstrings, reproduce tables and scenarios cite the model pages throughout
    assert sum(page.startswith("models/") for page, _ in cited) >= 100
    missing = []
    for (page, anchor), where in sorted(cited.items()):
        target = ROOT / "docs" / page
        if not target.is_file() or anchor not in anchors(target):
            missing.append(f"docs/{page}#{anchor} (cited in {', '.join(sorted(set(where)))})")
    assert not missing, "\n".join(missing)


def test_no_citation_of_documents_outside_the_repository():
    files = source_files() + [p for p in sorted((ROOT / "tests").glob("*.py")) if p.name != "test_docs.py"]
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
             for p in files for i, line in enumerate(p.read_text().splitlines(), 1)
             if OUTSIDE.search(line) or OUTSIDE_OTHER.search(line)]
    assert not found, "\n".join(found[:20])
