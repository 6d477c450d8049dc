# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Waiting for a job instance to end: the poll schedule, the history that predicts a job's end, the wait loop and
termination on timeout, and ``JobWatcher.wait_and_report`` (wait, then report and apply the outcome rules of ``_report``).

Imported only by a task that waits (docs/performance.md: a task that does not wait never loads or compiles it).
"""

from __future__ import annotations

import math
import random
import time
from typing import Any, Callable

from ansible_collections.blueking.job.plugins.module_utils import _api
from ansible_collections.blueking.job.plugins.module_utils._api import (
    CODE_TASK_INSTANCE_NOT_EXIST,
    STATUS_SUCCESS,
    STATUS_WAITING_USER,
    TASK_OPERATION_TERMINATE,
    TASK_TYPE_NORMAL,
)
from ansible_collections.blueking.job.plugins.module_utils._args import WaitOptions
from ansible_collections.blueking.job.plugins.module_utils._errors import BKJobError, JobFailedError, keeping
from ansible_collections.blueking.job.plugins.module_utils._report import (
    JobInstance,
    apply_outcome_rules,
    host_count,
    job_finished,
    plan_name_of,
    status_name,
)

HISTORY_DAYS = 7  # how far back earlier runs of the plan are looked for (JOB allows at most 30 days per query)
HISTORY_RUNS = 5  # the expected length of a job is the median of this many recent successful runs of its plan
FINE_POLL_MIN = 0.2  # seconds: the shortest interval between polls near a job's expected end
HOST_POLLS = 3  # at most this many polls of a big job ask for host results before the job is known to have ended
SMALL_JOB_HOSTS = 500  # host results per poll below which asking for them on every late poll costs JOB little
AIM_MARGIN = 0.1  # seconds: aim just after the predicted end, which the launch's own network time shifts a little
TERMINATE_GRACE = 30.0  # seconds to see a terminated job reach its final status


class PollSchedule:
    """When to poll next, and whether that poll should carry host results.

    ``options``: WaitOptions (only ``poll_interval`` and ``poll_max_interval`` are read); ``started``: seconds on the
    monotonic clock at the launch.

    - Without more knowledge: back off from ``poll_interval`` by half each time, with jitter, up to
      ``poll_max_interval``; the first poll comes ``poll_interval`` after the start.
    - ``expected`` (seconds after ``started``, from earlier runs of the plan): sleep towards that moment (plus
      AIM_MARGIN) in even steps of at most ``poll_max_interval`` and poll at it; from there back off from a fine
      interval (5 % of the expected length, between FINE_POLL_MIN and ``poll_interval``) by half each time.
    - ``callback`` (JOB's callback will wake the wait up): poll only every ``poll_max_interval``, as a safety net
      for a lost callback or a job waiting for a person.

    Polls at or after the expected end ask for host results, so that the poll that sees the end is also the
    report: every such poll while the job is small (``small_job``, set from the last host results seen), at most
    HOST_POLLS of them otherwise.
    """

    def __init__(self, options: WaitOptions, started: float, *, expected: float | None = None,
                 callback: bool = False) -> None:
        self.interval = options.poll_interval
        self.ceiling = options.poll_max_interval
        self.started = started
        self.expected = None if expected is None else expected + AIM_MARGIN
        self.callback = callback
        self.backoff = self.interval
        self.host_polls = HOST_POLLS
        self.small_job = False
        self._retry = 0.0
        self._past_end = False

    def next(self, now: float) -> tuple[float, bool]:
        """Seconds to wait from ``now`` before the next poll, and whether it should carry host results."""
        if self._retry:
            delay, self._retry = self._retry, 0.0
            return delay, False
        if self.callback:
            return self.ceiling, False
        if self.expected is not None and not self._past_end:
            delay = self.expected - (now - self.started)
            if delay > self.ceiling:
                return delay / math.ceil(delay / self.ceiling), False  # even steps: no light poll just before the aimed one
            self._past_end = True
            self.backoff = min(self.interval, max(FINE_POLL_MIN, 0.05 * self.expected))
            return max(0.0, delay), self._hosts()
        delay = self.backoff * random.uniform(0.9, 1.1)
        self.backoff = min(self.ceiling, self.backoff * 1.5)
        return min(delay, self.ceiling), self._past_end and self._hosts()

    def retry(self, failures: int) -> None:
        """After ``failures`` failed polls in a row: with a callback, whose safety polls are far apart, poll again
        soon (backing off from ``poll_interval``); otherwise the schedule already does."""
        if self.callback:
            self._retry = min(self.ceiling, self.interval * 1.5 ** (failures - 1))

    def _hosts(self) -> bool:
        if self.small_job:
            return True
        self.host_polls -= 1
        return self.host_polls >= 0


def history_median(items: list[dict[str, Any]], job_plan_id: int, job_instance_id: Any, runs: int = HISTORY_RUNS) -> float | None:
    """The expected length of a run of plan ``job_plan_id``, in seconds: the median of the lengths (``create_time`` to
    ``end_time``, JOB's epoch milliseconds) of the ``runs`` most recently created ``items`` of that plan, leaving out
    ``job_instance_id`` and items without both times; the upper of the two middles; None without any.

    ``items``: get_job_instance_list items (``_api``), already limited to successful runs. Pure: the benchmark's
    projection calls it too.
    """
    lengths = []
    for item in items:
        created, ended = item.get("create_time"), item.get("end_time")
        if (item.get("job_plan_id") == job_plan_id and isinstance(created, int) and isinstance(ended, int)
                and ended >= created and item["job_instance_id"] != job_instance_id):
            lengths.append((created, (ended - created) / 1000.0))
    recent = sorted(length for _created, length in sorted(lengths, reverse=True)[:runs])
    return recent[len(recent) // 2] if recent else None


class JobWatcher(JobInstance):
    """Reads, waits for and reports one job instance.

    ``monotonic`` (seconds, never going back) times the wait; ``wall_clock`` (epoch seconds) places the history query.
    """

    def __init__(self, client: Any, scope: dict[str, Any], job_instance_id: int, *, warn: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        super().__init__(client, scope, job_instance_id, warn=warn)
        self.sleep = sleep
        self.monotonic = monotonic
        self.wall_clock = wall_clock

    # ---------------------------------------------------------------------------------- waiting
    def expected_seconds(self, job_plan_id: int | None, name: str | None) -> float | None:
        """How long a run of this plan takes, from JOB's history: the median, from creation to end, of its most
        recent successful runs in the last HISTORY_DAYS days; None when there are none or the history cannot be read.

        The history only decides when to poll, so a failure to read it changes nothing else.
        """
        if not job_plan_id:
            return None
        now_ms = int(self.wall_clock() * 1000)
        try:
            # name: JOB names a plan's instances after the plan; it narrows a busy business's history (JOB matches it
            # as a substring, so older instances named <plan>_<stamp> are found too).
            items, _total = _api.get_job_instance_list_page(
                self.client, self.scope, create_time_start=now_ms - HISTORY_DAYS * 86400000, create_time_end=now_ms,
                length=50, stage="wait", type=TASK_TYPE_NORMAL, status=STATUS_SUCCESS, name=name or None)
        except BKJobError:
            return None
        return history_median(items, job_plan_id, self.job_instance_id)

    def wait(self, options: WaitOptions, *, schedule: PollSchedule | None = None, wakeup: Any = None) -> dict[str, Any]:
        """Poll until the job ends (or status 7 under on_waiting_user fail/return); the last status data.

        ``schedule`` says when to poll (default: backoff from poll_interval). ``wakeup``, when given, has a
        ``wait(seconds) -> bool`` that returns early, with true, when JOB's callback says the job ended.
        Raises JobFailedError on timeout, carrying the last known status in ``result``. Failed polls: a transient
        failure (each already retried by the client) is polled through until ``wait_timeout``, however many come in a
        row; any other failure ends the wait.
        """
        schedule = schedule or PollSchedule(options, self.monotonic())
        deadline = self.monotonic() + options.wait_timeout
        failures = 0
        while True:
            delay, with_hosts = schedule.next(self.monotonic())
            pause = max(0.0, min(delay, deadline - self.monotonic()))
            if wakeup is not None:
                with_hosts = wakeup.wait(pause) or with_hosts
            elif pause > 0:
                self.sleep(pause)
            try:
                data = self.status(with_hosts=with_hosts)
                failures = 0
            except BKJobError as err:
                failures += 1
                if err.code == CODE_TASK_INSTANCE_NOT_EXIST:
                    raise err.reword(prefix=f"Job instance {self.job_instance_id} does not exist in this scope: ", stage="wait")
                if not err.transient or self.monotonic() >= deadline:
                    streak = f" after {failures} failed polls in a row" if failures > 1 else ""
                    raise err.reword(prefix=f"Lost track of job instance {self.job_instance_id} while waiting for it{streak}: ",
                                     suffix="The job may still be running; check it in JOB or attach with blueking.job.job_instance_info.",
                                     stage="wait")
                schedule.retry(failures)
                continue
            if self.had_hosts:
                schedule.small_job = host_count(data) <= SMALL_JOB_HOSTS
            if self._done(data, options.on_waiting_user):
                self.final = data if self.had_hosts else None
                return data
            if self.monotonic() >= deadline:
                raise self._timed_out(data, options)

    def wait_and_report(self, options: WaitOptions, *, known: dict[str, Any], launched_at: float | None = None,
                        plan_name: str | None = None, output_vars: bool = True, wakeup: Any = None) -> dict[str, Any]:
        """Wait for the job, report it and apply the outcome rules (``_report.apply_outcome_rules``); the result, ``known``
        first. Every failure keeps ``known`` (the instance id above all) and, once the job is read, the report.

        ``launched_at`` (``self.monotonic()`` at the launch) lets the wait aim its polls at the end that earlier runs of
        the plan (``known["job_plan_id"]``, named ``plan_name`` when known) predict. ``output_vars=False``: the plan
        has none to read. ``wakeup``: see ``wait``.
        """
        if wakeup is not None:
            schedule = PollSchedule(options, self.monotonic(), callback=True)
        elif launched_at is not None:
            expected = self.expected_seconds(known.get("job_plan_id"), plan_name or plan_name_of(known.get("job_instance_name")))
            schedule = PollSchedule(options, launched_at, expected=expected)
        else:
            schedule = None
        try:
            with keeping(known):
                self.wait(options, schedule=schedule, wakeup=wakeup)
        except JobFailedError as err:
            try:
                err.keep(self.report(options, output_vars=output_vars))  # the report after what was known
            except BKJobError as report_err:
                self.warn(f"The final state of job instance {self.job_instance_id} could not be read: {report_err.msg}")
            raise
        with keeping(known):
            result = {**known, **self.report(options, output_vars=output_vars)}
        with keeping(result):
            apply_outcome_rules(result, options.on_waiting_user, self.warn)
        return result

    @staticmethod
    def _done(data: dict[str, Any], on_waiting_user: str) -> bool:
        status = (data.get("job_instance") or {}).get("status")
        if status == STATUS_WAITING_USER:
            return on_waiting_user != "wait"
        return bool(data.get("finished")) and job_finished(status)

    def _timed_out(self, data: dict[str, Any] | None, options: WaitOptions) -> JobFailedError:
        last = status_name(((data or {}).get("job_instance") or {}).get("status"))
        if not options.terminate_on_timeout:
            return JobFailedError(
                f"Job instance {self.job_instance_id} did not finish within wait_timeout ({options.wait_timeout} s; last status "
                f"{last}). It keeps running in JOB: attach later with blueking.job.job_instance_info, or set terminate_on_timeout.",
                stage="wait", code="timeout", message=last)
        try:
            _api.operate_job_instance(self.client, self.scope, self.job_instance_id, TASK_OPERATION_TERMINATE, stage="terminate")
        except BKJobError as err:
            raise err.reword(prefix=f"Job instance {self.job_instance_id} did not finish within wait_timeout ({options.wait_timeout} s) "
                                    "and terminating it failed: ", suffix="It may still be running; stop it in JOB's web console.")
        grace_end = self.monotonic() + TERMINATE_GRACE
        final = last
        while self.monotonic() < grace_end:
            current = self.status(with_hosts=False, stage="terminate")
            code = (current.get("job_instance") or {}).get("status")
            final = status_name(code)
            if job_finished(code):
                break
            self.sleep(0.5)
        return JobFailedError(
            f"Job instance {self.job_instance_id} did not finish within wait_timeout ({options.wait_timeout} s) and was "
            f"terminated (status now {final}).", stage="terminate", code="timeout", message=final)
