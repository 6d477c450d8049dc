# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The JOB API layer (_api) against the emulator over loopback HTTP: requests as JOB reads them, answers normalised,
and the answers the collection explains (not found, callback allow-list, ESB's generic code, tenant)."""

from __future__ import annotations

import time

import pytest

from ansible_collections.blueking.job.plugins.module_utils import _api
from ansible_collections.blueking.job.plugins.module_utils._client import Client
from ansible_collections.blueking.job.plugins.module_utils._errors import APIError, AuthError
from support import ESB_CREDENTIALS as CREDENTIALS, PLAN_DEPLOY_APP  # pylint: disable=import-error

SCOPE = {"bk_scope_type": "biz", "bk_scope_id": "2"}
ALLOW_LIST_MESSAGE = "callbackUrl: Callback url is invalid or not in the allowed list, please contact the platform administrator to add it"


def esb(emulator, **kwargs):
    return Client(emulator.url, api_type="esb", credentials=CREDENTIALS, sleep=lambda _seconds: None, **kwargs)


def apigw(emulator, **kwargs):
    return Client(emulator.apigw_url, api_type="apigw", credentials=CREDENTIALS, sleep=lambda _seconds: None, **kwargs)


def window():
    now = int(time.time() * 1000)
    return {"create_time_start": now - 3600000, "create_time_end": now + 60000}


def test_codes_are_bk_jobs_enums():
    assert (_api.STATUS_BLANK, _api.STATUS_SUCCESS, _api.STATUS_WAITING_USER, _api.STATUS_ROLLING_WAITING) == (1, 3, 7, 15)
    assert (_api.TASK_TYPE_NORMAL, _api.LAUNCH_MODE_API, _api.TASK_OPERATION_TERMINATE, _api.TASK_OPERATION_START) == (0, 2, 1, 2)
    assert (_api.STEP_OPERATION_CONFIRM_CONTINUE, _api.STEP_OPERATION_SKIP, _api.STEP_TYPE_SQL, _api.VAR_TYPE_CIPHER) == (6, 12, 4, 4)
    assert _api.STEP_TYPE_SQL in _api.LOGGED_STEP_TYPES and _api.STEP_TYPE_APPROVAL not in _api.LOGGED_STEP_TYPES


def test_execute_sends_only_what_is_set_and_returns_the_instance(job):
    launched = _api.execute_job_plan(esb(job), SCOPE, 1000)
    assert launched["job_instance_id"] > 0 and launched["request_id"]
    [sent] = job.requests("execute_job_plan")
    assert {key: sent["body"][key] for key in sent["body"] if key not in CREDENTIALS} == {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}


def test_status_is_normalised(job):
    client = esb(job)
    launched = _api.execute_job_plan(client, SCOPE, 1000)
    data = _api.get_job_instance_status(client, SCOPE, launched["job_instance_id"], return_ip_result=False)
    assert isinstance(data["finished"], bool) and isinstance(data["job_instance"], dict)
    assert all(isinstance(step["step_ip_result_list"], list) for step in data["step_instance_list"])


def test_instance_list_reads_one_page_or_every_page_and_names_ids_one_way(job):
    client = apigw(job)
    ids = {_api.execute_job_plan(client, SCOPE, 1000)["job_instance_id"] for _launch in range(3)}
    page, total = _api.get_job_instance_list_page(client, SCOPE, length=2, type=_api.TASK_TYPE_NORMAL, **window())
    assert len(page) == 2 and total == 3
    every = _api.get_job_instance_list(client, SCOPE, launch_mode=_api.LAUNCH_MODE_API, **window())
    assert {item["job_instance_id"] for item in every} == ids
    assert len(_api.get_job_instance_list(client, SCOPE, max_items=1, **window())) == 1
    sent = job.requests("get_job_instance_list")[1]
    assert sent["query"]["launch_mode"] in ("2", ["2"])


def test_plans_every_page_and_detail(job):
    client = esb(job)
    plans = _api.get_job_plan_list(client, SCOPE)
    assert any(plan["id"] == 1000 for plan in plans)
    detail = _api.get_job_plan_detail(client, SCOPE, 1000)
    assert detail["id"] == 1000 and isinstance(detail["global_var_list"], list) and isinstance(detail["step_list"], list)


def test_a_missing_plan_points_at_job_plan_info(job):
    with pytest.raises(APIError) as caught:
        _api.get_job_plan_detail(esb(job), SCOPE, 424242)
    assert caught.value.code == _api.CODE_TASK_PLAN_NOT_EXIST
    assert "does not exist" in caught.value.msg and "blueking.job.job_plan_info" in caught.value.msg


def test_a_missing_instance_says_it_does_not_exist(job):
    with pytest.raises(APIError) as caught:
        _api.get_job_instance_status(esb(job), SCOPE, 987654321, return_ip_result=False)
    assert caught.value.code == _api.CODE_TASK_INSTANCE_NOT_EXIST
    assert "job instance does not exist in this scope" in caught.value.msg


def test_terminate_logs_and_variables(job):
    client = esb(job)
    job.next_launch(step_seconds=30)
    launched = _api.execute_job_plan(client, SCOPE, 1000)
    job_instance_id = launched["job_instance_id"]
    _api.operate_job_instance(client, SCOPE, job_instance_id, _api.TASK_OPERATION_TERMINATE)
    for _poll in range(100):
        data = _api.get_job_instance_status(client, SCOPE, job_instance_id, return_ip_result=True)
        if data["finished"]:
            break
        time.sleep(0.1)
    assert data["job_instance"]["status"] in (_api.STATUS_TERMINATED, _api.STATUS_STOP_SUCCESS)
    step = data["step_instance_list"][0]
    hosts = [host["bk_host_id"] for host in step["step_ip_result_list"]]
    logs = _api.batch_get_job_instance_ip_log(client, SCOPE, job_instance_id, step["step_instance_id"], host_id_list=hosts)
    assert {entry["bk_host_id"] for entry in logs} == set(hosts) and all(isinstance(entry["log"], str) for entry in logs)
    assert isinstance(_api.get_job_instance_global_var_value(client, SCOPE, job_instance_id), dict)


def test_a_refused_callback_url_is_told_apart(job):
    job.fault("execute_job_plan", "business_error", code=_api.CODE_BAD_REQUEST, message=ALLOW_LIST_MESSAGE)
    with pytest.raises(APIError) as caught:
        _api.execute_job_plan(esb(job), SCOPE, 1000, callback_url="http://10.0.0.9:8080/")
    assert _api.callback_url_refused(caught.value)
    assert job.instances() == []
    job.fault("execute_job_plan", "business_error", code=_api.CODE_BAD_REQUEST, message="globalVarList: bad")
    with pytest.raises(APIError) as caught:
        _api.execute_job_plan(esb(job), SCOPE, 1000)
    assert not _api.callback_url_refused(caught.value)


def test_esb_generic_code_is_not_called_a_credentials_problem(job):
    job.fault("get_job_plan_list", "business_error", code=1306000, message="System error")
    with pytest.raises(APIError) as caught:
        _api.get_job_plan_list(esb(job), SCOPE)
    assert not isinstance(caught.value, AuthError) and "credentials" not in caught.value.msg
    job.fault("get_job_plan_list", "business_error", code=1306000,
              message="User authentication failed, please check if the bk_token is valid")
    with pytest.raises(AuthError):
        _api.get_job_plan_list(esb(job), SCOPE)


def test_cross_tenant_and_empty_401_point_at_bk_tenant_id(job):
    job.fault("get_job_plan_list", "http_status", status=403, code=1640302, code_name="CROSS_TENANT_FORBIDDEN",
              message="cross tenant request forbidden")
    with pytest.raises(AuthError) as caught:
        _api.get_job_plan_list(apigw(job), SCOPE)
    assert "set bk_tenant_id" in caught.value.msg
    job.fault("get_job_plan_list", "empty_401")
    with pytest.raises(AuthError) as caught:
        _api.get_job_plan_list(apigw(job, tenant_id="tenant-b"), SCOPE)
    assert "bk_tenant_id (tenant-b)" in caught.value.msg
