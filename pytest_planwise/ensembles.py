"""Small ensembles for tests, each built once per test session through the public API `planwise ensemble` calls
(`navigator_orchestrator.run_ensemble`, in the test process; its runs in the local pool's worker processes) under the session root, and shared read-only.

Scenarios are given as {name: {dotted key: value}} (written as YAML files) or as paths of scenario files (the
shipped `scenarios/` ones, say); the same arguments return the same, already built ensemble.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import duckdb
import yaml

import navigator_orchestrator as planwise
from navigator_orchestrator.safety.locking import file_lock

from .runs import census_file


@dataclass(frozen=True)
class EnsembleSpec:
    """What makes an ensemble distinct: its scenario files' text, seeds, years, census and executor."""

    scenarios: tuple[tuple[str, str], ...]  # (name, YAML text)
    seeds: str = "1-3"
    years: str = "2025-2026"
    employees: int = 200
    census_seed: int = 42
    baseline: str | None = None
    scheduler: str = "local"
    workers: int = 2
    retries: int = 0

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.__dict__, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class PlanwiseEnsemble:
    """A finished ensemble: exit code, output, and its tables read from --out."""

    spec: EnsembleSpec
    out: Path
    returncode: int
    stdout: str
    stderr: str
    manifest: dict = field(default_factory=dict)

    def runs(self) -> list[dict]:
        """runs.parquet's rows (scenario, seed, year, metrics...), as written (sorted by scenario, seed, year)."""
        with duckdb.connect() as con:
            cursor = con.execute("select * from read_parquet(?)", [str(self.out / "runs.parquet")])
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def value(self, scenario: str, seed: int, year: int, metric: str) -> Any:
        found = [r[metric] for r in self.runs() if (r["scenario"], r["seed"], r["year"]) == (scenario, seed, year)]
        assert len(found) == 1, f"no single row for {scenario} seed {seed} {year} in {self.out / 'runs.parquet'}"
        return found[0]

    def bands(self) -> list[dict]:
        return _csv(self.out / "bands.csv")

    def paired(self) -> list[dict]:
        return _csv(self.out / "paired.csv")

    def band(self, scenario: str, metric: str, year: int) -> dict:
        return next(r for r in self.bands() if (r["scenario"], r["metric"], r["year"]) == (scenario, metric, year))


def _csv(path: Path) -> list[dict]:
    """A band table with its numbers as numbers (year and n as int)."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    text = ("scenario", "baseline", "metric")
    return [{k: (v if k in text else None if v == "" else int(v) if k in ("year", "n") else float(v))
             for k, v in row.items()} for row in rows]


def scenario_texts(scenarios: Mapping[str, Mapping[str, Any]] | list[Path | str]) -> tuple[tuple[str, str], ...]:
    """(name, YAML) per scenario: a mapping of dotted overrides becomes the nested YAML a scenario file holds."""
    if isinstance(scenarios, Mapping):
        return tuple((name, yaml.safe_dump(_nested(overrides), sort_keys=True)) for name, overrides in scenarios.items())
    return tuple((Path(p).stem, Path(p).read_text(encoding="utf-8")) for p in scenarios)


def _nested(dotted: Mapping[str, Any]) -> dict:
    nested: dict = {}
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def build_ensemble(root: Path, spec: EnsembleSpec) -> PlanwiseEnsemble:
    """Build `spec` once under `root/ensembles/<key>` (a file lock: one xdist worker builds, the others wait)."""
    folder = root / "ensembles" / spec.key
    record = folder / "ensemble.json"
    with file_lock(root / "ensembles" / f"{spec.key}.lock"):
        if not record.exists():
            if folder.exists():
                shutil.rmtree(folder)  # a half-built ensemble of a crashed worker
            scenario_dir = folder / "scenarios"
            scenario_dir.mkdir(parents=True)
            for name, text in spec.scenarios:
                (scenario_dir / f"{name}.yaml").write_text(text, encoding="utf-8")
            census = census_file(root, spec.employees, spec.census_seed)
            request = planwise.EnsembleRequest(
                scenarios=[scenario_dir / f"{name}.yaml" for name, _ in spec.scenarios], seeds=spec.seeds,
                out=folder / "out", years=spec.years, census=census, scheduler=spec.scheduler, workers=spec.workers,
                retries=spec.retries, baseline=spec.baseline)
            lines: list[str] = []
            try:
                code, stderr = planwise.run_ensemble(request, lines.append), ""
            except planwise.PlanwiseError as error:
                code, stderr = error.exit_code, str(error)
            stdout = "".join(f"{line}\n" for line in lines)
            tmp = record.with_suffix(".tmp")
            tmp.write_text(json.dumps({"returncode": code, "stdout": stdout, "stderr": stderr}))
            os.replace(tmp, record)
        data = json.loads(record.read_text())
    manifest_path = folder / "out" / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return PlanwiseEnsemble(spec, folder / "out", data["returncode"], data["stdout"], data["stderr"], manifest)
