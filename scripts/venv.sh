#!/usr/bin/env bash
# Usage: scripts/venv.sh CORE        (CORE = 2.19 or 2.16)
#
# Creates (or refreshes) .venvs/core-CORE with `python3 -m venv` and installs
# the pinned tests/requirements/core-CORE.txt into it. The install is skipped
# when the venv's stamp file holds the same hash as the requirements file
# (and the Python used to build it), so repeated runs are fast.
# Prints the venv's absolute path as the last (and only stdout) line;
# progress messages go to stderr.
#
# Env: PYTHON (default python3) - interpreter used to create the venv.
set -euo pipefail

core="${1:-}"
if [[ -z "$core" ]]; then
    echo "usage: $0 CORE   (e.g. 2.19 or 2.16)" >&2
    exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
req="$root/tests/requirements/core-$core.txt"
if [[ ! -f "$req" ]]; then
    echo "venv.sh: no pinned requirements for core $core ($req)" >&2
    exit 2
fi

python="${PYTHON:-python3}"
venv="$root/.venvs/core-$core"
stamp="$venv/.bkjob-requirements.sha256"

# The stamp covers the requirements file and the interpreter version.
want="$( { sha256sum "$req" | cut -d' ' -f1; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
        && "$venv/bin/python" -c 'import ansible' >/dev/null 2>&1; then
    echo "venv.sh: $venv is up to date" >&2
else
    echo "venv.sh: building $venv from ${req#"$root"/}" >&2
    rm -rf "$venv"
    mkdir -p "$root/.venvs"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
    echo "$want" > "$stamp"
fi

echo "$venv"
