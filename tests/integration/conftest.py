# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""End-to-end tests: real ``ansible-playbook`` / ``ansible`` runs against the JOB emulator.

Every run's whole output (at ``-vvvv``) is searched for the credentials and any extra secret the
test names; a hit fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "emulator"))

from process import Emulator  # noqa: E402  pylint: disable=wrong-import-position,import-error
# the demo credentials, from the emulator's seed; imported from here by the test files
from support import (  # noqa: E402,F401  pylint: disable=wrong-import-position,import-error,unused-import
    ACCESS_TOKEN, APP_CODE, APP_SECRET, BK_TOKEN, SECRETS, USERNAME, isolated_ansible_env,
)


def collections_root(tmp_root: Path) -> Path:
    """The directory holding ``ansible_collections/blueking/job`` for this checkout."""
    if REPO.parent.name == "blueking" and REPO.parents[1].name == "ansible_collections":
        return REPO.parents[2]
    link = tmp_root / "ansible_collections" / "blueking" / "job"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(REPO)
    return tmp_root


class AnsibleRun:
    """One finished ansible-playbook / ansible process and what it said."""

    def __init__(self, completed: subprocess.CompletedProcess, results: dict | None):
        self.rc = completed.returncode
        self.output = completed.stdout + completed.stderr
        self.results = results or {}

    def __getitem__(self, key):
        return self.results[key]


class Ansible:
    """Runs ansible-playbook and ad-hoc ansible against the emulator in an isolated environment."""

    def __init__(self, workdir: Path, collections: Path):
        self.workdir = workdir
        bindir = Path(sys.executable).parent
        self.playbook_bin = str(bindir / "ansible-playbook")
        self.adhoc_bin = str(bindir / "ansible")
        self.env = {key: value for key, value in os.environ.items() if not key.startswith(("BK_", "ANSIBLE_"))}
        self.env.update(isolated_ansible_env(workdir, collections))
        if os.environ.get("BKJOB_IN_PROCESS", "").lower() == "false":  # the whole suite on the module path
            self.env["BK_JOB_IN_PROCESS"] = "false"

    def run_command(self, argv: list[str], env: dict | None, secrets: tuple) -> subprocess.CompletedProcess:
        completed = subprocess.run(argv, cwd=self.workdir, env={**self.env, **(env or {})}, capture_output=True, text=True,
                                   timeout=300, check=False)
        output = completed.stdout + completed.stderr
        for secret in SECRETS + tuple(secrets):
            assert secret not in output, f"secret {secret[:3]}... leaked into the output of {argv[0]}"
        assert "Traceback (most recent call last)" not in output, output[-4000:]
        return completed

    def playbook(self, tasks: list[dict], *, env: dict | None = None, check: bool = False, diff: bool = False,
                 module_defaults: dict | None = None, secrets: tuple = ()) -> AnsibleRun:
        """Run ``tasks`` (each registered as r0, r1, ... with ignore_errors) and return their results."""
        play_tasks = []
        for index, task in enumerate(tasks):
            play_tasks.append({**task, "register": f"r{index}", "ignore_errors": True})
        result_file = self.workdir / "results.json"
        if result_file.exists():
            result_file.unlink()
        collected = "{{ {" + ", ".join(f"'r{index}': r{index}" for index in range(len(tasks))) + "} | to_json }}"
        play_tasks.append({"name": "save results", "ansible.builtin.copy": {"content": collected, "dest": str(result_file)},
                           "check_mode": False, "no_log": False})
        play = {"name": "e2e", "hosts": "localhost", "gather_facts": False, "tasks": play_tasks}
        if module_defaults:
            play["module_defaults"] = module_defaults
        playbook = self.workdir / "play.yml"
        playbook.write_text(json.dumps([play], indent=2))
        argv = [self.playbook_bin, "-vvvv", str(playbook)] + (["--check"] if check else []) + (["--diff"] if diff else [])
        completed = self.run_command(argv, env, secrets)
        results = json.loads(result_file.read_text()) if result_file.exists() else None
        assert results is not None, completed.stdout[-4000:] + completed.stderr[-4000:]
        return AnsibleRun(completed, results)

    def adhoc(self, module: str, args: dict, *, env: dict | None = None, secrets: tuple = ()) -> AnsibleRun:
        """``ansible localhost -m module -a '<json>'``; the result is parsed from the minimal callback."""
        argv = [self.adhoc_bin, "localhost", "-vvvv", "-m", module, "-a", json.dumps(args)]
        completed = self.run_command(argv, env, secrets)
        marker = completed.stdout.find("localhost | ")
        body = completed.stdout[marker:]
        start = body.find("{")
        result, _end = json.JSONDecoder().raw_decode(body[start:]) if start >= 0 else (None, 0)
        return AnsibleRun(completed, result)


@pytest.fixture(params=["in_process", "module"])
def execution_path(request, ansible):
    """Run the test on both paths of plugins/plugin_utils/_controller.py: in ansible-playbook's process (the default
    on the controller) and as a module (``BK_JOB_IN_PROCESS=false``)."""
    if request.param == "module":
        ansible.env["BK_JOB_IN_PROCESS"] = "false"
    return request.param


@pytest.fixture(scope="session")
def emulator():
    with Emulator() as running:
        yield running


@pytest.fixture()
def job(emulator):
    """The emulator, emptied of recorded requests, faults and instances."""
    emulator.reset()
    return emulator


@pytest.fixture(scope="session")
def collections(tmp_path_factory):
    return collections_root(tmp_path_factory.mktemp("collections"))


@pytest.fixture()
def ansible(tmp_path, collections):
    return Ansible(tmp_path, collections)


def esb_connection(emulator, **extra) -> dict:
    return {"bk_api_url": emulator.url, "bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": USERNAME, **extra}


def apigw_connection(emulator, **extra) -> dict:
    return {"bk_api_url": emulator.apigw_url, "bk_api_type": "apigw", "bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET,
            "bk_username": USERNAME, **extra}


# TLS: a private CA (trustme) and the emulator on HTTPS with a certificate it issued (fault matrix, TLS test).

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """{"good": (cert, key) for 127.0.0.1/localhost, "wrong_name": (cert, key) for another host, "ca": CA file,
    "other_ca": an unrelated CA file}; skipped without trustme."""
    trustme = pytest.importorskip("trustme")
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    good = ca.issue_cert("127.0.0.1", "localhost")
    wrong_name = ca.issue_cert("bkjob.example.test")
    files = {}
    for name, cert in (("good", good), ("wrong_name", wrong_name)):
        cert.cert_chain_pems[0].write_to_path(str(directory / f"{name}.pem"))
        cert.private_key_pem.write_to_path(str(directory / f"{name}.key"))
        files[name] = (str(directory / f"{name}.pem"), str(directory / f"{name}.key"))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(directory / "other-ca.pem"))
    files["ca"] = str(directory / "ca.pem")
    files["other_ca"] = str(directory / "other-ca.pem")
    return files


@pytest.fixture(scope="module")
def tls_job(pki):
    with Emulator(tls_cert=pki["good"][0], tls_key=pki["good"][1]) as running:
        yield running
