# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""get_job_instance_list as bk-job has it: EsbGetJobInstanceListV3ResourceImpl (checkRequest, the GET and POST
endpoints), EsbGetJobInstanceListV3Request (defaults, @Range on length), TaskInstanceDAOImpl.listPageTaskInstance /
buildSearchCondition (filters, order, paging), TaskResultServiceImpl.computeTotalTime, EsbPageDataV3."""

from __future__ import annotations

import time

import pytest

from process import Emulator  # pylint: disable=import-error
from raw_call import CONFIG, SCOPE, call  # pylint: disable=import-error
from support import PLAN_DEPLOY, PLAN_DEPLOY_APP, PLAN_ROLLBACK  # pylint: disable=import-error

ALICE = {"bk_app_code": "bk-demo-app", "bk_app_secret": "demo-app-secret-9f2c41", "bk_username": "alice"}
DAY_MS = 24 * 3600 * 1000


def _launch(job, plan_id, auth=None, **behaviour):
    """Launch plan_id; instances are created in distinct milliseconds (JOB orders the list by create_time alone)."""
    time.sleep(0.003)
    if behaviour:
        job.next_launch(**behaviour)
    status, body, _raw, _headers = call(job, "execute_job_plan", dict(SCOPE, job_plan_id=plan_id), auth=auth)
    assert status == 200 and body["result"] is True, body
    return body["data"]["job_instance_id"]


def _window(minutes=5):
    now = int(time.time() * 1000)
    return {"create_time_start": now - minutes * 60000, "create_time_end": now + 60000}


def _list(job, surface="apigw", **params):
    status, body, _raw, _headers = call(job, "get_job_instance_list", dict(SCOPE, **dict(_window(), **params)), surface=surface)
    assert status == 200, body
    return body


def _ids(body):
    assert body["result"] is True, body
    return [item["job_instance_id"] for item in body["data"]["data"] or []]


@pytest.fixture()
def three(job):
    """Three finished instances, newest last: deploy-app by admin, rollback by alice, deploy by admin (web, 3 days old)."""
    first = _launch(job, PLAN_DEPLOY_APP, step_seconds=0)
    second = _launch(job, PLAN_ROLLBACK, auth=ALICE, step_seconds=0)
    third = _launch(job, PLAN_DEPLOY, step_seconds=0, final_status=4, launch_mode=1)
    time.sleep(0.2)
    return first, second, third


def test_filters(job, three):  # pylint: disable=redefined-outer-name
    """buildSearchCondition: operator exact, name LIKE '%name%', status, launch_mode, type, ip; newest first."""
    first, second, third = three
    assert _ids(_list(job)) == [third, second, first]
    assert _ids(_list(job, operator="alice")) == [second]
    assert _ids(_list(job, operator="ALICE")) == []  # operator is compared exactly
    assert _ids(_list(job, operator=" ")) == [third, second, first]  # blank: no condition
    assert _ids(_list(job, name="deploy")) == [third, first]
    assert _ids(_list(job, name="DEPLOY-a")) == [first]  # MySQL's case-insensitive collation
    assert _ids(_list(job, name="deploy_app")) == [first]  # _ is LIKE's one-character wildcard, not escaped
    assert _ids(_list(job, name="roll%ck")) == [second]
    assert _ids(_list(job, status=4)) == [third]
    assert _ids(_list(job, status=3)) == [second, first]
    assert _ids(_list(job, launch_mode=1)) == [third]
    assert _ids(_list(job, launch_mode=2)) == [second, first]
    assert _ids(_list(job, type=0)) == [third, second, first] and _ids(_list(job, type=1)) == []
    assert _ids(_list(job, ip="10.0.0.4")) == [first]  # the file source of deploy-app's push package step
    assert _ids(_list(job, ip="10.0.0.2")) == [second]  # rollback's hosts are 101 and 102
    assert _ids(_list(job, ip="10.0.0.9")) == []
    assert _ids(_list(job, job_cron_id=7)) == []  # no instance was started by a cron job
    assert _ids(_list(job, job_cron_id=0)) == [third, second, first]  # 0: no condition


def test_job_instance_id_ignores_every_other_condition(job, three):  # pylint: disable=redefined-outer-name
    """buildSearchCondition returns at once with the id: not even the time window applies (it is still required)."""
    first, _second, _third = three
    long_ago = {"create_time_start": 1000, "create_time_end": 2000}
    assert _ids(_list(job, job_instance_id=first, operator="alice", status=4, name="nothing", **long_ago)) == [first]
    assert _ids(_list(job, job_instance_id=0, operator="alice")) == [three[1]]  # 0: no id condition
    assert _ids(_list(job, job_instance_id=99999999)) == []


def test_the_window_is_inclusive_and_refused_as_checkRequest_says(job):
    job_instance_id = _launch(job, PLAN_DEPLOY)
    created = job.instances()[0]["create_time"]
    assert _ids(_list(job, create_time_start=created, create_time_end=created + 1)) == [job_instance_id]
    assert _ids(_list(job, create_time_start=created - 1, create_time_end=created)) == [job_instance_id]
    assert _ids(_list(job, create_time_start=created + 1, create_time_end=created + 2)) == []
    thirty_days = 30 * DAY_MS
    assert _list(job, create_time_start=created - thirty_days, create_time_end=created)["result"] is True
    over = _list(job, create_time_start=created - thirty_days - 1, create_time_end=created)
    assert (over["code"], over["message"]) == (1241002, "请求参数不合法")
    same = _list(job, create_time_start=created, create_time_end=created)
    assert (same["code"], same["message"]) == (1241007, "请求参数[create_time_start|create_time_end]缺失或不合法")
    assert _list(job, create_time_start=0)["code"] == 1241007
    assert _list(job, type=3)["code"] == 1241002


def test_unknown_status_or_launch_mode_is_an_internal_error(job):
    """RunStatusEnum.valueOf and TaskStartupModeEnum.getStartupMode throw: EsbExceptionControllerAdvice 1240002."""
    for params in ({"status": 99}, {"status": 0}, {"launch_mode": 4}, {"launch_mode": 0}):
        body = _list(job, **params)
        assert (body["result"], body["code"], body["message"]) == (False, 1240002, "内部服务器异常"), params
    assert _list(job, status=12)["result"] is True  # 12 is a RunStatusEnum value (ROLLING_WAITING) too


def test_paging(job):
    """Defaults start 0, length 20; start < 0 is 0 and length <= 0 is 10 (BaseSearchCondition); a GET length is not
    capped, a POST body's must be 1-1000 (@Range); total counts every match; data is null on an empty page."""
    ids = [_launch(job, PLAN_DEPLOY, step_seconds=0) for _index in range(25)][::-1]
    body = _list(job)
    assert body["result"] is True
    page = body["data"]
    assert (page["start"], page["length"], page["total"], len(page["data"])) == (0, 20, 25, 20)
    assert [item["job_instance_id"] for item in page["data"]] == ids[:20]
    page = _list(job, start=20)["data"]
    assert [item["job_instance_id"] for item in page["data"]] == ids[20:]
    page = _list(job, start=-5, length=0)["data"]
    assert (page["start"], page["length"], len(page["data"])) == (0, 10, 10)
    page = _list(job, length=5000)["data"]
    assert (page["length"], len(page["data"])) == (5000, 25)
    page = _list(job, start=30)["data"]
    assert (page["start"], page["total"], page["data"]) == (30, 25, None)
    refused = _list(job, surface="esb", length=1001)
    assert (refused["code"], refused["message"]) == (1240003, "单次返回最大记录数量length必须在 1-1000 之间")
    assert _list(job, surface="esb", length=1000)["result"] is True


def test_items_and_running_total_time(job):
    """EsbTaskInstanceV3DTO fields; a running job's total_time is the time since its start (computeTotalTime)."""
    job_instance_id = _launch(job, PLAN_DEPLOY_APP, step_seconds=5)
    time.sleep(0.1)
    [item] = _list(job)["data"]["data"]
    assert set(item) == {"job_instance_id", "job_plan_id", "job_template_id", "name", "operator", "launch_mode", "status",
                         "start_time", "end_time", "total_time", "create_time", "type", "bk_scope_type", "bk_scope_id",
                         "bk_biz_id"}
    assert (item["job_instance_id"], item["job_plan_id"], item["name"], item["status"]) == (
        job_instance_id, PLAN_DEPLOY_APP, "deploy-app", 2)
    assert item["end_time"] is None and 100 <= item["total_time"] < 5000
    status = call(job, "get_job_instance_status", dict(SCOPE, job_instance_id=job_instance_id))[1]["data"]
    assert status["job_instance"]["total_time"] is None  # the status API does not compute it


def test_start_limit_when_enabled():
    """openapi.v3GetJobInstanceList.startLimitEnabled with maxStart: a larger start is 1241010."""
    with Emulator(config=dict(CONFIG, job_instance_list_max_start=100)) as job:
        assert _list(job, start=100)["result"] is True
        body = _list(job, start=101)
        assert (body["code"], body["message"]) == (1241010, "请求参数[start]不合法，原因：The value of start cannot exceed 100")
