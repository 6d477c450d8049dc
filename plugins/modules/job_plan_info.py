#!/usr/bin/python
# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: job_plan_info
short_description: List BlueKing JOB job plans, or show one plan's variables and steps
version_added: 1.0.0
description:
  - Lists the job plans (作业执行方案) of a business or business set through C(get_job_plan_list), reading every page.
  - With O(job_plan_id), returns that plan's variables (type, required, default value with passwords masked) and
    steps through C(get_job_plan_detail).
  - Never changes anything; C(changed) is always false.
author:
  - blueking.job maintainers (@blueking-job)
extends_documentation_fragment:
  - blueking.job.connection
  - blueking.job.scope
  - blueking.job.attributes
  - blueking.job.attributes.info_module
  - ansible.builtin.action_common_attributes
options:
  job_plan_id:
    description: Id of one plan to describe. Without it, the plans of the scope are listed.
    type: int
  name:
    description: Only plans whose name contains this text (JOB's own fuzzy filter). Ignored with O(job_plan_id).
    type: str
  job_template_id:
    description: Only plans made from this job template. Ignored with O(job_plan_id).
    type: int
seealso:
  - module: blueking.job.execute_job_plan
"""

EXAMPLES = r"""
- name: List the plans whose name contains deploy
  blueking.job.job_plan_info:
    bk_biz_id: 2
    name: deploy
  register: plans

- name: Show the variables and steps of plan 1000
  blueking.job.job_plan_info:
    bk_biz_id: 2
    job_plan_id: 1000
  register: plan

- name: Print the required variables
  ansible.builtin.debug:
    msg: "{{ plan.job_plan.variables | selectattr('required') | map(attribute='name') | list }}"
"""

RETURN = r"""
job_plans:
  description: The plans of the scope that match the filters, every page read.
  returned: without O(job_plan_id)
  type: list
  elements: dict
  sample: [{"id": 1000, "name": "deploy-app", "job_template_id": 100, "creator": "admin", "create_time": 1546272000000,
            "last_modify_user": "admin", "last_modify_time": 1546272000000, "need_update": false}]
  contains:
    id:
      description: Plan id.
      type: int
      sample: 1000
    name:
      description: Plan name.
      type: str
      sample: deploy-app
    job_template_id:
      description: Template the plan was made from.
      type: int
      sample: 100
    creator:
      description: User who created the plan.
      type: str
      sample: admin
    create_time:
      description: Creation of the plan, Unix time in milliseconds.
      type: int
      sample: 1546272000000
    last_modify_user:
      description: User who changed the plan last.
      type: str
      sample: admin
    last_modify_time:
      description: Last change of the plan, Unix time in milliseconds.
      type: int
      sample: 1546272000000
    need_update:
      description: Whether the plan lags behind its template and should be synchronised.
      type: bool
      sample: false
job_plan:
  description: The plan's id, name, template, variables and steps.
  returned: with O(job_plan_id)
  type: dict
  contains:
    id:
      description: Plan id.
      type: int
    name:
      description: Plan name.
      type: str
    job_template_id:
      description: Template the plan was made from.
      type: int
    variables:
      description: Each global variable of the plan with its default.
      type: list
      elements: dict
      contains:
        id:
          description: Variable id (the C(id) a C(global_var_list) entry may name).
          type: int
          sample: 1
        name:
          description: Variable name.
          type: str
          sample: app_version
        type:
          description: JOB's variable type code (C(TaskVariableTypeEnum) in bk-job).
          type: int
          sample: 1
        type_name:
          description: >-
            Name of the type, one of C(string), C(namespace), C(host_list), C(password), C(associative_array),
            C(indexed_array).
          type: str
          sample: string
        required:
          description: Whether a launch must give the variable a value.
          type: bool
          sample: true
        description:
          description: The variable's description in the plan.
          type: str
          sample: Version to deploy
        used:
          description: Whether the plan references the variable (C(used) of bk-job's C(EsbGlobalVarV3DTO)); null when JOB leaves it out.
          type: bool
          sample: true
        value:
          description: Default value of a variable that is not a host list (C(********) for a password with a default).
          returned: when the variable is not a host list
          type: str
          sample: "2.4.0"
        server:
          description: >-
            Default hosts of a host list variable, as JOB's C(server) object (C(ip_list), C(host_id_list),
            C(dynamic_group_list), C(topo_node_list)).
          returned: when the variable is a host list
          type: dict
          sample: {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}
    steps:
      description: Each step of the plan.
      type: list
      elements: dict
      contains:
        id:
          description: Step id.
          type: int
          sample: 5001
        name:
          description: Step name.
          type: str
          sample: deploy
        type:
          description: JOB's step type code, 1 script, 2 file transfer, 3 manual confirmation, 4 SQL.
          type: int
          sample: 1
        type_name:
          description: Name of the step type, one of C(script), C(file), C(confirm), C(sql).
          type: str
          sample: script
"""

from typing import Any

from ansible_collections.blueking.job.plugins.module_utils._args import positive_int, scope_params
from ansible_collections.blueking.job.plugins.module_utils._module import build_module, run_module
from ansible_collections.blueking.job.plugins.module_utils._plan import describe_step, describe_variable, list_plans, plan_detail

ARGUMENT_SPEC: dict[str, Any] = {
    "job_plan_id": {"type": "int"},
    "name": {"type": "str"},
    "job_template_id": {"type": "int"},
}

LISTED_FIELDS = ("id", "name", "job_template_id", "creator", "create_time", "last_modify_user", "last_modify_time", "need_update")


def run(module, client) -> dict[str, Any]:
    params = module.params
    scope = scope_params(params)
    if params.get("job_plan_id") is not None:
        detail = plan_detail(client, scope, positive_int(params["job_plan_id"], "job_plan_id"))
        return {"changed": False, "job_plan": {
            "id": detail["id"],
            "name": detail.get("name"),
            "job_template_id": detail.get("job_template_id"),
            "variables": [describe_variable(var) for var in detail.get("global_var_list") or []],
            "steps": [describe_step(step) for step in detail.get("step_list") or []],
        }}
    filters = {"name": params.get("name")}
    if params.get("job_template_id") is not None:
        filters["job_template_id"] = positive_int(params["job_template_id"], "job_template_id")
    plans = list_plans(client, scope, **{key: value for key, value in filters.items() if value is not None})
    return {"changed": False, "job_plans": [{field: plan.get(field) for field in LISTED_FIELDS} for plan in plans]}


def main() -> None:
    run_module(build_module(ARGUMENT_SPEC), run)


if __name__ == "__main__":
    main()
