"""`make bench`: run every benchmark in turn (each writes bench/results/<name>.json and prints its table),
then print one summary of the headline numbers against their targets."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["bench_geotag", "bench_consolidate", "bench_mentions", "eval_mentions", "bench_enrich", "bench_ingest",
         "bench_api", "bench_e2e"]


def headline(name: str, data: dict) -> list[tuple[str, str, str]]:
    """(what, measured, target) rows for the summary; tolerant of a benchmark's own JSON layout."""
    pick = {
        "ingest": [("ingest single / bare", "single_vs_bare", "≥ 0.60"), ("ingest batch / raw produce",
                                                                         "batch_vs_raw", "≥ 0.50")],
        "enrich": [("enrich reports/s (1 worker)", "reports_per_s", "≥ 10,000")],
        "e2e": [("end-to-end reports/s", "reports_per_s", "2,000"), ("end-to-end p95 delay s", "p95_s", "< 2")],
    }.get(name, [])
    rows = []
    for label, key, target in pick:
        value = data.get(key)
        rows.append((label, f"{value:,.2f}" if isinstance(value, int | float) else str(value), target))
    return rows


def main() -> int:
    failed = []
    for script in ORDER:
        path = HERE / f"{script}.py"
        if not path.exists():
            continue
        print(f"\n=== {script} ===", flush=True)
        start = time.monotonic()
        rc = subprocess.call([sys.executable, str(path)], cwd=HERE.parent)
        print(f"--- {script}: exit {rc} in {time.monotonic() - start:.0f} s", flush=True)
        if rc != 0:
            failed.append(script)
    rows = []
    for result in sorted((HERE / "results").glob("*.json")):
        try:
            rows += headline(result.stem, json.loads(result.read_text()))
        except (json.JSONDecodeError, OSError):
            continue
    if rows:
        width = max(len(r[0]) for r in rows)
        print("\nsummary (see bench/results/*.json for everything, machine and settings included)")
        for what, value, target in rows:
            print(f"  {what.ljust(width)}  {value:>12}  target {target}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
