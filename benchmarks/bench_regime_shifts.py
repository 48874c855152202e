"""The labelled regime-shift benchmark (analysis/shift_benchmark.py): one row per run, then precision and recall.

    PYTHONPATH=. python benchmarks/bench_regime_shifts.py
"""

import time

from analysis.shift_benchmark import LAG, evaluate

if __name__ == "__main__":
    start = time.perf_counter()
    table, precision, recall = evaluate()
    print("| " + " | ".join(table.columns) + " |")
    print("|" + "---|" * len(table.columns))
    for row in table.itertuples(index=False):
        print("| " + " | ".join(str(v) for v in row) + " |")
    print(f"\nprecision {precision:.3f}, recall {recall:.3f} (a detection matches a true shift within {LAG} rounds); "
          f"{len(table)} runs in {time.perf_counter() - start:.1f} s")
