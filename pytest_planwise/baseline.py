"""Baselines: syrupy JSON files under the project's `baselines/`, compared metric by metric with tolerances.

A drift fails with a table (metric, year, baseline, actual, delta) instead of a JSON diff. Files are rewritten
only by `pytest --update-baseline` (syrupy's update mode, so it works under xdist too); syrupy reports
baseline files no test uses any more.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar

from syrupy.extensions.json import JSONSnapshotExtension

from navigator_orchestrator.safety.digest import marts_digest

from .runs import PlanwiseRun

# Allowed absolute difference per metric; anything not listed must match exactly (headcounts, event counts,
# digests). Money is compared to the cent.
DEFAULT_TOLERANCES: dict[str, Decimal] = {
    "active_payroll": Decimal("0.01"),
    "prorated_payroll": Decimal("0.01"),
    "average_active_salary": Decimal("0.01"),
    "employee_contributions": Decimal("0.01"),
    "employer_match": Decimal("0.01"),
    "employer_core": Decimal("0.01"),
    "true_up_cost": Decimal("0.01"),
    "participation_rate": Decimal("0.0001"),
}


def baseline_payload(run: PlanwiseRun) -> dict[str, Any]:
    """What a scenario's baseline holds: per-year metrics and per-year digests of both marts."""
    with run.connect() as con:
        digests = {str(year): {table: f"{count}:{total}" for table, (count, total) in marts_digest(con, year).items()}
                   for year in sorted(run.years)}
    return {"metrics": {str(year): run.years[year] for year in sorted(run.years)}, "digests": digests}


def _flatten(payload: Any) -> dict[tuple[str, str], Any]:
    """{(metric, year): value} from {"metrics": {year: {metric: v}}, "digests": {year: {table: v}}}."""
    rows: dict[tuple[str, str], Any] = {}
    for section in ("metrics", "digests"):
        for year, values in (payload.get(section) or {}).items():
            for name, value in values.items():
                metric = name if section == "metrics" else f"digest:{name}"
                rows[(metric, year)] = value
    return rows


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


class BaselineExtension(JSONSnapshotExtension):
    """Stores one JSON file per test under `<baselines dir>/<test file name>/`."""

    directory: ClassVar[Path] = Path("baselines")

    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(cls.directory / test_location.basename)


class ToleranceBaseline(BaselineExtension):
    """Compares per metric within `tolerances`, and reports drift as a table (also kept in `drift_tables`, which
    the plugin shows in full in the failure report, whatever pytest's truncation of assertion messages)."""

    tolerances: ClassVar[dict[str, Decimal]] = DEFAULT_TOLERANCES
    drift_tables: ClassVar[list[str]] = []

    def drift(self, actual: Any, expected: Any) -> list[tuple[str, str, Any, Any, str]]:
        """(metric, year, baseline, actual, delta) for every metric outside its tolerance."""
        want, got = _flatten(json.loads(expected)), _flatten(json.loads(actual))
        rows = []
        for key in sorted(set(want) | set(got)):
            old, new = want.get(key), got.get(key)
            old_n, new_n = _number(old), _number(new)
            if old_n is not None and new_n is not None:
                if abs(new_n - old_n) <= self.tolerances.get(key[0], Decimal(0)):
                    continue
                rows.append((key[0], key[1], old, new, f"{new_n - old_n:+}"))
            elif old != new:
                rows.append((key[0], key[1], old, new, "changed"))
        return rows

    def matches(self, *, serialized_data: Any, snapshot_data: Any) -> bool:
        try:
            return not self.drift(serialized_data, snapshot_data)
        except (TypeError, ValueError):
            return False

    def diff_snapshots(self, serialized_data: Any, snapshot_data: Any) -> str:
        try:
            rows = self.drift(serialized_data, snapshot_data)
        except (TypeError, ValueError):
            return super().diff_snapshots(serialized_data, snapshot_data)
        table = format_drift(rows)
        self.drift_tables.append(table)
        return table

    def diff_lines(self, serialized_data: Any, snapshot_data: Any):
        yield from self.diff_snapshots(serialized_data, snapshot_data).splitlines()


def format_drift(rows: list[tuple[str, str, Any, Any, str]]) -> str:
    """A fixed-width table; the header line starts with 'metric' so it is easy to find in output."""
    header = ("metric", "year", "baseline", "actual", "delta")
    cells = [header] + [tuple("-" if v is None else str(v) for v in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in cells]
    lines.append(f"{len(rows)} metric(s) drifted from the baseline; if intended, run pytest --update-baseline")
    return "\n".join(lines)
