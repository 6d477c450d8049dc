# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Missing and invalid parameters, and JOB's input rules, as bk-job's v3 resources check them: always HTTP 200."""

from __future__ import annotations

import time

import pytest

from raw_call import SCOPE, call  # pylint: disable=import-error
from support import ESB_CREDENTIALS, PLAN_DEPLOY_APP  # pylint: disable=import-error

NOW = int(time.time() * 1000)
WINDOW = {"create_time_start": NOW - 3600000, "create_time_end": NOW + 3600000}


def _refused(job, api, params, surface="apigw"):
    status, body, _raw, _headers = call(job, api, params, surface=surface)
    assert status == 200, (status, body)
    assert body["result"] is False and "data" not in body
    return body["code"], body["message"]


@pytest.mark.parametrize("surface", ["esb", "apigw"])
@pytest.mark.parametrize("api, params, expected", [
    # EsbExecuteJobPlanV3ResourceImpl.checkExecuteTaskRequest
    ("execute_job_plan", {}, (1241005, "请求参数[job_plan_id]不合法")),
    ("execute_job_plan", {"job_plan_id": 0}, (1241005, "请求参数[job_plan_id]不合法")),
    # EsbBatchGetJobInstanceIpLogV3Request bean validation, then checkRequest
    ("batch_get_job_instance_ip_log", {"step_instance_id": 1, "host_id_list": [101]}, (1240003, "任务实例ID必须为正整数")),
    ("batch_get_job_instance_ip_log", {"job_instance_id": 1, "host_id_list": [101]}, (1240003, "步骤实例ID必须为正整数")),
    ("batch_get_job_instance_ip_log", {"job_instance_id": 1, "step_instance_id": 1},
     (1241007, "请求参数[host_id_list/ip_list]缺失或不合法")),
    ("operate_job_instance", {"operation_code": 1}, (1241002, "请求参数不合法")),
])
def test_post_apis_refuse_with_http_200(job, surface, api, params, expected):
    assert _refused(job, api, dict(SCOPE, **params), surface) == expected


@pytest.mark.parametrize("api, params, esb, apigw", [
    # POST (ESB always POSTs to JOB): each API's checkRequest; GET (gateway): a missing required @RequestParam
    ("get_job_instance_status", {}, (1241007, "请求参数[job_instance_id]缺失或不合法"), (1240003, "错误的请求")),
    ("get_job_instance_global_var_value", {}, (1241007, "请求参数[job_instance_id]缺失或不合法"), (1240003, "错误的请求")),
    ("get_job_plan_detail", {}, (1241007, "请求参数[job_plan_id]缺失或不合法"), (1240003, "错误的请求")),
    ("get_job_instance_ip_log", {"step_instance_id": 1, "bk_host_id": 101}, (1240003, "任务实例ID必须为正整数"),
     (1240003, "错误的请求")),
    ("get_job_instance_list", {"create_time_end": NOW}, (1241007, "请求参数[create_time_start]缺失或不合法"),
     (1240003, "错误的请求")),
])
def test_get_apis_missing_parameter_depends_on_how_job_receives_it(job, api, params, esb, apigw):
    assert _refused(job, api, dict(SCOPE, **params), "esb") == esb
    assert _refused(job, api, dict(SCOPE, **params), "apigw") == apigw


def test_status_with_job_instance_id_zero_is_1241007(job):
    assert _refused(job, "get_job_instance_status", dict(SCOPE, job_instance_id=0)) == (
        1241007, "请求参数[job_instance_id]缺失或不合法")


def test_ip_log_without_a_host_is_1241007(job):
    assert _refused(job, "get_job_instance_ip_log", dict(SCOPE, job_instance_id=1, step_instance_id=1)) == (
        1241007, "请求参数[host_id/(bk_cloud_id+ip)]缺失或不合法")


@pytest.mark.parametrize("params, message", [
    ({}, "非法的资源范围类型"),
    ({"bk_scope_type": "cluster", "bk_scope_id": "2"}, "非法的资源范围类型"),
    ({"bk_scope_type": "biz", "bk_scope_id": " "}, "非法的资源范围 ID"),
    ({"bk_biz_id": 0}, "非法的业务 ID"),
])
def test_scope_bean_validation_is_1240003_with_the_violation_message(job, params, message):
    """EsbAppScopeReq: ValidBkScope and @Min(1) bk_biz_id; the message is the violation's alone."""
    assert _refused(job, "execute_job_plan", dict(params, job_plan_id=PLAN_DEPLOY_APP), "esb") == (1240003, message)


@pytest.mark.parametrize("value", ["abc", [1], {"a": 1}])
def test_wrong_type_is_bad_request(job, value):
    assert _refused(job, "execute_job_plan", dict(SCOPE, job_plan_id=value)) == (1240003, "错误的请求")


def test_unreadable_body_is_bad_request(job):
    import json  # pylint: disable=import-outside-toplevel
    import urllib.request  # pylint: disable=import-outside-toplevel
    request = urllib.request.Request(f"{job.apigw_url}/api/v3/execute_job_plan", data=b"{not json", method="POST", headers={
        "Content-Type": "application/json", "X-Bkapi-Authorization": json.dumps(ESB_CREDENTIALS)})
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback emulator)
        assert answer.status == 200
        body = json.loads(answer.read())
    assert (body["result"], body["code"], body["message"]) == (False, 1240003, "错误的请求")


@pytest.mark.parametrize("var, message", [
    # EsbGlobalVarV3DTO.id @Min(1): refused even beside a name
    ({"id": 0, "name": "app_version", "value": "2"}, "非法的全局变量 ID"),
    ({"id": -3, "name": "app_version", "value": "2"}, "非法的全局变量 ID"),
    # EsbDynamicGroupDTO.id, EsbCmdbTopoNodeDTO.id / node_type @NotNull
    ({"name": "target_hosts", "server": {"dynamic_group_list": [{}]}}, "动态分组 ID 不可为空"),
    ({"name": "target_hosts", "server": {"topo_node_list": [{"node_type": "module"}]}}, "拓扑节点 ID 不可为空"),
    ({"name": "target_hosts", "server": {"topo_node_list": [{"id": 1000}]}}, "拓扑节点类型不可为空"),
    # EsbIpDTO: bk_cloud_id @NotNull @Min(0), ip @Pattern on the whole string (trimIps() runs after validation)
    ({"name": "target_hosts", "server": {"ip_list": [{"ip": "10.0.0.1"}]}}, "管控区域 ID 非法"),
    ({"name": "target_hosts", "server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.256"}]}}, "IP 非法"),
    ({"name": "target_hosts", "server": {"ip_list": [{"bk_cloud_id": 0, "ip": " 10.0.0.1 "}]}}, "IP 非法"),
])
def test_global_var_list_bean_validation(job, var, message):
    assert _refused(job, "execute_job_plan", dict(SCOPE, job_plan_id=PLAN_DEPLOY_APP, global_var_list=[var])) == (1240003, message)
    assert not job.instances()


def test_variable_without_id_and_name_is_1241005(job):
    assert _refused(job, "execute_job_plan", dict(SCOPE, job_plan_id=PLAN_DEPLOY_APP, global_var_list=[{"value": "x"}])) == (
        1241005, "请求参数[global_var.id|global_var.name]不合法")


def test_legacy_biz_and_group_dynamic_group_id_is_understood(job):
    """TaskExecuteServiceImpl.standardizeDynamicGroupId: "bizId:groupId" keeps the group id."""
    server = {"dynamic_group_list": [{"id": "2:blo8gojho0skft7pr5q0"}]}
    status, body, _raw, _headers = call(job, "execute_job_plan", dict(
        SCOPE, job_plan_id=PLAN_DEPLOY_APP, global_var_list=[{"name": "target_hosts", "server": server}]))
    assert status == 200 and body["result"] is True, body
    [instance] = job.instances()
    assert {host["bk_host_id"] for host in instance["steps"][0]["hosts"]} == {103}


@pytest.mark.parametrize("length, refused", [(0, True), (1001, True), (1, False), (1000, False)])
def test_instance_list_length_outside_1_to_1000_is_refused(job, length, refused):
    """EsbGetJobInstanceListV3Request.length @Range(1, 1000), validated on the POST body (ESB)."""
    status, body, _raw, _headers = call(job, "get_job_instance_list", dict(SCOPE, length=length, **WINDOW), surface="esb")
    assert status == 200
    if refused:
        assert (body["result"], body["code"], body["message"]) == (False, 1240003, "单次返回最大记录数量length必须在 1-1000 之间")
    else:
        assert body["result"] is True


def test_tenant_set_scope_type_exists(job):
    """ResourceScopeTypeEnum.TENANT_SET (3.12, multi-tenant)."""
    status, body, _raw, _headers = call(job, "get_job_plan_list", {"bk_scope_type": "tenant_set", "bk_scope_id": "1"})
    assert status == 200 and body["result"] is True, body
    assert body["data"]["data"] == []


@pytest.mark.parametrize("biz_id, scope_type", [(8000000, "biz_set"), (9991001, "biz_set"), (9999999, "biz_set"), (2, "biz")])
def test_bk_biz_id_in_8000000_to_9999999_is_a_business_set(job, biz_id, scope_type):
    """EsbAppScopeReq.fillAppResourceScope."""
    status, body, _raw, _headers = call(job, "get_job_plan_list", {"bk_biz_id": biz_id})
    if (scope_type, str(biz_id)) in (("biz_set", "9991001"), ("biz", "2")):
        assert body["result"] is True and body["data"]["data"][0]["bk_scope_type"] == scope_type
    else:
        assert status == 200 and body["result"] is False and f"{scope_type}:{biz_id}" in body["message"]
