#!/usr/bin/env bash
# The one test command for the blueking.job collection (`make test` calls it).
#
# For each ansible-core line in $BKJOB_CORES (default "2.19 2.16"):
#   setup        scripts/venv.sh CORE (pinned venv .venvs/core-CORE), copy the
#                collection into $TMPDIR/bkjob-XXXX/ansible_collections/blueking/job,
#                make sure ansible-test can bootstrap pip offline (get-pip stand-in)
#   sanity       ansible-test sanity --venv --python X.Y   (whole collection)
#   units        ansible-test units  --venv --python X.Y   (if tests/unit has tests)
#   integration  python -m pytest tests/integration -p no:cacheprovider
#                (if tests/integration has tests), with the venv's ansible on PATH
# Every step runs even if an earlier one failed; a summary table and a final
# line "N passed, M failed" (counting steps) close the output. Exit status is
# non-zero when any step failed.
#
# Environment knobs:
#   BKJOB_CORES="2.19 2.16"   ansible-core lines to test (tests/requirements/core-X.txt)
#   BKJOB_STEPS="sanity units integration"   which steps to run
#   BKJOB_QUICK=1             skip sanity (fast local iteration)
#   BKJOB_SANITY_ARGS=...     extra ansible-test sanity args (e.g. "--test pylint")
#   BKJOB_UNITS_ARGS=...      extra ansible-test units args
#   BKJOB_PYTEST_ARGS=...     extra pytest args for the integration suite (e.g. "-x -k foo")
#   BKJOB_KEEP_TMP=1          keep the temporary collection trees
# ansible-test output (junit xml, ...) is copied back to tests/output/core-X/.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BKJOB_ROOT"

cores="${BKJOB_CORES:-2.19 2.16}"
steps="${BKJOB_STEPS:-sanity units integration}"
read -r -a sanity_args <<< "${BKJOB_SANITY_ARGS:-}"
read -r -a units_args <<< "${BKJOB_UNITS_ARGS:-}"
read -r -a pytest_args <<< "${BKJOB_PYTEST_ARGS:-}"

# ---------------------------------------------------------------- bookkeeping
tmp_dirs=()
cleanup() {
    local d
    if [[ "${BKJOB_KEEP_TMP:-0}" == "1" ]]; then
        for d in "${tmp_dirs[@]}"; do bkjob_log "kept $d"; done
        return 0
    fi
    for d in "${tmp_dirs[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT

now() {
    if [[ -n "${EPOCHREALTIME:-}" ]]; then printf '%s\n' "${EPOCHREALTIME/,/.}"; else date +%s; fi
}

res_names=()
res_status=()
res_secs=()
n_passed=0
n_failed=0
n_skipped=0

record() {  # record NAME STATUS SECONDS
    res_names+=("$1")
    res_status+=("$2")
    res_secs+=("$3")
    case "$2" in
        ok) n_passed=$((n_passed + 1)) ;;
        FAILED) n_failed=$((n_failed + 1)) ;;
        *) n_skipped=$((n_skipped + 1)) ;;
    esac
}

# run_step NAME COMMAND...: runs COMMAND in a subshell with errexit on, never
# aborts this script, records ok/FAILED and the duration.
run_step() {
    local name="$1" start end rc
    shift
    printf '\n==================== %s ====================\n' "$name"
    start="$(now)"
    set +e
    ( set -e; "$@" )
    rc=$?
    set -e
    end="$(now)"
    local secs
    secs="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')"
    if [[ $rc -eq 0 ]]; then
        record "$name" ok "$secs"
    else
        printf '[bkjob] step "%s" FAILED (exit %d)\n' "$name" "$rc" >&2
        record "$name" FAILED "$secs"
    fi
    return 0
}

skip_step() {  # skip_step NAME REASON
    printf '\n==================== %s ====================\n' "$1"
    bkjob_log "SKIPPED: $2"
    record "$1" "skipped" "-"
}

has_tests() {  # has_tests DIR -> true when DIR holds test_*.py / *_test.py files
    [[ -d "$1" ]] && [[ -n "$(find "$1" -type f \( -name 'test_*.py' -o -name '*_test.py' \) -print -quit)" ]]
}

# ---------------------------------------------------------------- the steps
# Globals set by step_setup for the current core.
venv=""
coll=""
tmp_root=""
pyver=""

step_setup() {
    local core="$1"
    venv="$("$BKJOB_ROOT/scripts/venv.sh" "$core" | tail -n 1)"
    "$venv/bin/python" -c 'import sys, ansible.release as r; print("ansible-core", r.__version__, "on Python", sys.version.split()[0])'
    tmp_root="$(mktemp -d "${TMPDIR:-/tmp}/bkjob-XXXX")"
    printf '%s\n' "$tmp_root" > "$state_file"
    coll="$(bkjob_make_tree "$tmp_root")"
    bkjob_log "collection tree: $coll ($(find "$coll" -type f | wc -l) files)"
    bkjob_ensure_get_pip "$venv"
}

step_sanity() {
    cd "$coll"
    PATH="$venv/bin:$PATH" bkjob_locked "$venv/bin/ansible-test" sanity --venv --python "$pyver" --color no "${sanity_args[@]}"
}

step_units() {
    cd "$coll"
    PATH="$venv/bin:$PATH" bkjob_locked "$venv/bin/ansible-test" units --venv --python "$pyver" --color no "${units_args[@]}"
}

step_integration() {
    cd "$coll"
    mkdir -p tests/output/junit
    # pytest exit 5 ("no tests collected") is a failure here: this step only
    # runs when tests/integration holds test files.
    env PATH="$venv/bin:$PATH" \
        ANSIBLE_COLLECTIONS_PATH="$tmp_root" \
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
        PYTHONDONTWRITEBYTECODE=1 \
        "$venv/bin/python" -m pytest tests/integration -p no:cacheprovider \
        --junitxml=tests/output/junit/integration.xml "${pytest_args[@]}"
}

collect_output() {  # copy ansible-test / pytest output back into the repo
    local core="$1" out
    out="$BKJOB_ROOT/tests/output/core-$core"
    [[ -n "$coll" && -d "$coll/tests/output" ]] || return 0
    rm -rf "$out"
    mkdir -p "$out"
    tar -C "$coll/tests/output" --exclude=./.tmp -cf - . | tar -C "$out" -xf - || true
}

state_file="$(mktemp "${TMPDIR:-/tmp}/bkjob-state-XXXX")"
tmp_dirs+=("$state_file")

for core in $cores; do
    venv="" coll="" tmp_root="" pyver=""
    : > "$state_file"
    run_step "$core setup" step_setup "$core"
    # step_setup ran in a subshell: recover what it made.
    tmp_root="$(cat "$state_file")"
    if [[ -n "$tmp_root" ]]; then tmp_dirs+=("$tmp_root"); fi
    if [[ "${res_status[${#res_status[@]}-1]}" != ok ]]; then
        for step in $steps; do skip_step "$core $step" "setup failed"; done
        continue
    fi
    venv="$BKJOB_ROOT/.venvs/core-$core"
    coll="$tmp_root/ansible_collections/blueking/job"
    pyver="$(bkjob_python_version "$venv")"

    for step in $steps; do
        case "$step" in
            sanity)
                if [[ "${BKJOB_QUICK:-0}" == "1" ]]; then
                    skip_step "$core sanity" "BKJOB_QUICK=1"
                else
                    run_step "$core sanity" step_sanity
                fi ;;
            units)
                if has_tests "$coll/tests/unit"; then
                    run_step "$core units" step_units
                else
                    skip_step "$core units" "no test files under tests/unit yet"
                fi ;;
            integration)
                if has_tests "$coll/tests/integration"; then
                    run_step "$core integration" step_integration
                else
                    skip_step "$core integration" "no test files under tests/integration yet"
                fi ;;
            *)
                bkjob_log "unknown step '$step' in BKJOB_STEPS"
                record "$core $step" FAILED 0 ;;
        esac
    done
    collect_output "$core"
done

# ---------------------------------------------------------------- summary
printf '\n==================== summary ====================\n'
printf '%-24s %-8s %9s\n' "step" "result" "time"
for i in "${!res_names[@]}"; do
    secs="${res_secs[$i]}"
    if [[ "$secs" != "-" ]]; then secs="${secs}s"; fi
    printf '%-24s %-8s %9s\n' "${res_names[$i]}" "${res_status[$i]}" "$secs"
done
if [[ $n_skipped -gt 0 ]]; then
    printf '%d passed, %d failed, %d skipped\n' "$n_passed" "$n_failed" "$n_skipped"
else
    printf '%d passed, %d failed\n' "$n_passed" "$n_failed"
fi
[[ $n_failed -eq 0 ]]
