"""Build step: a built package carries every file an installed `planwise` reads besides its code, so it never needs
this checkout. The dbt project (its sources: no target/, logs/, .user.yml or databases), the default config, the
example scenarios, .env.example and constraints.txt go to navigator_orchestrator/bundled/, where
navigator_orchestrator/inputs/paths.py looks for them; the plan-project template `planwise init` copies
(navigator_orchestrator/plan_template/, dotfiles included) goes along. An editable install reads the checkout's
own folders and gets no copies. The rest of the build is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("dbt", "config/simulation_config.yaml", "scenarios", ".env.example", "constraints.txt")
TEMPLATE = "navigator_orchestrator/plan_template"
# what dbt, runs and Python leave in those folders that is not part of them
NOT_SHIPPED = shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml", "*.duckdb*", "artifacts",
                                     "backups", ".checkpoints", "__pycache__")


class BuildPyWithShippedFiles(build_py):
    """setuptools' build_py, then the shipped files copied into the build folder (fresh on every build)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        package = Path(self.build_lib) / "navigator_orchestrator"
        for name in ("bundled", "plan_template"):
            shutil.rmtree(package / name, ignore_errors=True)
        for name in SHIPPED:
            _copy(ROOT / name, package / "bundled" / name)
        _copy(ROOT / TEMPLATE, package / "plan_template")


def _copy(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, ignore=NOT_SHIPPED)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


setup(cmdclass={"build_py": BuildPyWithShippedFiles})
