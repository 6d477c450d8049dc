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
# shellcheck disable=SC2317,SC2329  # invoked by the EXIT trap
cleanup() {
    bkjob_stop_emulator
    rm -rf "$tmp_root"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bkjob_make_tree "$tmp_root" >/dev/null

bkjob_start_emulator "$venv/bin/python" "$tmp_root"

rc=0
env PATH="$venv/bin:$PATH" \
    ANSIBLE_COLLECTIONS_PATH="$tmp_root" \
    ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
    ANSIBLE_LOCALHOST_WARNING=false \
    ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
    ANSIBLE_PYTHON_INTERPRETER="${ANSIBLE_PYTHON_INTERPRETER:-$venv/bin/python}" \
    BK_API_URL="$bkjob_emulator_url" \
    BK_APP_CODE=bk-demo-app \
    BK_APP_SECRET=demo-app-secret-9f2c41 \
    BK_USERNAME=admin \
    "$venv/bin/ansible-playbook" "$playbook" "$@" || rc=$?

if [[ $rc -ne 0 ]]; then
    bkjob_log "ansible-playbook failed (exit $rc); emulator output:"
    tail -n 50 "$tmp_root/emulator.log" >&2 || true
fi
exit "$rc"
