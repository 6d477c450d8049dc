# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Job plans: exact-name lookup, the plan's variables, and checking a launch against them."""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.blueking.job.plugins.module_utils._errors import APIError, InputError

PAGE_LENGTH = 1000  # JOB's maximum page size (EsbJobReq.DEFAULT_PAGE_LENGTH_LIMIT)
MAX_PAGES = 1000
MASK = "********"

# TaskVariableTypeEnum (bk-job-api-facts §7).
VAR_TYPE_NAMES = {1: "string", 2: "namespace", 3: "host_list", 4: "password", 5: "associative_array", 6: "indexed_array"}
STRING_VAR_TYPE = 1
HOST_VAR_TYPE = 3
PASSWORD_VAR_TYPE = 4
STEP_TYPE_NAMES = {1: "script", 2: "file", 3: "confirm", 4: "sql"}
# Variable names whose values are masked even before (or without) the plan saying they are passwords.
SECRET_NAME = re.compile(r"pass|pwd|secret|token|credential|private|key", re.IGNORECASE)


def list_plans(client: Any, scope: dict[str, Any], **filters: Any) -> list[dict[str, Any]]:
    """Every plan of the scope matching JOB's own filters, reading every page."""
    plans: list[dict[str, Any]] = []
    for _page in range(MAX_PAGES):
        # The next page starts after what arrived: a server may answer fewer items than asked for.
        reply = client.call("get_job_plan_list", {**scope, **filters, "start": len(plans), "length": PAGE_LENGTH}, stage="lookup")
        data = reply.data if isinstance(reply.data, dict) else {}
        items = data.get("data") or []
        plans.extend(items)
        total = data.get("total")
        if not items or (len(plans) >= total if isinstance(total, int) else len(items) < PAGE_LENGTH):
            break
    return plans


def plan_id_by_name(client: Any, scope: dict[str, Any], name: str) -> int:
    """The id of the one plan named exactly ``name``; JOB's name filter is fuzzy, so every page is read."""
    candidates = list_plans(client, scope, name=name)
    exact = [plan for plan in candidates if plan.get("name") == name]
    if len(exact) == 1:
        return int(exact[0]["id"])
    if exact:
        listed = ", ".join(f"{plan['id']} (template {plan.get('job_template_id')})" for plan in exact)
        raise InputError(f"{len(exact)} job plans are named {name!r} in this scope: {listed}; give job_plan_id instead.", stage="lookup")
    similar = ", ".join(f"{plan.get('name')!r} ({plan.get('id')})" for plan in candidates[:10])
    raise InputError(f"No job plan is named exactly {name!r} in this scope" + (f"; similar names: {similar}." if similar else "."),
                     stage="lookup")


def plan_detail(client: Any, scope: dict[str, Any], job_plan_id: int) -> dict[str, Any]:
    reply = client.call("get_job_plan_detail", {**scope, "job_plan_id": job_plan_id}, stage="lookup")
    if not isinstance(reply.data, dict):
        raise APIError(f"get_job_plan_detail returned no plan for job_plan_id {job_plan_id}.", stage="lookup", api="get_job_plan_detail")
    return reply.data


def has_output_vars(plan: dict[str, Any]) -> bool:
    """Whether a run of this plan can have output variables: get_job_instance_global_var_value returns string ones only."""
    return any(var.get("type") == STRING_VAR_TYPE for var in plan.get("global_var_list") or [])


def describe_variable(var: dict[str, Any]) -> dict[str, Any]:
    """A plan variable as job_plan_info reports it: type name, required as bool, passwords masked."""
    var_type = var.get("type")
    described = {
        "id": var.get("id"), "name": var.get("name"), "type": var_type, "type_name": VAR_TYPE_NAMES.get(var_type, f"unknown_{var_type}"),
        "required": bool(var.get("required")), "description": var.get("description"), "used": var.get("used"),
    }
    if var_type == HOST_VAR_TYPE:
        described["server"] = var.get("server")
    else:
        described["value"] = MASK if var_type == PASSWORD_VAR_TYPE and var.get("value") else var.get("value")
    return described


def describe_step(step: dict[str, Any]) -> dict[str, Any]:
    return {"id": step.get("id"), "name": step.get("name"), "type": step.get("type"),
            "type_name": STEP_TYPE_NAMES.get(step.get("type"), f"unknown_{step.get('type')}")}


def _find(entry: dict[str, Any], by_id: dict[Any, dict], by_name: dict[str, dict]) -> dict[str, Any] | None:
    if "id" in entry:
        return by_id.get(entry["id"])
    return by_name.get(entry["name"])


def check_against_plan(entries: list[dict[str, Any]], plan: dict[str, Any]) -> list[str]:
    """Every problem of ``entries`` (the global_var_list to send) against the plan's variables."""
    variables = plan.get("global_var_list") or []
    by_id = {var.get("id"): var for var in variables}
    by_name = {var.get("name"): var for var in variables}
    problems = []
    given = set()
    for entry in entries:
        var = _find(entry, by_id, by_name)
        label = f"id {entry['id']}" if "id" in entry else repr(entry["name"])
        if var is None:
            import difflib  # only on a mismatch: a few ms off every task that matches

            hint = difflib.get_close_matches(str(entry.get("name", "")), [str(name) for name in by_name], n=1)
            problems.append(f"unknown variable {label}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
            continue
        given.add(var.get("id"))
        is_host_var = var.get("type") == HOST_VAR_TYPE
        if is_host_var and "server" not in entry:
            problems.append(f"{var['name']!r} is a host variable: give server (host_id_list, ip_list, ...), not value")
        elif not is_host_var and "server" in entry:
            problems.append(f"{var['name']!r} is a {VAR_TYPE_NAMES.get(var.get('type'), 'value')} variable: give value, not server")
        elif var.get("required") and "value" in entry and entry["value"] == "":
            problems.append(f"{var['name']!r} is required but given an empty value")
    for var in variables:
        if var.get("required") and var.get("id") not in given and _empty_default(var):
            problems.append(f"{var.get('name')!r} is required and the plan has no default: give it a value")
    if not variables and entries:
        problems.append("the plan has no global variables")
    return problems


def _empty_default(var: dict[str, Any]) -> bool:
    if var.get("type") == HOST_VAR_TYPE:
        server = var.get("server") or {}
        return not any(server.get(key) for key in ("ip_list", "host_id_list", "dynamic_group_list", "topo_node_list"))
    return var.get("value") in (None, "")


def password_values(entries: list[dict[str, Any]], plan: dict[str, Any] | None, secret_names: list[str]) -> list[str]:
    """The values being sent for secret variables: plan type 4, named in secret_var_names, or with a secret-looking name.

    The name rule covers the moments before the plan is read (or when it cannot be read): a failure then
    still shows the task's arguments, and ``db_password`` must not appear in them.
    """
    secret_ids, secrets = set(), set(secret_names or [])
    if plan:
        for var in plan.get("global_var_list") or []:
            if var.get("type") == PASSWORD_VAR_TYPE:
                secret_ids.add(var.get("id"))
                secrets.add(var.get("name"))
    return [entry["value"] for entry in entries
            if "value" in entry and entry["value"]
            and (entry.get("name") in secrets or entry.get("id") in secret_ids or SECRET_NAME.search(str(entry.get("name", ""))))]


def masked(entries: list[dict[str, Any]], secret_values: list[str]) -> list[dict[str, Any]]:
    hidden = set(secret_values)
    return [{**entry, "value": MASK} if entry.get("value") in hidden else entry for entry in entries]


def diff(entries: list[dict[str, Any]], plan: dict[str, Any], secret_values: list[str]) -> dict[str, Any]:
    """The plan's defaults against what the launch sends, by variable name, passwords masked."""
    before: dict[str, Any] = {}
    by_id, by_name = {}, {}
    for var in plan.get("global_var_list") or []:
        described = describe_variable(var)
        before[var.get("name")] = described.get("server") if var.get("type") == HOST_VAR_TYPE else described.get("value")
        by_id[var.get("id")] = var
        by_name[var.get("name")] = var
    after = dict(before)
    for entry in masked(entries, secret_values):
        var = _find(entry, by_id, by_name)
        name = var.get("name") if var else entry.get("name", f"id {entry.get('id')}")
        after[name] = entry.get("server") if "server" in entry else entry.get("value")
    title = f"job plan {plan.get('id') or plan.get('job_plan_id')} ({plan.get('name')})"
    return {"before": before, "after": after, "before_header": f"{title}: defaults", "after_header": f"{title}: this launch"}
