# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Progress lines while a task waits for a job: one when the job is launched, then one on every change of the job's
status, its current step or that step's host counts, and at least every ``poll_max_interval`` seconds otherwise.

Lines are only written when the module runs inside the controller's process (the collection's action plugins,
``plugins/plugin_utils/_controller.py``), which sets ``EMITTER`` for the length of the task: a module shipped to a
target has no way to print before it ends, so there ``for_module`` returns None and nothing is computed.

A line, for example::

    JOB instance 1234 "deploy-app": running, step 2/3 "restart app" running, hosts 18/20 done, 1 failed (35 s)
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ansible_collections.blueking.job.plugins.module_utils._report import HOST_OK, HOST_RUNNING, STATUSES, status_name

# Set by the controller-side action plugin while the module runs in its process: writes one line (a str) to
# ansible-playbook's output (and so to AWX's job events). None when the module runs as a separate program.
EMITTER: Callable[[str], None] | None = None

HOSTS_ON_EVERY_POLL = 500  # a job with at most this many host results per answer has them read on every poll


class Progress:
    """Turns the status answers a wait reads into progress lines.

    ``emit(line)`` writes a line; ``every`` (seconds, the task's ``poll_max_interval``) is the longest silence while
    the job runs; ``monotonic`` is the clock (seconds). ``launched(known)`` writes the launch line from a result's
    ``job_instance_id``, ``job_instance_name`` and ``job_instance_url``; ``observe(data)`` takes one
    ``get_job_instance_status`` answer (``_api.get_job_instance_status``) and writes a line when something changed or
    ``every`` has passed; ``note(text)`` writes what the wait itself does (a retry, a confirmation). ``wants_hosts``
    tells the wait to read host results on its polls (for the host counts), until an answer lists more than
    HOSTS_ON_EVERY_POLL of them: the polls stay as many, only small jobs' polls carry their hosts.
    """

    def __init__(self, emit: Callable[[str], None], every: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.emit = emit
        self.every = every
        self.monotonic = monotonic
        self.started = monotonic()
        self.last_line_at: float | None = None
        self.last_state: tuple[Any, ...] | None = None
        self.label = ""
        self.wants_hosts = True  # whether the wait should read host results for the lines (false once the job is big)

    def launched(self, known: dict[str, Any]) -> None:
        """The launch line: the instance id, its name and its link, so that an interrupted run can find the job."""
        self._name(known.get("job_instance_id"), known.get("job_instance_name"))
        url = known.get("job_instance_url")
        self._write(f"{self.label}: launched" + (f", {url}" if url else ""))

    def note(self, text: str) -> None:
        """A line about what the wait does to the job (not about what JOB reports)."""
        self._write(f"{self.label or 'JOB'}: {text}")

    def observe(self, data: dict[str, Any]) -> None:
        """Write a line for this status answer when the state changed or ``every`` seconds passed since the last line."""
        job = data.get("job_instance") or {}
        if not self.label:
            self._name(job.get("job_instance_id"), job.get("name"))
        steps = data.get("step_instance_list") or []
        listed = sum(len(step.get("step_ip_result_list") or []) for step in steps)
        if listed > HOSTS_ON_EVERY_POLL:
            self.wants_hosts = False
        state = step_state(steps)
        current = (job.get("status"), *state)
        now = self.monotonic()
        if current == self.last_state and self.last_line_at is not None and now - self.last_line_at < self.every:
            return
        self.last_state = current
        self._write(f"{self.label}: {status_name(job.get('status'))}{describe(steps, state)} ({now - self.started:.0f} s)")

    def _name(self, job_instance_id: Any, name: Any) -> None:
        self.label = f"JOB instance {job_instance_id}" + (f' "{name}"' if name else "")

    def _write(self, line: str) -> None:
        self.last_line_at = self.monotonic()
        self.emit(line)


def step_state(steps: list[dict[str, Any]]) -> tuple[Any, ...]:
    """(index of the step to show, its status, hosts done, failed, total) for a status answer's steps.

    The step to show is the first one that is neither finished well nor waiting to start (the step JOB is at), else
    the last one that started. Host counts are None when the answer carries no host results.
    """
    index = None
    for position, step in enumerate(steps):
        status = step.get("status")
        if status in (None, 1):  # not reached yet
            break
        index = position
        if STATUSES.get(status, ("", "poll"))[1] not in ("ok", "warn"):
            break
    if index is None:
        return (None, None, None, None, None)
    step = steps[index]
    hosts = step.get("step_ip_result_list")
    if not isinstance(hosts, list) or not hosts:
        return (index, step.get("status"), None, None, None)
    done = sum(1 for host in hosts if host.get("status") in HOST_OK)
    going = sum(1 for host in hosts if host.get("status") in HOST_RUNNING)
    return (index, step.get("status"), done, len(hosts) - done - going, len(hosts))


def describe(steps: list[dict[str, Any]], state: tuple[Any, ...]) -> str:
    """The step part of a line: ``, step i/n "name" status, hosts d/t done, f failed``."""
    index, status, done, failed, total = state
    if index is None:
        return f", {len(steps)} steps" if steps else ""
    text = f', step {index + 1}/{len(steps)} "{steps[index].get("name") or ""}" {status_name(status)}'
    if total is not None:
        text += f", hosts {done}/{total} done" + (f", {failed} failed" if failed else "")
    return text


def for_wait(options: Any) -> Progress | None:
    """A Progress for a task that waits with WaitOptions ``options``, or None when no line can be written (the module
    runs outside the controller's process) or ``show_progress`` is false."""
    if EMITTER is None or not getattr(options, "show_progress", True):
        return None
    return Progress(EMITTER, float(getattr(options, "poll_max_interval", 10.0)))
