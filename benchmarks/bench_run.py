"""End-to-end speed and memory benchmark of `planwise run` (not a timed test: numbers depend on the machine).

Why: the speed and memory targets (TARGETS: the default 5,000 x 5 years, 100,000 x 5 and 1,000,000 x 10 years,
and 6 GB for 1,000,000 x 5) hold on a 2-core machine, and one machine's speed varies by up to 2.5x from one sitting
to the next, so each verdict also names the reference workload's time.
This measures exactly what a user runs: one `planwise run` subprocess per repetition, each on a fresh database.

How:
    python benchmarks/bench_run.py                                   # 100,000 employees, 3 repetitions
    python benchmarks/bench_run.py --employees 100000 1000000 --repeat 1 --workdir /tmp/bench
    python benchmarks/bench_run.py --checkout /tmp/old-checkout      # the same runs with another checkout's code,
                                                                     # for a before/after in one sitting
    python benchmarks/bench_run.py --employees 1000000 --years 2025-2034 --repeat 1 \
        --config benchmarks/plan_design.yaml                         # a richer plan: service-tiered match, points
                                                                     # core, age 21 / 1 year / quarterly entry

For each size: `planwise census generate --employees N --seed 42` once (not timed), then `--repeat` times
`planwise run --years Y0-Y1 --census ... --db <fresh folder>/simulation.duckdb --threads T`. Per repetition:
wall seconds; peak RSS from os.wait4 (ru_maxrss, KiB on Linux: the largest single process of the child's tree,
which is the one python process since dbt runs in-process) and, as a cross-check, the peak of the summed RSS of
the child's process tree sampled from /proc; and from the run's summary.json the dbt invocations and per-year
seconds. Prints one table per size, a line against the targets, and writes results.json into the workdir.
Exits 1 if any run fails (its stderr tail is printed). Every median wall time is also given as a multiple of
`benchmarks/reference.py`'s fixed workload, timed before and after the runs: compare those ratios across sittings and machines.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import describe, reference_seconds  # noqa: E402 - the sibling module, whatever the cwd

REPO = Path(__file__).resolve().parent.parent
CODE = {"cwd": REPO}  # where the commands run; `--checkout` points it (and `python -m`'s imports) elsewhere
MIB = 1024 * 1024
GIB = 1024 ** 3
# (employees, years, median wall seconds or None, peak RSS bytes or None): what a run of that size must stay within
TARGETS = [(5_000, 5, 8.0, None), (100_000, 5, 15.0, None), (1_000_000, 10, 150.0, 4 * GIB),
           (1_000_000, 5, None, 6 * GIB)]


def planwise_command() -> list[str]:
    """The installed console script, else the module (identical: `python -m navigator_orchestrator.cli`)."""
    script = shutil.which("planwise")
    return [script] if script else [sys.executable, "-m", "navigator_orchestrator.cli"]


def parse_years(text: str) -> tuple[int, int]:
    start, _, end = text.partition("-")
    first, last = int(start), int(end or start)
    if last < first:
        raise argparse.ArgumentTypeError(f"--years {text}: end before start")
    return first, last


# ---------------------------------------------------------------------------------------------- process tree RSS
def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: fields start after the last ')'
        fields = stat[stat.rfind(b")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants until stopped; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0
        self.max_processes = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            tree, todo = [], [self.pid]
            children = _children_map()
            while todo:
                pid = todo.pop()
                tree.append(pid)
                todo.extend(children.get(pid, ()))
            self.peak = max(self.peak, sum(_rss_bytes(pid) for pid in tree))
            self.max_processes = max(self.max_processes, len(tree))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


# ---------------------------------------------------------------------------------------------------- one run
def run_measured(cmd: list[str], out_dir: Path) -> dict:
    """Run cmd with stdout/stderr to files; wall seconds, ru_maxrss of the child tree (wait4), sampled tree RSS."""
    stdout_path, stderr_path = out_dir / "stdout.txt", out_dir / "stderr.txt"
    env = {k: v for k, v in os.environ.items() if k != "DB_PATH"}  # --db is explicit anyway
    load_before = os.getloadavg()[0]
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        began = time.perf_counter()
        process = subprocess.Popen(cmd, cwd=CODE["cwd"], stdout=out, stderr=err, env=env)
        sampler = TreeSampler(process.pid)
        sampler.start()
        try:
            # wait4's rusage covers the child and every descendant it waited for (Linux keeps the max in cmaxrss)
            _, status, usage = os.wait4(process.pid, 0)
        except KeyboardInterrupt:
            process.terminate()
            process.wait()
            raise
        wall = time.perf_counter() - began
        sampler.stop()
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "returncode": process.returncode,
        "wall_seconds": round(wall, 3),
        "maxrss_bytes": usage.ru_maxrss * 1024,  # KiB on Linux
        "tree_rss_peak_bytes": sampler.peak,
        "tree_max_processes": sampler.max_processes,
        "loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # machine noise: before, after
        "user_seconds": round(usage.ru_utime, 2),
        "system_seconds": round(usage.ru_stime, 2),
        "stdout": stdout_path.read_text(errors="replace"),
        "stderr": stderr_path.read_text(errors="replace"),
    }


def find_summary(stdout: str, stderr: str, db_dir: Path) -> Path | None:
    for text in (stdout, stderr):
        found = re.findall(r"summary:? (\S+summary\.json)", text)
        if found and Path(found[-1]).is_file():
            return Path(found[-1])
    candidates = sorted(glob.glob(str(db_dir / "artifacts" / "runs" / "*" / "summary.json")), key=os.path.getmtime)
    return Path(candidates[-1]) if candidates else None


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


# ------------------------------------------------------------------------------------------------------ report
def fmt_mib(value: float) -> str:
    return f"{value / MIB:,.0f}"


def print_size_table(n: int, reps: list[dict], years: list[int]) -> None:
    ok = [r for r in reps if r["ok"]]
    print(f"\n== {n:,} employees x {len(years)} years ({years[0]}-{years[-1]}), "
          f"{len(ok)}/{len(reps)} repetitions ok ==")
    if not ok:
        return
    walls = [r["wall_seconds"] for r in ok]
    rss = [r["maxrss_bytes"] for r in ok]
    tree = [r["tree_rss_peak_bytes"] for r in ok]
    invocations = ok[0]["dbt_invocations"]
    rows = [
        ("wall s (median / min / max)", f"{statistics.median(walls):.1f} / {min(walls):.1f} / {max(walls):.1f}"),
        ("run duration s, summary.json (median)", f"{statistics.median(r['duration_seconds'] for r in ok):.1f}"),
        ("peak RSS MiB, wait4 ru_maxrss (median / max)", f"{fmt_mib(statistics.median(rss))} / {fmt_mib(max(rss))}"),
        ("peak RSS MiB, /proc tree sum (median / max)", f"{fmt_mib(statistics.median(tree))} / {fmt_mib(max(tree))}"),
        ("CPU s user+sys (median)", f"{statistics.median(r['user_seconds'] + r['system_seconds'] for r in ok):.1f}"),
        ("1-min load average before/after (median)",
         f"{statistics.median(r['loadavg_1min'][0] for r in ok):.1f} / "
         f"{statistics.median(r['loadavg_1min'][1] for r in ok):.1f}  ({os.cpu_count()} CPUs; above that, "
         "other processes were competing and wall time is inflated)"),
        ("dbt invocations total", f"{len(invocations)} ({', '.join(invocations)})"),
        ("dbt invocations per simulated year", f"{len(invocations) / len(years):.2f} "
                                               f"({sum(1 for i in invocations if i == 'run') / len(years):.0f} 'run'"
                                               f" + {len(invocations) - invocations.count('run')} shared)"),
    ]
    for year in years:
        seconds = [r["year_seconds"].get(year) for r in ok if r["year_seconds"].get(year) is not None]
        if seconds:
            rows.append((f"year {year} s (median / min / max)",
                         f"{statistics.median(seconds):.1f} / {min(seconds):.1f} / {max(seconds):.1f}"))
    setup = [r["duration_seconds"] - sum(r["year_seconds"].values()) for r in ok]
    rows.append(("outside the year loop s (median)", f"{statistics.median(setup):.1f}  "
                                                     "(census into the db, backup, dbt parse + seed, summary)"))
    rows.append(("before/after the run clock s (median)",
                 f"{statistics.median(r['wall_seconds'] - r['duration_seconds'] for r in ok):.1f}  "
                 "(python + imports, config, census read/check, exit)"))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")


def target_line(results: dict[int, list[dict]], years: list[int], reference: float) -> str:
    """Each target of this many years: PASS or FAIL with its figure, or not measured."""
    parts = []
    for employees, span, wall, rss in TARGETS:
        if span != len(years):
            continue
        name = f"{employees:,} x {span}y"
        ok = [r for r in results.get(employees, []) if r["ok"]]
        if not ok:
            parts.append(f"{name}: not measured")
            continue
        if wall is not None:
            median = statistics.median(r["wall_seconds"] for r in ok)
            parts.append(f"{name} <= {wall:.0f} s: {'PASS' if median <= wall else 'FAIL'} (median {median:.1f} s)")
        if rss is not None:
            peak = max(max(r["maxrss_bytes"], r["tree_rss_peak_bytes"]) for r in ok)
            parts.append(f"{name} peak RSS < {rss / GIB:.0f} GiB: {'PASS' if peak < rss else 'FAIL'} "
                         f"(peak {peak / GIB:.2f} GiB)")
    if not parts:
        return f"targets: none for {len(years)} years"
    return f"targets (reference workload {reference:.2f} s, timed beside them): " + "; ".join(parts)


# -------------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, nargs="+", default=[100_000], help="census sizes (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size, each on a fresh database (default 3)")
    parser.add_argument("--years", default="2025-2029", help="simulated years, START-END (default 2025-2029)")
    parser.add_argument("--threads", type=int, default=2, help="planwise --threads (default 2)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/planwise-bench"),
                        help="census files, databases and results (default /tmp/planwise-bench)")
    parser.add_argument("--reuse-census", action="store_true", help="reuse an existing census_N.parquet")
    parser.add_argument("--config", type=Path, help="planwise run --config PATH (default: the project's config), "
                                                    "e.g. benchmarks/plan_design.yaml")
    parser.add_argument("--checkout", type=Path, help="run another checkout's code (python -m from that folder), "
                                                      "e.g. a `git worktree` of the commit before a change")
    args = parser.parse_args(argv)
    first, last = parse_years(args.years)
    years = list(range(first, last + 1))
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    planwise = planwise_command()
    if args.checkout:
        CODE["cwd"] = args.checkout.resolve()
        planwise = [sys.executable, "-m", "navigator_orchestrator.cli"]

    reference_before = reference_seconds()
    print(f"reference workload: {reference_before:.2f} s", flush=True)
    results: dict[int, list[dict]] = {}
    failed = False
    for n in args.employees:
        census = workdir / f"census_{n}.parquet"
        if not (args.reuse_census and census.is_file()):
            cmd = [*planwise, "census", "generate", "--employees", str(n), "--seed", "42", "--out", str(census)]
            print("$", " ".join(cmd), flush=True)
            began = time.perf_counter()
            done = subprocess.run(cmd, cwd=CODE["cwd"], capture_output=True, text=True)
            if done.returncode != 0:
                print(f"census generation failed (exit {done.returncode}):\n{tail(done.stderr)}", file=sys.stderr)
                return 1
            print(f"  census: {time.perf_counter() - began:.1f} s (not timed)", flush=True)
        results[n] = []
        for rep in range(1, args.repeat + 1):
            rep_dir = workdir / f"n{n}" / f"rep{rep}"
            shutil.rmtree(rep_dir, ignore_errors=True)
            rep_dir.mkdir(parents=True)
            db = rep_dir / "simulation.duckdb"
            cmd = [*planwise, "run", "--years", f"{first}-{last}", "--census", str(census), "--db", str(db),
                   "--threads", str(args.threads), *(["--config", str(args.config.resolve())] if args.config else [])]
            print("$", " ".join(cmd), flush=True)
            measured = run_measured(cmd, rep_dir)
            summary_path = find_summary(measured["stdout"], measured["stderr"], rep_dir)
            summary = json.loads(summary_path.read_text()) if summary_path else {}
            record = {
                "employees": n, "rep": rep, "db": str(db), "summary_path": str(summary_path),
                "ok": measured["returncode"] == 0 and summary.get("status") == "success",
                "status": summary.get("status"), "run_id": summary.get("run_id"),
                "duration_seconds": float(summary.get("duration_seconds") or 0.0),
                "dbt_invocations": list(summary.get("dbt_invocations") or []),
                "year_seconds": {int(y["year"]): float(y["seconds"]) for y in summary.get("years", [])},
                **{k: v for k, v in measured.items() if k not in ("stdout", "stderr")},
            }
            results[n].append(record)
            print(f"  rep {rep}: exit {record['returncode']}, {record['wall_seconds']:.1f} s wall, "
                  f"peak RSS {fmt_mib(record['maxrss_bytes'])} MiB (tree {fmt_mib(record['tree_rss_peak_bytes'])}"
                  f" MiB, {record['tree_max_processes']} process(es)), load {record['loadavg_1min'][0]:.1f}"
                  f"->{record['loadavg_1min'][1]:.1f}, years "
                  + ", ".join(f"{y}: {s:.1f}s" for y, s in record["year_seconds"].items()), flush=True)
            if not record["ok"]:
                failed = True
                print(f"  run failed (exit {record['returncode']}, status {record['status']}); stderr tail:\n"
                      f"{tail(measured['stderr'])}\n  stdout tail:\n{tail(measured['stdout'], 10)}", file=sys.stderr)
                break  # a failing configuration fails again: next size

    reference = statistics.median([reference_before, reference_seconds()])
    for n, reps in results.items():
        print_size_table(n, reps, years)
        ok = [r["wall_seconds"] for r in reps if r["ok"]]
        if ok:
            print(f"  median wall {describe(statistics.median(ok), reference)}")
    print()
    print(target_line(results, years, reference))
    out = workdir / "results.json"
    out.write_text(json.dumps({"argv": sys.argv, "years": years, "threads": args.threads,
                               "reference_seconds": reference,
                               "results": {str(n): reps for n, reps in results.items()}}, indent=2))
    print(f"raw results: {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
