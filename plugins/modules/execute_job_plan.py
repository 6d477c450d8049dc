#!/usr/bin/python
# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: execute_job_plan
short_description: Launch a BlueKing JOB job plan
version_added: 1.0.0
description:
  - Launches a job plan (作业执行方案) of Tencent BlueKing JOB through the C(execute_job_plan) API, through
    BlueKing ESB or the bk-job API gateway, and reports the job instance it created.
  - Global variables are given in the API's own shape (O(global_var_list)) or as a name-to-value mapping
    (O(global_vars)). Every value is checked before anything is sent.
  - A job is never started twice by one task, and never taken for this task's unless this task created it
    (see the notes).
  - By default the module then waits for the job to end and reports its outcome (status, per-step and
    per-host results with the tail of each chosen host's log, a host summary and the output variables).
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
    details: Resolves the plan, validates the variables and reports the C(global_var_list) that would be sent; launches nothing.
  diff_mode:
    support: full
    details: Shows the plan's default variable values against the values the launch sends, passwords masked.
options:
  job_plan_id:
    description:
      - Id of the job plan to launch (C(job_plan_id)). Must be a positive integer.
      - Exactly one of O(job_plan_id) and O(job_plan_name) is required.
    type: int
  job_plan_name:
    description:
      - Exact name of the job plan to launch, resolved with C(get_job_plan_list). JOB's name filter is fuzzy,
        so every page is read and only exact matches count; none or several fail and list the candidates with their ids.
    type: str
  validate_vars:
    description:
      - Before launching, read the plan (C(get_job_plan_detail)) and check the variables against it. Unknown
        names or ids, an entry whose C(id) and C(name) name two different variables, two entries for one variable
        (one by id, one by name), a host value for a value variable (or the reverse), and required variables left
        empty are all named in one failure, and nothing is launched.
      - With V(false) the plan is not read (unless in diff mode), and JOB silently ignores variables the plan does not have.
        When some entries give only an id and others only a name, a warning says that JOB uses the entry with the id
        if both are the same variable.
    type: bool
    default: true
  secret_var_names:
    description:
      - Names of variables whose values are secret, or their ids written as strings (V("3")), for entries given by id.
        Their values are masked in every result, diff, warning and error, also when the task's arguments fail their
        check, like password variables (type 4), which are recognised from the plan when O(validate_vars) is true.
      - Variables are also secret when a word part of their name says so. Names are split on C(_), C(-), C(.) and
        camelCase, and a part C(password), C(passwd), C(pass), C(pwd), C(passphrase), C(secret), C(token) or C(credential)
        (or their plurals), or C(key) after C(private), C(api), C(access), C(secret), C(ssh), C(signing), C(encryption),
        C(auth) or C(master), makes a name secret; so do C(apikey), C(privatekey), C(accesskey) and C(secretkey).
        C(db_password), C(dbPassword), C(api_token) and C(ssh_private_key) are secret; C(bypass_cache), C(compass),
        C(keyboard), C(tokenizer_mode) and C(cache_key) are not.
      - Ansible masks a secret value everywhere in the output only when it cannot occur there by chance, that is, at least
        8 characters, not only digits and punctuation, and mixing letters with digits or other characters (or 16 and
        more characters). A shorter or more common value (V(1), V(true), V(admin)) would wipe every id, name and status
        that contains it, so it is masked where the module reports it (RV(global_var_list), the diff, the task's
        arguments) and, for a password variable or a name in this list, a warning says so.
      - Use it when O(validate_vars=false), or for a variable with another name that carries a secret.
    type: list
    elements: str
    default: []
  global_var_list:
    description:
      - Global variables in the shape of the API's C(global_var_list). Variables the plan has but this list
        does not set keep the plan's defaults.
      - Each entry is a mapping with C(id) (positive integer) or C(name) (when both are given JOB uses the id, so
        with O(validate_vars) they must name the same variable), and either C(value) (value variables) or C(server)
        (host variables).
      - A variable as C(blueking.job.job_plan_info) reports it is taken too. Its C(type), C(type_name),
        C(required), C(description) and C(used) are not sent; a variable without a default (no C(value), no C(server))
        and a password variable with its masked value C(********) are left out, so that they keep the plan's values.
      - C(value) is the value of a string, password, namespace or array variable. JOB values are strings; integers
        and floats are sent in their string form and booleans as V(true) or V(false). A list or a mapping fails;
        write an array variable as a string such as C((a b c)).
      - C(server) holds the hosts of a host variable, a mapping with any of C(host_id_list) (list of CMDB host ids),
        C(ip_list) (list of C({bk_cloud_id, ip}); C(bk_cloud_id) defaults to 0; IPv4 only; the C(bk_host_id),
        C(bk_cloud_name), C(ipv6), C(bk_agent_id) and C(alive) JOB reports are accepted and not sent),
        C(dynamic_group_list) (list of C({id})) and C(topo_node_list) (list of C({id, node_type})).
      - C(host_id_list) and C(ip_list) cannot both be given, as JOB uses C(host_id_list) and ignores C(ip_list) then.
      - Mutually exclusive with O(global_vars).
    type: list
    elements: dict
  global_vars:
    description:
      - "Shorthand for O(global_var_list) by name: C(name: value) for value variables and
        C(name: {host_id_list: [...], ip_list: [...], ...}) for host variables."
      - Mutually exclusive with O(global_var_list).
    type: dict
  callback_url:
    description:
      - URL JOB calls when the job ends (see JOB's callback protocol). Sent exactly as written, without surrounding
        spaces; an empty string (for example from C({{ cb | default('') }})) means no callback and is not sent.
      - Must be an C(http) or C(https) URL that JOB accepts, which is checked before anything is sent. No user name or
        password in the URL (recent JOB refuses a callback URL with user info); a host name of letters, digits and
        C(-) only (no C(_)), or an IP address; no spaces, quotes or other characters a URL must percent-encode.
      - With O(callback_listen), the URL at which JOB reaches this module's listener.
    type: str
  callback_listen:
    description:
      - Have JOB's callback end the wait as soon as the job ends, instead of the next status poll finding it.
        The module listens on this C(address:port) (an IP address, V(0.0.0.0) or V(::) for all, port V(0) for any free
        one) while it waits, and launches the job with O(callback_url) pointing at the listener.
      - Without O(callback_url) the URL is C(http://<address>:<port>/bk-job-callback/<random token>), so the address
        must be one JOB's servers reach. Behind NAT, a proxy or a DNS name, set O(callback_url) to the URL JOB
        should call; the listener then answers on that URL's path only.
      - A callback only wakes the wait up; the result always comes from C(get_job_instance_status). While the
        listener waits, status polls run every O(poll_max_interval) only, as a safety net for a lost callback
        (JOB tries twice, then gives up; an egress allow-list may drop it) or a job waiting for a person.
      - JOB may check callback URLs against an allow-list (C(job.execute.check-callback-url) in JOB's configuration,
        off by default; then only URLs under its C(allowed-base-urls), on the BlueKing domain or in the
        C(callback_url_white_info) table pass). When JOB refuses the listener's URL (1240003, nothing is created),
        the module warns, launches once more without O(callback_url) and waits by polling.
      - The listener speaks plain HTTP and lives only for this task. Needs O(wait=true).
    type: str
  start_task:
    description:
      - Whether JOB starts the job right away (JOB 3.10 and later).
      - Unset, the module creates the instance with C(start_task) V(false) and then starts that instance with
        C(operate_job_instance) code 2, so that a lost answer never leaves a doubt (see the notes).
      - V(false) creates the instance without starting it, and needs O(wait=false). JOB before 3.10 ignores it and
        starts the job; the module then warns that the job is running.
      - V(true) is JOB's own one-step launch. When its answer is lost after the request may have reached JOB, the
        task fails saying the job may have started and names the instances that could be it.
    type: bool
  wait:
    description:
      - Wait for the job to end and report its outcome. With V(false) the module returns right after the launch.
      - Under C(async), a wait longer than the async limit loses the job id (async_wrapper kills the module). Keep
        O(wait_timeout) below the async limit, use C(poll=0) with C(async_status), or use V(false) and
        M(blueking.job.job_instance_info) to follow the job later.
    type: bool
    default: true
  terminate_on_timeout:
    description:
      - When O(wait_timeout) passes, terminate the job (C(operate_job_instance) code 1) and wait briefly for its
        terminated status. Otherwise the job keeps running in JOB and the task fails with its id.
    type: bool
    default: false
  host_results:
    description:
      - Which hosts' results (status, exit code, log tail) the result's RV(steps) carry.
    type: str
    choices: [none, failed, all]
    default: failed
notes:
  - A launch answer that proves the request never reached JOB (a gateway or ESB rate limit, a refused connection,
    a DNS failure) is sent again with bounded backoff; a TLS handshake failure is not, since sending again cannot fix it.
  - The launch has two phases. C(execute_job_plan) with C(start_task=false) creates the instance, which JOB keeps
    in status 1 (it never starts on its own), then C(operate_job_instance) code 2 starts that id; JOB starts only an
    instance in status 1 and refuses a second start. When the create's answer is lost after the request may have
    reached JOB (read timeout, connection reset after sending, HTTP 5xx, an unreadable answer), the create is sent
    again (at most 3 creates), since the lost one can only have left an unstarted instance, which a warning names. When
    the start's answer is lost, the instance's status tells whether it started, and the start is sent again only
    while it has not.
  - No instance is ever adopted on plan and time alone. A JOB older than 3.10 ignores C(start_task) and starts the
    job at the create; the module finds this out (C(operate_job_instance) code 2 on an id that cannot exist) before
    it creates again, and then, as with O(start_task=true), an unclear answer fails the task, which says the job may have
    started and lists the instances of the plan launched through the API around the send (by O(bk_username); by any
    operator with O(bk_token) or O(bk_access_token)) with their ids and links.
  - C(changed) is true whenever a job instance was created, also when the task then fails or times out;
    RV(job_instance_id) is in every such result.
  - Works under C(async) and C(poll), and from AWX/AAP.
seealso:
  - name: JOB execute_job_plan API
    description: The JOB API this module calls.
    link: https://github.com/TencentBlueKing/bk-job/blob/master/support-files/bk-api-gateway/v3/apidocs/zh/execute_job_plan.md.j2
"""

EXAMPLES = r"""
- name: Launch a job plan through ESB
  blueking.job.execute_job_plan:
    bk_api_url: https://paas.example.com
    bk_app_code: my-app
    bk_app_secret: "{{ vault_bk_app_secret }}"
    bk_username: admin
    bk_biz_id: 2
    job_plan_id: 1000
    global_vars:
      app_version: "2.4.1"
      target_hosts:
        host_id_list: [101, 102]
  register: launch

- name: Launch through the API gateway, connection set once for the play
  module_defaults:
    group/blueking.job.bk_job:
      bk_api_url: https://bkapi.example.com/api/bk-job/prod
      bk_api_type: apigw
      bk_app_code: my-app
      bk_app_secret: "{{ vault_bk_app_secret }}"
      bk_username: admin
  blueking.job.execute_job_plan:
    bk_scope_type: biz
    bk_scope_id: "2"
    job_plan_id: 1000
    global_var_list:
      - name: app_version
        value: "2.4.1"
      - id: 2
        server:
          ip_list:
            - ip: 10.0.0.1
            - bk_cloud_id: 1
              ip: 10.0.0.2
    callback_url: https://hooks.example.com/bk-job/
"""

RETURN = r"""
job_instance_id:
  description: Id of the job instance JOB created.
  returned: success
  type: int
  sample: 20000001
job_instance_name:
  description: Name of the job instance; JOB names a launch after its plan.
  returned: success
  type: str
  sample: deploy-app
job_instance_url:
  description: Link to the job in the JOB web console.
  returned: success and O(bk_job_web_url) is set
  type: str
  sample: https://job.example.com/api_execute/20000001
job_plan_id:
  description: Id of the launched job plan.
  returned: always
  type: int
  sample: 1000
request_id:
  description: Request id of the launch (ESB C(request_id), gateway C(X-Bkapi-Request-Id) or JOB C(job_request_id)).
  returned: success
  type: str
  sample: 0a1b2c3d4e5f67890a1b2c3d4e5f6789
status:
  description: JOB's job status code (3 success, 4 failed, 7 waiting for a person, ...).
  returned: when waited
  type: int
  sample: 3
status_name:
  description:
    - Name of RV(status), one of C(pending), C(running), C(success), C(failed), C(skipped), C(ignored_error),
      C(waiting_user), C(terminated), C(abnormal), C(terminating), C(terminate_success), C(confirm_terminated),
      C(abandoned), C(rolling_waiting).
  returned: when waited
  type: str
  sample: success
job_finished:
  description:
    - Whether JOB considers the job finished (JOB's C(finished), renamed because Ansible's C(async_status) owns C(finished)).
  returned: when waited
  type: bool
  sample: true
create_time:
  description: Creation of the job instance, Unix time in milliseconds.
  returned: when waited
  type: int
start_time:
  description: Start of the job, Unix time in milliseconds.
  returned: when waited
  type: int
end_time:
  description: End of the job, Unix time in milliseconds.
  returned: when waited
  type: int
total_time:
  description: Duration in milliseconds.
  returned: when waited
  type: int
steps:
  description: Each step with its status and the hosts chosen by O(host_results).
  returned: when waited
  type: list
  elements: dict
  contains:
    step_instance_id:
      description: Step instance id.
      type: int
    name:
      description: Step name.
      type: str
    type:
      description: 1 script, 2 file transfer, 3 manual confirmation, 4 SQL.
      type: int
    status:
      description: Step status code (same codes as RV(status)).
      type: int
    status_name:
      description: Name of the step status.
      type: str
    total_time:
      description: Duration in milliseconds.
      type: int
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
  returned: when waited
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
  returned: when waited
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
  returned: when waited
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
  returned: when waited
  type: bool
  sample: false
output_vars:
  description: String global variables after the run (from C(get_job_instance_global_var_value)).
  returned: when waited
  type: dict
  sample: {"app_version": "2.4.1"}
global_var_list:
  description: The C(global_var_list) sent (or, in check mode, that would be sent), secret values (see O(secret_var_names)) masked.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "app_version", "value": "2.4.1"}, {"name": "target_hosts", "server": {"host_id_list": [101]}}]
  contains:
    id:
      description: Id of the plan variable, when the task named it by id.
      type: int
      sample: 2
    name:
      description: Name of the plan variable, when the task named it by name.
      type: str
      sample: app_version
    value:
      description: Value of a string, namespace, array or password variable (C(********) for a secret one).
      type: str
      sample: "2.4.1"
    server:
      description: >-
        Hosts of a host variable, as JOB's C(server) object with C(ip_list) (C(bk_cloud_id), C(ip)), C(host_id_list),
        C(dynamic_group_list) and C(topo_node_list) as given.
      type: dict
      sample: {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}
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
      sample: launch
    api:
      description: The JOB API that failed; null before any request.
      type: str
      sample: execute_job_plan
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

import time
from typing import Any

from ansible_collections.blueking.job.plugins.module_utils._api import STATUS_BLANK, callback_url_refused, get_job_instance_status
from ansible_collections.blueking.job.plugins.module_utils._args import (
    HOST_RESULT_CHOICES,
    WAIT_ARGSPEC,
    WaitOptions,
    callback_url,
    credentials,
    job_instance_url,
    known_operator,
    positive_int,
    scope_params,
    wait_options,
)
from ansible_collections.blueking.job.plugins.module_utils._errors import APIError, BKJobError, InputError
from ansible_collections.blueking.job.plugins.module_utils._launch import launch_once
from ansible_collections.blueking.job.plugins.module_utils._module import build_module, run_module
from ansible_collections.blueking.job.plugins.module_utils._plan import (
    has_output_vars,
    plan_detail,
    plan_diff,
    plan_id_by_name,
    plan_mismatches,
    unknown_entries,
)
from ansible_collections.blueking.job.plugins.module_utils._secrets import masked, secret_entries, secrets_to_mask
from ansible_collections.blueking.job.plugins.module_utils._variables import build_global_var_list, float_values, mixed_references

ARGUMENT_SPEC: dict[str, Any] = {
    "job_plan_id": {"type": "int"},
    "job_plan_name": {"type": "str"},
    # No sub-option spec on purpose: when sub-option validation fails, ansible-core stops collecting no_log
    # values (ansible/ansible#81672) and the failure's invocation would show bk_app_secret. _variables checks
    # the entries instead, with messages that name the entry.
    "global_var_list": {"type": "list", "elements": "dict"},
    "global_vars": {"type": "dict"},
    "secret_var_names": {"type": "list", "elements": "str", "default": [], "no_log": False},
    "validate_vars": {"type": "bool", "default": True},
    "callback_url": {"type": "str"},
    "callback_listen": {"type": "str"},
    "start_task": {"type": "bool"},
    "wait": {"type": "bool", "default": True},
    "terminate_on_timeout": {"type": "bool", "default": False},
    "host_results": {"type": "str", "default": "failed", "choices": list(HOST_RESULT_CHOICES)},
    **WAIT_ARGSPEC,
}


def build_payload(params: dict[str, Any], job_plan_id: int, global_var_list: list[dict[str, Any]]) -> dict[str, Any]:
    """The execute_job_plan request fields; options the user left unset are not sent."""
    payload = {**scope_params(params), "job_plan_id": job_plan_id}
    if global_var_list:
        payload["global_var_list"] = global_var_list
    callback = callback_url(params.get("callback_url"))
    if callback is not None:  # sent exactly as written; an empty one means no callback
        payload["callback_url"] = callback
    if params.get("start_task") is not None:
        payload["start_task"] = params["start_task"]
    return payload


def run(module, client) -> dict[str, Any]:
    params = module.params
    entries = build_global_var_list(params.get("global_var_list"), params.get("global_vars"))
    floats = float_values(params.get("global_var_list"), params.get("global_vars"))
    if floats:
        module.warn(f"The value of variable(s) {', '.join(floats)} is a number with a fraction and is sent as text in its shortest form "
                    "(2.10 is sent as 2.1, 1.0e3 as 1000.0): quote it in YAML to keep it as written.")
    # Values the user marked secret are masked before any request, so that no later failure can show them.
    module.no_log_values.update(secrets_to_mask(entries, secret_entries(entries, None, params["secret_var_names"]))[0])
    if not params["validate_vars"]:
        mixed = mixed_references(entries)
        if mixed:
            module.warn(mixed)
    callback = callback_url(params.get("callback_url"))
    options = wait_options(params) if params["wait"] else None  # checked once; None: the task does not wait
    if options is not None and params.get("start_task") is False:
        raise InputError("start_task: false creates a job that does not start, so there is nothing to wait for; set wait: false.")
    listen = params.get("callback_listen")
    if listen is not None:
        # Imported only here: http.server is a few ms of every task's start-up, and most tasks do not listen.
        from ansible_collections.blueking.job.plugins.module_utils._callback import listen_address

        if not params["wait"]:
            raise InputError("callback_listen only serves the wait for the job's end, and wait is false: drop callback_listen or set wait: true.")
        listen_address(listen, callback)
    if listen is None or module.check_mode:  # with callback_listen, wait is true (refused above), so options is set
        return launch_and_follow(module, client, entries, options, None)
    # Listening starts before any request, so that an address that cannot be used fails with nothing sent.
    from ansible_collections.blueking.job.plugins.module_utils._callback import CallbackListener

    with CallbackListener(listen, callback, min_gap=options.poll_interval) as listener:
        return launch_and_follow(module, client, entries, options, listener)


def register_secrets(module, entries: list[dict[str, Any]], plan: dict[str, Any] | None) -> dict[int, str]:
    """The secret entries (see _secrets.secret_entries); hands the values Ansible can mask safely to its no_log masking and
    warns about known secrets too short or too common for that (masked in global_var_list and diff only)."""
    secrets = secret_entries(entries, plan, module.params["secret_var_names"])
    safe, unsafe = secrets_to_mask(entries, secrets)
    module.no_log_values.update(safe)
    if unsafe:
        module.warn(f"The value of secret variable(s) {', '.join(unsafe)} is too short or too common to be masked in the whole output "
                    "(Ansible replaces every occurrence of a masked value, which would damage ids, names and statuses): it is masked "
                    "in global_var_list and diff, but JOB's logs and messages may show it. Use a longer, random value.")
    return secrets


def launch_and_follow(module, client, entries: list[dict[str, Any]], options: WaitOptions | None, listener: Any) -> dict[str, Any]:
    """Resolve and check the plan, then launch it once and (with ``options``, the checked wait options; None: wait is false)
    follow the job; ``listener``: a CallbackListener or None."""
    params = module.params
    scope = scope_params(params)
    result, payload, plan = checked_plan(module, client, scope, entries)
    if module.check_mode:
        return {**result, "msg": f"Check mode: job plan {result['job_plan_id']} would be launched; nothing was sent."}
    if listener is not None:
        payload["callback_url"] = listener.url
    launched_at = time.monotonic()
    launched, listener = launch(module, client, payload, listener)
    result.update(launched)
    url = job_instance_url(params, launched["job_instance_id"])
    if url:
        result["job_instance_url"] = url
    if params.get("start_task") is False:
        not_started(module, client, scope, launched["job_instance_id"])
    if options is None:
        return result
    # Imported only here: a task that does not wait never loads (and, from AnsiballZ's zip, compiles) the wait.
    from ansible_collections.blueking.job.plugins.module_utils import _progress
    from ansible_collections.blueking.job.plugins.module_utils._wait import JobWatcher

    progress = _progress.for_wait(options)
    if progress is not None:
        progress.launched(result)
    if listener is not None:
        listener.expect(launched["job_instance_id"])
    watcher = JobWatcher(client, scope, launched["job_instance_id"], warn=module.warn, progress=progress)
    return watcher.wait_and_report(options, known=result, launched_at=launched_at, plan_name=(plan or {}).get("name"),
                                   output_vars=plan is None or has_output_vars(plan), wakeup=listener)


def checked_plan(module, client, scope: dict[str, Any], entries: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """The plan resolved (``job_plan_name``), read when ``validate_vars`` or ``--diff`` needs it, its password variables
    registered and the variables checked against it (InputError, stage validate): (the result so far, the request
    payload, the plan detail or None)."""
    params = module.params
    if params.get("job_plan_name") is not None:
        job_plan_id = plan_id_by_name(client, scope, params["job_plan_name"])
    else:
        job_plan_id = positive_int(params["job_plan_id"], "job_plan_id")
    payload = build_payload(params, job_plan_id, entries)
    plan = plan_detail(client, scope, job_plan_id) if params["validate_vars"] or module._diff else None
    secrets = register_secrets(module, entries, plan)
    if params["validate_vars"]:
        problems = plan_mismatches(entries, plan)
        if problems:
            # a misspelt password (db_pasword) is not known to be secret: the failure shows no unknown variable's value
            module.mask_unknown_variables(unknown_entries(entries, plan))
            raise InputError(f"The variables do not match job plan {job_plan_id} ({plan.get('name')}): {'; '.join(problems)}. "
                             "Nothing was launched.", stage="validate")
    result: dict[str, Any] = {"changed": True, "job_plan_id": job_plan_id, "global_var_list": masked(entries, secrets)}
    if module._diff:
        result["diff"] = plan_diff(entries, plan, secrets, params["secret_var_names"])
    return result, payload, plan


def launch(module, client, payload: dict[str, Any], listener: Any) -> tuple[dict[str, Any], Any]:
    """``_launch.launch_once`` with ``payload``; when JOB's allow-list refuses the listener's callback URL, warn and launch
    once more without it. (what launch_once returns, the listener still in use or None)."""
    params = module.params
    # The operator JOB records is bk_username only when no token is sent (a token's user wins at ESB and the gateway).
    operator = known_operator(credentials(params, getattr(module, "task_options", None)))

    def link(job_instance_id: int) -> str | None:
        return job_instance_url(params, job_instance_id)

    try:
        return launch_once(client, payload, operator=operator, warn=module.warn, link=link), listener
    except APIError as err:
        if not callback_url_refused(err) or err.result.get("job_instance_id"):
            raise
        refused = f"JOB refused callback_url {payload['callback_url']} ({err.message}); nothing was created."
        allow_list = ("JOB checks callback URLs against its allow-list (job.execute.check-callback-url: allowed-base-urls, "
                      "the BlueKing domain, or the callback_url_white_info table); ask JOB's administrators to add this base URL")
        if listener is None:
            err.reword(suffix=f"{allow_list}, or drop callback_url.")
            raise
    module.warn(f"{refused} The job is launched once more without callback_url and its end is found by polling. {allow_list} "
                "to have callback_listen end the wait at the job's end.")
    del payload["callback_url"]
    return launch_once(client, payload, operator=operator, warn=module.warn, link=link), None


def not_started(module, client, scope: dict[str, Any], job_instance_id: int) -> None:
    """Warn when JOB ignored ``start_task: false`` (bk-job before 3.10 starts every launch): the instance left status 1
    (RunStatusEnum.BLANK), which a created-only instance keeps until operate_job_instance starts it."""
    try:
        status = get_job_instance_status(client, scope, job_instance_id, return_ip_result=False, stage="launch")["job_instance"].get("status")
    except BKJobError as err:
        module.warn(f"Whether job instance {job_instance_id} waits to be started (start_task: false) could not be read: {err.msg}")
        return
    if status != STATUS_BLANK:
        from ansible_collections.blueking.job.plugins.module_utils._report import status_name

        module.warn(f"JOB ignored start_task: false (honoured from bk-job 3.10): job instance {job_instance_id} is not waiting to be "
                    f"started but has status {status_name(status)} ({status}), so the job is running.")


def main() -> None:
    module = build_module(ARGUMENT_SPEC, mutually_exclusive=[("global_var_list", "global_vars"), ("job_plan_id", "job_plan_name")],
                          required_one_of=[("job_plan_id", "job_plan_name")])
    run_module(module, run)


if __name__ == "__main__":
    main()
