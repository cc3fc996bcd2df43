"""Command line: `planwise run`, `planwise check`, `planwise backup create|list|verify|restore`,
`planwise census generate|inspect`, `planwise ensemble`, `planwise init`, `planwise report`, `planwise export`.
Same as `python -m navigator_orchestrator.cli`.

Every failure ends with one line on stderr naming what is wrong and how to fix it, and a non-zero exit code
(2 for bad input, which never touches a database or file; 75 for a database in use; RECOVERY.md lists them).
Every line printed passes through `masking.mask`.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys
from pathlib import Path

from dotenv import load_dotenv

from .errors import BackupError, InputError, PlanwiseError
from .inputs.memory import DEFAULT_MEMORY_LIMIT
from .inputs.paths import resolve_db_path
from .safety.masking import mask

DB_HELP = "DuckDB file (default: $DB_PATH, else dbt/simulation.duckdb; in a plan project, its simulation.duckdb)"


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
    run.add_argument("--census", type=Path, help="census in PlanWise format, .parquet or .csv (default: in a plan "
                                                  "project the file in its census/, else the bundled 5,000-person "
                                                  "census, made on first use)")
    _census_reading(run)
    run.add_argument("--db", help=DB_HELP)
    run.add_argument("--threads", type=_threads, default=min(4, os.cpu_count() or 1),
                     help="dbt and DuckDB threads, 1..64 (results are identical for any value)")
    run.add_argument("--memory-limit", default=DEFAULT_MEMORY_LIMIT,
                     help=f"memory DuckDB may use for the run, e.g. 2GB or 512MiB, at least 256MiB (default "
                          f"{DEFAULT_MEMORY_LIMIT}); past it DuckDB spills to a temporary folder beside the database")
    run.add_argument("--no-backup", action="store_true",
                     help="do not back up the existing database before the run (recorded in the summary)")
    run.add_argument("--resume", action="store_true",
                     help="skip the years whose checkpoints (.checkpoints/ beside the database) prove them complete "
                          "and unchanged; rebuild from the first year that is not (same other arguments as the run)")
    run.add_argument("--dbt-project", type=Path, help="dbt project folder to run (default: dbt/ of this checkout, or "
                                                      "of the plan project if it has one, else the installed "
                                                      "package's); for trying a fix on a copy of the models")

    check = commands.add_parser("check", help="run the per-year quality gates on an existing database "
                                              "(after plain dbt, or to re-check a run); exit 1 on an error")
    check.add_argument("--years", help="START-END or one year (default: every year in the database)")
    check.add_argument("--db", help=DB_HELP)
    check.add_argument("--config", type=Path, help="YAML config whose quality.* thresholds apply "
                                                   "(default: config/simulation_config.yaml)")

    backup = commands.add_parser("backup", help="verified copies of the database in backups/ beside it")
    backup_commands = backup.add_subparsers(dest="backup_command", required=True, parser_class=_Parser)
    create = backup_commands.add_parser("create", help="back up the database now (verified, rotated)")
    listing = backup_commands.add_parser("list", help="list the database's backups, oldest first")
    verify = backup_commands.add_parser("verify", help="check backups against their manifests and open them")
    verify.add_argument("path", nargs="?", type=Path, help="backup file (default: latest and every listed backup)")
    restore = backup_commands.add_parser("restore", help="verify a backup, back up the database, replace it")
    restore.add_argument("path", nargs="?", type=Path, help="backup file (default: backups/backup_latest.duckdb)")
    for command in (create, listing, verify, restore):
        command.add_argument("--db", help=DB_HELP)
    for command in (create, restore):
        command.add_argument("--config", type=Path, help="YAML config whose backup.keep applies "
                                                         "(default: config/simulation_config.yaml)")

    ensemble = commands.add_parser("ensemble", help="many seeds per scenario: one run each, percentile bands, "
                                                     "paired differences and charts under --out")
    ensemble.add_argument("--scenarios", type=Path, nargs="+", required=True, metavar="DIR|FILE",
                          help="scenario YAML files of config overrides, or folders of them (name: the file stem)")
    ensemble.add_argument("--seeds", required=True, help="seeds, e.g. 1-100 or 1,2,5 (one run per scenario and seed)")
    ensemble.add_argument("--years", help="START-END, e.g. 2025-2029 (default: the config's years)")
    ensemble.add_argument("--out", type=Path, required=True, help="folder for the results (created if missing)")
    ensemble.add_argument("--census", type=Path, help="census in PlanWise format (default: the bundled 5,000-person "
                                                      "census)")
    _census_reading(ensemble)
    ensemble.add_argument("--config", type=Path, help="base YAML config the scenarios override "
                                                      "(default: config/simulation_config.yaml)")
    ensemble.add_argument("--scheduler", help="local (default: a pool of worker processes), local:N (a Dask "
                                              "LocalCluster of N workers) or tcp://HOST:PORT (a Dask scheduler; "
                                              "default $DASK_SCHEDULER_ADDRESS); Dask needs the 'distributed' extra")
    ensemble.add_argument("--workers", type=_positive_int, help="processes of the local pool (default: the CPUs, "
                                                                "at most 8)")
    ensemble.add_argument("--retries", type=_non_negative_int, default=0,
                          help="times a run that fails is tried again before it is recorded as failed (default 0)")
    ensemble.add_argument("--resume", action="store_true",
                          help="keep the runs whose result files under --out exist and verify; run the others")
    ensemble.add_argument("--baseline-scenario", dest="baseline", metavar="NAME",
                          help="scenario to compare the others with, seed by seed (paired differences)")
    ensemble.add_argument("--keep-databases", action="store_true",
                          help="keep each run's database under --out/work/ (default: removed once its results "
                               "are saved)")

    census = commands.add_parser("census", help="census files")
    census_commands = census.add_subparsers(dest="census_command", required=True, parser_class=_Parser)
    generate = census_commands.add_parser("generate", help="write a deterministic synthetic census")
    generate.add_argument("--employees", type=_positive_int, required=True, help="number of people")
    generate.add_argument("--seed", type=_non_negative_int, default=42, help="generator seed (default 42)")
    generate.add_argument("--out", type=Path, required=True, help="output file, .parquet or .csv")
    inspect = census_commands.add_parser("inspect", help="what the engine will make of a census: rows, actives, "
                                                         "people dropped and why, age, tenure and pay bands, "
                                                         "participation, deferral rates, columns it ignores")
    inspect.add_argument("path", type=Path, metavar="PATH", help="census file: .parquet, .csv or .xlsx")
    _census_reading(inspect)
    inspect.add_argument("--html", type=Path, metavar="FILE", help="also write the inspection as a page like "
                                                                   "the run report's")

    report = commands.add_parser("report", help="one self-contained HTML page of a run (--db) or of an ensemble "
                                                "(--ensemble), to open anywhere offline, print or e-mail")
    export = commands.add_parser("export", help="a workbook of a run (--db) or of an ensemble (--ensemble): "
                                                "summary, events, assumptions, quality, metadata")
    export.add_argument("--format", choices=["xlsx"], required=True, help="file format (xlsx: needs the 'reports' "
                                                                         "extra)")
    export.add_argument("--detail", action="store_true", help="add the Workforce sheet: one row per person-year "
                                                              "(large)")
    for command in (report, export):
        command.add_argument("--db", help=DB_HELP)
        command.add_argument("--run-id", help="run to show (default: the newest run on the database)")
        command.add_argument("--ensemble", type=Path, metavar="DIR", help="an ensemble's --out folder, instead of a "
                                                                          "run")
        command.add_argument("--out", type=Path, required=True, help="file to write")

    init = commands.add_parser("init", help="create a plan project in DIR for a team to keep under git: config, "
                                             "scenarios, census/, tests, baselines/, .gitignore, CI workflow")
    init.add_argument("directory", type=Path, metavar="DIR", help="folder to create (new, or empty)")
    init.add_argument("--census", type=Path, help="census in PlanWise format, .parquet or .csv: checked as a run "
                                                  "would, copied to DIR/census/, the project's default from then on")
    _census_reading(init)
    init.add_argument("--with-dbt", action="store_true", help="copy the dbt project to DIR/dbt/, which the project "
                                                              "then runs instead of the installed one (to change "
                                                              "models)")
    return parser


def _census_reading(command: argparse.ArgumentParser) -> None:
    """How a client's census is read: which sheet of an .xlsx, and which of its headers is which column."""
    command.add_argument("--census-sheet", metavar="NAME", help="sheet of an .xlsx census (default: the first)")
    command.add_argument("--census-map", type=Path, metavar="MAP.yaml",
                         help="YAML mapping PlanWise's census columns to the file's own headers, with date_format "
                              "for its dates (docs/census.md)")


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
    from dataclasses import replace

    from .api import run_request, simulate
    from .inputs.years import parse_years
    from .run.progress import status_line
    from .run.run_log import LEVELS, log_level
    from .run.summary import print_run_table

    request = run_request(years=parse_years(args.years) if args.years is not None else None, seed=args.seed,
                          config=args.config, census=args.census, census_sheet=args.census_sheet,
                          census_map=args.census_map, db=args.db, threads=args.threads,
                          backup=not args.no_backup, resume=args.resume, dbt_project=args.dbt_project,
                          memory_limit=args.memory_limit)
    with status_line("years") as status:  # a status line on a terminal, cleared before the lines below
        result = simulate(replace(request, progress=status), echo=status.echo)
    if result.status != "success":
        _error(result.errors[0])  # the cause; later entries are consequences (e.g. run_metadata not recorded)
        print(mask(f"summary: {result.summary_path}"), file=sys.stderr)
        return result.exit_code or 1
    if LEVELS[log_level()] <= LEVELS["INFO"]:
        print_run_table(result)
    return 0


def _check(args: argparse.Namespace) -> int:
    from .api import check
    from .inputs.config import load_config
    from .inputs.years import parse_years

    years = parse_years(args.years) if args.years else None
    report = check(args.db, load_config(args.config), years, echo=_say)
    for result in report.verdict.results:
        _say(result.line())
    _say(report.verdict.tally(report.check_id))
    report.verdict.enforce()  # the first blocking result, as the run would have stopped on it
    return 0


def _backup(args: argparse.Namespace) -> int:
    from .inputs.config import load_config
    from .run.pipeline import new_run_id
    from .safety import backup
    from .safety.locking import run_lock

    db_path = resolve_db_path(args.db)
    if args.backup_command == "list":
        return _list_backups(db_path)
    if args.backup_command == "verify":
        return _verify_backups(db_path, args.path)
    if not db_path.parent.is_dir():
        raise InputError(f"--db {db_path}: folder {db_path.parent} does not exist", "point --db at the database")
    keep = load_config(args.config).get("backup.keep")
    operation_id = new_run_id()
    if args.backup_command == "create":
        if not db_path.is_file():
            raise InputError(f"no database at {db_path}", "point --db (or DB_PATH) at an existing database")
        with run_lock(db_path, operation_id, "planwise backup create", _say):
            made = backup.create_backup(db_path, operation_id, keep)
        _say(f"backup: {made.path} (verified; {backup.LATEST} replaced; keeping the newest {keep})")
        return 0
    source = _backup_file(db_path, args.path)
    with run_lock(db_path, operation_id, "planwise backup restore", _say):
        restored = backup.restore_backup(db_path, source, operation_id, keep)
    _say(f"restored {db_path} from {restored.backup.path} (verified, taken {restored.backup.manifest['created_at']})")
    if restored.previous is not None:
        _say(f"the database it replaced is backed up as {restored.previous.path}")
    if restored.set_aside is not None:
        _say(f"the database it replaced could not be read; it was moved to {restored.set_aside}")
    return 0


def _list_backups(db_path: Path) -> int:
    from .safety import backup

    backups = backup.list_backups(db_path)
    if not backups:
        _say(f"no backups of {db_path} in {backup.folder_of(db_path)} "
             "(one is made before each run; `planwise backup create` makes one now)")
        return 0
    _say(f"backups of {db_path} in {backup.folder_of(db_path)}, oldest first:")
    for item in backups:
        _say(f"  {item.describe()}")
    latest = backup.latest_backup(db_path)
    if latest is not None:
        _say(f"  {latest.path.name}: copy of {latest.manifest.get('copy_of', '?')}")
    return 0


def _verify_backups(db_path: Path, path: Path | None) -> int:
    from .safety import backup

    if path is not None:
        checked = backup.verify_backup(_backup_file(db_path, path))
        _say(f"ok: {checked.path} matches its manifest ({len(checked.tables)} tables, sha256 {checked.sha256[:16]}...)")
        return 0
    latest = backup.latest_backup(db_path)
    paths = [b.path for b in backup.list_backups(db_path)] + ([latest.path] if latest else [])
    if not paths:
        _say(f"no backups of {db_path} to verify in {backup.folder_of(db_path)}")
        return 0
    failed = []
    for candidate in paths:
        try:
            backup.verify_backup(candidate)
            _say(f"ok: {candidate.name}")
        except BackupError as error:
            _say(f"FAILED: {candidate.name}: {error.message}")
            failed.append(candidate.name)
    if failed:
        raise BackupError(f"{len(failed)} of {len(paths)} backups failed verification: {', '.join(failed)}",
                          "delete them, and restore only from one that verifies: `planwise backup list`")
    return 0


def _backup_file(db_path: Path, path: Path | None) -> Path:
    """A backup given by path, or by file name inside the database's backup folder; default latest."""
    from .safety import backup

    if path is None:
        return backup.latest_path(db_path)
    if path.exists() or path.is_absolute():
        return path.resolve()
    return backup.folder_of(db_path) / path


def _say(line: str) -> None:
    print(mask(line))


def _error(message: str) -> None:
    print(mask(f"planwise: error: {message}"), file=sys.stderr)


def _ensemble(args: argparse.Namespace) -> int:
    from .api import run_ensemble
    from .ensembles.ensemble import EnsembleRequest
    from .run.progress import status_line

    request = EnsembleRequest(scenarios=args.scenarios, seeds=args.seeds, out=args.out, years=args.years,
                              census=args.census, census_sheet=args.census_sheet, census_map=args.census_map,
                              config=args.config, scheduler=args.scheduler,
                              workers=args.workers, retries=args.retries, resume=args.resume,
                              baseline=args.baseline, keep_databases=args.keep_databases)
    with status_line("runs") as status:  # a status line on a terminal; its echo masks like _say
        return run_ensemble(request, status.echo, status)


def _census(args: argparse.Namespace) -> int:
    from .api import generate_census

    if args.census_command == "inspect":
        return _inspect_census(args)
    path = generate_census(args.employees, args.seed, args.out)
    print(f"wrote {args.employees:,} people (seed {args.seed}) to {path}")
    return 0


def _inspect_census(args: argparse.Namespace) -> int:
    """What a run would make of the census (its config's census date), on the console and with --html on a page."""
    from datetime import date

    from .deliverables.census_page import checked_html, write_census_page
    from .inputs.census_inspect import inspect_census
    from .inputs.config import load_config

    html = checked_html(args.html) if args.html is not None else None
    start_year = load_config(None).start_year
    inspection = inspect_census(args.path, date(start_year - 1, 12, 31), args.census_sheet, args.census_map)
    for line in inspection.lines():
        _say(line)
    if html is not None:
        _say(f"wrote {write_census_page(inspection, html)}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from .deliverables.report import write_ensemble_report, write_run_report

    if _of_ensemble(args):
        out = write_ensemble_report(args.ensemble, args.out)
    else:
        out = write_run_report(resolve_db_path(args.db), args.run_id, args.out)
    _say(f"wrote {out}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .deliverables.workbook import write_ensemble_workbook, write_run_workbook

    if _of_ensemble(args):
        if args.detail:
            raise InputError("--detail adds a run's person-years, and an ensemble keeps no run's database",
                             "leave out --detail, or export one run with --db and --detail")
        out = write_ensemble_workbook(args.ensemble, args.out)
    else:
        out = write_run_workbook(resolve_db_path(args.db), args.run_id, args.out, detail=args.detail)
    _say(f"wrote {out}")
    return 0


def _of_ensemble(args: argparse.Namespace) -> bool:
    """Whether `report`/`export` is of an ensemble (--ensemble) rather than of a run (--db, --run-id)."""
    if args.ensemble is not None and (args.db is not None or args.run_id is not None):
        raise InputError("--ensemble names an ensemble, --db and --run-id a run: give one or the other",
                         "pass --ensemble DIR alone, or --db PATH (and --run-id ID)")
    return args.ensemble is not None


def _init(args: argparse.Namespace) -> int:
    from .plan_project import init_project

    made = init_project(args.directory, census=args.census, with_dbt=args.with_dbt, census_sheet=args.census_sheet,
                        census_map=args.census_map)
    for line in made.census.summary_lines() if made.census else ():
        _say(line)
    _say(f"created plan project {made.project} ({len(made.files)} files; planwise.yaml lists what is where)")
    _say(f"next: cd {args.directory} && git init && planwise run --years 2025-2026 && python -m pytest -m smoke "
         f"&& python -m pytest --update-baseline")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The `planwise` command: `.env` of the current folder first (real environment variables win).

    `kill -USR1 PID` makes a running command print the stack of each of its threads to stderr (files, lines and
    functions, never values) and go on: how to see where a command that seems stuck is waiting."""
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    load_dotenv(Path.cwd() / ".env", override=False)
    return run_cli(argv)


def run_cli(argv: list[str] | None = None) -> int:
    """The same command without reading `.env`: for code that embeds it with explicit arguments (the pytest
    plugin builds runs this way, in its own process, so a developer's `.env` never leaks into tests)."""
    args = build_parser().parse_args(argv)
    try:
        return {"run": _run, "check": _check, "backup": _backup, "census": _census,
                "ensemble": _ensemble, "init": _init, "report": _report, "export": _export}[args.command](args)
    except PlanwiseError as error:
        _error(str(error))
        return error.exit_code
    except KeyboardInterrupt as interrupt:
        from .safety.interrupts import exit_code

        print("planwise: interrupted", file=sys.stderr)
        return exit_code(interrupt)  # 130 for Ctrl-C, 143 for SIGTERM
    except Exception as error:  # noqa: BLE001 - a bug outside a run (whose own log keeps its traceback): one line
        _error(f"unexpected error: {type(error).__name__}: {' '.join(str(error).split())[:300]} (fix: this is a bug "
               f"or a broken installation, not your input: run it again with PLANWISE_TRACEBACK=1 to print the "
               f"traceback, and report it)")
        if os.environ.get("PLANWISE_TRACEBACK"):
            import traceback

            traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
