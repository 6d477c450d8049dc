# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""operate_job_instance and operate_step_instance through real ansible-playbook runs against the emulator: the exact
operation requests JOB gets, idempotence, check mode, refusals that name the status, the default step, waiting."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

from conftest import apigw_connection, esb_connection  # pylint: disable=import-error
from support import PLAN_DEPLOY, PLAN_DEPLOY_APP, PLAN_FLAKY  # pylint: disable=import-error

LAUNCH = "blueking.job.execute_job_plan"
JOB_OP = "blueking.job.operate_job_instance"
STEP_OP = "blueking.job.operate_step_instance"
FAST = {"poll_interval": 0.2, "poll_max_interval": 0.5}
# plan 1000's steps: check env (script), push package (file), approve (confirm), restart (script)
STEP_NAMES = ["check env", "push package", "approve", "restart"]


def connection(emulator):
    return {**esb_connection(emulator), "bk_biz_id": 2}


def launch(emulator, **args):
    return {"name": "launch", LAUNCH: {**connection(emulator), "job_plan_id": PLAN_DEPLOY_APP, **FAST, **args}}


def job_op(emulator, job_instance_id, operation, **args):
    return {"name": f"job {operation}", JOB_OP: {**connection(emulator), "job_instance_id": job_instance_id, "operation": operation,
                                                 **FAST, **args}}


def step_op(emulator, job_instance_id, operation, **args):
    return {"name": f"step {operation}", STEP_OP: {**connection(emulator), "job_instance_id": job_instance_id,
                                                   "operation": operation, **FAST, **args}}


def sent(emulator, api="operate_step_instance", since=0):
    """(operation_code, step_instance_id) of the operate_step_instance (or operate_job_instance) requests after the first
    ``since`` (a launch sends operate_job_instance 2 itself)."""
    return [(item["operation_code"], item["step_instance_id"]) for item in emulator.operations(api)][since:]


def stopped_step(emulator, job_instance_id, status):
    return next(step["step_instance_id"] for step in instance(emulator, job_instance_id)["steps"] if step["status"] == status)


def instance(emulator, job_instance_id):
    return next(item for item in emulator.instances() if item["job_instance_id"] == job_instance_id)


def step_id(emulator, job_instance_id, name):
    return next(step["step_instance_id"] for step in instance(emulator, job_instance_id)["steps"] if step["name"] == name)


def until(emulator, job_instance_id, status, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if instance(emulator, job_instance_id)["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job_instance_id} never reached status {status}: {instance(emulator, job_instance_id)}")


def waiting_job(emulator, ansible, **behaviour):
    """A job of plan 1000 that waits at its confirm step 'approve' (status 7)."""
    emulator.next_launch(confirm=True, step_seconds=0.1, **behaviour)
    run = ansible.playbook([launch(emulator, on_waiting_user="return")])
    assert run["r0"]["status"] == 7, run["r0"]
    return run["r0"]["job_instance_id"]


# ---------------------------------------------------------------------------------------------- operate_step_instance
def test_confirm_continue_on_the_default_step_then_again_unchanged(job, ansible):
    job_instance_id = waiting_job(job, ansible)
    approve = step_id(job, job_instance_id, "approve")
    run = ansible.playbook([step_op(job, job_instance_id, "confirm_continue", wait=True),
                            step_op(job, job_instance_id, "confirm_continue", wait=True)])
    first, second = run["r0"], run["r1"]
    assert first["failed"] is False and first["changed"] is True, first
    assert (first["step_instance_id"], first["step_name"]) == (approve, "approve")
    assert (first["status_name"], first["job_finished"]) == ("success", True)
    assert [step["name"] for step in first["steps"]] == STEP_NAMES and "host_summary" in first and "output_vars" in first
    assert first["msg"] == f"Sent confirm_continue on step {approve}."
    assert second["failed"] is False and second["changed"] is False, second
    assert second["step_instance_id"] == approve and "already shows the effect of confirm_continue" in second["msg"]
    assert second["status_name"] == "success"
    assert sent(job) == [(6, approve)], "one confirmation, code 6 (CONFIRM_CONTINUE), on 'approve'"


def test_through_the_api_gateway(job, ansible):
    job_instance_id = waiting_job(job, ansible)
    approve = step_id(job, job_instance_id, "approve")
    task = {"name": "confirm through the gateway", STEP_OP: {**apigw_connection(job), "bk_scope_type": "biz", "bk_scope_id": "2",
                                                             "job_instance_id": job_instance_id, "operation": "confirm_continue",
                                                             "wait": True, **FAST}}
    result = ansible.playbook([task])["r0"]
    assert result["failed"] is False and result["changed"] is True and result["status_name"] == "success", result.get("msg")
    assert [(item["operation_code"], item["step_instance_id"], item["surface"]) for item in job.operations()] == [(6, approve, "apigw")]


def test_check_mode_reads_and_sends_nothing(job, ansible):
    job_instance_id = waiting_job(job, ansible)
    launched = len(job.operations("operate_job_instance"))
    run = ansible.playbook([step_op(job, job_instance_id, "confirm_continue", step_name="approve", wait=True, wait_timeout=5),
                            job_op(job, job_instance_id, "terminate", wait=True, wait_timeout=5)], check=True)
    assert run["r0"]["failed"] is False and run["r0"]["changed"] is True, run["r0"]
    assert run["r0"]["msg"].startswith("Check mode: would send confirm_continue on step")
    assert run["r0"]["status_name"] == "waiting_user", "check mode reports the job as it is and does not wait"
    assert run["r1"]["changed"] is True and run["r1"]["msg"] == "Check mode: would send terminate."
    assert sent(job) == [] and sent(job, "operate_job_instance", launched) == []
    assert instance(job, job_instance_id)["status"] == 7


def test_an_operation_that_does_not_apply_names_the_status_and_what_applies(job, ansible):
    job_instance_id = waiting_job(job, ansible)
    check_env = step_id(job, job_instance_id, "check env")
    run = ansible.playbook([
        step_op(job, job_instance_id, "confirm_continue", step_name="check env"),
        step_op(job, job_instance_id, "ignore_error", step_instance_id=check_env),
        step_op(job, job_instance_id, "retry_failed"),  # the default step is the waiting one
        step_op(job, job_instance_id, "skip", step_name="no such step"),
    ])
    confirm, ignore, retry, unknown = run["r0"], run["r1"], run["r2"], run["r3"]
    assert confirm["failed"] is True and confirm["error"]["stage"] == "operate" and confirm["job_instance_id"] == job_instance_id
    assert "confirm_continue applies to confirmation steps only" in confirm["msg"]
    assert f"step {check_env} 'check env' (script) success (3)" in confirm["msg"]
    assert "No step operation applies to it." in confirm["msg"]
    assert ignore["failed"] is True and "is success (3)" not in ignore["msg"]
    assert "ignore_error applies to a step that is failed (4)." in ignore["msg"]
    assert ignore["status_name"] == "waiting_user" and ignore["step_instance_id"] == check_env, "the failure carries the instance"
    assert retry["failed"] is True and "'approve' (confirm) waiting_user (7)" in retry["msg"]
    assert "retry_failed applies to script, file and SQL steps only" in retry["msg"]
    assert "What applies to it: confirm_continue, confirm_terminate." in retry["msg"]
    assert unknown["failed"] is True and "No step of job instance" in unknown["msg"] and "named 'no such step'" in unknown["msg"]
    assert all(name in unknown["msg"] for name in STEP_NAMES), "the steps are listed"
    assert sent(job) == []


def test_no_default_step_lists_the_steps(job, ansible):
    job.next_launch(step_seconds=0.05)
    run = ansible.playbook([launch(job), step_op(job, "{{ r0.job_instance_id }}", "ignore_error")])
    assert run["r0"]["status_name"] == "success"
    result = run["r1"]
    assert result["failed"] is True and result["error"]["stage"] == "operate" and result["error"]["kind"] == "invalid_input"
    assert "No step of job instance" in result["msg"] and "waits for a person or failed" in result["msg"]
    assert "name one with step_name or step_instance_id" in result["msg"]
    for name in STEP_NAMES:
        assert f"'{name}'" in result["msg"]
    assert result["job_instance_id"] == run["r0"]["job_instance_id"] and result["status_name"] == "success"
    assert sent(job) == []


def test_retry_failed_recovers_the_flaky_host_then_unchanged(job, ansible):
    # plan flaky-deploy (business 3): host 202 fails the first execution of step 'deploy'
    first = ansible.playbook([launch(job, bk_biz_id=3, job_plan_id=PLAN_FLAKY)])["r0"]
    assert first["status_name"] == "failed" and [host["bk_host_id"] for host in first["failed_hosts"]] == [202]
    job_instance_id = first["job_instance_id"]
    deploy = step_id(job, job_instance_id, "deploy")
    run = ansible.playbook([step_op(job, job_instance_id, "retry_failed", bk_biz_id=3, wait=True, host_results="all"),
                            step_op(job, job_instance_id, "retry_failed", bk_biz_id=3),
                            step_op(job, job_instance_id, "retry_failed", bk_biz_id=3, step_name="deploy")])
    retry, again, by_name = run["r0"], run["r1"], run["r2"]
    assert retry["failed"] is False and retry["changed"] is True, retry.get("msg")
    assert (retry["step_instance_id"], retry["step_name"], retry["status_name"]) == (deploy, "deploy", "success")
    assert retry["failed_hosts"] == [] and all(host["status_name"] == "success" for step in retry["steps"] for host in step["hosts"])
    # run again: the retried step (JOB's execute_count 1) is the default step, and it has succeeded
    assert again["changed"] is False and again["step_instance_id"] == deploy, again.get("msg")
    assert "already shows the effect of retry_failed" in again["msg"]
    assert by_name["changed"] is False and by_name["step_instance_id"] == deploy
    assert sent(job) == [(2, deploy)], "code 2 (RETRY_FAIL_IP) once"


def test_retry_of_a_host_that_never_recovers_fails_and_retries_again_when_run_again(job, ansible):
    job.next_launch(fail_attempts={"203": -1})
    job_instance_id = ansible.playbook([launch(job, bk_biz_id=3, job_plan_id=PLAN_FLAKY)])["r0"]["job_instance_id"]
    deploy = step_id(job, job_instance_id, "deploy")
    run = ansible.playbook([step_op(job, job_instance_id, "retry_failed", bk_biz_id=3, wait=True),
                            step_op(job, job_instance_id, "retry_all", bk_biz_id=3)])
    retry, retry_all = run["r0"], run["r1"]
    assert retry["failed"] is True and retry["changed"] is True and retry["error"]["kind"] == "job_failed", retry.get("msg")
    assert [host["bk_host_id"] for host in retry["failed_hosts"]] == [203] and retry["step_instance_id"] == deploy
    assert retry_all["failed"] is False and retry_all["changed"] is True, "the step failed again: a retry is sent again"
    assert sent(job) == [(2, deploy), (8, deploy)]


def test_ignore_error_then_unchanged_by_default_step(job, ansible):
    job.next_launch(final_status=4, fail_step=0, step_seconds=0.1)
    job_instance_id = ansible.playbook([launch(job)])["r0"]["job_instance_id"]
    check_env = step_id(job, job_instance_id, "check env")
    run = ansible.playbook([step_op(job, job_instance_id, "ignore_error", wait=True),
                            step_op(job, job_instance_id, "ignore_error")])
    ignore, again = run["r0"], run["r1"]
    # the job goes on past the ignored step and ends; the outcome rules warn about the ignored step
    assert ignore["failed"] is False and ignore["changed"] is True and ignore["job_finished"] is True, ignore
    assert ignore["steps"][0]["status_name"] == "ignored_error"
    assert any("ignored_error" in warning for warning in ignore.get("warnings", []))
    assert again["changed"] is False and again["step_instance_id"] == check_env, again
    assert sent(job) == [(3, check_env)]


def test_confirm_terminate_ends_the_job_as_asked_and_restart_asks_again(job, ansible):
    job_instance_id = waiting_job(job, ansible)
    approve = step_id(job, job_instance_id, "approve")
    run = ansible.playbook([step_op(job, job_instance_id, "confirm_terminate", wait=True),
                            step_op(job, job_instance_id, "confirm_terminate"),
                            step_op(job, job_instance_id, "confirm_restart"),
                            step_op(job, job_instance_id, "confirm_restart", step_name="approve")])
    terminate, again, restart, restart_again = run["r0"], run["r1"], run["r2"], run["r3"]
    assert terminate["failed"] is False and terminate["changed"] is True, terminate
    assert terminate["status_name"] == "confirm_terminated", "the end confirm_terminate aims at is no failure"
    assert again["changed"] is False and again["failed"] is False
    assert restart["changed"] is True and restart["failed"] is False, restart
    assert restart_again["changed"] is False and restart_again["status_name"] == "waiting_user"
    assert sent(job) == [(9, approve), (10, approve)]


def test_skip_a_stopping_step_and_next_step_after_a_stopped_one(job, ansible):
    # plan 'deploy': one script step; a person terminates the job while it runs, and the step stops (10) for 30 s
    job.next_launch(step_seconds=30, terminate_seconds=30)
    skipped_id = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY, wait=False)])["r0"]["job_instance_id"]
    until(job, skipped_id, 2)
    job.terminate(skipped_id)
    until(job, skipped_id, 10)
    stopping = step_id(job, skipped_id, "deploy")
    run = ansible.playbook([step_op(job, skipped_id, "next_step"), step_op(job, skipped_id, "skip", wait=True),
                            step_op(job, skipped_id, "skip", step_instance_id=stopping)])
    wrong, skip, again = run["r0"], run["r1"], run["r2"]
    assert wrong["failed"] is True and "terminating (10)" in wrong["msg"] and "What applies to it: skip." in wrong["msg"]
    assert skip["failed"] is False and skip["changed"] is True and skip["step_instance_id"] == stopping, skip.get("msg")
    assert skip["status_name"] == "success" and skip["steps"][0]["status_name"] == "skipped"
    assert again["changed"] is False and again["failed"] is False, again.get("msg")
    assert sent(job) == [(12, stopping)], "code 12 (SKIP), bk-job's StepOperationEnum"

    job.reset()
    job.next_launch(step_seconds=30, terminate_seconds=0.1)
    stopped_id = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY, wait=False)])["r0"]["job_instance_id"]
    until(job, stopped_id, 2)
    job.terminate(stopped_id)
    until(job, stopped_id, 11)
    stopped = step_id(job, stopped_id, "deploy")
    run = ansible.playbook([step_op(job, stopped_id, "next_step", wait=True),
                            step_op(job, stopped_id, "next_step", step_instance_id=stopped),
                            step_op(job, stopped_id, "next_step")])
    next_step, again, by_default = run["r0"], run["r1"], run["r2"]
    assert next_step["failed"] is False and next_step["changed"] is True and next_step["step_instance_id"] == stopped, next_step.get("msg")
    assert next_step["status_name"] == "success" and next_step["steps"][0]["status_name"] == "skipped"
    assert again["changed"] is False and "already shows the effect of next_step" in again["msg"], again.get("msg")
    assert by_default["changed"] is False and by_default["step_instance_id"] == stopped, "the skipped step, found by default"
    assert sent(job) == [(11, stopped)], "code 11 (NEXT_STEP)"


def test_step_operations_for_script_steps_are_refused_on_a_confirmation_step(job, ansible):
    """JOB accepts retry and next_step for a confirmation step a terminate stopped (11), sets the job running and then
    nothing handles the event (ConfirmStepEventHandler has no case for them): the job would run for good."""
    job_instance_id = waiting_job(job, ansible, terminate_seconds=0.1)
    job.terminate(job_instance_id)
    until(job, job_instance_id, 11)
    approve = step_id(job, job_instance_id, "approve")
    run = ansible.playbook([step_op(job, job_instance_id, operation) for operation in ("retry_failed", "retry_all", "next_step")])
    for result in (run["r0"], run["r1"], run["r2"]):
        assert result["failed"] is True and result["step_instance_id"] == approve, result
        assert "applies to script, file and SQL steps only" in result["msg"] and "terminate_success (11)" in result["msg"]
    assert sent(job) == [] and instance(job, job_instance_id)["status"] == 11


def test_a_confirmation_made_meanwhile_is_unchanged(job, ansible):
    """JOB refuses (1241003) because a person confirmed in the web console between the read and the send."""
    job_instance_id = waiting_job(job, ansible)
    approve = step_id(job, job_instance_id, "approve")
    job.fault("operate_step_instance", "slow", seconds=1.5)

    def confirm_meanwhile():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not job.requests(api="operate_step_instance"):
            time.sleep(0.05)
        job.confirm(job_instance_id)
    thread = threading.Thread(target=confirm_meanwhile, daemon=True)
    thread.start()
    result = ansible.playbook([step_op(job, job_instance_id, "confirm_continue")])["r0"]
    thread.join()
    assert result["failed"] is False and result["changed"] is False, result
    assert "JOB refused confirm_continue" in result["msg"] and "1241003" in result["msg"]
    assert sent(job) == [(6, approve)]


# ---------------------------------------------------------------------------------------------- operate_job_instance
def test_start_an_instance_created_without_starting_then_wait(job, ansible):
    job.next_launch(step_seconds=0.1)
    run = ansible.playbook([launch(job, start_task=False, wait=False)])
    job_instance_id = run["r0"]["job_instance_id"]
    assert instance(job, job_instance_id)["status"] == 1
    assert sent(job, "operate_job_instance") == [], "start_task false: created, not started"
    run = ansible.playbook([job_op(job, job_instance_id, "start", wait=True), job_op(job, job_instance_id, "start")])
    start, again = run["r0"], run["r1"]
    assert start["failed"] is False and start["changed"] is True and start["msg"] == "Sent start.", start
    assert (start["status_name"], start["job_finished"], start["job_plan_id"]) == ("success", True, PLAN_DEPLOY_APP)
    assert again["failed"] is False and again["changed"] is False
    assert again["msg"] == f"Nothing sent: job instance {job_instance_id} is success (3), it has been started already."
    assert sent(job, "operate_job_instance") == [(2, None)], "one start, code 2 (START_JOB)"
    assert f'JOB instance {job_instance_id} "deploy-app": ' in run.output, "progress lines while the in-process task waits"


def test_terminate_then_unchanged_and_a_pending_job_cannot_be_terminated(job, ansible):
    job.next_launch(step_seconds=10)
    running_id = ansible.playbook([launch(job, wait=False)])["r0"]["job_instance_id"]
    job.next_launch(step_seconds=0.1)
    pending_id = ansible.playbook([launch(job, start_task=False, wait=False)])["r0"]["job_instance_id"]
    until(job, running_id, 2)
    launched = len(job.operations("operate_job_instance"))
    run = ansible.playbook([job_op(job, running_id, "terminate", wait=True),
                            job_op(job, running_id, "terminate", wait=True),
                            job_op(job, pending_id, "terminate")])
    terminate, again, pending = run["r0"], run["r1"], run["r2"]
    assert terminate["failed"] is False and terminate["changed"] is True, terminate
    assert terminate["status_name"] == "terminate_success", "the end a terminate aims at is no failure"
    assert again["changed"] is False and again["failed"] is False
    assert "is terminate_success (11), it has ended or is being terminated" in again["msg"]
    assert pending["failed"] is True and pending["error"]["stage"] == "operate" and pending["job_instance_id"] == pending_id
    assert f"Cannot terminate job instance {pending_id}: it is pending (1)" in pending["msg"]
    assert "terminate applies to a job that is running (2) or waiting_user (7)" in pending["msg"]
    assert "What applies to it: start." in pending["msg"]
    assert pending["status_name"] == "pending"
    assert sent(job, "operate_job_instance", launched) == [(1, None)], "one terminate, code 1 (TERMINATE_JOB)"
    assert instance(job, pending_id)["status"] == 1


def test_a_lost_answer_to_a_start_that_took_effect_is_a_change(job, ansible):
    job.next_launch(step_seconds=0.1)
    job_instance_id = ansible.playbook([launch(job, start_task=False, wait=False)])["r0"]["job_instance_id"]
    job.fault("operate_job_instance", "after_create_502", match={"operation_code": 2})
    result = ansible.playbook([job_op(job, job_instance_id, "start", wait=True)])["r0"]
    assert result["failed"] is False and result["changed"] is True, result
    assert "answer was lost" in result["msg"] and result["status_name"] == "success"
    assert sent(job, "operate_job_instance") == [(2, None)], "never sent twice"


def test_an_unknown_instance_fails_with_its_id_on_both_paths(job, ansible):
    for env in ({}, {"BK_JOB_IN_PROCESS": "false"}):  # in the controller's process, and as a module (AnsiballZ)
        run = ansible.playbook([job_op(job, 29999999, "terminate"), step_op(job, 29999999, "skip", step_instance_id=30000001)], env=env)
        for result in (run["r0"], run["r1"]):
            assert result["failed"] is True and result["job_instance_id"] == 29999999, result
            assert "does not exist in this scope" in result["msg"] and result["error"]["stage"] == "operate"
            assert result["error"]["code"] == 1244006
    assert sent(job, "operate_job_instance") == [] and sent(job) == []


def test_check_mode_on_the_module_path(job, ansible):
    job_instance_id = waiting_job(job, ansible)
    run = ansible.playbook([step_op(job, job_instance_id, "confirm_continue")], check=True, env={"BK_JOB_IN_PROCESS": "false"})
    assert run["r0"]["changed"] is True and run["r0"]["msg"].startswith("Check mode: would send confirm_continue"), run["r0"]
    assert "AnsiballZ_operate_step_instance.py" in run.output, "the module was shipped, not run in-process"
    assert sent(job) == []


# ---------------------------------------------------------------------------------------------- the guide's playbooks
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "docsite" / "rst" / "guide_operate.rst"


def guide_blocks() -> list[str]:
    """The YAML blocks of docs/docsite/rst/guide_operate.rst, as written there."""
    text = GUIDE.read_text(encoding="utf-8")
    return [re.sub(r"^  ", "", block, flags=re.M)
            for block in re.findall(r"^\.\. code-block:: yaml(?:\+jinja)?\n\n((?:  .*\n|\n)+)", text, flags=re.M)]


def run_guide(job, ansible, tmp_path, text, extra_vars):
    """Run a guide playbook (a play, or tasks wrapped into one) with the credentials in BK_* variables."""
    if not text.lstrip().startswith("- name:") or "hosts:" not in text:
        text = "- hosts: localhost\n  gather_facts: false\n  tasks:\n" + "".join(f"    {line}\n" for line in text.splitlines())
    playbook = tmp_path / "guide.yml"
    playbook.write_text(text, encoding="utf-8")
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps(extra_vars), encoding="utf-8")
    connection = esb_connection(job)
    env = {"BK_API_URL": connection["bk_api_url"], "BK_APP_CODE": connection["bk_app_code"],
           "BK_APP_SECRET": connection["bk_app_secret"], "BK_USERNAME": connection["bk_username"]}
    completed = ansible.run_command([ansible.playbook_bin, "-e", f"@{variables}", str(playbook)], env, ())
    output = completed.stdout + completed.stderr
    recap = re.search(r"^localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)\s+skipped=(\d+)", output, flags=re.M)
    assert recap, output[-4000:]
    return completed.returncode, tuple(int(value) for value in recap.groups()), output


def test_the_guides_confirm_playbooks_by_hand_and_with_the_module_do_the_same(job, ansible, tmp_path):
    by_hand = next(block for block in guide_blocks() if "ansible.builtin.uri" in block and "hosts: localhost" in block)
    with_module = next(block for block in guide_blocks() if "hosts: localhost" in block and STEP_OP in block)
    for playbook in (by_hand, with_module):
        job.reset()
        job_instance_id = waiting_job(job, ansible)
        approve = step_id(job, job_instance_id, "approve")
        code, (ok, changed, failed, _skipped), output = run_guide(job, ansible, tmp_path, playbook,
                                                                  {"bk_biz_id": 2, "job_instance_id": job_instance_id})
        assert code == 0 and failed == 0 and changed == 1, output[-4000:]
        assert sent(job) == [(6, approve)] and instance(job, job_instance_id)["status"] == 3
        # run again: the hand-written one skips its confirmation silently, the module says why it sent nothing
        code, (ok, changed, failed, skipped), output = run_guide(job, ansible, tmp_path, playbook,
                                                                 {"bk_biz_id": 2, "job_instance_id": job_instance_id})
        assert code == 0 and changed == 0 and failed == 0, output[-4000:]
        assert sent(job) == [(6, approve)]
        assert (skipped, ok) == ((1, 2) if playbook is by_hand else (0, 1))


def test_the_guides_operate_tasks_run_as_written(job, ansible, tmp_path):
    blocks = {name: next(block for block in guide_blocks() if block.startswith(f"- name: {name}"))
              for name in ("Start the job and wait for it", "Stop the job, wherever it is",
                           "Retry the failed hosts of the failed step and wait", "Start the job (operation code 2)")}
    for playbook, expected in ((blocks["Start the job (operation code 2)"], 2), (blocks["Start the job and wait for it"], 2)):
        job.reset()
        job.next_launch(step_seconds=0.1)
        job_instance_id = ansible.playbook([launch(job, start_task=False, wait=False)])["r0"]["job_instance_id"]
        code, (_ok, changed, failed, _skipped), output = run_guide(job, ansible, tmp_path, playbook,
                                                                   {"bk_biz_id": 2, "job_instance_id": job_instance_id})
        assert code == 0 and (changed, failed) == (1, 0), output[-4000:]
        assert sent(job, "operate_job_instance") == [(expected, None)]
        code, (_ok, changed, failed, _skipped), output = run_guide(job, ansible, tmp_path, playbook,
                                                                   {"bk_biz_id": 2, "job_instance_id": job_instance_id})
        if playbook is blocks["Start the job (operation code 2)"]:
            assert code == 2 and failed == 1, "the hand-written start fails when run again"
            assert job.operations("operate_job_instance")[-1]["response_code"] == 1241015
            assert "1241015" not in output and "censored" in output, "and no_log hides why"
        else:
            assert code == 0 and (changed, failed) == (0, 0), output[-4000:]
        assert len(sent(job, "operate_job_instance")) == (2 if playbook is blocks["Start the job (operation code 2)"] else 1)

    job.reset()
    job.next_launch(step_seconds=10)
    job_instance_id = ansible.playbook([launch(job, wait=False)])["r0"]["job_instance_id"]
    until(job, job_instance_id, 2)
    launched = len(job.operations("operate_job_instance"))
    code, (_ok, changed, failed, _skipped), output = run_guide(job, ansible, tmp_path, blocks["Stop the job, wherever it is"],
                                                               {"bk_biz_id": 2, "job_instance_id": job_instance_id})
    assert code == 0 and (changed, failed) == (1, 0), output[-4000:]
    assert sent(job, "operate_job_instance", launched) == [(1, None)] and instance(job, job_instance_id)["status"] == 11

    job.reset()
    job.next_launch(fail_attempts={"203": -1})
    job_instance_id = ansible.playbook([launch(job, bk_biz_id=3, job_plan_id=PLAN_FLAKY)])["r0"]["job_instance_id"]
    code, (_ok, changed, failed, _skipped), output = run_guide(
        job, ansible, tmp_path, blocks["Retry the failed hosts of the failed step and wait"], {"bk_biz_id": 3, "job_instance_id": job_instance_id})
    assert code == 0 and changed == 1 and "10.0.1.3" in output, output[-4000:]
    assert sent(job) == [(2, step_id(job, job_instance_id, "deploy"))]
