# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The operation tables of _operate against bk-job's StepOperationEnum / TaskOperationEnum, and the choice of the step an
operation acts on (cases a real job seldom shows: two waiting steps, two steps of one name)."""

from __future__ import annotations

import pytest

from ansible_collections.blueking.job.plugins.module_utils import _api
from ansible_collections.blueking.job.plugins.module_utils._errors import InputError
from ansible_collections.blueking.job.plugins.module_utils._operate import (
    JOB_OPERATIONS,
    STEP_OPERATIONS,
    applicable,
    choose_step,
)


def step(step_instance_id, name, status, step_type=1, execute_count=0):
    return {"step_instance_id": step_instance_id, "name": name, "status": status, "type": step_type, "execute_count": execute_count}


def test_codes_are_jobs_own():
    # StepOperationEnum: NEXT_STEP is 11 and SKIP 12 (not the other way round)
    assert {name: operation.code for name, operation in STEP_OPERATIONS.items()} == {
        "retry_failed": 2, "retry_all": 8, "ignore_error": 3, "confirm_continue": 6, "confirm_terminate": 9,
        "confirm_restart": 10, "next_step": 11, "skip": 12}
    assert {name: operation.code for name, operation in JOB_OPERATIONS.items()} == {"start": 2, "terminate": 1}


def test_no_operation_is_both_sent_and_done_in_one_status():
    for table in (JOB_OPERATIONS, STEP_OPERATIONS):
        for name, operation in table.items():
            assert not operation.applies & operation.done, name


@pytest.mark.parametrize("status, step_type, expected", [
    (_api.STATUS_WAITING_USER, _api.STEP_TYPE_APPROVAL, ["confirm_continue", "confirm_terminate"]),
    (_api.STATUS_WAITING_USER, _api.STEP_TYPE_SCRIPT, []),
    (_api.STATUS_FAIL, _api.STEP_TYPE_SCRIPT, ["retry_failed", "retry_all", "ignore_error"]),
    (_api.STATUS_ABNORMAL_STATE, _api.STEP_TYPE_SCRIPT, ["retry_failed", "retry_all"]),
    (_api.STATUS_STOP_SUCCESS, _api.STEP_TYPE_FILE, ["retry_failed", "retry_all", "next_step"]),
    (_api.STATUS_STOPPING, _api.STEP_TYPE_SCRIPT, ["skip"]),
    (_api.STATUS_CONFIRM_TERMINATED, _api.STEP_TYPE_APPROVAL, ["confirm_restart"]),
    (_api.STATUS_STOPPING, _api.STEP_TYPE_APPROVAL, []),  # skip: GseStepEventHandler only, a confirmation step ignores it
    (_api.STATUS_FAIL, _api.STEP_TYPE_SQL, ["retry_failed", "retry_all", "ignore_error"]),
    (_api.STATUS_SUCCESS, _api.STEP_TYPE_SCRIPT, []),
])
def test_what_applies_to_a_step(status, step_type, expected):
    assert applicable(STEP_OPERATIONS, status, step_type) == expected


def test_the_waiting_step_comes_before_a_failed_one():
    steps = [step(1, "a", _api.STATUS_IGNORE_ERROR), step(2, "approve", _api.STATUS_WAITING_USER, _api.STEP_TYPE_APPROVAL)]
    assert choose_step(steps, 9, "confirm_continue")["step_instance_id"] == 2


def test_two_candidates_are_an_error_listing_the_steps():
    steps = [step(1, "a", _api.STATUS_WAITING_USER, _api.STEP_TYPE_APPROVAL), step(2, "b", _api.STATUS_WAITING_USER, _api.STEP_TYPE_APPROVAL),
             step(3, "c", _api.STATUS_BLANK)]
    with pytest.raises(InputError) as caught:
        choose_step(steps, 9, "confirm_continue")
    assert caught.value.stage == "operate"
    assert caught.value.msg == ("2 steps of job instance 9 wait for a person: name one with step_name or step_instance_id. Its steps: "
                                "1 'a' (confirm) waiting_user (7); 2 'b' (confirm) waiting_user (7); 3 'c' (script) pending (1).")


def test_a_name_shared_by_two_steps_asks_for_the_id():
    steps = [step(1, "deploy", _api.STATUS_FAIL), step(2, "deploy", _api.STATUS_BLANK)]
    with pytest.raises(InputError, match="2 steps of job instance 9 named 'deploy': use step_instance_id"):
        choose_step(steps, 9, "retry_failed", step_name="deploy")
    with pytest.raises(InputError, match="Step instance 5 is not a step of job instance 9"):
        choose_step(steps, 9, "retry_failed", step_instance_id=5)
    assert choose_step(steps, 9, "retry_failed", step_instance_id=2)["step_instance_id"] == 2


def test_run_again_finds_the_step_by_the_operations_effect():
    # a retried step (JOB's execute_count) that succeeded, among other successful steps
    steps = [step(1, "a", _api.STATUS_SUCCESS), step(2, "b", _api.STATUS_SUCCESS, execute_count=1), step(3, "c", _api.STATUS_SUCCESS)]
    assert choose_step(steps, 9, "retry_failed")["step_instance_id"] == 2
    confirmed = [step(1, "a", _api.STATUS_SUCCESS), step(2, "approve", _api.STATUS_SUCCESS, _api.STEP_TYPE_APPROVAL)]
    assert choose_step(confirmed, 9, "confirm_continue")["step_instance_id"] == 2
    with pytest.raises(InputError, match="No step of job instance 9 waits for a person or failed"):
        choose_step(confirmed, 9, "ignore_error")
