# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Waiting for a job instance to end: the poll schedule, the history that predicts a job's end, the wait loop and
termination on timeout, and ``JobWatcher.wait_and_report`` (wait, then report and apply the outcome rules of ``_report``).

While it waits, the watcher acts on the job only as the options ask: ``retry_failed_hosts`` (step operation 2 on a failed
step) and ``on_waiting_user`` ``confirm`` / ``terminate`` (step operations 6 / 9 on a confirmation step); each act is told
to the progress display (``progress.note``).

Imported only by a task that waits (docs/performance.md: a task that does not wait never loads or compiles it).
"""

from __future__ import annotations

import math
import random
import time
from typing import Any, Callable

from ansible_collections.blueking.job.plugins.module_utils import _api
from ansible_collections.blueking.job.plugins.module_utils._api import (
    CODE_NOT_IN_CONFIRM_USER_LIST,
    CODE_TASK_INSTANCE_NOT_EXIST,
    STATUS_ABNORMAL_STATE,
    STATUS_CONFIRM_TERMINATED,
    STATUS_FAIL,
    STATUS_IGNORE_ERROR,
    STATUS_SUCCESS,
    STATUS_WAITING_USER,
    STEP_OPERATION_CONFIRM_CONTINUE,
    STEP_OPERATION_CONFIRM_TERMINATE,
    STEP_OPERATION_RETRY_FAIL_IP,
    STEP_TYPE_APPROVAL,
    TASK_OPERATION_TERMINATE,
    TASK_TYPE_NORMAL,
)
from ansible_collections.blueking.job.plugins.module_utils._args import WaitOptions
from ansible_collections.blueking.job.plugins.module_utils._errors import BKJobError, JobFailedError, keeping
from ansible_collections.blueking.job.plugins.module_utils._report import (
    FAILED_STEP_STATUSES,
    JobInstance,
    apply_outcome_rules,
    host_count,
    host_failed,
    host_key,
    job_finished,
    plan_name_of,
    plural,
    status_name,
)

HISTORY_DAYS = 7  # how far back earlier runs of the plan are looked for (JOB allows at most 30 days per query)
HISTORY_RUNS = 5  # the expected length of a job is the median of this many recent successful runs of its plan
FINE_POLL_MIN = 0.2  # seconds: the shortest interval between polls near a job's expected end
HOST_POLLS = 3  # at most this many polls of a big job ask for host results before the job is known to have ended
SMALL_JOB_HOSTS = 500  # host results per poll below which asking for them on every late poll costs JOB little
AIM_MARGIN = 0.1  # seconds: aim just after the predicted end, which the launch's own network time shifts a little
TERMINATE_GRACE = 30.0  # seconds to see a terminated job reach its final status
# A job that ended in one of these with a step in FAILED_STEP_STATUSES is what retry_failed_hosts retries. JobListener
# .refreshJob ends the job with its failed step's status (4 or 9); TaskExecuteServiceImpl.isStepRetryable also takes 11
# (terminate_success), which is left alone: a person or terminate_on_timeout stopped that job on purpose.
RETRIED_JOB_STATUSES = frozenset({STATUS_FAIL, STATUS_ABNORMAL_STATE})


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
    ``progress`` (``_progress``), when given, is shown every status read (``observe(data)``) and every act of the
    watcher on the job (``note(text)``). ``check_mode``: the watcher sends no step operation; it warns what it would
    send, and the wait ends there.
    """

    def __init__(self, client: Any, scope: dict[str, Any], job_instance_id: int, *, warn: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep, monotonic: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, progress: Any = None, check_mode: bool = False) -> None:
        super().__init__(client, scope, job_instance_id, warn=warn)
        self.sleep = sleep
        self.monotonic = monotonic
        self.wall_clock = wall_clock
        self.progress = progress
        self.check_mode = check_mode
        self.changed_job = False  # a step operation was sent (or, in check mode, would have been): the result's changed
        self.answered: dict[Any, str] = {}  # confirmation steps this task answered: step_instance_id -> "confirm"/"terminate"
        self.terminated_step: str | None = None  # the confirmation step on_waiting_user=terminate ended the job at
        self._retry_stopped: set[Any] = set()  # failed steps whose retry JOB refused: not tried again

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

        Acts on the job, within the one ``wait_timeout``: a job that ended failed is resumed by ``_retry_failed``
        (``retry_failed_hosts``), a confirmation step is answered by ``_answer_confirmation`` (``on_waiting_user``
        ``confirm`` / ``terminate``); after either the wait polls again from ``poll_interval``. A task that sent a step
        operation (or would have, in check mode) reports ``changed`` (``changed_job``).
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
            if self.progress is not None and self.progress.wants_hosts:
                with_hosts = True  # progress lines count a small job's hosts on every poll (no extra call)
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
            if self.progress is not None:
                self.progress.observe(data)
            if self.had_hosts:
                schedule.small_job = host_count(data) <= SMALL_JOB_HOSTS
            status = (data.get("job_instance") or {}).get("status")
            acted = False
            if status == STATUS_WAITING_USER and options.on_waiting_user in ("confirm", "terminate"):
                acted = self._answer_confirmation(data, options)
                if self.answered.get(self._waiting_step_id(data)) == "check_mode":
                    self.final = data if self.had_hosts else None
                    return data  # check mode: the job still waits, as under on_waiting_user return
            elif self._done(data, options.on_waiting_user):
                if options.retry_failed_hosts and status in RETRIED_JOB_STATUSES and self.monotonic() < deadline:
                    acted, data = self._retry_failed(data, options)
                if not acted:
                    self.final = data if self.had_hosts else None
                    return data
            if acted:
                # The job moves on (JOB sets a retried or confirmed job running before it answers; a terminated one ends
                # soon after): poll it as a job just started.
                schedule = PollSchedule(options, self.monotonic(), callback=wakeup is not None)
                continue
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
        except BKJobError as err:
            if not isinstance(err, JobFailedError) and err.stage != "operate":
                raise
            try:
                err.keep(self.report(options, output_vars=output_vars))  # the report after what was known
            except BKJobError as report_err:
                self.warn(f"The final state of job instance {self.job_instance_id} could not be read: {report_err.msg}")
            if self.changed_job:
                err.keep({"changed": True})
            raise
        with keeping(known):
            result = {**known, **self.report(options, output_vars=output_vars)}
        if self.changed_job:
            result["changed"] = True
        with keeping(result):
            try:
                apply_outcome_rules(result, options.on_waiting_user, self.warn)
            except JobFailedError as err:
                if self.terminated_step is not None and result["status"] == STATUS_CONFIRM_TERMINATED:
                    raise err.reword(f"Job instance {self.job_instance_id} ended with status confirm_terminated ({STATUS_CONFIRM_TERMINATED}): "
                                     f"on_waiting_user=terminate ended it at confirmation step '{self.terminated_step}', as asked. "
                                     "Its later steps did not run.")
                raise
        return result

    @staticmethod
    def _done(data: dict[str, Any], on_waiting_user: str) -> bool:
        status = (data.get("job_instance") or {}).get("status")
        if status == STATUS_WAITING_USER:
            return on_waiting_user in ("fail", "return")
        return bool(data.get("finished")) and job_finished(status)

    # ---------------------------------------------------------------------------------- acting on the job
    def _note(self, text: str) -> None:
        if self.progress is not None:
            self.progress.note(text)

    def _with_hosts(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` if it carries host results, else the status read again with them (one read)."""
        if self.had_hosts or self.no_host_results:
            return data
        fresh = self.status(with_hosts=True)
        if self.progress is not None:
            self.progress.observe(fresh)
        return fresh

    def _retry_failed(self, data: dict[str, Any], options: WaitOptions) -> tuple[bool, dict[str, Any]]:
        """retry_failed_hosts: send step operation 2 (RETRY_FAIL_IP) for the failed step of a job that ended failed, while
        that step has retries left; whether the job runs again, and the status data (read again with host results).

        Rounds are counted per step (``JobInstance.retried``): each failed step gets ``retry_failed_hosts`` retries, so a
        host runs a step at most 1 + retry_failed_hosts times. JOB runs the step again on its failed hosts only
        (TaskExecuteServiceImpl.retryStepFail accepts a step in 4, 9 or 11 and sets the job running before it answers);
        hosts that succeeded keep their result (3, "succeeded last time"). A step whose failed hosts are known and
        are none is not retried. A refused retry (a permission, a JOB that cannot) is warned about, and the job's failure
        reported as it is; an unclear answer counts as sent when the job reads as running again. In check mode nothing
        is sent: a warning says what would be, and the failure is reported as it is.
        """
        steps = data.get("step_instance_list") or []
        step = next((step for step in steps if step.get("status") in FAILED_STEP_STATUSES), None)
        # Never a confirmation step: JOB accepts operation 2 on one and then no handler runs it, so the job would stay
        # running for good (ConfirmStepEventHandler handles no retry).
        if step is None or step.get("type") == STEP_TYPE_APPROVAL or step.get("step_instance_id") in self._retry_stopped:
            return False, data
        step_id = step.get("step_instance_id")
        record = self.retried.get(step_id)
        if record is not None and record["rounds"] >= options.retry_failed_hosts:
            return False, data
        data = self._with_hosts(data)
        step = next((item for item in data.get("step_instance_list") or [] if item.get("step_instance_id") == step_id), step)
        failed = [host for host in step.get("step_ip_result_list") or [] if host_failed(host.get("status"))]
        if self.had_hosts and not failed:
            return False, data
        name = step.get("name")
        if record is None:
            record = self.retried[step_id] = {"step_instance_id": step_id, "step_name": name, "rounds": 0, "attempts": {}, "hosts": {}}
        for host in failed:
            key = host_key(host)
            record["hosts"].setdefault(key, host)
            record["attempts"].setdefault(key, 1)
        round_no = record["rounds"] + 1
        hosts = plural(len(failed), "failed host") if failed or self.had_hosts else "the failed targets"
        if self.check_mode:
            self.changed_job = True
            self._retry_stopped.add(step_id)
            if not record["rounds"]:
                del self.retried[step_id]
            self.warn(f"Check mode: retry_failed_hosts would retry {hosts} of step '{name}' of job instance {self.job_instance_id} "
                      "(operate_step_instance operation 2); nothing was sent.")
            return False, data
        try:
            _api.operate_step_instance(self.client, self.scope, self.job_instance_id, step_id, STEP_OPERATION_RETRY_FAIL_IP, stage="operate")
        except BKJobError as err:
            if not self._runs_again():
                self._retry_stopped.add(step_id)
                if not record["rounds"]:
                    del self.retried[step_id]  # nothing was retried: no record
                self.warn(f"retry_failed_hosts: JOB did not retry the failed hosts of step '{name}' of job instance {self.job_instance_id} "
                          f"(retry {round_no} of {options.retry_failed_hosts}): {err.msg} The job's failure is reported as it is.")
                return False, data
        self.changed_job = True
        record["rounds"] = round_no
        for host in failed:
            record["attempts"][host_key(host)] += 1
        self._note(f"retrying {hosts} of step '{name}' (retry {round_no} of {options.retry_failed_hosts})")
        return True, data

    def _runs_again(self) -> bool:
        """After an unclear answer to a step operation: whether the job reads as unfinished again (JOB took it)."""
        try:
            current = self.status(with_hosts=False, stage="operate")
        except BKJobError:
            return False
        return not job_finished((current.get("job_instance") or {}).get("status"))

    def _answer_confirmation(self, data: dict[str, Any], options: WaitOptions) -> bool:
        """on_waiting_user confirm / terminate at status 7: whether an answer was sent (the job moves on).

        ``confirm`` sends step operation 6 (CONFIRM_CONTINUE) only while no host of the job has failed (host results,
        or a step whose errors were ignored); otherwise it fails as ``fail`` does, saying why. ``terminate`` sends 9
        (CONFIRM_TERMINATE): JOB ends step and job with 13 (ConfirmStepEventHandler.confirmStepTerminate). JOB takes
        either only from the step's confirm users or roles (TaskExecuteServiceImpl.checkConfirmUser, 1244016 otherwise),
        and only on a confirmation step: a rolling step that waits (also 7) fails here as ``fail`` does. Each step is
        answered once; while JOB has not yet moved on, the wait polls on. In check mode nothing is sent: a warning says
        what would be, the step is marked ``check_mode`` and the wait ends there (as under ``return``).
        """
        choice = options.on_waiting_user
        job = f"Job instance {self.job_instance_id}"
        step = next((item for item in data.get("step_instance_list") or [] if item.get("status") == STATUS_WAITING_USER), None)
        if step is None or step.get("step_instance_id") in self.answered:
            return False  # answered already: JOB has not moved on yet
        name = step.get("name")
        if step.get("type") != STEP_TYPE_APPROVAL:
            raise JobFailedError(f"{job} waits for a person at step '{name}', which is not a confirmation step (a rolling step "
                                 f"paused by JOB): on_waiting_user={choice} answers confirmation steps only. Continue or terminate it "
                                 "in JOB's web console, then attach with blueking.job.job_instance_info.",
                                 stage="wait", code=STATUS_WAITING_USER, message=status_name(STATUS_WAITING_USER))
        if choice == "confirm":
            why = self._failures_so_far(self._with_hosts(data))
            if why:
                raise JobFailedError(f"{job} waits for a person to confirm step '{name}', and on_waiting_user=confirm did not confirm "
                                     f"it: {why}, and confirm only confirms while no host has failed. Look at failed_hosts, then "
                                     "confirm or terminate the step in JOB's web console (or with blueking.job.operate_step_instance).",
                                     stage="wait", code=STATUS_WAITING_USER, message=status_name(STATUS_WAITING_USER))
        code = STEP_OPERATION_CONFIRM_CONTINUE if choice == "confirm" else STEP_OPERATION_CONFIRM_TERMINATE
        if self.check_mode:
            self.changed_job = True
            self.answered[step.get("step_instance_id")] = "check_mode"
            self.warn(f"Check mode: on_waiting_user={choice} would {choice} step '{name}' of job instance {self.job_instance_id} "
                      f"(operate_step_instance operation {code}); nothing was sent, and the job still waits.")
            return False
        try:
            _api.operate_step_instance(self.client, self.scope, self.job_instance_id, step.get("step_instance_id"), code, stage="operate")
        except BKJobError as err:
            if self._answered_elsewhere(step.get("step_instance_id")):
                self.warn(f"on_waiting_user={choice}: step '{name}' of job instance {self.job_instance_id} was answered by someone else "
                          f"meanwhile (JOB answered this task: {err.msg}); the wait goes on.")
                self.answered[step.get("step_instance_id")] = "elsewhere"
                return False
            if err.code == CODE_NOT_IN_CONFIRM_USER_LIST:
                raise err.reword(prefix=f"on_waiting_user={choice}: JOB refused to {choice} step '{name}' of job instance {self.job_instance_id}: ",
                                 suffix="Only the step's confirm users (or roles) may answer it, and this task's user is not among them: "
                                        "add the user to the step's confirm users in the plan, or answer it in JOB's web console.",
                                 stage="operate")
            raise err.reword(prefix=f"on_waiting_user={choice}: answering step '{name}' of job instance {self.job_instance_id} failed: ",
                             suffix="The job may still wait for a person: see it in JOB's web console.", stage="operate")
        self.answered[step.get("step_instance_id")] = choice
        self.changed_job = True
        if choice == "terminate":
            self.terminated_step = name
            self._note(f"terminating the job at confirmation step '{name}' (on_waiting_user=terminate)")
        else:
            self._note(f"confirmed step '{name}' (on_waiting_user=confirm)")
        return True

    @staticmethod
    def _waiting_step_id(data: dict[str, Any]) -> Any:
        step = next((item for item in data.get("step_instance_list") or [] if item.get("status") == STATUS_WAITING_USER), {})
        return step.get("step_instance_id")

    @staticmethod
    def _failures_so_far(data: dict[str, Any]) -> str:
        """Why confirm must not confirm: hosts that failed so far (their current status) or steps whose errors were
        ignored; "" when none. A host that failed and was recovered by retry_failed_hosts has succeeded since."""
        failed_hosts = set()
        ignored = []
        for step in data.get("step_instance_list") or []:
            if step.get("status") in (STATUS_IGNORE_ERROR, *FAILED_STEP_STATUSES):
                ignored.append(step.get("name"))
            for host in step.get("step_ip_result_list") or []:
                if host_failed(host.get("status")):
                    failed_hosts.add(host_key(host))
        if failed_hosts:
            return f"{len(failed_hosts)} host{'' if len(failed_hosts) == 1 else 's'} failed so far"
        if ignored:
            return f"step '{ignored[0]}' failed with its errors ignored"
        return ""

    def _answered_elsewhere(self, step_instance_id: Any) -> bool:
        """After a refused or unclear answer: whether that step no longer waits (someone else, or JOB, answered it)."""
        try:
            current = self.status(with_hosts=False, stage="operate")
        except BKJobError:
            return False
        step = next((item for item in current.get("step_instance_list") or [] if item.get("step_instance_id") == step_instance_id), {})
        return step.get("status") != STATUS_WAITING_USER

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
