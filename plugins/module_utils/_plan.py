# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Job plans: exact-name lookup, the plan's variables, checking a launch against them (``plan_mismatches``) and the
plan's defaults against the launch (``plan_diff``). Which values are secret and how they are masked: ``_secrets``."""

from __future__ import annotations

from typing import Any

from ansible_collections.blueking.job.plugins.module_utils import _api
from ansible_collections.blueking.job.plugins.module_utils._errors import InputError
from ansible_collections.blueking.job.plugins.module_utils._secrets import MASK, is_secret_name, masked, secret_marks
from ansible_collections.blueking.job.plugins.module_utils._variables import plan_variable

# TaskVariableTypeEnum and the step types, named in _api.
VAR_TYPE_NAMES = {_api.VAR_TYPE_STRING: "string", _api.VAR_TYPE_NAMESPACE: "namespace", _api.VAR_TYPE_HOST_LIST: "host_list",
                  _api.VAR_TYPE_CIPHER: "password", _api.VAR_TYPE_ASSOCIATIVE_ARRAY: "associative_array",
                  _api.VAR_TYPE_INDEX_ARRAY: "indexed_array"}
STRING_VAR_TYPE = _api.VAR_TYPE_STRING
HOST_VAR_TYPE = _api.VAR_TYPE_HOST_LIST
PASSWORD_VAR_TYPE = _api.VAR_TYPE_CIPHER
STEP_TYPE_NAMES = _api.STEP_TYPE_NAMES


def list_plans(client: Any, scope: dict[str, Any], **filters: Any) -> list[dict[str, Any]]:
    """Every plan of the scope matching JOB's own filters, reading every page (_api.get_job_plan_list)."""
    return _api.get_job_plan_list(client, scope, **filters)


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
    """The plan (_api.get_job_plan_detail); a plan JOB does not have raises APIError 1243009 with a pointer to job_plan_info."""
    return _api.get_job_plan_detail(client, scope, job_plan_id)


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


def plan_mismatches(entries: list[dict[str, Any]], plan: dict[str, Any]) -> list[str]:
    """Every problem of ``entries`` (the global_var_list to send) against the plan's variables."""
    variables = plan.get("global_var_list") or []
    by_id = {var.get("id"): var for var in variables}
    by_name = {var.get("name"): var for var in variables}
    problems = []
    given = set()
    for entry in entries:
        var = plan_variable(entry, by_id, by_name)
        label = f"id {entry['id']}" if "id" in entry else repr(entry["name"])
        if var is not None and "id" in entry and "name" in entry and var.get("name") != entry["name"]:
            other = by_name.get(entry["name"])
            problems.append(f"id {entry['id']} is {var.get('name')!r}, not {entry['name']!r}"
                            + (f" (which is id {other.get('id')})" if other else "") + ": JOB would use the id")
            continue
        if var is not None and var.get("id") in given:
            problems.append(f"{var.get('name')!r} (id {var.get('id')}) is given twice, by id and by name: JOB would use the entry with the id")
            continue
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


def unknown_entries(entries: list[dict[str, Any]], plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The entries of ``entries`` that name no variable of the plan (by id or name), as plan_mismatches finds them."""
    variables = plan.get("global_var_list") or []
    by_id = {var.get("id"): var for var in variables}
    by_name = {var.get("name"): var for var in variables}
    return [entry for entry in entries if plan_variable(entry, by_id, by_name) is None]


def _empty_default(var: dict[str, Any]) -> bool:
    if var.get("type") == HOST_VAR_TYPE:
        # JOB writes server: null when the variable has no default, and a server object whatever the default holds
        # (bk-job TaskVariableDTO.toEsbGlobalVarV3, TaskTargetDTO.toEsbServerV3): an object with no hosts holds
        # targets v3 cannot show (containers), which JOB itself still uses, so it is not missing.
        return not isinstance(var.get("server"), dict)
    return var.get("value") in (None, "")


def plan_diff(entries: list[dict[str, Any]], plan: dict[str, Any], secrets: dict[int, str] | set[int], secret_names: Any = ()) -> dict[str, Any]:
    """The plan's defaults against what the launch sends, by variable name; secret values masked on both sides."""
    marks = secret_marks(secret_names)
    before: dict[str, Any] = {}
    by_id, by_name = {}, {}
    for var in plan.get("global_var_list") or []:
        described = describe_variable(var)
        value = described.get("server") if var.get("type") == HOST_VAR_TYPE else described.get("value")
        if value not in (None, "") and var.get("type") != HOST_VAR_TYPE and (
                is_secret_name(var.get("name")) or marks & {str(var.get("name")), str(var.get("id"))}):
            value = MASK
        before[var.get("name")] = value
        by_id[var.get("id")] = var
        by_name[var.get("name")] = var
    after = dict(before)
    for entry in masked(entries, secrets):
        var = plan_variable(entry, by_id, by_name)
        name = var.get("name") if var else entry.get("name", f"id {entry.get('id')}")
        after[name] = entry.get("server") if "server" in entry else entry.get("value")
    title = f"job plan {plan.get('id') or plan.get('job_plan_id')} ({plan.get('name')})"
    return {"before": before, "after": after, "before_header": f"{title}: defaults", "after_header": f"{title}: this launch"}
