"""Per-model dbt seconds of a finished `planwise run`, per simulated year, from the run's dbt.log.

Why: run_results.json is overwritten by every dbt invocation (only the last year survives), but the run's
`artifacts/runs/<run_id>/dbt/logs/dbt.log` keeps every invocation, each starting with "Running with dbt=" and
listing "N of M OK created ... model main.X ... [OK in 1.23s]". The n-th invocation is summary.json's
dbt_invocations[n] (parse, seed, then one `run` per year), which maps each `run` to its year.

How:
    python benchmarks/model_times.py /tmp/bench/n100000/rep*/      # db folders, run folders or summary.json files
    python benchmarks/model_times.py --top 5 /tmp/bench/n100000/rep1

With several runs, each cell is the median over the runs. Model seconds include dbt's own per-node work
(pre-hooks, relation checks, rename/drop); with --threads 2 two models may run at once, so they can add up to
more than the year's wall seconds. Stdlib only.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")
NODE = re.compile(r"\d+ of \d+ (?:OK|ERROR|SKIP)\S* .*?(?:model|seed|test) (?:main\.)?(\S+?) \.+ \[\S*? in ([0-9.]+)s\]")
FINISHED = re.compile(r"Finished running .* \(([0-9.]+)s\)")


def find_runs(paths: list[str]) -> list[Path]:
    """Run folders (holding summary.json and dbt/logs/dbt.log) below or at each path."""
    runs = []
    for raw in paths:
        path = Path(raw)
        if path.name == "summary.json":
            runs.append(path.parent)
        elif (path / "summary.json").is_file():
            runs.append(path)
        else:
            found = sorted(glob.glob(str(path / "artifacts" / "runs" / "*" / "summary.json")))
            runs.extend(Path(f).parent for f in found)
    return runs


def parse_run(run_dir: Path) -> tuple[dict[int, dict[str, float]], dict[int, float]]:
    """{year: {model: seconds}} and {year: dbt's own 'Finished running ... (Xs)' seconds}."""
    summary = json.loads((run_dir / "summary.json").read_text())
    invocations = summary["dbt_invocations"]
    years = [int(y["year"]) for y in summary["years"]]
    segments: list[list[str]] = []
    with open(run_dir / "dbt" / "logs" / "dbt.log", errors="replace") as log:
        for line in log:
            line = ANSI.sub("", line)
            if "Running with dbt=" in line:
                segments.append([])
            elif segments:
                segments[-1].append(line)
    if len(segments) != len(invocations):
        print(f"warning: {run_dir}: {len(segments)} dbt sections in dbt.log, "
              f"{len(invocations)} invocations in summary.json", file=sys.stderr)
    per_year: dict[int, dict[str, float]] = {}
    totals: dict[int, float] = {}
    run_years = iter(years)
    for command, lines in zip(invocations, segments):
        if command != "run":
            continue
        year = next(run_years, None)
        if year is None:
            break
        models = {}
        for line in lines:
            if (match := NODE.search(line)):
                models[match.group(1)] = float(match.group(2))
            elif (match := FINISHED.search(line)):
                totals[year] = float(match.group(1))
        per_year[year] = models
    return per_year, totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="db folders, run folders or summary.json files")
    parser.add_argument("--top", type=int, default=5, help="slowest models listed per year (default 5)")
    args = parser.parse_args(argv)
    runs = find_runs(args.paths)
    if not runs:
        print("no run folders with summary.json found", file=sys.stderr)
        return 1
    cells: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    dbt_totals: dict[int, list[float]] = defaultdict(list)
    for run in runs:
        per_year, totals = parse_run(run)
        for year, models in per_year.items():
            for model, seconds in models.items():
                cells[model][year].append(seconds)
        for year, seconds in totals.items():
            dbt_totals[year].append(seconds)
    years = sorted({y for by_year in cells.values() for y in by_year})
    median = {m: {y: statistics.median(v) for y, v in by_year.items()} for m, by_year in cells.items()}
    print(f"{len(runs)} run(s): " + ", ".join(str(r) for r in runs))
    print("\nseconds per model and year (median over runs), slowest first by total:")
    order = sorted(median, key=lambda m: -sum(median[m].values()))
    width = max(len(m) for m in order)
    print("  " + "model".ljust(width) + "".join(f"{y:>8}" for y in years) + f"{'total':>9}")
    for model in order:
        print("  " + model.ljust(width) + "".join(f"{median[model].get(y, 0):8.2f}" for y in years)
              + f"{sum(median[model].values()):9.2f}")
    print("  " + "sum of models".ljust(width) + "".join(f"{sum(median[m].get(y, 0) for m in order):8.2f}"
                                                       for y in years))
    print("  " + "dbt invocation".ljust(width) + "".join(f"{statistics.median(dbt_totals[y]):8.2f}"
                                                        if dbt_totals.get(y) else f"{'-':>8}" for y in years))
    for year in years:
        top = sorted(order, key=lambda m: -median[m].get(year, 0))[:args.top]
        print(f"\n{year}: " + ", ".join(f"{m} {median[m].get(year, 0):.2f}s" for m in top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
