# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""execute_job_plan launched through real ansible-playbook / ansible against the JOB emulator."""

from __future__ import annotations

import json

import pytest

from conftest import (  # pylint: disable=import-error
    ACCESS_TOKEN, APP_CODE, APP_SECRET, BK_TOKEN, USERNAME, apigw_connection, esb_connection,
)
from support import PLAN_DEPLOY_APP  # pylint: disable=import-error

MODULE = "blueking.job.execute_job_plan"

# The seed's own request example (seed-execute_job_plan.md), as task arguments.
SEED_VARS = [
    {"id": 436, "server": {"dynamic_group_list": [{"id": "blo8gojho0skft7pr5q0"}],
                           "ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}, {"bk_cloud_id": 0, "ip": "10.0.0.2"}],
                           "topo_node_list": [{"id": 1000, "node_type": "module"}]}},
    {"name": "param_name", "value": "param_value"},
]


def launch(**args):
    return {"name": "launch", MODULE: args}


def assert_no_traceback(result):
    # ansible-core 2.19 adds exception: "(traceback unavailable)" to every failed result.
    assert "Traceback" not in str(result.get("exception", "")) and "module_stderr" not in result, result


def launches(emulator):
    return emulator.requests(api="execute_job_plan")


# ---------------------------------------------------------------------------------------------------
# The happy path on both surfaces: the result and the exact request.

def test_esb_launch_sends_the_seed_request_and_reports_the_instance(job, ansible):
    # The seed's variables (436, param_name) are not plan 1000's: JOB ignores them, so skip the plan check.
    run = ansible.playbook([launch(**esb_connection(job), bk_biz_id=2, job_plan_id=PLAN_DEPLOY_APP, global_var_list=SEED_VARS, validate_vars=False)])
    result = run["r0"]
    assert result["failed"] is False and result["changed"] is True
    assert isinstance(result["job_instance_id"], int) and result["job_instance_id"] > 0
    assert result["job_instance_name"] == "deploy-app"  # JOB names an API launch after the plan, no suffix
    assert result["request_id"]
    assert result["global_var_list"] == SEED_VARS
    [sent] = launches(job)
    assert sent["method"] == "POST"
    assert sent["path"] == "/api/c/compapi/v2/jobv3/execute_job_plan/"
    # start_task false, then operate_job_instance 2 starts the id (the two-phase launch)
    assert sent["body"] == {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": USERNAME,
                            "bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, "global_var_list": SEED_VARS, "start_task": False}
    [start] = job.requests(api="operate_job_instance")
    assert (start["body"]["job_instance_id"], start["body"]["operation_code"]) == (result["job_instance_id"], 2)
    assert "X-Bkapi-Authorization" not in {name.title() for name in sent["headers"]}
    assert job.admin("GET", "/_emulator/instances")["instances"][0]["job_instance_id"] == result["job_instance_id"]


def test_apigw_launch_puts_credentials_only_in_the_header(job, ansible):
    run = ansible.playbook([launch(**apigw_connection(job, bk_tenant_id="tenant-a"), bk_scope_type="biz", bk_scope_id="2",
                                   job_plan_id=PLAN_DEPLOY_APP, global_vars={"app_version": "2.4.1", "target_hosts": {"host_id_list": [101, 102]}})])
    result = run["r0"]
    assert result["changed"] is True and result["job_instance_id"] > 0
    [sent] = launches(job)
    headers = {name.lower(): value for name, value in sent["headers"].items()}
    assert sent["method"] == "POST"
    assert sent["path"] == "/api/bk-job/prod/api/v3/execute_job_plan"
    assert json.loads(headers["x-bkapi-authorization"]) == {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": USERNAME}
    assert " " not in headers["x-bkapi-authorization"], "the header is compact JSON"
    assert headers["x-bk-tenant-id"] == "tenant-a"
    assert sent["body"] == {"bk_scope_type": "biz", "bk_scope_id": "2", "job_plan_id": PLAN_DEPLOY_APP, "start_task": False,
                            "global_var_list": [{"name": "app_version", "value": "2.4.1"},
                                                {"name": "target_hosts", "server": {"host_id_list": [101, 102]}}]}
    assert result["request_id"] == sent.get("response_request_id", result["request_id"])


def test_apigw_access_token_replaces_app_credentials(job, ansible):
    connection = {"bk_api_url": job.apigw_url, "bk_api_type": "apigw", "bk_access_token": ACCESS_TOKEN}
    run = ansible.playbook([launch(**connection, bk_scope_id="2", job_plan_id=PLAN_DEPLOY_APP)])
    assert run["r0"]["changed"] is True
    [sent] = launches(job)
    headers = {name.lower(): value for name, value in sent["headers"].items()}
    assert json.loads(headers["x-bkapi-authorization"]) == {"access_token": ACCESS_TOKEN}
    assert sent["body"] == {"bk_scope_type": "biz", "bk_scope_id": "2", "job_plan_id": PLAN_DEPLOY_APP, "start_task": False}


def test_esb_bk_token_and_options_sent_only_when_set(job, ansible):
    connection = {"bk_api_url": job.url, "bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_token": BK_TOKEN}
    run = ansible.playbook([
        launch(**connection, bk_scope_type="biz", bk_scope_id="2", job_plan_id=PLAN_DEPLOY_APP),
        launch(**connection, bk_biz_id=2, job_plan_id=PLAN_DEPLOY_APP, callback_url="https://hooks.example.com/bk-job", start_task=False, wait=False,
               validate_vars=False, global_vars={"replicas": 3, "debug": True, "ratio": 0.25}),
    ])
    assert run["r0"]["changed"] is True and run["r1"]["changed"] is True
    first, second = launches(job)
    assert first["body"] == {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_token": BK_TOKEN,
                             "bk_scope_type": "biz", "bk_scope_id": "2", "job_plan_id": PLAN_DEPLOY_APP, "start_task": False}
    assert second["body"] == {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_token": BK_TOKEN, "bk_biz_id": 2,
                              "job_plan_id": PLAN_DEPLOY_APP, "callback_url": "https://hooks.example.com/bk-job", "start_task": False,
                              "global_var_list": [{"name": "replicas", "value": "3"}, {"name": "debug", "value": "true"},
                                                  {"name": "ratio", "value": "0.25"}]}
    assert run["r0"]["job_instance_id"] != run["r1"]["job_instance_id"]
    # the first is started by its id; the second (start_task: false set by the user) is only created
    assert [call["body"]["job_instance_id"] for call in job.requests(api="operate_job_instance")] == [run["r0"]["job_instance_id"]]


def test_module_defaults_group_sets_the_connection_once(job, ansible):
    run = ansible.playbook([launch(bk_biz_id=2, job_plan_id=PLAN_DEPLOY_APP), launch(bk_biz_id=2, job_plan_id=1003, global_vars={"app_version": "1.2"})],
                           module_defaults={"group/blueking.job.bk_job": esb_connection(job, bk_job_web_url="https://job.example.com")})
    assert [run[key]["changed"] for key in ("r0", "r1")] == [True, True]
    assert run["r1"]["job_instance_url"] == f"https://job.example.com/api_execute/{run['r1']['job_instance_id']}"
    assert [sent["body"]["job_plan_id"] for sent in launches(job)] == [1000, 1003]


def test_adhoc_with_credentials_from_the_environment(job, ansible):
    env = {"BK_API_URL": job.apigw_url, "BK_API_TYPE": "apigw", "BK_APP_CODE": APP_CODE, "BK_APP_SECRET": APP_SECRET,
           "BK_USERNAME": USERNAME}
    run = ansible.adhoc(MODULE, {"bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, "global_vars": {"app_version": "3.0"}}, env=env)
    assert run.rc == 0, run.output[-3000:]
    assert run.results["changed"] is True and run.results["job_instance_id"] > 0
    [sent] = launches(job)
    assert sent["body"] == {"bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, "global_var_list": [{"name": "app_version", "value": "3.0"}],
                            "start_task": False}


def test_check_mode_sends_nothing_and_reports_what_it_would_send(job, ansible):
    run = ansible.playbook([launch(**esb_connection(job), bk_biz_id=2, job_plan_id=PLAN_DEPLOY_APP, global_vars={"app_version": 7})], check=True)
    result = run["r0"]
    assert result["changed"] is True
    assert result["global_var_list"] == [{"name": "app_version", "value": "7"}]
    assert "job_instance_id" not in result
    assert launches(job) == []
    assert {sent["api"] for sent in job.requests()} == {"get_job_plan_detail"}, "check mode only reads the plan"


def test_adhoc_check_mode_sends_nothing(job, ansible):
    env = {"BK_API_URL": job.url, "BK_APP_CODE": APP_CODE, "BK_APP_SECRET": APP_SECRET, "BK_USERNAME": USERNAME}
    run = ansible.adhoc(MODULE, {"bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP}, env=env)
    assert run.results["changed"] is True
    assert len(launches(job)) == 1
    job.reset()
    argv = [ansible.adhoc_bin, "localhost", "--check", "-m", MODULE, "-a", json.dumps({"bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP})]
    completed = ansible.run_command(argv, env, ())
    assert completed.returncode == 0
    assert launches(job) == []


# ---------------------------------------------------------------------------------------------------
# Bad input: a clear msg naming the option, no traceback, nothing sent.

BAD_INPUTS = [
    ({"job_plan_id": PLAN_DEPLOY_APP, "global_vars": {"labels": ["a", "b"]}}, "global_vars.labels: a list cannot be sent"),
    ({"job_plan_id": PLAN_DEPLOY_APP, "global_var_list": [{"name": "x", "value": {"k": "v"}}]}, "global_var_list[0] (name 'x'): a dict cannot be sent"),
    ({"job_plan_id": PLAN_DEPLOY_APP, "global_var_list": [{"value": "v"}]}, "global_var_list[0] needs an id or a name"),
    ({"job_plan_id": PLAN_DEPLOY_APP, "global_var_list": [{"name": "h", "value": "v", "server": {"host_id_list": [1]}}]}, "has both value and server"),
    ({"job_plan_id": PLAN_DEPLOY_APP, "global_vars": {"h": {"ip_list": [{"ip": "10.0.0.256"}]}}}, "global_vars.h.ip_list[0].ip must be an IPv4 address"),
    ({"job_plan_id": PLAN_DEPLOY_APP, "callback_url": "ftp://hooks.example.com/x"}, "callback_url must be an http:// or https:// URL"),
    ({"job_plan_id": 0}, "job_plan_id must be a positive integer"),
    ({"job_plan_id": -5}, "job_plan_id must be a positive integer"),
    ({"job_plan_id": "ten"}, "job_plan_id"),
    ({"job_plan_id": PLAN_DEPLOY_APP, "global_var_list": [{"id": 0, "value": "v"}]}, "global_var_list[0].id must be a positive integer"),
    ({"job_plan_id": PLAN_DEPLOY_APP, "global_var_list": [{"name": "a", "value": "1"}], "global_vars": {"b": "2"}}, "mutually exclusive"),
    ({"job_plan_id": PLAN_DEPLOY_APP, "global_vars": {"h": {"topo_node_list": [{"id": 5, "node_type": "no such type!"}]}}},
     "node_type must be a CMDB object id"),
]


def test_bad_input_fails_before_any_request(job, ansible):
    tasks = [launch(**esb_connection(job), bk_biz_id=2, **args) for args, _expected in BAD_INPUTS]
    run = ansible.playbook(tasks)
    for index, (args, expected) in enumerate(BAD_INPUTS):
        result = run[f"r{index}"]
        assert result["failed"] is True, args
        assert expected in result["msg"], (expected, result["msg"])
        assert_no_traceback(result)
    assert job.requests() == []


BAD_CONNECTIONS = [
    ({"bk_biz_id": 2, "bk_scope_id": "2"}, "mutually exclusive"),
    ({}, "one of the following is required: bk_biz_id, bk_scope_id"),
    ({"bk_scope_type": "biz_set", "bk_biz_id": 2}, "bk_scope_type"),
    ({"bk_biz_id": -1}, "bk_biz_id must be a positive integer"),
    ({"bk_scope_id": "two"}, "bk_scope_id must be a positive integer"),
    ({"bk_biz_id": 2, "bk_app_secret": None}, "Missing credentials: bk_app_secret"),
    ({"bk_biz_id": 2, "bk_username": None}, "Missing credentials: bk_username or bk_token"),
    ({"bk_biz_id": 2, "bk_api_type": "soap"}, "bk_api_type"),
    ({"bk_biz_id": 2, "request_timeout": -1}, "request_timeout must be a positive number"),
    ({"bk_biz_id": 2, "ca_path": "/nonexistent/ca.pem"}, "ca_path '/nonexistent/ca.pem' does not exist"),
]


def test_bad_connection_and_scope_fail_before_any_request(job, ansible):
    tasks = []
    for args, _expected in BAD_CONNECTIONS:
        task_args = {**esb_connection(job), "job_plan_id": PLAN_DEPLOY_APP, **args}
        tasks.append(launch(**{key: value for key, value in task_args.items() if value is not None}))
    run = ansible.playbook(tasks)
    for index, (args, expected) in enumerate(BAD_CONNECTIONS):
        result = run[f"r{index}"]
        assert result["failed"] is True, args
        assert expected in result["msg"], (expected, result["msg"])
        assert APP_SECRET not in json.dumps(result)
    assert job.requests() == []


def test_url_with_a_password_is_refused_and_not_echoed(job, ansible):
    url = job.url.replace("http://", "http://admin:url-pass-1234@")
    run = ansible.playbook([launch(**esb_connection(job, bk_api_url=url), bk_biz_id=2, job_plan_id=PLAN_DEPLOY_APP)], secrets=("url-pass-1234",))
    assert run["r0"]["failed"] is True
    assert "must not carry a user name or password" in run["r0"]["msg"]
    assert job.requests() == []


# ---------------------------------------------------------------------------------------------------
# Every error kind: one sentence, the error object, the launch sent exactly once.

ESB_FAULTS = [
    ("business_error", {"code": 1244005, "message": "启动作业失败"}, "api", 1244005, "JOB refused execute_job_plan (code 1244005"),
    ("permission", {}, "permission", 9900403, "BlueKing IAM denied execute_job_plan"),
    ("missing_param_400", {}, "api", 1241004, "JOB refused execute_job_plan (code 1241004"),
]
# Answers after which JOB may have created the instance: the create (start_task false) is sent again, the warning says why.
UNCLEAR_FAULTS = [
    ("html_502", {}, "returned HTTP 502 with a body that is not JSON"),
    # ESB wraps JOB's non-JSON, truncated, 401 and 5xx answers as 1306201 (blueking-apigateway esb components)
    ("non_json", {}, "ESB got no usable answer from JOB"),
    ("garbled_json", {}, "ESB got no usable answer from JOB"),
    ("empty_401", {}, "ESB got no usable answer from JOB"),
    ("drop", {}, "broke during execute_job_plan"),
    ("http_status", {"status": 503}, "execute_job_plan"),
]


@pytest.mark.parametrize("kind, params, error_kind, code, expected", ESB_FAULTS, ids=[fault[0] for fault in ESB_FAULTS])
def test_esb_faults_give_a_clear_message_and_one_launch(job, ansible, kind, params, error_kind, code, expected):
    job.fault("execute_job_plan", kind, **params)
    run = ansible.playbook([launch(**esb_connection(job), bk_biz_id=2, job_plan_id=PLAN_DEPLOY_APP)])
    result = run["r0"]
    assert result["failed"] is True
    assert expected in result["msg"], result["msg"]
    error = result["error"]
    assert error["kind"] == error_kind and error["api"] == "execute_job_plan"
    assert error["stage"] == ("auth" if error_kind == "auth" else "launch")
    if code is not None:
        assert error["code"] == code
    if kind == "permission":
        assert error["permission"]["system_id"] == "bk_job"
        assert "'业务访问'" in result["msg"]
    assert len(launches(job)) == 1, "the launch must be sent exactly once"


@pytest.mark.parametrize("kind, params, expected", UNCLEAR_FAULTS, ids=[fault[0] for fault in UNCLEAR_FAULTS])
def test_esb_unclear_create_is_sent_again_and_the_job_starts_once(job, ansible, kind, params, expected):
    job.fault("execute_job_plan", kind, **params)
    run = ansible.playbook([launch(**esb_connection(job), bk_biz_id=2, job_plan_id=PLAN_DEPLOY_APP, wait=False)])
    result = run["r0"]
    assert result["failed"] is False and result["changed"] is True
    [warning] = [text for text in result.get("warnings") or [] if "got no clear answer once" in text]
    assert expected in warning and f"job instance {result['job_instance_id']} is this task's" in warning
    assert len(launches(job)) == 2
    started = [item for item in job.instances() if item["status"] != 1]
    assert [item["job_instance_id"] for item in started] == [result["job_instance_id"]]


APIGW_FAULTS = [
    ("http_status", {"status": 429, "count": -1}, "rate_limit", 429, 1642902, "rate-limited execute_job_plan"),
    ("http_status", {"status": 502, "count": -1}, "http", 502, 1650200, "got no clear answer 3 times"),
    ("http_status", {"status": 504, "count": -1}, "http", 504, 1650401, "got no clear answer 3 times"),
    ("permission", {}, "permission", 200, 9900403, "BlueKing IAM denied"),
    ("business_error", {"code": 1244012, "message": "执行方案不存在"}, "api", 200, 1244012, "执行方案不存在"),
]


@pytest.mark.parametrize("kind, params, error_kind, http_status, code, expected", APIGW_FAULTS,
                         ids=[f"{fault[0]}-{fault[3]}" for fault in APIGW_FAULTS])
def test_apigw_faults_carry_status_code_and_request_id(job, ansible, kind, params, error_kind, http_status, code, expected):
    job.fault("execute_job_plan", kind, **params)
    run = ansible.playbook([launch(**apigw_connection(job), bk_scope_id="2", job_plan_id=PLAN_DEPLOY_APP)])
    result = run["r0"]
    assert result["failed"] is True and expected in result["msg"], result["msg"]
    error = result["error"]
    assert (error["kind"], error["http_status"], error["code"]) == (error_kind, http_status, code)
    assert error["request_id"], "the gateway's X-Bkapi-Request-Id must be reported"
    # refused before JOB (429): sent again, 3 attempts; unclear (502, 504): created again at most 3 times; else once
    assert len(launches(job)) == (3 if params.get("count") == -1 else 1)
    assert not [item for item in job.instances() if item["status"] != 1], "nothing was started"


def test_apigw_rate_limited_launch_is_sent_again(job, ansible):
    job.fault("execute_job_plan", "http_status", status=429, reset=1)
    result = ansible.playbook([launch(**apigw_connection(job), bk_scope_id="2", job_plan_id=PLAN_DEPLOY_APP, wait=False)])["r0"]
    assert result["failed"] is False and not result.get("warnings")
    assert len(launches(job)) == 2 and [item["job_instance_id"] for item in job.instances()] == [result["job_instance_id"]]


def test_esb_wrong_secret_is_an_auth_error(job, ansible):
    run = ansible.playbook([launch(**esb_connection(job, bk_app_secret="wrong-secret-value"), bk_biz_id=2, job_plan_id=PLAN_DEPLOY_APP)],
                           secrets=("wrong-secret-value",))
    result = run["r0"]
    assert result["failed"] is True
    assert result["error"]["stage"] == "auth" and result["error"]["code"] == 1306000 and result["error"]["http_status"] == 200
    assert "did not accept the credentials" in result["msg"]
    assert result["error"]["request_id"]
    assert job.admin("GET", "/_emulator/instances")["instances"] == []


def test_apigw_wrong_secret_is_a_gateway_auth_error(job, ansible):
    run = ansible.playbook([launch(**apigw_connection(job, bk_app_secret="wrong-secret-value"), bk_scope_id="2", job_plan_id=PLAN_DEPLOY_APP)],
                           secrets=("wrong-secret-value",))
    error = run["r0"]["error"]
    assert (error["stage"], error["http_status"], error["code"]) == ("auth", 400, 1640001)
    assert "The API gateway rejected the request" in run["r0"]["msg"]


def test_unknown_plan_is_reported_with_jobs_code(job, ansible):
    run = ansible.playbook([launch(**esb_connection(job), bk_biz_id=2, job_plan_id=999999),
                            launch(**esb_connection(job), bk_biz_id=2, job_plan_id=999999, validate_vars=False)])
    assert (run["r0"]["error"]["code"], run["r0"]["error"]["stage"]) == (1243009, "lookup")
    assert "JOB refused get_job_plan_detail (code 1243009" in run["r0"]["msg"]
    assert (run["r1"]["error"]["code"], run["r1"]["error"]["stage"]) == (1244012, "launch")
    assert "JOB refused execute_job_plan (code 1244012" in run["r1"]["msg"]
    assert len(launches(job)) == 1


def test_slow_create_past_request_timeout_is_sent_again_and_starts_once(job, ansible):
    job.fault("execute_job_plan", "slow", seconds=4)
    run = ansible.playbook([launch(**esb_connection(job, request_timeout=1), bk_biz_id=2, job_plan_id=PLAN_DEPLOY_APP, wait=False)])
    result = run["r0"]
    assert result["failed"] is False
    assert any("within request_timeout (1 s)" in warning and "got no clear answer once" in warning for warning in result["warnings"])
    assert len(launches(job)) == 2
    started = [item for item in job.instances() if item["status"] != 1]
    assert [item["job_instance_id"] for item in started] == [result["job_instance_id"]]


def test_connection_refused_and_dns_failure(job, ansible):
    run = ansible.playbook([
        launch(**esb_connection(job, bk_api_url="http://127.0.0.1:9"), bk_biz_id=2, job_plan_id=PLAN_DEPLOY_APP),
        launch(**esb_connection(job, bk_api_url="http://bkjob-emulator.invalid"), bk_biz_id=2, job_plan_id=PLAN_DEPLOY_APP),
    ])
    assert "was refused" in run["r0"]["msg"] and run["r0"]["error"]["kind"] == "transport"
    assert "Could not resolve the host bkjob-emulator.invalid" in run["r1"]["msg"]


def test_ansible_doc_renders(ansible):
    completed = ansible.run_command([ansible.adhoc_bin + "-doc", MODULE], None, ())
    assert completed.returncode == 0, completed.stderr
    assert "global_var_list" in completed.stdout and "bk_api_url" in completed.stdout


def test_callback_url_credentials_are_refused_and_never_shown(job, ansible):
    # Recent JOB refuses a callback URL with user info (CallbackUrlValidateServiceImpl.isValid): refused before sending.
    callback = "https://hook:cb-pass-7781@hooks.example.com/bk-job"
    run = ansible.playbook([launch(**esb_connection(job), bk_biz_id=2, job_plan_id=PLAN_DEPLOY_APP, callback_url=callback)], secrets=("cb-pass-7781",))
    assert run["r0"]["failed"] is True and "must not carry a user name or password" in run["r0"]["msg"]
    assert launches(job) == []
