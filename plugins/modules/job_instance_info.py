#!/usr/bin/python
# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: job_instance_info
short_description: Read a BlueKing JOB job instance, wait for it, or list job instances
version_added: 1.0.0
description:
  - With O(job_instance_id), reads one job instance of Tencent BlueKing JOB through C(get_job_instance_status), with its
    status, steps, per-host results with log tails, host summary and output variables.
  - With O(job_instance_id) and O(wait=true) it attaches to a job that an earlier task launched (for example
    M(blueking.job.execute_job_plan) with O(blueking.job.execute_job_plan#module:wait=false)) and applies the same
    waiting and outcome rules as M(blueking.job.execute_job_plan).
  - Without O(job_instance_id), lists the job instances created in a time window (by default the last 24 hours) through
    C(get_job_instance_list), every page read, newest first, filtered by O(job_plan_id) or O(job_plan_name), O(status),
    O(operator), O(launch_mode), O(type) and O(name). See RV(job_instances).
  - The options of one mode are refused in the other (for example O(status) with O(job_instance_id), or O(wait),
    O(host_results), O(retry_failed_hosts) or O(on_waiting_user) without it), so that a task never ignores what it asks
    for; set to their default value they are accepted. The options that only tune a wait or a report (timeouts, poll
    intervals, log sizes, O(max_host_results), O(show_progress)) are accepted by a listing and change nothing.
  - Changes nothing, unless it waits with O(retry_failed_hosts) or O(on_waiting_user=confirm) or
    O(on_waiting_user=terminate), which act on the job (C(operate_step_instance)); C(changed) is then true. In check
    mode such a wait sends nothing and warns what it would send. A listing never changes anything.
author:
  - blueking.job maintainers (@blueking-job)
extends_documentation_fragment:
  - blueking.job.connection
  - blueking.job.scope
  - blueking.job.attributes
  - blueking.job.attributes.info_module
  - blueking.job.wait
  - ansible.builtin.action_common_attributes
notes:
  - The O(wait) fragment's options (O(wait_timeout), O(poll_interval), ...) apply to one instance only, that is with
    O(job_instance_id).
  - JOB's C(get_job_instance_list) answers at most 30 days per query (C(EsbGetJobInstanceListV3ResourceImpl) in bk-job).
    A longer window, up to 366 days, is read as several queries of at most 30 days, newest first, because the 30 days are
    a limit of one query and not of JOB's history; how far back JOB keeps instances is its archive setting (30 days by
    default). A window longer than 366 days fails before any request, so that a mistyped year does not scan decades.
  - JOB's C(get_job_instance_list) has no plan filter, so with O(job_plan_id) or O(job_plan_name) every instance of the
    window that passes the other filters is read and the plan is matched by the module. Narrow the window or add
    O(operator), O(launch_mode) or a single O(status) when a business launches many jobs.
options:
  job_instance_id:
    description:
      - Id of the job instance to read.
      - Without it, the module lists job instances (see O(create_time_start) and the other listing options).
    type: int
  wait:
    description:
      - Wait for the job to end and fail when it ends badly, as M(blueking.job.execute_job_plan) does.
      - With V(false) the module reports the job's current state and does not judge it.
      - Only with O(job_instance_id).
    type: bool
    default: false
  host_results:
    description:
      - Which hosts' results (status, exit code, log tail) RV(steps) carry.
      - Only with O(job_instance_id).
    type: str
    choices: [none, failed, all]
    default: none
  job_plan_id:
    description:
      - List only the instances of this job plan (C(job_plan_id) of each instance JOB lists).
      - Without O(job_instance_id) only. Mutually exclusive with O(job_plan_name).
    type: int
  job_plan_name:
    description:
      - List only the instances of the job plan named exactly this (resolved to its id as
        M(blueking.job.execute_job_plan) resolves O(blueking.job.execute_job_plan#module:job_plan_name); a name no plan or
        several plans have fails).
      - Without O(job_instance_id) only. Mutually exclusive with O(job_plan_id).
    type: str
  status:
    description:
      - List only instances in one of these statuses, each a name as RV(job_instances[].status_name) gives it (V(pending),
        V(running), V(success), V(failed), V(skipped), V(ignored_error), V(waiting_user), V(terminated), V(abnormal),
        V(terminating), V(terminate_success), V(confirm_terminated), V(abandoned), V(rolling_waiting)) or JOB's status
        code (C(RunStatusEnum) in bk-job, for example V(4)).
      - One status is JOB's own filter; several are matched by the module.
      - Without O(job_instance_id) only.
    type: list
    elements: raw
  operator:
    description:
      - List only instances launched by this user (JOB's exact C(operator) filter).
      - Without O(job_instance_id) only.
    type: str
  launch_mode:
    description:
      - List only instances launched this way (JOB's C(TaskStartupModeEnum)), V(web) (the JOB console, code 1),
        V(api) (an API call such as this collection's, code 2) or V(cron) (a JOB cron job, code 3).
      - Without O(job_instance_id) only.
    type: str
    choices: [web, api, cron]
  type:
    description:
      - List only instances of this kind (JOB's C(TaskTypeEnum)), V(job_plan) (a job plan, code 0), V(script) (a quick
        script execution, code 1) or V(file) (a quick file transfer, code 2).
      - Without O(job_instance_id) only.
    type: str
    choices: [job_plan, script, file]
  name:
    description:
      - List only instances whose name contains this text (JOB's own fuzzy filter, an SQL C(LIKE) in which C(%) and C(_)
        match any text). An instance launched from a plan is named after the plan unless its launch gave another name.
      - Without O(job_instance_id) only.
    type: str
  since:
    description:
      - List the instances created in this much time before now, a number and a unit, V(s), V(m), V(h), V(d) or V(w)
        (for example V(30m), V(24h), V(7d)).
      - When neither O(since) nor O(create_time_start) is given, the window is the last 24 hours.
      - Without O(job_instance_id) only. Mutually exclusive with O(create_time_start) and O(create_time_end).
    type: str
  create_time_start:
    description:
      - List the instances created at or after this time, Unix time in milliseconds as JOB counts it (an integer, like
        RV(job_instances[].create_time)), or an ISO 8601 date or date-time such as V(2026-11-28) or
        V(2026-11-28T10:00:00+08:00) (UTC when it names no offset).
      - A number smaller than 100000000000 (1973 in milliseconds) is refused as probably being seconds.
      - Default, the last 24 hours before O(create_time_end) (see O(since)).
      - Without O(job_instance_id) only.
    type: raw
  create_time_end:
    description:
      - List the instances created at or before this time, in the same forms as O(create_time_start).
      - Default, now.
      - Without O(job_instance_id) only.
    type: raw
  limit:
    description:
      - List at most this many instances, the newest; RV(truncated) says whether more matched. V(0) lists all.
      - Without O(job_instance_id) only.
    type: int
    default: 1000
seealso:
  - module: blueking.job.execute_job_plan
  - module: blueking.job.job_plan_info
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

- name: List the runs of plan deploy-app in the last 24 hours
  blueking.job.job_instance_info:
    bk_biz_id: 2
    job_plan_name: deploy-app
  register: runs

- name: Show the failed or terminated runs launched through the API in the last 7 days
  blueking.job.job_instance_info:
    bk_biz_id: 2
    status: [failed, terminated]
    launch_mode: api
    since: 7d
  register: bad_runs

- name: Wait for every run of the plan that is still going
  blueking.job.job_instance_info:
    bk_biz_id: 2
    job_instance_id: "{{ item.job_instance_id }}"
    wait: true
  loop: "{{ runs.job_instances | rejectattr('job_finished') }}"

- name: List what admin launched in November 2026 (two queries of at most 30 days)
  blueking.job.job_instance_info:
    bk_biz_id: 2
    operator: admin
    create_time_start: "2026-11-01T00:00:00+08:00"
    create_time_end: "2026-12-01T00:00:00+08:00"
    limit: 0
"""

RETURN = r"""
job_instances:
  description: >-
    The job instances created in the window that pass the filters, newest first, at most O(limit) (from
    C(get_job_instance_list), C(EsbTaskInstanceV3DTO) in bk-job).
  returned: without O(job_instance_id)
  type: list
  elements: dict
  contains:
    job_instance_id:
      description: Id of the job instance.
      type: int
      sample: 20000001
    name:
      description: Name of the job instance; a launch of a plan is named after the plan unless it gave another name.
      type: str
      sample: deploy-app
    status:
      description: JOB's job status code (C(RunStatusEnum)).
      type: int
      sample: 3
    status_name:
      description: Name of RV(job_instances[].status), the names O(status) accepts.
      type: str
      sample: success
    job_finished:
      description: Whether the status is a final one.
      type: bool
      sample: true
    operator:
      description: User who launched the instance.
      type: str
      sample: admin
    launch_mode:
      description: How it was launched, JOB's code (C(TaskStartupModeEnum)), 1 web, 2 api, 3 cron.
      type: int
      sample: 2
    launch_mode_name:
      description: Name of RV(job_instances[].launch_mode), V(web), V(api) or V(cron); null for a code this module does not know.
      type: str
      sample: api
    type:
      description: What it ran, JOB's code (C(TaskTypeEnum)), 0 a job plan, 1 a quick script, 2 a quick file transfer.
      type: int
      sample: 0
    type_name:
      description: Name of RV(job_instances[].type), V(job_plan), V(script) or V(file); null for a code this module does not know.
      type: str
      sample: job_plan
    job_plan_id:
      description: Id of the job plan it ran (JOB's C(job_plan_id)); null or 0 for a quick script or file transfer.
      type: int
      sample: 1000
    job_template_id:
      description: Id of the job template of that plan.
      type: int
      sample: 100
    create_time:
      description: Creation of the instance, Unix time in milliseconds.
      type: int
      sample: 1764403200000
    start_time:
      description: Start of the job, Unix time in milliseconds; null before it started.
      type: int
      sample: 1764403200120
    end_time:
      description: End of the job, Unix time in milliseconds; null while it runs.
      type: int
      sample: 1764403261000
    total_time:
      description: Duration in milliseconds; null before the end (JOB computes it while the job runs or waits for a person).
      type: int
      sample: 60880
    job_instance_url:
      description: Link to the job in the JOB web console.
      returned: when O(bk_job_web_url) is set
      type: str
      sample: https://job.example.com/api_execute/20000001
job_instance_count:
  description: Number of items of RV(job_instances).
  returned: without O(job_instance_id)
  type: int
  sample: 12
truncated:
  description: Whether more instances matched than O(limit) allowed; RV(job_instances) then holds the newest O(limit).
  returned: without O(job_instance_id)
  type: bool
  sample: false
create_time_start:
  description: Start of the window read, Unix time in milliseconds.
  returned: without O(job_instance_id)
  type: int
  sample: 1764316800000
create_time_end:
  description: End of the window read, Unix time in milliseconds.
  returned: without O(job_instance_id)
  type: int
  sample: 1764403200000
job_instance_id:
  description: Id of the job instance.
  returned: with O(job_instance_id)
  type: int
  sample: 20000001
job_instance_name:
  description: Name of the job instance; JOB names a launch after its plan.
  returned: success with O(job_instance_id)
  type: str
  sample: deploy-app
job_plan_id:
  description: Id of the job plan the instance ran, from JOB's history (C(get_job_instance_list)); null when unknown.
  returned: success with O(job_instance_id)
  type: int
  sample: 1000
create_time:
  description: Creation of the job instance, Unix time in milliseconds.
  returned: success with O(job_instance_id)
  type: int
job_instance_url:
  description: Link to the job in the JOB web console.
  returned: with O(job_instance_id), when O(bk_job_web_url) is set
  type: str
status:
  description: JOB's job status code.
  returned: success with O(job_instance_id)
  type: int
  sample: 3
status_name:
  description: Name of RV(status), for example C(success), C(failed) or C(waiting_user).
  returned: success with O(job_instance_id)
  type: str
  sample: success
job_finished:
  description:
    - Whether JOB considers the job finished (JOB's C(finished), renamed because Ansible's C(async_status) owns C(finished)).
  returned: success with O(job_instance_id)
  type: bool
  sample: true
start_time:
  description: Start of the job, Unix time in milliseconds.
  returned: success with O(job_instance_id)
  type: int
end_time:
  description: End of the job, Unix time in milliseconds.
  returned: success with O(job_instance_id)
  type: int
total_time:
  description: Duration in milliseconds.
  returned: success with O(job_instance_id)
  type: int
steps:
  description: Each step with its status and the hosts chosen by O(host_results).
  returned: success with O(job_instance_id)
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
  returned: success with O(job_instance_id)
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
  returned: success with O(job_instance_id)
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
retries:
  description:
    - What O(retry_failed_hosts) did, one item per step it retried, in the order retried; empty when nothing was
      retried. A host that recovered has RV(retries[].hosts[].recovered) true; those still failed are also in
      RV(failed_hosts).
  returned: success with O(job_instance_id)
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
host_results_truncated:
  description:
    - Whether hosts were left out of RV(steps[].hosts), RV(failed_hosts) or RV(retries[].hosts) because a list reached
      O(max_host_results); a warning then says how many. RV(host_summary) counts every host.
  returned: success with O(job_instance_id)
  type: bool
  sample: false
output_vars:
  description: String global variables after the run, by name (from C(get_job_instance_global_var_value)).
  returned: success with O(job_instance_id)
  type: dict
  sample: {"app_version": "2.4.1"}
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
      description: Where the task was, one of C(validate), C(auth), C(lookup), C(launch), C(wait), C(logs), C(terminate), C(operate).
      type: str
      sample: wait
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

from datetime import datetime, timezone
import math
import re
import time
from typing import Any, Callable

from ansible_collections.blueking.job.plugins.module_utils import _api
from ansible_collections.blueking.job.plugins.module_utils._args import (
    HOST_RESULT_CHOICES,
    MAX_ID,
    WAIT_ARGSPEC,
    job_instance_url,
    positive_int,
    scope_params,
    wait_options,
)
from ansible_collections.blueking.job.plugins.module_utils._errors import BKJobError, InputError
from ansible_collections.blueking.job.plugins.module_utils._module import build_module, run_module
from ansible_collections.blueking.job.plugins.module_utils._plan import plan_id_by_name
from ansible_collections.blueking.job.plugins.module_utils._report import STATUSES, JobInstance, job_finished, status_name

# TaskStartupModeEnum (job-execute/api-job-execute/.../execute/common/constants/TaskStartupModeEnum.java): JOB's names.
LAUNCH_MODES = {"web": _api.LAUNCH_MODE_WEB, "api": _api.LAUNCH_MODE_API, "cron": _api.LAUNCH_MODE_CRON}
# TaskTypeEnum (job-execute/api-job-execute/.../execute/common/constants/TaskTypeEnum.java): NORMAL, SCRIPT, FILE.
TASK_TYPES = {"job_plan": _api.TASK_TYPE_NORMAL, "script": _api.TASK_TYPE_SCRIPT, "file": _api.TASK_TYPE_FILE}
STATUS_CODES = {name: code for code, (name, _verdict) in STATUSES.items()}

# EsbGetJobInstanceListV3ResourceImpl.checkRequest refuses create_time_end - create_time_start above
# Consts.MAX_SEARCH_TASK_HISTORY_RANGE_MILLS (job-execute/service-job-execute/.../execute/constants/Consts.java).
QUERY_SPAN_MS = 30 * 24 * 3600 * 1000
MAX_WINDOW_MS = 366 * 24 * 3600 * 1000  # at most 13 queries of 30 days: a mistyped year fails instead of scanning decades
DEFAULT_SINCE = "24h"
DEFAULT_LIMIT = 1000
EARLIEST_MS = 10 ** 11  # 1973-03-03 in milliseconds; a smaller number is Unix time in seconds given by mistake
SINCE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhdw])\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

# Only with job_instance_id: what a listing cannot do. The other wait options (timeouts, poll intervals, log sizes,
# max_host_results, show_progress) only tune a wait or a report; a listing has neither, so it accepts them (from
# module_defaults for the modules that wait, say) and they change nothing.
INSTANCE_OPTIONS = ("wait", "host_results", "retry_failed_hosts", "on_waiting_user")
LIST_OPTIONS = ("job_plan_id", "job_plan_name", "status", "operator", "launch_mode", "type", "name", "since",
                "create_time_start", "create_time_end", "limit")  # only without it

ARGUMENT_SPEC: dict[str, Any] = {
    "job_instance_id": {"type": "int"},
    "wait": {"type": "bool", "default": False},
    "host_results": {"type": "str", "default": "none", "choices": list(HOST_RESULT_CHOICES)},
    **WAIT_ARGSPEC,
    "job_plan_id": {"type": "int"},
    "job_plan_name": {"type": "str"},
    "status": {"type": "list", "elements": "raw"},
    "operator": {"type": "str"},
    "launch_mode": {"type": "str", "choices": list(LAUNCH_MODES)},
    "type": {"type": "str", "choices": list(TASK_TYPES)},
    "name": {"type": "str"},
    "since": {"type": "str"},
    "create_time_start": {"type": "raw"},
    "create_time_end": {"type": "raw"},
    "limit": {"type": "int", "default": DEFAULT_LIMIT},
}
CONSTRAINTS: dict[str, Any] = {
    "mutually_exclusive": [("job_plan_id", "job_plan_name"), ("since", "create_time_start"), ("since", "create_time_end")],
}


def _given(module: Any, option: str) -> bool:
    """Whether the task (or module_defaults) set ``option`` to something other than its default."""
    if option not in getattr(module, "task_options", set(module.params)):
        return False
    return module.params.get(option) != ARGUMENT_SPEC[option].get("default")


def check_mode_options(module: Any) -> None:
    """Options of the other mode are refused: a task never silently ignores what it was asked."""
    if module.params.get("job_instance_id") is not None:
        wrong = [option for option in LIST_OPTIONS if _given(module, option)]
        if wrong:
            raise InputError(f"Listing options ({', '.join(wrong)}) filter the list of job instances, which is read without "
                             "job_instance_id; with job_instance_id the module reads that one instance. Remove one or the other.")
    else:
        wrong = [option for option in INSTANCE_OPTIONS if _given(module, option)]
        if wrong:
            raise InputError(f"Options for one job instance ({', '.join(wrong)}) need job_instance_id: without it the module "
                             "lists job instances and does not wait for, act on or report the hosts of any of them.")


# ---------------------------------------------------------------------------------------------- time window
def epoch_ms(value: Any, option: str) -> int:
    """Unix time in milliseconds from an int (or a string of digits) in milliseconds, or an ISO 8601 date or date-time
    string (``2026-11-28``, ``2026-11-28T10:00:00+08:00``, ``...Z``; UTC when it names no offset)."""
    if isinstance(value, float) and math.isfinite(value):
        value = int(value)  # arithmetic in a template gives floats
    if isinstance(value, (bool, float)) or not isinstance(value, (int, str)):
        raise InputError(f"{option} must be Unix time in milliseconds (an integer) or an ISO 8601 date-time, got {value!r}.")
    text = str(value).strip()
    if isinstance(value, int) or text.isdigit():
        number = int(text)
        if number < EARLIEST_MS:
            raise InputError(f"{option} must be Unix time in milliseconds, as JOB counts it; {number} is before 1973 "
                             f"(Unix time in seconds? then give {number * 1000}).")
        if number > MAX_ID:
            raise InputError(f"{option} must be Unix time in milliseconds, at most {MAX_ID} (JOB's times are Java longs).")
        return number
    iso = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise InputError(f"{option} must be Unix time in milliseconds or an ISO 8601 date-time such as "
                         f"2026-11-28T10:00:00+08:00, got {value!r}.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def since_ms(value: str) -> int:
    """``since`` (a number and a unit: s, m, h, d or w) in milliseconds."""
    match = SINCE.match(value or "")
    if not match or float(match.group(1)) <= 0:
        raise InputError(f"since must be a positive number with a unit, s, m, h, d or w (such as 30m, 24h, 7d), got {value!r}.")
    span = float(match.group(1)) * UNIT_SECONDS[match.group(2)] * 1000
    if not math.isfinite(span) or span > MAX_WINDOW_MS:
        raise InputError(f"since is {value!r}; this module reads at most 366 days (JOB answers 30 days per query, and a "
                         "longer window is read as several queries).")
    return int(span)


def time_window(params: dict[str, Any], now_ms: int) -> tuple[int, int]:
    """(create_time_start, create_time_end) in ms: the options as given, else the last ``since`` (default 24 h)."""
    end = now_ms if params.get("create_time_end") is None else epoch_ms(params["create_time_end"], "create_time_end")
    if params.get("create_time_start") is not None:
        start = epoch_ms(params["create_time_start"], "create_time_start")
    else:
        start = end - since_ms(params.get("since") or DEFAULT_SINCE)
    if start >= end:
        raise InputError(f"create_time_start ({start}) must be before create_time_end ({end}) (Unix time in milliseconds).")
    if end - start > MAX_WINDOW_MS:
        raise InputError(f"The time window is {(end - start) / 86400000:.1f} days; this module reads at most 366 days "
                         "(JOB answers 30 days per query, and a longer window is read as several queries).")
    return start, end


def query_windows(start: int, end: int) -> list[tuple[int, int]]:
    """The window as JOB's queries of at most 30 days, newest first. JOB's bounds are inclusive and it refuses a query
    whose end is not after its start (1241007), so neighbours share their boundary millisecond (an instance created
    then is listed once) and no query is shorter than 1 ms."""
    windows = []
    upper = end
    while upper - start > QUERY_SPAN_MS:
        windows.append((upper - QUERY_SPAN_MS, upper))
        upper -= QUERY_SPAN_MS
    windows.append((start, upper))
    return windows


# ---------------------------------------------------------------------------------------------- filters
def status_codes(values: list[Any] | None) -> list[int]:
    """``status`` as JOB's codes: names as this module reports them (status_name) or RunStatusEnum codes."""
    codes = []
    for value in values or []:
        text = str(value).strip().lower()
        if text in STATUS_CODES:
            codes.append(STATUS_CODES[text])
        elif not isinstance(value, bool) and text.isdigit() and int(text) in STATUSES:
            codes.append(int(text))
        else:
            raise InputError(f"status {value!r} is not a JOB job status; use a name ({', '.join(STATUS_CODES)}) or its code.")
    return sorted(set(codes))


def list_filters(client: Any, scope: dict[str, Any], params: dict[str, Any]) -> tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]:
    """JOB's own filters (sent) and the test the module applies to each item (plan, several statuses)."""
    codes = status_codes(params.get("status"))
    if params.get("status") is not None and not codes:
        raise InputError("status must name at least one job status.")
    plan_id = None
    if params.get("job_plan_id") is not None:
        plan_id = positive_int(params["job_plan_id"], "job_plan_id")
    elif params.get("job_plan_name") is not None:
        if not params["job_plan_name"].strip():
            raise InputError("job_plan_name is empty; give the plan's exact name, or leave the option out to list every plan's instances.")
        plan_id = plan_id_by_name(client, scope, params["job_plan_name"])
    sent = {
        "operator": params.get("operator") or None,
        "name": params.get("name") or None,
        "launch_mode": LAUNCH_MODES.get(params.get("launch_mode")),
        "type": TASK_TYPES.get(params.get("type")),
        # JOB filters one status; several are filtered here
        "status": codes[0] if len(codes) == 1 else None,
    }

    def wanted(item: dict[str, Any]) -> bool:
        # get_job_instance_list (v3) has no plan filter (EsbGetJobInstanceListV3Request): the plan is matched here
        if plan_id is not None and item.get("job_plan_id") != plan_id:
            return False
        return not codes or item.get("status") in codes
    return {key: value for key, value in sent.items() if value is not None}, wanted


def describe_instance(item: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A get_job_instance_list item (EsbTaskInstanceV3DTO) as the module reports it."""
    job_instance_id = item.get("job_instance_id")
    status = item.get("status")
    mode = item.get("launch_mode")
    task_type = item.get("type")
    described = {
        "job_instance_id": job_instance_id,
        "name": item.get("name"),
        "status": status,
        "status_name": status_name(status),
        "job_finished": job_finished(status),
        "operator": item.get("operator"),
        "launch_mode": mode,
        "launch_mode_name": next((name for name, code in LAUNCH_MODES.items() if code == mode), None),
        "type": task_type,
        "type_name": next((name for name, code in TASK_TYPES.items() if code == task_type), None),
        "job_plan_id": item.get("job_plan_id"),
        "job_template_id": item.get("job_template_id"),
        "create_time": item.get("create_time"),
        "start_time": item.get("start_time"),
        "end_time": item.get("end_time"),
        "total_time": item.get("total_time"),
    }
    url = job_instance_url(params, job_instance_id) if job_instance_id is not None else None
    if url:
        described["job_instance_url"] = url
    return described


def list_instances(module: Any, client: Any, *, now_ms: int | None = None) -> dict[str, Any]:
    """The instances created in the window that pass the filters, newest first, at most ``limit`` (0: all)."""
    params = module.params
    scope = scope_params(params)
    limit = params.get("limit")
    if limit is None or isinstance(limit, bool) or limit < 0:
        raise InputError(f"limit must be 0 (no limit) or a positive number of job instances, got {limit!r}.")
    start, end = time_window(params, int(time.time() * 1000) if now_ms is None else now_ms)
    sent, wanted = list_filters(client, scope, params)
    found: list[dict[str, Any]] = []
    seen: set[Any] = set()
    truncated = False
    for window_start, window_end in query_windows(start, end):
        offset = 0
        for _page in range(_api.MAX_PAGES):
            try:
                items, total = _api.get_job_instance_list_page(client, scope, create_time_start=window_start,
                                                               create_time_end=window_end, start=offset, stage="lookup", **sent)
            except BKJobError as err:
                if offset and err.code == _api.CODE_ILLEGAL_PARAM_WITH_PARAM_NAME_AND_REASON:
                    # job.execute's openapi.v3GetJobInstanceList.startLimitEnabled refuses a page starting beyond
                    # maxStart (OpenApiProperties, 1000 by default)
                    err.reword(suffix=f"JOB refuses pages that start this far ({offset} instances of one 30-day query "
                                      "already read): narrow the time window, add filters or lower limit.")
                raise
            offset += len(items)
            for item in items:
                if item.get("job_instance_id") in seen or not wanted(item):
                    continue
                if limit and len(found) >= limit:
                    truncated = True
                    break
                seen.add(item.get("job_instance_id"))
                found.append(describe_instance(item, params))
            if truncated or not items or (offset >= total if total is not None else len(items) < _api.PAGE_LENGTH):
                break
        if truncated:
            break
    return {"changed": False, "job_instances": found, "job_instance_count": len(found), "truncated": truncated,
            "create_time_start": start, "create_time_end": end}


# ---------------------------------------------------------------------------------------------- one instance
def read_instance(module: Any, client: Any) -> dict[str, Any]:
    params = module.params
    options = wait_options(params)
    job_instance_id = positive_int(params["job_instance_id"], "job_instance_id")
    scope = scope_params(params)
    known: dict[str, Any] = {"changed": False, "job_instance_id": job_instance_id}
    url = job_instance_url(params, job_instance_id)
    if url:
        known["job_instance_url"] = url
    watcher = None
    if params["wait"]:
        # Imported only here: a task that does not wait never loads (and, from AnsiballZ's zip, compiles) the wait.
        from ansible_collections.blueking.job.plugins.module_utils import _progress
        from ansible_collections.blueking.job.plugins.module_utils._wait import JobWatcher

        # progress lines while waiting, when the module runs in the controller's process (plugins/action)
        # in check mode the watcher sends no step operation (retry, confirm, terminate), it says what it would send
        watcher = JobWatcher(client, scope, job_instance_id, warn=module.warn, progress=_progress.for_wait(options),
                             check_mode=module.check_mode)
    job = watcher or JobInstance(client, scope, job_instance_id, warn=module.warn)  # one object reads, waits for and reports the job
    try:
        result = watcher.wait_and_report(options, known=known) if watcher else {**known, **job.report(options)}
    except BKJobError as err:
        # changed stays as the wait set it: true once it sent (or in check mode would send) a step operation
        err.keep({key: value for key, value in known.items() if key not in err.result or key != "changed"})
        if err.result.get("create_time"):
            err.keep({"job_plan_id": job.plan_id(err.result["create_time"])})
        raise
    result["job_plan_id"] = job.plan_id(result.get("create_time"))
    return result


def run(module, client) -> dict[str, Any]:
    check_mode_options(module)
    if module.params.get("job_instance_id") is None:
        return list_instances(module, client)
    return read_instance(module, client)


def main() -> None:
    run_module(build_module(ARGUMENT_SPEC, **CONSTRAINTS), run)


if __name__ == "__main__":
    main()
