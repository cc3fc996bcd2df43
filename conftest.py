"""Root conftest: Hypothesis settings. One profile, `suite`, for every run of the suite, in CI (CI=true) and locally
alike: derandomized (each test draws the same examples everywhere, every time), no deadline, no example database,
a failing example printed as a `@reproduce_failure` blob, no too-slow health check (a machine's load is no
failure). `--hypothesis-profile=explore` draws new random examples on every invocation, ten times as many.

Hypothesis's other files (its cache of constants read from the tests' source, Unicode tables, failure patches) go
to one temporary folder per test session, never into the checkout: Hypothesis fixes its storage folder at first
use, which collecting a module with `@given` already is, so the folder is chosen in `pytest_configure`, before
collection, and xdist workers inherit it through the environment."""

import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("suite", database=None, deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
# tests that set their own max_examples scale it with the profile's (settings.default.max_examples at import)
settings.register_profile("explore", settings.get_profile("suite"), derandomize=False,
                          max_examples=10 * settings.get_profile("suite").max_examples)
settings.load_profile("suite")  # `--hypothesis-profile=explore` (Hypothesis's own option) loads the other later

_STORAGE = "HYPOTHESIS_STORAGE_DIRECTORY"
_MADE = pytest.StashKey[str]()  # the folder this process made (an xdist worker reuses its controller's)


def pytest_configure(config):
    if not os.environ.get(_STORAGE):
        os.environ[_STORAGE] = config.stash[_MADE] = tempfile.mkdtemp(prefix="planwise-hypothesis-")


def pytest_unconfigure(config):
    if _MADE in config.stash:
        shutil.rmtree(config.stash[_MADE], ignore_errors=True)
        os.environ.pop(_STORAGE, None)
