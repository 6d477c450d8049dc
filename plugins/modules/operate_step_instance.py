#!/usr/bin/python
# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: operate_step_instance
short_description: Confirm, retry, skip or ignore a step of a BlueKing JOB job instance
version_added: 1.1.0
description:
  - Acts on one step of a job instance through JOB's C(operate_step_instance), as the buttons of JOB's web console
    do, then reports the instance as M(blueking.job.job_instance_info) does.
  - Idempotent. The instance is read first; when the operation's effect is already there (the step is confirmed,
    its error ignored, it runs again after a retry, ...) nothing is sent, C(changed) is false and RV(msg) says why.
    An operation that JOB does not accept in the step's status fails naming the status and the operations that
    apply to it.
  - When JOB refuses the operation because the step's status changed in between (someone confirmed it in the web
    console), the job is read again, and an effect now there is reported as unchanged.
  - With O(wait=true) the task then waits for the job to end with the waiting and outcome rules of
    M(blueking.job.execute_job_plan); after O(operation=confirm_terminate) a job that ends C(confirm_terminated) is
    what was asked for and does not fail the task.
author:
  - blueking.job maintainers (@blueking-job)
extends_documentation_fragment:
  - blueking.job.connection
  - blueking.job.scope
  - blueking.job.attributes
  - blueking.job.wait
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the job instance, chooses the step and reports whether the operation would be sent (C(changed)); sends nothing and does not wait.
  diff_mode:
    support: none
options:
  job_instance_id:
    description: Id of the job instance.
    type: int
    required: true
  step_instance_id:
    description:
      - Id of the step instance to act on (RV(steps[].step_instance_id) of a job's report).
      - Without O(step_instance_id) and O(step_name), the step is the one that waits for a person (status 7); else the
        one that failed or was stopped (status 4, 9, 10, 11 or 13); else, when the task runs again after its operation,
        the one step that shows the operation's effect. None or several such steps fail the task, listing the steps.
    type: int
  step_name:
    description:
      - Exact name of the step to act on. Several steps of that name fail the task; use O(step_instance_id) then.
    type: str
  operation:
    description:
      - What to do, with JOB's operation code (C(StepOperationEnum)) and the step statuses JOB accepts it in.
      - V(confirm_continue) (6) confirms a confirmation step that waits for a person (C(waiting_user), 7); the job goes on.
        JOB accepts it only from a user among the step's confirm users (else 1244016).
      - V(confirm_terminate) (9) ends the job at a confirmation step that waits for a person (7); the step and the job
        end C(confirm_terminated) (13).
      - V(confirm_restart) (10) asks for the confirmation again at a step that ended C(confirm_terminated) (13).
      - V(retry_failed) (2) runs the step again on its failed hosts; V(retry_all) (8) on all its hosts. Both for a step
        that is C(failed) (4), C(abnormal) (9) or C(terminate_success) (11).
      - V(ignore_error) (3) ignores a C(failed) (4) step; it becomes C(ignored_error) (6) and the job goes on. JOB accepts
        it for an C(abnormal) (9) step too but then does nothing, so the module refuses it there.
      - V(next_step) (11) goes on with the next step after a step stopped by a terminate (C(terminate_success), 11).
      - V(skip) (12) skips a step that is being stopped (C(terminating), 10); it becomes C(skipped) (5).
      - The confirm operations act on confirmation steps only, the others on script, file and SQL steps only.
    type: str
    required: true
    choices: [retry_failed, ignore_error, confirm_continue, retry_all, confirm_terminate, confirm_restart, next_step, skip]
  wait:
    description:
      - After the operation, wait for the job to end and fail when it ends badly, as M(blueking.job.execute_job_plan) does.
      - With V(false) the module reports the job's state right after the operation and does not judge it.
    type: bool
    default: false
  host_results:
    description:
      - Which hosts' results (status, exit code, log tail) RV(steps) carry.
    type: str
    choices: [none, failed, all]
    default: none
seealso:
  - module: blueking.job.operate_job_instance
  - module: blueking.job.job_instance_info
  - module: blueking.job.execute_job_plan
"""

EXAMPLES = r"""
- name: Launch a plan with a confirmation step and return when it waits for a person
  blueking.job.execute_job_plan:
    bk_biz_id: 2
    job_plan_id: 1000
    on_waiting_user: return
  register: launch

- name: Confirm the waiting step and wait for the job to end
  blueking.job.operate_step_instance:
    bk_biz_id: 2
    job_instance_id: "{{ launch.job_instance_id }}"
    operation: confirm_continue
    wait: true

- name: Retry the failed hosts of step "restart"
  blueking.job.operate_step_instance:
    bk_biz_id: 2
    job_instance_id: 20000001
    step_name: restart
    operation: retry_failed
    wait: true
    host_results: failed

- name: Ignore the error of a failed step (by id) and let the job go on
  blueking.job.operate_step_instance:
    bk_biz_id: 2
    job_instance_id: 20000001
    step_instance_id: 30000004
    operation: ignore_error
"""

RETURN = r"""
job_instance_id:
  description: Id of the job instance.
  returned: always
  type: int
  sample: 20000001
step_instance_id:
  description: Id of the step instance the operation was for (given, or chosen as O(step_instance_id) describes).
  returned: when the step is known
  type: int
  sample: 30000003
step_name:
  description: Name of that step.
  returned: when the step is known
  type: str
  sample: approve
job_instance_name:
  description: Name of the job instance; JOB names a launch after its plan.
  returned: success
  type: str
  sample: deploy-app
job_plan_id:
  description: Id of the job plan the instance ran, from JOB's history (C(get_job_instance_list)); null when unknown.
  returned: success
  type: int
  sample: 1000
create_time:
  description: Creation of the job instance, Unix time in milliseconds.
  returned: success
  type: int
job_instance_url:
  description: Link to the job in the JOB web console.
  returned: when O(bk_job_web_url) is set
  type: str
status:
  description: JOB's job status code.
  returned: success
  type: int
  sample: 3
status_name:
  description: Name of RV(status), for example C(success), C(failed) or C(waiting_user).
  returned: success
  type: str
  sample: success
job_finished:
  description:
    - Whether JOB considers the job finished (JOB's C(finished), renamed because Ansible's C(async_status) owns C(finished)).
  returned: success
  type: bool
  sample: true
start_time:
  description: Start of the job, Unix time in milliseconds.
  returned: success
  type: int
end_time:
  description: End of the job, Unix time in milliseconds.
  returned: success
  type: int
total_time:
  description: Duration in milliseconds.
  returned: success
  type: int
steps:
  description: Each step with its status and the hosts chosen by O(host_results).
  returned: success
  type: list
  elements: dict
  contains:
    step_instance_id:
      description: Step instance id.
      type: int
      sample: 30000001
    name:
      description: Step name.
      type: str
      sample: deploy
    type:
      description: 1 script, 2 file transfer, 3 manual confirmation, 4 SQL.
      type: int
      sample: 1
    status:
      description: Step status code (same codes as RV(status)).
      type: int
      sample: 3
    status_name:
      description: Name of the step status.
      type: str
      sample: success
    total_time:
      description: Duration in milliseconds.
      type: int
      sample: 1520
    hosts:
      description:
        - Per-host results of the step, the hosts chosen by O(host_results).
        - C(log) is the last O(log_max_bytes) bytes of the host's log, or null for a host whose log was not read, and for every
          host once the logs returned reach O(log_total_max_bytes) (failed hosts' logs come first).
      type: list
      elements: dict
      contains:
        bk_host_id:
          description: CMDB host id; null when JOB gives none.
          type: int
          sample: 101
        ip:
          description: IPv4 address of the host.
          type: str
          sample: 10.0.0.1
        bk_cloud_id:
          description: BK-Network area (cloud area) of the host; 0 is the default area.
          type: int
          sample: 0
        status:
          description: >-
            JOB's host status code (C(ExecuteObjectTaskStatusEnum) in bk-job): 9 success, 3 succeeded last time, 5 waiting,
            7 running, 11 failed, 104 script exited non-zero, ...
          type: int
          sample: 9
        status_name:
          description: Name of RV(steps[].hosts[].status), for example C(success), C(script_nonzero_exit), C(agent_error) or C(running).
          type: str
          sample: success
        exit_code:
          description: Exit code of the script on the host; null for file and confirmation steps.
          type: int
          sample: 0
        error_code:
          description: JOB's error code for the host (0 when none).
          type: int
          sample: 0
        tag:
          description: >-
            The result group tag JOB gives the host (C(tag) of C(step_ip_result_list) in bk-job's C(EsbJobInstanceStatusV3DTO));
            empty when there is none.
          type: str
          sample: ""
        log:
          description: The tail of the host's log (UTF-8 text), or null.
          type: str
          sample: "deploy 2.4.1 done\n"
host_summary:
  description: Distinct hosts over all steps, counted as C(success), C(failed) or C(running), and their C(total).
  returned: success
  type: dict
  contains:
    total:
      description: Distinct hosts of the job.
      type: int
      sample: 600
    success:
      description: Hosts whose every step succeeded.
      type: int
      sample: 598
    failed:
      description: Hosts that failed in a step.
      type: int
      sample: 2
    running:
      description: Hosts still running or waiting.
      type: int
      sample: 0
failed_hosts:
  description:
    - The hosts that failed (those RV(host_summary) counts as C(failed)), one item each in step order, whatever
      O(host_results) says; shaped for C(ansible.builtin.add_host) (see the example in the failed hosts guide).
    - A host that failed in several steps (an ignored error, then the failed step) is listed once, with the first.
    - Also in the result of a failed task, once the job was read. Empty when no host failed, and for a job whose
      targets JOB's status API cannot report (containers).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The address to reach the host (its IPv4 address, else its IPv6 address when JOB gives one, else null).
      type: str
      sample: 10.0.0.2
    bk_host_id:
      description: CMDB host id; null when JOB gives none.
      type: int
      sample: 102
    ip:
      description: IPv4 address of the host.
      type: str
      sample: 10.0.0.2
    bk_cloud_id:
      description: BK-Network area (cloud area) of the host; 0 is the default area.
      type: int
      sample: 0
    step_instance_id:
      description: The step the host failed in.
      type: int
      sample: 30000001
    step_name:
      description: Name of that step.
      type: str
      sample: check env
    status:
      description: JOB's host status code in that step (as RV(steps[].hosts[].status)).
      type: int
      sample: 104
    status_name:
      description: Name of RV(failed_hosts[].status).
      type: str
      sample: script_nonzero_exit
    exit_code:
      description: Exit code of the script on the host; null for file steps.
      type: int
      sample: 1
    error_code:
      description: JOB's error code for the host (0 when none).
      type: int
      sample: 0
host_results_truncated:
  description:
    - Whether hosts were left out of RV(steps[].hosts), RV(failed_hosts) or RV(retries[].hosts) because a list reached
      O(max_host_results); a warning then says how many. RV(host_summary) counts every host.
  returned: success
  type: bool
  sample: false
retries:
  description:
    - What O(retry_failed_hosts) did, one item per step it retried, in the order retried; empty when nothing was
      retried. A host that recovered has RV(retries[].hosts[].recovered) true; those still failed are also in
      RV(failed_hosts).
  returned: success
  type: list
  elements: dict
  contains:
    step_instance_id:
      description: The retried step.
      type: int
      sample: 30000001
    step_name:
      description: Name of the retried step.
      type: str
      sample: check env
    rounds:
      description: Retries sent for the step (C(operate_step_instance) operation 2), at most O(retry_failed_hosts).
      type: int
      sample: 2
    hosts_recovered:
      description: Hosts of RV(retries[].hosts) that succeeded in the end.
      type: int
      sample: 1
    hosts_failed:
      description: Hosts of RV(retries[].hosts) still failed in the end.
      type: int
      sample: 1
    hosts:
      description: Each host that failed in the step, with how many runs of the step it took.
      type: list
      elements: dict
      contains:
        name:
          description: The address to reach the host, as RV(failed_hosts[].name).
          type: str
          sample: 10.0.0.2
        bk_host_id:
          description: CMDB host id; null when JOB gives none.
          type: int
          sample: 102
        ip:
          description: IPv4 address of the host.
          type: str
          sample: 10.0.0.2
        bk_cloud_id:
          description: BK-Network area (cloud area) of the host.
          type: int
          sample: 0
        attempts:
          description: Runs of the step on the host, the first one included (1 + the retries it was part of).
          type: int
          sample: 2
        recovered:
          description: >-
            Whether the host succeeded in the step in the end; null when JOB's status gave no host results for the
            step.
          type: bool
          sample: true
output_vars:
  description: String global variables after the run, by name (from C(get_job_instance_global_var_value)).
  returned: success
  type: dict
  sample: {"app_version": "2.4.1"}
msg:
  description:
    - What the task did (C(Sent confirm_continue on step 30000003.)), or why it sent nothing (then C(changed) is
      false), for example that the step is confirmed already.
    - On failure, what failed and what to do.
  returned: always
  type: str
  sample: "Sent confirm_continue on step 30000003."
error:
  description:
    - What failed, for automation and for the BlueKing administrators.
  returned: failure
  type: dict
  contains:
    kind:
      description: >-
        The class of failure: C(invalid_input), C(auth), C(permission), C(api) (JOB refused the request), C(http) (a non-2xx
        answer), C(rate_limit), C(invalid_response) (not a BlueKing answer), C(transport), C(tls), C(timeout), C(job_failed).
      type: str
      sample: api
    stage:
      description: Where the task was, one of C(validate), C(auth), C(operate), C(wait), C(logs), C(terminate).
      type: str
      sample: operate
    api:
      description: The JOB API that failed; null before any request.
      type: str
      sample: get_job_instance_status
    http_status:
      description: HTTP status of the answer; null when there was none.
      type: int
      sample: 200
    code:
      description: JOB, ESB or API gateway error code (or the job's status for C(job_failed)); null when there was none.
      type: raw
      sample: 1244012
    message:
      description: The server's message, in the language JOB answers in (C(执行方案不存在) in Chinese).
      type: str
      sample: Job plan does not exist
    request_id:
      description: ESB C(request_id) or API gateway C(X-Bkapi-Request-Id); give it to the BlueKing administrators.
      type: str
      sample: c4d1e5a0b2f34e6f8d9c0a1b2c3d4e5f
    job_request_id:
      description: JOB's own request id (C(job_request_id)), when JOB answered.
      type: str
      sample: 7f3a9c1e2b4d4f6a8c0e1f2a3b4c5d6e
    permission:
      description: The IAM permission object of a 9900403 (C(system_id), C(actions) with their resources); null otherwise.
      type: dict
      sample: null
"""

from typing import Any

from ansible_collections.blueking.job.plugins.module_utils import _api
from ansible_collections.blueking.job.plugins.module_utils._args import positive_int
from ansible_collections.blueking.job.plugins.module_utils._errors import BKJobError
from ansible_collections.blueking.job.plugins.module_utils._module import build_module, run_module
from ansible_collections.blueking.job.plugins.module_utils._operate import INSTANCE_ARGSPEC, STEP_OPERATIONS, operator_for

ARGUMENT_SPEC: dict[str, Any] = {
    **INSTANCE_ARGSPEC,
    "step_instance_id": {"type": "int"},
    "step_name": {"type": "str"},
    "operation": {"type": "str", "required": True, "choices": list(STEP_OPERATIONS)},
}


def run(module, client) -> dict[str, Any]:
    params = module.params
    name = params["operation"]
    operation = STEP_OPERATIONS[name]
    operator = operator_for(module, client)
    step_instance_id = None if params["step_instance_id"] is None else positive_int(params["step_instance_id"], "step_instance_id")
    known = operator.known

    def send() -> None:
        try:
            _api.operate_step_instance(client, operator.scope, operator.job_instance_id, known["step_instance_id"], operation.code,
                                       stage="operate")
        except BKJobError as err:
            if err.code == _api.CODE_NOT_IN_CONFIRM_USER_LIST:
                raise err.reword(prefix="JOB accepts this confirmation only from the step's confirm users: ")
            raise

    operator.run(lambda: f"{name} on step {known['step_instance_id']}", operator.step_verdict(
        name, step_instance_id=step_instance_id, step_name=params["step_name"]), send)
    return operator.finish(wait=params["wait"] and not module.check_mode, ends=operation.ends)  # check mode reports, never waits


def main() -> None:
    run_module(build_module(ARGUMENT_SPEC, mutually_exclusive=[("step_instance_id", "step_name")]), run)


if __name__ == "__main__":
    main()
