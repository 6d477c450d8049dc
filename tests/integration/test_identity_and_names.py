# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A newcomer's trial (issue 11 follow-ups): which identity JOB sees, and names that equal a secret."""

from __future__ import annotations

from conftest import BK_TOKEN, USERNAME, esb_connection  # pylint: disable=import-error

LAUNCH = "blueking.job.execute_job_plan"


def launch(emulator, **args):
    return {"name": "launch", LAUNCH: {**esb_connection(emulator), "bk_biz_id": 2, "wait": False, **args}}


def test_a_user_on_the_task_beats_bk_token_from_the_environment(job, ansible):
    result = ansible.playbook([launch(job, job_plan_id=1000, bk_username="alice")], env={"BK_TOKEN": BK_TOKEN})["r0"]
    [instance] = job.instances()
    assert result["failed"] is False and instance["operator"] == "alice"
    assert all("bk_token" not in request["body"] for request in job.requests())
    assert any("BK_TOKEN" in warning and "runs as alice" in warning for warning in result["warnings"])


def test_with_a_token_and_a_user_a_lost_answer_lists_every_operators_instances(job, ansible):
    """bk_token's user (admin) is who JOB records, not bk_username (alice): the candidates are not filtered on alice."""
    alices = ansible.playbook([launch(job, job_plan_id=1000, bk_username="alice")])["r0"]
    job.fault("execute_job_plan", "after_create_502")
    result = ansible.playbook([launch(job, job_plan_id=1000, bk_username="alice", bk_token=BK_TOKEN, start_task=True)])["r0"]
    instances = job.instances()
    assert alices["failed"] is False and result["failed"] is True and "start_task is true" in result["msg"]
    assert {item["operator"] for item in instances} == {"alice", USERNAME}
    assert "by any operator" in result["msg"] and "by alice" not in result["msg"]
    assert all(str(item["job_instance_id"]) in result["msg"] for item in instances), result["msg"]
    assert any("JOB takes the user from bk_token" in warning for warning in result["warnings"])
    assert BK_TOKEN not in str(result)
    lookups = job.requests(api="get_job_instance_list")
    assert lookups and all("operator" not in request["body"] for request in lookups)
