"""A known-good environment: constraints.txt pins every package the suite passes with, the engine's packages
installed here are exactly the pinned ones, and both README commands and CI install through it."""

import re

import pytest

from navigator_orchestrator.inputs import paths
from navigator_orchestrator.environment import (CONSTRAINTS, CORE_PACKAGES, installed_version, main, mismatches,
                                                pinned_versions)

README = paths.PROJECT_ROOT / "README.md"
CI_RUN = paths.PROJECT_ROOT / ".ci" / "run"


def test_the_engine_packages_are_pinned_exactly():
    pins = pinned_versions(CONSTRAINTS)
    for package in CORE_PACKAGES:
        assert re.search(rf"^{re.escape(package)}==\S+$", CONSTRAINTS.read_text(), re.MULTILINE), package
        assert pins[package]
    assert "planwise-navigator" not in pins  # the project itself is installed editable, never pinned


def test_installed_engine_versions_match_the_pins():
    assert mismatches(CONSTRAINTS, CORE_PACKAGES) == []


def test_every_pinned_package_that_is_installed_has_its_pinned_version():
    """The README's install (`-c constraints.txt`) moves every package of the tree to its pin, not only the engine."""
    pins = pinned_versions(CONSTRAINTS)
    assert mismatches(CONSTRAINTS, [name for name in pins if installed_version(name)]) == []
    assert all(installed_version(name) for name in ("pytest", "pytest-xdist", "hypothesis", "syrupy", "PyYAML"))


def test_a_wrong_pin_is_reported(tmp_path):
    """The same comparison fails, naming the package and both versions, when a pin differs from what is installed."""
    wrong = tmp_path / "constraints.txt"
    text = CONSTRAINTS.read_text()
    pinned = pinned_versions(CONSTRAINTS)["duckdb"]
    wrong.write_text(re.sub(r"^duckdb==\S+$", "duckdb==0.0.1", text, flags=re.MULTILINE))
    assert mismatches(wrong, CORE_PACKAGES) == [f"duckdb: installed {pinned}, {wrong} pins 0.0.1"]
    assert main([str(wrong)]) == 1


def test_a_missing_pin_or_a_range_is_an_error(tmp_path):
    unpinned = tmp_path / "unpinned.txt"
    unpinned.write_text("duckdb==1.0.0\n")
    assert mismatches(unpinned, ["dbt-core"]) == [f"dbt-core: not pinned with == in {unpinned}"]
    ranged = tmp_path / "ranged.txt"
    ranged.write_text("# header\nduckdb>=1.4\n")
    with pytest.raises(ValueError, match=r"ranged.txt:2: 'duckdb>=1.4' is not an exact pin"):
        pinned_versions(ranged)
    assert main([str(ranged)]) == 2


def test_readme_commands_and_ci_install_through_the_constraints():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.DOTALL)
    commands = [line for block in blocks for line in block.splitlines() if "python -m pip install" in line]
    assert commands == ["python -m pip install -c constraints.txt -e . && planwise run --years 2025-2029",
                        ".ci/browser && python -m pip install -c constraints.txt -e '.[test]' && python -m pytest -n 2"]
    assert CI_RUN.read_text().strip().splitlines()[-1] == commands[1]  # CI runs exactly the README's test command
