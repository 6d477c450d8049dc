#!/usr/bin/env bash
# Usage: scripts/venv.sh CORE        (CORE = 2.16, 2.17, 2.18, 2.19, 2.20 or 2.21)
#
# Creates (or refreshes) .venvs/core-CORE with `PYTHON -m venv` and installs
# the pinned tests/requirements/core-CORE.txt into it. The install is skipped
# when the venv's stamp file holds the same hash as the requirements file
# (and the Python used to build it), so repeated runs are fast.
# Prints the venv's absolute path as the last (and only stdout) line;
# progress messages go to stderr.
#
# The interpreter: the Python X.Y that a "# python: X.Y" line of the requirements file names
# (found on PATH or under pyenv, see bkjob_core_python in scripts/lib.sh), else $PYTHON or python3.
# Exit status 3, with a message, when that Python is not on this machine.
#
# Env: PYTHON - interpreter used to create the venv (when it is the version the file names).
set -euo pipefail

core="${1:-}"
if [[ -z "$core" ]]; then
    echo "usage: $0 CORE   (e.g. 2.19 or 2.21)" >&2
    exit 2
fi

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
root="$BKJOB_ROOT"
req="$root/tests/requirements/core-$core.txt"
if [[ ! -f "$req" ]]; then
    echo "venv.sh: no pinned requirements for core $core ($req)" >&2
    exit 2
fi

if ! python="$(bkjob_core_python "$core")"; then
    echo "venv.sh: ansible-core $core needs Python $(bkjob_core_python_wanted "$core"), which is neither on PATH nor under pyenv" >&2
    exit 3
fi
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
    bkjob_pip "$venv/bin/python" install --quiet --disable-pip-version-check -r "$req" >&2
    echo "$want" > "$stamp"
fi

echo "$venv"
