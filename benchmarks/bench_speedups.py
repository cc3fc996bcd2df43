"""Each dbt speed-up's share of a run (`dbt_fast_paths`): the same runs with all on, all off, and each one off alone.

Why: a speed-up replaces a dbt internal, which is a cost in itself (it is tied to one dbt version); one that does not
earn at least 3 % of a run or of the suite is not worth it. A speed-up's share is how much longer a run takes with
only that one off, against all on.

Two workloads, each in fresh processes with PLANWISE_DBT_SPEEDUPS set (it is read once per process):
- cold: `planwise run --years 2025-2029` on the 5,000-person default census, a fresh database each time (what a user
  runs); wall and CPU seconds of the child;
- warm: one process running a 200-person 5-year run four times through the API and timing the last three (the
  suite's case: its runs are built in long-lived test processes); CPU seconds.
Configurations are alternated within each round, `--rounds` rounds; medians are printed with the reference workload.

    python benchmarks/bench_speedups.py [--rounds 3] [--workload cold warm] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import reference_seconds  # noqa: E402

from navigator_orchestrator.dbt_layer.dbt_fast_paths import SPEEDUPS, SWITCH  # noqa: E402

WARM = """
import sys, time
import navigator_orchestrator as planwise
census, folder = sys.argv[1], sys.argv[2]
times = []
for i in range(4):
    began = time.process_time()
    result = planwise.simulate(planwise.run_request(years=(2025, 2029), census=census, db=f"{folder}/w{i}.duckdb",
                                                    backup=False), echo=lambda line: None)
    assert result.status == "success", result.errors
    times.append(time.process_time() - began)
print(sum(times[1:]) / 3)
"""


def configurations() -> dict[str, str]:
    """{label: PLANWISE_DBT_SPEEDUPS value}: all on, all off, and each one off alone."""
    names = list(SPEEDUPS)
    found = {"all on": "on", "all off": "off"}
    for name in names:
        found[f"without {name}"] = ",".join(other for other in names if other != name)
    return found


def cold(value: str, census: Path, work: Path) -> tuple[float, float]:
    folder = Path(tempfile.mkdtemp(dir=work))
    began = time.perf_counter()
    child = subprocess.Popen(["planwise", "run", "--years", "2025-2029", "--census", str(census), "--db",
                              str(folder / "simulation.duckdb")], cwd=folder, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env={**os.environ, SWITCH: value})
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"run failed with {SWITCH}={value}: {child.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def warm(value: str, census: Path, work: Path) -> float:
    folder = Path(tempfile.mkdtemp(dir=work))
    done = subprocess.run([sys.executable, "-c", WARM, str(census), str(folder)], capture_output=True, text=True,
                          env={**os.environ, SWITCH: value}, cwd=folder)
    if done.returncode != 0:
        sys.exit(f"warm runs failed with {SWITCH}={value}: {done.stderr[-2000:]}")
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workload", nargs="+", choices=("cold", "warm"), default=["cold", "warm"])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-speedups-"))
    work.mkdir(parents=True, exist_ok=True)
    censuses = {}
    for employees in (5000, 200):
        censuses[employees] = work / f"census_{employees}.parquet"
        if not censuses[employees].exists():
            subprocess.run(["planwise", "census", "generate", "--employees", str(employees), "--seed", "42", "--out",
                            str(censuses[employees])], check=True, stdout=subprocess.DEVNULL)
    configs = configurations()
    before = reference_seconds()
    measured: dict[str, dict[str, list[float]]] = {label: {"cold wall": [], "cold cpu": [], "warm cpu": []}
                                                   for label in configs}
    for round_number in range(args.rounds):
        order = list(configs.items())
        if round_number % 2:
            order.reverse()
        for label, value in order:
            if "cold" in args.workload:
                wall, cpu = cold(value, censuses[5000], work)
                measured[label]["cold wall"].append(wall)
                measured[label]["cold cpu"].append(cpu)
            if "warm" in args.workload:
                measured[label]["warm cpu"].append(warm(value, censuses[200], work))
    after = reference_seconds()
    medians = {label: {k: statistics.median(v) for k, v in figures.items() if v} for label, figures in measured.items()}
    base = medians["all on"]
    print(f"medians of {args.rounds}, alternated; reference workload {before:.3f} s before, {after:.3f} s after")
    columns = list(base)
    print(f"{'configuration':<24}" + "".join(f"{c:>22}" for c in columns))
    for label, figures in medians.items():
        cells = "".join(f"{figures[c]:>10.2f} s ({100 * (figures[c] / base[c] - 1):+5.1f} %)" for c in columns)
        print(f"{label:<24}{cells}")
    (work / "bench_speedups.json").write_text(json.dumps({"measured": measured, "reference": [before, after]},
                                                         indent=2))


if __name__ == "__main__":
    main()
