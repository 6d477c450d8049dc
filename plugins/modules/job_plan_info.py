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
      description:
        - Each global variable with C(id), C(name), C(type), C(type_name) (C(string), C(namespace), C(host_list),
          C(password), C(associative_array), C(indexed_array)), C(required) (bool), C(description), C(used), and its
          default as C(value) (password defaults masked) or, for host lists, C(server).
      type: list
      elements: dict
    steps:
      description: Each step with C(id), C(name), C(type) and C(type_name) (C(script), C(file), C(confirm), C(sql)).
      type: list
      elements: dict
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
            "id": detail.get("id") or detail.get("job_plan_id"),
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
