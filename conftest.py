"""Root conftest: Hypothesis settings. CI sets CI=true and Hypothesis then loads its built-in `ci` profile
(derandomized, no deadline, no example database). Locally the `dev` profile keeps no example database either.

Hypothesis's other files (its cache of constants read from the tests' source, Unicode tables, failure patches) go
to one temporary folder per test session, never into the checkout: Hypothesis fixes its storage folder at first
use, which collecting a module with `@given` already is, so the folder is chosen in `pytest_configure`, before
collection, and xdist workers inherit it through the environment."""

import os
import shutil
import tempfile

import pytest
from hypothesis import settings

settings.register_profile("dev", database=None, deadline=None)
if not os.environ.get("CI"):
    settings.load_profile("dev")

_STORAGE = "HYPOTHESIS_STORAGE_DIRECTORY"
_MADE = pytest.StashKey[str]()  # the folder this process made (an xdist worker reuses its controller's)


def pytest_configure(config):
    if not os.environ.get(_STORAGE):
        os.environ[_STORAGE] = config.stash[_MADE] = tempfile.mkdtemp(prefix="planwise-hypothesis-")


def pytest_unconfigure(config):
    if _MADE in config.stash:
        shutil.rmtree(config.stash[_MADE], ignore_errors=True)
        os.environ.pop(_STORAGE, None)
