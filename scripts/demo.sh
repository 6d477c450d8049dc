#!/usr/bin/env bash
# Runs demo/demo.yml against the local BlueKing JOB emulator (`make demo`).
#
#   1. builds/reuses the ansible-core 2.19 venv (scripts/venv.sh 2.19);
#   2. copies the collection into a temporary ansible_collections/blueking/job tree;
#   3. starts tests/emulator/bkjob_emulator.py on a free loopback port;
#   4. runs ansible-playbook demo/demo.yml with BK_API_URL / BK_APP_CODE /
#      BK_APP_SECRET / BK_USERNAME pointing at the emulator;
#   5. stops the emulator and removes the temporary tree (also on error/Ctrl-C).
# Extra arguments are passed to ansible-playbook, e.g. `scripts/demo.sh -v`.
# Env: BKJOB_DEMO_CORE (default 2.19), BKJOB_DEMO_PLAYBOOK (default demo/demo.yml).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BKJOB_ROOT"

core="${BKJOB_DEMO_CORE:-2.19}"
playbook="${BKJOB_DEMO_PLAYBOOK:-demo/demo.yml}"
if [[ ! -f "$playbook" ]]; then
    bkjob_log "no $playbook in $BKJOB_ROOT"
    exit 2
fi

venv="$("$BKJOB_ROOT/scripts/venv.sh" "$core" | tail -n 1)"

tmp_root="$(mktemp -d "${TMPDIR:-/tmp}/bkjob-demo-XXXX")"
emulator_pid=""
# shellcheck disable=SC2317,SC2329  # invoked by the EXIT trap
cleanup() {
    if [[ -n "$emulator_pid" ]] && kill -0 "$emulator_pid" 2>/dev/null; then
        kill "$emulator_pid" 2>/dev/null || true
        wait "$emulator_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp_root"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bkjob_make_tree "$tmp_root" >/dev/null

port_file="$tmp_root/emulator.port"
"$venv/bin/python" tests/emulator/bkjob_emulator.py --port 0 --port-file "$port_file" \
    > "$tmp_root/emulator.log" 2>&1 &
emulator_pid=$!

# Wait (up to 20 s) for the emulator to write its port.
port=""
for _ in $(seq 1 200); do
    if [[ -s "$port_file" ]]; then
        port="$(tr -dc '0-9' < "$port_file")"
        [[ -n "$port" ]] && break
    fi
    if ! kill -0 "$emulator_pid" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
if [[ -z "$port" ]]; then
    bkjob_log "the JOB emulator did not start; its output:"
    cat "$tmp_root/emulator.log" >&2 || true
    exit 1
fi
bkjob_log "JOB emulator listening on http://127.0.0.1:$port (pid $emulator_pid)"

rc=0
env PATH="$venv/bin:$PATH" \
    ANSIBLE_COLLECTIONS_PATH="$tmp_root" \
    ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
    ANSIBLE_LOCALHOST_WARNING=false \
    ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
    ANSIBLE_PYTHON_INTERPRETER="${ANSIBLE_PYTHON_INTERPRETER:-$venv/bin/python}" \
    BK_API_URL="http://127.0.0.1:$port" \
    BK_APP_CODE=bk-demo-app \
    BK_APP_SECRET=demo-app-secret-9f2c41 \
    BK_USERNAME=admin \
    "$venv/bin/ansible-playbook" "$playbook" "$@" || rc=$?

if [[ $rc -ne 0 ]]; then
    bkjob_log "ansible-playbook failed (exit $rc); emulator output:"
    tail -n 50 "$tmp_root/emulator.log" >&2 || true
fi
exit "$rc"
