# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Ending the wait soon after the job ends, with few calls: polls aimed by the plan's history, and JOB's callback.

Real ansible-playbook runs against the emulator; what the module asked JOB is read from the emulator's request
record, and callback deliveries from its callback record.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from conftest import esb_connection  # pylint: disable=import-error
from support import closed_port  # pylint: disable=import-error

LAUNCH = "blueking.job.execute_job_plan"
FAST = {"poll_interval": 0.2, "poll_max_interval": 0.5}
SCRIPT_ONLY_PLAN = 1004  # "deploy": one script step on host 101, no global variables
AIMED = {"poll_interval": 0.2, "poll_max_interval": 5}  # the ceiling is above the jobs' length: one sleep to the end
SLOW_SAFETY_NET = {"poll_interval": 0.2, "poll_max_interval": 30}  # a poll would only come 30 s after the launch


def launch(emulator, job_plan_id=SCRIPT_ONLY_PLAN, **args):
    # show_progress false: the progress lines (in-process) read a small job's hosts on every poll, and these tests check
    # which polls the schedule itself asks host results of
    return {"name": "launch and wait", LAUNCH: {**esb_connection(emulator), "bk_biz_id": 2, "job_plan_id": job_plan_id,
                                                "show_progress": False, **args}}


def requests_after(emulator, seq, api=None):
    return [sent for sent in emulator.requests(api=api) if sent["seq"] > seq]


def last_seq(emulator):
    return max((sent["seq"] for sent in emulator.requests()), default=0)


def with_hosts(sent):
    return str(sent["body"].get("return_ip_result")).lower() == "true"


def status_calls(emulator, seq=0):
    return requests_after(emulator, seq, "get_job_instance_status")


def launched_at(emulator, seq=0):
    [sent] = requests_after(emulator, seq, "execute_job_plan")
    return sent["time"]


# -------------------------------------------------------------------------------------------- history


def test_with_history_one_status_call_is_the_poll_and_the_report(job, ansible):
    """The second run of a plan polls once, at the end its first run predicts, and that poll is also the report.

    Plan 1004 has no string variables, so there are no output variables to read either. poll_max_interval is above
    the job's length, so nothing splits the sleep to the expected end. The second job is 20 ms shorter than the
    first: the module aims at the predicted millisecond, from just before its launch request, so with equal lengths
    the poll reaches the emulator only a millisecond or so after the end (a scheduling hiccup would cost a fine poll).
    """
    job.next_launch(step_seconds=1.0)
    first = ansible.playbook([launch(job, **AIMED)])["r0"]
    assert first["status_name"] == "success"
    assert len(job.requests(api="get_job_instance_list")) == 1, "the first run looks for history too, and finds none"
    before = last_seq(job)
    job.next_launch(step_seconds=0.98)
    second = ansible.playbook([launch(job, **AIMED)])["r0"]
    assert second["failed"] is False and second["status_name"] == "success" and second["job_finished"] is True and "finished" not in second
    [status] = status_calls(job, before)
    assert with_hosts(status), "the poll aimed at the end carries host results, so no second call is needed"
    [history] = requests_after(job, before, "get_job_instance_list")
    assert (history["body"]["type"], history["body"]["status"], history["body"]["name"]) == (0, 3, "deploy")
    assert requests_after(job, before, "get_job_instance_global_var_value") == []
    assert status["time"] - launched_at(job, before) >= 0.95, "no poll before the expected end"
    assert [step["name"] for step in second["steps"]] == ["deploy"]
    assert second["steps"][0]["status_name"] == "success" and second["steps"][0]["hosts"] == []
    assert second["host_summary"] == {"total": 1, "success": 1, "failed": 0, "running": 0}
    assert second["output_vars"] == {}
    assert second["end_time"] - second["start_time"] == second["total_time"] >= 980


def test_with_history_a_ceiling_below_the_expected_length_splits_the_sleep(job, ansible):
    """poll_max_interval still bounds every sleep: a job expected to take 1 s under a 0.5 s ceiling gets light polls
    in even steps of at most 0.5 s (a fast failure is not missed for long), then the aimed poll with host results."""
    job.next_launch(step_seconds=1.0)
    ansible.playbook([launch(job, **FAST)])
    before = last_seq(job)
    job.next_launch(step_seconds=0.98)
    result = ansible.playbook([launch(job, **FAST)])["r0"]
    assert result["status_name"] == "success"
    *light, aimed = status_calls(job, before)
    start = launched_at(job, before)
    assert light and not any(with_hosts(sent) for sent in light) and with_hosts(aimed)
    moments = [sent["time"] - start for sent in light] + [aimed["time"] - start]
    assert all(later - earlier <= 0.55 for earlier, later in zip([0.0] + moments, moments)), "no sleep beyond the ceiling"
    assert all(later - earlier >= 0.25 for earlier, later in zip(moments, moments[1:])), "even steps: no light poll just before the aimed one"
    assert aimed["time"] - start >= 0.95


def test_with_history_all_hosts_are_reported_from_the_aimed_poll(job, ansible):
    """host_results: all needs every host's result: the aimed poll's host results serve it, logs are fetched once."""
    job.next_launch(step_seconds=0.6)
    ansible.playbook([launch(job, **AIMED)])
    before = last_seq(job)
    job.next_launch(step_seconds=0.58)
    result = ansible.playbook([launch(job, host_results="all", **AIMED)])["r0"]
    assert result["status_name"] == "success"
    [host] = result["steps"][0]["hosts"]
    assert (host["bk_host_id"], host["ip"], host["status_name"]) == (101, "10.0.0.1", "success")
    assert host["log"] and "step deploy" in host["log"]
    assert len(requests_after(job, before, "batch_get_job_instance_ip_log")) == 1
    [status] = status_calls(job, before)
    assert with_hosts(status)


def test_a_run_much_longer_than_its_history_still_ends(job, ansible):
    """History is only a guess: past the expected end the wait backs off from a fine interval, and a small job's late
    polls carry host results, so the poll that sees the end is the report."""
    job.next_launch(step_seconds=0.3)
    ansible.playbook([launch(job, **FAST)])
    before = last_seq(job)
    job.next_launch(step_seconds=2.0)
    result = ansible.playbook([launch(job, **FAST)])["r0"]
    assert result["status_name"] == "success" and result["total_time"] >= 2000
    statuses = status_calls(job, before)
    assert with_hosts(statuses[0]) and statuses[0]["time"] - launched_at(job, before) >= 0.25, "the first poll aims at 0.3 s"
    assert all(with_hosts(sent) for sent in statuses), "a one-host job is small: every late poll carries host results"
    assert len(statuses) <= 8, "past the expected end the polls back off instead of coming every fine interval"
    assert sum(1 for sent in statuses if sent["time"] * 1000 >= result["end_time"]) == 1, "the poll that saw the end is the report"


def test_plan_with_string_variables_still_reads_output_vars(job, ansible):
    """Plan 1000 has string variables: skipping get_job_instance_global_var_value is only for plans without."""
    job.next_launch(step_seconds=0.1, output_vars={"app_version": "9.9.9-built"})
    result = ansible.playbook([launch(job, 1000, global_vars={"app_version": "9.9.9"}, **FAST)])["r0"]
    assert result["output_vars"]["app_version"] == "9.9.9-built"
    assert len(job.requests(api="get_job_instance_global_var_value")) == 1


def test_without_validate_vars_the_plan_is_unknown_so_output_vars_are_read(job, ansible):
    """Without the plan's detail the module cannot know the plan has no string variables: it asks."""
    result = ansible.playbook([launch(job, validate_vars=False, **FAST)])["r0"]
    assert result["status_name"] == "success" and result["output_vars"] == {}
    assert len(job.requests(api="get_job_instance_global_var_value")) == 1
    assert job.requests(api="get_job_plan_detail") == []
    [history] = job.requests(api="get_job_instance_list")
    assert history["body"]["name"] == "deploy", "the plan name comes from the instance name when the plan was not read"


def test_without_history_the_first_poll_waits_poll_interval(job, ansible):
    job.next_launch(step_seconds=0.1)
    result = ansible.playbook([launch(job, poll_interval=0.6, poll_max_interval=1)])["r0"]
    assert result["status_name"] == "success"
    first = status_calls(job)[0]
    assert first["time"] - launched_at(job) >= 0.5, "no poll right after the launch"


# -------------------------------------------------------------------------------------------- callback


def test_callback_ends_the_wait_long_before_the_safety_poll(job, ansible):
    job.next_launch(step_seconds=1.0)
    result = ansible.playbook([launch(job, callback_listen="127.0.0.1:0", **SLOW_SAFETY_NET)])["r0"]
    assert result["failed"] is False and result["status_name"] == "success"
    [instance] = job.instances()
    url = urlsplit(instance["callback_url"])
    assert url.scheme == "http" and url.hostname == "127.0.0.1" and url.port and url.path.startswith("/bk-job-callback/")
    [callback] = job.callbacks()
    assert callback["job_instance_id"] == result["job_instance_id"] and callback["attempt"] == 1
    assert callback["status"] == 200 and callback["error"] is None and "application/json" in callback["content_type"]
    [status] = status_calls(job)
    assert with_hosts(status), "the woken poll carries host results and is the report"
    assert status["time"] - callback["time"] < 2.0
    assert status["time"] - launched_at(job) < 5.0, "the task ended on the callback, not on the 30 s safety poll"
    assert result["host_summary"] == {"total": 1, "success": 1, "failed": 0, "running": 0}
    assert job.requests(api="get_job_instance_list") == [], "with a callback there is nothing to aim, so no history lookup"


def test_callback_listen_with_a_given_callback_url_listens_on_its_path(job, ansible):
    """Behind NAT the user names the URL JOB calls; here it is the listener's own port, so JOB really reaches it."""
    port = closed_port()
    url = f"http://127.0.0.1:{port}/hooks/bk-job"
    job.next_launch(step_seconds=0.5)
    result = ansible.playbook([launch(job, callback_listen=f"127.0.0.1:{port}", callback_url=url, **SLOW_SAFETY_NET)])["r0"]
    assert result["status_name"] == "success"
    assert job.instances()[0]["callback_url"] == url
    assert [(callback["url"], callback["status"]) for callback in job.callbacks()] == [(url, 200)]
    assert len(status_calls(job)) == 1


@pytest.mark.parametrize("lost", ["connection refused", "not reachable from JOB"])
def test_a_lost_callback_is_covered_by_the_safety_poll(job, ansible, lost):
    """JOB gives up after a failed delivery; the poll every poll_max_interval still finishes the task."""
    if lost == "connection refused":
        url = f"http://127.0.0.1:{closed_port()}/cb"  # nothing listens there: the emulator's delivery is refused
    else:
        url = "http://198.51.100.20:8080/cb"  # an address JOB cannot reach (the emulator only records it)
    job.next_launch(step_seconds=0.5)
    result = ansible.playbook([launch(job, callback_listen="127.0.0.1:0", callback_url=url, poll_interval=0.2,
                                      poll_max_interval=2)])["r0"]
    assert result["failed"] is False and result["status_name"] == "success"
    [callback] = job.callbacks()
    assert callback["status"] is None and (callback["error"] or callback["skipped"])
    statuses = status_calls(job)
    assert statuses[0]["time"] - launched_at(job) >= 1.9, "the first poll is the safety poll, poll_max_interval after the launch"
    assert statuses[-1]["time"] - launched_at(job) < 6.0


def test_callback_listen_reports_a_failed_job_exactly_as_without(job, ansible):
    """The callback only changes when the wait ends: failed hosts, logs and the message are those of a polled wait."""
    outcomes = []
    for extra in ({}, {"callback_listen": "127.0.0.1:0", **SLOW_SAFETY_NET}):
        job.reset()
        job.next_launch(step_seconds=0.5, host_count=3, failed_hosts=2, log_bytes=300)
        result = ansible.playbook([launch(job, 1000, **{**FAST, **extra})])["r0"]
        outcomes.append((result, {api: len(job.requests(api=api)) for api in ("batch_get_job_instance_ip_log",
                                                                              "get_job_instance_global_var_value")}))
    (polled, polled_calls), (called_back, called_back_calls) = outcomes
    assert called_back["failed"] is True and called_back["error"]["kind"] == "job_failed"
    assert called_back["msg"].replace(str(called_back["job_instance_id"]), "ID") == polled["msg"].replace(str(polled["job_instance_id"]), "ID")
    assert "2 of 3 hosts failed in step 'check env'" in called_back["msg"]
    assert called_back["host_summary"] == polled["host_summary"] == {"total": 3, "success": 1, "failed": 2, "running": 0}

    def hosts(result):
        return [(step["name"], step["status_name"], [(host["bk_host_id"], host["status_name"], host["exit_code"], len(host["log"]),
                                                      host["log"].rstrip().endswith("ERROR: exit code 1")) for host in step["hosts"]])
                for step in result["steps"]]
    assert hosts(called_back) == hosts(polled)
    assert sum(len(step["hosts"]) for step in called_back["steps"]) == 2
    assert called_back_calls == polled_calls == {"batch_get_job_instance_ip_log": 1, "get_job_instance_global_var_value": 1}
    assert [callback["status"] for callback in job.callbacks()] == [200]


def test_callback_listen_waits_for_a_person_and_a_callback_after_confirmation(job, ansible):
    """A job waiting for a confirmation sends no callback; on_waiting_user: return still returns at the safety poll."""
    job.next_launch(confirm=True, step_seconds=0.1)
    result = ansible.playbook([launch(job, 1000, callback_listen="127.0.0.1:0", on_waiting_user="return", poll_interval=0.2,
                                      poll_max_interval=1)])["r0"]
    assert result["failed"] is False and result["status_name"] == "waiting_user" and result["job_finished"] is False
    assert job.callbacks() == []


# ------------------------------------------------------------------------------------------- bad input


def test_bad_callback_listen_fails_before_any_request(job, ansible):
    run = ansible.playbook([
        launch(job, callback_listen="127.0.0.1"),
        launch(job, callback_listen="127.0.0.1:70000"),
        launch(job, callback_listen="localhost:8080"),
        launch(job, callback_listen="127.0.0.1:0", wait=False),
    ])
    assert all(run[f"r{index}"]["failed"] is True for index in range(4))
    assert "callback_listen must be host:port" in run["r0"]["msg"]
    assert "callback_listen must be host:port" in run["r1"]["msg"]
    assert "callback_listen needs an IP address" in run["r2"]["msg"] and "'localhost'" in run["r2"]["msg"]
    assert "wait is false" in run["r3"]["msg"]
    assert job.requests() == []


def test_wildcard_and_busy_port_fail_clearly_before_any_request(job, ansible):
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        run = ansible.playbook([
            launch(job, callback_listen="0.0.0.0:0"),
            launch(job, callback_listen=f"127.0.0.1:{port}"),
        ])
    finally:
        blocker.close()
    assert "set callback_url to the URL JOB should call" in run["r0"]["msg"]
    assert f"callback_listen '127.0.0.1:{port}': cannot listen there" in run["r1"]["msg"] and "Nothing was launched" in run["r1"]["msg"]
    assert run["r0"]["failed"] is True and run["r1"]["failed"] is True
    assert job.requests() == [], "not even the plan is read before the listener is bound"


def test_a_superscript_port_fails_with_a_clear_message(job, ansible):
    run = ansible.playbook([launch(job, callback_listen="127.0.0.1:²")])
    assert "callback_listen must be host:port" in run["r0"]["msg"]
    assert job.requests() == []
