# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Launch a job plan so that it starts at most once, and never take another launch's job for this one's.

The launch has two phases where JOB allows it (bk-job 3.10 on, commit bec6b0af4 "#3522"; paths under
``src/backend/job-execute/service-job-execute/.../execute/``):

1. ``execute_job_plan`` with ``start_task: false`` creates the instance and starts nothing: it stays in status 1
   (RunStatusEnum.BLANK), since ``TaskExecuteServiceImpl.executeJobPlan`` dispatches ``JobEvent.startJob`` only
   when ``startTask`` is true.
2. ``operate_job_instance`` code 2 (TaskOperationEnum.START_JOB) starts that id. ``TaskExecuteServiceImpl.startJob``
   starts only a BLANK instance and refuses any other with 1241015, and ``engine/listener/JobListener.startJob``
   again ignores a start of an instance that is no longer BLANK: a start whose answer was lost can be sent again.

A create whose answer is unclear (``reached_job is None``) can then only have left an instance that never starts,
so the create is sent again and the leftovers JOB shows are named in a warning: no guess, no adoption. JOB before
3.10 ignores ``start_task`` (the create starts the job) and refuses code 2 with ILLEGAL_PARAM 1241002
(``api/esb/v3/EsbOperateJobInstanceV3ResourceImpl.checkRequest``). Before creating again the task therefore asks
JOB which it is, harmlessly: code 2 on an id that cannot exist is 1244006 (TASK_INSTANCE_NOT_EXIST,
``queryTaskInstanceAndCheckExist``) on a JOB that knows code 2, 1241002 on one that does not. On such an old JOB,
and when the user sets ``start_task: true`` (JOB's own one-step launch), an unclear answer cannot be resolved:
the task fails, says the job may have started and names the instances that could be it.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ansible_collections.blueking.job.plugins.module_utils._api import (
    CODE_ILLEGAL_PARAM,
    CODE_REPEAT_START,
    CODE_TASK_INSTANCE_NOT_EXIST,
    LAUNCH_MODE_API,
    STATUS_BLANK,
    TASK_OPERATION_START,
    TASK_TYPE_NORMAL,
    execute_job_plan,
    get_job_instance_list,
    get_job_instance_status,
    operate_job_instance,
)
from ansible_collections.blueking.job.plugins.module_utils._errors import APIError, BKJobError

SCOPE_KEYS = ("bk_biz_id", "bk_scope_type", "bk_scope_id")
# An id no instance can have (Long.MAX_VALUE): asking JOB to start it tells whether JOB knows operation code 2.
PROBE_JOB_INSTANCE_ID = 2 ** 63 - 1
CREATE_ATTEMPTS = 3  # creates sent in all when the answers are unclear; each can leave one unstarted instance
START_ATTEMPTS = 3  # starts sent in all; a start is sent again only while the instance is still BLANK
PROBE_ATTEMPTS = 3  # the question whether JOB knows operation code 2, asked again after an unclear answer
SETTLE_READS = 3  # status reads after an unclear start, one second apart, before the start is sent again
WINDOW_SECONDS = 60  # tolerance around the send for clock skew between the controller and JOB
LOOKUP_ATTEMPTS = 3  # JOB may record an instance a moment after the connection broke
CANDIDATES_SHOWN = 20


def ambiguous(err: BKJobError) -> bool:
    """Whether JOB may have done the request although the answer was not clear (see BKJobError.reached_job)."""
    return err.reached_job is None


def launch_once(client: Any, payload: dict[str, Any], *, operator: str | None, warn: Callable[[str], None],
                link: Callable[[Any], str | None] | None = None, wall_clock: Callable[[], float] = time.time,
                sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Create and start the job of ``payload`` (the ``execute_job_plan`` request) at most once.

    Returns ``job_instance_id``, ``job_instance_name`` and ``request_id`` (of the create). ``operator`` is the
    user JOB records for this task (``bk_username``), None when the task cannot know it (``bk_token``,
    ``bk_access_token``); ``link`` turns an id into its ``job_instance_url`` (None without ``bk_job_web_url``).
    ``payload["start_task"]`` false only creates; true is JOB's one-step launch. Raises the client's
    ``BKJobError``; once an instance exists its id is in the error's ``result``.
    """
    return _Launch(client, payload, operator, warn, link or (lambda _id: None), wall_clock, sleep).run()


class _Launch:
    def __init__(self, client: Any, payload: dict[str, Any], operator: str | None, warn: Callable[[str], None],
                 link: Callable[[Any], str | None], wall_clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.client = client
        self.scope = {key: payload[key] for key in SCOPE_KEYS if key in payload}
        self.job_plan_id = payload["job_plan_id"]
        self.fields = {"global_var_list": payload.get("global_var_list"), "callback_url": payload.get("callback_url")}
        self.start_task = payload.get("start_task")
        self.operator = operator
        self.warn = warn
        self.link = link
        self.wall_clock = wall_clock
        self.sleep = sleep
        self.first_sent: float | None = None
        self.unclear: list[BKJobError] = []  # creates whose answer was lost; each may have left an unstarted instance

    def run(self) -> dict[str, Any]:
        created = self._create()
        if self.start_task is None:
            self._start(created)
        if self.unclear:
            self._name_leftovers(created["job_instance_id"])
        return created

    # ------------------------------------------------------------------------------------------ create
    def _create(self) -> dict[str, Any]:
        start_task = self.start_task is True
        honours_start_task: bool | None = None
        attempt = 0
        while True:
            attempt += 1
            if self.first_sent is None:
                self.first_sent = self.wall_clock()
            try:
                return execute_job_plan(self.client, self.scope, self.job_plan_id, start_task=start_task, stage="launch", **self.fields)
            except BKJobError as err:
                if not ambiguous(err):
                    if self.unclear:
                        err.reword(suffix=self._leftover_note(None))
                    raise
                if start_task:
                    raise self._unprovable(err, "start_task is true, so JOB created and started it in one step if the request reached it")
                if honours_start_task is None:
                    honours_start_task = self._knows_start_operation()
                if not honours_start_task:
                    raise self._unprovable(err, "this JOB does not keep a created job unstarted (start_task needs bk-job 3.10 or later), "
                                                "so the lost create may have started it")
                self.unclear.append(err)
                if attempt == CREATE_ATTEMPTS:
                    raise err.reword(f"{_cause(err)}. The create of job plan {self.job_plan_id} (start_task false) got no clear answer "
                                     f"{_times(attempt)}{self._request_ids()}; nothing was started, since JOB keeps a created job "
                                     f"unstarted. {self._leftover_note(None)}")

    def _knows_start_operation(self) -> bool:
        """Whether JOB knows operation code 2, so that it honours start_task (see the module docstring).

        The question names an instance that cannot exist, so it changes nothing and is asked again after an unclear answer.
        """
        for _attempt in range(PROBE_ATTEMPTS):
            try:
                operate_job_instance(self.client, self.scope, PROBE_JOB_INSTANCE_ID, TASK_OPERATION_START, stage="launch")
            except BKJobError as err:
                if ambiguous(err):
                    continue
                return isinstance(err, APIError) and err.code == CODE_TASK_INSTANCE_NOT_EXIST
            return False  # JOB claims to have started an instance that cannot exist: trust nothing
        return False

    # ------------------------------------------------------------------------------------------ start
    def _start(self, created: dict[str, Any]) -> None:
        job_instance_id = created["job_instance_id"]
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                operate_job_instance(self.client, self.scope, job_instance_id, TASK_OPERATION_START, stage="launch")
                return
            except BKJobError as err:
                if isinstance(err, APIError) and err.code == CODE_REPEAT_START:
                    return  # no longer BLANK: an earlier start of this task (whose answer was lost) went through
                if isinstance(err, APIError) and err.code == CODE_ILLEGAL_PARAM:
                    return  # JOB before 3.10: code 2 is unknown there and the create already started the job
                if not ambiguous(err):
                    raise self._not_started(err, created)
                status = self._settled_status(job_instance_id)
                if status is None:
                    raise err.keep(self._known(created)).reword(
                        suffix=f"Job instance {job_instance_id} was created; whether it started is unknown, since its status "
                               "could not be read either: look at it in JOB before running the task again.")
                if status != STATUS_BLANK:
                    return
                if attempt == START_ATTEMPTS:
                    raise self._not_started(err, created)

    def _settled_status(self, job_instance_id: Any) -> int | None:
        """The instance's status once it left BLANK, or BLANK after SETTLE_READS reads; None when no read succeeded.

        A failed read (the client has already retried a transient one) does not decide: the next read is made.
        """
        status = None
        for read in range(SETTLE_READS):
            try:
                data = get_job_instance_status(self.client, self.scope, job_instance_id, return_ip_result=False, stage="launch")
            except BKJobError:
                if read < SETTLE_READS - 1:
                    self.sleep(1.0)
                continue
            status = data["job_instance"].get("status")
            if status != STATUS_BLANK:
                return status
            if read < SETTLE_READS - 1:
                self.sleep(1.0)
        return status

    def _not_started(self, err: BKJobError, created: dict[str, Any]) -> BKJobError:
        job_instance_id = created["job_instance_id"]
        url = self.link(job_instance_id)
        where = f"JOB's web console ({url})" if url else "JOB's web console"
        return err.keep(self._known(created)).reword(
            suffix=f"Job instance {job_instance_id} was created but not started (status 1, it never runs on its own): "
                   f"start it in {where} or through JOB's operate_job_instance API (job_instance_id {job_instance_id}, "
                   "operation_code 2), or run the task again, which creates a new one.")

    def _known(self, created: dict[str, Any]) -> dict[str, Any]:
        known = {"changed": True, **created}
        url = self.link(created["job_instance_id"])
        if url:
            known["job_instance_url"] = url
        return known

    # ------------------------------------------------------------------------------------------ naming instances
    def _unprovable(self, err: BKJobError, why: str) -> BKJobError:
        """The failure after an unclear answer the task cannot resolve: the job may have started; the candidates."""
        try:
            candidates = self._instances(status=None, exclude=None, retry_empty=True)
        except BKJobError as lookup_err:
            return err.reword(suffix=f"The task cannot tell whether it created a job: {why}. JOB's history could not be searched "
                                     f"either ({lookup_err.msg}): look for job plan {self.job_plan_id} in JOB's execution history before "
                                     "running the task again.")
        whose = f"by {self.operator}" if self.operator else "by any operator (with bk_token or bk_access_token the task cannot know its own)"
        if candidates:
            found = f"Instances of job plan {self.job_plan_id} launched through the API {whose} around the send: {self._describe(candidates)}."
        else:
            found = f"No instance of job plan {self.job_plan_id} launched through the API {whose} appears in JOB's history yet."
        return err.reword(suffix=f"The task cannot tell whether it created a job{self._request_ids(err)}: {why}. None is adopted on plan "
                                 f"and time alone. {found} Check them in JOB's execution history before running the task again.")

    def _name_leftovers(self, job_instance_id: Any) -> None:
        self.warn(f"The create of job plan {self.job_plan_id} (start_task false) got no clear answer {_times(len(self.unclear))}"
                  f"{self._request_ids()}: {_cause(self.unclear[0])}. It was sent again; job instance {job_instance_id} is this task's. "
                  f"{self._leftover_note(job_instance_id)}")

    def _leftover_note(self, exclude: Any) -> str:
        """Where the unstarted instances a lost create may have left are, named when JOB shows them."""
        try:
            # retried while empty: after a read timeout JOB may record the lost create a moment later
            leftovers = self._instances(status=STATUS_BLANK, exclude=exclude, retry_empty=True)
        except BKJobError as lookup_err:
            return f"A lost create can leave an instance that never starts; JOB's history could not be searched for it ({lookup_err.msg})."
        if not leftovers:
            return "No unstarted instance of the plan appears in JOB's history: the lost create did not reach JOB, or JOB records it later; it never starts."
        return (f"Unstarted instances of job plan {self.job_plan_id} that a lost create may have left (they never run on their own, "
                f"nothing was started twice): {self._describe(leftovers)}.")

    def _instances(self, *, status: int | None, exclude: Any, retry_empty: bool) -> list[dict[str, Any]]:
        sent = self.first_sent if self.first_sent is not None else self.wall_clock()
        found: list[dict[str, Any]] = []
        for attempt in range(LOOKUP_ATTEMPTS if retry_empty else 1):
            if attempt:
                self.sleep(1.0)
            items = get_job_instance_list(
                self.client, self.scope, create_time_start=int((sent - WINDOW_SECONDS) * 1000),
                create_time_end=int((self.wall_clock() + WINDOW_SECONDS) * 1000), stage="launch", launch_mode=LAUNCH_MODE_API,
                type=TASK_TYPE_NORMAL, operator=self.operator, status=status)
            found = [item for item in items if item.get("job_plan_id") == self.job_plan_id and item["job_instance_id"] != exclude
                     and (not self.operator or item.get("operator") in (None, self.operator))
                     and (status is None or item.get("status") == status)]
            if found:
                break
        return found

    def _describe(self, instances: list[dict[str, Any]]) -> str:
        shown = []
        for item in instances[:CANDIDATES_SHOWN]:
            url = self.link(item["job_instance_id"])
            details = ", ".join(part for part in (url, f"operator {item.get('operator')}" if item.get("operator") else None,
                                                  f"status {item.get('status')}") if part)
            shown.append(f"{item['job_instance_id']} ({details})")
        more = f" and {len(instances) - CANDIDATES_SHOWN} more" if len(instances) > CANDIDATES_SHOWN else ""
        return "; ".join(shown) + more

    def _request_ids(self, err: BKJobError | None = None) -> str:
        ids = [e.request_id for e in ([err] if err is not None else self.unclear) if e.request_id]
        return f" (request id {', '.join(ids)})" if ids else " (no request id was received)"


def _cause(err: BKJobError) -> str:
    """What went wrong, without the client's advice for a launch nobody followed up (this task did)."""
    return err.msg.split(": the job may have started", 1)[0].rstrip(".")


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"
