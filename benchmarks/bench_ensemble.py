"""Ensemble throughput: seconds per run of a `planwise ensemble` on the local pool, next to one `planwise run` of the
same sitting and `benchmarks/reference.py`'s fixed workload (not a timed test: numbers depend on the machine).

Why: the target is at most 3 s per run for a 20-run ensemble (2 scenarios x 10 seeds) of the default 5,000-person
census x 5 years on 2 local workers; a run alone pays Python, dbt's import and parse, which a worker pays once.

How:
    python benchmarks/bench_ensemble.py                       # default + rich_match x seeds 1-10, 2025-2029, 2 workers
    python benchmarks/bench_ensemble.py --seeds 1-5 --workers 2 --workdir /tmp/bench-ens

Steps: the census (`planwise census generate --employees 5000 --seed 42`, not timed), the reference workload,
one `planwise run --years ... --no-backup` (default threads) on a fresh database, then the ensemble (each run one
thread) into a fresh --out with `--baseline-scenario default`, the reference again. Prints wall seconds, seconds
per run, the ratio to the single run, the paired employer-cost widths, and writes results.json into the workdir.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import describe, reference_seconds  # noqa: E402 - the sibling module, whatever the cwd

REPO = Path(__file__).resolve().parent.parent
TARGET_SECONDS_PER_RUN = 3.0


def planwise() -> list[str]:
    script = shutil.which("planwise")
    return [script] if script else [sys.executable, "-m", "navigator_orchestrator.cli"]


def timed(cmd: list[str], log: Path) -> tuple[float, int, str]:
    """Wall seconds, exit code and stdout of `cmd` (output also kept in `log`)."""
    print("$", " ".join(cmd), flush=True)
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "DB_PATH"})
    wall = time.perf_counter() - began
    log.write_text(done.stdout + "\n--- stderr ---\n" + done.stderr)
    if done.returncode != 0:
        print(f"  failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
    return wall, done.returncode, done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=["scenarios/default.yaml", "scenarios/rich_match.yaml"],
                        help="scenario files (default: default and rich_match; the first is the baseline)")
    parser.add_argument("--seeds", default="1-10", help="seeds (default 1-10: 20 runs with two scenarios)")
    parser.add_argument("--years", default="2025-2029")
    parser.add_argument("--employees", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/planwise-bench-ensemble"))
    args = parser.parse_args(argv)
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    census = work / f"census_{args.employees}.parquet"
    if not census.is_file():
        subprocess.run([*planwise(), "census", "generate", "--employees", str(args.employees), "--seed", "42",
                        "--out", str(census)], cwd=REPO, check=True)
    load_before = os.getloadavg()[0]
    reference_before = reference_seconds()
    print(f"reference workload: {reference_before:.2f} s", flush=True)

    single_dir = work / "single"
    shutil.rmtree(single_dir, ignore_errors=True)
    single_dir.mkdir()
    single, code, _ = timed([*planwise(), "run", "--years", args.years, "--census", str(census),
                             "--db", str(single_dir / "simulation.duckdb"), "--no-backup"], work / "single.log")
    if code:
        return 1

    out = work / "ensemble"
    shutil.rmtree(out, ignore_errors=True)
    baseline = Path(args.scenarios[0]).stem
    wall, code, stdout = timed([*planwise(), "ensemble", "--scenarios", *args.scenarios, "--seeds", args.seeds,
                                "--years", args.years, "--census", str(census), "--out", str(out),
                                "--workers", str(args.workers), "--baseline-scenario", baseline],
                               work / "ensemble.log")
    if code:
        return 1
    reference = statistics.median([reference_before, reference_seconds()])
    manifest = json.loads((out / "manifest.json").read_text())
    runs = manifest["runs"]["succeeded"]
    per_run = wall / runs
    load_after = os.getloadavg()[0]
    print()
    print(f"single `planwise run` ({args.employees:,} x {args.years}): {describe(single, reference)}")
    print(f"ensemble of {runs} runs on {args.workers} workers: {describe(wall, reference)}")
    print(f"seconds per run: {per_run:.2f} s ({per_run / reference:.2f}x the reference; {single / per_run:.1f} "
          f"ensemble runs in the time of one single run)")
    print(f"1-min load average before/after: {load_before:.1f} / {load_after:.1f} ({os.cpu_count()} CPUs)")
    for line in stdout.splitlines():
        if line.startswith("paired employer cost"):
            print(f"  {line}")
    verdict = "PASS" if per_run <= TARGET_SECONDS_PER_RUN else "FAIL"
    print(f"target: <= {TARGET_SECONDS_PER_RUN:.0f} s per run: {verdict} ({per_run:.2f} s)")
    (work / "results.json").write_text(json.dumps({
        "argv": sys.argv, "reference_seconds": reference, "single_run_seconds": round(single, 3),
        "ensemble_seconds": round(wall, 3), "runs": runs, "workers": args.workers,
        "seconds_per_run": round(per_run, 3), "loadavg": [load_before, load_after],
        "paired_widths": manifest.get("paired_widths", [])}, indent=2))
    print(f"raw results: {work / 'results.json'}; ensemble output: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
