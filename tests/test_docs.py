"""The documentation is held to the code: README.md stays short, every `planwise` command in README.md and docs/
parses with the real CLI parser and its form (command and options) is run by a named test, every relative link
and #anchor of README.md, RECOVERY.md and docs/ resolves, and the docs carry no dated history of work.
Each check is a function over a file, so each is also shown to report a deliberately broken copy."""

from __future__ import annotations

import argparse
import ast
import re
import shlex
import shutil
from pathlib import Path

import duckdb
import pytest

from navigator_orchestrator.cli import build_parser
from navigator_orchestrator.inputs import paths
from pytest_planwise.commands import planwise_command

ROOT = paths.PROJECT_ROOT
README = ROOT / "README.md"
RECOVERY = ROOT / "RECOVERY.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
COMMAND_DOCS = [README, *DOCS]  # RECOVERY.md's commands are run by tests/test_recovery_fixes.py
LINKED_DOCS = [README, RECOVERY, *DOCS]
MAX_README_LINES = 200
SCENARIOS = ROOT / "scenarios"
# per command, the options a test adds or changes to keep it inside its tmp_path and small: not part of its form
ISOLATING = {"run": {"--db", "--census"}, "check": {"--db"}, "backup": {"--db"}, "ensemble": {"--census"}}
RUNNER = "tests/test_docs.py::test_every_documented_command_form_runs"

# Every form of a documented command, and the test that runs it (with ISOLATING options and small values).
FORMS = {
    "--help": "tests/test_commands.py::test_another_pythonpath_imports_its_own_package",
    "run --years": RUNNER,
    "run --resume --years": RUNNER,
    "run --seed --years": RUNNER,
    "run --no-backup --years": "tests/test_validate_production.py::built",
    "check": "tests/test_quality_gates.py::test_planwise_check_runs_the_gates_on_a_database",
    "check --years": "tests/test_quality_gates.py::test_planwise_check_runs_the_gates_on_a_database",
    "backup create": "tests/test_backups.py::test_restore_removes_a_stale_wal_and_moves_a_damaged_database_aside",
    "backup restore": "tests/test_backups.py::test_restore_removes_a_stale_wal_and_moves_a_damaged_database_aside",
    "backup list": "tests/test_backups.py::test_backup_keep_comes_from_the_config",
    "backup verify": "tests/test_backups.py::test_seven_runs_keep_five_verified_backups_and_restore_gives_the_backups_marts",
    "ensemble --baseline-scenario --out --scenarios --seeds --years": RUNNER,
    "ensemble --out --resume --scenarios --seeds --years": RUNNER,
    "census generate --employees --out --seed": RUNNER,
    "init": RUNNER,
    "init --census": RUNNER,
    "report --db --out": "tests/test_report.py::test_a_failed_runs_report_leads_with_the_failure_and_its_fix",
    "report --db --out --run-id":
        "tests/test_report.py::test_the_run_report_is_self_contained_charted_and_shows_the_summarys_figures",
    "report --ensemble --out": "tests/test_report.py::"
                               "test_the_ensemble_report_is_self_contained_charted_and_shows_the_bands_and_paired_differences",
    "export --db --format --out": "tests/test_workbook.py::test_the_run_workbooks_summary_equals_summary_json_to_the_cent",
    "export --db --detail --format --out": "tests/test_workbook.py::test_detail_adds_one_row_per_person_year",
    "export --ensemble --format --out":
        "tests/test_workbook.py::test_the_ensemble_workbooks_paired_sheet_equals_paired_parquet",
}


# ------------------------------------------------------------------------------------------------ commands
def documented_commands(text: str) -> list[tuple[str, bool]]:
    """(command, inline) for each `planwise ...` inline code span and each fenced line starting with `planwise `
    (a trailing `# comment` dropped)."""
    found, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            if line.strip().startswith("planwise "):
                found.append((line.split("#", 1)[0].strip(), False))
            continue
        found += [(span, True) for span in re.findall(r"`([^`]+)`", line) if span.startswith("planwise ")]
    return found


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next((action.choices for action in parser._actions if isinstance(action, argparse._SubParsersAction)),
                {})


def command_path(tokens: list[str]) -> list[str]:
    """The leading tokens that name (sub)commands of the real parser: ['backup', 'restore'] of
    `backup restore --db x`."""
    parser, path = build_parser(), []
    for token in tokens:
        choices = _subcommands(parser)
        if token not in choices:
            break
        path.append(token)
        parser = choices[token]
    return path


def form(command: str) -> str:
    """The command's (sub)command names and the options it gives, sorted, without its ISOLATING ones:
    `planwise run --years 2025-2029 --db x --resume` -> 'run --resume --years'."""
    tokens = shlex.split(command)[1:]
    path = command_path(tokens)
    isolating = ISOLATING.get(path[0], set()) if path else set()
    options = sorted({token.split("=", 1)[0] for token in tokens if token.startswith("--")} - isolating)
    return " ".join(path + options)


def is_a_name(command: str) -> bool:
    """An inline span made only of command names (`planwise ensemble`) names a command in prose: no command line."""
    tokens = shlex.split(command)[1:]
    return bool(tokens) and command_path(tokens) == tokens


def parse_failure(command: str) -> str | None:
    """None when the real parser accepts the command (`--help` exits 0, which counts as accepted)."""
    try:
        build_parser().parse_args(shlex.split(command)[1:])
    except SystemExit as exit_:
        if exit_.code == 0 and "--help" in command.split():
            return None
        return f"exit {exit_.code}"
    return None


def command_problems(doc: Path) -> list[str]:
    """Every documented command the parser rejects, or whose form no test is named for."""
    problems = []
    for command, inline in documented_commands(doc.read_text(encoding="utf-8")):
        if inline and is_a_name(command):
            continue
        why = parse_failure(command)
        if why:
            problems.append(f"{doc.name}: `{command}` is rejected by the CLI parser ({why})")
        elif form(command) not in FORMS:
            problems.append(f"{doc.name}: `{command}` has the form {form(command)!r}, which no test in FORMS runs")
    return problems


def runner_problems(node_id: str, command_form: str, root: Path = ROOT) -> list[str]:
    """The named test exists (a function of that name in that file) and its file passes the form's command words
    and options (as string literals)."""
    file, _, name = node_id.partition("::")
    source = (root / file).read_text(encoding="utf-8")
    functions = {node.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)}
    problems = [] if name in functions else [f"{node_id}: no function {name} in {file}"]
    if node_id != RUNNER:
        problems += [f"{node_id}: {file} never passes {word!r} (form {command_form!r})"
                     for word in command_form.split() if f'"{word}"' not in source]
    return problems


def test_every_command_in_the_docs_parses_and_is_run_by_a_test(capsys):
    commands = [command for doc in COMMAND_DOCS for command, _ in documented_commands(doc.read_text())]
    assert len(commands) >= 30, commands
    problems = [problem for doc in COMMAND_DOCS for problem in command_problems(doc)]
    assert not problems, "\n".join(problems) + "\n" + capsys.readouterr().err
    documented = {form(c) for doc in COMMAND_DOCS for c, inline in documented_commands(doc.read_text())
                  if not (inline and is_a_name(c))}
    assert documented == set(FORMS), f"forms in FORMS that no doc shows any more: {set(FORMS) - documented}"


def test_every_test_named_in_forms_exists_and_runs_its_form():
    problems = [problem for command_form, node_id in FORMS.items()
                for problem in runner_problems(node_id, command_form)]
    assert not problems, "\n".join(problems)


def test_a_wrong_or_unrun_command_is_reported(tmp_path, capsys):
    """The command check fails on a doc with a misspelt option, and on a valid command of a form no test runs;
    a command name in prose and `--help` are accepted."""
    doc = tmp_path / "broken.md"
    doc.write_text("Use `planwise run --years 2025-2029 --no-backups`, or `planwise ensemble` by name.\n"
                   "```bash\nplanwise run --years 2025-2029 --threads 2   # threads\nplanwise --help\n```\n")
    problems = command_problems(doc)
    capsys.readouterr()
    assert problems == [
        "broken.md: `planwise run --years 2025-2029 --no-backups` is rejected by the CLI parser (exit 2)",
        "broken.md: `planwise run --years 2025-2029 --threads 2` has the form 'run --threads --years', which no "
        "test in FORMS runs"]
    assert form("planwise backup restore backup_1.duckdb --db x.duckdb") == "backup restore"
    assert form("planwise init acme --census c.csv") == "init --census"  # init's --census is what it does
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text('def test_runs(cli):\n    cli(["backup", "list"])\n')
    assert runner_problems("tests/test_x.py::test_runs", "backup list", tmp_path) == []
    assert runner_problems("tests/test_x.py::test_gone", "backup list", tmp_path) == [
        "tests/test_x.py::test_gone: no function test_gone in tests/test_x.py"]
    assert runner_problems("tests/test_x.py::test_runs", "backup verify --db", tmp_path) == [
        "tests/test_x.py::test_runs: tests/test_x.py never passes 'verify' (form 'backup verify --db')",
        "tests/test_x.py::test_runs: tests/test_x.py never passes '--db' (form 'backup verify --db')"]


def _ok(done) -> str:
    assert done.returncode == 0, f"{done.args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_every_documented_command_form_runs(tmp_path):
    """The forms FORMS gives to this test, each run once through the real CLI in tmp_path: a small census, one
    simulated year, a 4-run ensemble, two plan projects."""
    ran = []

    def cli(*args) -> str:
        ran.append(form(shlex.join(["planwise", *map(str, args)])))
        return _ok(planwise_command(list(args), tmp_path))

    census, db = tmp_path / "census_200.parquet", tmp_path / "sim.duckdb"
    assert "wrote 200 people (seed 7)" in cli("census", "generate", "--employees", 200, "--seed", 7, "--out", census)
    first = cli("run", "--years", "2025", "--census", census, "--db", db)
    assert "run " in first and ": success in " in first
    assert "2025: skipped (checkpoint verified)" in cli("run", "--years", "2025", "--resume", "--census", census,
                                                         "--db", db)
    cli("run", "--years", "2025", "--seed", 7, "--census", census, "--db", tmp_path / "seed7.duckdb")
    with duckdb.connect(str(tmp_path / "seed7.duckdb"), read_only=True) as con:
        assert con.execute("select status, seed from run_metadata").fetchall() == [("success", 7)]

    ens = tmp_path / "ens"
    scenarios = [SCENARIOS / "default.yaml", SCENARIOS / "rich_match.yaml"]
    cli("ensemble", "--scenarios", *scenarios, "--seeds", "1-2", "--years", "2025", "--census", census,
        "--out", ens, "--baseline-scenario", "default")
    assert (ens / "runs.parquet").is_file() and (ens / "paired.csv").is_file()
    resumed = cli("ensemble", "--scenarios", *scenarios, "--seeds", "1-2", "--years", "2025", "--census", census,
                  "--out", ens, "--resume")
    assert "resume: 4 of 4 runs verified and kept, 0 to run" in resumed

    cli("init", tmp_path / "bare")
    cli("init", tmp_path / "acme", "--census", census)
    for project in (tmp_path / "bare", tmp_path / "acme"):
        for part in ("config/simulation_config.yaml", "scenarios", "census", "tests", "baselines", ".gitignore",
                     ".env.example", ".github/workflows/planwise.yml"):
            assert (project / part).exists(), f"planwise init left no {part} in {project.name}"
    copied = [path.read_bytes() for path in (tmp_path / "acme" / "census").iterdir() if path.suffix == ".parquet"]
    assert copied == [census.read_bytes()], "init --census did not copy the census into census/"

    assert sorted(set(ran)) == sorted(f for f, node_id in FORMS.items() if node_id == RUNNER)


# --------------------------------------------------------------------------------------------------- links
def _outside_code(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(re.sub(r"`[^`]*`", "", line))
    return lines


def anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    found = set()
    text = doc.read_text(encoding="utf-8")
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).replace("`", "").strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def link_problems(doc: Path) -> list[str]:
    """Every relative link of the doc whose file does not exist, or whose #anchor is no heading there."""
    problems = []
    for line in _outside_code(doc.read_text(encoding="utf-8")):
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not checked here
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            if not path.exists():
                problems.append(f"{doc.name}: link {target}: no file {path}")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                problems.append(f"{doc.name}: link {target}: no heading #{anchor} in {path.name}")
    return problems


def test_every_link_and_anchor_resolves():
    links = [doc for doc in LINKED_DOCS if "](" in doc.read_text()]
    assert set(links) >= {README, RECOVERY, ROOT / "docs" / "running.md"}, links
    problems = [problem for doc in LINKED_DOCS for problem in link_problems(doc)]
    assert not problems, "\n".join(problems)


def test_a_broken_link_or_anchor_is_reported(tmp_path):
    """Copies of the docs check clean; a link to a missing file, to a missing heading, and to a `#` comment of a
    code block (no heading) are each reported, while links inside code are not links."""
    for doc in LINKED_DOCS:
        copy = tmp_path / doc.relative_to(ROOT)
        copy.parent.mkdir(exist_ok=True)
        shutil.copy(doc, copy)
    copies = [tmp_path / doc.relative_to(ROOT) for doc in LINKED_DOCS]
    assert [problem for copy in copies for problem in link_problems(copy)] == []
    running, readme = tmp_path / "docs" / "running.md", tmp_path / "README.md"
    running.write_text(running.read_text() + "\nSee [the spec](simulation-spec.md) and `[code](nowhere.md)`.\n")
    readme.write_text(readme.read_text() + "\n[gone](docs/running.md#no-such-heading) [ok](#layout)\n"
                      "[comment](#not-a-heading)\n```bash\n# not a heading\n```\n")
    assert link_problems(running) == [f"running.md: link simulation-spec.md: no file {running.parent}/simulation-spec.md"]
    assert link_problems(readme) == [
        "README.md: link docs/running.md#no-such-heading: no heading #no-such-heading in running.md",
        "README.md: link #not-a-heading: no heading #not-a-heading in README.md"]
    assert {"two-commands-fresh-machine-python-311-and-pip", "planwise-run", "checkpoints-and---resume"} <= (
        anchors(readme) | anchors(running) | anchors(tmp_path / "docs" / "operations.md"))


# ------------------------------------------------------------------------------------------ length, history
def too_long(doc: Path, limit: int = MAX_README_LINES) -> str | None:
    lines = len(doc.read_text(encoding="utf-8").splitlines())
    return f"{doc.name} has {lines} lines, more than {limit}" if lines > limit else None


DATED = re.compile(r"\b(?:(?:this|same|that|previous|earlier|first|second|third|fourth|fifth|sixth|seventh|eighth) "
                   r"session\b|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* (?!31\b|1\b)\d{1,2}\b"
                   r"|issue \d+|commit [0-9a-f]{7,})", re.IGNORECASE)


def history_lines(doc: Path) -> list[str]:
    """Lines that speak of when work was done (a numbered or "this" session, dates of work, issue or commit
    numbers); the domain's dates (Dec 31, Jan 1) and pytest's session scope are not history."""
    return [f"{doc.name}:{number}: {line.strip()}" for number, line in enumerate(doc.read_text().splitlines(), 1)
            if DATED.search(line)]


def test_readme_is_short():
    assert too_long(README) is None, too_long(README)


def test_the_docs_carry_no_history_of_work():
    problems = [line for doc in LINKED_DOCS for line in history_lines(doc)]
    assert not problems, "\n".join(problems)


def test_a_long_readme_and_a_dated_line_are_reported(tmp_path):
    long = tmp_path / "README.md"
    long.write_text(README.read_text() + "\n" * (MAX_README_LINES + 1))
    assert too_long(long).startswith("README.md has ") and too_long(long).endswith("more than 200")
    dated = tmp_path / "performance.md"
    dated.write_text("| what (Dec 5 2026) | 11.2 s |\nage as of Dec 31; hired Jan 1; a session-scoped fixture\n"
                     "see issue 33\nmeasured at commit 059ad20\nthe same session: 4 min\n")
    assert history_lines(dated) == ["performance.md:1: | what (Dec 5 2026) | 11.2 s |",
                                    "performance.md:3: see issue 33", "performance.md:4: measured at commit 059ad20",
                                    "performance.md:5: the same session: 4 min"]
