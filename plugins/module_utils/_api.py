# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Every JOB v3 API the collection calls: one function per API, typed arguments in, a checked answer out.

Nothing else in the collection builds a JOB request. Each function takes a ``Client`` (``_client``), the
scope (``bk_scope_type``/``bk_scope_id`` or ``bk_biz_id``, as ``_args.scope_params`` gives it) and the API's
own fields; it returns ``data`` normalised (an instance's id is always ``job_instance_id``, lists are lists)
and raises the ``_errors`` classes: ``InvalidResponseError`` when a success lacks what the API promises,
whatever ``Client.call`` raises otherwise (the retry and the transient/unclear/final split of every answer
live in ``_client.Client``).

JOB's codes are named here after bk-job's enums (paths under ``src/backend/`` of TencentBlueKing/bk-job).
"""

from __future__ import annotations

from typing import Any, Iterator

from ansible_collections.blueking.job.plugins.module_utils._errors import InvalidResponseError

# RunStatusEnum (job-execute/api-job-execute/.../execute/common/constants/RunStatusEnum.java): job and step status.
STATUS_BLANK = 1
STATUS_RUNNING = 2
STATUS_SUCCESS = 3
STATUS_FAIL = 4
STATUS_SKIPPED = 5
STATUS_IGNORE_ERROR = 6
STATUS_WAITING_USER = 7
STATUS_TERMINATED = 8
STATUS_ABNORMAL_STATE = 9
STATUS_STOPPING = 10
STATUS_STOP_SUCCESS = 11
STATUS_CONFIRM_TERMINATED = 13
STATUS_ABANDONED = 14
STATUS_ROLLING_WAITING = 15

# TaskTypeEnum (job-execute/api-job-execute/.../execute/common/constants/TaskTypeEnum.java): what an instance ran.
TASK_TYPE_NORMAL = 0  # a job plan
TASK_TYPE_SCRIPT = 1  # a quick script
TASK_TYPE_FILE = 2  # a quick file transfer

# TaskStartupModeEnum (job-execute/api-job-execute/.../execute/common/constants/TaskStartupModeEnum.java): launch_mode.
LAUNCH_MODE_WEB = 1
LAUNCH_MODE_API = 2
LAUNCH_MODE_CRON = 3

# TaskOperationEnum (job-execute/service-job-execute/.../execute/constants/TaskOperationEnum.java): operation_code of
# operate_job_instance.
TASK_OPERATION_TERMINATE = 1
TASK_OPERATION_START = 2

# StepOperationEnum (job-execute/service-job-execute/.../execute/constants/StepOperationEnum.java): operation_code of
# operate_step_instance.
STEP_OPERATION_RETRY_FAIL_IP = 2
STEP_OPERATION_IGNORE_ERROR = 3
STEP_OPERATION_CONFIRM_CONTINUE = 6
STEP_OPERATION_RETRY_ALL_IP = 8
STEP_OPERATION_CONFIRM_TERMINATE = 9
STEP_OPERATION_CONFIRM_RESTART = 10
STEP_OPERATION_NEXT_STEP = 11
STEP_OPERATION_SKIP = 12
STEP_OPERATION_ROLLING_CONTINUE = 13

# StepExecuteTypeEnum (job-execute/api-job-execute/.../execute/common/constants/StepExecuteTypeEnum.java) and
# TaskStepTypeEnum (job-manage/api-common-job-manage/.../manage/api/common/constants/task/TaskStepTypeEnum.java):
# a step's type in instances and in plans.
STEP_TYPE_SCRIPT = 1
STEP_TYPE_FILE = 2
STEP_TYPE_APPROVAL = 3
STEP_TYPE_SQL = 4
STEP_TYPE_NAMES = {STEP_TYPE_SCRIPT: "script", STEP_TYPE_FILE: "file", STEP_TYPE_APPROVAL: "confirm", STEP_TYPE_SQL: "sql"}
# Steps whose hosts have logs: a SQL step runs as a script on its hosts and logs like one.
LOGGED_STEP_TYPES = frozenset({STEP_TYPE_SCRIPT, STEP_TYPE_FILE, STEP_TYPE_SQL})

# TaskVariableTypeEnum (commons/common/.../common/constant/TaskVariableTypeEnum.java): global variable types.
VAR_TYPE_STRING = 1
VAR_TYPE_NAMESPACE = 2
VAR_TYPE_HOST_LIST = 3
VAR_TYPE_CIPHER = 4
VAR_TYPE_ASSOCIATIVE_ARRAY = 5
VAR_TYPE_INDEX_ARRAY = 6

# ExecuteObjectTaskStatusEnum (job-execute/service-job-execute/.../execute/engine/consts/ExecuteObjectTaskStatusEnum.java):
# per-host status; 9 success, 3 "succeeded last time", 5 waiting, 7 running.
HOST_STATUS_LAST_SUCCESS = 3
HOST_STATUS_WAITING = 5
HOST_STATUS_RUNNING = 7
HOST_STATUS_SUCCESS = 9

# ErrorCode (commons/common/.../common/constant/ErrorCode.java): the answers the collection explains. The one table
# of JOB's codes: _client classifies answers by it too (it imports these; _api imports nothing of _client's).
CODE_SERVICE_UNAVAILABLE = 1240001
CODE_INTERNAL_ERROR = 1240002
CODE_BAD_REQUEST = 1240003  # bean validation (EsbResp.buildValidateFailResp)
CODE_ILLEGAL_PARAM = 1241002  # also JOB before 3.10's answer to operate_job_instance code 2
CODE_ILLEGAL_PARAM_WITH_PARAM_NAME = 1241005
CODE_MISSING_OR_ILLEGAL_PARAM_WITH_PARAM_NAME = 1241007
CODE_ILLEGAL_PARAM_WITH_PARAM_NAME_AND_REASON = 1241010
CODE_ILLEGAL_PARAM_WITH_REASON = 1241012
CODE_UNSUPPORTED_OPERATION = 1241003  # an operation the job's or step's status does not allow (TaskExecuteServiceImpl)
CODE_REPEAT_START = 1241015  # UNSUPPORTED_OPERATION_REPEAT_START_JOB: the instance is no longer BLANK
CODE_TASK_PLAN_NOT_EXIST = 1243009
CODE_TASK_INSTANCE_NOT_EXIST = 1244006
CODE_STEP_INSTANCE_NOT_EXIST = 1244007
CODE_EXECUTE_TASK_PLAN_NOT_EXIST = 1244012
CODE_NOT_IN_CONFIRM_USER_LIST = 1244016  # a confirm operation by someone not among the step's confirm users
# JOB's own gateway (job-gateway, e.g. filter/esb/CheckOpenApiJwtGatewayFilterFactory.java) refusing who calls.
CODE_USER_NOT_EXIST_OR_NOT_LOGIN_IN = 1247001
CODE_MISSING_USER_INFO = 1247002
CODE_MISSING_APP_CODE = 1247004
CODE_USER_ACCESS_APP_FORBIDDEN = 1247403
CODE_MISSING_APP_CODE_LEGACY = 1247404  # "Missing AppCode" in common-i18n message*.properties; no ErrorCode constant
CODE_BK_PERMISSION_DENIED = 9900403  # BlueKing's shared IAM code; the answer carries the ``permission`` object

PAGE_LENGTH = 1000  # JOB's largest page (EsbJobReq.DEFAULT_PAGE_LENGTH_LIMIT)
MAX_PAGES = 1000
LOG_BATCH = 500  # batch_get_job_instance_ip_log refuses more hosts per call (1241007)


def instance_id_of(item: dict[str, Any]) -> Any:
    """An instance's id in a ``get_job_instance_list`` item: ``job_instance_id`` (bk-job EsbTaskInstanceV3DTO's
    ``@JsonProperty``), or ``id`` as older answers and docs spell it."""
    return item.get("job_instance_id") if item.get("job_instance_id") is not None else item.get("id")


def _data(reply: Any) -> dict[str, Any]:
    return reply.data if isinstance(reply.data, dict) else {}


def _missing(api: str, what: str, reply: Any, stage: str) -> InvalidResponseError:
    return InvalidResponseError(f"{api} answered success without {what}.", stage=stage, api=api, http_status=reply.http_status,
                                request_id=reply.request_id, job_request_id=reply.job_request_id)


# ---------------------------------------------------------------------------------------------- launch and operate
def execute_job_plan(client: Any, scope: dict[str, Any], job_plan_id: int, *, global_var_list: list[dict[str, Any]] | None = None,
                     callback_url: str | None = None, start_task: bool | None = None, stage: str = "launch") -> dict[str, Any]:
    """Launch a job plan (EsbExecuteJobV3Request); sent once, never retried after it may have reached JOB.

    Returns ``{"job_instance_id": int, "job_instance_name": str | None, "request_id": str | None}``. Unset
    options are not sent. Raises ``InvalidResponseError`` on a success without a ``job_instance_id``, and what
    ``Client.call`` raises otherwise; an error with ``reached_job is None`` is an unclear launch.
    """
    payload: dict[str, Any] = {**scope, "job_plan_id": job_plan_id}
    if global_var_list:
        payload["global_var_list"] = global_var_list
    if callback_url is not None:
        payload["callback_url"] = callback_url
    if start_task is not None:
        payload["start_task"] = start_task
    reply = client.call("execute_job_plan", payload, stage=stage)
    data = _data(reply)
    if not data.get("job_instance_id"):
        raise _missing("execute_job_plan", "a job_instance_id", reply, stage)
    return {"job_instance_id": data["job_instance_id"], "job_instance_name": data.get("job_instance_name"),
            "request_id": reply.request_id}


def operate_job_instance(client: Any, scope: dict[str, Any], job_instance_id: int, operation_code: int, *,
                         stage: str = "operate") -> dict[str, Any]:
    """Start or terminate a job instance (TASK_OPERATION_START / TASK_OPERATION_TERMINATE); JOB's ``data``
    (``job_instance_id``, sometimes ``step_instance_id``)."""
    reply = client.call("operate_job_instance", {**scope, "job_instance_id": job_instance_id, "operation_code": operation_code},
                        stage=stage)
    return _data(reply)


def operate_step_instance(client: Any, scope: dict[str, Any], job_instance_id: int, step_instance_id: int, operation_code: int,
                          *, stage: str = "operate") -> dict[str, Any]:
    """Act on one step instance (a STEP_OPERATION_* code); JOB's ``data``."""
    reply = client.call("operate_step_instance", {**scope, "job_instance_id": job_instance_id, "step_instance_id": step_instance_id,
                                                  "operation_code": operation_code}, stage=stage)
    return _data(reply)


# ---------------------------------------------------------------------------------------------- instances
def get_job_instance_status(client: Any, scope: dict[str, Any], job_instance_id: int, *, return_ip_result: bool,
                            stage: str = "wait") -> dict[str, Any]:
    """An instance's status (EsbJobInstanceStatusV3DTO): ``finished`` (bool), ``job_instance`` (dict with ``status``,
    ``name``, times in ms) and ``step_instance_list`` (list; each step's ``step_ip_result_list`` a list, empty
    without ``return_ip_result``).

    Raises ``InvalidResponseError`` when the answer has no ``job_instance``.
    """
    reply = client.call("get_job_instance_status", {**scope, "job_instance_id": job_instance_id, "return_ip_result": return_ip_result},
                        stage=stage)
    data = _data(reply)
    if not isinstance(data.get("job_instance"), dict):
        raise _missing("get_job_instance_status", f"the job_instance of {job_instance_id}", reply, stage)
    steps = [step for step in data.get("step_instance_list") or [] if isinstance(step, dict)]
    for step in steps:
        step["step_ip_result_list"] = [host for host in step.get("step_ip_result_list") or [] if isinstance(host, dict)]
    return {**data, "finished": bool(data.get("finished")), "step_instance_list": steps}


def get_job_instance_list_page(client: Any, scope: dict[str, Any], *, create_time_start: int, create_time_end: int,
                               start: int = 0, length: int = PAGE_LENGTH, stage: str = "lookup",
                               **filters: Any) -> tuple[list[dict[str, Any]], int | None]:
    """One page of JOB's instance history (EsbGetJobInstanceListV3Request): the items and ``total`` (None if not said).

    Times are epoch milliseconds (JOB allows at most 30 days between them). ``filters`` are the API's own fields,
    sent when not None: ``job_instance_id``, ``job_cron_id``, ``operator``, ``name``, ``launch_mode``
    (LAUNCH_MODE_*), ``type`` (TASK_TYPE_*), ``status`` (STATUS_*), ``ip``. Every item carries ``job_instance_id``.
    """
    query = {**scope, "create_time_start": create_time_start, "create_time_end": create_time_end, "start": start, "length": length,
             **{key: value for key, value in filters.items() if value is not None}}
    data = _data(client.call("get_job_instance_list", query, stage=stage))
    items = []
    for item in data.get("data") or []:
        if isinstance(item, dict):
            items.append({**item, "job_instance_id": instance_id_of(item)})
    total = data.get("total")
    return items, total if isinstance(total, int) else None


def get_job_instance_list(client: Any, scope: dict[str, Any], *, create_time_start: int, create_time_end: int,
                          stage: str = "lookup", max_items: int | None = None, **filters: Any) -> list[dict[str, Any]]:
    """Every page of JOB's instance history for these filters (see ``get_job_instance_list_page``), up to ``max_items``."""
    return list(_pages(lambda start, length: get_job_instance_list_page(
        client, scope, create_time_start=create_time_start, create_time_end=create_time_end, start=start, length=length,
        stage=stage, **filters), max_items))


def batch_get_job_instance_ip_log(client: Any, scope: dict[str, Any], job_instance_id: int, step_instance_id: int, *,
                                  host_id_list: list[int] | None = None, ip_list: list[dict[str, Any]] | None = None,
                                  stage: str = "logs") -> list[dict[str, Any]]:
    """The logs of at most LOG_BATCH hosts of one step, by ``host_id_list`` or ``ip_list`` (``{bk_cloud_id, ip}``).

    One entry per host: ``bk_host_id`` (or None), ``bk_cloud_id``, ``ip`` and ``log`` (str; a file step's
    per-file lines joined). Script and SQL steps answer ``script_task_logs``, file steps ``file_task_logs``.
    """
    selector: dict[str, Any] = {"host_id_list": host_id_list} if host_id_list is not None else {"ip_list": ip_list or []}
    data = _data(client.call("batch_get_job_instance_ip_log", {
        **scope, "job_instance_id": job_instance_id, "step_instance_id": step_instance_id, **selector}, stage=stage))
    entries = []
    for entry in (data.get("script_task_logs") or []) + (data.get("file_task_logs") or []):
        if not isinstance(entry, dict):
            continue
        if "file_logs" in entry:
            text = "".join(str(item.get("log_content") or "") for item in entry.get("file_logs") or [] if isinstance(item, dict))
        else:
            text = str(entry.get("log_content") or "")
        entries.append({"bk_host_id": entry.get("bk_host_id") or entry.get("host_id"), "bk_cloud_id": entry.get("bk_cloud_id"),
                        "ip": entry.get("ip"), "log": text})
    return entries


def get_job_instance_global_var_value(client: Any, scope: dict[str, Any], job_instance_id: int, *,
                                      stage: str = "wait") -> dict[str, Any]:
    """String global variables after the run (JOB reports type-1 variables only), by name; a later step's value wins."""
    data = _data(client.call("get_job_instance_global_var_value", {**scope, "job_instance_id": job_instance_id}, stage=stage))
    values: dict[str, Any] = {}
    for step in data.get("step_instance_var_list") or []:
        for var in (step or {}).get("global_var_list") or []:
            if isinstance(var, dict) and var.get("name") is not None:
                values[var["name"]] = var.get("value")
    return values


# ---------------------------------------------------------------------------------------------- plans
def get_job_plan_list_page(client: Any, scope: dict[str, Any], *, start: int = 0, length: int = PAGE_LENGTH,
                           stage: str = "lookup", **filters: Any) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the scope's plans (EsbGetJobPlanListV3Request; ``name`` is a fuzzy filter, ``job_template_id``,
    ``creator``, ... exact): the items and ``total`` (None if not said)."""
    query = {**scope, "start": start, "length": length, **{key: value for key, value in filters.items() if value is not None}}
    data = _data(client.call("get_job_plan_list", query, stage=stage))
    total = data.get("total")
    return [item for item in data.get("data") or [] if isinstance(item, dict)], total if isinstance(total, int) else None


def get_job_plan_list(client: Any, scope: dict[str, Any], *, stage: str = "lookup", **filters: Any) -> list[dict[str, Any]]:
    """Every plan of the scope matching JOB's filters (see ``get_job_plan_list_page``), reading every page."""
    return list(_pages(lambda start, length: get_job_plan_list_page(client, scope, start=start, length=length, stage=stage, **filters),
                       None))


def get_job_plan_detail(client: Any, scope: dict[str, Any], job_plan_id: int, *, stage: str = "lookup") -> dict[str, Any]:
    """A plan with ``id``, ``name``, ``global_var_list`` and ``step_list`` (both lists). Raises ``InvalidResponseError``
    when JOB answers success without the plan."""
    reply = client.call("get_job_plan_detail", {**scope, "job_plan_id": job_plan_id}, stage=stage)
    data = _data(reply)
    if not data:
        raise _missing("get_job_plan_detail", f"the plan {job_plan_id}", reply, stage)
    return {**data, "id": data.get("id") or data.get("job_plan_id") or job_plan_id,
            "global_var_list": [var for var in data.get("global_var_list") or [] if isinstance(var, dict)],
            "step_list": [step for step in data.get("step_list") or [] if isinstance(step, dict)]}


def _pages(read: Any, max_items: int | None) -> Iterator[dict[str, Any]]:
    """Items of successive pages until JOB's ``total`` (or a short page) says there are no more."""
    seen = 0
    for _page in range(MAX_PAGES):
        # The next page starts after what arrived: a server may answer fewer items than asked for.
        items, total = read(seen, PAGE_LENGTH)
        for item in items:
            if max_items is not None and seen >= max_items:
                return
            seen += 1
            yield item
        if not items or (seen >= total if total is not None else len(items) < PAGE_LENGTH):
            return


# ---------------------------------------------------------------------------------------------- answers
# JOB's bean-validation answer and its parameter errors.
PARAM_ERROR_CODES = frozenset({CODE_BAD_REQUEST, CODE_ILLEGAL_PARAM, CODE_ILLEGAL_PARAM_WITH_PARAM_NAME,
                               CODE_MISSING_OR_ILLEGAL_PARAM_WITH_PARAM_NAME, CODE_ILLEGAL_PARAM_WITH_PARAM_NAME_AND_REASON,
                               CODE_ILLEGAL_PARAM_WITH_REASON})
CALLBACK_WORDS = ("callback", "回调")


def callback_url_refused(err: Any) -> bool:
    """Whether an ``execute_job_plan`` error is JOB refusing ``callback_url`` before creating anything: the
    ``@ValidCallbackUrl`` check of EsbExecuteJobV3Request (job-execute/api-job-execute/.../execute/validate/
    ValidCallbackUrlValidator.java, CallbackUrlValidateServiceImpl: http(s), no user info, on the allow-list
    ``job.execute.check-callback-url``, the BlueKing domain or the callback_url_white_info table) answers
    1240003 with "Callback url is invalid or not in the allowed list" (ValidationMessages*.properties)."""
    message = str(getattr(err, "message", None) or "").lower()
    return (getattr(err, "api", None) == "execute_job_plan" and getattr(err, "code", None) in PARAM_ERROR_CODES
            and getattr(err, "reached_job", None) is True and any(word in message for word in CALLBACK_WORDS))
