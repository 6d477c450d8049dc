# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Waiting for jobs and reporting their outcome, through real ansible-playbook against the emulator."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest

from conftest import apigw_connection, esb_connection  # pylint: disable=import-error
from support import PLAN_DEPLOY_APP  # pylint: disable=import-error

LAUNCH = "blueking.job.execute_job_plan"
INFO = "blueking.job.job_instance_info"
FAST = {"poll_interval": 0.2, "poll_max_interval": 0.5}


def launch(emulator, **args):
    return {"name": "launch and wait", LAUNCH: {**esb_connection(emulator), "bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, **FAST, **args}}


def calls(emulator, api):
    return emulator.requests(api=api)


def when_status(emulator, status, action, timeout=20.0):
    """Run ``action(job_instance_id)`` in the background once an instance created from now on reaches ``status``."""
    existing = {instance["job_instance_id"] for instance in emulator.instances()}

    def watch():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for instance in emulator.instances():
                if instance["job_instance_id"] not in existing and instance.get("status") == status:
                    action(instance["job_instance_id"])
                    return
            time.sleep(0.1)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_success_reports_steps_summary_and_output_vars(job, ansible):
    job.next_launch(output_vars={"app_version": "2.4.1-built"})
    # show_progress false: progress lines read a small job's hosts on every poll; here only the schedule's last poll does
    run = ansible.playbook([launch(job, global_vars={"app_version": "2.4.1"}, bk_job_web_url="https://job.example.com",
                                   show_progress=False)])
    result = run["r0"]
    assert result["failed"] is False and result["changed"] is True
    assert (result["status"], result["status_name"], result["job_finished"]) == (3, "success", True)
    assert "finished" not in result
    assert [step["name"] for step in result["steps"]] == ["check env", "push package", "approve", "restart"]
    assert all(step["hosts"] == [] for step in result["steps"]), "host_results: failed lists no successful host"
    assert result["host_summary"]["failed"] == 0 and result["host_summary"]["total"] >= 1
    assert result["output_vars"]["app_version"] == "2.4.1-built"
    assert result["end_time"] >= result["start_time"] and result["total_time"] >= 0
    assert result["job_instance_url"] == f"https://job.example.com/api_execute/{result['job_instance_id']}"
    statuses = calls(job, "get_job_instance_status")
    assert sum(1 for sent in statuses if str(sent["body"].get("return_ip_result")).lower() == "true") == 1
    assert calls(job, "batch_get_job_instance_ip_log") == []


def test_600_failed_hosts_fail_with_logs_fetched_in_two_batches(job, ansible):
    job.next_launch(host_count=600, failed_hosts=600, log_bytes=600)
    run = ansible.playbook([launch(job, log_max_bytes=128)])
    result = run["r0"]
    assert result["failed"] is True and result["changed"] is True
    assert result["job_instance_id"] > 0
    assert result["status_name"] == "failed" and result["error"]["kind"] == "job_failed" and result["error"]["stage"] == "wait"
    assert "600 of 600 hosts failed" in result["msg"]
    failed_step = next(step for step in result["steps"] if step["hosts"])
    assert len(failed_step["hosts"]) == 600
    host = failed_step["hosts"][0]
    assert host["status"] == 104 and host["exit_code"] == 1 and host["status_name"] == "script_nonzero_exit"
    assert 0 < len(host["log"].encode()) <= 128 and host["log"].rstrip().endswith("ERROR: exit code 1")
    batches = calls(job, "batch_get_job_instance_ip_log")
    assert sorted(len(sent["body"]["host_id_list"]) for sent in batches) == [100, 500]
    assert result["host_summary"] == {"total": 600, "success": 0, "failed": 600, "running": 0}


@pytest.mark.parametrize("final_status, name", [(5, "skipped"), (6, "ignored_error")])
def test_skipped_and_ignored_error_succeed_with_a_warning(job, ansible, final_status, name):
    """JOB ends the job with success after a skipped or ignored-error step (JobListener.refreshJob -> nextStep ->
    finishJob(SUCCESS)): only the step shows 5 or 6, and the task warns naming it."""
    job.next_launch(final_status=final_status)
    run = ansible.playbook([launch(job)])
    result = run["r0"]
    [passed] = [step for step in result["steps"] if step["status"] == final_status]
    assert result["failed"] is False and result["status_name"] == "success" and passed["status_name"] == name
    shown = " ".join(run.output.split())  # ansible-core 2.16 wraps a warning's lines at the terminal's width
    assert "but not every step succeeded" in shown and f"'{passed['name']}' ({name})" in shown


def test_abnormal_state_fails(job, ansible):
    job.next_launch(final_status=9)
    result = ansible.playbook([launch(job)])["r0"]
    assert result["failed"] is True and result["status"] == 9 and "ended with status abnormal" in result["msg"]


def test_waiting_user_under_each_policy(job, ansible):
    job.next_launch(confirm=True)
    failed = ansible.playbook([launch(job, on_waiting_user="fail")])["r0"]
    assert failed["failed"] is True and failed["status"] == 7 and "waits for a person to confirm" in failed["msg"]
    job.next_launch(confirm=True)
    returned = ansible.playbook([launch(job, on_waiting_user="return")])["r0"]
    assert returned["failed"] is False and returned["status_name"] == "waiting_user" and returned["job_finished"] is False
    job.next_launch(confirm=True)
    confirmer = when_status(job, 7, lambda job_instance_id: job.confirm(job_instance_id, "continue"))
    waited = ansible.playbook([launch(job, on_waiting_user="wait")])["r0"]
    confirmer.join(5)
    assert waited["failed"] is False and waited["status_name"] == "success"
    job.next_launch(confirm=True)
    rejecter = when_status(job, 7, lambda job_instance_id: job.confirm(job_instance_id, "terminate"))
    rejected = ansible.playbook([launch(job)])["r0"]
    rejecter.join(5)
    assert rejected["failed"] is True and rejected["status_name"] == "confirm_terminated"


def test_terminated_from_outside_fails(job, ansible):
    job.next_launch(step_seconds=2)
    stopper = when_status(job, 2, lambda job_instance_id: job.terminate(job_instance_id, status=8))
    result = ansible.playbook([launch(job)])["r0"]
    stopper.join(5)
    assert result["failed"] is True and result["status_name"] == "terminated" and result["job_instance_id"] > 0


def test_timeout_without_terminate_keeps_the_job_and_its_id(job, ansible):
    job.next_launch(step_seconds=10)
    result = ansible.playbook([launch(job, wait_timeout=1)])["r0"]
    assert result["failed"] is True and result["changed"] is True
    assert "did not finish within wait_timeout (1 s" in result["msg"] and str(result["job_instance_id"]) in result["msg"]
    assert result["error"]["code"] == "timeout" and result["status_name"] == "running"
    # the launch's own start is operate_job_instance code 2; no terminate (code 1) was sent
    assert [call["body"]["operation_code"] for call in calls(job, "operate_job_instance")] == [2]


def test_timeout_with_terminate_stops_the_job(job, ansible):
    job.next_launch(step_seconds=10)
    result = ansible.playbook([launch(job, wait_timeout=1, terminate_on_timeout=True)])["r0"]
    assert result["failed"] is True and result["error"]["stage"] == "terminate"
    assert "was terminated (status now terminate_success)" in result["msg"]
    [start, operate] = calls(job, "operate_job_instance")
    assert start["body"]["operation_code"] == 2 and operate["body"]["operation_code"] == 1 and operate["body"]["job_instance_id"] == result["job_instance_id"]


def test_transient_poll_failures_recover(job, ansible):
    job.fault("get_job_instance_status", "http_status", count=3, status=502)
    task = {"name": "via gateway", LAUNCH: {**apigw_connection(job), "bk_scope_id": "2", "job_plan_id": PLAN_DEPLOY_APP, **FAST}}
    result = ansible.playbook([task])["r0"]
    assert result["failed"] is False and result["status_name"] == "success"
    assert len(calls(job, "execute_job_plan")) == 1


def test_a_poll_that_never_recovers_keeps_the_job_instance_id(job, ansible):
    # A dropped connection is transient: the wait polls through it until wait_timeout, then gives up.
    job.fault("get_job_instance_status", "drop", count=-1)
    started = time.monotonic()
    result = ansible.playbook([launch(job, wait_timeout=3)])["r0"]
    assert time.monotonic() - started >= 3
    assert result["failed"] is True and result["changed"] is True
    assert result["job_instance_id"] > 0 and f"Lost track of job instance {result['job_instance_id']}" in result["msg"]
    assert "failed polls in a row" in result["msg"]
    assert result["error"]["stage"] == "wait"
    assert len(calls(job, "execute_job_plan")) == 1


def test_async_poll(job, ansible):
    task = {**launch(job), "async": 60, "poll": 1}
    result = ansible.playbook([task])["r0"]
    assert result["failed"] is False and result["status_name"] == "success" and result["job_instance_id"] > 0


def test_attach_with_job_instance_info(job, ansible):
    connection = {**esb_connection(job), "bk_biz_id": 2}
    job.next_launch(step_seconds=0.5, failed_hosts=1)
    run = ansible.playbook([
        {"name": "launch only", LAUNCH: {**connection, "job_plan_id": PLAN_DEPLOY_APP, "wait": False}},
        {"name": "read now", INFO: {**connection, "job_instance_id": "{{ r0.job_instance_id }}"}},
        {"name": "attach and wait", INFO: {**connection, "job_instance_id": "{{ r0.job_instance_id }}", "wait": True,
                                           "host_results": "failed", **FAST}},
    ])
    launched, now, waited = run["r0"], run["r1"], run["r2"]
    assert launched["changed"] is True and "status" not in launched
    assert now["failed"] is False and now["changed"] is False and now["job_instance_id"] == launched["job_instance_id"]
    assert now["job_plan_id"] == PLAN_DEPLOY_APP and waited["job_plan_id"] == PLAN_DEPLOY_APP
    assert waited["failed"] is True and waited["changed"] is False and waited["status_name"] == "failed"
    assert sum(len(step["hosts"]) for step in waited["steps"]) == 1


class CallbackReceiver(http.server.BaseHTTPRequestHandler):
    """Answers 500 to JSON and 200 to form posts, so JOB's form retry is exercised."""

    received: list = []

    def do_POST(self):  # noqa: N802  pylint: disable=invalid-name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        content_type = self.headers.get("Content-Type", "")
        self.received.append((content_type, body))
        self.send_response(500 if "json" in content_type else 200)
        self.end_headers()

    def log_message(self, *args):  # pylint: disable=arguments-differ
        return


def test_callback_reaches_a_receiver_json_then_form(job, ansible):
    CallbackReceiver.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CallbackReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/bk-job/callback"
        result = ansible.playbook([launch(job, callback_url=url)])["r0"]
        deadline = time.monotonic() + 10
        while len(CallbackReceiver.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.shutdown()
    assert result["status_name"] == "success"
    (first_type, first_body), (second_type, second_body) = CallbackReceiver.received
    assert "application/json" in first_type and "application/x-www-form-urlencoded" in second_type
    assert first_body == second_body
    body = json.loads(first_body)
    assert body["job_instance_id"] == result["job_instance_id"] and body["status"] == 3
    assert "step_instances" in body and len(body["step_instances"]) == 4


def test_log_total_max_bytes_caps_the_result_and_says_how_many_hosts_lost_their_log(job, ansible):
    job.next_launch(host_count=600, failed_hosts=600, log_bytes=600)
    run = ansible.playbook([launch(job, log_max_bytes=128, log_total_max_bytes=10000)])
    result = run["r0"]
    assert result["failed"] is True and "600 of 600 hosts failed" in result["msg"]
    hosts = next(step for step in result["steps"] if step["hosts"])["hosts"]
    logs = [host["log"] for host in hosts if host["log"] is not None]
    assert len(hosts) == 600, "the cap drops logs, never hosts"
    assert sum(len(log.encode()) for log in logs) == 10000 and len(logs) == 79  # 78 full tails of 128 bytes, then 16 bytes
    assert [len(sent["body"]["host_id_list"]) for sent in calls(job, "batch_get_job_instance_ip_log")] == [500], \
        "no batch is fetched once the budget is spent"
    assert any("Logs of 521 hosts" in warning and "log_total_max_bytes (10000 bytes)" in warning for warning in result["warnings"])


def test_failed_hosts_logs_come_first_within_the_cap(job, ansible):
    job.next_launch(host_count=8, failed_hosts=3, log_bytes=600)
    result = ansible.playbook([launch(job, host_results="all", log_max_bytes=100, log_total_max_bytes=300)])["r0"]
    hosts = next(step for step in result["steps"] if any(host["status_name"] != "success" for host in step["hosts"]))["hosts"]
    failed = [host for host in hosts if host["status_name"] != "success"]
    assert len(failed) == 3 and all(host["log"] is not None and len(host["log"].encode()) == 100 for host in failed)
    assert all(host["log"] is None for host in hosts if host["status_name"] == "success")


def test_all_hosts_without_logs(job, ansible):
    result = ansible.playbook([launch(job, host_results="all", log_max_bytes=0)])["r0"]
    assert result["failed"] is False
    hosts = [host for step in result["steps"] for host in step["hosts"]]
    assert hosts and all(host["log"] is None and host["status_name"] == "success" for host in hosts)
    assert calls(job, "batch_get_job_instance_ip_log") == []


def test_bad_wait_options_fail_before_launch(job, ansible):
    run = ansible.playbook([
        launch(job, wait_timeout=0),
        launch(job, poll_interval=5, poll_max_interval=1),
        launch(job, log_max_bytes=-1),
        launch(job, start_task=False),
        launch(job, log_total_max_bytes=-5),
    ])
    assert "wait_timeout must be a positive" in run["r0"]["msg"]
    assert "poll_max_interval (1) must not be smaller than poll_interval (5)" in run["r1"]["msg"]
    assert "log_max_bytes must be 0" in run["r2"]["msg"]
    assert "start_task: false" in run["r3"]["msg"]
    assert "log_total_max_bytes must be 0 (no logs) or more" in run["r4"]["msg"]
    assert job.requests() == []
