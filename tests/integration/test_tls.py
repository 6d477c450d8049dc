# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""TLS through real ansible-playbook: the emulator on HTTPS with its own CA (trustme).

Default settings fail with a certificate message, ``ca_path`` (or ``BK_CA_PATH``) passes and wins over
``REQUESTS_CA_BUNDLE``, ``validate_certs: false`` passes with a warning; a wrong host name never gets a request.
"""

from __future__ import annotations

from conftest import apigw_connection, esb_connection  # pylint: disable=import-error
from multihost import FAST, INFO, LAUNCH, PLAN_INFO, no_crash, warnings_of  # pylint: disable=import-error
from process import Emulator  # pylint: disable=import-error
from support import BIZ_ID, PLAN_DEPLOY_APP  # pylint: disable=import-error


def test_tls_private_ca(tls_job, pki, ansible):
    with Emulator(tls_cert=pki["wrong_name"][0], tls_key=pki["wrong_name"][1]) as wrong_name:
        tls_job.reset()
        esb = esb_connection(tls_job)
        gateway = apigw_connection(tls_job)
        run = ansible.playbook([
            {"name": "default settings", f"blueking.job.{LAUNCH}": {**esb, "bk_biz_id": BIZ_ID, "job_plan_id": PLAN_DEPLOY_APP}},
            {"name": "ca_path", f"blueking.job.{LAUNCH}": {**esb, "bk_biz_id": BIZ_ID, "job_plan_id": PLAN_DEPLOY_APP, "ca_path": pki["ca"], **FAST}},
            {"name": "validate_certs false", f"blueking.job.{LAUNCH}": {**esb, "bk_biz_id": BIZ_ID, "job_plan_id": PLAN_DEPLOY_APP, "wait": False,
                                                                        "validate_certs": False}},
            {"name": "gateway default", f"blueking.job.{PLAN_INFO}": {**gateway, "bk_scope_id": str(BIZ_ID)}},
            {"name": "gateway ca_path",
             f"blueking.job.{INFO}": {**gateway, "bk_scope_id": str(BIZ_ID), "ca_path": pki["ca"], "job_instance_id": "{{ r1.job_instance_id }}"}},
            {"name": "BK_CA_PATH", f"blueking.job.{LAUNCH}": {**esb, "bk_biz_id": BIZ_ID, "job_plan_id": PLAN_DEPLOY_APP, "wait": False},
             "environment": {"BK_CA_PATH": pki["ca"]}},
            {"name": "ca_path wins over REQUESTS_CA_BUNDLE", f"blueking.job.{PLAN_INFO}": {**esb, "bk_biz_id": BIZ_ID, "ca_path": pki["ca"]},
             "environment": {"REQUESTS_CA_BUNDLE": pki["other_ca"], "CURL_CA_BUNDLE": pki["other_ca"]}},
            {"name": "another CA", f"blueking.job.{LAUNCH}": {**esb, "bk_biz_id": BIZ_ID, "job_plan_id": PLAN_DEPLOY_APP, "ca_path": pki["other_ca"]}},
            {"name": "wrong host name", f"blueking.job.{LAUNCH}": {**esb_connection(wrong_name), "bk_biz_id": BIZ_ID, "job_plan_id": PLAN_DEPLOY_APP,
                                                                   "ca_path": pki["ca"]}},
        ])
        wrong_name_requests = wrong_name.requests()
    refused_by_tls = [run[key] for key in ("r0", "r3", "r7", "r8")]
    for result in refused_by_tls:
        assert result["failed"] is True and result["error"]["kind"] == "tls", result
        assert "TLS verification failed" in result["msg"] and "ca_path" in result["msg"], result["msg"]
        assert "certificate" in result["msg"].lower() or "hostname" in result["msg"].lower(), result["msg"]
        no_crash(result)
    assert "certificate verify failed" in run["r0"]["msg"]
    assert "mismatch" in run["r8"]["msg"].lower() or "match" in run["r8"]["msg"].lower(), run["r8"]["msg"]
    assert run["r1"]["failed"] is False and run["r1"]["status_name"] == "success"
    assert run["r2"]["failed"] is False and run["r2"]["changed"] is True
    assert any("validate_certs is false" in warning for warning in warnings_of(run["r2"]))
    assert not any("validate_certs" in warning for warning in warnings_of(run["r1"]))
    assert run["r4"]["failed"] is False and run["r4"]["job_instance_id"] == run["r1"]["job_instance_id"]
    assert run["r5"]["failed"] is False and run["r5"]["job_instance_id"]
    assert run["r6"]["failed"] is False and run["r6"]["job_plans"]
    assert wrong_name_requests == []
    launched = tls_job.requests("execute_job_plan")
    assert len(launched) == 3, "only the ca_path, validate_certs: false and BK_CA_PATH tasks reached JOB"
