# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run one module's main() in this process, as AnsiballZ would, and write where its time went.

    python module_child.py MODULE COLLECTIONS_ROOT ARGS_JSON STATS_JSON

MODULE is ``baseline`` (start the interpreter and import the Ansible basics, nothing else),
``import:NAME[,NAME...]`` (the basics, then only these imports, timed as phase ``imports``) or an
importable module name (``ansible_collections.blueking.job.plugins.modules.execute_job_plan``,
``ansible.modules.uri``). ARGS_JSON holds ``{"ANSIBLE_MODULE_ARGS": {...}}`` and is handed over
through ``ansible.module_utils.basic._ANSIBLE_ARGS``, as ansible-core's own unit-test helpers do. The
module's JSON result goes to stdout as usual. STATS_JSON receives the per-phase CPU and wall time and
the peak RSS of this process (VmHWM: unlike the parent's ru_maxrss it is not inflated by the parent's
memory, which a vfork/exec child inherits in its rusage high-water mark). With BKJOB_BENCH_PROFILE=PATH
set, main() runs under cProfile and its stats go to PATH (pstats format).
"""

from __future__ import annotations

import json
import os
import sys
import time

WALL0, CPU0 = time.perf_counter(), time.process_time()
MARKS = []


def mark(name: str) -> None:
    MARKS.append((name, time.perf_counter(), time.process_time()))


def memory() -> dict:
    found = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            key, _sep, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                found[key] = int(value.split()[0])  # kB
    return found


def write_stats(path: str, exit_code) -> None:
    phases, wall, cpu = {}, WALL0, CPU0
    for name, wall_at, cpu_at in MARKS:
        phases[name] = {"wall": wall_at - wall, "cpu": cpu_at - cpu}
        wall, cpu = wall_at, cpu_at
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"phases": phases, "exit": exit_code, **memory()}, handle)


def main() -> None:
    module_name, collections_root, args_path, stats_path = sys.argv[1:5]
    sys.path.insert(0, collections_root)
    from ansible.module_utils import basic  # the Ansible basics every module imports

    mark("ansible_basics")
    if module_name == "baseline":
        write_stats(stats_path, None)
        return
    if module_name.startswith("import:"):
        import importlib

        for name in module_name[len("import:"):].split(","):
            importlib.import_module(name)
        mark("imports")
        write_stats(stats_path, None)
        return
    with open(args_path, "rb") as handle:
        basic._ANSIBLE_ARGS = handle.read()  # pylint: disable=protected-access
    basic._ANSIBLE_PROFILE = "legacy"  # pylint: disable=protected-access  # ansible-core >= 2.19

    # Phase boundaries without touching the module: argument processing is AnsibleModule.__init__,
    # the output is _return_formatted (no_log scrubbing, JSON encoding, print).
    original_init = basic.AnsibleModule.__init__
    original_output = basic.AnsibleModule._return_formatted  # pylint: disable=protected-access

    def timed_init(self, *args, **kwargs):
        mark("before_arguments")
        original_init(self, *args, **kwargs)
        mark("arguments")

    def timed_output(self, kwargs):
        mark("run")
        original_output(self, kwargs)
        mark("output")

    basic.AnsibleModule.__init__ = timed_init
    basic.AnsibleModule._return_formatted = timed_output  # pylint: disable=protected-access

    import importlib

    module = importlib.import_module(module_name)
    mark("imports")
    exit_code = None
    profile_path = os.environ.get("BKJOB_BENCH_PROFILE")
    profiler = None
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        module.main()
    except SystemExit as done:
        exit_code = done.code
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile_path)
    sys.stdout.flush()
    write_stats(stats_path, exit_code)


if __name__ == "__main__":
    main()
