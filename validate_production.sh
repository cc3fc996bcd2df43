#!/usr/bin/env bash
# validate_production.sh: the four checks before a production run, each with its verdict, its
# seconds and an evidence file (the step's whole output). Every step runs even when an earlier one failed, so one
# pass reports every problem; the last line says "all 4 steps passed" only when each of the four did.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python}"
MARKERS="smoke or determinism or resume"

usage() {
    cat <<EOF
usage: validate_production.sh [--db PATH] [--config PATH] [--out DIR] [--time-limit SECONDS]
                              [--census PATH] [--pytest-args ARGS]

Four steps, each run even when an earlier one failed; exit 0 only when all four pass, else 1 (2 on bad options):
  environment   the config loads; every variable of its environment.required is set (environment or ./.env);
                dbt-core, dbt-duckdb and duckdb are the versions pinned in constraints.txt; the database exists,
                its folder is writable and its disk has room for one backup (free space >= database size)
  tests         $PYTHON -m pytest -m "$MARKERS" [ARGS], run from the project root
  data_quality  plain dbt from dbt/: dbt test --select tag:critical on the database (DB_PATH), then
                planwise check --db on it (dbt stores failing rows in its audit schema main_dbt_test__audit and
                planwise check appends its results to dq_results; no model table is changed)
  performance   one simulated year (the config's start year) into a scratch database <out>/perf.duckdb
                (planwise run --years Y-Y --no-backup), timed; passes when faster than the time limit

Options:
  --db PATH             database to check (default: \$DB_PATH, from the environment or ./.env, else
                        dbt/simulation.duckdb; resolved like planwise)
  --config PATH         YAML config (default: config/simulation_config.yaml)
  --out DIR             evidence folder (default: artifacts/validation/<UTC time>/ in the project); one file per
                        step (environment.txt, tests.txt, data_quality.txt, performance.txt) and report.txt
  --time-limit SECONDS  the performance step's limit, a number > 0 (default 60)
  --census PATH         census for the performance run (default: the bundled 5,000-person census)
  --pytest-args ARGS    extra pytest arguments for the tests step, split like a shell line, e.g. '-n 2' or a
                        test path, relative to the project root (then only that path is collected)
  -h, --help            this text

Environment: PYTHON (interpreter with the project installed; default python).
EOF
}

die() {  # bad input: one line, exit 2
    echo "validate_production: error: $1 (see 'validate_production.sh --help')" >&2
    exit 2
}

DB_ARG="" CONFIG="" OUT="" TIME_LIMIT="60" CENSUS="" PYTEST_ARGS=""
while (($#)); do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --db|--config|--out|--time-limit|--census|--pytest-args)
            (($# >= 2)) || die "$1 needs a value"
            case "$1" in
                --db) DB_ARG="$2" ;;
                --config) CONFIG="$2" ;;
                --out) OUT="$2" ;;
                --time-limit) TIME_LIMIT="$2" ;;
                --census) CENSUS="$2" ;;
                --pytest-args) PYTEST_ARGS="$2" ;;
            esac
            shift 2 ;;
        *) die "unknown argument '$1'" ;;
    esac
done

command -v "$PYTHON" >/dev/null 2>&1 || die "no Python interpreter '$PYTHON' (set PYTHON to one with the project installed)"
"$PYTHON" -c 'import navigator_orchestrator' 2>/dev/null \
    || die "$PYTHON cannot import navigator_orchestrator (install the project: python -m pip install -c constraints.txt -e .)"
[[ "$TIME_LIMIT" =~ ^([0-9]+([.][0-9]*)?|[.][0-9]+)$ ]] && awk -v t="$TIME_LIMIT" 'BEGIN { exit !(t > 0) }' \
    || die "--time-limit expects a number of seconds > 0, got '$TIME_LIMIT'"
if [[ -n "$CONFIG" ]]; then
    [[ -f "$CONFIG" ]] || die "--config $CONFIG: no such file"
    CONFIG="$(realpath "$CONFIG")"
fi
if [[ -n "$CENSUS" ]]; then
    [[ -f "$CENSUS" ]] || die "--census $CENSUS: no such file"
    CENSUS="$(realpath "$CENSUS")"
fi
# the database exactly as planwise resolves it (--db, else DB_PATH from the environment or ./.env, else the default)
DB="$("$PYTHON" -c 'import sys
from pathlib import Path
from dotenv import load_dotenv
from navigator_orchestrator.inputs.paths import resolve_db_path
load_dotenv(Path.cwd() / ".env", override=False)
print(resolve_db_path(sys.argv[1] or None))' "$DB_ARG")" || die "cannot resolve the database path"
PYTEST_EXTRA=()
if [[ -n "$PYTEST_ARGS" ]]; then
    split="$("$PYTHON" -c 'import shlex, sys; shlex.split(sys.argv[1])' "$PYTEST_ARGS" 2>&1)" \
        || die "--pytest-args: cannot split '$PYTEST_ARGS': ${split##*: }"
    mapfile -d '' -t PYTEST_EXTRA < <("$PYTHON" -c 'import shlex, sys
sys.stdout.write("".join(arg + "\0" for arg in shlex.split(sys.argv[1])))' "$PYTEST_ARGS")
fi
OUT="${OUT:-$ROOT/artifacts/validation/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT" 2>/dev/null || die "--out $OUT: cannot create the folder"
OUT="$(realpath "$OUT")"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_USE_COLORS=false

planwise() { "$PYTHON" -m navigator_orchestrator.cli "$@"; }
dbt() { "$PYTHON" -c 'import sys; from dbt.cli.main import cli; sys.argv[0] = "dbt"; sys.exit(cli())' "$@"; }

step_environment() {
    echo "database: $DB"
    "$PYTHON" -c 'import sys; from dotenv import load_dotenv; from pathlib import Path
load_dotenv(Path.cwd() / ".env", override=False)
from navigator_orchestrator.environment import readiness_main
sys.exit(readiness_main(sys.argv[1:]))' "$CONFIG" "$DB"
}

step_tests() {
    local status
    (cd "$ROOT" && set -x && "$PYTHON" -m pytest -m "$MARKERS" "${PYTEST_EXTRA[@]}")
    status=$?
    ((status == 0)) || echo "FAIL pytest -m \"$MARKERS\" exited $status"
    return "$status"
}

step_data_quality() {
    local status=0 config_args=()
    [[ -n "$CONFIG" ]] && config_args=(--config "$CONFIG")
    if [[ ! -f "$DB" ]]; then
        echo "FAIL no database at $DB"
        return 1
    fi
    echo "== dbt test --select tag:critical (from $ROOT/dbt, DB_PATH=$DB)"
    if ! (cd "$ROOT/dbt" && unset PLANWISE_DB_PATH && DB_PATH="$DB" dbt test --select tag:critical \
            --target-path "$OUT/dbt/target" --log-path "$OUT/dbt/logs") 2>&1 | tee "$OUT/dbt_test.log"; then
        status=1
        echo "FAIL dbt test --select tag:critical:" \
            "$(sed -n 's/.*Failure in test \([^ ]*\).*/\1/p; s/.*Error in test \([^ ]*\).*/\1/p' "$OUT/dbt_test.log" \
               | paste -sd ' ' -)"
    fi
    echo "== planwise check --db $DB"
    if ! planwise check --db "$DB" "${config_args[@]}" 2>&1 | tee "$OUT/planwise_check.log"; then
        status=1
        echo "FAIL planwise check: $(grep -m 1 '^planwise: error: ' "$OUT/planwise_check.log" | cut -c 18-)"
    fi
    return "$status"
}

step_performance() {
    local year start end seconds status config_args=() census_args=()
    [[ -n "$CONFIG" ]] && config_args=(--config "$CONFIG")
    [[ -n "$CENSUS" ]] && census_args=(--census "$CENSUS")
    year="$("$PYTHON" -c 'import sys; from navigator_orchestrator.inputs.config import load_config
print(load_config(sys.argv[1] or None).start_year)' "$CONFIG")" || { echo "FAIL the config does not load"; return 1; }
    rm -f "$OUT/perf.duckdb" "$OUT/perf.duckdb.wal"
    echo "== planwise run --years $year-$year --db $OUT/perf.duckdb --no-backup ${config_args[*]} ${census_args[*]}"
    start="$EPOCHREALTIME"
    planwise run --years "$year-$year" --db "$OUT/perf.duckdb" --no-backup "${config_args[@]}" "${census_args[@]}"
    status=$?
    end="$EPOCHREALTIME"
    seconds="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')"
    if ((status != 0)); then
        echo "FAIL planwise run exited $status after ${seconds} s"
        return 1
    fi
    if awk -v s="$seconds" -v t="$TIME_LIMIT" 'BEGIN { exit !(s < t) }'; then
        echo "one simulated year: ${seconds} s < limit ${TIME_LIMIT} s"
        return 0
    fi
    echo "FAIL one simulated year took ${seconds} s, limit ${TIME_LIMIT} s (--time-limit)"
    return 1
}

STEPS=(environment tests data_quality performance)
declare -A VERDICT SECONDS_OF EVIDENCE
failed=()
for step in "${STEPS[@]}"; do
    evidence="$OUT/$step.txt"
    echo "validate_production: $step ... (evidence: $evidence)"
    start="$EPOCHREALTIME"
    ("step_$step") >"$evidence" 2>&1 </dev/null  # a subshell: whatever a step does, the others still run
    status=$?
    SECONDS_OF[$step]="$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
    if ((status == 0)); then VERDICT[$step]=pass; else VERDICT[$step]=FAIL; fi
    echo "verdict: ${VERDICT[$step]} (exit $status, ${SECONDS_OF[$step]} s)" >>"$evidence"
    EVIDENCE[$step]="$evidence"
    [[ "${VERDICT[$step]}" == pass ]] || failed+=("$step")
done

{
    printf '%-13s %-8s %8s  %s\n' step verdict seconds evidence
    for step in "${STEPS[@]}"; do
        printf '%-13s %-8s %8s  %s\n' "$step" "${VERDICT[$step]}" "${SECONDS_OF[$step]}" "${EVIDENCE[$step]}"
    done
    for step in "${failed[@]}"; do  # the evidence's FAIL lines, so the reason is on screen too
        grep -m 3 '^FAIL ' "${EVIDENCE[$step]}" | sed "s/^/  $step: /"
    done
    if ((${#failed[@]} == 0)); then
        echo "validate_production: all ${#STEPS[@]} steps passed"
    else
        echo "validate_production: FAILED: ${failed[*]}"
    fi
} | tee "$OUT/report.txt"
((${#failed[@]} == 0))
