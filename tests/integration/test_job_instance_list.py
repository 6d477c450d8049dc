# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""job_instance_info without job_instance_id: the job instance list, through real ansible-playbook against the emulator.

The instances are created through the emulator's JOB API (execute_job_plan, start_task true) with launch behaviours
(``launch_mode``, ``created_seconds_ago``, ``final_status``), then listed by the module; the requests the emulator saw
show what the module asked JOB (filters, time windows, pages).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import APP_CODE, APP_SECRET, esb_connection  # pylint: disable=import-error
from raw_call import call  # pylint: disable=import-error
from support import BIZ_ID, PLAN_DEPLOY, PLAN_ROLLBACK  # pylint: disable=import-error

INFO = "blueking.job.job_instance_info"
DAY_MS = 24 * 3600 * 1000
WEB_URL = "https://job.example.com"


def create(job, plan=PLAN_DEPLOY, operator="admin", **behaviour):
    """One job instance created through JOB's API as ``operator`` (launch behaviour set first); its id."""
    if behaviour:
        job.next_launch(**behaviour)
    params = {"bk_scope_type": "biz", "bk_scope_id": str(BIZ_ID), "job_plan_id": plan}
    if plan == PLAN_ROLLBACK:
        params["global_var_list"] = [{"name": "app_version", "value": "1.0.0"}]
    auth = {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": operator}
    status, body, raw, _headers = call(job, "execute_job_plan", params, auth=auth)
    assert status == 200 and body and body.get("result") is True, raw
    # JOB orders the list by create_time alone (TaskInstanceDAOImpl): distinct milliseconds give the order tests expect
    time.sleep(0.005)
    return body["data"]["job_instance_id"]


def wait_ended(job, ids, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = {item["job_instance_id"]: item["status"] for item in job.instances()}
        if all(statuses.get(job_instance_id) not in (1, 2, 7, 10) for job_instance_id in ids):
            return
        time.sleep(0.1)
    raise AssertionError(f"instances {ids} did not end")


def listing(job, **args):
    return {"name": "list", INFO: {**esb_connection(job), "bk_biz_id": BIZ_ID, **args}}


def list_requests(job):
    return [sent["body"] for sent in job.requests(api="get_job_instance_list")]


def as_int(value):
    return int(str(value))


@pytest.fixture()
def seeded(job):
    """Six instances: deploy (api, admin, success) x2, deploy failed, rollback (web, alice), deploy (cron), and one
    deploy created 3 days ago; ids by role."""
    ids = {
        "old": create(job, created_seconds_ago=3 * 24 * 3600),
        "deploy_ok": create(job),
        "deploy_failed": create(job, final_status=4, failed_hosts=1),
        "rollback_web": create(job, plan=PLAN_ROLLBACK, operator="alice", launch_mode=1),
        "deploy_cron": create(job, launch_mode=3),
        "deploy_ok_2": create(job),
    }
    wait_ended(job, list(ids.values()))
    return ids


def test_lists_the_last_24_hours_newest_first_with_every_field(seeded, job, ansible):
    # r2: the module shipped as AnsiballZ instead of run in the controller's process (plugins/action)
    run = ansible.playbook([listing(job, bk_job_web_url=WEB_URL), listing(job),
                            {**listing(job, bk_job_web_url=WEB_URL), "vars": {"bk_job_in_process": False}}], check=True)
    result = run["r0"]
    assert result["failed"] is False and result["changed"] is False
    listed = [item["job_instance_id"] for item in result["job_instances"]]
    recent = [seeded[key] for key in ("deploy_ok_2", "deploy_cron", "rollback_web", "deploy_failed", "deploy_ok")]
    assert listed == recent, "newest first; the instance created 3 days ago is outside the default 24 hours"
    assert result["job_instance_count"] == 5 and result["truncated"] is False
    assert result["create_time_end"] - result["create_time_start"] == DAY_MS
    first = result["job_instances"][0]
    assert first["name"] == "deploy" and first["operator"] == "admin"
    assert (first["status"], first["status_name"], first["job_finished"]) == (3, "success", True)
    assert (first["launch_mode"], first["launch_mode_name"], first["type"], first["type_name"]) == (2, "api", 0, "job_plan")
    assert first["job_plan_id"] == PLAN_DEPLOY and first["job_template_id"] is not None
    assert first["start_time"] >= first["create_time"] and first["end_time"] >= first["start_time"] and first["total_time"] >= 0
    assert first["job_instance_url"] == f"{WEB_URL}/api_execute/{first['job_instance_id']}"
    assert "job_instance_url" not in run["r1"]["job_instances"][0]
    assert run["r2"]["job_instances"] == result["job_instances"]
    failed = next(item for item in result["job_instances"] if item["job_instance_id"] == seeded["deploy_failed"])
    assert (failed["status"], failed["status_name"]) == (4, "failed")
    # JOB was asked for 24 hours ending about now, from the first item on, and nothing else
    sent = list_requests(job)[0]
    assert as_int(sent["create_time_end"]) - as_int(sent["create_time_start"]) == DAY_MS
    assert abs(as_int(sent["create_time_end"]) - time.time() * 1000) < 120000
    assert as_int(sent["start"]) == 0 and as_int(sent["length"]) == 1000
    assert not {"status", "operator", "launch_mode", "type", "name", "job_plan_id"} & set(sent)


def test_filters_by_status_operator_launch_mode_type_and_name(seeded, job, ansible):
    run = ansible.playbook([
        listing(job, status=["failed"]),
        listing(job, status=["success", 4]),
        listing(job, operator="alice"),
        listing(job, launch_mode="cron"),
        listing(job, launch_mode="web", type="job_plan"),
        listing(job, name="rollb"),
        listing(job, type="script"),
    ])
    ids = {index: [item["job_instance_id"] for item in run[f"r{index}"]["job_instances"]] for index in range(7)}
    assert ids[0] == [seeded["deploy_failed"]]
    assert set(ids[1]) == {seeded[key] for key in ("deploy_ok", "deploy_failed", "deploy_cron", "deploy_ok_2",
                                                   "rollback_web")}
    assert ids[2] == [seeded["rollback_web"]] and run["r2"]["job_instances"][0]["operator"] == "alice"
    assert ids[3] == [seeded["deploy_cron"]] and run["r3"]["job_instances"][0]["launch_mode_name"] == "cron"
    assert ids[4] == [seeded["rollback_web"]] and run["r4"]["job_instances"][0]["launch_mode_name"] == "web"
    assert ids[5] == [seeded["rollback_web"]]
    assert ids[6] == []
    sent = list_requests(job)
    # one status is JOB's filter; several are matched by the module, so JOB is asked for all
    assert as_int(sent[0]["status"]) == 4
    assert "status" not in sent[1]
    assert sent[2]["operator"] == "alice"
    assert as_int(sent[3]["launch_mode"]) == 3
    assert (as_int(sent[4]["launch_mode"]), as_int(sent[4]["type"])) == (1, 0)
    assert sent[5]["name"] == "rollb"
    assert as_int(sent[6]["type"]) == 1


def test_filters_by_plan_id_or_name_in_the_module(seeded, job, ansible):
    run = ansible.playbook([
        listing(job, job_plan_id=PLAN_ROLLBACK),
        listing(job, job_plan_name="deploy"),
        listing(job, job_plan_name="deploy", status="failed"),
    ])
    assert [item["job_instance_id"] for item in run["r0"]["job_instances"]] == [seeded["rollback_web"]]
    assert [item["job_instance_id"] for item in run["r1"]["job_instances"]] == [
        seeded[key] for key in ("deploy_ok_2", "deploy_cron", "deploy_failed", "deploy_ok")]
    assert all(item["job_plan_id"] == PLAN_DEPLOY for item in run["r1"]["job_instances"])
    assert [item["job_instance_id"] for item in run["r2"]["job_instances"]] == [seeded["deploy_failed"]]
    # v3 get_job_instance_list has no plan filter: nothing plan-like is sent; the name was resolved by get_job_plan_list
    assert all("job_plan_id" not in sent and "name" not in sent for sent in list_requests(job))
    assert job.requests(api="get_job_plan_list")


def test_time_windows_since_iso_and_epoch_ms(seeded, job, ansible):
    now = time.time()
    four_days_ago = datetime.fromtimestamp(now - 4 * 86400, tz=timezone.utc).replace(microsecond=0)
    run = ansible.playbook([
        listing(job, since="4d"),
        listing(job, create_time_start=four_days_ago.strftime("%Y-%m-%dT%H:%M:%SZ"),
                create_time_end=int((now - 86400) * 1000)),
        listing(job, since="1h"),
        listing(job, create_time_start=four_days_ago.astimezone(timezone(timedelta(hours=8))).isoformat()),  # +08:00
    ])
    assert seeded["old"] in [item["job_instance_id"] for item in run["r0"]["job_instances"]]
    assert run["r0"]["job_instance_count"] == 6
    assert [item["job_instance_id"] for item in run["r1"]["job_instances"]] == [seeded["old"]]
    assert run["r2"]["job_instance_count"] == 5
    assert run["r3"]["job_instance_count"] == 6
    assert run["r1"]["create_time_start"] == int(four_days_ago.timestamp()) * 1000
    assert run["r3"]["create_time_start"] == int(four_days_ago.timestamp()) * 1000


def test_the_guide_loop_waits_for_the_listed_runs_still_going(job, ansible):
    ended = create(job)
    wait_ended(job, [ended])
    going = [create(job, step_seconds=15), create(job, step_seconds=15)]  # still running when listed
    run = ansible.playbook([
        listing(job, job_plan_name="deploy"),
        {"name": "wait for the runs not ended", INFO: {**esb_connection(job), "bk_biz_id": BIZ_ID, "job_instance_id": "{{ item.job_instance_id }}",
                                                       "wait": True, "poll_interval": 0.2, "poll_max_interval": 0.5},
         "loop": "{{ r0.job_instances | rejectattr('job_finished') }}"},
    ])
    assert [item["job_instance_id"] for item in run["r0"]["job_instances"]] == going[::-1] + [ended]
    waited = run["r1"]["results"]
    assert sorted(item["job_instance_id"] for item in waited) == sorted(going)
    assert all(item["failed"] is False and item["status_name"] == "success" for item in waited)
    # waiting in the controller's process (plugins/action) writes progress lines, as execute_job_plan's wait does
    assert all(f'JOB instance {job_instance_id} "deploy": ' in run.output for job_instance_id in going), run.output[-3000:]


def test_a_window_over_30_days_is_read_as_30_day_queries_newest_first(seeded, job, ansible):
    run = ansible.playbook([listing(job, since="65d")])
    result = run["r0"]
    assert result["failed"] is False and result["job_instance_count"] == 6
    windows = [(as_int(sent["create_time_start"]), as_int(sent["create_time_end"])) for sent in list_requests(job)]
    assert len(windows) == 3
    assert windows[0][1] == result["create_time_end"] and windows[-1][0] == result["create_time_start"]
    assert all(end - start <= 30 * DAY_MS for start, end in windows), "JOB refuses more than 30 days per query"
    assert all(newer[0] == older[1] for newer, older in zip(windows, windows[1:])), "contiguous, sharing one millisecond"
    assert result["create_time_end"] - result["create_time_start"] == 65 * DAY_MS


def test_an_instance_on_the_shared_millisecond_of_two_queries_is_listed_once(job, ansible):
    job_instance_id = create(job, created_seconds_ago=40 * 24 * 3600)
    created = next(item["create_time"] for item in job.instances() if item["job_instance_id"] == job_instance_id)
    run = ansible.playbook([listing(job, create_time_start=created - DAY_MS, create_time_end=created + 30 * DAY_MS)])
    windows = [(as_int(sent["create_time_start"]), as_int(sent["create_time_end"])) for sent in list_requests(job)]
    assert windows == [(created, created + 30 * DAY_MS), (created - DAY_MS, created)]
    assert [item["job_instance_id"] for item in run["r0"]["job_instances"]] == [job_instance_id]


def test_every_page_is_read_and_limit_truncates(job, ansible):
    ids = [create(job) for _index in range(5)]
    job.admin("POST", "/_emulator/settings", {"page_limit": 2})
    run = ansible.playbook([listing(job), listing(job, limit=3), listing(job, limit=0, status=["success", "running", "pending"])])
    assert [item["job_instance_id"] for item in run["r0"]["job_instances"]] == ids[::-1]
    assert run["r0"]["truncated"] is False
    assert [item["job_instance_id"] for item in run["r1"]["job_instances"]] == ids[::-1][:3]
    assert run["r1"]["truncated"] is True and run["r1"]["job_instance_count"] == 3
    assert run["r2"]["job_instance_count"] == 5
    pages = [(as_int(sent["start"]), as_int(sent["length"])) for sent in list_requests(job)]
    # JOB answers 2 items a page here: each page starts after what arrived, the module always asks for 1000
    assert pages[:3] == [(0, 1000), (2, 1000), (4, 1000)]
    assert pages[3:5] == [(0, 1000), (2, 1000)], "limit 3: the page that shows a 4th instance is the last read"
    assert pages[5:] == [(0, 1000), (2, 1000), (4, 1000)]


def test_a_refused_far_page_says_how_to_narrow_the_query(job, ansible):
    """A JOB with openapi.v3GetJobInstanceList.startLimitEnabled refuses start > maxStart (1241010,
    EsbGetJobInstanceListV3ResourceImpl.checkRequest); here the third page is refused that way."""
    for _index in range(5):
        create(job)
    job.admin("POST", "/_emulator/settings", {"page_limit": 2})
    job.fault("get_job_instance_list", "business_error", code=1241010, match={"start": 4},
              message="Invalid request parameter [start], reason: The value of start cannot exceed 2")
    run = ansible.playbook([listing(job, limit=0)])
    result = run["r0"]
    assert result["failed"] is True and result["error"]["code"] == 1241010 and result["error"]["stage"] == "lookup"
    assert "The value of start cannot exceed 2" in result["msg"]
    assert "narrow the time window, add filters or lower limit" in result["msg"]


def test_bad_input_fails_clearly_before_any_list_request(job, ansible):
    cases = [
        ({"status": ["broken"]}, "status 'broken' is not a JOB job status"),
        ({"status": [99]}, "status 99 is not a JOB job status"),
        ({"since": "yesterday"}, "since must be a positive number with a unit"),
        ({"since": "0h"}, "since must be a positive number with a unit"),
        ({"create_time_start": 1764403200}, "(Unix time in seconds? then give 1764403200000)"),
        ({"create_time_start": "28/11/2026"}, "create_time_start must be Unix time in milliseconds or an ISO 8601"),
        ({"create_time_start": "2026-11-28", "create_time_end": "2026-11-27"}, "must be before create_time_end"),
        ({"create_time_start": "2024-01-01", "create_time_end": "2026-01-01"}, "at most 366 days"),
        ({"limit": -1}, "limit must be 0 (no limit) or a positive number"),
        ({"wait": True}, "Options for one job instance (wait) need job_instance_id"),
        ({"host_results": "all", "retry_failed_hosts": 2}, "Options for one job instance (host_results, retry_failed_hosts) need job_instance_id"),
        ({"job_instance_id": 20000001, "status": ["failed"], "since": "2h"}, "Listing options (status, since) filter the list"),
        ({"since": "2h", "create_time_start": "2026-11-28"}, "mutually exclusive"),
        ({"job_plan_id": PLAN_DEPLOY, "job_plan_name": "deploy"}, "mutually exclusive"),
        ({"launch_mode": "manual"}, "launch_mode"),
        ({"job_plan_name": " "}, "job_plan_name is empty"),
    ]
    run = ansible.playbook([listing(job, **args) for args, _message in cases])
    for index, (args, message) in enumerate(cases):
        result = run[f"r{index}"]
        assert result["failed"] is True, (args, result)
        assert message in result["msg"], (args, result["msg"])
        assert "Traceback" not in result.get("module_stderr", "")
    assert list_requests(job) == [], "bad input never reaches JOB"
    assert job.requests(api="get_job_instance_status") == []


def test_an_unknown_plan_name_fails_at_lookup_and_options_at_their_defaults_are_accepted(job, ansible):
    job_instance_id = create(job)
    wait_ended(job, [job_instance_id])
    run = ansible.playbook([
        listing(job, job_plan_name="no-such-plan"),
        # module_defaults may give the collection's modules the wait options at their defaults, and the options that only
        # tune a wait or a report at any value
        listing(job, wait=False, host_results="none", wait_timeout=600, show_progress=False, poll_interval=2, max_host_results=10),
        listing(job, job_instance_id=job_instance_id, limit=1000),
    ])
    assert run["r0"]["failed"] is True and "No job plan is named exactly 'no-such-plan'" in run["r0"]["msg"]
    assert run["r0"]["error"]["stage"] == "lookup"
    assert run["r1"]["failed"] is False and run["r1"]["job_instance_count"] == 1
    assert run["r2"]["failed"] is False and run["r2"]["job_instance_id"] == job_instance_id and "job_instances" not in run["r2"]


def test_a_wait_that_would_retry_sends_nothing_in_check_mode_and_retries_otherwise(job, ansible):
    job_instance_id = create(job, failed_hosts=1)  # host 101 fails the first run of the step, a retry recovers it
    wait_ended(job, [job_instance_id])
    args = {**esb_connection(job), "bk_biz_id": BIZ_ID, "job_instance_id": job_instance_id, "wait": True, "retry_failed_hosts": 1,
            "poll_interval": 0.2, "poll_max_interval": 0.5}
    attach = {"name": "attach", INFO: args}
    checked = ansible.playbook([attach], check=True)["r0"]
    assert job.requests(api="operate_step_instance") == [], "check mode sends no step operation"
    assert checked["changed"] is True and checked["status_name"] == "failed", {key: checked.get(key) for key in ("msg", "warnings", "retries", "changed")}
    assert any("Check mode" in warning for warning in checked.get("warnings", [])), checked.get("warnings")
    retried = ansible.playbook([attach])["r0"]
    assert len(job.requests(api="operate_step_instance")) == 1
    assert retried["changed"] is True and retried["failed"] is False and retried["status_name"] == "success"
