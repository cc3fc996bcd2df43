"""The known-good environment (constraints.txt): which versions are pinned, and which installed ones differ.

Used by tests/test_constraints.py and by validate_production.sh's environment step, so both compare the same way.
`python -m navigator_orchestrator.environment [CONSTRAINTS] [PACKAGE ...]` prints one line per package and exits 1
on a mismatch.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from .paths import PROJECT_ROOT

CONSTRAINTS = PROJECT_ROOT / "constraints.txt"
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
