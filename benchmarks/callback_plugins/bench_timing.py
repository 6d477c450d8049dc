# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark-only callback: one JSON line per task result, with wall-clock times, in $BKJOB_BENCH_TIMINGS.

Not part of the collection. benchmarks/bench.py enables it with ANSIBLE_CALLBACK_PLUGINS and
ANSIBLE_CALLBACKS_ENABLED=bench_timing. Times are time.time() on the controller:

* ``task_start``: v2_playbook_on_task_start (the strategy starts the task);
* ``worker_start``: v2_runner_on_start (the worker process began the task on this host);
* ``end``: when the result reached the controller (v2_runner_on_ok / _failed), i.e. the moment the
  playbook moves on. For an ``until`` loop this is after its last attempt.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_timing
type: aggregate
short_description: record task timings for benchmarks/bench.py
description: Writes one JSON line per task result to the file named by BKJOB_BENCH_TIMINGS.
requirements: [enabled in ANSIBLE_CALLBACKS_ENABLED]
"""


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _hosts(steps):
    """How many host results the steps of a blueking.job result list (None without steps)."""
    if not isinstance(steps, list):
        return None
    return sum(len(step.get("hosts") or []) for step in steps if isinstance(step, dict))


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("BKJOB_BENCH_TIMINGS")
        self._task_start = {}
        self._worker_start = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start[task._uuid] = time.time()

    def v2_runner_on_start(self, host, task):
        self._worker_start[task._uuid, host.get_name()] = time.time()

    def _record(self, result, status):
        end = time.time()
        if not self._path:
            return
        task = result._task
        # ansible-core 2.19 and later: _return_data is the result as the strategy holds it; result._result would make a
        # converted copy of the whole result for this callback alone (seconds for a result of 50,000 hosts).
        res = getattr(result, "_return_data", None)
        if not isinstance(res, dict):
            res = result._result or {}
        data = res.get("json") if isinstance(res.get("json"), dict) else {}
        data = data.get("data") if isinstance(data.get("data"), dict) else {}
        instance = data.get("job_instance") if isinstance(data.get("job_instance"), dict) else {}
        host = result._host.get_name()
        line = {
            "name": str(task.get_name()),
            "host": host,
            "status": status,
            "task_start": self._task_start.get(task._uuid),
            "worker_start": self._worker_start.get((task._uuid, host)),
            "end": end,
            "attempts": _int(res.get("attempts")),
            "job_instance_id": _int(res.get("job_instance_id") or data.get("job_instance_id") or instance.get("job_instance_id")),
            "end_time": _int(res.get("end_time") or instance.get("end_time")),
            "msg": str(res.get("msg"))[:300] if status == "failed" else None,
            "hosts": _hosts(res.get("steps")),
        }
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")
