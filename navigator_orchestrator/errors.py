"""Failures a user can fix: each carries one line saying what is wrong and how to fix it, and an exit code."""


class PlanwiseError(Exception):
    """Base class: `str(err)` is the one-line message printed by the CLI; `exit_code` is what it exits with."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(f"{message} (fix: {hint})" if hint else message)


class InputError(PlanwiseError):
    """Bad input from the user (arguments, config, census): nothing was touched."""

    exit_code = 2


class ConfigError(InputError):
    """The configuration file is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[str], source: str = "config"):
        self.problems = list(problems)
        joined = "; ".join(self.problems)
        super().__init__(f"{source}: {joined}", "correct these keys in the config file and run again")


class CensusError(InputError):
    """The census file cannot be used (unreadable, missing a required column, empty after staging)."""


class SimulationError(PlanwiseError):
    """The simulation itself failed (a dbt model failed, an invariant check failed)."""


class LockError(PlanwiseError):
    """The database is in use (another planwise run, or another program holding DuckDB's file lock).

    Its own exit code (75, EX_TEMPFAIL: "try again later") lets a scheduler tell "busy" from "broken"."""

    exit_code = 75


class BackupError(PlanwiseError):
    """A backup could not be made, verified or restored; the live database was left as it was."""
