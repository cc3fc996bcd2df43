"""Where a deliverable goes: `--out` is checked before anything is read, and the file is replaced whole (a temp
file renamed over it), so a failure leaves no half-written report or workbook."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def checked_out(out: Path, example: str) -> Path:
    """`out` when a file can be written there; InputError naming the problem otherwise."""
    out = Path(out).expanduser()
    if out.is_dir():
        raise InputError(f"--out {out} is a folder", f"name a file in it, e.g. --out {out / example}")
    if not out.parent.resolve().is_dir():
        raise InputError(f"--out {out}: folder {out.parent} does not exist", "create it first, or write elsewhere")
    return out
