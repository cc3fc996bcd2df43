"""RECOVERY.md: every `planwise ...` command it shows parses with the real CLI parser, and it has a row for each
error of the run lock, backups and the required environment. The fix commands written into the orchestrator's own
error hints parse too. (README.md's and docs/'s commands: tests/test_docs.py.)
"""

from __future__ import annotations

import ast
import re

import pytest
from test_docs import documented_commands, parse_failure

from navigator_orchestrator.inputs import paths

RECOVERY = paths.PROJECT_ROOT / "RECOVERY.md"
SOURCES = sorted((paths.PROJECT_ROOT / "navigator_orchestrator").rglob("*.py"))


def commands_in_markdown(text: str) -> list[str]:
    """`planwise ...` in inline code spans, and lines starting with `planwise ` inside fenced code blocks."""
    return [command for command, _ in documented_commands(text)]


def commands_in_hints() -> list[str]:
    """`planwise ...` quoted in the orchestrator's string literals (error hints, messages), docstrings excluded;
    f-string fields become a sample path."""
    found = []
    for source in SOURCES:
        tree = ast.parse(source.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                      and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = "".join(part.value if isinstance(part, ast.Constant) else "dbt/simulation.duckdb"
                               for part in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value
            else:
                continue
            found += re.findall(r"`(planwise [^`]+)`", text)
    return found


def test_every_command_in_recovery_md_parses(capsys):
    commands = commands_in_markdown(RECOVERY.read_text(encoding="utf-8"))
    assert len(commands) >= 15, commands
    failures = {command: parse_failure(command) for command in commands}
    bad = {command: why for command, why in failures.items() if why}
    assert not bad, f"commands in RECOVERY.md the CLI rejects: {bad}\n{capsys.readouterr().err}"


def test_every_command_in_an_error_hint_parses(capsys):
    commands = commands_in_hints()
    assert {c.split()[1] for c in commands} >= {"run", "backup"}, commands
    bad = {command: parse_failure(command) for command in commands if parse_failure(command)}
    assert not bad, f"error hints name commands the CLI rejects: {bad}\n{capsys.readouterr().err}"


@pytest.mark.parametrize("symptom", [
    "is in use by planwise run",  # the run lock
    "DuckDB could not lock it",  # another program holds DuckDB's lock
    "no space left on the disk",  # disk full during a backup
    "cannot write the backup folder",  # unwritable backup folder
    "missing required environment variable",  # environment.required
    "planwise backup restore",  # restore from a backup
    "the file is damaged",  # a backup failing verification
])
def test_recovery_md_has_a_row_for(symptom):
    rows = [line for line in RECOVERY.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    matching = [row for row in rows if symptom in row]
    assert matching, f"no RECOVERY.md row mentions {symptom!r}"
    symptom_cell, meaning, fix = matching[0].strip("| ").split(" | ")
    assert meaning and "`planwise " in fix, f"the fix of this row names no planwise command: {matching[0]}"


def test_the_parser_check_rejects_a_wrong_command():
    """The check itself can fail: a misspelt flag or subcommand is caught."""
    assert parse_failure("planwise run --years 2025-2029") is None
    assert parse_failure("planwise run --no-backups") is not None
    assert parse_failure("planwise backup restor") is not None
    assert commands_in_markdown("use `planwise backup list` or\n```\nplanwise backup verify  # all\n```\n") == [
        "planwise backup list", "planwise backup verify"]


def test_symptoms_in_recovery_md_match_the_messages_in_the_code():
    """The quoted stderr fragments of the table's first column exist in the orchestrator's source."""
    source = "\n".join(path.read_text(encoding="utf-8") for path in SOURCES)
    fragments = ["is in use by", "DuckDB could not lock it", "pre-run backup failed, the run did not start",
                 "no space left on the disk of", "cannot write the backup folder", "missing required environment",
                 "took over", "cannot read", "to back it up", "the file is damaged", "the file is incomplete",
                 "has no manifest", "database error: "]
    recovery = RECOVERY.read_text(encoding="utf-8")
    for fragment in fragments:
        assert fragment in recovery, fragment
        assert fragment in source, f"RECOVERY.md quotes {fragment!r}, which no message in the code contains"
