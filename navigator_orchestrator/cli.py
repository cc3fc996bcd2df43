"""Command line: `planwise run`, `planwise census generate`. Same as `python -m navigator_orchestrator.cli`.

Every failure ends with one line on stderr naming what is wrong and how to fix it, and a non-zero exit code
(2 for bad input, which never touches a database or file).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dotenv import load_dotenv

from .errors import InputError, PlanwiseError
from .paths import resolve_db_path


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2 like every other input error."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        self.exit(2, f"planwise: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="planwise", description="PlanWise Navigator: multi-year workforce and 401(k) simulation")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="simulate the configured years into the database")
    run.add_argument("--years", help="START-END or one year, e.g. 2025-2029 (default: the config's years)")
    run.add_argument("--seed", type=_non_negative_int, help="random seed (default: simulation.random_seed)")
    run.add_argument("--config", type=Path, help="YAML config (default: config/simulation_config.yaml)")
    run.add_argument("--census", type=Path, help="census in PlanWise format, .parquet or .csv "
                                                  "(default: the bundled 5,000-person census, made on first use)")
    run.add_argument("--db", help="DuckDB file (default: $DB_PATH, else dbt/simulation.duckdb)")
    run.add_argument("--threads", type=_threads, default=min(4, os.cpu_count() or 1),
                     help="dbt and DuckDB threads, 1..64 (results are identical for any value)")

    census = commands.add_parser("census", help="census files")
    census_commands = census.add_subparsers(dest="census_command", required=True, parser_class=_Parser)
    generate = census_commands.add_parser("generate", help="write a deterministic synthetic census")
    generate.add_argument("--employees", type=_positive_int, required=True, help="number of people")
    generate.add_argument("--seed", type=_non_negative_int, default=42, help="generator seed (default 42)")
    generate.add_argument("--out", type=Path, required=True, help="output file, .parquet or .csv")
    return parser


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _threads(text: str) -> int:
    value = _positive_int(text)
    if value > 64:
        raise argparse.ArgumentTypeError(f"expected 1..64 threads, got {text!r}")
    return value


def _run(args: argparse.Namespace) -> int:
    from .config import load_config
    from .pipeline import RunRequest, simulate
    from .summary import print_run_table
    from .years import parse_years

    overrides = {}
    if args.years is not None:
        start, end = parse_years(args.years)
        overrides.update({"simulation.start_year": start, "simulation.end_year": end})
    if args.seed is not None:
        overrides["simulation.random_seed"] = args.seed
    config = load_config(args.config, overrides)
    census = args.census.resolve() if args.census else None
    request = RunRequest(config=config, db_path=resolve_db_path(args.db), census_path=census, threads=args.threads)
    result = simulate(request)
    if result.status != "success":
        print(f"planwise: error: {result.errors[-1]}", file=sys.stderr)
        print(f"summary: {result.summary_path}", file=sys.stderr)
        return result.exit_code or 1
    print_run_table(result)
    return 0


def _census(args: argparse.Namespace) -> int:
    from .census import generate_census

    if not args.out.parent.resolve().is_dir():
        raise InputError(f"--out {args.out}: folder {args.out.parent} does not exist", "create it first")
    path = generate_census(args.employees, args.seed, args.out)
    print(f"wrote {args.employees:,} people (seed {args.seed}) to {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    load_dotenv(Path.cwd() / ".env", override=False)
    args = build_parser().parse_args(argv)
    try:
        return _run(args) if args.command == "run" else _census(args)
    except PlanwiseError as error:
        print(f"planwise: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("planwise: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
