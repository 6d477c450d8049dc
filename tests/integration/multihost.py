# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Many inventory hosts in one run, each calling a real module with its own arguments.

Used by the fault matrix, the load test, the bad-input matrix and the adoption test: one ansible-playbook per module
(the up to three runs in parallel), one inventory host per case, the registered results collected into one JSON file.
"""

from __future__ import annotations

import concurrent.futures
import json
import sys
import time

from conftest import Ansible  # pylint: disable=import-error

LAUNCH = "execute_job_plan"
INFO = "job_instance_info"
PLAN_INFO = "job_plan_info"
FAST = {"poll_interval": 0.2, "poll_max_interval": 0.5}


class HostsRun:
    """One multi-host run (an ansible-playbook per module, in parallel): per-host results, the whole output, the wall time."""

    def __init__(self, results: dict, output: str, wall: float, rc: int):
        self.results = results
        self.output = output
        self.wall = wall
        self.rc = rc


def run_hosts(ansible: Ansible, cells: dict, *, forks: int = 50, env: dict | None = None, secrets: tuple = ()) -> HostsRun:
    """Run ``cells`` ({host: (module short name, args)}) over inventories of local hosts, one host per cell.

    Every option is passed as ``"{{ cell_args.<option> | default(omit) }}"``, so that each host calls the real module
    with exactly its own arguments. The cells of each module run as one ansible-playbook; the (up to three) runs go in
    parallel. Their output is searched for secrets and tracebacks by ``Ansible.run_command``.
    """
    by_module: dict = {}
    for name, (module, args) in cells.items():
        by_module.setdefault(module, {})[name] = args

    def run_one(module, group):
        # Only the options some host sets are templated (templating costs controller CPU); an option the module does not
        # have (a bad-input case) is passed through too: the module must refuse it.
        options = sorted({key for args in group.values() for key in args})
        hosts = {name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "cell_args": args}
                 for name, args in group.items()}
        inventory = ansible.workdir / f"inventory-{module}.json"
        inventory.write_text(json.dumps({"cells": {"hosts": hosts}}))
        result_file = ansible.workdir / f"results-{module}.json"
        if result_file.exists():
            result_file.unlink()
        task = {"name": module, f"blueking.job.{module}": {option: f"{{{{ cell_args.{option} | default(omit) }}}}" for option in options},
                "register": "r", "ignore_errors": True}
        collect = "{{ dict(groups['cells'] | zip(groups['cells'] | map('extract', hostvars, 'r'))) | to_json }}"
        plays = [
            {"name": "cells", "hosts": "cells", "gather_facts": False, "tasks": [task]},
            {"name": "collect", "hosts": "localhost", "gather_facts": False, "tasks": [
                {"name": "save results", "ansible.builtin.copy": {"content": collect, "dest": str(result_file)}, "check_mode": False}]},
        ]
        playbook = ansible.workdir / f"cells-{module}.yml"
        playbook.write_text(json.dumps(plays, indent=1))
        argv = [ansible.playbook_bin, "-vvvv", "-i", str(inventory), str(playbook)]
        completed = ansible.run_command(argv, {"ANSIBLE_FORKS": str(min(forks, len(group))), **(env or {})}, secrets)
        output = completed.stdout + completed.stderr
        assert result_file.exists(), output[-4000:]
        return json.loads(result_file.read_text()), output, completed.returncode

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(by_module) or 1) as pool:
        runs = list(pool.map(lambda item: run_one(*item), by_module.items()))
    wall = time.monotonic() - started
    results = {}
    for part, _output, _rc in runs:
        results.update(part)
    return HostsRun(results, "".join(output for _part, output, _rc in runs), wall, max((rc for _part, _output, rc in runs), default=0))


def start_all(emulators: list) -> None:
    """Start emulators in parallel (each start waits for its port file)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda emulator: emulator.start(), emulators))


def tenant_of(request: dict) -> str | None:
    """The X-Bk-Tenant-Id a recorded request carried: the tests tag each host's requests with it."""
    return {name.lower(): value for name, value in request["headers"].items()}.get("x-bk-tenant-id")


def no_crash(result: dict) -> None:
    """The module answered with its own JSON: no traceback, no raw stderr of a crashed module."""
    text = json.dumps(result)
    assert "Traceback" not in text and "module_stderr" not in result and "module_stdout" not in result, text[-3000:]


def warnings_of(result: dict) -> list:
    """A task result's warnings as text (a structured warning as its JSON)."""
    out = []
    for warning in result.get("warnings") or []:
        out.append(warning if isinstance(warning, str) else json.dumps(warning, ensure_ascii=False))
    return out
