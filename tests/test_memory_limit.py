"""`--memory-limit` caps the DuckDB instance a run holds open, dbt's queries included (inputs/memory.py): a model
of a copy of the project reads the limit DuckDB applies while dbt builds it, and summary.json states the same."""

from __future__ import annotations

import json

import duckdb

from pytest_planwise.commands import planwise_command
from pytest_planwise.runs import census_file
from support.commands import copy_dbt_project


def run_with_limit(tmp_path, *limit: str) -> tuple[str, dict]:
    """A one-year run of a project copy whose cost mart records current_setting('memory_limit'): what dbt saw,
    and the run's summary."""
    project = copy_dbt_project(tmp_path / ("project" + "".join(limit)))
    model = project / "models" / "marts" / "fct_employer_cost.sql"
    sql = model.read_text()
    end_of_columns = "\nfrom used"
    assert sql.count(end_of_columns) == 1
    model.write_text(sql.replace(end_of_columns, ",\n    current_setting('memory_limit') as memory_limit_seen\nfrom used"))
    db = tmp_path / ("run" + "".join(limit)) / "simulation.duckdb"
    db.parent.mkdir()
    done = planwise_command(["run", "--years", "2025-2025", "--census", census_file(tmp_path, 60, 42), "--db", db,
                             "--no-backup", "--dbt-project", project, *limit], tmp_path)
    assert done.returncode == 0, done.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        seen = con.execute("select memory_limit_seen from fct_employer_cost").fetchone()[0]
    summary = json.loads(next((db.parent / "artifacts" / "runs").glob("*/summary.json")).read_text())
    assert summary["status"] == "success"
    return seen, summary


def test_the_limit_given_is_the_one_dbt_runs_under(tmp_path):
    seen, summary = run_with_limit(tmp_path, "--memory-limit", "300MB")
    assert seen == "286.1 MiB"  # 300,000,000 bytes / 2^20, as DuckDB prints it
    assert summary["memory_limit"] == seen


def test_by_default_a_run_gets_two_gigabytes_not_most_of_the_machine(tmp_path):
    seen, summary = run_with_limit(tmp_path)
    assert seen == "1.8 GiB"  # 2,000,000,000 bytes / 2^30 = 1.86
    assert summary["memory_limit"] == seen
