"""One masking function, `mask`, for everything the orchestrator writes: console lines, error messages,
summaries, backup manifests, run_metadata and dbt's own log.

A secret reaches text in four shapes, and `mask` removes all four: `name=value` or `name: value` (also a
quoted JSON or Python field, and a whole list or mapping value, `password=[a, b]`, masked whole) whose name looks
secret, a password inside a URL (scheme://user:pass@host), and the bare value of a secret-looking environment
variable (say, echoed inside an error message).

Which names look secret (`looks_secret`): any name containing token, password, passwd, secret or credential
(so `tokens_used=5` is masked too: a false positive is cheap, a leak is not); "key" and the other short words
only as a whole part of the name (api_key, apiKey, API_KEY, key, pass), so `monkey=3` or `keyboard: us` stay.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MASK = "****"
MIN_SECRET_LENGTH = 4  # shorter environment values ("1", "yes") would mask ordinary text everywhere

_SECRET_WORDS = ("token", "password", "passwd", "secret", "credential")
_SECRET_PARTS = frozenset({"key", "keys", "apikey", "accesskey", "privatekey", "pass"})  # not pwd: $PWD
_CANDIDATE = re.compile("|".join((*_SECRET_WORDS, *_SECRET_PARTS)), re.IGNORECASE)  # cheap pre-filter
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_PARTS = re.compile(r"[^a-z0-9]+")

# scheme://user:password@host -> scheme://user:****@host
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]+:)(?P<password>[^\s@/'\"]+)(?=@)")
# name = value, name: value, "name": "value", 'name': 'value' (the name and separator; the value is read after)
_NAME = re.compile(r"""(?P<quote>["']?)(?P<name>[A-Za-z_][\w.-]*)(?P=quote)[ \t]*[:=][ \t]*""")
# a quoted string, or a bare word up to a space, quote or bracket; a list or mapping value ([..], {..}) is read
# by `_bracketed` instead, so it is masked whole
_VALUE = re.compile(r""""(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s"',;&(){}\[\]<>]+""")


def looks_secret(name: str) -> bool:
    """Whether a field or variable name suggests its value is a secret (see the module docstring)."""
    lowered = name.lower()
    if any(word in lowered for word in _SECRET_WORDS):
        return True
    return any(part in _SECRET_PARTS for part in _PARTS.split(_CAMEL.sub(r"\1_\2", name).lower()))


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Literal secrets of the environment: values of secret-looking variables, and passwords inside URL
    values (DATABASE_URL=postgres://u:pw@h), longest first so a value containing another is masked whole.

    Remembered for the environment it was computed from: a run masks thousands of log fields, and the
    environment (which tests and .env may change at any time) is compared whole on every call."""
    items = tuple((os.environ if environ is None else environ).items())
    if items != _SECRETS_OF[0]:
        _SECRETS_OF[:] = [items, _find_secret_values(dict(items))]
    return _SECRETS_OF[1]


_SECRETS_OF: list = [None, []]  # [environment items, their secret values]


def _find_secret_values(environ: Mapping[str, str]) -> list[str]:
    found: set[str] = set()
    for name, value in environ.items():
        if looks_secret(name):
            found.add(value)
        found.update(match.group("password") for match in _URL_PASSWORD.finditer(value))
    return sorted((v for v in found if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def mask(text: str, secrets: list[str] | None = None) -> str:
    """`text` with every secret replaced by ****; the same text when there is none. `secrets`: the environment's
    `secret_values()`, when the caller masks many strings at once."""
    for value in secret_values() if secrets is None else secrets:
        text = text.replace(value, MASK)
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _mask_assignments(text)


def _mask_assignments(text: str) -> str:
    """Mask the value after each secret-looking `name=`/`name:`; a value may itself hold '=' or ':'.

    Line by line, and only lines holding one of the words at all: dbt's log is large and mostly harmless."""
    return "".join(_mask_line(line) for line in text.splitlines(keepends=True))


def _mask_line(text: str) -> str:
    if not _CANDIDATE.search(text):
        return text
    pieces, done = [], 0
    for name in _NAME.finditer(text):
        if name.start() < done or not looks_secret(name.group("name")):
            continue
        if text.startswith(("[", "{"), name.end()):
            raw, end = text[name.end()], _bracketed(text, name.end())
        else:
            value = _VALUE.match(text, name.end())
            if value is None or value.group(0).strip("\"'") == MASK:
                continue
            raw, end = value.group(0), value.end()
        if raw[0] in "\"'":
            masked = raw[0] + MASK + raw[0]
        else:
            # a bare or bracketed value after a quoted name is JSON (a number, null, a list): quote the mask
            masked = f'"{MASK}"' if name.group("quote") == '"' else MASK
        pieces += [text[done:name.end()], masked]
        done = end
    return "".join(pieces) + text[done:]


def _bracketed(text: str, start: int) -> int:
    """End of the list or mapping opening at `start`: its matching bracket, nested brackets and quoted items
    skipped; the end of the line when it is never closed (an unbalanced value is masked to the end)."""
    depth, i, line_end = 0, start, len(text.rstrip("\r\n"))
    while i < line_end:
        char = text[i]
        if char in "\"'":
            close = text.find(char, i + 1)
            while close > 0 and char == '"' and text[close - 1] == "\\":
                close = text.find(char, close + 1)
            i = close if close > 0 else line_end
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return line_end


def mask_data(value: Any, secret: bool = False, secrets: list[str] | None = None) -> Any:
    """`mask` applied to a JSON-able structure before it is serialised: every string is masked, and a string held
    under a secret-looking key becomes **** whole, also inside a list or mapping held under one (`secret`).
    Numbers stay numbers (digests, sizes). The environment is read once per structure, not once per string (a
    summary holds thousands: reading os.environ for each was a tenth of a small run)."""
    if secrets is None:
        secrets = secret_values()
    if isinstance(value, str):
        return MASK if secret else mask(value, secrets)
    if isinstance(value, dict):
        return {mask(str(key), secrets): mask_data(item, secret or looks_secret(str(key)), secrets)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_data(item, secret, secrets) for item in value]
    return value


def mask_file(path: Path, start: int = 0) -> int:
    """Mask a text file we do not write ourselves (dbt's log) in place, from byte `start` (what an earlier call
    already masked: dbt appends whole lines); returns the size reached, to pass as `start` next time.

    In place rather than replaced, so a writer that keeps the file open in append mode carries on at its end."""
    try:
        with path.open("r+b") as handle:
            handle.seek(start)
            text = handle.read().decode("utf-8", errors="surrogateescape")
            masked = mask(text)
            if masked != text:
                handle.seek(start)
                handle.write(masked.encode("utf-8", errors="surrogateescape"))
                handle.truncate()
            return handle.tell()
    except FileNotFoundError:
        return 0
