"""`--memory-limit`: how much memory DuckDB may use for one run.

Why: DuckDB's default is 80 % of the machine's memory, and it keeps every block a run writes cached up to that
limit, so a run's footprint grew with its database (3.4 GiB at 1,000,000 people x 10 years on a 23 GiB machine)
although a year reads only last year's slice. A fixed cap keeps a run, and each worker of an ensemble, inside a
known budget; past it DuckDB evicts cached blocks first and then spills query state to a temporary folder beside the
database, at no measured cost for that run under 2 GB.
"""

import re

from ..errors import InputError

DEFAULT_MEMORY_LIMIT = "2GB"
MINIMUM_BYTES = 256 * 1024 ** 2  # the bundled census runs out of memory at 32 MiB; this leaves a margin
_UNITS = {"kb": 1000, "mb": 1000 ** 2, "gb": 1000 ** 3, "tb": 1000 ** 4,
          "kib": 1024, "mib": 1024 ** 2, "gib": 1024 ** 3, "tib": 1024 ** 4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b)\s*$", re.IGNORECASE)


def parse_memory_limit(text: str) -> str:
    """'2GB', '512 MiB' ... -> the size as DuckDB's `SET memory_limit` reads it; anything else, or less than
    256 MiB, is an InputError saying how to write it."""
    match = _SIZE.match(text or "")
    if not match:
        raise InputError(f"--memory-limit {text!r} is not a size",
                         "write a number and a unit, e.g. --memory-limit 2GB or --memory-limit 512MiB")
    number, unit = float(match.group(1)), match.group(2).lower()
    if number * _UNITS[unit] < MINIMUM_BYTES:
        raise InputError(f"--memory-limit {text} is below the 256MiB a run needs",
                         "give at least --memory-limit 256MiB (default 2GB)")
    return f"{match.group(1)}{unit.upper().replace('I', 'i')}"
