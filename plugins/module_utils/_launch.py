# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Launch a job plan exactly once, and find the job again when the launch's answer is lost.

The launch POST is never resent: a read timeout, a connection reset after sending, a 5xx or an
unreadable answer may all come after JOB created the instance. After such an answer the instance this
call created is looked for with ``get_job_instance_list`` (this plan, this operator, API launch, a
window around the send) and adopted when exactly one matches.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ansible_collections.blueking.job.plugins.module_utils._errors import BKJobError, InvalidResponseError

WINDOW_SECONDS = 60  # tolerance around the send, for clock skew between the controller and JOB
LOOKUP_ATTEMPTS = 3  # JOB may record the instance a moment after the connection broke
LAUNCH_MODE_API = 2
TASK_TYPE_PLAN = 0


def ambiguous(err: BKJobError) -> bool:
    """Whether JOB may have created the job although the launch did not get a clear answer (see BKJobError.reached_job)."""
    return err.reached_job is None


def launch_once(client: Any, payload: dict[str, Any], *, operator: str | None, warn: Callable[[str], None],
                clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """``job_instance_id``, ``job_instance_name`` and ``request_id`` of the job this launch created."""
    sent_at = clock()
    try:
        reply = client.call("execute_job_plan", payload, stage="launch")
        data = reply.data if isinstance(reply.data, dict) else {}
        if not data.get("job_instance_id"):
            raise InvalidResponseError(
                "execute_job_plan answered success without a job_instance_id.", stage="launch", api="execute_job_plan",
                http_status=reply.http_status, request_id=reply.request_id, job_request_id=reply.job_request_id)
        return {"job_instance_id": data["job_instance_id"], "job_instance_name": data.get("job_instance_name"),
                "request_id": reply.request_id}
    except BKJobError as err:
        if not ambiguous(err):
            raise
        return _reconcile(client, payload, operator, sent_at, err, warn, clock, sleep)


def _reconcile(client: Any, payload: dict[str, Any], operator: str | None, sent_at: float, err: BKJobError,
               warn: Callable[[str], None], clock: Callable[[], float], sleep: Callable[[float], None]) -> dict[str, Any]:
    plan_id = payload["job_plan_id"]
    by = f" by {operator}" if operator else ""
    reason = f"(request id {err.request_id})" if err.request_id else "(no request id was received)"
    try:
        for attempt in range(LOOKUP_ATTEMPTS):
            found = _instances_of_this_launch(client, payload, operator, sent_at, clock())
            if found or attempt == LOOKUP_ATTEMPTS - 1:
                break
            sleep(1.0)
    except BKJobError as lookup_err:
        err.msg = f"{err.msg} JOB's history could not be searched for it either {reason}: {lookup_err.msg}"
        raise err from None
    if len(found) == 1:
        instance = found[0]
        job_instance_id = instance.get("job_instance_id") or instance.get("id")
        warn(f"The launch of job plan {plan_id} got no clear answer {reason}: {err.msg} Job instance {job_instance_id}, "
             f"created{by} through the API at that moment, was found in JOB's history and is adopted; nothing was launched twice.")
        return {"job_instance_id": job_instance_id, "job_instance_name": instance.get("name"), "request_id": err.request_id,
                "adopted": True}
    if found:
        ids = ", ".join(str(item.get("job_instance_id") or item.get("id")) for item in found)
        err.msg = (f"{err.msg} {len(found)} instances of job plan {plan_id} were created{by} through the API in that minute "
                   f"({ids}) {reason}: find yours in JOB's execution history before running the task again.")
    else:
        err.msg = f"{err.msg} No instance of job plan {plan_id}{by} appears in JOB's history yet {reason}."
    raise err


def _instances_of_this_launch(client: Any, payload: dict[str, Any], operator: str | None, sent_at: float,
                              now: float) -> list[dict[str, Any]]:
    scope = {key: payload[key] for key in ("bk_biz_id", "bk_scope_type", "bk_scope_id") if key in payload}
    query = {**scope, "create_time_start": int((sent_at - WINDOW_SECONDS) * 1000), "create_time_end": int((now + WINDOW_SECONDS) * 1000),
             "launch_mode": LAUNCH_MODE_API, "type": TASK_TYPE_PLAN, "start": 0, "length": 1000}
    if operator:
        query["operator"] = operator
    reply = client.call("get_job_instance_list", query, stage="launch")
    data = reply.data if isinstance(reply.data, dict) else {}
    return [item for item in data.get("data") or []
            if item.get("job_plan_id") == payload["job_plan_id"] and (not operator or item.get("operator") in (None, operator))]
