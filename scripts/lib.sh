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

# bkjob_python_version VENV -> "3.11"
bkjob_python_version() {
    "$1/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])'
}
