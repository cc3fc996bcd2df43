"""Ensemble scenarios: a scenario is a YAML file of config overrides on top of the base config, named by its file
stem, validated exactly like the config file (`config.overlay_file`) before any run starts.

The seed and the years are the ensemble's (`--seeds`, `--years`), so a scenario may not set them. Every file's
problems are collected and reported together, each naming its file and key, so one pass fixes them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from ..inputs.config import SimulationConfig, _jsonable, overlay_file

SEED_KEY = "simulation.random_seed"
REFUSED = {
    SEED_KEY: "set by --seeds, not by a scenario; remove it",
    "simulation.start_year": "set by --years, not by a scenario; remove it",
    "simulation.end_year": "set by --years, not by a scenario; remove it",
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Scenario:
    """One plan design: its name (the file stem), file and validated config (seed still the base config's)."""

    name: str
    path: Path
    config: SimulationConfig

    def overrides(self, base: SimulationConfig) -> dict[str, Any]:
        """{dotted key: value} where this scenario differs from the base config (for the manifest)."""
        return {k: _jsonable(v) for k, v in self.config.values.items() if base.values[k] != v}

    @property
    def digest(self) -> str:
        """The scenario's config digest, seed left out: every run of the scenario shares it."""
        return self.config.digest(without=(SEED_KEY,))


def scenario_files(arguments: list[Path]) -> list[Path]:
    """Each argument a YAML file, or a folder whose *.yaml / *.yml files are taken (sorted)."""
    files: list[Path] = []
    for argument in arguments:
        if argument.is_dir():
            found = sorted(p for p in argument.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            if not found:
                raise InputError(f"--scenarios {argument}: no .yaml files in this folder",
                                 "put one YAML file of config overrides per scenario there")
            files += found
        elif argument.is_file():
            files.append(argument)
        else:
            raise InputError(f"--scenarios {argument}: no such file or folder", "pass scenario YAML files or folders")
    return files


def load_scenarios(arguments: list[Path], base: SimulationConfig) -> list[Scenario]:
    """Validated scenarios in the order given; one InputError listing every problem of every file."""
    problems: list[str] = []
    scenarios: list[Scenario] = []
    names: dict[str, Path] = {}
    for path in scenario_files(arguments):
        name = path.stem
        if not _NAME.fullmatch(name):
            problems.append(f"{path}: scenario name {name!r} (the file stem) must be letters, digits, _ or -")
            continue
        if name in names:
            problems.append(f"{path}: scenario {name!r} is also {names[name]}; rename one of the files")
            continue
        names[name] = path
        try:
            scenarios.append(Scenario(name, path.resolve(), overlay_file(base, path, REFUSED)))
        except ConfigError as error:
            problems.append(error.message)
    if problems:
        raise InputError(f"bad scenario{'s' if len(problems) > 1 else ''}: " + " | ".join(problems),
                         "correct the named keys in the scenario files (the keys and ranges of "
                         "config/simulation_config.yaml apply), then run again")
    return scenarios
