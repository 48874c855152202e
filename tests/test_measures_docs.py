"""One definition per measure: the README table, docs/measures.md and the code table agree."""

from pathlib import Path

from market.simulation.metrics import STANDARD_COLUMNS, columns_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_readme_lists_every_standard_column_with_definition_and_unit():
    readme = (ROOT / "README.md").read_text()
    start, end = readme.index("<!-- standard-columns:start -->"), readme.index("<!-- standard-columns:end -->")
    assert readme[start:end].split("\n", 1)[1].strip() == columns_markdown()
    rows = [line for line in columns_markdown().splitlines()[2:]]
    assert len(rows) == len(STANDARD_COLUMNS) and all(c.definition and c.unit for c in STANDARD_COLUMNS)


def test_docs_measures_defines_every_standard_column():
    docs = (ROOT / "docs" / "measures.md").read_text()
    for column in STANDARD_COLUMNS:
        assert f"| `{column.name}` |" in docs, column.name
    for key in ("converged", "settling_round", "equilibrium_tol", "transient", "regime_shifts", "change_points",
                "cum_total_payments", "null_values"):
        assert key in docs, key
