"""What a run did, as `artifacts/runs/<run_id>/summary.json` and as the table printed at the end.

The file exists from the moment a run has started (status `running`) and is replaced atomically after every
year and at the end (`success`, `failed`, `interrupted`), so even a run killed with SIGKILL leaves a summary
naming the years it completed. Everything in it, and every line of the table, passes through `masking`.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from importlib import metadata
from pathlib import Path

from .. import __version__
from ..safety.atomic import write_atomically
from ..safety.masking import mask, mask_data

SLOWEST = 5


@dataclass
class YearOutcome:
    year: int
    seconds: float
    metrics: dict
    skipped: bool = False  # `--resume` proved its checkpoint: read from the database, not rebuilt
    nondiscrimination: list[dict] = field(default_factory=list)  # the ADP and ACP results (metrics.year_tests)


@dataclass
class RunResult:
    """A run's record; `to_dict()` is summary.json."""

    run_id: str
    status: str
    db_path: str
    started_at: str
    start_year: int
    end_year: int
    seed: int
    config_digest: str
    census: dict = field(default_factory=dict)
    backup: dict = field(default_factory=dict)
    years: list[YearOutcome] = field(default_factory=list)
    years_processed: list[int] = field(default_factory=list)  # years this run built (and checkpointed)
    years_skipped: list[int] = field(default_factory=list)  # years `--resume` skipped, their checkpoints proven
    resume: dict[str, dict] = field(default_factory=dict)  # year -> {skipped, reason}
    projected_irs_years: list[int] = field(default_factory=list)  # years simulated on projected IRS limits
    projected_wage_base_years: list[int] = field(default_factory=list)  # an integrated core on a projected wage base
    quality: dict[str, list[dict]] = field(default_factory=dict)  # year -> every check's result
    total_rows: dict[str, int] = field(default_factory=dict)  # year-keyed table -> rows, all years
    models: list[dict] = field(default_factory=list)  # every model_finished: year, model, status, seconds
    errors: list[str] = field(default_factory=list)
    recovery: list[dict] = field(default_factory=list)  # each error with its fix
    dbt_invocations: list[str] = field(default_factory=list)
    dbt_speedups: dict[str, str] = field(default_factory=dict)  # speed-up -> "on" or why it is off (dbt_fast_paths)
    memory_limit: str = ""  # DuckDB's memory limit for the run, as DuckDB states it (`--memory-limit`)
    log_path: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    ended_at: str = ""
    duration_seconds: float = 0.0
    summary_path: str = ""
    exit_code: int = 0

    def add_error(self, message: str, hint: str | None) -> None:
        self.errors.append(mask(message))
        self.recovery.append({"error": mask(message), "fix": mask(hint or "see RECOVERY.md")})

    def slowest_models(self) -> list[dict]:
        return sorted(self.models, key=lambda m: (-m["seconds"], m["year"], m["model"]))[:SLOWEST]

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("models")
        data["slowest_models"] = self.slowest_models()
        return data


def versions() -> dict[str, str]:
    """The versions a result depends on, for the summary (and a bug report)."""
    return {"python": platform.python_version(), **engine_versions()}


def engine_versions() -> dict[str, str]:
    """The versions that compute a result (a checkpoint's input): PlanWise, dbt-core, dbt-duckdb, DuckDB."""
    found = {"planwise": __version__}
    for package in ("dbt-core", "dbt-duckdb", "duckdb"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def summary_json(result: RunResult) -> str:
    """summary.json's text: the result, masked."""
    return json.dumps(mask_data(result.to_dict()), indent=2, sort_keys=True, default=str)


def write_summary(result: RunResult, path: Path) -> None:
    """Replace summary.json atomically (`atomic.write_atomically`); a full disk is recorded, not raised."""
    result.summary_path = str(path)
    try:
        write_atomically(path, summary_json(result), point="summary")
    except OSError as error:
        result.summary_path = f"(not written: {error.strerror})"


_COLUMNS = (
    ("year", None), ("start", "start_headcount"), ("end", "end_headcount"), ("hires", "hire_events"),
    ("terms", "termination_events"), ("payroll", "prorated_payroll"), ("employee", "employee_contributions"),
    ("match", "employer_match"), ("core", "employer_core"), ("net", "net_employer_cost"),
    ("part.", "participation_rate"),
)


def _cell(key: str, value: object) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    number = Decimal(str(value))
    return f"{number:.1%}" if key == "participation_rate" else f"{number:,.0f}"


def format_year_line(outcome: YearOutcome) -> str:
    m = outcome.metrics
    if outcome.skipped:
        return f"{outcome.year}: skipped (checkpoint verified), {m['end_headcount']:,} employees at year end"
    return (f"{outcome.year}: {m['start_headcount']:,} -> {m['end_headcount']:,} employees, "
            f"{m['hire_events']:,} hires, {m['termination_events']:,} terminations, {outcome.seconds:.1f}s")


def _percent(share: str | None) -> str:
    return "-" if share is None else f"{Decimal(share) * 100:.2f} %"


def format_test_line(year: int, test: dict) -> str:
    """One ADP or ACP result: pass or fail, the averages against the limit, and a failure's correction."""
    if test["exempt_reason"]:
        return f"{year} {test['test']}: exempt ({test['exempt_reason']})"
    line = (f"{year} {test['test']}: {'passed' if test['passed'] else 'FAILED'}, HCE {_percent(test['hce_average'])}, "
            f"non-HCE {_percent(test['nhce_average'])}, limit {_percent(test['test_limit'])}, "
            f"margin {Decimal(test['margin']) * 100:+.2f} points")
    if Decimal(test["corrective_amount"]):
        line += f", corrective {Decimal(test['corrective_amount']):,.2f}"
        if Decimal(test["forfeited_match"]):
            line += f" (match forfeited {Decimal(test['forfeited_match']):,.2f})"
    return line


def print_run_table(result: RunResult) -> None:
    rows = [[str(y.year)] + [_cell(key, y.metrics[key]) for _, key in _COLUMNS[1:]]
            + ["skipped" if y.skipped else f"{y.seconds:.1f}s"] for y in result.years]
    header = [name for name, _ in _COLUMNS] + ["time"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(mask("  ".join(cell.rjust(width) for cell, width in zip(row, widths))))
    for outcome in result.years:
        for test in outcome.nondiscrimination:
            print(mask(format_test_line(outcome.year, test)))
    print(mask(f"run {result.run_id}: {result.status} in {result.duration_seconds:.1f}s, "
          f"{len(result.dbt_invocations)} dbt invocations; summary {result.summary_path}"))
