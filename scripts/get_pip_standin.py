# Stand-in for the get-pip.py bootstrap script that ansible-test downloads.
#
# ansible-test (--venv) creates its virtual environments without pip and then
# runs `python quiet_pip.py --disable-pip-version-check [--no-setuptools]
# [--no-wheel] pip==X [setuptools==Y wheel==Z]` with GET_PIP pointing at
# ~/.ansible/test/cache/get_pip_<X with underscores>.py, which it normally
# downloads from ci-files.testing.ansible.com. That host is not reachable from
# every machine (e.g. offline CI with only a PyPI mirror), so scripts/test.sh
# copies this file into that cache path, but ONLY when the real script cannot
# be downloaded.
#
# What it does:
#   1. installs pip into the running interpreter from the wheel bundled with
#      CPython (ensurepip, no network needed);
#   2. best effort: upgrades/downgrades to the exact packages ansible-test asked
#      for (pip==X, setuptools==Y, ...) from the configured package index. If
#      that fails (no index reachable) the ensurepip-provided pip is kept, which
#      is good enough for ansible-test.
#
# Marker used by scripts/test.sh to recognise this file: BKJOB-GET-PIP-STANDIN
import ensurepip
import os
import subprocess
import sys

# get-pip.py options that `pip install` does not understand
GET_PIP_ONLY_OPTIONS = {'--no-setuptools', '--no-wheel', '--no-pip'}


def main():
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY_OPTIONS]
    options = [a for a in args if a.startswith('-')]
    packages = [a for a in args if not a.startswith('-')]

    # ensurepip.bootstrap() scrubs PIP_* variables (index URL, certificates,
    # proxies, ...) from os.environ; keep a copy for the second step, which
    # runs in a separate process because ensurepip leaves pip imported.
    env = dict(os.environ)
    ensurepip.bootstrap(upgrade=True)

    if not packages or env.get('BKJOB_GET_PIP_STANDIN_NO_UPGRADE'):
        return 0

    cmd = [sys.executable, '-m', 'pip', 'install', '--quiet', '--retries', '2'] + options + packages
    rc = subprocess.call(cmd, env=env)
    if rc != 0:
        sys.stderr.write(
            'get-pip stand-in: could not install %s (exit %d); keeping the pip bundled with Python.\n'
            % (' '.join(packages), rc))
    return 0


if __name__ == '__main__':
    sys.exit(main())
