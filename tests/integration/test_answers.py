# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every answer JOB gives is handled: transient failures during a wait, "does not exist", a refused callback URL,
an ignored start_task, and the job-ended flag, through real ansible-playbook against the emulator."""

from __future__ import annotations

import pytest

from conftest import esb_connection  # pylint: disable=import-error
from process import Emulator  # pylint: disable=import-error  # tests/emulator, put on sys.path by conftest
from support import PLAN_DEPLOY_APP  # pylint: disable=import-error

LAUNCH = "blueking.job.execute_job_plan"
INFO = "blueking.job.job_instance_info"
FAST = {"poll_interval": 0.2, "poll_max_interval": 0.5}


def launch(emulator, **args):
    return {"name": "launch", LAUNCH: {**esb_connection(emulator), "bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, **FAST, **args}}


def info(emulator, **args):
    return {"name": "info", INFO: {**esb_connection(emulator), "bk_biz_id": 2, **FAST, **args}}


@pytest.mark.parametrize("code", [1240002, 1306201])
def test_a_streak_of_transient_failures_does_not_end_the_wait(job, ansible, code):
    job.next_launch(step_seconds=0.5)
    # 18 failed answers: each poll is tried 3 times by the client, so six polls in a row fail (more than the five
    # that used to end the wait).
    job.fault("get_job_instance_status", "business_error", count=18, code=code, message="Internal Server Error")
    result = ansible.playbook([launch(job)])["r0"]
    assert result["failed"] is False, result["msg"]
    assert result["status_name"] == "success" and result["job_finished"] is True
    assert len(job.instances()) == 1
    statuses = job.requests("get_job_instance_status")
    assert sum(1 for request in statuses if request.get("fault")) == 18


def test_a_final_failure_still_ends_the_wait(job, ansible):
    job.next_launch(step_seconds=5)
    job.fault("get_job_instance_status", "permission", count=-1)
    result = ansible.playbook([launch(job)])["r0"]
    assert result["failed"] is True and result["msg"].startswith(f"Lost track of job instance {result['job_instance_id']}")
    assert result["error"]["stage"] == "wait"


def test_waiting_for_a_missing_instance_says_it_does_not_exist(job, ansible):
    run = ansible.playbook([info(job, job_instance_id=987654321, wait=True), info(job, job_instance_id=987654321)])
    for result in (run["r0"], run["r1"]):
        assert result["failed"] is True and result["error"]["code"] == 1244006
        assert "does not exist" in result["msg"] and "Lost track" not in result["msg"]
        assert result["job_instance_id"] == 987654321


@pytest.mark.parametrize("validate_vars", [True, False])
def test_a_missing_plan_points_at_job_plan_info(job, ansible, validate_vars):
    result = ansible.playbook([launch(job, job_plan_id=424242, validate_vars=validate_vars)])["r0"]
    assert result["failed"] is True and result["error"]["code"] in (1243009, 1244012)
    assert "does not exist" in result["msg"] and "blueking.job.job_plan_info" in result["msg"]
    assert job.instances() == []


@pytest.fixture(scope="module")
def guarded():
    """An emulator whose JOB checks callback URLs against its allow-list (job.execute.check-callback-url)."""
    with Emulator(config={"check_callback_url": {"enabled": True, "allowed_base_urls": ["http://hooks.example.com/"],
                                                 "bk_domain": None}}) as running:
        yield running


def test_a_refused_callback_listener_falls_back_to_polling(guarded, ansible):
    guarded.reset()
    run = ansible.playbook([launch(guarded, callback_listen="127.0.0.1:0")])
    result = run["r0"]
    assert result["failed"] is False, result["msg"]
    assert result["status_name"] == "success" and result["job_finished"] is True
    assert any("allow-list" in warning and "polling" in warning for warning in result["warnings"])
    launches = guarded.requests("execute_job_plan")
    assert [("callback_url" in request["body"]) for request in launches] == [True, False]
    assert [request["response_code"] for request in launches] == [1240003, 0]
    assert len(guarded.instances()) == 1


def test_a_refused_callback_url_names_the_allow_list(guarded, ansible):
    guarded.reset()
    result = ansible.playbook([launch(guarded, callback_url="http://10.0.0.9:8080/cb", wait=False)])["r0"]
    assert result["failed"] is True and "allow-list" in result["msg"] and result["error"]["code"] == 1240003
    assert guarded.instances() == []


def test_a_container_job_is_reported_without_per_target_results(job, ansible):
    result = ansible.playbook([launch(job, bk_biz_id=3, job_plan_id=1006, host_results="all")])["r0"]
    assert result["failed"] is False, result["msg"]
    assert result["status_name"] == "success" and result["job_finished"] is True and result["steps"]
    assert any("per-target results" in warning for warning in result["warnings"])
    asked = [request["query"].get("return_ip_result") or request["body"].get("return_ip_result")
             for request in job.requests("get_job_instance_status")]
    assert asked.count(True) + asked.count("true") <= 2 * 3, "host results are no longer asked for once v3 cannot give them"


def test_a_failed_sql_step_carries_its_hosts_logs(job, ansible):
    job.next_launch(final_status=4)
    result = ansible.playbook([launch(job, bk_biz_id=3, job_plan_id=1007)])["r0"]
    assert result["failed"] is True and result["status_name"] == "failed"
    [step] = result["steps"]
    assert step["type"] == 4 and step["hosts"]
    assert all(host["log"] and "ERROR: exit code 1" in host["log"] for host in step["hosts"])


def test_start_task_false_ignored_by_an_old_job_is_said(job, ansible):
    job.next_launch(job_version="3.9.2", step_seconds=2)
    run = ansible.playbook([launch(job, start_task=False, wait=False), launch(job, start_task=False, wait=False)])
    old, current = run["r0"], run["r1"]
    assert old["failed"] is False and any("ignored start_task: false" in warning for warning in old["warnings"])
    assert current["failed"] is False and not any("start_task" in warning for warning in current.get("warnings", []))


def test_finished_true_at_waiting_user_cannot_fool_the_result(job, ansible):
    job.next_launch(job_version="3.5.1", confirm=True)
    result = ansible.playbook([launch(job, on_waiting_user="return")])["r0"]
    assert result["failed"] is False and result["status_name"] == "waiting_user"
    assert result["job_finished"] is False and "finished" not in result
