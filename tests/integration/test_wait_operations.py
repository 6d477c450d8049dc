# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a waiting task does to its job, through real ansible-playbook against the emulator: retry_failed_hosts (step
operation 2 on the failed step), on_waiting_user confirm (6) and terminate (9), failed_hosts into an inventory group.

The emulator's launch behaviour ``fail_attempts`` ({host id: failed runs of the deciding step, -1 = every run}) makes
a host recover after some retries or never; JOB re-runs only the failed hosts of a step retried with operation 2.
"""

from __future__ import annotations

import json
import re

from conftest import REPO, esb_connection  # pylint: disable=import-error
from support import PLAN_DEPLOY_APP  # pylint: disable=import-error

LAUNCH = "blueking.job.execute_job_plan"
INFO = "blueking.job.job_instance_info"
FAST = {"poll_interval": 0.1, "poll_max_interval": 0.3}
THREE_HOSTS = {"target_hosts": {"host_id_list": [101, 102, 103]}}
GUIDE = REPO / "docs" / "docsite" / "rst" / "guide_failed_hosts.rst"


def launch(emulator, **args):
    return {"name": "launch and wait", LAUNCH: {**esb_connection(emulator), "bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP,
                                                "global_vars": THREE_HOSTS, **FAST, **args}}


def step_operations(emulator):
    """(job_instance_id, step_instance_id, operation_code) of every operate_step_instance JOB received."""
    return [(request["body"]["job_instance_id"], request["body"]["step_instance_id"], request["body"]["operation_code"])
            for request in emulator.requests(api="operate_step_instance")]


def test_a_retry_runs_the_failed_step_again_until_its_hosts_recover_or_the_retries_end(job, ansible):
    """101 fails once and recovers at the first retry, 102 never recovers, 103 never failed: two retries (operation 2) of
    the failed step, and the result says per host how many runs it took."""
    job.next_launch(fail_attempts={"101": 1, "102": -1})
    run = ansible.playbook([launch(job, retry_failed_hosts=2, host_results="all")])
    result = run["r0"]
    step = result["steps"][0]
    job_instance_id = result["job_instance_id"]
    assert step_operations(job) == [(job_instance_id, step["step_instance_id"], 2)] * 2
    assert result["failed"] is True and result["status_name"] == "failed" and result["error"]["code"] == 4
    assert result["retries"] == [{
        "step_instance_id": step["step_instance_id"], "step_name": "check env", "rounds": 2, "hosts_recovered": 1, "hosts_failed": 1,
        "hosts": [{"name": "10.0.0.1", "bk_host_id": 101, "ip": "10.0.0.1", "bk_cloud_id": 0, "attempts": 2, "recovered": True},
                  {"name": "10.0.0.2", "bk_host_id": 102, "ip": "10.0.0.2", "bk_cloud_id": 0, "attempts": 3, "recovered": False}]}]
    assert result["msg"] == (f"Job instance {job_instance_id} ended with status failed (4): 1 of 3 hosts failed in step 'check env' "
                             "(step 'check env' retried 2 times: 1 host recovered, 1 still failed); see failed_hosts, and steps[].hosts "
                             "for exit codes and logs.")
    assert [(host["bk_host_id"], host["status_name"]) for host in step["hosts"]] == [(101, "success"), (102, "script_nonzero_exit"),
                                                                                     (103, "success")]
    assert [host["bk_host_id"] for host in result["failed_hosts"]] == [102]
    # the progress lines of the in-process path (show_progress, default true) tell each retry
    label = f'JOB instance {job_instance_id} "deploy-app"'
    assert f"{label}: retrying 2 failed hosts of step 'check env' (retry 1 of 2)" in run.output
    assert f"{label}: retrying 1 failed host of step 'check env' (retry 2 of 2)" in run.output


def test_a_step_whose_hosts_recover_lets_the_job_go_on_and_succeed(job, ansible):
    job.next_launch(fail_attempts={"102": 2})
    result = ansible.playbook([launch(job, retry_failed_hosts=3)])["r0"]
    assert result["failed"] is False and result["status_name"] == "success" and result["failed_hosts"] == []
    [record] = result["retries"]
    assert (record["rounds"], record["hosts_recovered"], record["hosts_failed"]) == (2, 1, 0)
    assert [(host["bk_host_id"], host["attempts"], host["recovered"]) for host in record["hosts"]] == [(102, 3, True)]
    assert [code for _job, _step, code in step_operations(job)] == [2, 2]
    assert [step["status_name"] for step in result["steps"]] == ["success"] * 4


def test_with_callback_listen_each_end_of_the_job_wakes_the_wait(job, ansible):
    """JOB calls back every time the job ends (JobListener.finishJob), also after a retry resumed it: the retried job's
    second callback ends the wait, long before the 30 s safety poll."""
    job.next_launch(fail_attempts={"102": 1}, step_seconds=0.5)
    result = ansible.playbook([launch(job, retry_failed_hosts=1, callback_listen="127.0.0.1:0", poll_interval=0.2, poll_max_interval=30)])["r0"]
    assert result["failed"] is False and result["status_name"] == "success" and result["retries"][0]["rounds"] == 1
    assert [callback["attempt"] for callback in job.callbacks()] == [1, 1]
    assert [code for _job, _step, code in step_operations(job)] == [2]
    statuses = [request["time"] for request in job.requests(api="get_job_instance_status")]
    [launched] = [request["time"] for request in job.requests(api="execute_job_plan")]
    first, second = [callback["time"] for callback in job.callbacks()]
    assert len(statuses) == 2 and statuses[0] - first < 2.0 and statuses[1] - second < 2.0, "each callback woke a poll"
    assert statuses[1] - launched < 15, "the retried job's end was seen through its callback, not the 30 s safety poll"


def test_no_retry_by_default_and_a_bad_count_fails_before_the_launch(job, ansible):
    job.next_launch(fail_attempts={"102": 1})
    run = ansible.playbook([launch(job), launch(job, retry_failed_hosts=101), launch(job, retry_failed_hosts=-1)])
    assert run["r0"]["failed"] is True and run["r0"]["retries"] == [] and step_operations(job) == []
    assert [host["bk_host_id"] for host in run["r0"]["failed_hosts"]] == [102]
    for bad in (run["r1"], run["r2"]):
        assert bad["failed"] is True and "job_instance_id" not in bad
        assert bad["msg"].startswith("retry_failed_hosts must be a whole number of retries per failed step, from 0 (no retry) to 100, got ")
    assert len(job.instances()) == 1


def test_job_instance_info_retries_a_job_that_already_failed(job, ansible):
    """Attach to a job an earlier task launched without waiting: the wait retries its failed step."""
    job.next_launch(fail_attempts={"103": 1})
    run = ansible.playbook([
        launch(job, wait=False),
        {"name": "attach", INFO: {**esb_connection(job), "bk_biz_id": 2, "job_instance_id": "{{ r0.job_instance_id }}", "wait": True,
                                  "retry_failed_hosts": 1, **FAST}},
    ])
    result = run["r1"]
    assert result["failed"] is False and result["status_name"] == "success"
    assert result["changed"] is True, "the task sent a step operation: it changed the job"
    assert [(host["bk_host_id"], host["attempts"], host["recovered"]) for host in result["retries"][0]["hosts"]] == [(103, 2, True)]
    assert step_operations(job) == [(run["r0"]["job_instance_id"], result["retries"][0]["step_instance_id"], 2)]


def test_confirm_confirms_only_while_no_host_has_failed(job, ansible):
    job.next_launch(confirm=True)
    clean = ansible.playbook([launch(job, on_waiting_user="confirm")])["r0"]
    approve = next(step for step in clean["steps"] if step["name"] == "approve")
    assert clean["failed"] is False and clean["status_name"] == "success" and approve["status_name"] == "success"
    assert step_operations(job) == [(clean["job_instance_id"], approve["step_instance_id"], 6)]

    job.reset()
    job.next_launch(confirm=True, final_status=6, failed_hosts=[102])  # check env fails on 102, its errors ignored; then approve waits
    gated = ansible.playbook([launch(job, on_waiting_user="confirm")])["r0"]
    assert step_operations(job) == []
    assert gated["failed"] is True and gated["status_name"] == "waiting_user" and gated["error"]["code"] == 7
    assert gated["msg"] == (f"Job instance {gated['job_instance_id']} waits for a person to confirm step 'approve', and "
                            "on_waiting_user=confirm did not confirm it: 1 host failed so far, and confirm only confirms while no host "
                            "has failed. Look at failed_hosts, then confirm or terminate the step in JOB's web console (or with "
                            "blueking.job.operate_step_instance).")
    assert [(host["bk_host_id"], host["step_name"]) for host in gated["failed_hosts"]] == [(102, "check env")]


def test_retried_hosts_that_recovered_do_not_stop_confirm(job, ansible):
    job.next_launch(confirm=True, fail_attempts={"101": 1})
    result = ansible.playbook([launch(job, on_waiting_user="confirm", retry_failed_hosts=1)])["r0"]
    assert result["failed"] is False and result["status_name"] == "success"
    assert [code for _job, _step, code in step_operations(job)] == [2, 6]


def test_terminate_ends_the_job_at_the_confirmation_and_the_task_fails_saying_so(job, ansible):
    job.next_launch(confirm=True)
    run = ansible.playbook([launch(job, on_waiting_user="terminate", show_progress=False)])
    assert "JOB instance " not in run.output, "show_progress: false writes no progress line"
    result = run["r0"]
    approve = next(step for step in result["steps"] if step["name"] == "approve")
    assert step_operations(job) == [(result["job_instance_id"], approve["step_instance_id"], 9)]
    assert result["failed"] is True and result["changed"] is True
    assert (result["status"], result["status_name"], result["job_finished"]) == (13, "confirm_terminated", True)
    assert result["error"]["kind"] == "job_failed" and result["error"]["code"] == 13
    assert result["msg"] == (f"Job instance {result['job_instance_id']} ended with status confirm_terminated (13): on_waiting_user=terminate "
                             "ended it at confirmation step 'approve', as asked. Its later steps did not run.")
    assert [step["status_name"] for step in result["steps"]] == ["success", "success", "confirm_terminated", "pending"]


def test_a_user_who_is_not_a_confirm_user_gets_a_clear_message_and_the_job_still_waits(job, ansible):
    """admin launches; alice attaches: she is neither among the step's confirm users nor the job's trigger user (the step's
    confirm role), so JOB refuses her (TaskExecuteServiceImpl.checkConfirmUser)."""
    job.next_launch(confirm=True)
    run = ansible.playbook([
        launch(job, wait=False),
        {"name": "attach as alice", INFO: {**esb_connection(job, bk_username="alice"), "bk_biz_id": 2, "wait": True,
                                           "job_instance_id": "{{ r0.job_instance_id }}", "on_waiting_user": "confirm", **FAST}},
    ])
    result = run["r1"]
    assert result["failed"] is True and result["error"]["code"] == 1244016 and result["error"]["stage"] == "operate"
    assert result["msg"].startswith(f"on_waiting_user=confirm: JOB refused to confirm step 'approve' of job instance {result['job_instance_id']}: ")
    assert result["msg"].endswith("add the user to the step's confirm users in the plan, or answer it in JOB's web console.")
    assert result["status_name"] == "waiting_user" and job.instances()[0]["status"] == 7


def guide_example() -> str:
    """The failed hosts playbook of docs/docsite/rst/guide_failed_hosts.rst, as written there."""
    text = GUIDE.read_text(encoding="utf-8")
    blocks = [re.sub(r"^  ", "", block, flags=re.M)
              for block in re.findall(r"^\.\. code-block:: yaml(?:\+jinja)?\n\n((?:  .*\n|\n)+)", text, flags=re.M)]
    [example] = [block for block in blocks if "ansible.builtin.add_host" in block]
    return example


def test_the_guides_failed_hosts_playbook_runs(job, ansible, tmp_path):
    """The guide's playbook as written: the credentials come from BK_* variables, the business, plan and hosts from extra
    vars, and the hosts it adds are reached with ansible_connection local, set for the group by a group_vars file beside
    the playbook (the guide's play reaches them over SSH)."""
    job.next_launch(fail_attempts={"101": 1, "102": -1, "103": -1})
    playbook = tmp_path / "failed_hosts.yml"
    playbook.write_text(guide_example(), encoding="utf-8")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "bk_failed.yml").write_text(
        'ansible_connection: local\nansible_python_interpreter: "{{ ansible_playbook_python }}"\n', encoding="utf-8")
    extra_vars = tmp_path / "vars.json"
    extra_vars.write_text(json.dumps({"bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, "target_host_ids": [101, 102, 103]}), encoding="utf-8")
    connection = esb_connection(job)
    env = {"BK_API_URL": connection["bk_api_url"], "BK_APP_CODE": connection["bk_app_code"], "BK_APP_SECRET": connection["bk_app_secret"],
           "BK_USERNAME": connection["bk_username"]}
    completed = ansible.run_command([ansible.playbook_bin, "-e", f"@{extra_vars}", str(playbook)], env, ())
    output = completed.stdout + completed.stderr
    recap = {host: (int(ok), int(failed)) for host, ok, failed in
             re.findall(r"^(\S+)\s+: ok=(\d+)\s+changed=\d+\s+unreachable=0\s+failed=(\d+)", output, flags=re.M)}
    assert completed.returncode == 2, "the run ends failed: the deploy did not reach every host"
    assert recap == {"localhost": (2, 1), "10.0.0.2": (3, 0), "10.0.0.3": (3, 0)}, output[-4000:]
    for address, host_id in (("10.0.0.2", 102), ("10.0.0.3", 103)):
        assert f"{address} failed step check env (bk_host_id={host_id}, exit code 1)" in output
    [(_job, step_instance_id, _code)] = set(step_operations(job))
    assert step_operations(job) == [(_job, step_instance_id, 2)] * 2, "retry_failed_hosts: 2 in the guide"


def test_max_host_results_keeps_the_result_small_and_says_what_it_left_out(job, ansible):
    job.next_launch(host_count=30, failed_hosts=30)
    run = ansible.playbook([launch(job, global_vars={}, max_host_results=10)])
    result = run["r0"]
    step = result["steps"][0]
    assert result["failed"] is True and result["host_summary"]["failed"] == 30 and result["host_results_truncated"] is True
    assert len(step["hosts"]) == 10 and all(host["log"] for host in step["hosts"])
    assert [host["bk_host_id"] for host in result["failed_hosts"]] == [host["bk_host_id"] for host in step["hosts"]]
    [logs] = job.requests(api="batch_get_job_instance_ip_log")
    assert len(logs["body"]["host_id_list"]) == 10, "logs are read for listed hosts only"
    warning = ("The result of job instance {} lists at most max_host_results (10) hosts per list and leaves out 20 hosts from "
               "steps[].hosts, 20 hosts from failed_hosts").format(result["job_instance_id"])
    assert any(text.startswith(warning) for text in result.get("warnings") or [])
