"""The suite's own set-up: the plugin's child processes (`planwise_command`, `planwise_process`, the dbt test
helper, from collection on) are children of the tests' fork server (`support/forkserver.py`), which skip the 2 s
dbt import a plain subprocess pays; users of the plugin get plain subprocesses."""

import pytest

from pytest_planwise import commands
from support.commands import forked_python

_REPLACED = pytest.StashKey[commands.ProcessStarter]()


def pytest_configure(config):
    config.stash[_REPLACED] = commands.use_process_starter(forked_python)


def pytest_unconfigure(config):
    if _REPLACED in config.stash:
        commands.use_process_starter(config.stash[_REPLACED])
