# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A newcomer's trial (issue 11 follow-ups): which identity JOB sees, and names that equal a secret."""

from __future__ import annotations

from conftest import BK_TOKEN, USERNAME, esb_connection  # pylint: disable=import-error
from support import PLAN_DEPLOY_APP  # pylint: disable=import-error

LAUNCH = "blueking.job.execute_job_plan"


def launch(emulator, **args):
    return {"name": "launch", LAUNCH: {**esb_connection(emulator), "bk_biz_id": 2, "wait": False, **args}}


def test_a_user_on_the_task_beats_bk_token_from_the_environment(job, ansible):
    result = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY_APP, bk_username="alice")], env={"BK_TOKEN": BK_TOKEN})["r0"]
    [instance] = job.instances()
    assert result["failed"] is False and instance["operator"] == "alice"
    assert all("bk_token" not in request["body"] for request in job.requests())
    assert any("BK_TOKEN" in warning and "runs as alice" in warning for warning in result["warnings"])


def test_with_a_token_and_a_user_a_lost_answer_lists_every_operators_instances(job, ansible):
    """bk_token's user (admin) is who JOB records, not bk_username (alice): the candidates are not filtered on alice."""
    alices = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY_APP, bk_username="alice")])["r0"]
    job.fault("execute_job_plan", "after_create_502")
    result = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY_APP, bk_username="alice", bk_token=BK_TOKEN, start_task=True)])["r0"]
    instances = job.instances()
    assert alices["failed"] is False and result["failed"] is True and "start_task is true" in result["msg"]
    assert {item["operator"] for item in instances} == {"alice", USERNAME}
    assert "by any operator" in result["msg"] and "by alice" not in result["msg"]
    assert all(str(item["job_instance_id"]) in result["msg"] for item in instances), result["msg"]
    assert any("JOB takes the user from bk_token" in warning for warning in result["warnings"])
    assert BK_TOKEN not in str(result)
    lookups = job.requests(api="get_job_instance_list")
    assert lookups and all("operator" not in request["body"] for request in lookups)


def test_a_password_that_is_also_a_name_leaves_the_names_intact_and_shows_nowhere_else(job, ansible):
    """db_password "deploy-app" (the plan's and job instance's name) and "push package" (a step's name) on plan 1000."""
    run = ansible.playbook([
        launch(job, job_plan_id=PLAN_DEPLOY_APP, global_vars={"db_password": "deploy-app"}, wait=True, poll_interval=0.2),
        launch(job, job_plan_id=PLAN_DEPLOY_APP, global_vars={"db_password": "push package"}, wait=True, poll_interval=0.2),
    ])
    first, second = run["r0"], run["r1"]
    assert first["failed"] is False and first["job_instance_name"] == "deploy-app" and first["status_name"] == "success"
    assert "push package" in [step["name"] for step in second["steps"]] and second["status_name"] == "success"
    sent = [[var.get("value") for var in item["global_var_list"] if var.get("name") == "db_password" or var.get("id") == 3]
            for item in job.instances()]
    assert sent == [["deploy-app"], ["push package"]], "JOB got the values as given"
    for result, secret in ((first, "deploy-app"), (second, "push package")):
        assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" not in str(result)
        assert secret not in result.get("msg", "") and secret not in str(result["global_var_list"]) and secret not in str(result.get("invocation"))
        assert sum("equal or are part of a name or id JOB reports" in warning for warning in result["warnings"]) == 1
        assert not any(secret in warning for warning in result["warnings"])


def test_one_failed_status_read_after_a_lost_start_answer_does_not_decide(job, ansible):
    job.fault("operate_job_instance", "html_502", match={"operation_code": 2})
    job.fault("get_job_instance_status", "job_internal_error")
    result = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY_APP, wait=True, poll_interval=0.2)])["r0"]
    [instance] = job.instances()
    assert result["failed"] is False and result["job_instance_id"] == instance["job_instance_id"] and result["status_name"] == "success"


def test_a_short_secret_caught_by_its_name_is_warned_about(job, ansible):
    result = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY_APP, validate_vars=False, global_vars={"db_password": "pw1", "app_version": "2.0"})])["r0"]
    assert result["failed"] is False and {"name": "db_password", "value": "********"} in result["global_var_list"]
    assert any("'db_password' is too short or too common" in warning for warning in result["warnings"]), result["warnings"]


def test_an_unquoted_float_is_warned_about(job, ansible):
    result = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY_APP, global_vars={"app_version": 2.10})])["r0"]
    assert result["failed"] is False and {"name": "app_version", "value": "2.1"} in result["global_var_list"]
    assert any("app_version" in warning and "quote it in YAML" in warning for warning in result["warnings"]), result["warnings"]
