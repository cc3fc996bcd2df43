"""Year checkpoints, and the decision `--resume` takes for each year: skip it only when it is proven complete and
unchanged.

Per database, `.checkpoints/<database file name>/` beside it holds `year_<Y>.partial` while year Y runs and
`year_<Y>.done` once its models and quality gates passed (written atomically). A `.done` records the year's
`input_hash`, its inputs, `row_counts` and the digest of every year-keyed table's rows of that year, plus a
checksum of its own content, so a file edited by hand is never trusted.

`input_hash` chains: year Y's hash covers what can change the year (the simulated config values, the seed, the
census fingerprint, the dbt project's files, the engine versions, the first simulated year) and year Y-1's hash.
A model's .sql counts through the SQL dbt compiled for the year, so a fix that changes only 2026's SQL leaves
2025 proven. The end year is left out: year Y depends only on the years up to Y, so `--resume` may extend a run.
A year is skipped when its `.done` parses, its checksum and year are right, its `input_hash` equals the current
one and the database holds exactly the recorded digests; the first year failing any of these, and every later
year, is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..dbt_layer.dbt_runner import project_files
from ..dbt_layer.held_open import connect
from ..inputs.config import SimulationConfig
from ..safety.atomic import write_atomically
from ..safety.digest import year_digests

FOLDER = ".checkpoints"
FORMAT = 1
FIRST = "first simulated year"  # the chain's start: what "year Y-1's hash" is for the first simulated year
_HASHED_PARTS = ("dbt_project.yml", "macros", "seeds", "snapshots", "models")
_NOT_AN_INPUT = ("simulation.end_year",)  # year Y never depends on later years
CompileYear = Callable[[int, list[str]], dict[str, str]]  # (year, model names) -> {model: compiled SQL sha256}


def checkpoint_dir(db_path: Path) -> Path:
    """`.checkpoints/<database file name>/` beside the database: one set per database file."""
    return db_path.parent / FOLDER / db_path.name


@dataclass(frozen=True)
class RunInputs:
    """What can change a simulated year, recorded in each checkpoint so that a mismatch can say what changed.

    `project` hashes the files whose effect no compiled SQL shows (dbt_project.yml, the macros with the
    materializations, seeds, model YAML). `models` holds each model .sql file's hash: it only tells which
    models must be compiled to learn whether a year's SQL changed."""

    config: dict
    census: str
    engine: dict
    start_year: int
    project: str
    models: dict[str, str]

    @classmethod
    def of(cls, config: SimulationConfig, census_fingerprint: str, project_dir: Path, engine: dict) -> RunInputs:
        values = {k: v for k, v in config.simulated_values().items() if k not in _NOT_AN_INPUT}
        hashed, models = hashlib.sha256(), {}
        for path in project_files(project_dir, _HASHED_PARTS):
            content = hashlib.sha256(path.read_bytes()).hexdigest()
            if path.suffix == ".sql" and project_dir / "models" in path.parents:
                models[path.stem] = content
            else:
                hashed.update(f"{path.relative_to(project_dir).as_posix()}\0{content}\0".encode())
        return cls(values, census_fingerprint, engine, config.start_year, hashed.hexdigest(), models)

    def to_dict(self) -> dict:
        return {"config": self.config, "census": self.census, "engine": self.engine, "start_year": self.start_year,
                "project": self.project, "models": self.models}

    def year_hash(self, year: int, compiled: dict[str, str], previous: str) -> str:
        """Year Y's input hash: these inputs, the SQL compiled for Y, and year Y-1's hash (the chain)."""
        material = {k: v for k, v in self.to_dict().items() if k != "models"}
        return _sha256({"inputs": material, "year": year, "compiled": compiled, "previous": previous})

    def changes(self, recorded: dict, compiled: dict[str, str] | None = None,
                recorded_compiled: dict[str, str] | None = None) -> str | None:
        """Why a checkpoint recorded with `recorded` inputs no longer applies, or None if nothing differs. Without
        compiled SQL to compare, an edited model file counts as a change."""
        config = recorded.get("config", {})
        keys = sorted(k for k in set(config) | set(self.config) if config.get(k) != self.config.get(k))
        if keys:
            return f"config changed: {', '.join(keys)}"
        if recorded.get("start_year") != self.start_year:
            return f"first simulated year changed: {recorded.get('start_year')} -> {self.start_year}"
        if recorded.get("census") != self.census:
            return "census changed"
        if recorded.get("project") != self.project:
            return "models changed: dbt_project.yml, macros, seeds or model YAML"
        if compiled is None:
            models = self.edited_models(recorded)
        else:
            models = sorted(m for m in {*compiled, *recorded_compiled} if compiled.get(m) != recorded_compiled.get(m))
        if models:
            return f"models changed: {', '.join(models)}"
        engine = recorded.get("engine", {})
        moved = [f"{k} {engine.get(k)} -> {v}" for k, v in self.engine.items() if engine.get(k) != v]
        return f"engine changed: {', '.join(moved)}" if moved else None

    def edited_models(self, recorded: dict) -> list[str]:
        """Models whose .sql was edited, added or removed since the recorded inputs."""
        before = recorded.get("models", {})
        return sorted(m for m in {*before, *self.models} if before.get(m) != self.models.get(m))


class Unreadable(Exception):
    """A checkpoint file that cannot be trusted (bad JSON, a checksum that does not match, the wrong year)."""


@dataclass(frozen=True)
class Decision:
    """Skip or rebuild one year, and why (a skipped year's reason is empty or a note)."""

    year: int
    skip: bool
    reason: str
    input_hash: str = ""  # a skipped year's proven hash: the next year's chain continues from it

    def line(self) -> str:
        if self.skip:
            return f"{self.year}: skipped (checkpoint verified{'; ' + self.reason if self.reason else ''})"
        return f"{self.year}: rebuilt ({self.reason})"


@dataclass(frozen=True)
class ResumePlan:
    """What a run does with each of its years, decided before the first is built: skip or rebuild and why (a
    skipped year is always part of an unbroken prefix), which checkpoints to discard, where the hash chain of the
    first year built starts, and whether rows of later years (a longer earlier run's) must go."""

    decisions: tuple[Decision, ...]
    resumed: bool = False  # `--resume`: the decisions were proven from checkpoints

    @classmethod
    def fresh(cls, years: list[int]) -> ResumePlan:
        """A run without `--resume`: every year rebuilt."""
        return cls(tuple(Decision(year, False, "run without --resume") for year in years))

    @property
    def skipped(self) -> list[Decision]:
        return [d for d in self.decisions if d.skip]

    @property
    def rebuilt(self) -> list[Decision]:
        return [d for d in self.decisions if not d.skip]

    @property
    def chain_start(self) -> str:
        """The input hash the first rebuilt year chains from: the last skipped year's proven hash, or FIRST."""
        return self.skipped[-1].input_hash if self.skipped else FIRST

    @property
    def discard_from(self) -> int | None:
        """The first year whose checkpoints go before building (None: all of them, the first simulated year is
        rebuilt and starts the tables anew; with nothing rebuilt, those after the last year)."""
        if not self.rebuilt:
            return self.decisions[-1].year + 1
        first = self.rebuilt[0].year
        return None if first == self.decisions[0].year else first

    @property
    def drops_later_years(self) -> bool:
        """Every year skipped: the database must end as a run of exactly these years leaves it."""
        return not self.rebuilt

    def loads_seeds(self, year: int) -> bool:
        """The first year built loads the seeds in the same dbt invocation as its models."""
        return bool(self.rebuilt) and year == self.rebuilt[0].year

    def to_dict(self) -> dict[str, dict]:
        return {str(d.year): {"skipped": d.skip, "reason": d.reason} for d in self.decisions}


class Checkpoints:
    """The checkpoint files of one database."""

    def __init__(self, db_path: Path):
        self.db_path = db_path
        self.folder = checkpoint_dir(db_path)

    def path(self, year: int, state: str = "done") -> Path:
        return self.folder / f"year_{year}.{state}"

    def load(self, year: int) -> dict | None:
        """The year's `.done`, verified as a file (None when there is none); Unreadable when it cannot be trusted."""
        path = self.path(year)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise Unreadable(f"checkpoint unreadable: {getattr(error, 'strerror', None) or error}") from None
        try:
            record = json.loads(text)
            valid = record.get("checksum") == _sha256({k: v for k, v in record.items() if k != "checksum"})
        except (ValueError, AttributeError):
            raise Unreadable("checkpoint unreadable: not valid JSON") from None
        if not valid:
            raise Unreadable("checkpoint unreadable: its checksum does not match its content (edited by hand?)")
        if record.get("year") != year or record.get("status") != "done" or record.get("format") != FORMAT:
            raise Unreadable(f"checkpoint unreadable: it records year {record.get('year')}, "
                             f"status {record.get('status')}, format {record.get('format')}")
        return record

    def begin(self, year: int, run_id: str) -> None:
        """Mark year Y as running: `.partial` (informational; only a `.done` is ever trusted)."""
        write_atomically(self.path(year, "partial"), json.dumps(
            {"year": year, "status": "running", "run_id": run_id, "started_at": _now()}, indent=2))

    def complete(self, year: int, run_id: str, input_hash: str, inputs: RunInputs, compiled: dict[str, str],
                 digests: dict[str, list], quality: dict[str, str]) -> Path:
        """Write `.done` (atomically, after the year's gates passed) and drop the `.partial`."""
        body = {"format": FORMAT, "year": year, "status": "done", "run_id": run_id, "completed_at": _now(),
                "input_hash": input_hash, "inputs": inputs.to_dict(), "compiled": compiled,
                "row_counts": {table: count for table, (count, _) in digests.items()},
                "digests": digests, "quality": quality}
        path = self.path(year)
        write_atomically(path, json.dumps({**body, "checksum": _sha256(body)}, indent=2, sort_keys=True),
                         point="checkpoint")
        self.path(year, "partial").unlink(missing_ok=True)
        return path

    def discard_from(self, year: int | None) -> None:
        """Remove the checkpoints of `year` and every later year, whose rows are about to be rebuilt (all of them
        for None: rebuilding the first simulated year starts the tables anew)."""
        if not self.folder.is_dir():
            return
        for path in self.folder.glob("year_*.*"):
            stem = path.name.split(".", 1)[0].removeprefix("year_")
            if stem.isdigit() and (year is None or int(stem) >= year):
                path.unlink(missing_ok=True)

    def plan(self, years: list[int], inputs: RunInputs, compile_year: CompileYear) -> ResumePlan:
        """Skip the longest prefix of years whose checkpoints are proven; rebuild the rest, each with its reason.
        `compile_year` is asked only about edited models, and only for years still being proven."""
        records: dict[int, dict | str] = {}
        for year in years:
            try:
                records[year] = self.load(year) or "no checkpoint"
            except Unreadable as error:
                records[year] = str(error)
        stored = self._database_digests([year for year, record in records.items() if isinstance(record, dict)])
        decisions: list[Decision] = []
        previous, rebuilt_from = FIRST, None
        for year in years:
            record = records[year]
            if isinstance(record, str):
                reason = record
            elif rebuilt_from is not None:
                reason = inputs.changes(record.get("inputs", {})) or f"{rebuilt_from} is rebuilt"
            else:
                reason, expected, note = _verify(year, record, inputs, compile_year, previous, stored.get(year, {}))
                if reason is None:
                    decisions.append(Decision(year, True, note, expected))
                    previous = expected
                    continue
            rebuilt_from = rebuilt_from or year
            decisions.append(Decision(year, False, reason))
        return ResumePlan(tuple(decisions), resumed=True)

    def _database_digests(self, years: list[int]) -> dict[int, dict[str, list]]:
        if not years or not self.db_path.exists():
            return {}
        with connect(self.db_path, read_only=True) as con:
            return year_digests(con, years)


def _verify(year: int, record: dict, inputs: RunInputs, compile_year: CompileYear, previous: str,
            stored: dict[str, list]) -> tuple[str | None, str, str]:
    """(why the year must be rebuilt, or None; its proven hash; a note) for a checkpoint file that is sound."""
    recorded, recorded_compiled = record.get("inputs", {}), record.get("compiled", {})
    edited = inputs.edited_models(recorded)
    compiled = {model: sha for model, sha in recorded_compiled.items() if model in inputs.models}
    if edited:
        compiled.update(compile_year(year, [model for model in edited if model in inputs.models]))
    expected = inputs.year_hash(year, compiled, previous)
    if record.get("input_hash") != expected:
        why = inputs.changes(recorded, compiled, recorded_compiled) or "an earlier year's checkpoint changed"
        return why, expected, ""
    differing = sorted(table for table, digest in record.get("digests", {}).items() if stored.get(table) != digest)
    if differing or not record.get("digests"):
        return f"database rows differ from the checkpoint: {', '.join(differing)}", expected, ""
    return None, expected, (f"edited {', '.join(edited)}: this year's compiled SQL is unchanged" if edited else "")


def _sha256(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
