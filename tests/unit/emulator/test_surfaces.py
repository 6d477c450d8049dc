# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ESB and the API gateway in front of JOB: user verification, ESB's wrapping of JOB's failures, tenants, and
JOB's own unexpected failures (fault kinds)."""

from __future__ import annotations

import time

import pytest

from process import Emulator  # pylint: disable=import-error
from raw_call import APP, SCOPE, call  # pylint: disable=import-error
from support import APP_CODE, APP_SECRET, BK_TOKEN, PLAN_DEPLOY_APP  # pylint: disable=import-error

LAUNCH = dict(SCOPE, job_plan_id=PLAN_DEPLOY_APP)
BARE_USER = dict(APP, bk_username="admin")


def test_bare_bk_username_is_refused_unless_the_app_is_exempted():
    """ESB UserAuthValidator (is_skip_user_auth) and the gateway's bk-verified-user-exempted-apps: BlueKing exempts
    no app unless told to, so the emulator's default refuses a bare bk_username."""
    with Emulator(config={"skip_user_auth_apps": []}) as job:
        status, body, _raw, _headers = call(job, "get_job_plan_list", SCOPE, surface="esb", auth=BARE_USER)
        assert (status, body["code"], body["message"]) == (
            200, 1306000, "User authentication failed, please provide a valid user identity, such as bk_token, bk_username")
        status, body, _raw, _headers = call(job, "get_job_plan_list", SCOPE, surface="apigw", auth=BARE_USER)
        assert (status, body["code"], body["code_name"]) == (400, 1640001, "INVALID_ARGS")
        assert "the user indicated by bk_username is not verified" in body["message"]
        # a real user identity still works
        status, body, _raw, _headers = call(job, "get_job_plan_list", SCOPE, surface="apigw",
                                            auth=dict(APP, bk_token=BK_TOKEN))
        assert status == 200 and body["result"] is True


def test_exempted_app_may_name_a_user(job):
    for surface in ("esb", "apigw"):
        status, body, _raw, _headers = call(job, "get_job_plan_list", SCOPE, surface=surface, auth=BARE_USER)
        assert status == 200 and body["result"] is True


@pytest.mark.parametrize("status", [500, 502, 503, 429, 401])
def test_esb_wraps_a_job_http_status_as_http_200_1306201(job, status):
    job.fault("execute_job_plan", "http_status", status=status, surface="esb")
    answer_status, body, _raw, _headers = call(job, "execute_job_plan", LAUNCH, surface="esb")
    assert answer_status == 200 and body["code"] == 1306201 and body["result"] is False and body["data"] is None
    assert body["message"] == (f"Component request third-party system [JOBV3] interface [execute_job_plan] error: "
                               f"Status Code: {status}, Error Message: third-party system interface response status code "
                               "is not 200, please try again later or contact component developer to handle this")
    assert body["request_id"]


def test_gateway_passes_its_own_5xx_answers():
    with Emulator() as job:
        job.fault("execute_job_plan", "http_status", status=502, surface="apigw")
        status, body, _raw, headers = call(job, "execute_job_plan", LAUNCH)
        assert (status, body["code"], body["code_name"]) == (502, 1650200, "BAD_GATEWAY")
        assert headers["X-Bkapi-Request-Id"]


def test_esb_gives_up_on_job_after_its_timeout():
    """ESB waits REQUEST_TIMEOUT_SECS (30) for JOB, then answers 1306201; here the wait is shortened."""
    with Emulator(config={"esb_timeout_seconds": 0.5, "apigw_timeout_seconds": 0.5}) as job:
        job.fault("execute_job_plan", "job_timeout", surface="esb")
        started = time.monotonic()
        status, body, _raw, _headers = call(job, "execute_job_plan", LAUNCH, surface="esb")
        assert 0.45 <= time.monotonic() - started < 5
        assert (status, body["code"]) == (200, 1306201)
        assert "Third-party system interface response time exceeds 0.5 seconds" in body["message"]
        job.fault("execute_job_plan", "job_timeout", surface="apigw")
        status, body, _raw, _headers = call(job, "execute_job_plan", LAUNCH)
        assert (status, body["code"], body["code_name"]) == (504, 1650401, "REQUEST_BACKEND_TIMEOUT")
        # a JOB quicker than the limit answers normally
        job.fault("execute_job_plan", "job_timeout", seconds=0.1, surface="esb")
        status, body, _raw, _headers = call(job, "execute_job_plan", LAUNCH, surface="esb")
        assert body["result"] is True


def test_esb_default_timeout_is_30_seconds(job):
    """The default itself, without waiting 30 s: the admin view of the config."""
    assert job.admin("GET", "/_emulator/config")["config"]["esb_timeout_seconds"] == 30


def test_esb_tls_failure_is_1306203(job):
    job.fault("execute_job_plan", "job_tls_error", surface="esb")
    status, body, _raw, _headers = call(job, "execute_job_plan", LAUNCH, surface="esb")
    assert (status, body["code"]) == (200, 1306203)
    assert body["message"].startswith("Component request third-party system [JOBV3] interface [execute_job_plan] SSL error")


def test_esb_component_error_is_1306000_with_its_own_message(job):
    """COMMON_ERROR 1306000 is also what ESB's validators answer, each with its own message."""
    job.fault("get_job_plan_list", "component_error", surface="esb")
    status, body, _raw, _headers = call(job, "get_job_plan_list", SCOPE, surface="esb")
    assert (status, body["code"], body["message"]) == (
        200, 1306000, "Component error, please contact the component developer to handle it.")
    status, body, _raw, _headers = call(job, "get_job_plan_list", SCOPE, surface="esb",
                                        auth={"bk_app_code": "bk-demo-app", "bk_username": "admin"})
    assert (body["code"], body["message"]) == (
        1306000, "Signature [bk_signature] and APP Secret [bk_app_secret] cannot be empty at the same time")
    status, body, _raw, _headers = call(job, "get_job_plan_list", SCOPE, surface="esb",
                                        auth={"bk_app_code": "bk-demo-app", "bk_app_secret": "nope", "bk_username": "admin"})
    assert (body["code"], body["message"]) == (
        1306000, "APP Secret verification failed, pelase confirm if the APP Secret and APP Code [bk_app_code=bk-demo-app] match")


@pytest.mark.parametrize("surface", ["esb", "apigw"])
@pytest.mark.parametrize("kind, code, message", [("job_internal_error", 1240002, "内部服务器异常"),
                                                 ("job_unavailable", 1240001, "服务不可用")])
def test_job_unexpected_failures_are_http_200(job, surface, kind, code, message):
    job.fault("get_job_instance_status", kind)
    status, body, _raw, _headers = call(job, "get_job_instance_status", dict(SCOPE, job_instance_id=1), surface=surface)
    assert (status, body["result"], body["code"], body["message"]) == (200, False, code, message)


def test_esb_wraps_a_non_json_job_answer(job):
    job.fault("get_job_plan_list", "non_json", surface="esb")
    status, body, _raw, _headers = call(job, "get_job_plan_list", SCOPE, surface="esb")
    assert (status, body["code"]) == (200, 1306201) and "interface response is not the JSON format" in body["message"]


TENANTS = {"tenant": {"apps": {"bk-global-app": {"tenant_mode": "global"},
                               "bk-demo-app": {"tenant_mode": "single", "tenant_id": "default"}}},
           "apps": {APP_CODE: APP_SECRET, "bk-global-app": "global-secret"},
           "skip_user_auth_apps": ["bk-demo-app", "bk-global-app"]}


def test_multi_tenant_gateway_and_job():
    with Emulator(config=TENANTS) as job:
        # a single-tenant app: the gateway fills X-Bk-Tenant-Id in
        status, body, _raw, _headers = call(job, "get_job_plan_list", SCOPE)
        assert status == 200 and body["result"] is True
        # the same app naming another tenant
        status, body, _raw, _headers = call(job, "get_job_plan_list", SCOPE, headers={"X-Bk-Tenant-Id": "other"})
        assert (status, body["code"], body["code_name"]) == (403, 1640302, "CROSS_TENANT_FORBIDDEN")
        assert "[AH2]" in body["message"]
        # a global-tenant app must send the header
        auth = {"bk_app_code": "bk-global-app", "bk_app_secret": "global-secret", "bk_username": "admin"}
        status, body, _raw, _headers = call(job, "get_job_plan_list", SCOPE, auth=auth)
        assert (status, body["code"], body["code_name"]) == (403, 1640302, "CROSS_TENANT_FORBIDDEN")
        assert "header X-Bk-Tenant-Id is required" in body["message"] and "[AH1]" in body["message"]
        status, body, _raw, _headers = call(job, "get_job_plan_list", SCOPE, auth=auth, headers={"X-Bk-Tenant-Id": "t1"})
        assert status == 200 and body["result"] is True
        # ESB sends JOB no tenant: JOB's CheckTenantGatewayFilterFactory answers 401 (empty), ESB wraps it
        status, body, _raw, _headers = call(job, "get_job_plan_list", SCOPE, surface="esb")
        assert (status, body["code"]) == (200, 1306201) and "Status Code: 401" in body["message"]


def test_job_tenant_check_answers_401_with_an_empty_body(job):
    """What reaches a client that talks to JOB without X-Bk-Tenant-Id (fault kind empty_401 on the gateway)."""
    job.fault("get_job_plan_list", "empty_401", surface="apigw")
    status, body, raw, _headers = call(job, "get_job_plan_list", SCOPE)
    assert (status, body, raw) == (401, None, b"")
