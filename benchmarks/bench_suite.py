"""Wall time of the test commands users run, each in a fresh clone (not timed tests: numbers depend on the machine).

Why: `pytest -m smoke` must stay within 30 s on a 2-core machine and the full `pytest -n 2` within 5 minutes.
How:
    python benchmarks/bench_suite.py                       # smoke, 3 repetitions
    python benchmarks/bench_suite.py --suite full --repeat 1
Each repetition clones the current checkout (committed state) into a temp folder and runs the command there with
the installed package's plugin; prints every time and the median, also as a multiple of
`benchmarks/reference.py`'s fixed workload (timed before and after), which compares across machines.
Exits 1 if a run fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import describe, reference_seconds  # noqa: E402 - the sibling module, whatever the cwd

COMMANDS = {
    "smoke": [sys.executable, "-m", "pytest", "-m", "smoke", "-q", "-p", "no:cacheprovider"],
    "full": [sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider"],
}


def run_once(suite: str, checkout: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="planwise-suite-") as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "-q", str(checkout), str(clone)], check=True)
        began = time.monotonic()
        done = subprocess.run(COMMANDS[suite], cwd=clone, capture_output=True, text=True,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        seconds = time.monotonic() - began
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
            raise SystemExit(f"{suite} failed with exit code {done.returncode}")
        print(f"  {suite}: {seconds:.1f} s   ({done.stdout.strip().splitlines()[-1]})")
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=sorted(COMMANDS), default="smoke")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    checkout = Path(__file__).resolve().parent.parent
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    before = reference_seconds()
    times = [run_once(args.suite, checkout) for _ in range(args.repeat)]
    reference = statistics.median([before, reference_seconds()])
    print(f"{args.suite}: median {describe(statistics.median(times), reference)} over {len(times)} run(s) "
          f"(min {min(times):.1f}, max {max(times):.1f}); load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
