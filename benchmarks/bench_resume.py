"""What `--resume` costs when every year is proven: verifying the checkpoints of a finished run (not a timed test).

Why: the target is under 1 s to verify five checkpoints of a 100,000-person run, so that resuming
never costs noticeably more than the years it saves. The work is reading and checking five `.done` files, hashing
the dbt project's files, and one grouped digest scan per year-keyed table over all five years.

How:
    python benchmarks/bench_resume.py                        # 100,000 employees, 2025-2029, 5 repetitions
    python benchmarks/bench_resume.py --employees 5000 --workdir /tmp/bench_resume
    python benchmarks/bench_resume.py --reuse          # verify the run an earlier call left in --workdir again

Builds the run once (`planwise run`, timed: the reference beside the resume), then times `Checkpoints.plan` in
this process (median of --repeat) and a whole `planwise run --resume` that skips every year (wall, median of 3),
and prints both beside the full run and `benchmarks/reference.py`'s fixed workload.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import describe, reference_seconds  # noqa: E402 - the sibling module, whatever the cwd

from navigator_orchestrator.run.checkpoints import Checkpoints, RunInputs  # noqa: E402
from navigator_orchestrator.inputs.config import load_config  # noqa: E402
from navigator_orchestrator.inputs.paths import DBT_DIR  # noqa: E402
from navigator_orchestrator.run.summary import engine_versions  # noqa: E402

PLANWISE = [sys.executable, "-m", "navigator_orchestrator.cli"]


def timed(cmd: list, cwd: Path) -> float:
    began = time.perf_counter()
    done = subprocess.run([*map(str, cmd)], cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--years", default="2025-2029")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/planwise_bench_resume"))
    parser.add_argument("--reuse", action="store_true", help="keep the run already in --workdir (no full run)")
    args = parser.parse_args()
    start, end = (int(y) for y in args.years.split("-"))
    census, db = args.workdir / "census.parquet", args.workdir / "simulation.duckdb"
    run = [*PLANWISE, "run", "--years", args.years, "--census", census, "--db", db, "--no-backup"]
    reference_before = reference_seconds()
    full = None
    if not (args.reuse and db.exists()):
        shutil.rmtree(args.workdir, ignore_errors=True)
        args.workdir.mkdir(parents=True)
        timed([*PLANWISE, "census", "generate", "--employees", args.employees, "--out", census], args.workdir)
        full = timed(run, args.workdir)

    summary = min((args.workdir / "artifacts" / "runs").glob("*/summary.json"))  # the full run's: the oldest
    config = load_config(None, {"simulation.start_year": start, "simulation.end_year": end})
    inputs_of = lambda: RunInputs.of(config, json.loads(summary.read_text())["census"]["fingerprint"],  # noqa: E731
                                     DBT_DIR, engine_versions())

    def refuse(year: int, models: list[str]) -> dict:
        raise AssertionError(f"no model was edited, yet {models} would be compiled for {year}")

    verify = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        decisions = Checkpoints(db).plan(list(range(start, end + 1)), inputs_of(), refuse).decisions
        verify.append(time.perf_counter() - began)
        if not all(d.skip for d in decisions):
            sys.exit(f"a year was not proven: {[d.line() for d in decisions]}")
    resume = [timed([*run, "--resume"], args.workdir) for _ in range(3)]
    reference_after = reference_seconds()

    print(f"{args.employees:,} employees x {end - start + 1} years ({args.years})" if full is not None
          else f"the run in {args.workdir} ({args.years}), reused")
    reference = statistics.median([reference_before, reference_after])
    if full is not None:
        print(f"  full run (same sitting)                 {describe(full, reference)}")
    print(f"  verify {end - start + 1} checkpoints (in-process)      {statistics.median(verify):7.3f} s  median of "
          f"{args.repeat} ({', '.join(f'{s:.3f}' for s in verify)}); target < 1 s")
    print(f"  `planwise run --resume`, all skipped    {statistics.median(resume):7.2f} s  median of 3 "
          f"({', '.join(f'{s:.2f}' for s in resume)})")
    print(f"  reference workload {reference_before:.3f} s before, {reference_after:.3f} s after")


if __name__ == "__main__":
    main()
