# shellcheck shell=bash
# Shared helpers for scripts/test.sh and scripts/demo.sh (source it, don't run it).

# Absolute path of the repository (= collection) root.
BKJOB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export BKJOB_ROOT

bkjob_log() {
    printf '[bkjob] %s\n' "$*" >&2
}

# bkjob_make_tree TMP_ROOT
# Copies the collection into TMP_ROOT/ansible_collections/blueking/job and
# prints that directory. Copied: git-tracked files plus untracked files that
# are not git-ignored (`git ls-files -co --exclude-standard`), so it works
# before anything is committed and never picks up .venvs/, tests/output/ etc.
# Outside a git checkout everything except those directories is copied.
bkjob_make_tree() {
    local tmp_root="$1"
    local dest="$tmp_root/ansible_collections/blueking/job"
    mkdir -p "$dest"
    if git -C "$BKJOB_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        # -z: NUL-separated; skip tracked files deleted in the work tree.
        git -C "$BKJOB_ROOT" ls-files -co --exclude-standard -z \
            | (cd "$BKJOB_ROOT" && while IFS= read -r -d '' f; do
                   if [[ -e "$f" || -L "$f" ]]; then printf '%s\0' "$f"; fi
               done) \
            | tar -C "$BKJOB_ROOT" --null --no-recursion -T - -cf - \
            | tar -C "$dest" -xf -
    else
        tar -C "$BKJOB_ROOT" \
            --exclude=./.git --exclude=./.venvs --exclude=./.venv --exclude=./tests/output \
            --exclude=__pycache__ --exclude=.pytest_cache --exclude=.hypothesis \
            -cf - . | tar -C "$dest" -xf -
    fi
    printf '%s\n' "$dest"
}

# bkjob_ensure_get_pip VENV
# ansible-test --venv bootstraps pip in its virtual environments with a
# get-pip.py script it caches at ~/.ansible/test/cache/get_pip_<X_Y_Z>.py and
# otherwise downloads from ci-files.testing.ansible.com. For the pip version(s)
# the ansible-test in VENV wants: if the script is not cached yet, try a quick
# download of the real one; only when that fails install
# scripts/get_pip_standin.py in its place (offline machines / CI).
bkjob_ensure_get_pip() {
    local venv="$1" versions version cache
    versions="$("$venv/bin/python" - <<'EOF'
import re, sys, types
try:
    from ansible_test._internal.python_requirements import get_venv_packages
    ver = '%d.%d' % sys.version_info[:2]
    print(get_venv_packages(types.SimpleNamespace(version=ver))['pip'])
except Exception:  # fall back to reading the default from the source
    import ansible_test, os
    path = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')
    with open(path, encoding='utf-8') as f:
        m = re.search(r"default_packages = dict\(\s*pip='([^']+)'", f.read())
    print(m.group(1) if m else '')
EOF
)"
    if [[ -z "$versions" ]]; then
        bkjob_log "WARNING: could not tell which pip version ansible-test wants; not touching its get-pip cache"
        return 0
    fi
    for version in $versions; do
        cache="$HOME/.ansible/test/cache/get_pip_${version//./_}.py"
        if [[ -s "$cache" ]]; then
            if grep -q 'BKJOB-GET-PIP-STANDIN' "$cache"; then
                bkjob_log "get-pip $version: using the stand-in already in $cache"
            else
                bkjob_log "get-pip $version: using cached $cache"
            fi
            continue
        fi
        mkdir -p "$(dirname "$cache")"
        if "$venv/bin/python" - "$version" "$cache.download" <<'EOF'
import sys, urllib.request
url = 'https://ci-files.testing.ansible.com/ansible-test/get-pip-%s.py' % sys.argv[1]
try:
    with urllib.request.urlopen(url, timeout=10) as response:
        data = response.read()
except Exception as ex:  # offline, DNS failure, proxy, ...
    sys.stderr.write('[bkjob] get-pip %s: download failed (%s)\n' % (sys.argv[1], ex))
    sys.exit(1)
with open(sys.argv[2], 'wb') as f:
    f.write(data)
EOF
        then
            mv "$cache.download" "$cache"
            bkjob_log "get-pip $version: downloaded the real script to $cache"
        else
            rm -f "$cache.download"
            cp "$BKJOB_ROOT/scripts/get_pip_standin.py" "$cache"
            bkjob_log "get-pip $version: installed the offline stand-in scripts/get_pip_standin.py as $cache"
        fi
    done
}

# bkjob_locked COMMAND...
# ansible-test keeps its sanity/units virtual environments in a per-user cache
# (~/.ansible/test/venv), shared by every ansible-test run of that user; two
# runs building the same environment at once break each other ("does not have
# pip available"). Serialise our ansible-test runs on a lock file when flock(1)
# is available.
bkjob_locked() {
    local lock="$HOME/.ansible/test/bkjob-ansible-test.lock"
    if command -v flock >/dev/null 2>&1; then
        mkdir -p "$(dirname "$lock")"
        flock "$lock" "$@"
    else
        "$@"
    fi
}

# bkjob_core_python CORE -> prints the interpreter for the venv of ansible-core CORE
# tests/requirements/core-CORE.txt may name the Python it needs in a "# python: X.Y" line
# (ansible-core 2.20 and later need 3.12+). Without one, $PYTHON or python3 is used. Looked for,
# in order: $PYTHON (when it is that version), pythonX.Y on PATH, then the newest X.Y under
# pyenv's versions directory (`pyenv root`). Returns 1, printing nothing, when none runs.
bkjob_core_python() {
    local req="$BKJOB_ROOT/tests/requirements/core-$1.txt" want candidate root
    want="$(sed -n 's/^# python: *\([0-9][0-9.]*\) *$/\1/p' "$req" 2>/dev/null | head -n 1)"
    if [[ -z "$want" ]]; then
        printf '%s\n' "${PYTHON:-python3}"
        return 0
    fi
    local candidates=()
    if [[ -n "${PYTHON:-}" ]]; then candidates+=("$PYTHON"); fi
    candidates+=("python$want")
    if command -v pyenv >/dev/null 2>&1 && root="$(pyenv root 2>/dev/null)" && [[ -d "$root/versions" ]]; then
        while IFS= read -r candidate; do candidates+=("$candidate"); done < <(
            find "$root/versions" -mindepth 3 -maxdepth 3 -path "*/versions/$want.*/bin/python$want" 2>/dev/null | sort -rV)
    fi
    for candidate in "${candidates[@]}"; do
        if [[ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" == "$want" ]]; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# bkjob_core_python_wanted CORE -> the X.Y of the "# python:" line, or "any"
bkjob_core_python_wanted() {
    local want
    want="$(sed -n 's/^# python: *\([0-9][0-9.]*\) *$/\1/p' "$BKJOB_ROOT/tests/requirements/core-$1.txt" 2>/dev/null | head -n 1)"
    printf '%s\n' "${want:-any}"
}

# bkjob_python_version VENV -> "3.11"
bkjob_python_version() {
    "$1/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])'
}

# The awx.awx collection for the release checks (ansible-lint resolves awx.awx.credential_type,
# the integration suite runs playbooks/create_credential_type.yml against a stand-in AWX API):
# unpacked from the wheel of this pinned `ansible` community package, which is downloaded with
# pip but never installed (awx.awx 24.6.1; no other collection is taken from it).
BKJOB_AWX_SOURCE="ansible==12.3.0"

# bkjob_pip PYTHON ARGS...: `PYTHON -m pip ARGS...`, without the "Location 'file:...' is ignored"
# warnings that a pip configuration with missing local find-links/index directories prints for
# every package. pip's exit status is kept.
bkjob_pip() {
    local python="$1"
    shift
    "$python" -m pip "$@" 2> >(grep -v "^WARNING: Location 'file:.*' is ignored" >&2)
}

# bkjob_tools_venv -> prints the absolute path of .venvs/tools
# Creates (or refreshes) .venvs/tools from the pinned tests/requirements/tools.txt
# (antsibull-changelog, antsibull-docs + Sphinx, ansible-lint, ansible-builder, ansible-core)
# and unpacks awx.awx into .venvs/tools/collections/ansible_collections/awx/awx. Skipped, as in
# scripts/venv.sh, when the stamp matches the requirements, $BKJOB_AWX_SOURCE and the Python.
bkjob_tools_venv() {
    local req="$BKJOB_ROOT/tests/requirements/tools.txt" venv="$BKJOB_ROOT/.venvs/tools"
    local python="${PYTHON:-python3}" stamp want download
    stamp="$venv/.bkjob-requirements.sha256"
    want="$( { sha256sum "$req" | cut -d' ' -f1; echo "$BKJOB_AWX_SOURCE"; "$python" -c 'import sys; print(sys.version)'; } \
             | sha256sum | cut -d' ' -f1)"
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" \
            && -f "$venv/collections/ansible_collections/awx/awx/MANIFEST.json" ]]; then
        bkjob_log "tools venv $venv is up to date"
    else
        bkjob_log "building $venv from tests/requirements/tools.txt"
        rm -rf "$venv"
        mkdir -p "$BKJOB_ROOT/.venvs"
        "$python" -m venv "$venv"
        bkjob_pip "$venv/bin/python" install --quiet --disable-pip-version-check -r "$req" >&2
        download="$(mktemp -d "${TMPDIR:-/tmp}/bkjob-awx-XXXX")"
        bkjob_pip "$venv/bin/python" download --quiet --disable-pip-version-check --no-deps \
            -d "$download" "$BKJOB_AWX_SOURCE" >&2
        "$venv/bin/python" - "$download" "$venv/collections" <<'PY'
import glob, sys, zipfile
wheel, = glob.glob(sys.argv[1] + "/*.whl")
with zipfile.ZipFile(wheel) as archive:
    members = [name for name in archive.namelist() if name.startswith("ansible_collections/awx/awx/")]
    if not members:
        sys.exit("no ansible_collections/awx/awx in " + wheel)
    archive.extractall(sys.argv[2], members=members)
PY
        rm -rf "$download"
        echo "$want" > "$stamp"
    fi
    printf '%s\n' "$venv"
}

# bkjob_start_emulator PYTHON WORKDIR
# Starts tests/emulator/bkjob_emulator.py on a free loopback port in the background, logging to
# WORKDIR/emulator.log; sets bkjob_emulator_pid and bkjob_emulator_url. Returns 1 (after showing
# the log) when it is not listening within 20 s. Stop it with bkjob_stop_emulator.
# Its config is tests/emulator/demo-config.json: the demo app is exempted from user verification
# (the emulator, like BlueKing, exempts no app by default), so BK_USERNAME alone names the user.
bkjob_emulator_pid=""
bkjob_emulator_url=""
bkjob_start_emulator() {
    local python="$1" workdir="$2" port="" port_file
    port_file="$workdir/emulator.port"
    "$python" "$BKJOB_ROOT/tests/emulator/bkjob_emulator.py" --port 0 --port-file "$port_file" \
        --config "$BKJOB_ROOT/tests/emulator/demo-config.json" > "$workdir/emulator.log" 2>&1 &
    bkjob_emulator_pid=$!
    for _ in $(seq 1 200); do
        if [[ -s "$port_file" ]]; then
            port="$(tr -dc '0-9' < "$port_file")"
            [[ -n "$port" ]] && break
        fi
        kill -0 "$bkjob_emulator_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z "$port" ]]; then
        bkjob_log "the JOB emulator did not start; its output:"
        cat "$workdir/emulator.log" >&2 || true
        return 1
    fi
    bkjob_emulator_url="http://127.0.0.1:$port"
    bkjob_log "JOB emulator listening on $bkjob_emulator_url (pid $bkjob_emulator_pid)"
}

bkjob_stop_emulator() {
    if [[ -n "$bkjob_emulator_pid" ]] && kill -0 "$bkjob_emulator_pid" 2>/dev/null; then
        kill "$bkjob_emulator_pid" 2>/dev/null || true
        wait "$bkjob_emulator_pid" 2>/dev/null || true
    fi
    bkjob_emulator_pid=""
}
