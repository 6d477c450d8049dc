#!/usr/bin/env bash
# The one test command for the blueking.job collection (`make test` calls it).
#
# First, when sanity runs and the shellcheck command is missing, the step "shellcheck setup"
# installs it from Debian's packages (apt-get, as root), so that ansible-test's shellcheck
# test checks something; where it cannot, the step says so and is skipped.
# For each ansible-core line in $BKJOB_CORES (default "2.16 2.17 2.18 2.19 2.20 2.21"):
#   setup        scripts/venv.sh CORE (pinned venv .venvs/core-CORE, on the Python that
#                tests/requirements/core-CORE.txt names; a core whose Python this machine
#                lacks is skipped with a message), copy the collection into
#                $TMPDIR/bkjob-XXXX/ansible_collections/blueking/job, make sure
#                ansible-test can bootstrap pip offline (get-pip stand-in)
#   sanity       ansible-test sanity --venv --python X.Y   (whole collection)
#   units        ansible-test units  --venv --python X.Y   (if tests/unit has tests)
#   smoke        ansible-test integration --local  (tests/integration/targets: the smoke
#                target starts the JOB emulator and runs every module)
#   integration  python -m pytest tests/integration -p no:cacheprovider
#                (if tests/integration has tests), with the venv's ansible on PATH;
#                by default on the oldest and the newest core only (2.16 and 2.21),
#                on every listed core when BKJOB_CORES is set
# Then, once (not per core), with the pinned tools venv .venvs/tools
# (tests/requirements/tools.txt; built first, by "tools setup", so that the
# integration suite also finds the awx.awx collection it unpacks):
#   release      changelog    antsibull-changelog lint; CHANGELOG.md is up to date; the next release
#                             (galaxy.yml's version, or the next minor one when that is released
#                             and fragments wait) is cut in a scratch copy
#                docs-lint    antsibull-docs lint-collection-docs --plugin-docs, and the guides in
#                             docs/*.md (what Galaxy shows) match docs/docsite/rst (scripts/docs_md.py)
#                ansible-lint ansible-lint --offline --profile production --strict over the whole
#                             collection, plus every example playbook in docs/docsite/rst and
#                             README.md (written out under lint-examples/)
#                ee           ansible-builder create from the EE definition in the AWX guide,
#                             and the build's own introspection finds requests
#                build        ansible-galaxy collection build + install into an empty path,
#                             ansible-doc and demo/demo.yml from the installed copy against
#                             the JOB emulator; nothing git-ignored in a build from the checkout
#                galaxy-importer  the Galaxy / Automation Hub import of the built artifact with
#                             Automation Hub's checks (required tags, v1+, changelog, ansible-doc,
#                             ansible-lint; container steps off): no warning, no error
#   docs         the HTML docs site (antsibull-docs sphinx-init + build) -> docs/build/html
# Every step runs even if an earlier one failed; a summary table and a final
# line "N passed, M failed" (counting steps) close the output. Exit status is
# non-zero when any step failed.
#
# Environment knobs:
#   BKJOB_CORES="2.16 ... 2.21"   ansible-core lines to test (tests/requirements/core-X.txt)
#   BKJOB_INTEGRATION_CORES=...   cores for the pytest suite (default: "2.16 2.21", or every
#                             core of BKJOB_CORES when that is set)
#   BKJOB_STEPS="sanity units smoke integration release docs"   which steps to run
#   BKJOB_QUICK=1             skip sanity (fast local iteration)
#   BKJOB_SANITY_ARGS=...     extra ansible-test sanity args (e.g. "--test pylint")
#   BKJOB_UNITS_ARGS=...      extra ansible-test units args
#   BKJOB_PYTEST_ARGS=...     extra pytest args for the integration suite (e.g. "-x -k foo")
#   BKJOB_PYTEST_WORKERS=2    pytest-xdist workers for the integration suite (1: no xdist)
#   BKJOB_IN_PROCESS=false    run the integration suite with every task on the module path (BK_JOB_IN_PROCESS=false)
#   BKJOB_KEEP_TMP=1          keep the temporary collection trees
# ansible-test output (junit xml, ...) is copied back to tests/output/core-X/.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BKJOB_ROOT"

all_cores="2.16 2.17 2.18 2.19 2.20 2.21"
cores="${BKJOB_CORES:-$all_cores}"
# The end-to-end suite runs on the oldest and the newest core of the matrix; a narrowed run
# (BKJOB_CORES set) runs it on every core it names.
if [[ -n "${BKJOB_CORES:-}" ]]; then
    integration_cores="${BKJOB_INTEGRATION_CORES:-$cores}"
else
    integration_cores="${BKJOB_INTEGRATION_CORES:-2.16 2.21}"
fi
steps="${BKJOB_STEPS:-sanity units smoke integration release docs}"
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

step_smoke() {
    cd "$coll"
    # --local: the core's venv (with requests) runs the modules; the targets need no container.
    PATH="$venv/bin:$PATH" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
        "$venv/bin/ansible-test" integration --local --color no
}

step_shellcheck() {
    # Debian's package; ansible-test's shellcheck sanity test passes without checking anything
    # when the command is missing.
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends shellcheck > /dev/null
    shellcheck --version | sed -n 2p
}

step_integration() {
    cd "$coll"
    mkdir -p tests/output/junit
    # pytest exit 5 ("no tests collected") is a failure here: this step only
    # runs when tests/integration holds test files.
    # The suite mostly waits (for ansible-playbook runs and emulated jobs): pytest-xdist workers
    # (BKJOB_PYTEST_WORKERS, default 2; 1 runs it in one process) overlap those waits.
    local workers="${BKJOB_PYTEST_WORKERS:-2}" parallel=()
    if [[ "$workers" -gt 1 ]] && "$venv/bin/python" -c 'import xdist' 2>/dev/null; then
        parallel=(-n "$workers")
    fi
    env PATH="$venv/bin:$PATH" \
        ANSIBLE_COLLECTIONS_PATH="$tmp_root" \
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
        PYTHONDONTWRITEBYTECODE=1 \
        "$venv/bin/python" -m pytest tests/integration -p no:cacheprovider "${parallel[@]}" \
        --junitxml=tests/output/junit/integration.xml "${pytest_args[@]}"
}

# ---------------------------------------------------------------- release and docs steps
# They run once, with the pinned tools venv, on a fresh copy of the collection
# ($rel_root/ansible_collections/blueking/job) made by step_tools.
tools="$BKJOB_ROOT/.venvs/tools"
rel_root=""
rel_coll=""

step_tools() {
    bkjob_tools_venv >/dev/null
    "$tools/bin/python" -c 'import importlib.metadata as m; print(", ".join(p + " " + m.version(p) for p in (
        "ansible-core", "antsibull-changelog", "antsibull-docs", "Sphinx", "ansible-lint", "ansible-builder")))'
    local root
    root="$(mktemp -d "${TMPDIR:-/tmp}/bkjob-release-XXXX")"
    printf '%s\n' "$root" > "$state_file"
    bkjob_make_tree "$root" >/dev/null
    bkjob_log "release tree: $root/ansible_collections/blueking/job"
}

tools_env() {  # tools_env COMMAND...: the tools venv first on PATH, the release tree (and awx.awx) as collections
    env PATH="$tools/bin:$PATH" \
        ANSIBLE_COLLECTIONS_PATH="$rel_root:$tools/collections" \
        ANSIBLE_HOME="$rel_root/.ansible-home" \
        ANSIBLE_LOCAL_TEMP="$rel_root/.ansible-tmp" \
        ANSIBLE_NOCOLOR=1 \
        ANSIBLE_LOCALHOST_WARNING=false \
        ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
        PYTHONDONTWRITEBYTECODE=1 \
        "$@"
}

step_changelog() {
    cd "$rel_coll"
    tools_env antsibull-changelog lint
    tools_env antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
    # Cut the next release in a scratch copy: it must build, and every module must be announced.
    local trial="$rel_root/changelog-trial" version
    mkdir -p "$trial/ansible_collections/blueking"
    cp -a "$rel_coll" "$trial/ansible_collections/blueking/job"
    cd "$trial/ansible_collections/blueking/job"
    version="$("$tools/bin/python" -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])')"
    if "$tools/bin/python" -c 'import sys, yaml
releases = yaml.safe_load(open("changelogs/changelog.yaml"))["releases"] or {}
sys.exit(sys.argv[1] not in releases)' "$version"; then
        # galaxy.yml's version is released: the shipped CHANGELOG.md must be what changelog.yaml
        # generates, and the fragments added since (if any) must make a next release.
        tools_env env ANSIBLE_COLLECTIONS_PATH="$trial" antsibull-changelog generate
        if ! diff -u "$rel_coll/CHANGELOG.md" CHANGELOG.md; then
            bkjob_log "CHANGELOG.md is not what changelogs/changelog.yaml generates: run antsibull-changelog generate"
            return 1
        fi
        if [[ -n "$(find changelogs/fragments -name '*.y*ml' -print -quit)" ]]; then
            version="$("$tools/bin/python" -c 'import sys; major, minor = sys.argv[1].split(".")[:2]; print(f"{major}.{int(minor) + 1}.0")' "$version")"
            tools_env env ANSIBLE_COLLECTIONS_PATH="$trial" antsibull-changelog release --version "$version"
            bkjob_log "unreleased fragments: trial release $version"
        fi
    else
        tools_env env ANSIBLE_COLLECTIONS_PATH="$trial" antsibull-changelog release --version "$version"
    fi
    "$tools/bin/python" - "$version" <<'PY'
import pathlib, sys, yaml
releases = yaml.safe_load(open("changelogs/changelog.yaml"))["releases"]
announced = {module["name"] for release in releases.values() for module in release.get("modules", [])}
modules = {path.stem for path in pathlib.Path("plugins/modules").glob("*.py") if not path.name.startswith("_")}
missing = sorted(modules - announced)
if missing:
    sys.exit(f"modules missing from the changelog of {sys.argv[1]} (check their version_added): {', '.join(missing)}")
print(f"release {sys.argv[1]} cut in a scratch copy; it announces {', '.join(sorted(announced))}")
PY
}

step_docs_lint() {
    cd "$rel_coll"
    tools_env antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs all .
    # The guides as Galaxy shows them (docs/*.md) must be what the docs site's .rst files say.
    "$tools/bin/python" scripts/docs_md.py --check
}

step_ansible_lint() {
    cd "$rel_coll"
    # Every example playbook of the docs (rst code blocks) and of README.md (```yaml blocks) is
    # linted too: they are written out as files next to demo/ and playbooks/.
    "$tools/bin/python" - <<'PY'
import pathlib, re, yaml
out = pathlib.Path("lint-examples")
out.mkdir()
sources = sorted(pathlib.Path("docs/docsite/rst").glob("*.rst")) + [pathlib.Path("README.md")]
for source in sources:
    text = source.read_text(encoding="utf-8")
    if source.suffix == ".rst":
        blocks = [re.sub(r"^  ", "", block, flags=re.M) for block in
                  re.findall(r"^\.\. code-block:: yaml(?:\+jinja)?\n\n((?:  .*\n|\n)+)", text, flags=re.M)]
    else:
        blocks = re.findall(r"^```ya?ml\n(.*?)^```", text, flags=re.M | re.S)
    for index, block in enumerate(blocks):
        data = yaml.safe_load(block)
        if isinstance(data, list) and data and all(isinstance(play, dict) and "hosts" in play for play in data):
            (out / f"{source.stem}-{index}.yml").write_text("---\n" + block.strip() + "\n", encoding="utf-8")
print("example playbooks:", ", ".join(sorted(path.name for path in out.iterdir())) or "none")
PY
    # No target list: ansible-lint lints the whole collection (lint-examples/ included), as
    # galaxy-importer does. Warnings fail too (--strict), and so does a module it cannot parse.
    local log="$rel_root/ansible-lint.log"
    tools_env ansible-lint --offline --profile production --strict --nocolor --project-dir "$rel_coll" 2>&1 | tee "$log"
    if grep -E '^(WARNING|\[WARNING\]|\[ERROR\])|Unable to parse' "$log"; then
        bkjob_log "ansible-lint printed the warnings or errors above"
        return 1
    fi
}

step_galaxy_importer() {
    local tarball cfg="$rel_root/galaxy-importer.cfg" log="$rel_root/galaxy-importer.log"
    tarball="$(ls "$rel_root"/dist/blueking-job-*.tar.gz 2>/dev/null || true)"
    if [[ -z "$tarball" ]]; then
        bkjob_log "no artifact in $rel_root/dist: the build check failed or did not run"
        return 1
    fi
    # Automation Hub's import checks; the ansible-test step runs in a container there and is off.
    cat > "$cfg" <<'CFG'
[galaxy-importer]
LOG_LEVEL_MAIN = INFO
CHECK_REQUIRED_TAGS = True
CHECK_CHANGELOG = True
REQUIRE_V1_OR_GREATER = True
RUN_ANSIBLE_DOC = True
RUN_ANSIBLE_LINT = True
OFFLINE_ANSIBLE_LINT = True
RUN_ANSIBLE_TEST = False
ANSIBLE_TEST_LOCAL_IMAGE = False
LOCAL_IMAGE_DOCKER = False
CFG
    mkdir -p "$rel_root/importer-tmp"
    cd "$rel_root"
    tools_env env GALAXY_IMPORTER_CONFIG="$cfg" GALAXY_IMPORTER_TMP_ROOT_DIR="$rel_root/importer-tmp" \
        GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP="$rel_root/importer-tmp/ansible" ANSIBLE_COLLECTIONS_PATH="$rel_root/importer-none" \
        "$tools/bin/python" -m galaxy_importer.main "$tarball" 2>&1 | tee "$log"
    grep -qx 'Importer processing completed successfully' "$log"
    if grep -E '^(WARNING|ERROR)|: (WARNING|ERROR)' "$log"; then
        bkjob_log "galaxy-importer reported the warnings or errors above"
        return 1
    fi
    bkjob_log "galaxy-importer: $(grep -c . "$log") lines, no warning, no error"
}

step_ee() {
    local ee="$rel_root/ee"
    mkdir -p "$ee"
    cd "$rel_coll"
    # The EE definition users copy from the AWX guide is the one tested here.
    "$tools/bin/python" - "$ee/execution-environment.yml" <<'PY'
import re, sys
text = open("docs/docsite/rst/guide_awx.rst", encoding="utf-8").read()
blocks = [re.sub(r"^  ", "", block, flags=re.M) for block in
          re.findall(r"^\.\. code-block:: yaml\n\n((?:  .*\n|\n)+)", text, flags=re.M)]
[definition] = [block for block in blocks if re.search(r"^version: 3$", block, flags=re.M)]
open(sys.argv[1], "w", encoding="utf-8").write(definition)
PY
    tools_env ansible-builder create --file "$ee/execution-environment.yml" --context "$ee/context" \
        --output-filename Containerfile --verbosity 2
    test -s "$ee/context/Containerfile"
    grep -q 'ansible-galaxy collection install' "$ee/context/Containerfile"
    grep -q 'introspect' "$ee/context/Containerfile"
    grep -q 'name: blueking.job' "$ee/context/_build/requirements.yml"
    # The build installs the collection and runs this introspection over it: it must add requests.
    "$tools/bin/python" "$ee/context/_build/scripts/introspect.py" introspect "$rel_root" \
        --write-pip "$ee/requirements.txt" --write-bindep "$ee/bindep.txt"
    grep -qx 'requests  # from collection blueking.job' "$ee/requirements.txt"
    bkjob_log "build context $ee/context: Containerfile, _build/requirements.yml; python requirements: $(grep -v '^#' "$ee/requirements.txt" | tr '\n' ' ')"
}

step_build() {
    local dist="$rel_root/dist" installed="$rel_root/installed" tarball coll_dir log name
    cd "$rel_coll"
    tools_env ansible-galaxy collection build --output-path "$dist"
    tarball="$(ls "$dist"/blueking-job-*.tar.gz)"
    # What the artifact must carry, and what it must not.
    "$tools/bin/python" - "$tarball" <<'PY'
import fnmatch, sys, tarfile
names = set(tarfile.open(sys.argv[1]).getnames())
required = ["MANIFEST.json", "FILES.json", "README.md", "meta/runtime.yml", "meta/execution-environment.yml",
            "meta/ee-requirements.txt", "meta/ee-bindep.txt", "extensions/awx/credential_type.yml",
            "playbooks/create_credential_type.yml", "changelogs/changelog.yaml", "changelogs/config.yaml",
            "CHANGELOG.md", "CONTRIBUTING.md", "docs/guide_getting_started.md", "docs/guide_api_surfaces.md",
            "docs/guide_awx.md", "docs/guide_troubleshooting.md",
            "docs/docsite/links.yml", "docs/docsite/extra-docs.yml", "plugins/modules/execute_job_plan.py",
            "plugins/modules/job_instance_info.py", "plugins/modules/job_plan_info.py"]
missing = [name for name in required if name not in names]
forbidden = [name for name in names if any(fnmatch.fnmatch(name, pattern) for pattern in (
    ".venv*", ".git/*", "tests/output/*", "docs/build/*", "*.tar.gz", "*/__pycache__/*", "*.pyc",
    "changelogs/.plugin-cache.yaml"))]
if missing or forbidden:
    sys.exit(f"{sys.argv[1]}: missing {missing}, must not contain {sorted(forbidden)[:10]}")
print(f"{sys.argv[1].rsplit('/', 1)[-1]}: {len(names)} entries")
PY
    tools_env env ANSIBLE_COLLECTIONS_PATH="$installed" \
        ansible-galaxy collection install --offline -p "$installed" "$tarball"
    coll_dir="$installed/ansible_collections/blueking/job"
    # From here on only the installed copy (and awx.awx for its playbook) is on the collections path.
    for name in $(find "$coll_dir/plugins/modules" -name '*.py' ! -name '_*' -exec basename {} .py \; | sort); do
        tools_env env ANSIBLE_COLLECTIONS_PATH="$installed" ansible-doc -t module "blueking.job.$name" > /dev/null
    done
    tools_env env ANSIBLE_COLLECTIONS_PATH="$installed:$tools/collections" \
        ansible-playbook --syntax-check blueking.job.create_credential_type
    tools_env ansible-builder introspect --sanitize "$installed" | tee "$rel_root/introspect.txt"
    grep -q 'requests  # from collection blueking.job' "$rel_root/introspect.txt"
    log="$rel_root/installed-demo.log"
    bkjob_start_emulator "$tools/bin/python" "$rel_root"
    trap bkjob_stop_emulator EXIT
    while read -r name; do unset "$name"; done < <(compgen -e | grep '^BK_' || true)
    tools_env env ANSIBLE_COLLECTIONS_PATH="$installed" \
        ANSIBLE_PYTHON_INTERPRETER="$tools/bin/python" \
        BK_API_URL="$bkjob_emulator_url" BK_APP_CODE=bk-demo-app BK_APP_SECRET=demo-app-secret-9f2c41 BK_USERNAME=admin \
        ansible-playbook "$coll_dir/demo/demo.yml" 2>&1 | tee "$log"
    if grep -q 'demo-app-secret-9f2c41' "$log"; then
        bkjob_log "the app secret appears in the output of the installed demo run"
        return 1
    fi
    # A build straight from the checkout (as a release manager runs it) must not pick up
    # anything git ignores: every such path belongs in galaxy.yml's build_ignore.
    tools_env ansible-galaxy collection build --output-path "$rel_root/dist-checkout" "$BKJOB_ROOT" > /dev/null
    "$tools/bin/python" - "$(ls "$rel_root"/dist-checkout/blueking-job-*.tar.gz)" <<'PY' > "$rel_root/checkout-files.txt"
import sys, tarfile
for member in tarfile.open(sys.argv[1]):
    if member.isfile() and member.name not in ("MANIFEST.json", "FILES.json"):
        print(member.name)
PY
    local ignored=()
    mapfile -t ignored < <(git -C "$BKJOB_ROOT" check-ignore --stdin < "$rel_root/checkout-files.txt" || true)
    if [[ ${#ignored[@]} -gt 0 ]]; then
        bkjob_log "a build from $BKJOB_ROOT ships ${#ignored[@]} git-ignored files; add them to build_ignore in galaxy.yml:"
        printf '  %s\n' "${ignored[@]:0:20}" >&2
        return 1
    fi
}

step_docs() {
    local site="$rel_root/docsite" out="$BKJOB_ROOT/docs/build"
    mkdir -m 700 "$site"
    cd "$rel_coll"
    tools_env antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error --dest-dir "$site" \
        --project blueking.job --copyright "blueking.job contributors" \
        --title "blueking.job collection" --html-short-title "blueking.job" blueking.job
    # Offline build: Sphinx downloads no inventory. The few labels of the Ansible docs that the
    # generated pages link to resolve through a small local inventory instead.
    "$tools/bin/python" - "$site" <<'PY'
import sys, zlib
site = sys.argv[1]
labels = {
    "ansible_configuration_settings": ("reference_appendices/config.html#ansible-configuration-settings", "Ansible Configuration Settings"),
    "common_return_values": ("reference_appendices/common_return_values.html#common-return-values", "Return Values"),
    "collections_keyword": ("collections_guide/collections_using_playbooks.html"
                            "#simplifying-module-names-with-the-collections-keyword", "the collections keyword"),
    "list_of_collections": ("collections/index.html#list-of-collections", "Collection Index"),
    "callback_plugins": ("plugins/callback.html#callback-plugins", "Callback plugins"),
    "list_of_callback_plugins": ("collections/index_callback.html#list-of-callback-plugins", "Index of all Callback Plugins"),
    "action_plugins": ("plugins/action.html#action-plugins", "Action plugins"),
}
lines = "".join(f"{name} std:label -1 {uri} {title}\n" for name, (uri, title) in labels.items())
with open(f"{site}/ansible_devel.inv", "wb") as inventory:
    inventory.write(b"# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
                    b"# The remainder of this file is compressed using zlib.\n" + zlib.compress(lines.encode()))
with open(f"{site}/conf.py", "a", encoding="utf-8") as conf:
    conf.write("\n# Offline build (scripts/test.sh step docs): local inventory only.\n"
               "intersphinx_mapping = {'ansible_devel': ('https://docs.ansible.com/projects/ansible/devel/', '../ansible_devel.inv')}\n")
PY
    tools_env "$site/build.sh"
    rm -rf "$out"
    mkdir -p "$out"
    printf '%s\n' "# Built by make docs (scripts/test.sh step docs); never committed." '*' > "$out/.gitignore"
    cp -a "$site/build/html" "$out/html"
    bkjob_log "docs site: $out/html/index.html ($(find "$out/html" -name '*.html' | wc -l) pages)"
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

# Steps that run once (release, docs) and those that run per core (everything else).
once_steps=()
core_steps=()
for step in $steps; do
    case "$step" in
        release|docs) once_steps+=("$step") ;;
        *) core_steps+=("$step") ;;
    esac
done

tools_ok=0
if [[ ${#once_steps[@]} -gt 0 ]]; then
    : > "$state_file"
    run_step "tools setup" step_tools
    rel_root="$(cat "$state_file")"
    if [[ -n "$rel_root" ]]; then tmp_dirs+=("$rel_root"); fi
    rel_coll="$rel_root/ansible_collections/blueking/job"
    if [[ "${res_status[${#res_status[@]}-1]}" == ok ]]; then tools_ok=1; fi
fi

if [[ ${#core_steps[@]} -eq 0 ]]; then cores=""; fi
if [[ -n "$cores" && " ${core_steps[*]} " == *" sanity "* && "${BKJOB_QUICK:-0}" != "1" ]]; then
    if command -v shellcheck >/dev/null 2>&1; then
        bkjob_log "shellcheck: $(shellcheck --version | sed -n 2p)"
    elif [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        printf '\n==================== %s ====================\n' "shellcheck setup"
        sc_start="$(now)"
        if ( set -e; step_shellcheck ); then
            record "shellcheck setup" ok "$(awk -v a="$sc_start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')"
        else
            bkjob_log "SKIPPED: apt-get could not install shellcheck: ansible-test's shellcheck sanity test will check nothing"
            record "shellcheck setup" skipped "-"
        fi
    else
        skip_step "shellcheck setup" "shellcheck is not installed and cannot be (needs root and apt-get): ansible-test's shellcheck sanity test will check nothing; install Debian's shellcheck package"
    fi
fi
for core in $cores; do
    venv="" coll="" tmp_root="" pyver=""
    : > "$state_file"
    if ! bkjob_core_python "$core" >/dev/null; then
        reason="ansible-core $core needs Python $(bkjob_core_python_wanted "$core"), which is neither on PATH nor under pyenv"
        skip_step "$core setup" "$reason"
        for step in "${core_steps[@]}"; do skip_step "$core $step" "no Python $(bkjob_core_python_wanted "$core")"; done
        continue
    fi
    run_step "$core setup" step_setup "$core"
    # step_setup ran in a subshell: recover what it made.
    tmp_root="$(cat "$state_file")"
    if [[ -n "$tmp_root" ]]; then tmp_dirs+=("$tmp_root"); fi
    if [[ "${res_status[${#res_status[@]}-1]}" != ok ]]; then
        for step in "${core_steps[@]}"; do skip_step "$core $step" "setup failed"; done
        continue
    fi
    venv="$BKJOB_ROOT/.venvs/core-$core"
    coll="$tmp_root/ansible_collections/blueking/job"
    pyver="$(bkjob_python_version "$venv")"

    for step in "${core_steps[@]}"; do
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
            smoke)
                if [[ -d "$coll/tests/integration/targets" ]]; then
                    run_step "$core smoke" step_smoke
                else
                    skip_step "$core smoke" "no ansible-test integration targets"
                fi ;;
            integration)
                if [[ " $integration_cores " != *" $core "* ]]; then
                    skip_step "$core integration" "the end-to-end suite runs on $integration_cores (BKJOB_INTEGRATION_CORES)"
                elif has_tests "$coll/tests/integration"; then
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

release_checks=("changelog" "docs-lint" "ansible-lint" "ee" "build" "galaxy-importer")
for step in "${once_steps[@]}"; do
    case "$step" in
        release)
            for check in "${release_checks[@]}"; do
                if [[ $tools_ok -eq 1 ]]; then
                    run_step "release $check" "step_${check//-/_}"
                else
                    skip_step "release $check" "tools setup failed"
                fi
            done ;;
        docs)
            if [[ $tools_ok -eq 1 ]]; then
                run_step "docs site" step_docs
            else
                skip_step "docs site" "tools setup failed"
            fi ;;
    esac
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
