# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The status table, outcome rules and log tails; the wait loop's backoff against the emulator."""

from __future__ import annotations

import time

import pytest

from ansible_collections.blueking.job.plugins.module_utils import _report, _wait
from ansible_collections.blueking.job.plugins.module_utils._args import WaitOptions, wait_options
from ansible_collections.blueking.job.plugins.module_utils._client import Client
from ansible_collections.blueking.job.plugins.module_utils._errors import BKJobError, JobFailedError, PermissionDeniedError
from support import ESB_CREDENTIALS as CREDENTIALS, PLAN_DEPLOY_APP  # pylint: disable=import-error


SCOPE = {"bk_biz_id": 2}
PARAMS = WaitOptions(wait_timeout=30, poll_interval=0.05, poll_max_interval=0.2, on_waiting_user="wait", log_max_bytes=64, log_total_max_bytes=1 << 20)


def test_every_job_status_code_is_handled_on_purpose():
    assert set(_report.STATUSES) == {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15}
    assert {code for code, (_name, verdict) in _report.STATUSES.items() if verdict != "poll" and code != 7} == set(_report.FINISHED_STATUSES)
    assert _report.status_name(12) == "unknown_12"


def result(status, finished=True, failed=0):
    return {"job_instance_id": 7, "status": status, "status_name": _report.status_name(status), "job_finished": finished,
            "host_summary": {"total": 3, "failed": failed}, "steps": [{"name": "check env", "status": status}]}


@pytest.mark.parametrize("status", [3])
def test_success_is_silent(status):
    warnings = []
    _report.apply_outcome_rules(result(status), "wait", warnings.append)
    assert warnings == []


@pytest.mark.parametrize("status", [5, 6])
def test_skipped_and_ignored_error_warn(status):
    warnings = []
    _report.apply_outcome_rules(result(status), "wait", warnings.append)
    assert len(warnings) == 1 and "Job instance 7 ended with status" in warnings[0]


@pytest.mark.parametrize("status", [4, 8, 9, 11, 13, 14])
def test_failures_raise_with_the_status(status):
    with pytest.raises(JobFailedError) as caught:
        _report.apply_outcome_rules(result(status, failed=2), "wait", print)
    assert caught.value.code == status and caught.value.stage == "wait"
    assert "Job instance 7 ended with status" in caught.value.msg


@pytest.mark.parametrize("step_status, step_name", [(5, "skipped"), (6, "ignored_error")])
def test_a_success_after_a_skipped_or_ignored_step_warns(step_status, step_name):
    """JOB ends a job 3 after a step it skipped or whose errors it ignored (JobListener.refreshJob -> nextStep ->
    finishJob(SUCCESS)): only the step says so."""
    warnings = []
    done = {**result(3, failed=1), "steps": [{"name": "check env", "status": step_status, "status_name": step_name},
                                             {"name": "restart", "status": 3, "status_name": "success"}]}
    _report.apply_outcome_rules(done, "wait", warnings.append)
    assert warnings == [f"Job instance 7 ended with status success (3), but not every step succeeded: 'check env' ({step_name}); "
                        "1 of 3 hosts failed. See failed_hosts."]


def test_failed_job_names_hosts_and_step():
    with pytest.raises(JobFailedError, match=r"2 of 3 hosts failed in step 'check env'"):
        _report.apply_outcome_rules(result(4, failed=2), "wait", print)


def test_waiting_user_follows_the_policy():
    with pytest.raises(JobFailedError, match="waits for a person"):
        _report.apply_outcome_rules(result(7, finished=False), "fail", print)
    _report.apply_outcome_rules(result(7, finished=False), "return", print)


def test_tail_keeps_the_end_and_never_splits_a_character():
    assert _report.log_tail("short", 10) == "short"
    assert _report.log_tail("0123456789", 4) == "6789"
    assert _report.log_tail("日志日志", 4) == "志"


def test_host_summary_counts_distinct_hosts_worst_state_wins():
    steps = [
        {"step_ip_result_list": [{"bk_host_id": 1, "status": 9}, {"bk_host_id": 2, "status": 104}, {"bk_host_id": 3, "status": 9}]},
        {"step_ip_result_list": [{"bk_host_id": 1, "status": 7}, {"bk_host_id": 2, "status": 9}, {"bk_host_id": 3, "status": 9}]},
    ]
    assert _report.host_summary(steps) == {"total": 3, "success": 1, "failed": 1, "running": 1}


def test_wait_options_are_checked():
    with pytest.raises(Exception, match="poll_max_interval"):
        wait_options({**PARAMS._asdict(), "poll_interval": 2, "poll_max_interval": 1})


def test_wait_backs_off_to_the_ceiling_and_returns_at_the_end(emulator):
    emulator.reset()
    emulator.next_launch(step_seconds=0.4)
    client = Client(emulator.url, credentials=CREDENTIALS)
    launched = client.call("execute_job_plan", {**SCOPE, "job_plan_id": PLAN_DEPLOY_APP}, stage="launch").data
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        time.sleep(seconds)

    watcher = _wait.JobWatcher(client, SCOPE, launched["job_instance_id"], warn=print, sleep=sleep)
    data = watcher.wait(PARAMS)
    assert data["finished"] is True and data["job_instance"]["status"] == 3
    assert sleeps and max(sleeps) <= PARAMS.poll_max_interval * 1.1
    assert sleeps[0] <= PARAMS.poll_interval * 1.1
    report = watcher.report(PARAMS._replace(host_results="all"))
    assert report["status_name"] == "success" and report["host_summary"]["failed"] == 0


def fast_client(emulator):
    return Client(emulator.url, credentials=CREDENTIALS, sleep=lambda _seconds: None)


def launched(client, scope=None, job_plan_id=PLAN_DEPLOY_APP):
    return client.call("execute_job_plan", {**(scope or SCOPE), "job_plan_id": job_plan_id}, stage="launch").data["job_instance_id"]


def test_job_finished_comes_from_the_status_table():
    assert [code for code in range(16) if _report.job_finished(code)] == [3, 4, 5, 6, 8, 9, 11, 13, 14]
    assert _report.job_finished(7) is False and _report.job_finished(None) is False


def test_a_streak_of_transient_failures_is_polled_through(job):
    client = fast_client(job)
    job_instance_id = launched(client)
    job.fault("get_job_instance_status", "business_error", count=18, code=1240002)  # six polls of three attempts each
    watcher = _wait.JobWatcher(client, SCOPE, job_instance_id, warn=print)
    data = watcher.wait(PARAMS)
    assert data["job_instance"]["status"] == 3
    assert sum(1 for request in job.requests("get_job_instance_status") if request.get("fault")) == 18


def test_a_transient_streak_ends_the_wait_only_at_wait_timeout(job):
    client = fast_client(job)
    job_instance_id = launched(client)
    job.fault("get_job_instance_status", "business_error", count=-1, code=1306201)
    watcher = _wait.JobWatcher(client, SCOPE, job_instance_id, warn=print)
    started = time.monotonic()
    with pytest.raises(BKJobError) as caught:
        watcher.wait(PARAMS._replace(wait_timeout=1))
    assert time.monotonic() - started >= 1
    assert caught.value.msg.startswith(f"Lost track of job instance {job_instance_id} while waiting for it after ")
    assert caught.value.stage == "wait"


def test_a_final_failure_ends_the_wait_at_once(job):
    client = fast_client(job)
    job_instance_id = launched(client)
    job.fault("get_job_instance_status", "permission", count=-1)
    with pytest.raises(PermissionDeniedError):
        _wait.JobWatcher(client, SCOPE, job_instance_id, warn=print).wait(PARAMS)
    assert len(job.requests("get_job_instance_status")) == 1


def test_a_missing_instance_is_said_at_once(job):
    with pytest.raises(BKJobError) as caught:
        _wait.JobWatcher(fast_client(job), SCOPE, 987654321, warn=print).wait(PARAMS)
    assert caught.value.code == 1244006 and "Job instance 987654321 does not exist in this scope" in caught.value.msg
    assert "Lost track" not in caught.value.msg and len(job.requests("get_job_instance_status")) == 1


def test_finished_true_at_waiting_user_cannot_fool_the_wait(job):
    client = fast_client(job)
    job.next_launch(job_version="3.5.1", confirm=True)
    job_instance_id = launched(client)
    watcher = _wait.JobWatcher(client, SCOPE, job_instance_id, warn=print)
    with pytest.raises(JobFailedError) as caught:
        watcher.wait(PARAMS._replace(wait_timeout=1))
    assert caught.value.code == "timeout" and caught.value.message == "waiting_user"
    data = watcher.wait(PARAMS._replace(on_waiting_user="return"))
    assert data["finished"] is True and data["job_instance"]["status"] == 7, "the emulated 3.5.x says finished at 7"
    report = watcher.report(PARAMS._replace(host_results="none"), output_vars=False)
    assert report["status"] == 7 and report["job_finished"] is False and "finished" not in report


def test_a_container_job_is_read_without_host_results(job):
    client = fast_client(job)
    scope = {"bk_biz_id": 3}
    job_instance_id = launched(client, scope, 1006)
    warnings = []
    watcher = _wait.JobWatcher(client, scope, job_instance_id, warn=warnings.append)
    watcher.wait(PARAMS, schedule=_wait.PollSchedule(PARAMS, watcher.monotonic(), expected=0.0))
    report = watcher.report(PARAMS._replace(host_results="all"), output_vars=False)
    assert report["status_name"] == "success" and report["job_finished"] is True and report["steps"]
    assert all(step["hosts"] == [] for step in report["steps"])
    assert len(warnings) == 1 and "per-target results" in warnings[0]


def test_a_failed_sql_step_gets_its_hosts_logs(job):
    client = fast_client(job)
    scope = {"bk_biz_id": 3}
    job.next_launch(final_status=4)
    job_instance_id = launched(client, scope, 1007)
    watcher = _wait.JobWatcher(client, scope, job_instance_id, warn=print)
    watcher.wait(PARAMS)
    [step] = watcher.report(PARAMS._replace(log_max_bytes=4096, host_results="failed"), output_vars=False)["steps"]
    assert step["type"] == 4 and step["hosts"]
    assert all("ERROR: exit code 1" in host["log"] for host in step["hosts"])
    assert job.requests("batch_get_job_instance_ip_log")
