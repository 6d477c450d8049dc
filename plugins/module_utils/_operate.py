# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Operations on a job instance (``operate_job_instance``) and on one of its steps (``operate_step_instance``).

For each operation: its JOB code, the statuses JOB accepts it in, the statuses that show its effect is already there
(then nothing is sent and the task is unchanged), and the job statuses it aims at (not a failure when the task waits).
The accepted statuses are bk-job's checks in TaskExecuteServiceImpl (job-execute/service-job-execute/.../execute/
service/impl/TaskExecuteServiceImpl.java): ``terminateJob`` (RUNNING or WAITING_USER), ``startJob`` (BLANK only,
else UNSUPPORTED_OPERATION_REPEAT_START_JOB 1241015) and ``doStepOperation``'s per-operation checks (every other
refusal is UNSUPPORTED_OPERATION 1241003). ``Operator`` runs one operation: read, decide, send (not in check mode),
and on JOB's refusal read again, since someone else may have done the same in between.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from ansible_collections.blueking.job.plugins.module_utils import _api
from ansible_collections.blueking.job.plugins.module_utils._api import (
    CODE_REPEAT_START,
    CODE_TASK_INSTANCE_NOT_EXIST,
    CODE_UNSUPPORTED_OPERATION,
    STATUS_ABNORMAL_STATE,
    STATUS_BLANK,
    STATUS_CONFIRM_TERMINATED,
    STATUS_FAIL,
    STATUS_IGNORE_ERROR,
    STATUS_RUNNING,
    STATUS_SKIPPED,
    STATUS_STOP_SUCCESS,
    STATUS_STOPPING,
    STATUS_SUCCESS,
    STATUS_TERMINATED,
    STATUS_WAITING_USER,
    STEP_TYPE_APPROVAL,
    STEP_TYPE_NAMES,
)
from ansible_collections.blueking.job.plugins.module_utils._args import (
    HOST_RESULT_CHOICES,
    WAIT_ARGSPEC,
    job_instance_url,
    positive_int,
    scope_params,
    wait_options,
)
from ansible_collections.blueking.job.plugins.module_utils._errors import BKJobError, InputError, JobFailedError, keeping
from ansible_collections.blueking.job.plugins.module_utils._report import FINISHED_STATUSES, STATUSES, JobInstance, status_name

# The options of both operate modules besides their own: the instance and job_instance_info's wait options.
INSTANCE_ARGSPEC: dict[str, Any] = {
    "job_instance_id": {"type": "int", "required": True},
    "wait": {"type": "bool", "default": False},
    "host_results": {"type": "str", "default": "none", "choices": list(HOST_RESULT_CHOICES)},
    **WAIT_ARGSPEC,
}


class Operation(NamedTuple):
    """One operation: JOB's ``operation_code``, the statuses JOB accepts it in (``applies``), the statuses that show its
    effect is there (``done``), whether it acts on confirmation steps only (else on script, file and SQL steps only: the
    engine's ConfirmStepEventHandler handles the confirm operations alone, GseStepEventHandler the others), and the final
    job statuses it aims at (``ends``: with ``wait`` they end the task successfully instead of failing it)."""

    code: int
    applies: frozenset
    done: frozenset
    confirm_only: bool = False
    ends: frozenset = frozenset()


# TaskOperationEnum; TaskExecuteServiceImpl.startJob / terminateJob.
JOB_OPERATIONS: dict[str, Operation] = {
    # Only a BLANK job (created with start_task false) starts; any other status means it was started already.
    "start": Operation(_api.TASK_OPERATION_START, frozenset({STATUS_BLANK}), frozenset(set(STATUSES) - {STATUS_BLANK})),
    # Only a running or waiting job is terminated; a finished or terminating one has nothing left to stop.
    "terminate": Operation(_api.TASK_OPERATION_TERMINATE, frozenset({STATUS_RUNNING, STATUS_WAITING_USER}),
                           FINISHED_STATUSES | {STATUS_STOPPING}, ends=frozenset({STATUS_TERMINATED, STATUS_STOP_SUCCESS})),
}

RETRYABLE = frozenset({STATUS_FAIL, STATUS_ABNORMAL_STATE, STATUS_STOP_SUCCESS})  # TaskExecuteServiceImpl.isStepRetryable
# StepOperationEnum; TaskExecuteServiceImpl.doStepOperation and the method each operation calls.
STEP_OPERATIONS: dict[str, Operation] = {
    # retryStepFail / retryStepAll: FAIL, ABNORMAL_STATE or STOP_SUCCESS; the retried step runs, then succeeds.
    "retry_failed": Operation(_api.STEP_OPERATION_RETRY_FAIL_IP, RETRYABLE, frozenset({STATUS_RUNNING, STATUS_SUCCESS})),
    "retry_all": Operation(_api.STEP_OPERATION_RETRY_ALL_IP, RETRYABLE, frozenset({STATUS_RUNNING, STATUS_SUCCESS})),
    # ignoreError accepts FAIL or ABNORMAL_STATE, but the engine (engine/listener/GseStepEventHandler.ignoreError) acts
    # on FAIL only and leaves an ABNORMAL_STATE step as it is: sent for FAIL only. The step then shows IGNORE_ERROR.
    "ignore_error": Operation(_api.STEP_OPERATION_IGNORE_ERROR, frozenset({STATUS_FAIL}), frozenset({STATUS_IGNORE_ERROR})),
    # confirmContinue / confirmTerminate: a MANUAL_CONFIRM step in WAITING_USER; confirmRestart: one CONFIRM_TERMINATED.
    "confirm_continue": Operation(_api.STEP_OPERATION_CONFIRM_CONTINUE, frozenset({STATUS_WAITING_USER}), frozenset({STATUS_SUCCESS}),
                                  confirm_only=True),
    "confirm_terminate": Operation(_api.STEP_OPERATION_CONFIRM_TERMINATE, frozenset({STATUS_WAITING_USER}),
                                   frozenset({STATUS_CONFIRM_TERMINATED}), confirm_only=True,
                                   ends=frozenset({STATUS_CONFIRM_TERMINATED})),
    "confirm_restart": Operation(_api.STEP_OPERATION_CONFIRM_RESTART, frozenset({STATUS_CONFIRM_TERMINATED}),
                                 frozenset({STATUS_WAITING_USER}), confirm_only=True),
    # nextStep: STOP_SUCCESS; the engine then marks the stopped step SKIPPED and the job goes on.
    "next_step": Operation(_api.STEP_OPERATION_NEXT_STEP, frozenset({STATUS_STOP_SUCCESS}), frozenset({STATUS_SKIPPED})),
    # skipStep: STOPPING; the step then shows SKIPPED.
    "skip": Operation(_api.STEP_OPERATION_SKIP, frozenset({STATUS_STOPPING}), frozenset({STATUS_SKIPPED})),
}

# Where a job stops at a step, for the default step: waiting for a person first, then a step that failed or was stopped.
STOPPED_STEP_STATUSES = (STATUS_FAIL, STATUS_ABNORMAL_STATE, STATUS_STOPPING, STATUS_STOP_SUCCESS, STATUS_CONFIRM_TERMINATED)


def described(status: Any) -> str:
    """``running (2)``."""
    return f"{status_name(status)} ({status})"


def statuses_text(statuses: frozenset) -> str:
    """``failed (4), abnormal (9) or terminate_success (11)``."""
    names = [described(status) for status in sorted(statuses)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def applicable(table: dict[str, Operation], status: Any, step_type: Any = None) -> list[str]:
    """The operations of ``table`` that JOB accepts for this status (and step type; None for the job's operations)."""
    return [name for name, operation in table.items()
            if status in operation.applies and (step_type is None or operation.confirm_only == (step_type == STEP_TYPE_APPROVAL))]


def step_line(step: dict[str, Any]) -> str:
    """``30000002 'approve' (confirm) waiting_user (7)``: how a step is named in messages."""
    kind = STEP_TYPE_NAMES.get(step.get("type"), f"type {step.get('type')}")
    return f"{step.get('step_instance_id')} '{step.get('name')}' ({kind}) {described(step.get('status'))}"


def steps_text(steps: list[dict[str, Any]]) -> str:
    return "; ".join(step_line(step) for step in steps) or "none"


def choose_step(steps: list[dict[str, Any]], job_instance_id: int, operation: str, *, step_instance_id: int | None = None,
                step_name: str | None = None) -> dict[str, Any]:
    """The step to act on, from ``get_job_instance_status``'s ``step_instance_list``.

    By ``step_instance_id`` or exact ``step_name`` when given; otherwise the one step that waits for a person (7),
    else the one that failed or was stopped (STOPPED_STEP_STATUSES), else (a task run again after its operation) the
    one step showing the operation's effect where that effect marks a step (ignored, skipped, confirm-terminated, a
    confirmed confirmation step, a retried step: JOB's execute_count above 0). Raises InputError (stage operate) listing the steps
    when there is none or more than one.
    """
    job = f"job instance {job_instance_id}"
    if step_instance_id is not None:
        found = [step for step in steps if step.get("step_instance_id") == step_instance_id]
        if not found:
            raise InputError(f"Step instance {step_instance_id} is not a step of {job}. Its steps: {steps_text(steps)}.", stage="operate")
        return found[0]
    if step_name is not None:
        found = [step for step in steps if step.get("name") == step_name]
        if len(found) != 1:
            what = "No step" if not found else f"{len(found)} steps"
            raise InputError(f"{what} of {job} named '{step_name}'{'' if not found else ': use step_instance_id'}. "
                             f"Its steps: {steps_text(steps)}.", stage="operate")
        return found[0]
    marked = _effect_marks(STEP_OPERATIONS[operation], operation)
    for label, candidates in (
            ("wait for a person", [step for step in steps if step.get("status") == STATUS_WAITING_USER]),
            ("failed or were stopped", [step for step in steps if step.get("status") in STOPPED_STEP_STATUSES]),
            (f"show the effect of {operation}", [step for step in steps if marked(step)])):
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise InputError(f"{len(candidates)} steps of {job} {label}: name one with step_name or step_instance_id. "
                             f"Its steps: {steps_text(steps)}.", stage="operate")
    raise InputError(f"No step of {job} waits for a person or failed, so there is no step to {operation} by default: name one "
                     f"with step_name or step_instance_id. Its steps: {steps_text(steps)}.", stage="operate")


def _effect_marks(operation: Operation, name: str) -> Callable[[dict[str, Any]], bool]:
    """Whether a step shows ``operation``'s effect in a way that tells it from the job's other steps."""
    if name in ("retry_failed", "retry_all"):
        # each retry raises the step's execute_count (0 for the first run; EsbJobInstanceStatusV3DTO's execute_count)
        return lambda step: (isinstance(step.get("execute_count"), int) and step["execute_count"] > 0 and step.get("status") in operation.done
                             and step.get("type") != STEP_TYPE_APPROVAL)
    return lambda step: (step.get("type") == STEP_TYPE_APPROVAL) == operation.confirm_only and step.get("status") in operation.done


def operator_for(module: Any, client: Any) -> "Operator":
    """The Operator of an operate module's task (INSTANCE_ARGSPEC's options checked): its job read by a
    ``_report.JobInstance``, or by a ``_wait.JobWatcher`` with progress lines when the task waits; ``known`` starts with
    ``changed: false``, the instance id and its link."""
    params = module.params
    options = wait_options(params)
    job_instance_id = positive_int(params["job_instance_id"], "job_instance_id")
    scope = scope_params(params)
    known: dict[str, Any] = {"changed": False, "job_instance_id": job_instance_id}
    url = job_instance_url(params, job_instance_id)
    if url:
        known["job_instance_url"] = url
    if params["wait"]:
        # Imported only here: a task that does not wait never loads (and, from AnsiballZ's zip, compiles) the wait.
        from ansible_collections.blueking.job.plugins.module_utils import _progress
        from ansible_collections.blueking.job.plugins.module_utils._wait import JobWatcher

        job = JobWatcher(client, scope, job_instance_id, warn=module.warn, progress=_progress.for_wait(options))
    else:
        job = JobInstance(client, scope, job_instance_id, warn=module.warn)
    return Operator(client, scope, job, known, options, check_mode=module.check_mode)


class Operator:
    """Runs one operation on one job instance: ``job`` (a ``_report.JobInstance``, or a ``_wait.JobWatcher`` when the
    task waits) reads it, ``known`` (result keys, kept by every failure) grows as the task learns, ``options`` are the
    task's WaitOptions, ``check_mode`` sends nothing. ``note`` (the result's ``msg``) says what was done, or why
    nothing was sent."""

    def __init__(self, client: Any, scope: dict[str, Any], job: Any, known: dict[str, Any], options: Any, *,
                 check_mode: bool) -> None:
        self.client = client
        self.scope = scope
        self.job = job
        self.known = known
        self.options = options
        self.check_mode = check_mode
        self.note = ""

    @property
    def job_instance_id(self) -> int:
        return self.job.job_instance_id

    def read(self) -> dict[str, Any]:
        """The job's status with host results; the report reuses it unless an operation is sent."""
        with keeping(self.known):
            try:
                data = self.job.status(with_hosts=True, stage="operate")
            except BKJobError as err:
                if err.code == CODE_TASK_INSTANCE_NOT_EXIST:
                    raise err.reword(prefix=f"Job instance {self.job_instance_id} does not exist in this scope: ")
                raise
        self.job.final = data if self.job.had_hosts else None
        return data

    def refuse(self, msg: str) -> InputError:
        """An operation that does not apply: the failure carries the instance as read."""
        err = InputError(msg, stage="operate")
        err.keep(self.known)
        try:
            err.keep(self.job.report(self.options, output_vars=False))
        except BKJobError:
            pass
        return err

    def run(self, what: str | Callable[[], str], verdict: Callable[[dict[str, Any]], str], send: Callable[[], Any]) -> None:
        """Read, decide (``verdict(data)``: "act" or "done" with ``note`` set, or raises), send unless done or in check
        mode, and on JOB's refusal (1241003/1241015) read again: an effect now there is unchanged, anything else fails
        naming the status. ``what``: the operation as messages name it (``terminate``), or a function giving it once the
        first verdict is known (``retry_failed on step 30000001``)."""
        data = self.read()
        if verdict(data) == "done":
            return
        what = what() if callable(what) else what
        if self.check_mode:
            self.known["changed"] = True
            self.note = f"Check mode: would send {what}."
            return
        try:
            with keeping(self.known):
                send()
        except BKJobError as err:
            if err.reached_job is None:
                self._unclear(err, what, verdict)
                return
            if err.code not in (CODE_UNSUPPORTED_OPERATION, CODE_REPEAT_START):
                raise err.reword(prefix=f"Sending {what} failed: ")
            data = self.read()
            if verdict(data) == "done":
                self.note = f"{self.note} (JOB refused {what} with {err.code}: it had just been done by someone else.)"
                return
            raise err.reword(prefix=f"JOB refused {what}: ", suffix=f"Job instance {self.job_instance_id} is now "
                                                                    f"{described(job_status(data))}.")
        self.job.final = None  # the report reads the job as it is after the operation
        self.known["changed"] = True
        self.note = f"Sent {what}."

    def _unclear(self, err: BKJobError, what: str, verdict: Callable[[dict[str, Any]], str]) -> None:
        """An answer that leaves open whether JOB did it (lost, 5xx, timeout; never sent again, _client.MUTATING_APIS):
        read the job, and count the operation as sent when its effect shows; otherwise fail, saying so."""
        try:
            shown = verdict(self.read()) == "done"
        except BKJobError:
            shown = False
        if not shown:
            raise err.reword(prefix=f"The answer to {what} was lost, and job instance {self.job_instance_id} does not show its "
                                    "effect (yet): ", suffix="Check the job in JOB; running the task again is safe, it sends "
                                                             "nothing once the effect is there.")
        self.job.final = None
        self.known["changed"] = True
        self.note = f"Sent {what}; JOB's answer was lost ({err.msg}), but the job shows its effect."

    def finish(self, *, wait: bool, ends: frozenset) -> dict[str, Any]:
        """The result: with ``wait``, wait for the job and apply the outcome rules (a job ending in one of ``ends``, the
        status the operation aimed at, is a success); without, the job as it is now, not judged. Adds ``job_plan_id``
        as job_instance_info does, and ``msg`` (``note``)."""
        try:
            if wait:
                result = self.job.wait_and_report(self.options, known=self.known)
            else:
                with keeping(self.known):
                    result = {**self.known, **self.job.report(self.options)}
        except JobFailedError as err:
            if err.code not in ends or "steps" not in err.result:
                raise self._with_plan(err)
            result = dict(err.result)
        except BKJobError as err:
            raise self._with_plan(err)
        result["job_plan_id"] = self.job.plan_id(result.get("create_time"))
        result["msg"] = self.note
        return result

    def _with_plan(self, err: BKJobError) -> BKJobError:
        err.keep(self.known)
        if err.result.get("create_time"):
            err.keep({"job_plan_id": self.job.plan_id(err.result["create_time"])})
        return err

    # ---------------------------------------------------------------------------------- verdicts
    def job_verdict(self, name: str) -> Callable[[dict[str, Any]], str]:
        """``verdict`` for a JOB_OPERATIONS operation on the job."""
        operation = JOB_OPERATIONS[name]

        def verdict(data: dict[str, Any]) -> str:
            status = job_status(data)
            job = f"job instance {self.job_instance_id}"
            if status in operation.applies:
                return "act"
            if status in operation.done:
                why = "it has been started already" if name == "start" else "it has ended or is being terminated"
                self.note = f"Nothing sent: {job} is {described(status)}, {why}."
                return "done"
            others = applicable(JOB_OPERATIONS, status)
            raise self.refuse(f"Cannot {name} {job}: it is {described(status)}, and {name} applies to a job that is "
                              f"{statuses_text(operation.applies)}. "
                              + (f"What applies to it: {', '.join(others)}." if others else "No operation applies to it."))
        return verdict

    def step_verdict(self, name: str, *, step_instance_id: int | None, step_name: str | None) -> Callable[[dict[str, Any]], str]:
        """``verdict`` for a STEP_OPERATIONS operation; the first read chooses the step (``choose_step``) and puts its
        ``step_instance_id`` and ``step_name`` into ``known``."""
        operation = STEP_OPERATIONS[name]

        def verdict(data: dict[str, Any]) -> str:
            steps = data.get("step_instance_list") or []
            chosen = self.known.get("step_instance_id") or step_instance_id
            try:
                step = choose_step(steps, self.job_instance_id, name, step_instance_id=chosen, step_name=None if chosen else step_name)
            except InputError as err:
                raise self.refuse(err.msg)
            self.known.update(step_instance_id=step.get("step_instance_id"), step_name=step.get("name"))
            status, step_type = step.get("status"), step.get("type")
            where = f"step {step_line(step)} of job instance {self.job_instance_id}"
            if operation.confirm_only and step_type != STEP_TYPE_APPROVAL:
                reason = f"{name} applies to confirmation steps only"
            elif not operation.confirm_only and step_type == STEP_TYPE_APPROVAL:
                reason = f"{name} applies to script, file and SQL steps only (JOB does nothing with it on a confirmation step)"
            elif status in operation.applies:
                return "act"
            elif status in operation.done:
                self.note = f"Nothing sent: {where} already shows the effect of {name}."
                return "done"
            else:
                reason = f"{name} applies to a step that is {statuses_text(operation.applies)}"
            others = applicable(STEP_OPERATIONS, status, step_type)
            raise self.refuse(f"Cannot {name} {where}: {reason}. "
                              + (f"What applies to it: {', '.join(others)}." if others else "No step operation applies to it."))
        return verdict


def job_status(data: dict[str, Any]) -> Any:
    return (data.get("job_instance") or {}).get("status")
