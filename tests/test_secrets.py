"""Secrets: one masking function for every line, summary and error; a secret planted in `.env` appears
in no file a run writes (dbt's log and the database bytes included) nor on the console; a missing required
variable stops the run with exit code 2 naming it, the database byte-identical and nothing written.

Masking decisions pinned here: a name containing token, password, passwd, secret or credential is secret
anywhere in it (so `tokens_used=5` is masked: a false positive is cheap); "key" and "pass" only as a whole part
of the name (api_key, apiKey, API_KEY), so `monkey=3` and `keyboard: us` are left alone. Environment values
shorter than 4 characters are not masked (they would blank ordinary text). A list or mapping value under a secret
name (`password=[a, b]`, `"credentials": ["a"]`) is masked whole, nested brackets and quoted items included.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from navigator_orchestrator.inputs.census import generate_census
from navigator_orchestrator.inputs.config import SimulationConfig, render_yaml
from navigator_orchestrator.safety.masking import MASK, looks_secret, mask, mask_data, secret_values
from pytest_planwise.commands import planwise_command

TOKEN = "sk-live-abcdef123456"
DB_PASSWORD = "hunter2pass"
SECRETS = (TOKEN, DB_PASSWORD)
DOTENV = f"PLANWISE_API_TOKEN={TOKEN}\nDATABASE_URL=postgres://admin:{DB_PASSWORD}@db.example.com:5432/planwise\n"


@pytest.fixture
def clean_env(monkeypatch):
    """No secret-looking variable of the machine running the tests takes part in these unit tests."""
    for name in list(os.environ):
        if looks_secret(name) or "://" in os.environ[name]:
            monkeypatch.delenv(name)
    return monkeypatch


# --- the masking function -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("api_key=abc123 next", "api_key=**** next"),
    ("API_KEY=abc123", "API_KEY=****"),
    ("apiKey: zz9", "apiKey: ****"),
    ("password = hunter2 then", "password = **** then"),
    ("db.password: 'two words'", "db.password: '****'"),
    ("error: token=abc=def; more", "error: token=****; more"),
    ("client_secret=s3cr3t&x=1", "client_secret=****&x=1"),
    ("AWS_CREDENTIALS=abc", "AWS_CREDENTIALS=****"),
    ("pass=letmein", "pass=****"),
    ("tokens_used=5", "tokens_used=****"),
    ("/tmp/run/api_token=sk-zzz/census.parquet more", "/tmp/run/api_token=**** more"),
    ("connect postgres://bob:pw1234@db:5432/x failed", "connect postgres://bob:****@db:5432/x failed"),
    ("https://user:p%40ss@example.com/path", "https://user:****@example.com/path"),
    # left alone: ordinary text, names that merely contain "key", URLs without a password
    ("monkey=3 keyboard: us turkey=4", "monkey=3 keyboard: us turkey=4"),
    ("census: 300 rows read, 2025: 273 -> 281 employees", "census: 300 rows read, 2025: 273 -> 281 employees"),
    ("https://example.com/a?b=c and postgres://bob@db/x", "https://example.com/a?b=c and postgres://bob@db/x"),
    ("the key to success", "the key to success"),
    ("password=", "password="),
])
def test_mask_key_values_and_urls(clean_env, text, expected):
    assert mask(text) == expected
    assert mask(expected) == expected  # idempotent



@pytest.mark.parametrize("text, expected", [
    ("password=[a, b] next", "password=**** next"),
    ("api_key={'user': 'u', 'pw': 'x'} tail", "api_key=**** tail"),
    ("token: [1, [2, {3: 4}]] ok", "token: **** ok"),
    ("secret={a: {b: c}}; rows=3", "secret=****; rows=3"),
    ("password=['a]b', \"c}d\"] x=1", "password=**** x=1"),  # brackets inside quoted items do not close it
    ("credentials=[never closed, rest", "credentials=****"),  # unbalanced: the rest of the line is the value
    ("password=[a]\nrows=[1, 2]\n", "password=****\nrows=[1, 2]\n"),
    ("monkey=[1, 2] years={2025: 3}", "monkey=[1, 2] years={2025: 3}"),  # not secret names: left alone
])
def test_mask_list_and_mapping_values_whole(clean_env, text, expected):
    """A secret value written as a list or mapping (`password=[a, b]`, `api_key={...}`) leaks every item unless
    the whole bracketed value, nested brackets included, is masked."""
    assert mask(text) == expected
    assert mask(expected) == expected

def test_mask_json_fields_keeps_json_valid(clean_env):
    text = json.dumps({"api_token": "abc", "password": 12, "key": None, "rows": 3, "path": "/x/y",
                       "nested": {"secret": "s", "tables": [1, 2]}, "credentials": ["a"]})
    masked = json.loads(mask(text))
    assert masked == {"api_token": MASK, "password": MASK, "key": MASK, "rows": 3, "path": "/x/y",
                      "nested": {"secret": MASK, "tables": [1, 2]}, "credentials": MASK}
    assert mask("{'password': 'x', 'n': 1}") == "{'password': '****', 'n': 1}"


def test_mask_data_masks_strings_and_secret_fields_but_keeps_numbers(clean_env):
    data = {"api_key": "abc", "tables": {"api_keys": [3, 2**70]}, "errors": ["token=zz9 failed"], "size": 5}
    assert mask_data(data) == {"api_key": MASK, "tables": {"api_keys": [3, 2**70]},
                               "errors": [f"token={MASK} failed"], "size": 5}


def test_mask_environment_values(clean_env):
    clean_env.setenv("PLANWISE_API_TOKEN", TOKEN)
    clean_env.setenv("DATABASE_URL", f"postgres://admin:{DB_PASSWORD}@db/x")
    clean_env.setenv("MY_SECRET", "abc")  # too short to mask
    clean_env.setenv("PLAIN_SETTING", "visible-value")
    assert set(secret_values()) == {TOKEN, DB_PASSWORD}
    assert mask(f"got {TOKEN} and {DB_PASSWORD}, abc, visible-value") == f"got {MASK} and {MASK}, abc, visible-value"
    assert looks_secret("PLANWISE_API_TOKEN") and not looks_secret("PWD") and not looks_secret("MONKEY")


@given(secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=4, max_size=40),
       before=st.text(max_size=40), after=st.text(max_size=40))
def test_a_secret_environment_value_never_survives_masking(secret, before, after):
    previous = os.environ.get("PLANWISE_PROPERTY_TOKEN")
    os.environ["PLANWISE_PROPERTY_TOKEN"] = secret
    try:
        masked = mask(before + secret + after)
        assert secret not in masked and mask(masked) == masked
    finally:
        if previous is None:
            del os.environ["PLANWISE_PROPERTY_TOKEN"]
        else:
            os.environ["PLANWISE_PROPERTY_TOKEN"] = previous


# --- end to end -------------------------------------------------------------------------------------------------


def cli(args: list, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return planwise_command(args, cwd, {"PLANWISE_API_TOKEN": None, **env})


def files(root: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def required_config(folder: Path, *names: str) -> Path:
    path = folder / "config.yaml"
    path.write_text(render_yaml(SimulationConfig().with_overrides({"environment.required": list(names)})))
    return path


def test_a_secret_in_dotenv_reaches_no_file_and_no_console(planwise_run, planwise_isolated_db, tmp_path):
    run = planwise_run(years="2025-2025", employees=300)
    db = planwise_isolated_db(run)  # an existing database: the run backs it up first (a manifest is written)
    (tmp_path / ".env").write_text(DOTENV + f"DB_PATH={db}\n")
    config = required_config(tmp_path, "PLANWISE_API_TOKEN", "DATABASE_URL")
    # the census sits in a folder named after the token: the secret is on the command line, which dbt copies
    # into its log, and the census path goes into the summary
    census = generate_census(300, 42, tmp_path / f"api_token={TOKEN}" / "census.parquet")
    before = files(tmp_path)

    done = cli(["run", "--years", "2025-2025", "--census", census, "--config", config], tmp_path)
    assert done.returncode == 0, done.stderr
    for secret in SECRETS:
        assert secret not in done.stdout + done.stderr, "a secret reached the console"

    written = {path for path, digest in files(tmp_path).items() if before.get(path) != digest}
    assert any(p.suffix == ".duckdb" and "backups" in p.parts for p in written), "the run made no backup"
    assert any(p.name == "dbt.log" for p in written) and db in written
    for path in written:
        data = path.read_bytes()  # text and binary alike: logs, summary, manifests, dbt target, .duckdb files
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret} found in {path.relative_to(tmp_path)}"
    (dbt_log,) = [p for p in written if p.name == "dbt.log"]
    assert f"api_token={MASK}" in dbt_log.read_text(), "the secret-bearing command line never reached dbt's log"
    summary = json.loads(next(p for p in written if p.name == "summary.json").read_text())
    assert summary["census"]["path"].endswith(f"api_token={MASK}")
    (run_log,) = [p for p in written if p.suffix == ".jsonl"]  # the JSONL run log carries the census path, masked
    assert run_log.parent == db.parent / "logs" and f"api_token={MASK}" in run_log.read_text()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select run_id from run_metadata where run_id = ?", [summary["run_id"]]).fetchall()
        stored = con.execute("select string_agg(concat_ws('|', run_id, \"check\", status, sample), '\n') "
                             "from dq_results").fetchone()[0]  # read back, not scanned: DuckDB compresses strings
    assert summary["run_id"] in stored and not any(secret in stored for secret in SECRETS)


def test_a_missing_required_variable_exits_2_naming_it_and_touches_nothing(
        planwise_run, planwise_isolated_db, tmp_path):
    db = planwise_isolated_db(planwise_run(years="2025-2025", employees=300))
    (tmp_path / ".env").write_text(f"PLANWISE_OTHER=present-value\nPLANWISE_API_TOKEN={TOKEN}\n")
    config = required_config(tmp_path, "PLANWISE_OTHER", "PLANWISE_MISSING_TOKEN")
    census = generate_census(300, 42, tmp_path / "census.parquet")
    args = ["run", "--years", "2025-2025", "--census", census, "--config", config, "--db", db]
    db_sha = hashlib.sha256(db.read_bytes()).hexdigest()
    before = files(tmp_path)

    done = cli(args, tmp_path)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("planwise: error: missing required environment variable PLANWISE_MISSING_TOKEN ")
    assert "PLANWISE_OTHER" not in line and "(fix: set PLANWISE_MISSING_TOKEN in the environment or in .env" in line

    # a real environment variable wins over .env: set but empty there, it counts as missing
    (tmp_path / ".env").write_text(f"PLANWISE_OTHER=present-value\nPLANWISE_MISSING_TOKEN={TOKEN}\n")
    done = cli(args, tmp_path, PLANWISE_MISSING_TOKEN="")
    assert done.returncode == 2 and "variable PLANWISE_MISSING_TOKEN " in done.stderr, done.stderr
    assert TOKEN not in done.stderr

    assert hashlib.sha256(db.read_bytes()).hexdigest() == db_sha
    after = files(tmp_path)
    del after[tmp_path / ".env"], before[tmp_path / ".env"]
    assert after == before, "a run stopped for a missing variable wrote files (lock, backup, summary...)"


def test_list_and_mapping_values_under_secret_names_are_masked():
    from navigator_orchestrator.safety.masking import MASK, mask_data

    data = {"api_keys": ["abc123", "def456"], "credentials": {"user": "u", "password": "pw12345"}, "years": [2025]}
    assert mask_data(data) == {"api_keys": [MASK, MASK], "credentials": {"user": MASK, "password": MASK},
                               "years": [2025]}
