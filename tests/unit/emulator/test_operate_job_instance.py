# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""start_task: false and operate_job_instance, as bk-job's TaskExecuteServiceImpl and
EsbOperateJobInstanceV3ResourceImpl have them; older JOB versions (behaviour job_version)."""

from __future__ import annotations

import time

import pytest

from raw_call import SCOPE, call  # pylint: disable=import-error
from support import PLAN_DEPLOY_APP  # pylint: disable=import-error


def _launch(job, **params):
    status, body, _raw, _headers = call(job, "execute_job_plan", dict(SCOPE, job_plan_id=PLAN_DEPLOY_APP, **params))
    assert status == 200 and body["result"] is True, body
    return body["data"]["job_instance_id"]


def _status(job, job_instance_id, surface="apigw"):
    status, body, _raw, _headers = call(job, "get_job_instance_status", dict(SCOPE, job_instance_id=job_instance_id),
                                        surface=surface)
    assert status == 200 and body["result"] is True, body
    return body["data"]


def _operate(job, job_instance_id, code):
    return call(job, "operate_job_instance", dict(SCOPE, job_instance_id=job_instance_id, operation_code=code))[1]


def _wait_status(job, job_instance_id, wanted, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        data = _status(job, job_instance_id)
        if data["job_instance"]["status"] in wanted or time.monotonic() > deadline:
            return data
        time.sleep(0.05)


def test_start_task_false_instance_is_blank_until_started(job):
    """TaskExecuteServiceImpl.buildTaskInstanceForTask: status BLANK (1), start_time unset, steps BLANK; not finished."""
    job_instance_id = _launch(job, start_task=False)
    data = _status(job, job_instance_id)
    assert data["finished"] is False
    assert data["job_instance"]["status"] == 1
    assert data["job_instance"]["start_time"] is None and data["job_instance"]["end_time"] is None
    assert {step["status"] for step in data["step_instance_list"]} == {1}
    time.sleep(0.5)
    assert _status(job, job_instance_id)["job_instance"]["status"] == 1
    now = int(time.time() * 1000)
    status, body, _raw, _headers = call(job, "get_job_instance_list", dict(
        SCOPE, create_time_start=now - 60000, create_time_end=now + 60000, job_instance_id=job_instance_id))
    assert status == 200 and body["result"] is True
    [item] = body["data"]["data"]
    assert item["status"] == 1 and item["start_time"] is None and item["end_time"] is None


def test_operation_code_2_starts_and_the_job_runs_to_the_end(job):
    job_instance_id = _launch(job, start_task=False)
    body = _operate(job, job_instance_id, 2)
    assert body["result"] is True and body["data"]["job_instance_id"] == job_instance_id
    data = _wait_status(job, job_instance_id, {3})
    assert data["finished"] is True and data["job_instance"]["status"] == 3
    assert data["job_instance"]["start_time"] is not None


def test_starting_a_started_instance_is_1241015(job):
    """startJob: only a BLANK instance starts; else UNSUPPORTED_OPERATION_REPEAT_START_JOB with the id."""
    job_instance_id = _launch(job)
    body = _operate(job, job_instance_id, 2)
    assert body["result"] is False and body["code"] == 1241015
    assert body["message"] == f"不支持的操作，请勿重复启动作业，job_instance_id={job_instance_id}"
    stopped = _launch(job, start_task=False)
    assert _operate(job, stopped, 2)["result"] is True
    assert _operate(job, stopped, 2)["code"] == 1241015


def test_operation_code_1_terminates_a_running_job(job):
    job.next_launch(step_seconds=5)
    job_instance_id = _launch(job)
    body = _operate(job, job_instance_id, 1)
    # EsbJobExecuteV3DTO with only the id set
    assert body["result"] is True and body["data"] == {"job_instance_id": job_instance_id, "job_instance_name": None,
                                                       "step_instance_id": None}
    assert _status(job, job_instance_id)["job_instance"]["status"] == 10
    assert _wait_status(job, job_instance_id, {11})["job_instance"]["status"] == 11


@pytest.mark.parametrize("when", ["not_started", "terminating", "finished"])
def test_terminate_outside_running_or_waiting_is_1241003(job, when):
    """terminateJob: status not RUNNING/WAITING_USER -> FailedPreconditionException(UNSUPPORTED_OPERATION)."""
    if when == "not_started":
        job_instance_id = _launch(job, start_task=False)
    elif when == "terminating":
        job.next_launch(step_seconds=5, terminate_seconds=5)
        job_instance_id = _launch(job)
        assert _operate(job, job_instance_id, 1)["result"] is True
    else:
        job_instance_id = _launch(job)
        _wait_status(job, job_instance_id, {3})
    body = _operate(job, job_instance_id, 1)
    assert (body["result"], body["code"], body["message"]) == (False, 1241003, "不支持的操作")
    if when == "finished":  # every finished status alike: terminating twice is refused the second time
        job.next_launch(step_seconds=0.3, terminate_seconds=0.1)
        job_instance_id = _launch(job)
        assert _operate(job, job_instance_id, 1)["result"] is True
        _wait_status(job, job_instance_id, {11})
        assert _operate(job, job_instance_id, 1)["code"] == 1241003
        job.next_launch(final_status=4)
        job_instance_id = _launch(job)
        _wait_status(job, job_instance_id, {4})
        assert _operate(job, job_instance_id, 1)["code"] == 1241003


@pytest.mark.parametrize("params", [{"operation_code": 3}, {"operation_code": 0}, {"operation_code": None},
                                    {"job_instance_id": None}, {"job_instance_id": 0}])
def test_invalid_operation_or_id_is_1241002(job, params):
    """checkRequest: id missing or < 1, operation code missing or not a TaskOperationEnum -> ILLEGAL_PARAM."""
    job_instance_id = _launch(job, start_task=False)
    request = dict(SCOPE, job_instance_id=job_instance_id, operation_code=2)
    request.update(params)
    request = {key: value for key, value in request.items() if value is not None}
    status, body, _raw, _headers = call(job, "operate_job_instance", request)
    assert status == 200
    assert (body["result"], body["code"], body["message"]) == (False, 1241002, "请求参数不合法")


def test_unknown_instance_is_1244006(job):
    body = _operate(job, 29999999, 1)
    assert (body["result"], body["code"]) == (False, 1244006)


@pytest.mark.parametrize("version, starts", [("3.9.4", True), ("3.10.0", False), (None, False)])
def test_job_before_3_10_ignores_start_task(job, version, starts):
    job.next_launch(job_version=version)
    job_instance_id = _launch(job, start_task=False)
    status = _status(job, job_instance_id)["job_instance"]["status"]
    assert (status != 1) is starts


@pytest.mark.parametrize("version, ignored", [("3.6.2", True), ("3.7.0", False)])
def test_job_before_3_7_ignores_host_id_list(job, version, ignored):
    """host_id_list came with EsbServerV3DTO.hostIds in 3.7; before it only ip_list is read."""
    job.next_launch(job_version=version)
    server = {"host_id_list": [102], "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.3"}]}
    _launch(job, global_var_list=[{"name": "target_hosts", "server": server}])
    [instance] = job.instances()
    hosts = {host["bk_host_id"] for step in instance["steps"] for host in step["hosts"] if step["name"] == "check env"}
    assert hosts == ({103} if ignored else {102})


def test_job_3_5_says_finished_while_waiting_for_a_person(job):
    job.next_launch(job_version="3.5.1", confirm=True)
    job_instance_id = _launch(job)
    data = _wait_status(job, job_instance_id, {7})
    assert data["job_instance"]["status"] == 7 and data["finished"] is True
    job.next_launch(confirm=True)
    current = _launch(job)
    data = _wait_status(job, current, {7})
    assert data["job_instance"]["status"] == 7 and data["finished"] is False
