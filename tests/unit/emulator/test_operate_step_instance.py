# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""operate_step_instance and what the job does next, as bk-job has them: EsbOperateStepInstanceV3ResourceImpl
(checkRequest), TaskExecuteServiceImpl.doStepOperation (the status each StepOperationEnum code needs,
checkConfirmUser), and the engine that carries the operation out (GseStepEventHandler retryStepFail / retryStepAll /
ignoreError / nextStep / skipStep, ConfirmStepEventHandler, JobListener.refreshJob / finishJob).  Also the launch
behaviour fail_attempts and the seed plans for failed hosts and confirmations."""

from __future__ import annotations

import time

from raw_call import SCOPE, call  # pylint: disable=import-error
from support import (PLAN_CONFIRM_AFTER_IGNORED, PLAN_DEPLOY, PLAN_DEPLOY_APP, PLAN_FLAKY,  # pylint: disable=import-error
                     PLAN_FLAKY_CONFIRM)

import bkjob_emulator  # pylint: disable=import-error,wrong-import-order

BIZ3 = {"bk_scope_type": "biz", "bk_scope_id": "3"}
ALICE = {"bk_app_code": "bk-demo-app", "bk_app_secret": "demo-app-secret-9f2c41", "bk_username": "alice"}
RETRY_FAILED, IGNORE_ERROR, CONFIRM_CONTINUE, RETRY_ALL = 2, 3, 6, 8
CONFIRM_TERMINATE, CONFIRM_RESTART, NEXT_STEP, SKIP, ROLLING_CONTINUE = 9, 10, 11, 12, 13


def _ok(job, api, params, auth=None):
    status, body, _raw, _headers = call(job, api, params, auth=auth)
    assert status == 200 and body["result"] is True, body
    return body["data"]


def _launch(job, plan_id, scope=None, auth=None):
    return _ok(job, "execute_job_plan", dict(scope or SCOPE, job_plan_id=plan_id), auth=auth)["job_instance_id"]


def _status(job, job_instance_id, scope=None):
    return _ok(job, "get_job_instance_status", dict(scope or SCOPE, job_instance_id=job_instance_id, return_ip_result=True))


def _wait(job, job_instance_id, wanted, scope=None, timeout=5.0):
    """The status answer once the job's status is in wanted; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        data = _status(job, job_instance_id, scope)
        if data["job_instance"]["status"] in wanted:
            return data
        assert time.monotonic() < deadline, data
        time.sleep(0.03)


def _step_op(job, job_instance_id, step_instance_id, code, scope=None, auth=None):
    status, body, _raw, _headers = call(job, "operate_step_instance", dict(
        scope or SCOPE, job_instance_id=job_instance_id, step_instance_id=step_instance_id, operation_code=code), auth=auth)
    assert status == 200
    return body


def _hosts(step):
    return {host["bk_host_id"]: host for host in step["step_ip_result_list"]}


def _step_ids(data):
    return [step["step_instance_id"] for step in data["step_instance_list"]]


def test_codes_ids_and_unknown_steps(job):
    """checkRequest: ids < 1 or a code outside StepOperationEnum are 1241002; unknown instance 1244006, step 1244007."""
    job.next_launch(final_status=4, fail_step=0)
    job_instance_id = _launch(job, PLAN_DEPLOY_APP)
    steps = _step_ids(_wait(job, job_instance_id, {4}))
    for code in (0, 1, 4, 5, 7, 14):
        assert _step_op(job, job_instance_id, steps[0], code)["code"] == 1241002
    assert _step_op(job, job_instance_id, 0, RETRY_FAILED)["code"] == 1241002
    assert _step_op(job, 0, steps[0], RETRY_FAILED)["code"] == 1241002
    assert _step_op(job, 39999999, steps[0], RETRY_FAILED)["code"] == 1244006
    assert _step_op(job, job_instance_id, 39999999, RETRY_FAILED)["code"] == 1244007
    # another business's view of the instance: TASK_INSTANCE_NOT_EXIST
    assert _step_op(job, job_instance_id, steps[0], RETRY_FAILED, scope=BIZ3)["code"] == 1244006


def test_each_operation_needs_its_step_status(job):
    """doStepOperation: every code checks the step's own status (never the job's); otherwise 1241003 不支持的操作."""
    job.next_launch(final_status=4, fail_step=0)
    job_instance_id = _launch(job, PLAN_DEPLOY_APP)
    steps = _step_ids(_wait(job, job_instance_id, {4}))
    for code in (CONFIRM_CONTINUE, CONFIRM_TERMINATE, CONFIRM_RESTART, NEXT_STEP, SKIP, ROLLING_CONTINUE):
        body = _step_op(job, job_instance_id, steps[0], code)  # step 0 failed (4)
        assert (body["result"], body["code"], body["message"]) == (False, 1241003, "不支持的操作"), code
    for code in (RETRY_FAILED, RETRY_ALL, IGNORE_ERROR, NEXT_STEP, SKIP):
        assert _step_op(job, job_instance_id, steps[1], code)["code"] == 1241003, code  # step 1 not reached (1)
    for code in (CONFIRM_CONTINUE, CONFIRM_TERMINATE, CONFIRM_RESTART):
        assert _step_op(job, job_instance_id, steps[2], code)["code"] == 1241003, code  # confirm step not reached
    assert [request["response_code"] for request in job.requests("operate_step_instance")] == [1241003] * 14


def test_retry_failed_reruns_only_the_failed_hosts_and_raises_execute_count(job):
    """retryStepFail: execute_count + 1; hosts that succeeded keep their result (ExecuteObjectTask copied with its
    old status and times), the failed ones run again; the step keeps its start_time; then the job goes on."""
    job_instance_id = _launch(job, PLAN_FLAKY, scope=BIZ3)  # host 202 fails its first execution only
    first = _wait(job, job_instance_id, {4}, scope=BIZ3)
    step = first["step_instance_list"][0]
    assert step["status"] == 4 and step["execute_count"] == 0
    hosts = _hosts(step)
    assert {host_id: host["status"] for host_id, host in hosts.items()} == {201: 9, 202: 104, 203: 9}
    assert first["step_instance_list"][1]["status"] == 1 and first["job_instance"]["end_time"] is not None
    body = _step_op(job, job_instance_id, step["step_instance_id"], RETRY_FAILED, scope=BIZ3)
    assert body["result"] is True and body["data"] == {"job_instance_id": job_instance_id, "job_instance_name": None,
                                                       "step_instance_id": step["step_instance_id"]}
    running = _status(job, job_instance_id, scope=BIZ3)
    assert running["job_instance"]["status"] == 2 and running["job_instance"]["end_time"] is None
    assert running["step_instance_list"][0]["execute_count"] == 1
    final = _wait(job, job_instance_id, {3}, scope=BIZ3)
    retried = final["step_instance_list"][0]
    assert retried["status"] == 3 and retried["execute_count"] == 1 and retried["start_time"] == step["start_time"]
    after = _hosts(retried)
    assert {host_id: host["status"] for host_id, host in after.items()} == {201: 9, 202: 9, 203: 9}
    assert after[201]["start_time"] == hosts[201]["start_time"] and after[203]["end_time"] == hosts[203]["end_time"]
    assert after[202]["start_time"] > hosts[202]["end_time"]
    assert final["step_instance_list"][1]["status"] == 3 and final["step_instance_list"][1]["execute_count"] == 0
    assert job.operations() == [{"job_instance_id": job_instance_id, "step_instance_id": step["step_instance_id"],
                                 "operation_code": RETRY_FAILED, "surface": "apigw", "response_code": 0}]
    status, body, _raw, _headers = call(job, "operate_step_instance", dict(
        BIZ3, job_instance_id=str(job_instance_id), step_instance_id=step["step_instance_id"], operation_code="8"),
        surface="esb")
    assert status == 200 and body["code"] == 1241003  # the job is done: its step is 3
    assert job.operations()[1] == {"job_instance_id": job_instance_id, "step_instance_id": step["step_instance_id"],
                                   "operation_code": RETRY_ALL, "surface": "esb", "response_code": 1241003}
    assert job.operations("operate_job_instance") == []


def test_fail_attempts_one_host_recovers_one_never_and_retry_all_reruns_all(job):
    """fail_attempts: 202 fails its first execution, 203 every one; a retry that leaves a failed host fails the
    step (4) and the job again; retry-all (8) re-runs every host."""
    job.next_launch(fail_attempts={"202": 1, "203": -1})
    job_instance_id = _launch(job, PLAN_FLAKY, scope=BIZ3)
    step_id = _step_ids(_wait(job, job_instance_id, {4}, scope=BIZ3))[0]
    assert _step_op(job, job_instance_id, step_id, RETRY_FAILED, scope=BIZ3)["result"] is True
    _wait(job, job_instance_id, {2}, scope=BIZ3)
    again = _wait(job, job_instance_id, {4}, scope=BIZ3)
    step = again["step_instance_list"][0]
    assert step["execute_count"] == 1 and {h: x["status"] for h, x in _hosts(step).items()} == {201: 9, 202: 9, 203: 104}
    assert again["step_instance_list"][1]["status"] == 1
    assert _step_op(job, job_instance_id, step_id, RETRY_FAILED, scope=BIZ3)["result"] is True
    _wait(job, job_instance_id, {2}, scope=BIZ3)
    step = _wait(job, job_instance_id, {4}, scope=BIZ3)["step_instance_list"][0]
    assert step["execute_count"] == 2 and _hosts(step)[203]["status"] == 104
    before = _hosts(step)
    assert _step_op(job, job_instance_id, step_id, RETRY_ALL, scope=BIZ3)["result"] is True
    _wait(job, job_instance_id, {2}, scope=BIZ3)
    step = _wait(job, job_instance_id, {4}, scope=BIZ3)["step_instance_list"][0]
    after = _hosts(step)
    assert step["execute_count"] == 3 and after[203]["status"] == 104
    assert all(after[host_id]["start_time"] > before[host_id]["end_time"] for host_id in (201, 202, 203))
    instances = job.instances()
    assert instances[0]["outcome"]["failed_hosts"] == 2


def test_fail_attempts_alone_picks_the_first_script_step_and_failed_hosts_fail_once(job):
    job.next_launch(fail_attempts={"101": 2})
    job_instance_id = _launch(job, PLAN_DEPLOY_APP)
    data = _wait(job, job_instance_id, {4})
    assert [step["status"] for step in data["step_instance_list"]] == [4, 1, 1, 1]
    step_id = _step_ids(data)[0]
    _step_op(job, job_instance_id, step_id, RETRY_FAILED)
    _wait(job, job_instance_id, {2})
    assert _wait(job, job_instance_id, {4})["step_instance_list"][0]["execute_count"] == 1  # 2nd execution fails too
    _step_op(job, job_instance_id, step_id, RETRY_FAILED)
    assert _wait(job, job_instance_id, {3})["step_instance_list"][0]["execute_count"] == 2
    job.next_launch(failed_hosts=[101])  # failed_hosts alone: once
    job_instance_id = _launch(job, PLAN_DEPLOY_APP)
    _step_op(job, job_instance_id, _step_ids(_wait(job, job_instance_id, {4}))[0], RETRY_FAILED)
    assert _wait(job, job_instance_id, {3})["job_instance"]["status"] == 3


def test_a_bad_fail_attempts_is_refused(job):
    for bad in ({"101": -2}, {"x": 1}, {"101": "1"}, [101]):
        try:
            job.next_launch(fail_attempts=bad)
        except Exception as err:  # pylint: disable=broad-exception-caught
            assert "fail_attempts" in str(err) or "400" in str(err)
        else:
            raise AssertionError(f"fail_attempts {bad!r} was accepted")


def test_ignore_error_goes_on_and_the_job_ends_success(job):
    """ignoreError: the failed step shows 6 with its failed hosts, job end/total reset, the job goes on; a job ends
    3 after its last step (JobListener.nextStep -> finishJob(SUCCESS)): never 6."""
    job.next_launch(final_status=4, fail_step=0)
    job_instance_id = _launch(job, PLAN_DEPLOY_APP)
    failed = _wait(job, job_instance_id, {4})
    step = failed["step_instance_list"][0]
    assert _step_op(job, job_instance_id, step["step_instance_id"], IGNORE_ERROR)["result"] is True
    final = _wait(job, job_instance_id, {3})
    assert [item["status"] for item in final["step_instance_list"]] == [6, 3, 3, 3]
    ignored = final["step_instance_list"][0]
    assert ignored["execute_count"] == 0 and ignored["end_time"] == step["end_time"]
    assert _hosts(ignored)[101]["status"] == 104 and _hosts(ignored)[101]["exit_code"] == 1
    assert final["job_instance"]["end_time"] > failed["job_instance"]["end_time"]
    assert final["job_instance"]["total_time"] == final["job_instance"]["end_time"] - final["job_instance"]["start_time"]


def test_ignore_error_on_an_abnormal_step_is_accepted_and_changes_nothing(job):
    """doStepOperation accepts IGNORE_ERROR on 9, but GseStepEventHandler.ignoreError acts on FAIL only."""
    job.next_launch(final_status=9, fail_step=0)
    job_instance_id = _launch(job, PLAN_DEPLOY_APP)
    step_id = _step_ids(_wait(job, job_instance_id, {9}))[0]
    assert _step_op(job, job_instance_id, step_id, IGNORE_ERROR)["result"] is True
    time.sleep(0.5)
    data = _status(job, job_instance_id)
    assert data["job_instance"]["status"] == 9 and data["step_instance_list"][0]["status"] == 9


def test_a_job_never_ends_skipped_or_ignored_only_its_step_does(job):
    for final_status in (5, 6):
        job.next_launch(final_status=final_status)
        job_instance_id = _launch(job, PLAN_DEPLOY_APP)
        data = _wait(job, job_instance_id, {3})
        statuses = [step["status"] for step in data["step_instance_list"]]
        assert final_status in statuses and data["finished"] is True


def test_a_plan_step_that_ignores_errors_ends_6_and_the_job_waits_at_the_confirmation(job):
    """PLAN_CONFIRM_AFTER_IGNORED: step 'precheck' (is_ignore_error) fails on 203, then 'approve' waits (7)."""
    job_instance_id = _launch(job, PLAN_CONFIRM_AFTER_IGNORED, scope=BIZ3)
    data = _wait(job, job_instance_id, {7}, scope=BIZ3)
    precheck, approve, release = data["step_instance_list"]
    assert (precheck["status"], approve["status"], release["status"]) == (6, 7, 1)
    assert {h: x["status"] for h, x in _hosts(precheck).items()} == {201: 9, 202: 9, 203: 104}
    assert approve["step_ip_result_list"] == [] and data["finished"] is False
    detail = _ok(job, "get_job_plan_detail", dict(BIZ3, job_plan_id=PLAN_CONFIRM_AFTER_IGNORED))
    assert detail["step_list"][0]["script_info"]["is_ignore_error"] == 1
    assert _step_op(job, job_instance_id, precheck["step_instance_id"], RETRY_FAILED, scope=BIZ3)["code"] == 1241003
    assert _step_op(job, job_instance_id, approve["step_instance_id"], CONFIRM_CONTINUE, scope=BIZ3)["result"] is True
    final = _wait(job, job_instance_id, {3}, scope=BIZ3)
    assert [step["status"] for step in final["step_instance_list"]] == [6, 3, 3]


def test_a_retried_step_then_a_confirmation(job):
    """PLAN_FLAKY_CONFIRM: 'deploy' fails on 202, a retry recovers it, then 'approve' waits (7)."""
    job_instance_id = _launch(job, PLAN_FLAKY_CONFIRM, scope=BIZ3)
    step_id = _step_ids(_wait(job, job_instance_id, {4}, scope=BIZ3))[0]
    _step_op(job, job_instance_id, step_id, RETRY_FAILED, scope=BIZ3)
    data = _wait(job, job_instance_id, {7}, scope=BIZ3)
    deploy = data["step_instance_list"][0]
    assert deploy["status"] == 3 and deploy["execute_count"] == 1 and data["step_instance_list"][1]["status"] == 7
    assert {host["status"] for host in deploy["step_ip_result_list"]} == {9}


def test_confirm_continue_terminate_and_restart(job):
    """Continue: step 3 and the job runs on.  Terminate: step and job 13 (finished).  Restart from 13: the step waits
    again (start_time now) and the job is 7 again, its end_time kept from the terminate (updateTaskStatus only)."""
    job.next_launch(confirm=True)
    job_instance_id = _launch(job, PLAN_DEPLOY_APP)
    approve = _step_ids(_wait(job, job_instance_id, {7}))[2]
    assert _step_op(job, job_instance_id, approve, CONFIRM_RESTART)["code"] == 1241003  # needs 13
    assert _step_op(job, job_instance_id, approve, CONFIRM_TERMINATE)["result"] is True
    ended = _wait(job, job_instance_id, {13})
    assert ended["finished"] is True and ended["step_instance_list"][2]["status"] == 13
    assert ended["step_instance_list"][3]["status"] == 1 and ended["job_instance"]["end_time"] is not None
    for code in (CONFIRM_CONTINUE, CONFIRM_TERMINATE):
        assert _step_op(job, job_instance_id, approve, code)["code"] == 1241003
    assert _step_op(job, job_instance_id, approve, CONFIRM_RESTART)["result"] is True
    waiting = _wait(job, job_instance_id, {7})
    assert waiting["finished"] is False and waiting["job_instance"]["end_time"] == ended["job_instance"]["end_time"]
    assert waiting["step_instance_list"][2]["start_time"] > ended["step_instance_list"][2]["start_time"]
    assert _step_op(job, job_instance_id, approve, CONFIRM_CONTINUE)["result"] is True
    final = _wait(job, job_instance_id, {3})
    assert [step["status"] for step in final["step_instance_list"]] == [3, 3, 3, 3]
    assert final["job_instance"]["end_time"] > ended["job_instance"]["end_time"]


def test_confirm_user_check(job):
    """checkConfirmUser: a confirm user passes; with roles, JOB_RESOURCE_TRIGGER_USER lets the job's operator pass
    and anyone else gets 1244016; a step without roles lets anyone confirm."""
    job.next_launch(confirm=True)
    job_instance_id = _launch(job, PLAN_DEPLOY_APP)  # launched by admin
    approve = _step_ids(_wait(job, job_instance_id, {7}))[2]
    for code in (CONFIRM_CONTINUE, CONFIRM_TERMINATE):
        body = _step_op(job, job_instance_id, approve, code, auth=ALICE)
        assert (body["result"], body["code"], body["message"]) == (False, 1244016, "只有步骤的确认人可以操作")
    job.next_launch(confirm=True)
    job_instance_id = _launch(job, PLAN_DEPLOY_APP, auth=ALICE)  # alice launched it: the trigger user
    approve = _step_ids(_wait(job, job_instance_id, {7}))[2]
    assert _step_op(job, job_instance_id, approve, CONFIRM_CONTINUE, auth=ALICE)["result"] is True
    instance = {"operator": "admin"}
    bkjob_emulator.check_confirm_user(instance, {"approval_users": ["bob"], "approval_roles": []}, "alice")
    bkjob_emulator.check_confirm_user(instance, {"approval_users": ["alice"], "approval_roles": ["x"]}, "alice")


def test_next_step_after_a_terminate_skips_the_stopped_step(job):
    """nextStep (11 needs STOP_SUCCESS): the stopped step becomes 5 (SKIPPED), the job runs on and ends 3; the job's
    end_time is kept from the terminate while it runs again (updateTaskStatus only), and its total_time too."""
    job.next_launch(step_seconds=5, terminate_seconds=0.2)
    job_instance_id = _launch(job, PLAN_DEPLOY)
    [step_id] = _step_ids(_status(job, job_instance_id))
    assert _ok(job, "operate_job_instance", dict(SCOPE, job_instance_id=job_instance_id, operation_code=1))
    assert _step_op(job, job_instance_id, step_id, NEXT_STEP)["code"] == 1241003  # still stopping (10)
    stopped = _wait(job, job_instance_id, {11})
    assert stopped["step_instance_list"][0]["step_ip_result_list"][0]["status"] == 403
    assert _step_op(job, job_instance_id, step_id, SKIP)["code"] == 1241003  # no longer stopping
    assert _step_op(job, job_instance_id, step_id, NEXT_STEP)["result"] is True
    data = _wait(job, job_instance_id, {3})
    assert data["step_instance_list"][0]["status"] == 5
    assert data["job_instance"]["total_time"] == stopped["job_instance"]["total_time"]


def test_skip_a_stopping_step(job):
    """skipStep (12 needs STOPPING): the step becomes 5 with end_time now, the job runs on (ends 3)."""
    job.next_launch(step_seconds=5, terminate_seconds=5)
    job_instance_id = _launch(job, PLAN_DEPLOY_APP)
    step_ids = _step_ids(_status(job, job_instance_id))
    assert _ok(job, "operate_job_instance", dict(SCOPE, job_instance_id=job_instance_id, operation_code=1))
    assert _status(job, job_instance_id)["step_instance_list"][0]["status"] == 10
    assert _step_op(job, job_instance_id, step_ids[0], SKIP)["result"] is True
    running = _status(job, job_instance_id)
    assert running["job_instance"]["status"] == 2 and running["step_instance_list"][0]["status"] == 5
    # a job resumed this way may be terminated again
    assert _ok(job, "operate_job_instance", dict(SCOPE, job_instance_id=job_instance_id, operation_code=1))
    assert _status(job, job_instance_id)["job_instance"]["status"] == 10


def test_retry_of_a_terminated_step(job):
    """isStepRetryable: STOP_SUCCESS (11) may be retried; the step runs again and the job ends as its steps say."""
    job.next_launch(step_seconds=0.4, terminate_seconds=0.1)
    job_instance_id = _launch(job, PLAN_DEPLOY)
    [step_id] = _step_ids(_status(job, job_instance_id))
    _ok(job, "operate_job_instance", dict(SCOPE, job_instance_id=job_instance_id, operation_code=1))
    _wait(job, job_instance_id, {11})
    assert _step_op(job, job_instance_id, step_id, RETRY_ALL)["result"] is True
    data = _wait(job, job_instance_id, {3})
    assert data["step_instance_list"][0]["execute_count"] == 1 and _hosts(data["step_instance_list"][0])[101]["status"] == 9


def test_a_resumed_job_calls_back_again(job, tmp_path):  # pylint: disable=unused-argument
    """finishJob calls back each time the job finishes: after a retry, the second end is called back too."""
    job.next_launch(final_status=4, fail_step=0)
    status, body, _raw, _headers = call(job, "execute_job_plan", dict(SCOPE, job_plan_id=PLAN_DEPLOY,
                                                                      callback_url="http://203.0.113.9/cb"))
    job_instance_id = body["data"]["job_instance_id"]
    step_id = _step_ids(_wait(job, job_instance_id, {4}))[0]
    deadline = time.monotonic() + 3
    while len(job.callbacks()) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    _step_op(job, job_instance_id, step_id, RETRY_FAILED)
    _wait(job, job_instance_id, {3})
    while len(job.callbacks()) < 2 and time.monotonic() < deadline + 3:
        time.sleep(0.05)
    assert status == 200 and [record["body"].count('"status":4') for record in job.callbacks()][:1] == [2]
    assert '"status":3' in job.callbacks()[1]["body"]


def test_retry_or_next_step_on_a_terminated_confirm_step_leaves_the_job_running_for_good(job):
    """A job terminated while it waits for a person: its confirm step is 11. RETRY and NEXT_STEP pass
    doStepOperation's checks and set the job RUNNING, but ConfirmStepEventHandler has no case for their events: the
    step stays 11 and the job 2 (a retry still adds to execute_count)."""
    for code, count in ((NEXT_STEP, 0), (RETRY_FAILED, 1)):
        job.next_launch(confirm=True, terminate_seconds=0.1)
        job_instance_id = _launch(job, PLAN_DEPLOY_APP)
        approve = _step_ids(_wait(job, job_instance_id, {7}))[2]
        assert _ok(job, "operate_job_instance", dict(SCOPE, job_instance_id=job_instance_id, operation_code=1))
        _wait(job, job_instance_id, {11})
        assert _step_op(job, job_instance_id, approve, code)["result"] is True
        time.sleep(0.4)
        data = _status(job, job_instance_id)
        assert data["job_instance"]["status"] == 2 and data["finished"] is False
        assert data["step_instance_list"][2]["status"] == 11 and data["step_instance_list"][2]["execute_count"] == count
        assert data["step_instance_list"][3]["status"] == 1
