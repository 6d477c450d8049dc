# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The status table, outcome rules and log tails; the wait loop's backoff against the emulator."""

from __future__ import annotations

import time

import pytest

from ansible_collections.blueking.job.plugins.module_utils import _outcome
from ansible_collections.blueking.job.plugins.module_utils._args import check_wait_options
from ansible_collections.blueking.job.plugins.module_utils._client import Client
from ansible_collections.blueking.job.plugins.module_utils._errors import JobFailedError


CREDENTIALS = {"bk_app_code": "bk-demo-app", "bk_app_secret": "demo-app-secret-9f2c41", "bk_username": "admin"}
SCOPE = {"bk_biz_id": 2}
PARAMS = {"wait_timeout": 30, "poll_interval": 0.05, "poll_max_interval": 0.2, "on_waiting_user": "wait", "log_max_bytes": 64, "log_total_max_bytes": 1 << 20}


def test_every_job_status_code_is_handled_on_purpose():
    assert set(_outcome.STATUSES) == {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15}
    assert {code for code, (_name, verdict) in _outcome.STATUSES.items() if verdict != "poll" and code != 7} == set(_outcome.FINISHED_STATUSES)
    assert _outcome.status_name(12) == "unknown_12"


def result(status, finished=True, failed=0):
    return {"job_instance_id": 7, "status": status, "status_name": _outcome.status_name(status), "job_finished": finished,
            "host_summary": {"total": 3, "failed": failed}, "steps": [{"name": "check env", "status": status}]}


@pytest.mark.parametrize("status", [3])
def test_success_is_silent(status):
    warnings = []
    _outcome.judge(result(status), "wait", warnings.append)
    assert warnings == []


@pytest.mark.parametrize("status", [5, 6])
def test_skipped_and_ignored_error_warn(status):
    warnings = []
    _outcome.judge(result(status), "wait", warnings.append)
    assert len(warnings) == 1 and "Job instance 7 ended with status" in warnings[0]


@pytest.mark.parametrize("status", [4, 8, 9, 11, 13, 14])
def test_failures_raise_with_the_status(status):
    with pytest.raises(JobFailedError) as caught:
        _outcome.judge(result(status, failed=2), "wait", print)
    assert caught.value.code == status and caught.value.stage == "wait"
    assert "Job instance 7 ended with status" in caught.value.msg


def test_failed_job_names_hosts_and_step():
    with pytest.raises(JobFailedError, match=r"2 of 3 hosts failed in step 'check env'"):
        _outcome.judge(result(4, failed=2), "wait", print)


def test_waiting_user_follows_the_policy():
    with pytest.raises(JobFailedError, match="waits for a person"):
        _outcome.judge(result(7, finished=False), "fail", print)
    _outcome.judge(result(7, finished=False), "return", print)


def test_tail_keeps_the_end_and_never_splits_a_character():
    assert _outcome.tail("short", 10) == "short"
    assert _outcome.tail("0123456789", 4) == "6789"
    assert _outcome.tail("日志日志", 4) == "志"


def test_host_summary_counts_distinct_hosts_worst_state_wins():
    steps = [
        {"step_ip_result_list": [{"bk_host_id": 1, "status": 9}, {"bk_host_id": 2, "status": 104}, {"bk_host_id": 3, "status": 9}]},
        {"step_ip_result_list": [{"bk_host_id": 1, "status": 7}, {"bk_host_id": 2, "status": 9}, {"bk_host_id": 3, "status": 9}]},
    ]
    assert _outcome._host_summary(steps) == {"total": 3, "success": 1, "failed": 1, "running": 1}  # pylint: disable=protected-access


def test_wait_options_are_checked():
    with pytest.raises(Exception, match="poll_max_interval"):
        check_wait_options({**PARAMS, "poll_interval": 2, "poll_max_interval": 1})


def test_wait_backs_off_to_the_ceiling_and_returns_at_the_end(emulator):
    emulator.reset()
    emulator.next_launch(step_seconds=0.4)
    client = Client(emulator.url, credentials=CREDENTIALS)
    launched = client.call("execute_job_plan", {**SCOPE, "job_plan_id": 1000}, stage="launch").data
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        time.sleep(seconds)

    watcher = _outcome.JobWatcher(client, SCOPE, launched["job_instance_id"], warn=print, sleep=sleep)
    data = watcher.wait(PARAMS)
    assert data["finished"] is True and data["job_instance"]["status"] == 3
    assert sleeps and max(sleeps) <= PARAMS["poll_max_interval"] * 1.1
    assert sleeps[0] <= PARAMS["poll_interval"] * 1.1
    report = watcher.report(PARAMS, "all")
    assert report["status_name"] == "success" and report["host_summary"]["failed"] == 0
