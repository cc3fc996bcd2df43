"""The known-good environment (constraints.txt): which versions are pinned, and which installed ones differ; and
the environment step of validate_production.sh (`readiness`).

Used by tests/test_constraints.py and by validate_production.sh, so both compare the same way.
`python -m navigator_orchestrator.environment [CONSTRAINTS] [PACKAGE ...]` prints one line per package and exits 1
on a mismatch.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
from importlib import metadata
from pathlib import Path

from .inputs.paths import SHIPPED

CONSTRAINTS = SHIPPED / "constraints.txt"
#: The engine's packages: a different version of one of these can change results or break the models.
CORE_PACKAGES = ("dbt-core", "dbt-duckdb", "duckdb")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)\s*(?:[;#].*)?$")


def canonical(name: str) -> str:
    """PEP 503 name, so `PyYAML`, `pyyaml` and `dbt_core`/`dbt-core` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_versions(path: Path | str = CONSTRAINTS) -> dict[str, str]:
    """{canonical name: version} of every `name==version` line; a line that constrains without `==` (a range,
    a URL) is an error, because the file's point is one exact version per package."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        if not match:
            raise ValueError(f"{path}:{number}: {line!r} is not an exact pin 'name==version'")
        pins[canonical(match.group(1))] = match.group(2)
    return pins


def installed_version(package: str) -> str | None:
    """The installed distribution's version, or None when it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def mismatches(path: Path | str = CONSTRAINTS, packages: tuple[str, ...] | list[str] = CORE_PACKAGES) -> list[str]:
    """One line per package whose installed version is not the pinned one (or that is missing or not pinned);
    empty when the environment matches the pins."""
    pins = pinned_versions(path)
    problems = []
    for package in packages:
        pinned, installed = pins.get(canonical(package)), installed_version(package)
        if pinned is None:
            problems.append(f"{package}: not pinned with == in {path}")
        elif installed != pinned:
            problems.append(f"{package}: installed {installed or 'nothing'}, {path} pins {pinned}")
    return problems


def readiness(config_path: Path | str | None, db_path: Path, constraints: Path | str = CONSTRAINTS) -> tuple[list[str], list[str]]:
    """The production environment as a run would meet it: (evidence lines, problems). Problems: the config does
    not load, a variable of its `environment.required` is unset or empty (environment or `.env`, as `planwise run`
    sees them), an engine package differs from constraints.txt, the database is missing or its folder not
    writable, or its disk has less free space than one backup (a copy of the database) needs."""
    from .errors import PlanwiseError
    from .inputs.config import load_config

    lines = [f"python {platform.python_version()} ({sys.executable})"]
    problems: list[str] = []
    try:
        config = load_config(config_path)
    except PlanwiseError as error:
        return lines, [f"config: {error}"]
    required = list(config.get("environment.required"))
    lines.append(f"config {config.source}: environment.required = {required or 'nothing'}")
    for name in required:
        if os.environ.get(name):
            lines.append(f"variable {name}: set")
        else:
            problems.append(f"missing required environment variable {name} (environment.required in {config.source})")
    try:
        pins = pinned_versions(constraints)
        problems += mismatches(constraints, CORE_PACKAGES)
    except (OSError, ValueError) as error:
        pins = {}
        problems.append(f"constraints: {error}")
    for package in CORE_PACKAGES:
        lines.append(f"{package}: installed {installed_version(package) or 'nothing'}, "
                     f"pinned {pins.get(canonical(package), 'nothing')}")
    folder = db_path.parent
    if not db_path.is_file():
        problems.append(f"no database at {db_path}")
    elif not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)):
        problems.append(f"database folder {folder} is not writable")
    else:
        size = db_path.stat().st_size
        free = shutil.disk_usage(folder).free
        lines.append(f"database {db_path}: {size:,} bytes; folder writable; {free:,} bytes free")
        if free < size:
            problems.append(f"{free:,} bytes free on the disk of {folder}, a backup needs {size:,}")
    return lines, problems


def readiness_main(argv: list[str]) -> int:
    """`readiness` for the script: CONFIG ('' = default) and DB; evidence on stdout, problems as FAIL lines."""
    config, db = argv
    lines, problems = readiness(config or None, Path(db))
    for line in lines:
        print(line)
    for problem in problems:
        print(f"FAIL {problem}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else CONSTRAINTS
    packages = args[1:] or list(CORE_PACKAGES)
    try:
        pins = pinned_versions(path)
        problems = mismatches(path, packages)
    except (OSError, ValueError) as error:
        print(f"environment: error: {error}", file=sys.stderr)
        return 2
    for package in packages:
        print(f"{package}: installed {installed_version(package) or 'nothing'}, "
              f"pinned {pins.get(canonical(package), 'nothing')}")
    for problem in problems:
        print(f"MISMATCH {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
