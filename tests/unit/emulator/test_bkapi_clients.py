# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""BlueKing's own clients work against the emulator unchanged: bkapi-component-open (ESB, ``Client().jobv3``) and
a bkapi-client-core ``APIGatewayClient`` for JOB's gateway resources, calling every API the collection uses."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("bkapi_client_core")
open_client = pytest.importorskip("bkapi_component.open.client")

# pylint: disable=wrong-import-position,import-error
from bkapi_client_core.apigateway import APIGatewayClient, Operation, OperationGroup, bind_property  # noqa: E402
from bkapi_client_core.exceptions import APIGatewayResponseError  # noqa: E402

from raw_call import APP  # noqa: E402
from support import PLAN_DEPLOY_APP  # noqa: E402

SCOPE = {"bk_scope_type": "biz", "bk_scope_id": "2"}


def _resource(name, method):
    return bind_property(Operation, name=name, method=method, path=f"/api/v3/{name}")


class JobGroup(OperationGroup):
    """JOB's gateway resources (support-files/bk-api-gateway/v3 in bk-job) the collection uses."""

    execute_job_plan = _resource("execute_job_plan", "POST")
    get_job_instance_status = _resource("get_job_instance_status", "GET")
    get_job_plan_list = _resource("get_job_plan_list", "GET")
    get_job_plan_detail = _resource("get_job_plan_detail", "GET")
    operate_job_instance = _resource("operate_job_instance", "POST")
    batch_get_job_instance_ip_log = _resource("batch_get_job_instance_ip_log", "POST")
    get_job_instance_ip_log = _resource("get_job_instance_ip_log", "GET")
    get_job_instance_global_var_value = _resource("get_job_instance_global_var_value", "GET")
    get_job_instance_list = _resource("get_job_instance_list", "GET")


class JobGatewayClient(APIGatewayClient):
    _api_name = "bk-job"
    api = bind_property(JobGroup, name="api")


def _esb(job):
    client = open_client.Client(endpoint=job.url, bk_api_ver="v2")
    client.update_bkapi_authorization(bk_app_code=APP["bk_app_code"], bk_app_secret=APP["bk_app_secret"], bk_username="admin")
    return client.jobv3


def _gateway(job):
    client = JobGatewayClient(endpoint=f"{job.url}/api/bk-job", stage="prod")
    client.update_bkapi_authorization(bk_app_code=APP["bk_app_code"], bk_app_secret=APP["bk_app_secret"], bk_username="admin")
    return client.api


def _ok(answer):
    assert answer["result"] is True and answer["code"] == 0, answer
    return answer["data"]


@pytest.mark.parametrize("make", [_esb, _gateway], ids=["esb", "apigw"])
def test_every_api_the_collection_uses(job, make):
    api = make(job)

    def get(operation, **params):
        return operation(params=params)

    plans = _ok(get(api.get_job_plan_list, name="deploy-app", **SCOPE))
    assert [plan["id"] for plan in plans["data"]][:2] == [1000, 1001]
    detail = _ok(get(api.get_job_plan_detail, job_plan_id=PLAN_DEPLOY_APP, **SCOPE))
    assert detail["name"] == "deploy-app"
    job.next_launch(output_vars={"app_version": "2.0.0"})
    launched = _ok(api.execute_job_plan(data=dict(SCOPE, job_plan_id=PLAN_DEPLOY_APP, global_var_list=[{"name": "app_version", "value": "2.0.0"}])))
    assert launched["job_instance_name"] == "deploy-app"
    job_instance_id = launched["job_instance_id"]
    deadline = time.monotonic() + 5
    while True:
        status = _ok(get(api.get_job_instance_status, job_instance_id=job_instance_id, return_ip_result="true", **SCOPE))
        if status["finished"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status["job_instance"]["status"] == 3
    first = status["step_instance_list"][0]
    assert first["step_ip_result_list"][0]["bk_host_id"] == 101
    log = _ok(get(api.get_job_instance_ip_log, job_instance_id=job_instance_id, step_instance_id=first["step_instance_id"],
                  bk_host_id=101, **SCOPE))
    assert "host 10.0.0.1 step check env" in log["log_content"]
    logs = _ok(api.batch_get_job_instance_ip_log(data=dict(SCOPE, job_instance_id=job_instance_id,
                                                           step_instance_id=first["step_instance_id"], host_id_list=[101])))
    assert logs["script_task_logs"][0]["bk_host_id"] == 101
    values = _ok(get(api.get_job_instance_global_var_value, job_instance_id=job_instance_id, **SCOPE))
    assert {"name": "app_version", "value": "2.0.0", "type": 1} in values["step_instance_var_list"][0]["global_var_list"]
    now = int(time.time() * 1000)
    history = _ok(get(api.get_job_instance_list, create_time_start=now - 60000, create_time_end=now + 60000, **SCOPE))
    assert [item["job_instance_id"] for item in history["data"]] == [job_instance_id]
    stopped = _ok(api.execute_job_plan(data=dict(SCOPE, job_plan_id=PLAN_DEPLOY_APP, start_task=False)))
    assert _ok(api.operate_job_instance(data=dict(SCOPE, job_instance_id=stopped["job_instance_id"], operation_code=2)))
    refused = api.operate_job_instance(data=dict(SCOPE, job_instance_id=stopped["job_instance_id"], operation_code=2))
    assert (refused["result"], refused["code"]) == (False, 1241015)


def test_gateway_errors_reach_the_client_as_bkapi_errors(job):
    """The gateway's own refusals carry X-Bkapi-Error-Code, which bkapi-client-core raises on."""
    client = JobGatewayClient(endpoint=f"{job.url}/api/bk-job", stage="prod")
    client.update_bkapi_authorization(bk_app_code=APP["bk_app_code"], bk_app_secret="wrong", bk_username="admin")
    with pytest.raises(APIGatewayResponseError) as caught:
        client.api.get_job_plan_list(params=SCOPE)
    assert caught.value.response.status_code == 400
    assert caught.value.response.json()["code"] == 1640001


def test_esb_1306201_is_a_normal_answer_for_the_esb_client(job):
    job.fault("get_job_plan_list", "http_status", status=502, surface="esb")
    answer = _esb(job).get_job_plan_list(params=SCOPE)
    assert (answer["result"], answer["code"]) == (False, 1306201)
