"""The plugin's fixtures: a seeded-run factory shared across xdist workers, isolated database copies, baselines,
dbt tests, the quality gates and small ensembles."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from navigator_orchestrator.run.quality import CheckResult

from .baseline import DEFAULT_TOLERANCES, ToleranceBaseline
from .dbt_tests import DbtTestOutcome, run_dbt_tests
from .ensembles import EnsembleSpec, PlanwiseEnsemble, build_ensemble, scenario_texts
from .runs import PlanwiseRun, RunSpec, build_run, file_lock, isolated_copy, kept_root, run_quality_gates


def session_root(config: pytest.Config) -> Path:
    """Where runs are built: shared by all xdist workers of this session, private to the session. A function of
    the config (pytest's temp-path factory), so that collection, before any fixture, finds it too."""
    base = config._tmp_path_factory.getbasetemp()
    root = base.parent if hasattr(config, "workerinput") else base  # xdist worker: the session's folder
    return root / "planwise"


def parse_cache_folder(config: pytest.Config) -> Path:
    """dbt's parse cache of the session (see `planwise_parse_cache`): PLANWISE_PARSE_CACHE when already set (by
    the user, or an outer session running this one through pytester), else a folder of the session root."""
    from navigator_orchestrator.dbt_layer.dbt_runner import PARSE_CACHE_ENV

    previous = os.environ.get(PARSE_CACHE_ENV)
    return Path(previous) if previous else session_root(config) / "parse_cache"


@pytest.fixture(scope="session")
def planwise_root(pytestconfig: pytest.Config) -> Path:
    """Where runs are built (`session_root`)."""
    return session_root(pytestconfig)


@pytest.fixture(scope="session", autouse=True)
def planwise_parse_cache(pytestconfig: pytest.Config) -> Iterator[Path]:
    """dbt's parse cache for the session's runs (in-process and child processes alike) under the session root:
    shared by every run and worker, so the project is parsed about once per session, never into the checkout.
    A PLANWISE_PARSE_CACHE already set is kept."""
    from navigator_orchestrator.dbt_layer.dbt_runner import PARSE_CACHE_ENV

    previous = os.environ.get(PARSE_CACHE_ENV)
    folder = parse_cache_folder(pytestconfig)
    os.environ[PARSE_CACHE_ENV] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop(PARSE_CACHE_ENV, None)
    else:
        os.environ[PARSE_CACHE_ENV] = previous


@pytest.fixture(scope="session")
def planwise_run(planwise_root: Path, pytestconfig: pytest.Config) -> Callable[..., PlanwiseRun]:
    """Factory: planwise_run(years="2025-2029", seed=42, employees=5000, **config_overrides) -> PlanwiseRun.

    Config overrides are dotted keys written with '__' (compensation__merit_budget=0.03) or passed as
    overrides={"compensation.merit_budget": 0.03}. The same arguments return the same, already built run.
    `replica=1` builds an independent copy of an otherwise identical run (for determinism checks).
    """
    option = pytestconfig.getoption

    def factory(years: str | tuple[int, int] = "2025-2029", seed: int = 42, employees: int | None = None,
                census: str | Path | None = None, threads: int = 2, replica: int = 0,
                overrides: dict[str, Any] | None = None, **config_overrides: Any) -> PlanwiseRun:
        start, end = _years(years)
        merged = dict(overrides or {})
        merged.update({key.replace("__", "."): value for key, value in config_overrides.items()})
        census = census or option("planwise_census")
        spec = RunSpec(
            start_year=start, end_year=end, seed=seed,
            employees=employees or option("planwise_employees"),
            census=str(Path(census).resolve()) if census else None,
            threads=threads, overrides=tuple(sorted(merged.items())),
            config=str(Path(option("planwise_config")).resolve()) if option("planwise_config") else None,
            replica=replica,
        )
        kept = option("planwise_runs_dir")
        root = kept_root(Path(kept)) if kept else planwise_root
        return build_run(root, spec, in_subprocess=option("planwise_subprocess"))

    return factory


@pytest.fixture
def planwise_isolated_db(tmp_path: Path) -> Callable[[PlanwiseRun], Path]:
    """Factory: planwise_isolated_db(run) -> path of a private copy of the run's database under tmp_path."""
    return lambda run: isolated_copy(run, tmp_path / "isolated")


def _years(years: str | tuple[int, int]) -> tuple[int, int]:
    if isinstance(years, str):
        from navigator_orchestrator.inputs.years import parse_years

        return parse_years(years)
    return int(years[0]), int(years[1])


@pytest.fixture
def baseline_tolerances() -> dict[str, Decimal]:
    """Per-metric absolute tolerances for `baseline`; override this fixture to loosen or tighten a metric."""
    return dict(DEFAULT_TOLERANCES)


DRIFT_TABLES = pytest.StashKey[list]()


@pytest.fixture
def baseline(request, snapshot, baseline_tolerances: dict[str, Decimal]):
    """syrupy assertion storing JSON under baselines/: `assert baseline == baseline_payload(run)`."""
    tables: list[str] = request.node.stash.setdefault(DRIFT_TABLES, [])
    extension = type("ScenarioBaseline", (ToleranceBaseline,), {"tolerances": baseline_tolerances,
                                                                  "drift_tables": tables})
    return snapshot.use_extension(extension)


@pytest.fixture(scope="session")
def planwise_dbt_tests() -> Callable[[PlanwiseRun | Path], dict[str, DbtTestOutcome]]:
    """Factory: planwise_dbt_tests(run or db path) -> {dbt test unique_id: outcome with failing rows}.

    For a shared run, the tests run once per session on a private copy (dbt writes failing rows into the
    database it tests). For a path (an isolated copy a test made), they run on that file directly.
    """
    def factory(target: PlanwiseRun | Path) -> dict[str, DbtTestOutcome]:
        if isinstance(target, Path):
            return run_dbt_tests(target, target.parent / "dbt_tests")
        folder = target.folder / "dbt_tests"
        with file_lock(target.folder / "dbt_tests.lock"):
            record = folder / "outcomes.json"
            if not record.exists():
                copy = isolated_copy(target, folder)
                outcomes = run_dbt_tests(copy, folder / "work")
                record.write_text(json.dumps({k: asdict(v) for k, v in outcomes.items()}))
            data = json.loads(record.read_text())
        return {key: DbtTestOutcome(**value) for key, value in data.items()}

    return factory


@pytest.fixture(scope="session")
def planwise_quality() -> Callable[..., list[CheckResult]]:
    """Factory: planwise_quality(run or db path, years=None, **quality overrides) -> every check of every year.

    The same gates `planwise run` applies after each year, evaluated read-only (nothing is recorded), each
    result with its status, failing count and a sample of failing rows (`employee_id`, `reason`). Thresholds
    are config keys: planwise_quality(run, quality__avg_compensation_max_change=0.01).
    """
    def factory(target: PlanwiseRun | Path, years: tuple[int, int] | None = None,
                **overrides: Any) -> list[CheckResult]:
        db = target if isinstance(target, Path) else target.db_path
        return run_quality_gates(db, years, {key.replace("__", "."): value for key, value in overrides.items()})

    return factory


@pytest.fixture(scope="session")
def planwise_ensemble(planwise_root: Path) -> Callable[..., PlanwiseEnsemble]:
    """Factory: planwise_ensemble(scenarios, seeds="1-3", years="2025-2026", employees=200, baseline=None,
    scheduler="local", workers=2, retries=0) -> PlanwiseEnsemble, built once per session with `planwise ensemble`.

    `scenarios` is {name: {dotted key: value}} or a list of scenario files (e.g. the shipped scenarios/*.yaml).
    """
    def factory(scenarios: dict[str, dict[str, Any]] | list[Path | str], seeds: str = "1-3",
                years: str = "2025-2026", employees: int = 200, baseline: str | None = None,
                scheduler: str = "local", workers: int = 2, retries: int = 0) -> PlanwiseEnsemble:
        spec = EnsembleSpec(scenarios=scenario_texts(scenarios), seeds=seeds, years=years, employees=employees,
                            baseline=baseline, scheduler=scheduler, workers=workers, retries=retries)
        return build_ensemble(planwise_root, spec)

    return factory
