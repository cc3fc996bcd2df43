"""Parse once, not once per run: dbt's partial parse is kept per project and database name and reused
by the next process; an edited model is re-parsed and its edit takes effect; a corrupt cache is parsed anew;
inside one process the manifest is reused while the project's files are unchanged."""

import json
from pathlib import Path

import duckdb

from navigator_orchestrator.dbt_layer.dbt_runner import DbtRunner, parse_cache_dir
from pytest_planwise.commands import planwise_command
from pytest_planwise.runs import census_file
from support.commands import copy_dbt_project


def run(tmp_path: Path, census: Path, project: Path, name: str, cache: Path,
        threads: int = 1) -> tuple[dict, dict, str]:
    """One 1-year run in its own folder; returns its dbt_parsed log line, summary and dbt.log text."""
    folder = tmp_path / name
    folder.mkdir()
    done = planwise_command(["run", "--years", "2025", "--census", census, "--db", folder / "simulation.duckdb",
                             "--dbt-project", project, "--threads", str(threads)], folder,
                            {"PLANWISE_PARSE_CACHE": str(cache)})
    assert done.returncode == 0, done.stderr
    (summary_path,) = (folder / "artifacts" / "runs").glob("*/summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "success"
    (parsed,) = [json.loads(line) for line in Path(summary["log_path"]).read_text().splitlines()
                 if json.loads(line)["event"] == "dbt_parsed"]
    (dbt_log,) = (folder / "artifacts" / "runs").glob("*/dbt/logs/dbt.log")
    return parsed, summary, dbt_log.read_text()


def test_the_next_process_skips_parsing_and_an_edit_is_reparsed(tmp_path, planwise_root):
    census = census_file(planwise_root, 300, 42)
    project, cache = copy_dbt_project(tmp_path), tmp_path / "cache"
    first, summary, _ = run(tmp_path, census, project, "first", cache)
    assert first["source"] == "full parse"
    second, again, dbt_log = run(tmp_path, census, project, "second", cache)
    assert second["source"] == "partial parse, no changes"
    assert "Partial parsing enabled, no changes found, skipping parsing" in dbt_log  # dbt's own word for it
    assert again["years"][0]["metrics"] == summary["years"][0]["metrics"]
    assert summary["years"][0]["metrics"]["raise_events"] > 0

    model = project / "models" / "intermediate" / "int_merit_events.sql"
    model.write_text(model.read_text() + "\nlimit 0\n")  # nobody gets a merit raise
    edited, changed, dbt_log = run(tmp_path, census, project, "edited", cache)
    assert edited["source"] == "partial parse" and "1 files changed" in edited["dbt_message"]
    assert changed["years"][0]["metrics"]["raise_events"] == 0


def test_a_corrupt_cache_is_parsed_anew_never_trusted(tmp_path, planwise_root):
    census = census_file(planwise_root, 300, 42)
    project, cache = copy_dbt_project(tmp_path), tmp_path / "cache"
    run(tmp_path, census, project, "first", cache)
    (cached,) = cache.rglob("partial_parse.msgpack")
    cached.write_bytes(b"\x93not a manifest" * 100)
    parsed, summary, _ = run(tmp_path, census, project, "after", cache)
    assert parsed["source"] == "full parse" and "Failed to load parsed file" in parsed["dbt_message"]
    assert summary["years"][0]["metrics"]["end_headcount"] > 0
    assert cached.stat().st_size > 10_000  # rewritten whole by dbt


def test_one_process_reuses_its_manifest_until_a_file_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("PLANWISE_PARSE_CACHE", str(tmp_path / "cache"))
    project = copy_dbt_project(tmp_path)
    runners = [DbtRunner(db_path=tmp_path / f"{name}" / "simulation.duckdb", work_dir=tmp_path / name,
                         project_dir=project) for name in ("a", "b", "c")]
    runners[0].parse()
    runners[1].parse()
    assert runners[1].parse_info["source"] == "reused in this process"
    assert runners[1]._manifest is runners[0]._manifest
    assert parse_cache_dir(project, runners[0].db_path).is_relative_to(tmp_path / "cache")
    model = project / "models" / "intermediate" / "int_merit_events.sql"
    model.write_text(model.read_text() + "\n-- an edit\n")
    runners[2].parse()
    assert runners[2].parse_info["source"].startswith("partial parse")
    assert runners[2]._manifest is not runners[0]._manifest


def test_copies_of_the_project_share_the_cache_and_read_their_own_seeds(tmp_path, planwise_root):
    """A second copy of the project (another folder, another --threads) reuses the first copy's parse, and its
    seeds come from its own files: the first copy's seed was edited after its parse and must not leak in."""
    census = census_file(planwise_root, 300, 42)
    cache = tmp_path / "cache"
    first = copy_dbt_project(tmp_path / "a")
    run(tmp_path, census, first, "first", cache)
    seed = first / "seeds" / "config_job_levels.csv"
    seed.write_text(seed.read_text().replace("1,Staff,56000,80000", "1,Staff,5600,8000"))
    second = copy_dbt_project(tmp_path / "b")
    parsed, summary, _ = run(tmp_path, census, second, "second", cache, threads=2)
    assert parsed["source"] == "partial parse, no changes", parsed
    with duckdb.connect(str(tmp_path / "second" / "simulation.duckdb"), read_only=True) as con:
        assert con.execute("select min_compensation from config_job_levels where level_id = 1").fetchone() == (56000,)
    assert summary["status"] == "success"
