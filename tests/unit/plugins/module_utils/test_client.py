# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The client against the real JOB emulator over loopback HTTP(S): no mocked HTTP layer."""

from __future__ import annotations

import json

import pytest

from ansible_collections.blueking.job.plugins.module_utils._client import Client
from ansible_collections.blueking.job.plugins.module_utils._errors import (
    APIError,
    AuthError,
    GatewayError,
    InvalidResponseError,
    PermissionDeniedError,
    RequestTimeoutError,
    TLSError,
    TransportError,
)

from process import Emulator  # pylint: disable=import-error  # tests/emulator, put on sys.path by tests/unit/plugins/conftest.py
from support import BIZ_ID, PLAN_DEPLOY_APP  # pylint: disable=import-error
from support import APP_SECRET as SECRET, ESB_CREDENTIALS as CREDENTIALS  # pylint: disable=import-error

SCOPE = {"bk_scope_type": "biz", "bk_scope_id": str(BIZ_ID)}


class Sleeps(list):
    """Records the waits between retries instead of sleeping."""

    def __call__(self, seconds):
        self.append(seconds)


def esb(emulator, **kwargs):
    return Client(emulator.url, api_type="esb", credentials=CREDENTIALS, sleep=kwargs.pop("sleep", Sleeps()), **kwargs)


def apigw(emulator, **kwargs):
    return Client(emulator.apigw_url, api_type="apigw", credentials=CREDENTIALS, sleep=kwargs.pop("sleep", Sleeps()), **kwargs)


def test_esb_posts_credentials_and_fields_in_one_json_body(job):
    reply = esb(job).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP, "unset": None}, stage="lookup")
    assert reply.data["name"] == "deploy-app"
    assert reply.request_id
    [sent] = job.requests()
    assert (sent["method"], sent["path"]) == ("POST", "/api/c/compapi/v2/jobv3/get_job_plan_detail/")
    assert sent["body"] == {**CREDENTIALS, **SCOPE, "job_plan_id": PLAN_DEPLOY_APP}


def test_apigw_gets_queries_with_credentials_only_in_the_header(job):
    reply = apigw(job, tenant_id="tenant-a").call("get_job_plan_list", {**SCOPE, "name": "deploy", "length": 5}, stage="lookup")
    assert reply.data["total"] >= 2
    [sent] = job.requests()
    headers = {name.lower(): value for name, value in sent["headers"].items()}
    assert (sent["method"], sent["path"]) == ("GET", "/api/bk-job/prod/api/v3/get_job_plan_list")
    assert sent["query"] == {"bk_scope_type": "biz", "bk_scope_id": "2", "name": "deploy", "length": "5"}
    assert json.loads(headers["x-bkapi-authorization"]) == CREDENTIALS
    assert headers["x-bk-tenant-id"] == "tenant-a"
    assert SECRET not in json.dumps(sent["query"]) and sent["body"] in (None, "", {})
    assert reply.request_id == sent.get("response_request_id", reply.request_id)


def test_read_only_calls_retry_transient_failures_then_succeed(job):
    job.fault("get_job_plan_detail", "http_status", count=2, status=502)
    sleeps = Sleeps()
    reply = apigw(job, sleep=sleeps).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup")
    assert reply.data["name"] == "deploy-app"
    assert len(job.requests()) == 3
    assert len(sleeps) == 2 and all(0 < wait <= 8 for wait in sleeps)


def test_rate_limit_waits_at_least_the_reset_header(job):
    job.fault("get_job_plan_detail", "http_status", status=429, reset=2)
    sleeps = Sleeps()
    apigw(job, sleep=sleeps).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup")
    assert sleeps and sleeps[0] >= 2


def test_retries_are_bounded(job):
    job.fault("get_job_plan_detail", "html_502", count=-1)
    with pytest.raises(InvalidResponseError) as caught:
        esb(job, max_attempts=3).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup")
    assert len(job.requests()) == 3
    assert caught.value.http_status == 502 and caught.value.stage == "lookup"


@pytest.mark.parametrize("kind, params", [("http_status", {"status": 502}), ("drop", {}), ("html_502", {})])
def test_the_launch_is_never_retried(job, kind, params):
    job.fault("execute_job_plan", kind, count=-1, **params)
    with pytest.raises((GatewayError, TransportError, InvalidResponseError)) as caught:
        apigw(job).call("execute_job_plan", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="launch")
    assert len(job.requests(api="execute_job_plan")) == 1
    assert "the job may have started" in caught.value.msg or caught.value.http_status == 502


def test_business_errors_are_not_retried(job):
    with pytest.raises(APIError) as caught:
        esb(job).call("get_job_plan_detail", {**SCOPE, "job_plan_id": 999999}, stage="lookup")
    assert caught.value.code == 1243009 and caught.value.http_status == 200
    assert len(job.requests()) == 1


def test_permission_denied_carries_the_iam_object(job):
    job.fault("get_job_plan_detail", "permission")
    with pytest.raises(PermissionDeniedError) as caught:
        esb(job).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup")
    assert caught.value.code == 9900403
    assert caught.value.permission["actions"][0]["id"] == "access_business"
    assert caught.value.to_fail_json()["error"]["permission"] == caught.value.permission


def test_auth_failures_on_each_surface(job):
    wrong = {**CREDENTIALS, "bk_app_secret": "not-the-secret"}
    with pytest.raises(AuthError) as esb_caught:
        Client(job.url, credentials=wrong).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup")
    assert (esb_caught.value.http_status, esb_caught.value.code, esb_caught.value.stage) == (200, 1306000, "auth")
    with pytest.raises(AuthError) as gw_caught:
        Client(job.apigw_url, api_type="apigw", credentials=wrong).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup")
    assert (gw_caught.value.http_status, gw_caught.value.code) == (400, 1640001)
    assert gw_caught.value.request_id


def test_empty_401_from_jobs_gateway(job):
    # Through the API gateway JOB's empty 401 arrives as it is; ESB wraps any non-200 answer of JOB as 1306201.
    job.fault("get_job_plan_detail", "empty_401")
    with pytest.raises(AuthError, match="HTTP 401") as caught:
        apigw(job).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup")
    assert "set bk_tenant_id" in caught.value.msg and caught.value.reached_job is False
    job.fault("get_job_plan_detail", "empty_401")
    with pytest.raises(APIError) as caught:
        esb(job, max_attempts=1).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup")
    assert caught.value.code == 1306201 and caught.value.transient and caught.value.reached_job is None
    assert "JOB answered HTTP 401" in caught.value.msg and "set bk_tenant_id" in caught.value.msg


def test_wrong_gateway_stage_gives_a_url_hint(job):
    client = Client(job.url + "/api/bk-job/test", api_type="apigw", credentials=CREDENTIALS)
    with pytest.raises(GatewayError, match="bk_api_url must be the bk-job stage root") as caught:
        client.call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup")
    assert caught.value.http_status == 404


@pytest.mark.parametrize("kind", ["non_json", "garbled_json"])
def test_unreadable_answers_are_retried_for_reads_then_reported(job, kind):
    # Through the gateway JOB's unreadable answer arrives as it is; ESB answers 1306201 for it (esb format_resp).
    job.fault("get_job_plan_detail", kind)
    assert apigw(job).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup").data["name"] == "deploy-app"
    assert len(job.requests()) == 2
    job.reset()
    job.fault("get_job_plan_detail", kind, count=-1)
    with pytest.raises(InvalidResponseError, match="not JSON"):
        apigw(job).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup")
    assert len(job.requests()) == 3
    job.reset()
    job.fault("get_job_plan_detail", kind, count=-1)
    with pytest.raises(APIError, match="ESB got no usable answer from JOB") as caught:
        esb(job).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup")
    assert caught.value.code == 1306201 and len(job.requests()) == 3


def test_read_timeout_and_dropped_connection_may_have_reached_the_server(job):
    job.fault("execute_job_plan", "slow", seconds=2)
    with pytest.raises(RequestTimeoutError) as caught:
        esb(job, request_timeout=0.5).call("execute_job_plan", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="launch")
    assert caught.value.may_have_reached_server is True
    job.fault("execute_job_plan", "drop")
    with pytest.raises(TransportError) as dropped:
        esb(job).call("execute_job_plan", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="launch")
    assert dropped.value.may_have_reached_server is True


def test_refused_and_unresolvable_hosts_never_reached_the_server():
    with pytest.raises(TransportError, match="was refused") as refused:
        Client("http://127.0.0.1:9", credentials=CREDENTIALS, max_attempts=1).call("execute_job_plan", SCOPE, stage="launch")
    assert refused.value.may_have_reached_server is False
    with pytest.raises(TransportError, match="Could not resolve the host") as unresolved:
        Client("http://bkjob.invalid", credentials=CREDENTIALS, max_attempts=1).call("execute_job_plan", SCOPE, stage="launch")
    assert unresolved.value.may_have_reached_server is False


def test_secrets_quoted_back_by_the_server_are_masked(job):
    job.fault("get_job_plan_detail", "business_error", code=1241010, message=f"bad parameter bk_app_secret={SECRET}")
    with pytest.raises(APIError) as caught:
        esb(job).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup")
    rendered = json.dumps(caught.value.to_fail_json())
    assert SECRET not in rendered and "********" in rendered


def test_tls_default_fails_ca_path_passes_and_insecure_passes(tmp_path):
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    server_cert = authority.issue_cert("127.0.0.1", "localhost")
    cert, key, ca_file = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    server_cert.cert_chain_pems[0].write_to_path(str(cert))
    for pem in server_cert.cert_chain_pems[1:]:
        pem.write_to_path(str(cert), append=True)
    server_cert.private_key_pem.write_to_path(str(key))
    authority.cert_pem.write_to_path(str(ca_file))
    with Emulator(tls_cert=str(cert), tls_key=str(key)) as secure:
        assert secure.url.startswith("https://")
        with pytest.raises(TLSError, match="set ca_path") as caught:
            esb(secure).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup")
        assert caught.value.may_have_reached_server is False
        assert esb(secure, ca_path=str(ca_file)).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup").data
        assert esb(secure, validate_certs=False).call("get_job_plan_detail", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="lookup").data
