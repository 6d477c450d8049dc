# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark-only: make each ansible-playbook worker write its own CPU time and peak RSS when it ends.

benchmarks/bench.py puts this folder on PYTHONPATH with BKJOB_BENCH_WORKER_CPU=DIR for its scale runs through
ansible-playbook, so that the task's CPU splits into the worker's (the in-process module, templating, the action
plugin) and the rest (the controller, and the module's own process on the module path). A worker is a forked process:
its getrusage(RUSAGE_SELF) starts at zero, and its children (a module's process) are not in it. Every other Python
(the module's process, anything else) only reads sys.argv here and goes on.
"""

import os
import sys

if os.environ.get("BKJOB_BENCH_WORKER_CPU") and sys.argv and os.path.basename(sys.argv[0]) == "ansible-playbook":
    import json
    import resource

    from ansible.executor.process import worker

    _RUN = worker.WorkerProcess._run  # pylint: disable=protected-access

    def _run_and_record(self, *args, **kwargs):
        try:
            return _RUN(self, *args, **kwargs)
        finally:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            path = os.path.join(os.environ["BKJOB_BENCH_WORKER_CPU"], f"worker-{os.getpid()}.json")
            with open(path, "w", encoding="utf-8") as handle:
                json.dump({"cpu": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}, handle)

    worker.WorkerProcess._run = _run_and_record  # pylint: disable=protected-access
