"""PlanWise Navigator: the orchestrator that runs the multi-year workforce simulation (dbt on DuckDB).

The public API (what the `planwise` CLI and the pytest plugin call):

    import navigator_orchestrator as planwise
    result = planwise.simulate(planwise.run_request(years=(2025, 2029), db="sim.duckdb"))
    result.status, result.years, result.summary_path, result.errors
    report = planwise.check(db="sim.duckdb")            # report.verdict.passed, .blocking, .results
    config = planwise.load_config("my_plan.yaml", {"simulation.random_seed": 7})
    planwise.generate_census(1000, seed=42, out="census.parquet")
    planwise.run_ensemble(planwise.EnsembleRequest(scenarios=[...], seeds="1-20", out=Path("ens")))
    planwise.init_project("acme", census="census.csv")       # a plan project (`planwise init`)
    planwise.write_run_report(Path("sim.duckdb"), None, Path("report.html"))    # `planwise report` (newest run)
    planwise.write_run_workbook(Path("sim.duckdb"), None, Path("results.xlsx"))  # `planwise export --format xlsx`
    planwise.inspect_census(Path("client.xlsx"), date(2024, 12, 31), census_map=Path("map.yaml")).lines()

Bad input raises `InputError` and a database in use `LockError`, before anything is touched (`PlanwiseError`
carries the one-line message and its fix). Names load on first use, so `import navigator_orchestrator` stays cheap
for the CLI.
"""

from importlib import import_module

__version__ = "0.1.0"

_API = {name: "api" for name in ("RunRequest", "RunResult", "run_request", "simulate", "latest_summary",
                                 "CheckReport", "check",
                                 "SimulationConfig", "load_config", "generate_census", "run_ensemble")}
_API.update({"EnsembleRequest": "ensembles.ensemble", "Verdict": "run.quality", "CheckResult": "run.quality",
             "PlanwiseError": "errors", "InputError": "errors", "LockError": "errors", "ConfigError": "errors",
             "init_project": "plan_project", "InitResult": "plan_project",
             "write_run_report": "deliverables.report", "write_ensemble_report": "deliverables.report",
             "write_run_workbook": "deliverables.workbook", "write_ensemble_workbook": "deliverables.workbook",
             "inspect_census": "inputs.census_inspect"})
__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_API[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
