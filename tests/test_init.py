"""`planwise init DIR`: a plan project that runs, tests itself and fails on a changed assumption, made by the package
as a user installs it (a non-editable install in a venv, running from the built wheel's files and writing nothing
into them); a non-empty DIR or a bad --census is refused with one line and nothing written; --with-dbt runs the
project's own copy of the models.

Every command runs with every path under tmp_path: the installed package's runs and pytest sessions too
(PYTEST_DEBUG_TEMPROOT, TMPDIR).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from navigator_orchestrator.cli import run_cli
from navigator_orchestrator.inputs import paths
from navigator_orchestrator.inputs.census import COLUMN_NAMES, generate_census
from pytest_planwise.commands import planwise_command

PROJECT_FILES = {
    "planwise.yaml", "pytest.ini", ".gitignore", ".env.example", "constraints.txt",
    ".github/workflows/planwise.yml", "config/simulation_config.yaml", "scenarios/default.yaml",
    "scenarios/rich_match.yaml", "census/README.md", "tests/conftest.py", "tests/test_smoke.py",
    "tests/test_baseline.py", "tests/test_invariants.py",
}
# what the package is built from (a copy, so the build's own files stay under tmp_path)
SOURCE = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "constraints.txt", ".env.example",
          "navigator_orchestrator", "pytest_planwise", "dbt", "config", "scenarios")
NOT_SOURCE = shutil.ignore_patterns("__pycache__", "target", "logs", "*.duckdb*", ".user.yml", "dbt_packages",
                                    "artifacts", "backups", ".checkpoints")


def small_census(folder: Path, employees: int = 200, suffix: str = ".parquet") -> Path:
    return generate_census(employees, 42, folder / f"census_{employees}{suffix}")


def tree(root: Path) -> dict[str, tuple]:
    """Every file and folder under root with its size and modification time: equal trees = nothing written."""
    return {str(path.relative_to(root)): ("dir",) if path.is_dir() else (path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(root.rglob("*"))}


def init(args: list, capsys) -> tuple[int, str, str]:
    """`planwise init ...` through the real CLI (parser and all), in this process."""
    code = run_cli(["init", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"{done.args} exited {done.returncode}\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    return done


# ------------------------------------------------------------------------------------------------ what init writes


def test_init_writes_the_project_and_help_names_its_options(tmp_path, capsys):
    census = small_census(tmp_path, suffix=".csv")
    code, out, err = init([tmp_path / "acme", "--census", census], capsys)
    assert (code, err) == (0, ""), err
    project = tmp_path / "acme"
    files = {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()}
    assert files == PROJECT_FILES | {f"census/{census.name}"}
    assert [p.name for p in (project / "baselines").iterdir()] == []
    assert (project / "config" / "simulation_config.yaml").read_bytes() == paths.SHIPPED_CONFIG.read_bytes()
    assert (project / "census" / census.name).read_bytes() == census.read_bytes()
    assert "census: 200 rows read" in out and f"created plan project {project}" in out
    readme = (project / "census" / "README.md").read_text()
    assert all(f"| `{column}` |" in readme for column in COLUMN_NAMES)
    assert "DB_PATH=simulation.duckdb" in (project / ".env.example").read_text()
    workflow = yaml.safe_load((project / ".github" / "workflows" / "planwise.yml").read_text())
    steps = [step.get("run", "") for step in workflow["jobs"]["tests"]["steps"]]
    assert steps[-1] == "python -m pytest" and "pip install -c constraints.txt" in steps[-2]

    with pytest.raises(SystemExit) as done:
        run_cli(["init", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert all(name in text for name in ("DIR", "--census", "--with-dbt"))


# ------------------------------------------------------------------------------------------------ refused
# each makes the bad input under tmp_path and returns `planwise init`'s arguments


def _non_empty(tmp_path: Path) -> list:
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "notes.txt").write_text("ours")
    return [tmp_path / "acme"]


def _a_file(tmp_path: Path) -> list:
    (tmp_path / "acme").write_text("a file")
    return [tmp_path / "acme"]


def _no_parent(tmp_path: Path) -> list:
    return [tmp_path / "missing" / "acme"]


def _missing_census(tmp_path: Path) -> list:
    return [tmp_path / "acme", "--census", tmp_path / "no_such_census.csv"]


def _wrong_suffix(tmp_path: Path) -> list:
    path = tmp_path / "census.txt"
    shutil.copyfile(small_census(tmp_path, suffix=".csv"), path)
    return [tmp_path / "acme", "--census", path]


def _without_hire_dates(tmp_path: Path) -> list:
    with small_census(tmp_path, suffix=".csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    drop = rows[0].index("employee_hire_date")
    path = tmp_path / "no_hire_date.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([[v for i, v in enumerate(row) if i != drop] for row in rows])
    return [tmp_path / "acme", "--census", path]


def _nobody_active(tmp_path: Path) -> list:
    with small_census(tmp_path, suffix=".csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    path = tmp_path / "all_left.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "employee_termination_date": "2024-06-30"} for row in rows)
    return [tmp_path / "acme", "--census", path]


@pytest.mark.parametrize(("make", "needle"), [
    pytest.param(_non_empty, "already exists and is not empty", id="non-empty"),
    pytest.param(_a_file, "exists and is not a folder", id="a-file"),
    pytest.param(_no_parent, "does not exist", id="no-parent"),
    pytest.param(_missing_census, "cannot read census", id="missing-census"),
    pytest.param(_wrong_suffix, "unsupported file type '.txt'", id="census-wrong-suffix"),
    pytest.param(_without_hire_dates, "missing required column(s): employee_hire_date", id="census-missing-column"),
    pytest.param(_nobody_active, "has no active employees", id="census-nobody-active"),
])
def test_bad_input_is_refused_with_one_line_naming_it_and_nothing_written(tmp_path, capsys, make, needle):
    args = make(tmp_path)
    before = tree(tmp_path)
    code, out, err = init(args, capsys)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and needle in err and str(args[-1]) in err and "(fix: " in err, err
    assert tree(tmp_path) == before


def test_a_project_with_two_census_files_asks_which_one_and_writes_nothing(tmp_path, capsys):
    code, _, err = init([tmp_path / "acme", "--census", small_census(tmp_path)], capsys)
    assert code == 0, err
    project = tmp_path / "acme"
    shutil.copyfile(small_census(tmp_path, 300, ".csv"), project / "census" / "census_300.csv")
    before = tree(project)
    done = planwise_command(["run", "--years", "2025-2025"], project)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "holds 2 census files (census_200.parquet, census_300.csv)" in done.stderr
    assert "name one with --census" in done.stderr
    assert tree(project) == before


# ------------------------------------------------------------------------------------------------ --with-dbt


def test_with_dbt_the_project_runs_its_own_copy_of_the_models(tmp_path, capsys):
    """A column added to a mart in the project's copy is in the database a plain `planwise run` there builds: the
    project's dbt/, census and database location are the defaults inside it."""
    code, _, err = init([tmp_path / "acme", "--census", small_census(tmp_path), "--with-dbt"], capsys)
    assert code == 0, err
    project = tmp_path / "acme"
    model = project / "dbt" / "models" / "marts" / "fct_workforce_snapshot.sql"
    sql = model.read_text()
    end_of_columns = "\nfrom state s\n"
    assert sql.count(end_of_columns) == 1
    model.write_text(sql.replace(end_of_columns, ",\n    'team copy' as model_source\nfrom state s\n"))
    ok(planwise_command(["run", "--years", "2025-2025", "--threads", "1"], project))
    with duckdb.connect(str(project / "simulation.duckdb"), read_only=True) as con:
        assert con.execute("select distinct model_source from fct_workforce_snapshot").fetchall() == [("team copy",)]
        assert con.execute("select count(*) from raw_census").fetchone()[0] == 200  # census/census_200.parquet


# ------------------------------------------------------------------------------------------------ installed


def _install_in_a_venv(tmp_path: Path, env: dict[str, str]) -> Path:
    """A venv seeing this interpreter's packages, with PlanWise installed into it from a copy of this checkout,
    not editable: it runs from the built wheel's files."""
    source = tmp_path / "source"
    source.mkdir()
    for part in SOURCE:
        origin = paths.PROJECT_ROOT / part
        if origin.is_dir():
            shutil.copytree(origin, source / part, ignore=NOT_SOURCE)
        else:
            shutil.copy2(origin, source / part)
    venv = tmp_path / "venv"
    ok(subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                      capture_output=True, text=True, env=env))
    python = venv / "bin" / "python"
    ok(subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-cache-dir",
                       "--quiet", str(source)], capture_output=True, text=True, cwd=tmp_path, env=env))
    return venv


def test_an_installed_package_makes_a_plan_project_that_tests_itself(tmp_path):
    git = shutil.which("git")
    assert git, "git is needed: the project is made to be put under git"
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "PLANWISE_", "HYPOTHESIS_", "VIRTUAL_ENV"))
           and k not in ("DB_PATH", "LOG_LEVEL", "PYTHONPATH")}
    env.update(TMPDIR=str(temp), PYTEST_DEBUG_TEMPROOT=str(temp), PIP_DISABLE_PIP_VERSION_CHECK="1")
    venv = _install_in_a_venv(tmp_path, env)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    python, planwise = str(venv / "bin" / "python"), str(venv / "bin" / "planwise")

    def sh(*args: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)

    where = ok(sh(python, "-c", "import navigator_orchestrator as n, pytest_planwise as p; "
                                "print(n.__file__); print(p.__file__)")).stdout.split()
    package = Path(where[0]).parent
    assert all(Path(path).is_relative_to(venv) for path in where), where
    assert (package / "bundled" / "dbt" / "dbt_project.yml").is_file()
    folders = (package, Path(where[1]).parent)
    installed = {folder: tree(folder) for folder in folders}

    def written_into_the_package() -> list[str]:
        return [str(folder / name) for folder in folders for name, state in tree(folder).items()
                if installed[folder].get(name) != state]

    ok(sh(planwise, "init", "acme"))
    acme = tmp_path / "acme"
    ok(sh(git, "init", "--quiet", cwd=acme))
    ran = ok(sh(planwise, "run", "--years", "2025-2026", cwd=acme))
    assert "2026" in ran.stdout and (acme / "simulation.duckdb").is_file()
    assert written_into_the_package() == []
    assert list((acme / "artifacts" / "dbt_parse").iterdir())  # dbt's parse cache: beside the database

    # the project's pytest sessions share one dbt parse cache (the documented PLANWISE_PARSE_CACHE, which the plugin
    # keeps): each session's run then parses partially instead of in full, about 3 s less each
    env["PLANWISE_PARSE_CACHE"] = str(tmp_path / "parse_cache")
    smoke = ok(sh(python, "-m", "pytest", "-m", "smoke", cwd=acme))
    assert re.search(r"\b1 passed\b", smoke.stdout), smoke.stdout
    ok(sh(python, "-m", "pytest", "--update-baseline", cwd=acme))
    baselines = [p.relative_to(acme).as_posix() for p in (acme / "baselines").rglob("*.json")]
    assert baselines == ["baselines/test_baseline/test_default_scenario_matches_baseline.json"]
    clean = ok(sh(python, "-m", "pytest", cwd=acme))
    assert re.search(r"\b\d+ passed\b", clean.stdout) and "failed" not in clean.stdout, clean.stdout

    config = acme / "config" / "simulation_config.yaml"
    assert config.read_text().count("merit_budget: 0.025\n") == 1
    config.write_text(config.read_text().replace("merit_budget: 0.025\n", "merit_budget: 0.04\n"))
    drift = sh(python, "-m", "pytest", cwd=acme)
    assert drift.returncode == 1, drift.stdout[-6000:]
    assert re.search(r"\b1 failed, \d+ passed\b", drift.stdout), drift.stdout[-6000:]
    assert re.search(r"^metric +year +baseline +actual +delta$", drift.stdout, re.M), drift.stdout[-6000:]
    assert re.search(r"^active_payroll +2025 ", drift.stdout, re.M), drift.stdout[-6000:]
    assert "metric(s) drifted from the baseline; if intended, run pytest --update-baseline" in drift.stdout

    # what runs and tests left is git-ignored: only the project's own files (and the new baseline) are for git
    status = ok(sh(git, "status", "--porcelain", "--untracked-files=all", cwd=acme)).stdout.splitlines()
    assert {line[3:] for line in status} == PROJECT_FILES | set(baselines)
    # pytest caches its assertion rewrite of the plugin's modules as bytecode beside them; nothing else was written
    rewritten = re.compile(r"/__pycache__/[^/]+-pytest-[^/]+\.pyc$")
    assert [path for path in written_into_the_package() if not rewritten.search(path)] == []
