"""What one command costs as a child of the tests' fork server, or as a fresh process (not a timed test).

Why: the suite starts a few hundred `planwise` commands (RECOVERY.md's fixes, crash and resume chains, lock
tests); whatever every child pays beyond its own work is paid that many times. `planwise --help` is almost only
that fixed cost (fork, start-up, exit); `planwise check` adds one database's quality gates (no dbt); a one-year
`planwise run` adds dbt (its import is what the fork server saves); plain `dbt test --select tag:critical` from
dbt/ (RECOVERY.md's and validate_production.sh's) is the interpreter's `dbt` script, partially parsed.

How:
    python benchmarks/bench_commands.py                         # 7 of each, on a 200-person, 2-year database
    python benchmarks/bench_commands.py --checkout /tmp/old     # the same with another checkout's plugin and CLI

Builds the database once (`planwise run`, not timed), then times each command through
`pytest_planwise.commands.planwise_command` with the tests' fork server as its process starter
(`tests/support/commands.py`, as tests/conftest.py installs it; the server is started by an untimed first
child) and, for comparison, as `python -m navigator_orchestrator.cli` in a fresh interpreter; prints medians
beside `benchmarks/reference.py`'s fixed workload. With `--checkout`, this script re-runs itself with that
checkout first on PYTHONPATH and in its folder, so the fork server (its tests/support) and the CLI are that
checkout's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import reference_seconds  # noqa: E402 - the sibling module, whatever the cwd


def _ok(done: subprocess.CompletedProcess, what: str) -> None:
    if done.returncode != 0:
        sys.exit(f"{what} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")


def _median_seconds(start, repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        start()
        times.append(time.perf_counter() - began)
    return statistics.median(times), times


def measure(workdir: Path, repeat: int) -> None:
    from navigator_orchestrator.inputs.paths import DBT_DIR
    from pytest_planwise import commands
    from pytest_planwise.commands import planwise_command

    sys.path.insert(0, str(Path.cwd() / "tests"))  # the checkout's own tests/support (the re-run's cwd)
    from support.commands import DBT_SCRIPT, forked_python, plain_dbt

    commands.use_process_starter(forked_python)

    db, census = workdir / "simulation.duckdb", workdir / "census.parquet"
    if not db.exists():
        _ok(planwise_command(["census", "generate", "--employees", 200, "--out", census], workdir), "census")
        _ok(planwise_command(["run", "--years", "2025-2026", "--census", census, "--db", db, "--no-backup"],
                             workdir), "planwise run")
    dbt_test = ["test", "--select", "tag:critical"]
    dbt_paths = ["--target-path", str(workdir / "dbt" / "target"), "--log-path", str(workdir / "dbt" / "logs")]
    fresh_dbt = {"cwd": DBT_DIR, "env": {**os.environ, "DB_PATH": str(db)}}
    commands = {  # name: (the forked child, the same command's fresh process: argv and subprocess options)
        **{name: (lambda argv=argv: planwise_command(argv, workdir),
                  ([sys.executable, "-m", "navigator_orchestrator.cli", *argv], {"cwd": workdir}))
           for name, argv in {"planwise --help": ["--help"], "planwise check": ["check", "--db", str(db)],
                              "planwise run (1 year)": ["run", "--years", "2025-2025", "--census", str(census),
                                                        "--db", str(workdir / "scratch.duckdb"),
                                                        "--no-backup"]}.items()},
        "plain dbt test": (lambda: plain_dbt(*dbt_test, db=db, work=workdir / "dbt"),
                           ([sys.executable, str(DBT_SCRIPT), *dbt_test, *dbt_paths], fresh_dbt)),
    }
    _ok(planwise_command(["--help"], workdir), "the fork server's first child")  # its start-up is not timed
    _ok(plain_dbt(*dbt_test, db=db, work=workdir / "dbt"), "plain dbt's first (full) parse")  # not timed either
    print(f"the tests' fork server: {sys.modules['support.commands'].__file__}")
    for name, (child, (argv, options)) in commands.items():
        forked, times = _median_seconds(lambda: _ok(child(), name), repeat)
        fresh, _ = _median_seconds(lambda: _ok(subprocess.run(argv, capture_output=True, text=True, **options),
                                               name), 3)
        print(f"  {name:<22} forked {forked:6.3f} s (median of {repeat}: {', '.join(f'{s:.3f}' for s in times)}); "
              f"fresh process {fresh:6.3f} s (median of 3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/planwise_bench_commands"))
    parser.add_argument("--checkout", type=Path, help="another checkout whose plugin and CLI to time")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # the re-run's own work
    args = parser.parse_args()
    if args.measure:
        measure(args.workdir, args.repeat)
        return
    before = reference_seconds()
    args.workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if args.checkout:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(args.checkout.resolve()), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, __file__, "--measure", "--repeat", str(args.repeat), "--workdir",
                           str(args.workdir)], env=env, cwd=args.checkout or Path(__file__).resolve().parent.parent)
    after = reference_seconds()
    print(f"  reference workload {before:.3f} s before, {after:.3f} s after")
    if done.returncode != 0:
        shutil.rmtree(args.workdir, ignore_errors=True)  # a half-built database is never measured next time
        sys.exit(done.returncode)


if __name__ == "__main__":
    main()
