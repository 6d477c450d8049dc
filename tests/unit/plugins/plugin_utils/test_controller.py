# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller side's last masking step (plugins/plugin_utils/_controller.py): which values a task carries as
secrets, and that masking the result hides them on any failure path without touching names and ids JOB reports.

The action plugin itself (in-process run, the module path, progress) is driven through real ansible-playbook runs in
tests/integration/test_in_process.py.
"""

from __future__ import annotations

from support import APP_SECRET, BK_TOKEN  # pylint: disable=import-error

from ansible_collections.blueking.job.plugins.module_utils._secrets import MASK
from ansible_collections.blueking.job.plugins.plugin_utils._controller import mask_result, task_secrets

PASSWORD = "Vault-pa55-7781"


def test_task_secrets_come_from_options_environment_urls_and_secret_variables(monkeypatch):
    monkeypatch.setenv("BK_TOKEN", BK_TOKEN)
    monkeypatch.delenv("BK_APP_SECRET", raising=False)
    args = {"bk_app_secret": APP_SECRET, "bk_api_url": "https://user:url-pa55word-1@paas.example.com",
            "global_vars": {"db_password": PASSWORD, "app_version": "2.4.1", "pin": "12"}}
    found = task_secrets(args, {"BK_ACCESS_TOKEN": "task-env-token-9f9f"})
    assert {APP_SECRET, BK_TOKEN, "task-env-token-9f9f", "url-pa55word-1", PASSWORD} <= found
    assert "2.4.1" not in found and "12" not in found  # not secret, or too short to mask everywhere


def test_every_failure_path_is_masked_and_names_survive():
    args = {"bk_app_secret": APP_SECRET, "global_vars": {"db_password": PASSWORD}}
    result = {
        "failed": True, "msg": f"MODULE FAILURE: login {APP_SECRET} refused",
        "module_stderr": f"Traceback ...\nValueError: {PASSWORD}\n", "exception": f"... {PASSWORD} ...",
        "invocation": {"module_args": {"global_vars": {"db_password": PASSWORD}}},
        "warnings": [f"value {PASSWORD} looked odd"], "job_instance_name": f"deploy-{PASSWORD}", "job_instance_id": 20000001,
        "steps": [{"name": "check env", "hosts": [{"ip": "10.0.0.1", "log": f"echo {PASSWORD}"}]}],
    }
    masked = mask_result(result, args, {})
    text = repr({key: value for key, value in masked.items() if key != "job_instance_name"})
    assert APP_SECRET not in text and PASSWORD not in text
    assert masked["module_stderr"] == f"Traceback ...\nValueError: {MASK}\n"
    assert masked["steps"][0]["hosts"][0] == {"ip": "10.0.0.1", "log": f"echo {MASK}"}
    assert masked["job_instance_name"] == f"deploy-{PASSWORD}" and masked["job_instance_id"] == 20000001  # names JOB reports
    assert masked["failed"] is True


def test_a_result_without_secrets_is_returned_as_it_is():
    result = {"changed": True, "msg": "ok", "steps": []}
    assert mask_result(result, {"job_plan_id": 1000}, {}) is result
