"""Root conftest: Hypothesis profiles. CI sets CI=true and Hypothesis then loads its built-in `ci` profile
(derandomized, no deadline, no example database). Locally the `dev` profile keeps no example database either,
so no test writes outside its tmp_path."""

import os

from hypothesis import settings

settings.register_profile("dev", database=None, deadline=None)
if not os.environ.get("CI"):
    settings.load_profile("dev")
