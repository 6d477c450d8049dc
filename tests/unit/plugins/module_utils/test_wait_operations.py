# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the watcher does to a job while it waits (retry_failed_hosts, on_waiting_user confirm / terminate), the
failed_hosts and retries of the report, and the wait options behind them; against the emulator where JOB answers."""

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.blueking.job.plugins.module_utils import _report, _wait
from ansible_collections.blueking.job.plugins.module_utils._args import MAX_RETRY_FAILED_HOSTS, WAIT_ARGSPEC, WaitOptions, wait_options
from ansible_collections.blueking.job.plugins.module_utils._client import Client
from ansible_collections.blueking.job.plugins.module_utils._errors import BKJobError, InputError, JobFailedError
from support import APP_CODE, APP_SECRET, PLAN_DEPLOY_APP  # pylint: disable=import-error

SCOPE = {"bk_biz_id": 2}
FAST = WaitOptions(wait_timeout=30, poll_interval=0.05, poll_max_interval=0.2, log_max_bytes=0, host_results="failed")
TWO_HOSTS = [{"name": "target_hosts", "server": {"host_id_list": [101, 102]}}]


def client_of(emulator, user="admin"):
    return Client(emulator.url, credentials={"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": user},
                  sleep=lambda _seconds: None)


def launch(client, global_var_list=None):
    params = {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP, "global_var_list": global_var_list or TWO_HOSTS}
    return client.call("execute_job_plan", params, stage="launch").data["job_instance_id"]


class Progress:
    """What a progress display is shown: every status read, every act of the watcher."""

    def __init__(self):
        self.statuses = []
        self.notes = []
        self.wants_hosts = False  # _progress.Progress asks for host results on small jobs' polls; these tests read them only when needed

    def observe(self, data):
        self.statuses.append((data.get("job_instance") or {}).get("status"))

    def note(self, text):
        self.notes.append(text)


def operations(job):
    return [(request["body"]["step_instance_id"], request["body"]["operation_code"]) for request in job.requests("operate_step_instance")]


# ---------------------------------------------------------------------------------------------- options
def test_the_new_options_have_their_defaults_and_bounds():
    assert WAIT_ARGSPEC["retry_failed_hosts"] == {"type": "int", "default": 0}
    assert WAIT_ARGSPEC["show_progress"] == {"type": "bool", "default": True}
    assert WAIT_ARGSPEC["max_host_results"] == {"type": "int", "default": 2000}
    assert WAIT_ARGSPEC["on_waiting_user"]["choices"] == ["wait", "fail", "return", "confirm", "terminate"]
    base = {name: spec.get("default") for name, spec in WAIT_ARGSPEC.items()}
    options = wait_options(base)
    assert options.retry_failed_hosts == 0 and options.show_progress is True
    options = wait_options({**base, "retry_failed_hosts": MAX_RETRY_FAILED_HOSTS, "show_progress": False, "max_host_results": 0})
    assert (options.retry_failed_hosts, options.show_progress, options.max_host_results) == (MAX_RETRY_FAILED_HOSTS, False, 0)
    for bad in (-1, MAX_RETRY_FAILED_HOSTS + 1, True):
        with pytest.raises(InputError, match=r"retry_failed_hosts must be a whole number of retries per failed step, from 0 \(no retry\) to 100"):
            wait_options({**base, "retry_failed_hosts": bad})
    for bad in (-1, 1000001, False):
        with pytest.raises(InputError, match=r"max_host_results must be 0 \(no limit\) or a number of hosts, at most 1000000, got "):
            wait_options({**base, "max_host_results": bad})


# ---------------------------------------------------------------------------------------------- failed_hosts
def host(host_id, status, ip=None, **fields):
    return {"bk_host_id": host_id, "ip": ip or f"10.0.0.{host_id % 250}", "bk_cloud_id": 0, "status": status, "exit_code": 1,
            "error_code": 0, **fields}


def test_failed_hosts_lists_each_failed_host_once_with_its_first_failed_step():
    steps = [
        {"step_instance_id": 11, "name": "check env", "status": 6,
         "step_ip_result_list": [host(101, 104), host(102, 9), host(103, 3)]},
        {"step_instance_id": 12, "name": "restart", "status": 4,
         "step_ip_result_list": [host(101, 104), host(102, 11), host(104, 7),
                                 {"bk_host_id": None, "ip": None, "ipv6": "fd00::5", "bk_cloud_id": 1, "status": 0}]},
    ]
    found = _report.failed_hosts(steps)
    assert [(item["bk_host_id"], item["step_instance_id"]) for item in found] == [(101, 11), (102, 12), (None, 12)]
    assert found[0] == {"name": "10.0.0.101", "bk_host_id": 101, "ip": "10.0.0.101", "bk_cloud_id": 0, "step_instance_id": 11,
                        "step_name": "check env", "status": 104, "status_name": "script_nonzero_exit", "exit_code": 1, "error_code": 0}
    assert found[2]["name"] == "fd00::5", "an IPv6-only host is reached by its IPv6 address"
    assert len(found) == _report.host_summary(steps)["failed"], "failed_hosts and host_summary count the same hosts"
    assert _report.failed_hosts([{"step_instance_id": 1, "step_ip_result_list": None}]) == []


def test_failed_hosts_of_50000_hosts_costs_well_under_two_seconds():
    steps = [{"step_instance_id": 1, "name": "big", "status": 4,
              "step_ip_result_list": [host(100000 + index, 104, ip=f"10.{index // 62500}.{index // 250 % 250}.{index % 250 + 1}")
                                      for index in range(50000)]}]
    started = time.process_time()
    found = _report.failed_hosts(steps)
    assert time.process_time() - started < 2.0
    assert len(found) == 50000 and found[-1]["bk_host_id"] == 149999


def test_retries_report_says_per_host_attempts_and_recovery():
    retried = {12: {"step_instance_id": 12, "step_name": "restart", "rounds": 2,
                    "attempts": {101: 2, 102: 3}, "hosts": {101: host(101, 104), 102: host(102, 104)}}}
    final = [{"step_instance_id": 12, "name": "restart", "status": 4, "step_ip_result_list": [host(101, 9), host(102, 104), host(103, 3)]}]
    [record] = _report.retries_report(retried, final)
    assert record == {"step_instance_id": 12, "step_name": "restart", "rounds": 2, "hosts_recovered": 1, "hosts_failed": 1, "hosts": [
        {"name": "10.0.0.101", "bk_host_id": 101, "ip": "10.0.0.101", "bk_cloud_id": 0, "attempts": 2, "recovered": True},
        {"name": "10.0.0.102", "bk_host_id": 102, "ip": "10.0.0.102", "bk_cloud_id": 0, "attempts": 3, "recovered": False}]}
    [unknown] = _report.retries_report(retried, [{"step_instance_id": 12, "step_ip_result_list": None}])
    assert [item["recovered"] for item in unknown["hosts"]] == [None, None] and unknown["hosts_failed"] == 0


def test_the_failure_message_says_what_the_retries_did():
    result = {"job_instance_id": 7, "status": 4, "status_name": "failed", "job_finished": True,
              "host_summary": {"total": 2, "failed": 1}, "steps": [{"name": "restart", "status": 4}],
              "retries": [{"step_name": "restart", "rounds": 2, "hosts_recovered": 1, "hosts_failed": 1}]}
    with pytest.raises(JobFailedError) as caught:
        _report.apply_outcome_rules(result, "wait", print)
    assert caught.value.msg == ("Job instance 7 ended with status failed (4): 1 of 2 hosts failed in step 'restart' (step 'restart' retried "
                                "2 times: 1 host recovered, 1 still failed); see failed_hosts, and steps[].hosts for exit codes and logs.")


def test_confirm_counts_current_failures_and_ignored_errors():
    assert _wait.JobWatcher._failures_so_far({"step_instance_list": [{"status": 3, "step_ip_result_list": [host(1, 9), host(2, 3)]}]}) == ""
    assert _wait.JobWatcher._failures_so_far({"step_instance_list": [
        {"status": 6, "name": "a", "step_ip_result_list": [host(1, 104), host(2, 104)]}]}) == "2 hosts failed so far"
    assert _wait.JobWatcher._failures_so_far({"step_instance_list": [{"status": 6, "name": "a", "step_ip_result_list": None}]}) == (
        "step 'a' failed with its errors ignored")


# ---------------------------------------------------------------------------------------------- against the emulator
def test_retry_failed_hosts_retries_the_failed_step_once_and_the_host_recovers(job):
    client = client_of(job)
    job.next_launch(final_status=4, failed_hosts=[102])
    job_instance_id = launch(client)
    progress = Progress()
    watcher = _wait.JobWatcher(client, SCOPE, job_instance_id, warn=print, progress=progress)
    result = watcher.wait_and_report(FAST._replace(retry_failed_hosts=2), known={"job_instance_id": job_instance_id})
    assert result["status_name"] == "success" and result["failed_hosts"] == []
    failed_step = result["steps"][0]
    assert operations(job) == [(failed_step["step_instance_id"], 2)], "one retry (code 2) of the failed step only"
    assert result["retries"] == [{"step_instance_id": failed_step["step_instance_id"], "step_name": failed_step["name"], "rounds": 1,
                                  "hosts_recovered": 1, "hosts_failed": 0, "hosts": [
                                      {"name": "10.0.0.2", "bk_host_id": 102, "ip": "10.0.0.2", "bk_cloud_id": 0, "attempts": 2,
                                       "recovered": True}]}]
    assert progress.notes == [f"retrying 1 failed host of step '{failed_step['name']}' (retry 1 of 2)"]
    assert 4 in progress.statuses and progress.statuses[-1] == 3


def test_without_retry_failed_hosts_nothing_is_retried_and_failed_hosts_is_there_without_host_results(job):
    client = client_of(job)
    job.next_launch(final_status=4, failed_hosts=[102])
    job_instance_id = launch(client)
    watcher = _wait.JobWatcher(client, SCOPE, job_instance_id, warn=print)
    with pytest.raises(JobFailedError) as caught:
        watcher.wait_and_report(FAST._replace(host_results="none"), known={"job_instance_id": job_instance_id})
    assert operations(job) == []
    result = caught.value.result
    assert [item["bk_host_id"] for item in result["failed_hosts"]] == [102] and result["retries"] == []
    assert all(step["hosts"] == [] for step in result["steps"])
    assert "see failed_hosts" in caught.value.msg


def test_a_refused_retry_is_warned_about_and_the_failure_reported(job):
    client = client_of(job)
    job.next_launch(final_status=4, failed_hosts=[102])
    job_instance_id = launch(client)
    job.fault("operate_step_instance", "permission")
    warnings = []
    watcher = _wait.JobWatcher(client, SCOPE, job_instance_id, warn=warnings.append)
    with pytest.raises(JobFailedError) as caught:
        watcher.wait_and_report(FAST._replace(retry_failed_hosts=3), known={"job_instance_id": job_instance_id})
    assert caught.value.code == 4 and len(operations(job)) == 1
    assert len(warnings) == 1 and warnings[0].startswith("retry_failed_hosts: JOB did not retry the failed hosts of step ")
    assert caught.value.result["retries"] == [], "no retry happened"
    assert "retried" not in caught.value.msg


def test_confirm_confirms_a_clean_job(job):
    client = client_of(job)
    job.next_launch(confirm=True)
    job_instance_id = launch(client)
    progress = Progress()
    watcher = _wait.JobWatcher(client, SCOPE, job_instance_id, warn=print, progress=progress)
    result = watcher.wait_and_report(FAST._replace(on_waiting_user="confirm"), known={"job_instance_id": job_instance_id})
    approve = next(step for step in result["steps"] if step["type"] == 3)
    assert result["status_name"] == "success" and operations(job) == [(approve["step_instance_id"], 6)]
    assert progress.notes == ["confirmed step 'approve' (on_waiting_user=confirm)"]


def test_confirm_does_not_confirm_after_a_host_failed(job):
    client = client_of(job)
    job.next_launch(confirm=True, final_status=6, failed_hosts=[102])  # the first script step fails on 102, errors ignored
    job_instance_id = launch(client)
    watcher = _wait.JobWatcher(client, SCOPE, job_instance_id, warn=print)
    with pytest.raises(JobFailedError) as caught:
        watcher.wait_and_report(FAST._replace(on_waiting_user="confirm"), known={"job_instance_id": job_instance_id})
    assert operations(job) == []
    assert caught.value.code == 7 and "on_waiting_user=confirm did not confirm it: 1 host failed so far" in caught.value.msg
    assert caught.value.result["status_name"] == "waiting_user" and [item["bk_host_id"] for item in caught.value.result["failed_hosts"]] == [102]


def test_terminate_ends_the_job_at_the_confirmation_and_fails_saying_so(job):
    client = client_of(job)
    job.next_launch(confirm=True)
    job_instance_id = launch(client)
    progress = Progress()
    watcher = _wait.JobWatcher(client, SCOPE, job_instance_id, warn=print, progress=progress)
    with pytest.raises(JobFailedError) as caught:
        watcher.wait_and_report(FAST._replace(on_waiting_user="terminate"), known={"job_instance_id": job_instance_id})
    result = caught.value.result
    approve = next(step for step in result["steps"] if step["type"] == 3)
    assert operations(job) == [(approve["step_instance_id"], 9)]
    assert result["status"] == 13 and approve["status_name"] == "confirm_terminated" and caught.value.code == 13
    assert caught.value.msg == (f"Job instance {job_instance_id} ended with status confirm_terminated (13): on_waiting_user=terminate ended "
                                "it at confirmation step 'approve', as asked. Its later steps did not run.")
    assert progress.notes == ["terminating the job at confirmation step 'approve' (on_waiting_user=terminate)"]


@pytest.mark.parametrize("choice", ["confirm", "terminate"])
def test_a_user_who_may_not_answer_the_step_gets_a_clear_message(job, choice):
    job.next_launch(confirm=True)
    job_instance_id = launch(client_of(job))
    watcher = _wait.JobWatcher(client_of(job, "alice"), SCOPE, job_instance_id, warn=print)
    with pytest.raises(BKJobError) as caught:
        watcher.wait_and_report(FAST._replace(on_waiting_user=choice), known={"job_instance_id": job_instance_id})
    assert caught.value.code == 1244016 and caught.value.stage == "operate"
    assert caught.value.msg.startswith(f"on_waiting_user={choice}: JOB refused to {choice} step 'approve' of job instance {job_instance_id}: ")
    assert "this task's user is not among them" in caught.value.msg
    assert caught.value.result["job_instance_id"] == job_instance_id and caught.value.result["status_name"] == "waiting_user"


def test_a_step_answered_elsewhere_meanwhile_lets_the_wait_go_on(job):
    """A person confirms in JOB's web console while the task's own confirmation is on its way: JOB refuses the task's
    (1241003, the step no longer waits), and the wait goes on."""
    client = client_of(job)
    job.next_launch(confirm=True)
    job_instance_id = launch(client)
    job.fault("operate_step_instance", "slow", seconds=1)

    def person():
        deadline = time.monotonic() + 20
        while not job.requests("operate_step_instance") and time.monotonic() < deadline:
            time.sleep(0.05)
        job.confirm(job_instance_id, "continue")

    thread = threading.Thread(target=person)
    thread.start()
    warnings = []
    try:
        watcher = _wait.JobWatcher(client, SCOPE, job_instance_id, warn=warnings.append)
        result = watcher.wait_and_report(FAST._replace(on_waiting_user="confirm"), known={"job_instance_id": job_instance_id})
    finally:
        thread.join()
    [request] = job.requests("operate_step_instance")
    assert request["response_code"] == 1241003
    assert result["status_name"] == "success"
    assert len(warnings) == 1 and "was answered by someone else meanwhile" in warnings[0]


def test_retries_are_bounded_per_step_and_only_failed_hosts_run_again(job):
    """101 fails once, 102 always (emulator fail_attempts): two retries of the step; the second runs 102 alone."""
    client = client_of(job)
    job.next_launch(fail_attempts={"101": 1, "102": -1})
    job_instance_id = launch(client)
    watcher = _wait.JobWatcher(client, SCOPE, job_instance_id, warn=print)
    with pytest.raises(JobFailedError) as caught:
        watcher.wait_and_report(FAST._replace(retry_failed_hosts=2), known={"job_instance_id": job_instance_id})
    result = caught.value.result
    step = result["steps"][0]
    assert operations(job) == [(step["step_instance_id"], 2)] * 2
    [record] = result["retries"]
    assert (record["rounds"], record["hosts_recovered"], record["hosts_failed"]) == (2, 1, 1)
    assert [(host["bk_host_id"], host["attempts"], host["recovered"]) for host in record["hosts"]] == [(101, 2, True), (102, 3, False)]
    assert [(item["bk_host_id"], item["step_instance_id"]) for item in result["failed_hosts"]] == [(102, step["step_instance_id"])]
    assert caught.value.code == 4 and caught.value.msg == (
        f"Job instance {job_instance_id} ended with status failed (4): 1 of 2 hosts failed in step 'check env' (step 'check env' retried "
        "2 times: 1 host recovered, 1 still failed); see failed_hosts, and steps[].hosts for exit codes and logs.")


@pytest.mark.parametrize("choice", ["confirm", "terminate"])
def test_a_waiting_step_that_is_not_a_confirmation_is_never_answered(choice):
    """A rolling step paused by JOB also shows 7 (JobListener.nextStep, RollingModeEnum.MANUAL): confirm and terminate
    answer confirmation steps only, so the task fails as with fail, before any request."""
    watcher = _wait.JobWatcher(None, SCOPE, 7, warn=print)
    data = {"job_instance": {"status": 7}, "step_instance_list": [
        {"step_instance_id": 31, "name": "rolling restart", "type": 1, "status": 7, "step_ip_result_list": None}]}
    with pytest.raises(JobFailedError) as caught:
        watcher._answer_confirmation(data, FAST._replace(on_waiting_user=choice))
    assert caught.value.code == 7 and "step 'rolling restart', which is not a confirmation step" in caught.value.msg


def test_a_container_job_is_retried_without_host_results(job):
    """JOB's v3 status cannot list a container job's targets (1240002 with host results): the failed step is retried all
    the same, and its retries record has no hosts."""
    client = client_of(job)
    scope = {"bk_biz_id": 3}
    job.next_launch(final_status=4)
    job_instance_id = client.call("execute_job_plan", {**scope, "job_plan_id": 1006}, stage="launch").data["job_instance_id"]
    progress = Progress()
    watcher = _wait.JobWatcher(client, scope, job_instance_id, warn=print, progress=progress)
    result = watcher.wait_and_report(FAST._replace(retry_failed_hosts=1), known={"job_instance_id": job_instance_id}, output_vars=False)
    assert result["status_name"] == "success" and result["failed_hosts"] == []
    assert [(record["rounds"], record["hosts"]) for record in result["retries"]] == [(1, [])]
    assert [code for _step, code in operations(job)] == [2]
    assert progress.notes == [f"retrying the failed targets of step '{result['retries'][0]['step_name']}' (retry 1 of 1)"]


def test_check_mode_sends_no_retry_and_says_what_it_would_do(job):
    client = client_of(job)
    job.next_launch(fail_attempts={"102": 1})
    job_instance_id = launch(client)
    warnings = []
    watcher = _wait.JobWatcher(client, SCOPE, job_instance_id, warn=warnings.append, check_mode=True)
    with pytest.raises(JobFailedError) as caught:
        watcher.wait_and_report(FAST._replace(retry_failed_hosts=2), known={"changed": False, "job_instance_id": job_instance_id})
    assert operations(job) == [] and caught.value.code == 4
    assert caught.value.result["changed"] is True and caught.value.result["retries"] == []
    assert warnings == [f"Check mode: retry_failed_hosts would retry 1 failed host of step 'check env' of job instance {job_instance_id} "
                        "(operate_step_instance operation 2); nothing was sent."]


@pytest.mark.parametrize("choice, code", [("confirm", 6), ("terminate", 9)])
def test_check_mode_answers_no_confirmation_and_returns_the_waiting_job(job, choice, code):
    client = client_of(job)
    job.next_launch(confirm=True)
    job_instance_id = launch(client)
    warnings = []
    watcher = _wait.JobWatcher(client, SCOPE, job_instance_id, warn=warnings.append, check_mode=True)
    result = watcher.wait_and_report(FAST._replace(on_waiting_user=choice), known={"changed": False, "job_instance_id": job_instance_id})
    assert operations(job) == [] and result["status_name"] == "waiting_user" and result["changed"] is True
    assert warnings == [f"Check mode: on_waiting_user={choice} would {choice} step 'approve' of job instance {job_instance_id} "
                        f"(operate_step_instance operation {code}); nothing was sent, and the job still waits."]


def test_a_task_that_sent_a_step_operation_is_changed(job):
    client = client_of(job)
    job.next_launch(fail_attempts={"102": 1})
    job_instance_id = launch(client)
    watcher = _wait.JobWatcher(client, SCOPE, job_instance_id, warn=print)
    result = watcher.wait_and_report(FAST._replace(retry_failed_hosts=1), known={"changed": False, "job_instance_id": job_instance_id})
    assert result["changed"] is True and result["status_name"] == "success"


# ---------------------------------------------------------------------------------------------- max_host_results
def report_of(steps, warnings, retried=None, **options):
    """JobInstance.report of a job whose last status read (``steps``) carried host results: no request is made."""
    job = _report.JobInstance(None, SCOPE, 7, warn=warnings.append)
    job.final = {"finished": True, "job_instance": {"status": 4, "name": "deploy-app"}, "step_instance_list": steps}
    job.had_hosts = True
    job.retried = retried or {}
    return job.report(FAST._replace(log_max_bytes=0, **options), output_vars=False)


def test_max_host_results_caps_each_host_list_failed_hosts_first():
    steps = [{"step_instance_id": 1, "name": "check env", "status": 3, "type": 1,
              "step_ip_result_list": [host(100 + index, 9) for index in range(5)]},
             {"step_instance_id": 2, "name": "restart", "status": 4, "type": 1,
              "step_ip_result_list": [host(200 + index, 104 if index % 2 else 9) for index in range(8)]}]
    warnings = []
    result = report_of(steps, warnings, host_results="all", max_host_results=6)
    listed = [[item["bk_host_id"] for item in step["hosts"]] for step in result["steps"]]
    assert listed == [[100, 101], [201, 203, 205, 207]], "the 4 failed hosts first, then the others in step order; JOB's order kept"
    assert [item["bk_host_id"] for item in result["failed_hosts"]] == [201, 203, 205, 207]
    assert result["host_summary"] == {"total": 13, "success": 9, "failed": 4, "running": 0}
    assert result["host_results_truncated"] is True
    assert warnings == ["The result of job instance 7 lists at most max_host_results (6) hosts per list and leaves out 7 hosts from "
                        "steps[].hosts; host_summary and the retries' counts include them. Raise max_host_results (0: no limit), or see "
                        "them in JOB's web console."]
    warnings.clear()
    small = report_of(steps, warnings, host_results="failed", max_host_results=3)
    assert [len(step["hosts"]) for step in small["steps"]] == [0, 3] and len(small["failed_hosts"]) == 3
    assert small["host_results_truncated"] is True and "leaves out 1 host from steps[].hosts, 1 host from failed_hosts;" in warnings[0]
    warnings.clear()
    every = report_of(steps, warnings, host_results="all", max_host_results=0)
    assert sum(len(step["hosts"]) for step in every["steps"]) == 13 and every["host_results_truncated"] is False and warnings == []


def test_max_host_results_caps_the_retried_hosts_and_keeps_their_counts():
    failed = [host(300 + index, 104) for index in range(5)]
    steps = [{"step_instance_id": 3, "name": "deploy", "status": 4, "type": 1,
              "step_ip_result_list": [host(300, 9), host(301, 9)] + failed[2:]}]
    retried = {3: {"step_instance_id": 3, "step_name": "deploy", "rounds": 1, "attempts": {item["bk_host_id"]: 2 for item in failed},
                   "hosts": {item["bk_host_id"]: item for item in failed}}}
    warnings = []
    [record] = report_of(steps, warnings, retried, max_host_results=2)["retries"]
    assert (record["hosts_recovered"], record["hosts_failed"]) == (2, 3)
    assert [(item["bk_host_id"], item["recovered"]) for item in record["hosts"]] == [(300, True), (301, True)]
    assert "3 hosts from retries[].hosts" in warnings[0]


def test_a_cap_on_50000_failed_hosts_builds_only_the_listed_entries():
    steps = [{"step_instance_id": 1, "name": "big", "status": 4, "type": 1,
              "step_ip_result_list": [host(100000 + index, 104) for index in range(50000)]}]
    started = time.process_time()
    result = report_of(steps, [], max_host_results=2000)
    assert time.process_time() - started < 2.0
    assert len(result["steps"][0]["hosts"]) == 2000 and len(result["failed_hosts"]) == 2000
    assert result["host_summary"]["failed"] == 50000
