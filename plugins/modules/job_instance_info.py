#!/usr/bin/python
# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: job_instance_info
short_description: Read a BlueKing JOB job instance, or wait for it
version_added: 1.0.0
description:
  - Reads one job instance of Tencent BlueKing JOB through C(get_job_instance_status), with its status, steps,
    per-host results with log tails, host summary and output variables.
  - With O(wait=true) it attaches to a job that an earlier task launched (for example
    M(blueking.job.execute_job_plan) with O(blueking.job.execute_job_plan#module:wait=false)) and applies the same
    waiting and outcome rules as M(blueking.job.execute_job_plan).
  - Never changes anything; C(changed) is always false.
author:
  - blueking.job maintainers (@blueking-job)
extends_documentation_fragment:
  - blueking.job.connection
  - blueking.job.scope
  - blueking.job.attributes
  - blueking.job.attributes.info_module
  - blueking.job.wait
  - ansible.builtin.action_common_attributes
options:
  job_instance_id:
    description: Id of the job instance.
    type: int
    required: true
  wait:
    description:
      - Wait for the job to end and fail when it ends badly, as M(blueking.job.execute_job_plan) does.
      - With V(false) the module reports the job's current state and does not judge it.
    type: bool
    default: false
  host_results:
    description:
      - Which hosts' results (status, exit code, log tail) RV(steps) carry.
    type: str
    choices: [none, failed, all]
    default: none
seealso:
  - module: blueking.job.execute_job_plan
"""

EXAMPLES = r"""
- name: Launch without waiting
  blueking.job.execute_job_plan:
    bk_biz_id: 2
    job_plan_id: 1000
    wait: false
  register: launch

- name: Do other work, then attach to the job and wait for it
  blueking.job.job_instance_info:
    bk_biz_id: 2
    job_instance_id: "{{ launch.job_instance_id }}"
    wait: true
    wait_timeout: 1800
    host_results: failed
  register: job

- name: Read a job's current state with every host's result
  blueking.job.job_instance_info:
    bk_scope_type: biz
    bk_scope_id: "2"
    job_instance_id: 20000001
    host_results: all
    log_max_bytes: 0
"""

RETURN = r"""
job_instance_id:
  description: Id of the job instance.
  returned: always
  type: int
  sample: 20000001
job_instance_name:
  description: Name of the job instance.
  returned: success
  type: str
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
finished:
  description: Whether JOB considers the job finished.
  returned: success
  type: bool
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
  description:
    - Each step with C(step_instance_id), C(name), C(type), C(status), C(status_name), C(total_time) and C(hosts),
      the per-host results chosen by O(host_results) (as in M(blueking.job.execute_job_plan)).
  returned: success
  type: list
  elements: dict
host_summary:
  description: Distinct hosts over all steps, counted as C(success), C(failed) or C(running), and their C(total).
  returned: success
  type: dict
  sample: {"total": 2, "success": 2, "failed": 0, "running": 0}
output_vars:
  description: String global variables after the run.
  returned: success
  type: dict
error:
  description: What failed, as in M(blueking.job.execute_job_plan).
  returned: failure
  type: dict
"""

from typing import Any

from ansible_collections.blueking.job.plugins.module_utils._args import (
    HOST_RESULT_CHOICES,
    WAIT_ARGSPEC,
    check_wait_options,
    job_instance_url,
    positive_int,
    scope_params,
)
from ansible_collections.blueking.job.plugins.module_utils._errors import BKJobError
from ansible_collections.blueking.job.plugins.module_utils._module import build_module, run_module
from ansible_collections.blueking.job.plugins.module_utils._outcome import JobWatcher, follow_job

ARGUMENT_SPEC: dict[str, Any] = {
    "job_instance_id": {"type": "int", "required": True},
    "wait": {"type": "bool", "default": False},
    "host_results": {"type": "str", "default": "none", "choices": list(HOST_RESULT_CHOICES)},
    **WAIT_ARGSPEC,
}


def run(module, client) -> dict[str, Any]:
    params = module.params
    check_wait_options(params)
    job_instance_id = positive_int(params["job_instance_id"], "job_instance_id")
    scope = scope_params(params)
    known: dict[str, Any] = {"changed": False, "job_instance_id": job_instance_id}
    url = job_instance_url(params, job_instance_id)
    if url:
        known["job_instance_url"] = url
    watcher = JobWatcher(client, scope, job_instance_id, warn=module.warn)
    try:
        if params["wait"]:
            result = follow_job(client, scope, job_instance_id, params, known=known, host_results=params["host_results"],
                                terminate_on_timeout=False, warn=module.warn)
        else:
            result = {**known, **watcher.report(params, params["host_results"])}
    except BKJobError as err:
        err.result.update(known)
        if err.result.get("create_time"):
            err.result["job_plan_id"] = watcher.plan_id(err.result["create_time"])
        raise
    result["job_plan_id"] = watcher.plan_id(result.get("create_time"))
    return result


def main() -> None:
    run_module(build_module(ARGUMENT_SPEC), run)


if __name__ == "__main__":
    main()
