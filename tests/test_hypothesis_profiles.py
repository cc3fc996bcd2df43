"""The README's test command draws what CI draws: the root conftest.py loads one Hypothesis profile whether CI is set
or not (derandomized: the same examples everywhere, every time), and `--hypothesis-profile=explore` draws new random
examples, ten times as many. Each case is a pytest session of its own (pytester, a child process) with this
repository's root conftest.py and one property test that records what it was given."""

import json
from pathlib import Path

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
RECORDING_TEST = """
import json
import os

from hypothesis import given, strategies as st

DRAWN = []


@given(st.integers(0, 10**9))
def test_records_its_examples(number):
    DRAWN.append(number)


def teardown_module():
    with open(os.environ["PLANWISE_DRAWN"], "w") as out:
        json.dump(DRAWN, out)
"""


def drawn(pytester, monkeypatch, name: str, ci: bool, *options: str) -> list[int]:
    """The examples the recording test was given in one session (CI=true when `ci`)."""
    out = pytester.path / f"{name}.json"
    with monkeypatch.context() as env:
        env.setenv("PLANWISE_DRAWN", str(out))
        if ci:
            env.setenv("CI", "true")
        else:
            env.delenv("CI", raising=False)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:planwise", "-p", "no:xdist",
                                               *options)
    result.assert_outcomes(passed=1)
    return json.loads(out.read_text())


def test_the_readme_command_draws_what_ci_draws_and_explore_draws_more(pytester, monkeypatch):
    pytester.makeconftest(ROOT_CONFTEST.read_text())
    pytester.makepyfile(test_recording=RECORDING_TEST)
    local, ci = drawn(pytester, monkeypatch, "local", False), drawn(pytester, monkeypatch, "ci", True)
    assert len(local) == 100 and local == ci, "python -m pytest draws other examples than CI=true python -m pytest"
    assert drawn(pytester, monkeypatch, "again", False) == local  # and the same every time
    first = drawn(pytester, monkeypatch, "explore", False, "--hypothesis-profile=explore")
    second = drawn(pytester, monkeypatch, "explore_again", False, "--hypothesis-profile=explore")
    assert len(first) == len(second) == 1000
    assert first != second and set(first) != set(local), "the explore profile drew the suite's examples again"
