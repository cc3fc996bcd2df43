"""Plan-design ensembles (`planwise ensemble`): the shipped default and rich_match scenarios x 3 seeds x 2 years
on a 200-person census, built once per session on the local process pool (`planwise_ensemble`), and parts of it
again: on a real Dask LocalCluster (loopback), with a worker SIGKILLed mid-run, interrupted and resumed, with
failing runs; every variant must give exactly the reference's rows of its scenarios and seeds in runs.parquet. Bands and paired differences
are recomputed here from runs.parquet with exact fractions (R type-7 quantiles, numpy-free).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from itertools import product
from math import floor
from pathlib import Path

import duckdb
import pytest

from navigator_orchestrator.inputs.config import load_config
from navigator_orchestrator.inputs.paths import PROJECT_ROOT
from navigator_orchestrator.ensembles.scenarios import load_scenarios
from pytest_planwise.commands import planwise_command, planwise_process
from pytest_planwise.runs import census_file

SHIPPED = PROJECT_ROOT / "scenarios"
SCENARIOS = [SHIPPED / "default.yaml", SHIPPED / "rich_match.yaml"]
SEEDS, YEARS = [1, 2, 3], [2025, 2026]
EMPLOYEES = 200
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def reference(planwise_ensemble):
    """The local-pool ensemble every other variant is compared with."""
    ensemble = planwise_ensemble(scenarios=SCENARIOS, seeds="1-3", years="2025-2026", employees=EMPLOYEES,
                                 baseline="default")
    assert ensemble.returncode == 0, ensemble.stderr
    return ensemble


@pytest.fixture
def census(planwise_root) -> Path:
    return census_file(planwise_root, EMPLOYEES, 42)


def args(out: Path, census: Path, *extra, scenarios=SCENARIOS, seeds: str = "1-3") -> list:
    baseline = ["--baseline-scenario", "default"] if SHIPPED / "default.yaml" in scenarios else []
    return ["ensemble", "--scenarios", *scenarios, "--seeds", seeds, "--years", "2025-2026", "--census", census,
            "--out", out, *baseline, *extra]


def reference_rows(reference, scenarios: tuple[str, ...], seeds: tuple[int, ...]) -> list[tuple]:
    """The reference ensemble's runs.parquet rows of these scenarios and seeds (a smaller variant's expectation)."""
    return [row for row in rows(reference.out / "runs.parquet") if row[0] in scenarios and row[1] in seeds]


def rows(path: Path) -> list[tuple]:
    with duckdb.connect() as con:
        return con.execute("select * from read_parquet(?)", [str(path)]).fetchall()


def progress_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("[")]


def wait_for(condition, process, what: str, timeout: float = 300):
    """Poll until `condition()` is truthy (returns it); fail if the process ended first or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the ensemble ended (exit {process.returncode}) before {what}:\n{out}\n{err}")
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"timed out waiting for {what}")


def running_task(out: Path):
    """(pid file, pid) of a run that is inside dbt right now (its run log has a model_finished line)."""
    for pid_file in sorted((out / "work").glob("*/seed_*/worker.pid")):
        logs = list(pid_file.parent.glob("logs/run_*.jsonl"))
        try:
            if logs and '"model_finished"' in logs[0].read_text() and pid_file.read_text().strip():
                return pid_file, int(pid_file.read_text())
        except (OSError, ValueError):
            continue
    return None


def type7(values, q: str) -> Fraction:
    """R type-7 quantile (linear between the order statistics at (n - 1) q), exact."""
    xs = sorted(Fraction(str(v)) for v in values)
    h = (len(xs) - 1) * Fraction(q)
    low = floor(h)
    high = min(low + 1, len(xs) - 1)
    return xs[low] + (h - low) * (xs[high] - xs[low])


def close(actual, expected: Fraction) -> bool:
    return abs(Fraction(actual) - expected) <= Fraction(15, 10**7)  # bands are rounded to 6 decimals


QUANTILES = {"p5": "0.05", "p25": "0.25", "p50": "0.5", "p75": "0.75", "p95": "0.95"}


# ------------------------------------------------------------------------------------------------ local pool
def test_local_pool_ensemble_writes_every_output(reference):
    out = reference.out
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        f"{s}__seed_{n}.json" for s, n in product(["default", "rich_match"], SEEDS)]
    table = reference.runs()
    assert [(r["scenario"], r["seed"], r["year"]) for r in table] == list(product(["default", "rich_match"], SEEDS, YEARS))
    assert all(r["employer_cost"] == r["employer_match"] + r["employer_core"] for r in table)
    assert len(progress_lines(reference.stdout)) == 6 and "[6/6]" in reference.stdout
    assert not (out / "work").exists(), "run databases are removed without --keep-databases"
    manifest = reference.manifest
    assert manifest["status"] == "complete" and manifest["seeds"] == SEEDS and manifest["years"] == [2025, 2026]
    base = load_config(None, {"simulation.start_year": 2025, "simulation.end_year": 2026})
    digests = {s.name: s.digest for s in load_scenarios(SCENARIOS, base)}
    assert {s["name"]: s["config_digest"] for s in manifest["scenarios"]} == digests
    assert manifest["scenarios"][1]["overrides"] == {"employer_match.rate": 1.0, "match_response.enabled": True}
    record = json.loads((out / "runs" / "rich_match__seed_2.json").read_text())
    assert record["census_fingerprint"] == manifest["census"]["fingerprint"]
    assert {"dbt-core", "duckdb", "planwise"} <= set(manifest["versions"])
    assert all(r["net_employer_cost"] == r["employer_cost"] - r["forfeitures_used"] for r in table)
    for name in ("end_headcount", "prorated_payroll", "employee_contributions", "employer_cost",
                 "net_employer_cost", "participation_rate", "paired_employer_cost", "gross_and_net_cost"):
        assert (out / "charts" / f"{name}.png").read_bytes()[:8] == PNG, name


def test_bands_equal_quantiles_recomputed_from_runs_parquet(reference):
    table = reference.runs()
    bands = reference.bands()
    metrics = [name for name in table[0] if name not in ("scenario", "seed", "year")]
    assert len(bands) == 2 * len(metrics) * len(YEARS)
    for band in bands:
        values = [r[band["metric"]] for r in table if (r["scenario"], r["year"]) == (band["scenario"], band["year"])]
        assert band["n"] == len(values) == 3
        for name, q in QUANTILES.items():
            assert close(band[name], type7(values, q)), (band, name)
        exact = [Fraction(str(v)) for v in values]
        assert close(band["mean"], sum(exact) / len(exact)) and close(band["min"], min(exact))
        assert close(band["max"], max(exact))


def test_paired_differences_are_seed_by_seed_and_narrower_than_unpaired(reference):
    value = reference.value
    paired = [r for r in reference.paired() if r["metric"] == "employer_cost"]
    assert [(r["scenario"], r["baseline"], r["year"]) for r in paired] == [("rich_match", "default", y) for y in YEARS]
    for row in paired:
        year = row["year"]
        diffs = [value("rich_match", s, year, "employer_cost") - value("default", s, year, "employer_cost")
                 for s in SEEDS]
        cross = [value("rich_match", i, year, "employer_cost") - value("default", j, year, "employer_cost")
                 for i in SEEDS for j in SEEDS if i != j]
        for name, q in QUANTILES.items():
            assert close(row[name], type7(diffs, q)), (row, name)
        assert close(row["paired_width"], type7(diffs, "0.95") - type7(diffs, "0.05"))
        assert close(row["unpaired_width"], type7(cross, "0.95") - type7(cross, "0.05"))
        assert row["paired_width"] < row["unpaired_width"], row
        line = (f"paired employer cost rich_match - default, {year}: median {row['p50']:+,.0f}, p5-p95 width "
                f"{row['paired_width']:,.0f} paired vs {row['unpaired_width']:,.0f} unpaired")
        assert line in reference.stdout
    assert [w["year"] for w in reference.manifest["paired_widths"]] == YEARS


def test_richer_match_raises_employer_cost_in_every_seed(planwise_ensemble):
    """What a user asserts on an ensemble built by the plugin (the same one as `reference`, built once)."""
    ensemble = planwise_ensemble(scenarios=SCENARIOS, seeds="1-3", years="2025-2026", employees=EMPLOYEES,
                                 baseline="default")
    assert ensemble.returncode == 0, ensemble.stderr
    for seed, year in product(SEEDS, YEARS):
        richer = ensemble.value("rich_match", seed, year, "employer_cost")
        assert richer > ensemble.value("default", seed, year, "employer_cost"), (seed, year)
        # the match does not change who is drawn: same people, same payroll
        assert (ensemble.value("rich_match", seed, year, "prorated_payroll")
                == ensemble.value("default", seed, year, "prorated_payroll"))
    assert all(row["p5"] > 0 for row in ensemble.paired() if row["metric"] == "employer_cost")


# ------------------------------------------------------------------------------------------- worker killed
def test_a_worker_killed_mid_run_is_rerun_and_the_result_is_unchanged(reference, census, tmp_path):
    """Both runs are in flight on the 2-process pool; one worker is SIGKILLed inside dbt: the pool breaks, and
    both runs are rerun on a new pool."""
    out = tmp_path / "out"
    process = planwise_process(args(out, census, "--workers", "2", scenarios=[SHIPPED / "rich_match.yaml"],
                                    seeds="1-2"), cwd=tmp_path)
    pid_file, pid = wait_for(lambda: running_task(out), process, "a run was inside dbt")
    task = f"{pid_file.parent.parent.name}__{pid_file.parent.name}"
    assert not (out / "runs" / f"{task}.json").exists()
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    label = task.replace("__seed_", " seed ")
    assert f"{label}: its worker process died; rerunning it" in stdout
    record = json.loads((out / "runs" / f"{task}.json").read_text())
    assert record["run"]["pid"] != pid
    assert rows(out / "runs.parquet") == reference_rows(reference, ("rich_match",), (1, 2))


# ----------------------------------------------------------------------------------------------------- Dask
def test_dask_local_cluster_gives_the_same_rows_even_when_a_worker_is_killed(reference, census, tmp_path):
    """One scenario's three seeds (a band is computed from its own scenario's runs only, so its bands are the
    reference's rows of that scenario)."""
    out = tmp_path / "out"
    process = planwise_process(args(out, census, "--scheduler", "local:2", scenarios=[SHIPPED / "rich_match.yaml"]),
                               cwd=tmp_path)
    pid_file, pid = wait_for(lambda: running_task(out), process, "a run was inside dbt on a Dask worker")
    assert pid != process.pid  # a worker process of the cluster, not the client
    server = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])  # its parent process
    assert server != process.pid and "multiprocessing.forkserver" in Path(f"/proc/{server}/cmdline").read_text(), \
        "the Dask worker was not forked from the fork server (it imported dbt itself)"
    os.kill(pid, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert "Dask LocalCluster of 2 single-threaded workers on 127.0.0.1" in stdout
    task = f"{pid_file.parent.parent.name}__{pid_file.parent.name}"
    assert json.loads((out / "runs" / f"{task}.json").read_text())["run"]["pid"] != pid  # rerun elsewhere
    assert rows(out / "runs.parquet") == reference_rows(reference, ("rich_match",), (1, 2, 3))
    header, *bands = (reference.out / "bands.csv").read_text().splitlines(keepends=True)
    assert (out / "bands.csv").read_text() == "".join([header, *(b for b in bands if b.startswith("rich_match,"))])


def test_without_dask_a_dask_scheduler_is_one_line_naming_the_extra(census, tmp_path):
    """Dask's import is hidden (sys.modules entry None), as on an install without the extra."""
    out = tmp_path / "out"
    hide = ("import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None; "
            "from navigator_orchestrator.cli import main; sys.exit(main())")
    done = subprocess.run([sys.executable, "-c", hide, *map(str, args(out, census, "--scheduler", "local:2"))],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs Dask" in lines[0] and "pip install -e '.[distributed]'" in lines[0], lines
    assert not out.exists()


# ------------------------------------------------------------------------------------------------ bad input
def test_bad_input_fails_before_any_run_starts(census, tmp_path):
    bad = tmp_path / "scenarios" / "bad_match.yaml"
    bad.parent.mkdir()
    bad.write_text("employer_match:\n  rat: 1.0\ndeferral_auto_escalation:\n  cap: 2\n")
    out = tmp_path / "out"
    cases = {
        "scenario": (["ensemble", "--scenarios", SHIPPED / "default.yaml", bad, "--seeds", "1-3", "--out", out,
                      "--census", census], [str(bad), "employer_match.rat: unknown key; did you mean "
                                            "'employer_match.rate'?", "deferral_auto_escalation.cap: expected"]),
        "seed in a scenario": (["ensemble", "--scenarios", tmp_path / "seeded.yaml", "--seeds", "1", "--out", out],
                               ["simulation.random_seed: set by --seeds, not by a scenario"]),
        "baseline": (["ensemble", "--scenarios", *SCENARIOS, "--seeds", "1-3", "--out", out,
                      "--baseline-scenario", "nope"], ["--baseline-scenario 'nope' is not one of the scenarios "
                                                       "(default, rich_match)"]),
        "seeds": (["ensemble", "--scenarios", *SCENARIOS, "--seeds", "3-1", "--out", out],
                  ["--seeds '3-1': range 3-1 ends before it starts"]),
        "scheduler": (["ensemble", "--scenarios", *SCENARIOS, "--seeds", "1", "--out", out, "--scheduler", "udp://x"],
                      ["--scheduler 'udp://x': not local, local:N or tcp://HOST:PORT"]),
    }
    (tmp_path / "seeded.yaml").write_text("simulation:\n  random_seed: 5\n")
    for name, (argv, expected) in cases.items():
        done = planwise_command(argv, cwd=tmp_path)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, (name, done.stderr)
        assert all(text in lines[0] for text in expected), (name, lines[0])
        assert not out.exists(), name
    # the same scenario check passes once the key is right: it is the key that failed, not the file
    bad.write_text("employer_match:\n  rate: 1.0\n")
    assert [s.name for s in load_scenarios([bad], load_config())] == ["bad_match"]


# --------------------------------------------------------------------------------------------------- resume
def test_resume_after_an_interrupted_ensemble_runs_only_the_missing_runs(reference, census, tmp_path):
    out = tmp_path / "out"
    scenario = [SHIPPED / "default.yaml"]
    process = planwise_process(args(out, census, "--workers", "2", scenarios=scenario), cwd=tmp_path,
                               new_session=True)
    wait_for(lambda: len(list((out / "runs").glob("*.json"))) >= 2, process, "two runs finished")
    os.killpg(process.pid, signal.SIGKILL)  # the ensemble and its workers, at once
    process.communicate()
    done = sorted((out / "runs").glob("*.json"))
    assert 2 <= len(done) <= 3, [p.name for p in done]  # the third may finish while the kill is on its way
    refused = planwise_command(args(out, census, scenarios=scenario), cwd=tmp_path)
    assert refused.returncode == 2 and "already holds an ensemble's run results" in refused.stderr
    tampered, kept = done[0], done[1:]
    record = json.loads(tampered.read_text())
    record["metrics"]["2025"]["end_headcount"] += 1  # a result file that no longer verifies is rerun
    tampered.write_text(json.dumps(record))
    before = {p.name: p.read_bytes() for p in kept}

    resumed = planwise_command(args(out, census, "--resume", "--workers", "2", scenarios=scenario), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    label = tampered.stem.replace("__seed_", " seed ")
    assert f"resume: {label}: rerun (checksum mismatch)" in resumed.stdout
    assert f"resume: {len(kept)} of 3 runs verified and kept, {3 - len(kept)} to run" in resumed.stdout
    assert len(progress_lines(resumed.stdout)) == 3 - len(kept)
    assert {p.name: p.read_bytes() for p in kept} == before, "verified runs are not redone"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runs"]["resumed"] == sorted(p.stem for p in kept)
    assert rows(out / "runs.parquet") == reference_rows(reference, ("default",), (1, 2, 3))


# -------------------------------------------------------------------------------------------------- retries
def test_a_failing_run_is_retried_then_recorded_as_failed_while_the_others_go_on(reference, census, tmp_path):
    out = tmp_path / "out"
    argv = ["ensemble", "--scenarios", SHIPPED / "default.yaml", "--seeds", "1-3", "--years", "2025-2026",
            "--census", census, "--out", out, "--retries", "1", "--workers", "2"]
    done = planwise_command(argv, cwd=tmp_path,
                            env={"PLANWISE_TEST_RUN_FAIL": "default__seed_2:1,default__seed_3:5"})
    assert done.returncode == 1, done.stderr
    assert "default seed 2: attempt 1 failed (default seed 2: test fault" in done.stdout
    assert "default seed 3: FAILED, failed after 2 attempts" in done.stdout
    error = done.stderr.strip().splitlines()
    assert len(error) == 1 and "1 of 3 runs failed: default__seed_3" in error[0], error
    assert json.loads((out / "manifest.json").read_text())["runs"]["failed"].keys() == {"default__seed_3"}
    assert rows(out / "runs.parquet") == reference_rows(reference, ("default",), (1, 2))  # the retried run's result is the reference's
    assert json.loads((out / "runs" / "default__seed_2.json").read_text())["run"]["attempt"] == 2


def test_seeds_are_ranges_or_lists():
    from navigator_orchestrator.ensembles.ensemble import parse_seeds
    from navigator_orchestrator.errors import InputError

    assert parse_seeds("1-3,7, 5") == [1, 2, 3, 5, 7]
    assert parse_seeds("1-100") == list(range(1, 101))
    for bad in ("", "1-", "a", "1,,2", "5-2", str(2**31)):
        with pytest.raises(InputError, match="--seeds"):
            parse_seeds(bad)


def test_executors_import_nothing_from_ensemble():
    """The executors take the work function as an argument, so the two modules do not import each other
    (anywhere in executors.py: at the top, inside a function or under TYPE_CHECKING)."""
    import ast

    from navigator_orchestrator.ensembles import executors

    source = Path(executors.__file__)
    imported = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            imported += [base] + [f"{base.rstrip('.')}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
    from_ensemble = sorted({name for name in imported if "ensemble" in name.split(".")})
    assert not from_ensemble, f"executors.py imports from ensemble: {from_ensemble}"


def test_sigterm_stops_the_ensemble_and_its_workers(census, tmp_path):
    out = tmp_path / "out"
    process = planwise_process(args(out, census, "--workers", "2", scenarios=[SHIPPED / "rich_match.yaml"],
                                    seeds="1-2"), cwd=tmp_path)
    pid_file, _ = wait_for(lambda: running_task(out), process, "a run was inside dbt")
    workers = [int(p.read_text()) for p in (out / "work").glob("*/seed_*/worker.pid") if p.read_text().strip()]
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == "planwise: interrupted"

    def gone(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True

    deadline = time.monotonic() + 30
    while not all(gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(gone(pid) for pid in workers), workers
    assert not (out / "runs" / f"{pid_file.parent.parent.name}__{pid_file.parent.name}.json").exists()


def test_one_worker_parses_once_keeps_databases_and_says_how_to_get_charts(reference, census, tmp_path):
    """matplotlib's import hidden (no `charts` extra): everything but the charts is written, one line says how.
    One worker instead of two, one year instead of two: the same 2025 rows (a year never depends on later ones)."""
    out = tmp_path / "out"
    hide = ("import sys; sys.modules['matplotlib'] = None; "
            "from navigator_orchestrator.cli import main; sys.exit(main())")
    argv = ["ensemble", "--scenarios", SHIPPED / "default.yaml", "--seeds", "1-3", "--years", "2025-2025",
            "--census", census, "--out", out, "--workers", "1", "--keep-databases"]
    done = subprocess.run([sys.executable, "-c", hide, *map(str, argv)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "charts: not drawn, matplotlib is not installed (pip install -e '.[charts]')" in done.stdout
    assert not (out / "charts").exists() and (out / "bands.csv").is_file()
    parsed = []
    for seed in SEEDS:
        folder = out / "work" / "default" / f"seed_{seed}"
        assert (folder / "simulation.duckdb").is_file()
        log = next(folder.glob("logs/run_*.jsonl")).read_text().splitlines()
        parsed += [json.loads(line) for line in log if '"dbt_parsed"' in line]
    pids = {json.loads((out / "runs" / f"default__seed_{s}.json").read_text())["run"]["pid"] for s in SEEDS}
    assert len(pids) == 1  # one worker did the three runs
    sources = sorted(event["source"] for event in parsed)
    assert sources.count("reused in this process") == 2, sources  # parsed by its first run only
    assert rows(out / "runs.parquet") == [r for r in reference_rows(reference, ("default",), (1, 2, 3)) if r[2] == 2025]
