"""The package layout is the architecture: each subpackage imports only the layers its `__init__` docstring allows.

Every import is read from the source (at the top, inside functions, under TYPE_CHECKING), so a shortcut taken
anywhere shows up here before it turns the layers into a tangle.
"""

import ast
import shutil
from pathlib import Path

import navigator_orchestrator

PACKAGE = Path(navigator_orchestrator.__file__).parent

# What each subpackage may import inside the package ("" is the package root: its __init__, for __version__).
ALLOWED = {
    "safety": {"", "errors", "safety"},
    "inputs": {"", "errors", "inputs"},
    "dbt_layer": {"", "errors", "safety", "inputs", "dbt_layer"},
    "run": {"", "errors", "safety", "inputs", "dbt_layer", "run"},
    "ensembles": {"", "errors", "safety", "inputs", "dbt_layer", "run", "ensembles"},
    "deliverables": {"", "errors", "safety", "inputs", "run", "ensembles", "deliverables"},
}
TOP_LEVEL = {"__init__.py", "api.py", "cli.py", "errors.py", "environment.py", "plan_project.py"}
# Folders of files, not code layers: the plan project `planwise init` copies (read, never imported)
DATA = {"plan_template"}


def _imported_layers(path: Path, package: Path) -> set[str]:
    """The first name under the package of every module `path` imports (relative or absolute)."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    here = parts[:-1]
    layers = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = [*base, *(node.module.split(".") if node.module else [])]
                names = [[*target, alias.name] for alias in node.names] if not node.module else [target]
            else:
                names = [node.module.split(".")]
        elif isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        else:
            continue
        for name in names:
            if name[0] == package.name:
                first = name[1] if len(name) > 1 else ""
                is_module = (package / first).is_dir() or (package / f"{first}.py").exists()
                layers.add(first if is_module else "")
    return layers


def layering_violations(package: Path) -> list[str]:
    """Every import that crosses the layers the wrong way, as 'module imports layer'."""
    found = []
    for layer, allowed in ALLOWED.items():
        for path in sorted((package / layer).rglob("*.py")):
            for imported in sorted(_imported_layers(path, package) - allowed):
                found.append(f"{path.relative_to(package)} imports {imported or 'the package root'}")
    return found


def test_each_subpackage_imports_only_the_layers_below_it():
    assert layering_violations(PACKAGE) == []


def test_a_layer_reaching_upward_is_found(tmp_path):
    """The check itself fails when a low layer imports a high one: `safety` reaching into `run`."""
    copy = tmp_path / PACKAGE.name
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    locking = copy / "safety" / "locking.py"
    locking.write_text(locking.read_text() + "\n\ndef _shortcut():\n    from ..run.summary import RunResult\n")
    backup = copy / "safety" / "backup.py"
    backup.write_text(backup.read_text() + "\nimport navigator_orchestrator.ensembles.bands\n")
    assert layering_violations(copy) == ["safety/backup.py imports ensembles", "safety/locking.py imports run"]


def test_the_top_level_holds_only_the_entry_points_and_each_subpackage_says_what_it_holds():
    assert {p.name for p in PACKAGE.glob("*.py")} == TOP_LEVEL
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(ALLOWED) | DATA
    for layer in ALLOWED:
        doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text()))
        assert doc and len([line for line in doc.splitlines() if line.strip()]) == 2, layer
        assert "import" in doc.lower(), f"{layer}/__init__ does not say what it may import"
