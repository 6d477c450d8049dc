# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What JOB's v3 answers carry: instance names, nulls, callback_url rules, container and SQL plans, logs
(operate_step_instance: test_operate_step_instance.py)."""

from __future__ import annotations

import time

import pytest

from process import Emulator  # pylint: disable=import-error
from raw_call import SCOPE, call  # pylint: disable=import-error
from support import PLAN_DEPLOY_APP  # pylint: disable=import-error

BIZ3 = {"bk_scope_type": "biz", "bk_scope_id": "3"}


def _ok(job, api, params, surface="apigw"):
    status, body, _raw, _headers = call(job, api, params, surface=surface)
    assert status == 200 and body["result"] is True, body
    return body["data"]


def _launch(job, scope=None, **params):
    return _ok(job, "execute_job_plan", dict(scope or SCOPE, **params))


def _status(job, job_instance_id, scope=None, **params):
    return _ok(job, "get_job_instance_status", dict(scope or SCOPE, job_instance_id=job_instance_id, **params))


def _wait(job, job_instance_id, wanted, scope=None, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        data = _status(job, job_instance_id, scope)
        if data["job_instance"]["status"] in wanted or time.monotonic() > deadline:
            return data
        time.sleep(0.05)


def test_instance_name_is_exactly_the_plan_name(job):
    """TaskExecuteServiceImpl.buildTaskInstanceForTask: the API sets no task name, so the plan's name is used."""
    launched = _launch(job, job_plan_id=PLAN_DEPLOY_APP)
    assert launched["job_instance_name"] == "deploy-app"
    assert launched["step_instance_id"] is None  # EsbJobExecuteV3DTO, only set by fast_* APIs
    assert _status(job, launched["job_instance_id"])["job_instance"]["name"] == "deploy-app"


def test_v3_answers_carry_empty_fields_as_null(job):
    job.next_launch(step_seconds=5)
    launched = _launch(job, job_plan_id=PLAN_DEPLOY_APP)
    status = _status(job, launched["job_instance_id"])
    assert status["job_instance"]["end_time"] is None and status["job_instance"]["total_time"] is None
    for step in status["step_instance_list"]:
        assert "step_ip_result_list" in step and step["step_ip_result_list"] is None
        assert "end_time" in step and "total_time" in step
    now = int(time.time() * 1000)
    [item] = _ok(job, "get_job_instance_list", dict(SCOPE, create_time_start=now - 60000, create_time_end=now + 60000))["data"]
    # the list computes a running job's total_time from its start (TaskResultServiceImpl.computeTotalTime)
    assert item["end_time"] is None and 0 <= item["total_time"] < 60000
    step_id = status["step_instance_list"][0]["step_instance_id"]
    log = _ok(job, "get_job_instance_ip_log", dict(SCOPE, job_instance_id=launched["job_instance_id"], step_instance_id=step_id,
                                                   bk_host_id=101))
    assert log["file_logs"] is None and "log_content" in log
    batch = _ok(job, "batch_get_job_instance_ip_log", dict(SCOPE, job_instance_id=launched["job_instance_id"],
                                                           step_instance_id=step_id, host_id_list=[101]))
    assert batch["file_task_logs"] is None and batch["script_task_logs"][0]["ipv6"] is None


def test_plan_detail_nulls(job):
    detail = _ok(job, "get_job_plan_detail", dict(SCOPE, job_plan_id=PLAN_DEPLOY_APP))
    by_name = {var["name"]: var for var in detail["global_var_list"]}
    host = by_name["target_hosts"]
    assert host["value"] is None
    assert host["server"]["dynamic_group_list"] is None and host["server"]["topo_node_list"] is None
    assert host["server"]["ip_list"][0]["bk_host_id"] == 101 and host["server"]["ip_list"][0]["bk_agent_id"] is None
    assert by_name["app_version"]["server"] is None


@pytest.mark.parametrize("url", ["https://user:pw@hooks.example.com/cb", "https://trusted.example.com@evil.example.com/x",
                                 "ftp://hooks.example.com/cb", "https:///nohost", "http://bad host/cb"])
def test_callback_url_with_user_info_or_not_http_is_refused(job, url):
    """CallbackUrlValidateServiceImpl.isValid, whether or not the allow-list is on: bean validation 1240003."""
    status, body, _raw, _headers = call(job, "execute_job_plan", dict(SCOPE, job_plan_id=PLAN_DEPLOY_APP, callback_url=url))
    assert (status, body["result"], body["code"], body["message"]) == (
        200, False, 1240003, "回调地址不合法或不在允许列表中，请联系平台管理员添加")
    assert not job.instances()


def test_callback_url_allow_list_is_off_by_default(job):
    _launch(job, job_plan_id=PLAN_DEPLOY_APP, callback_url="https://anything.example.org/cb")


def test_callback_url_allow_list():
    """job.execute.check-callback-url: enabled, allowed-base-urls (path on a / boundary), bkDomain subdomains."""
    config = {"check_callback_url": {"enabled": True, "allowed_base_urls": ["https://hooks.example.com/job"],
                                     "bk_domain": "bk.example.net"}}
    with Emulator(config=config) as job:
        for url, allowed in [("https://hooks.example.com/job", True), ("https://hooks.example.com/job/done", True),
                             ("https://hooks.example.com/jobs", False), ("http://hooks.example.com/job", False),
                             ("https://hooks.example.com:8443/job", False), ("https://ci.bk.example.net/cb", True),
                             ("https://other.example.org/cb", False)]:
            status, body, _raw, _headers = call(job, "execute_job_plan", dict(SCOPE, job_plan_id=PLAN_DEPLOY_APP, callback_url=url))
            assert status == 200 and body["result"] is allowed, (url, body)
            if not allowed:
                assert body["code"] == 1240003


def test_container_plan_detail_and_status(job):
    """A host variable whose default targets containers: its server lists are null (TaskTargetDTO.toEsbServerV3
    fills host lists only), and status with host results fails with 1240002 (a container task has no host)."""
    detail = _ok(job, "get_job_plan_detail", dict(BIZ3, job_plan_id=1006))
    [var] = detail["global_var_list"]
    assert var["server"] == {"ip_list": None, "dynamic_group_list": None, "topo_node_list": None}
    launched = _launch(job, BIZ3, job_plan_id=1006)
    assert _status(job, launched["job_instance_id"], BIZ3)["job_instance"]["status"] in (2, 3)
    status, body, _raw, _headers = call(job, "get_job_instance_status", dict(
        BIZ3, job_instance_id=launched["job_instance_id"], return_ip_result=True))
    assert (status, body["result"], body["code"], body["message"]) == (200, False, 1240002, "内部服务器异常")


def test_sql_step_is_type_4_with_hosts_and_script_logs(job):
    detail = _ok(job, "get_job_plan_detail", dict(BIZ3, job_plan_id=1007))
    assert detail["step_list"][0]["type"] == 1 and detail["step_list"][0]["script_info"]["script_language"] == 6
    launched = _launch(job, BIZ3, job_plan_id=1007)
    data = _wait(job, launched["job_instance_id"], {3}, BIZ3)
    data = _status(job, launched["job_instance_id"], BIZ3, return_ip_result=True)
    [step] = data["step_instance_list"]
    assert step["type"] == 4
    assert [host["bk_host_id"] for host in step["step_ip_result_list"]] == [201]
    log = _ok(job, "get_job_instance_ip_log", dict(BIZ3, job_instance_id=launched["job_instance_id"],
                                                   step_instance_id=step["step_instance_id"], bk_host_id=201))
    assert log["log_type"] == 1 and "host 10.0.1.1 step migrate" in log["log_content"]


def test_ip_log_for_a_host_not_in_the_step_is_success_with_a_null_log(job):
    launched = _launch(job, job_plan_id=PLAN_DEPLOY_APP)
    data = _wait(job, launched["job_instance_id"], {3})
    step_id = data["step_instance_list"][0]["step_instance_id"]
    log = _ok(job, "get_job_instance_ip_log", dict(SCOPE, job_instance_id=launched["job_instance_id"],
                                                   step_instance_id=step_id, bk_host_id=999))
    assert log == {"log_type": 1, "bk_host_id": 999, "bk_cloud_id": None, "ip": None, "log_content": None, "file_logs": None}
    log = _ok(job, "get_job_instance_ip_log", dict(SCOPE, job_instance_id=launched["job_instance_id"],
                                                   step_instance_id=step_id, bk_cloud_id=0, ip="10.9.9.9"))
    assert log["bk_host_id"] is None and log["ip"] == "10.9.9.9" and log["log_content"] is None


def test_file_step_log_of_any_host_carries_every_source_upload(job):
    launched = _launch(job, job_plan_id=PLAN_DEPLOY_APP)
    data = _wait(job, launched["job_instance_id"], {3})
    step_id = data["step_instance_list"][1]["step_instance_id"]
    params = dict(SCOPE, job_instance_id=launched["job_instance_id"], step_instance_id=step_id)
    target = _ok(job, "get_job_instance_ip_log", dict(params, bk_host_id=101))
    assert [entry["mode"] for entry in target["file_logs"]] == [1, 0]
    assert target["file_logs"][1]["src_ip"]["bk_host_id"] == 104 and target["log_content"] is None
    stranger = _ok(job, "get_job_instance_ip_log", dict(params, bk_host_id=999))
    assert [entry["mode"] for entry in stranger["file_logs"]] == [0]


def test_unknown_step_in_a_log_call_is_1244006(job):
    launched = _launch(job, job_plan_id=PLAN_DEPLOY_APP)
    status, body, _raw, _headers = call(job, "get_job_instance_ip_log", dict(
        SCOPE, job_instance_id=launched["job_instance_id"], step_instance_id=1, bk_host_id=101))
    assert (body["result"], body["code"]) == (False, 1244006)
