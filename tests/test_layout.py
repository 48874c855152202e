"""The layering of the code: import-linter's contracts hold, a back-edge breaks them, no import hides in a
function to dodge a cycle, and the registry is explicit (one module per registered mechanism)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

from market.core.mechanism import Mechanism
from market.registry import LOCAL_INFORMATION_RULES, MECHANISMS, PAYOFFS, RULES, VALUE_FUNCTIONS
from scenarios.schema import builtin_names, load

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("market", "agents", "analysis", "scenarios")


def _lint(root: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    return lint_imports(config_filename=str(root / "pyproject.toml"), no_cache=True, no_logo=True)


def test_import_contracts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _lint(ROOT, monkeypatch) == 0


def test_a_back_edge_breaks_the_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The core importing the analysis layer (what model.py once did with the recorder) fails the check."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    network = tmp_path / "market" / "core" / "network.py"
    network.write_text(network.read_text() + "\nimport analysis.emergence  # a back-edge\n")
    for name in [m for m in sys.modules if m.split(".")[0] in PACKAGES]:
        monkeypatch.delitem(sys.modules, name)
    assert _lint(tmp_path, monkeypatch) == 1


def _function_level_imports() -> list[tuple[str, str, str, str]]:
    """(place, module imported, source line, function) of every import statement inside a function."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text()
            lines = text.splitlines()
            for fn in ast.walk(ast.parse(text)):
                if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(fn):
                    if isinstance(node, ast.Import | ast.ImportFrom):
                        module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                        where = f"{path.relative_to(ROOT)}:{node.lineno}"
                        found.append((where, module or "", lines[node.lineno - 1], f"{path}:{fn.lineno}"))
    return found


def test_no_function_level_import_of_the_project() -> None:
    """Project modules are imported at the top of a module, never inside a function (no hidden cycles)."""
    inside = [where for where, module, _, _ in _function_level_imports() if module.split(".")[0] in PACKAGES]
    assert inside == []


def test_lazy_third_party_imports_say_why() -> None:
    """A function importing a heavy or optional library says why with a ``# lazy:`` comment."""
    imports = _function_level_imports()
    explained = {fn for _, _, line, fn in imports if "# lazy:" in line}
    silent = [where for where, _, _, fn in imports if fn not in explained]
    assert silent == []


def test_no_module_getattr() -> None:
    """No package resolves names lazily through a module ``__getattr__``."""
    found = [str(p.relative_to(ROOT)) for package in PACKAGES for p in (ROOT / package).rglob("*.py")
             if any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in ast.parse(p.read_text()).body)]
    assert found == []


def test_one_module_per_registered_mechanism_and_rule() -> None:
    for name, cls in MECHANISMS.items():
        assert cls.name == name
        assert cls.__module__ == f"market.mechanisms.{name}"
    concrete = {obj for path in (ROOT / "market" / "mechanisms").glob("*.py")
                for obj in vars(__import__(f"market.mechanisms.{path.stem}", fromlist=["_"])).values()
                if isinstance(obj, type) and issubclass(obj, Mechanism) and "name" in vars(obj)}
    assert concrete == set(MECHANISMS.values())
    for name, cls in RULES.items():
        assert cls.name == name
        assert cls.__module__.startswith("market.rules.")  # "random" lives in uniform_random.py (not to shadow a stdlib name)


def test_registry_needs_no_other_import() -> None:
    """The named families are complete after importing their module alone (no filling by import side effect)."""
    code = ("import sys; from market.core.families import PAYOFFS, VALUE_FUNCTIONS; "
            "assert 'market.mechanisms' not in sys.modules; "
            "print(sorted(VALUE_FUNCTIONS)); print(sorted(PAYOFFS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.splitlines() == [str(sorted(VALUE_FUNCTIONS)), str(sorted(PAYOFFS))]
    assert {"empirical_digits", "empirical_breast_cancer"} <= set(VALUE_FUNCTIONS)
    assert "empirical" in PAYOFFS


def test_local_information_rules_are_declared_by_their_parameters() -> None:
    assert LOCAL_INFORMATION_RULES == ("best_response", "logit", "fictitious_play", "regret_matching", "hedge")


@pytest.mark.parametrize("name", builtin_names())
def test_validation_builds_nothing(name: str) -> None:
    """``validate()`` only checks: on a mechanism whose ``setup()`` never ran it leaves the parameters alone;
    ``setup()`` then builds the state, as construction does."""
    spec = load(name).mechanism
    unbuilt = spec.cls.__new__(spec.cls)
    unbuilt.params = spec.params
    unbuilt.validate()
    assert vars(unbuilt) == {"params": spec.params}
    unbuilt.setup()
    built = spec.cls(spec.params)
    assert set(vars(unbuilt)) <= set(vars(built))  # construction may add run state (contribution_game's)
