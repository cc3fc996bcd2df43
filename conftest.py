"""Root conftest: Hypothesis settings. CI sets CI=true and Hypothesis then loads its built-in `ci` profile
(derandomized, no deadline, no example database). Locally the `dev` profile keeps no example database either,
and Hypothesis's other files (failure patches) go under the session's temp folder: no test writes into the
checkout."""

import os

import pytest
from hypothesis import settings

settings.register_profile("dev", database=None, deadline=None)
if not os.environ.get("CI"):
    settings.load_profile("dev")


@pytest.fixture(scope="session", autouse=True)
def _hypothesis_storage_in_tmp(tmp_path_factory):
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = str(tmp_path_factory.mktemp("hypothesis"))
