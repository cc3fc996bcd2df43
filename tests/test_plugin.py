"""The plugin itself, exercised the way users run it: pytest in a fresh folder (pytester), in subprocesses."""

import json

import pytest


PAYLOAD_TEST = """
import os
import pytest

PAYROLL = os.environ.get("FAKE_PAYROLL", "1000.00")

@pytest.mark.baseline
@pytest.mark.parametrize("scenario", ["a", "b", "c"])
def test_metrics(baseline, scenario):
    payload = {{"metrics": {{"2025": {{"end_headcount": 10, "active_payroll": PAYROLL}}}},
               "digests": {{"2025": {{"fct_workforce_snapshot": "10:{digest}"}}}}}}
    assert baseline == payload
"""


@pytest.fixture(autouse=True)
def _inner_pytest_is_not_an_xdist_worker(request, monkeypatch):
    """The pytest runs made here are sessions of their own, even when this test runs on an xdist worker. Their
    tests do not use Hypothesis, so its plugin is off there: it imports all of Hypothesis at the end of every
    session and every xdist worker (1-2 s of CPU each). Set after pytester, which clears PYTEST_ADDOPTS."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")
        monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")


def _write_payload_test(pytester, digest="123"):
    pytester.makepyfile(test_payload=PAYLOAD_TEST.format(digest=digest))


def test_options_and_markers_are_registered(pytester):
    help_text = pytester.runpytest_subprocess("--help").stdout.str()
    for option in ("--update-baseline", "--baseline-dir", "--planwise-employees", "--planwise-census",
                   "--planwise-config", "--planwise-subprocess"):
        assert option in help_text
    markers = pytester.runpytest_subprocess("--markers").stdout.str()
    for marker in ("smoke", "determinism", "baseline", "quality", "resume", "slow"):
        assert f"@pytest.mark.{marker}:" in markers
    pytester.makepyfile(test_typo="import pytest\n@pytest.mark.smok\ndef test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("--strict-markers")
    result.assert_outcomes(errors=1)


def test_update_baseline_under_xdist_then_compare(pytester):
    _write_payload_test(pytester)
    first = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    assert first.ret != 0  # no baseline yet: a missing baseline is a failure, not a silent pass
    written = pytester.runpytest_subprocess("-n", "2", "--update-baseline", "-p", "no:cacheprovider")
    written.assert_outcomes(passed=3)
    files = sorted(p.name for p in (pytester.path / "baselines" / "test_payload").iterdir())
    assert files == ["test_metrics[a].json", "test_metrics[b].json", "test_metrics[c].json"]
    stored = json.loads((pytester.path / "baselines" / "test_payload" / "test_metrics[a].json").read_text())
    assert stored["metrics"]["2025"]["end_headcount"] == 10
    again = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    again.assert_outcomes(passed=3)


def test_drift_report_is_a_table_and_tolerance_applies(pytester, monkeypatch):
    _write_payload_test(pytester)
    pytester.runpytest_subprocess("--update-baseline").assert_outcomes(passed=3)
    monkeypatch.setenv("FAKE_PAYROLL", "1000.01")  # within the cent tolerance of money metrics
    pytester.runpytest_subprocess().assert_outcomes(passed=3)
    monkeypatch.setenv("FAKE_PAYROLL", "1250.00")
    _write_payload_test(pytester, digest="999")
    drifted = pytester.runpytest_subprocess("test_payload.py::test_metrics[a]")
    drifted.assert_outcomes(failed=1)
    output = drifted.stdout.str()
    assert "metric" in output and "baseline" in output and "delta" in output
    drifted.stdout.fnmatch_lines([
        "*active_payroll*2025*1000.00*1250.00*+250.00*",
        "*digest:fct_workforce_snapshot*2025*10:123*10:999*changed*",
        "*2 metric(s) drifted from the baseline*--update-baseline*",
    ])


def test_orphan_baseline_is_reported(pytester):
    _write_payload_test(pytester)
    pytester.runpytest_subprocess("--update-baseline").assert_outcomes(passed=3)
    orphan = pytester.path / "baselines" / "test_payload" / "test_retired_scenario.json"
    orphan.write_text("{}")
    result = pytester.runpytest_subprocess()
    result.stdout.fnmatch_lines(["*1 snapshot unused*"])
    assert result.ret != 0
    assert orphan.exists()  # reported, never silently deleted without --update-baseline


ISOLATION_TEST = """
import os

import duckdb
import pytest


@pytest.fixture(scope="module")
def run(planwise_run, tmp_path_factory):
    run = planwise_run(years="2025-2025")
    assert run.status == "success", run.stderr
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # the run is shared with the other worker's tests
        (tmp_path_factory.getbasetemp().parent / f"isolation_{worker}").touch()
    return run


def test_1_writes_to_a_private_copy(run, planwise_isolated_db):
    db = planwise_isolated_db(run)
    assert db != run.db_path
    with duckdb.connect(str(db)) as con:
        con.execute("delete from fct_workforce_snapshot")
        assert con.execute("select count(*) from fct_workforce_snapshot").fetchone()[0] == 0


def test_2_shared_run_is_untouched(run):
    assert run.query("select count(*) from fct_workforce_snapshot")[0][0] == run.years[2025]["end_headcount"] \\
        + run.years[2025]["experienced_terminations"] + run.years[2025]["new_hire_terminations"]


def test_3_shared_run_rejects_writes(run):
    with pytest.raises(duckdb.Error):
        with run.connect() as con:
            con.execute("delete from fct_workforce_snapshot")
"""


def test_runs_are_built_once_per_session_across_workers_and_copies_do_not_leak(pytester):
    """One inner session on two workers (a file each, in order: --dist loadfile): four tests and the isolation
    module share one build of the same run, and the copy one test writes to leaves the shared run as it was."""
    pytester.makepyfile(test_isolation=ISOLATION_TEST, test_shared="""
import os

import pytest

@pytest.mark.parametrize("n", range(4))
def test_same_run(planwise_run, tmp_path_factory, n):
    assert planwise_run(years="2025-2025").status == "success"
    (tmp_path_factory.getbasetemp().parent / f"shared_{os.environ['PYTEST_XDIST_WORKER']}").touch()
""")
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadfile", "--planwise-employees", "300",
                                           "--basetemp", str(pytester.path / "tmp"))
    result.assert_outcomes(passed=7)
    built = list((pytester.path / "tmp" / "planwise" / "runs").glob("*/run.json"))
    assert len(built) == 1  # seven tests on two workers, one build
    (worker,) = [p.name for p in (pytester.path / "tmp").glob("shared_gw*")]
    assert (pytester.path / "tmp" / f"isolation_{'gw1' if worker.endswith('gw0') else 'gw0'}").exists()


def test_a_merit_change_fails_the_real_baseline_until_it_is_updated(pytester):
    """The acceptance flow on the project's own baseline test: drift table naming the pay metrics, then
    --update-baseline rewrites the file, then the baseline passes again."""
    from pathlib import Path

    import yaml

    project = Path(__file__).resolve().parent.parent
    pytester.makepyfile(test_baselines=(project / "tests" / "test_baselines.py").read_text())
    stored = pytester.path / "baselines" / "test_baselines" / "test_scenario_matches_baseline[default].json"
    stored.parent.mkdir(parents=True)
    stored.write_text((project / "baselines" / "test_baselines" / stored.name).read_text())
    config = yaml.safe_load((project / "config" / "simulation_config.yaml").read_text())
    config["compensation"]["merit_budget"] = 0.03
    changed = pytester.path / "merit.yaml"
    changed.write_text(yaml.safe_dump(config))
    # the three sessions share one build of the merit run (kept runs: nothing it depends on changes in between)
    args = ("-m", "baseline", "-k", "default", "--planwise-config", str(changed), "--snapshot-warn-unused",
            "--planwise-runs-dir", str(pytester.path / "kept"))

    drifted = pytester.runpytest_subprocess(*args)
    drifted.assert_outcomes(failed=1)
    drifted.stdout.fnmatch_lines(["*metric*year*baseline*actual*delta*", "*active_payroll*2025*",
                                  "*employee_contributions*2029*", "*employer_match*", "*prorated_payroll*",
                                  "*metric(s) drifted from the baseline*"])
    assert "end_headcount" not in drifted.stdout.str()  # a pay change moves pay metrics, not headcounts
    before = stored.read_text()
    pytester.runpytest_subprocess(*args, "--update-baseline").assert_outcomes(passed=1)
    assert stored.read_text() != before
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=1)
    (built,) = (pytester.path / "kept").glob("*/runs/*/run.json")
    assert len(list(built.parent.glob("logs/run_*.jsonl"))) == 1  # built by the first session only


def test_kept_runs_are_keyed_by_every_input_a_spec_does_not_name(tmp_path):
    """--planwise-runs-dir reuses a run only while nothing it depends on changed: a config or census file edited
    in place (same path) is another run; a model edited in the dbt project, another folder of kept runs."""
    from support.commands import copy_dbt_project
    from pytest_planwise.runs import RunSpec, kept_root

    config, census = tmp_path / "plan.yaml", tmp_path / "census.csv"
    config.write_text("compensation:\n  merit_budget: 0.03\n")
    census.write_text("employee_id\nE1\n")
    spec = RunSpec(config=str(config), census=str(census))
    first = spec.key
    assert RunSpec(config=str(config), census=str(census)).key == first
    config.write_text("compensation:\n  merit_budget: 0.04\n")
    assert spec.key != first
    edited = spec.key
    census.write_text("employee_id\nE2\n")
    assert spec.key not in (first, edited)

    project = copy_dbt_project(tmp_path / "project")
    root = kept_root(tmp_path / "kept", project)
    assert root.parent == (tmp_path / "kept").resolve() and kept_root(tmp_path / "kept", project) == root
    model = project / "models" / "marts" / "fct_workforce_snapshot.sql"
    model.write_text(model.read_text() + "\n-- edited\n")
    assert kept_root(tmp_path / "kept", project) != root


@pytest.mark.determinism
def test_each_xdist_worker_builds_the_same_marts(pytester):
    """Determinism across workers: with --dist each, every worker builds its own replica of one run in its own
    process; their mart digests are identical."""
    pytester.makepyfile(test_replicas="""
import json
import os

from navigator_orchestrator.safety.digest import marts_digest


def test_build_my_replica(planwise_run, tmp_path_factory):
    worker = os.environ["PYTEST_XDIST_WORKER"]
    run = planwise_run(years="2025-2026", replica=int(worker[2:]))
    with run.connect() as con:
        digest = {table: list(value) for table, value in marts_digest(con).items()}
    out = tmp_path_factory.getbasetemp().parent / f"digest_{worker}.json"
    out.write_text(json.dumps(digest))
""")
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "each", "--planwise-employees", "500",
                                           "--basetemp", str(pytester.path / "tmp"))
    result.assert_outcomes(passed=2)
    digests = [json.loads((pytester.path / "tmp" / f"digest_gw{n}.json").read_text()) for n in (0, 1)]
    assert digests[0] == digests[1]
    assert all(rows > 0 for rows, _ in digests[0].values())
    assert len(list((pytester.path / "tmp" / "planwise" / "runs").glob("*/run.json"))) == 2  # two builds
