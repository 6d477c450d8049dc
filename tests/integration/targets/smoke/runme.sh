#!/usr/bin/env bash
# Smoke target for `ansible-test integration`: starts the JOB emulator (tests/emulator) on a free
# loopback port, runs smoke.yml (every module, through ESB and the API gateway, and one refused
# input) against it in-process and as modules, and checks that the app secret appears nowhere in
# the -vvv output and that only the in-process run writes progress lines.
# The full end-to-end suite is the pytest one in tests/integration/test_*.py.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# ansible-test runs this script from a copy of the target directory; the collection itself (with
# tests/emulator) is on ANSIBLE_COLLECTIONS_PATH. The Python on PATH is the one ansible-test tests.
python="${ANSIBLE_TEST_PYTHON_INTERPRETER:-$(command -v python || command -v python3)}"
emulator=""
IFS=: read -r -a collection_paths <<< "${ANSIBLE_COLLECTIONS_PATH:-}"
for path in "${collection_paths[@]}" "$here/../../../.."; do
    if [[ -f "$path/ansible_collections/blueking/job/tests/emulator/bkjob_emulator.py" ]]; then
        emulator="$path/ansible_collections/blueking/job/tests/emulator/bkjob_emulator.py"
        break
    fi
done
if [[ -z "$emulator" ]]; then
    echo "tests/emulator/bkjob_emulator.py of blueking.job is not on ANSIBLE_COLLECTIONS_PATH (${ANSIBLE_COLLECTIONS_PATH:-unset})" >&2
    exit 1
fi
work="$(mktemp -d)"
emulator_pid=""
cleanup() {
    if [[ -n "$emulator_pid" ]]; then kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# demo-config.json exempts the demo app from user verification, so that bk_username alone is accepted.
"$python" "$emulator" --port 0 --port-file "$work/port" --quiet --config "$(dirname "$emulator")/demo-config.json" \
    > "$work/emulator.log" 2>&1 &
emulator_pid=$!
for _ in $(seq 1 300); do
    [[ -s "$work/port" ]] && break
    kill -0 "$emulator_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ ! -s "$work/port" ]]; then
    echo "the JOB emulator did not start:" >&2
    cat "$work/emulator.log" >&2
    exit 1
fi

secret="demo-app-secret-9f2c41"
port="$(cat "$work/port")"
export BK_API_URL="http://127.0.0.1:$port"
export BK_APP_CODE=bk-demo-app BK_APP_SECRET="$secret" BK_USERNAME=admin
export ANSIBLE_PYTHON_INTERPRETER="$python"

# Twice: in ansible-playbook's own process (the default on the controller; the waits write progress lines), and as
# modules (bk_job_in_process=false; no progress lines): both paths on every ansible-core version.
ansible-playbook "$here/smoke.yml" -vvv "$@" 2>&1 | tee "$work/smoke.log"
ansible-playbook "$here/smoke.yml" -vvv -e bk_job_in_process=false "$@" 2>&1 | tee "$work/smoke-module.log"
if grep -q "$secret" "$work/smoke.log" "$work/smoke-module.log"; then
    echo "the app secret appears in the output" >&2
    exit 1
fi
if ! grep -Eq '^\[localhost\] JOB instance [0-9]+ "deploy-app": launched' "$work/smoke.log"; then
    echo "no progress line in the in-process run" >&2
    exit 1
fi
if grep -q 'JOB instance [0-9]* "deploy-app": launched' "$work/smoke-module.log"; then
    echo "a progress line in the module run: bk_job_in_process=false was not honoured" >&2
    exit 1
fi
