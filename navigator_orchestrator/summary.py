"""The human-readable end of a run: one table of per-year figures (masked like every line the CLI prints)."""

from __future__ import annotations

from decimal import Decimal

from .masking import mask
from .pipeline import RunResult

_COLUMNS = (
    ("year", None), ("start", "start_headcount"), ("end", "end_headcount"), ("hires", "hire_events"),
    ("terms", "termination_events"), ("payroll", "prorated_payroll"), ("employee", "employee_contributions"),
    ("match", "employer_match"), ("core", "employer_core"), ("part.", "participation_rate"),
)


def _cell(key: str, value: object) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    number = Decimal(str(value))
    return f"{number:.1%}" if key == "participation_rate" else f"{number:,.0f}"


def print_run_table(result: RunResult) -> None:
    rows = [[str(y.year)] + [_cell(key, y.metrics[key]) for _, key in _COLUMNS[1:]] + [f"{y.seconds:.1f}s"]
            for y in result.years]
    header = [name for name, _ in _COLUMNS] + ["time"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(mask("  ".join(cell.rjust(width) for cell, width in zip(row, widths))))
    print(mask(f"run {result.run_id}: {result.status} in {result.duration_seconds:.1f}s, "
          f"{len(result.dbt_invocations)} dbt invocations; summary {result.summary_path}"))
