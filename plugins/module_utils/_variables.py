# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Turn ``global_var_list`` / ``global_vars`` task arguments into the ``global_var_list`` JOB takes.

Checks here mirror what JOB's backend rejects (``EsbExecuteJobPlanV3ResourceImpl``, ``EsbIpDTO``) and
what it would silently misread (a list as a value, a variable with both a value and hosts), so that
bad input fails with a message naming the option before anything is sent.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ansible_collections.blueking.job.plugins.module_utils._args import positive_int
from ansible_collections.blueking.job.plugins.module_utils._errors import InputError

SERVER_KEYS = ("host_id_list", "ip_list", "dynamic_group_list", "topo_node_list")
# Keys a variable has as get_job_plan_detail / job_plan_info report it, which the launch DTO (EsbGlobalVarV3DTO)
# does not take: accepted, so that a plan read with job_plan_info can be launched with one value changed, and not sent.
PLAN_VARIABLE_KEYS = ("type", "type_name", "required", "description", "used")
# EsbIpDTO fields JOB reports for a host; the launch reads only bk_cloud_id and ip (JobExecuteCommonV3Processor).
REPORTED_IP_KEYS = ("bk_host_id", "bk_cloud_name", "ipv6", "bk_agent_id", "alive")
PASSWORD_VAR_TYPE = 4
# CMDB object ids (bk_obj_id): "biz", "set", "module" or a custom model id.
NODE_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def build_global_var_list(global_var_list: list[dict[str, Any]] | None, global_vars: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The ``global_var_list`` to send, in the API's shape, with only the keys the user gave."""
    entries: list[dict[str, Any]] = []
    for index, item in enumerate(global_var_list or []):
        entry = _from_api_shape(item, f"global_var_list[{index}]")
        if entry is not None:
            entries.append(entry)
    for name, value in (global_vars or {}).items():
        entries.append(_from_shorthand(name, value))
    _reject_duplicates(entries)
    return entries


def _from_api_shape(item: Any, where: str) -> dict[str, Any] | None:
    """One entry to send; None for a variable as job_plan_info reports it that sets nothing (keeps the plan's default)."""
    if not isinstance(item, dict):
        raise InputError(f"{where} must be a dictionary with id or name, and value or server.")
    entry: dict[str, Any] = {}
    _only_keys(item, ("id", "name", "value", "server") + PLAN_VARIABLE_KEYS, where)
    if "type" in item and item.get("value") is None and item.get("server") is None:
        return None  # a plan variable without a default, as reported: nothing to set
    if item.get("type") == PASSWORD_VAR_TYPE and isinstance(item.get("value"), str) and item["value"] and not item["value"].strip("*"):
        return None  # a password as job_plan_info masks it: sending the mask would replace the password with asterisks
    if item.get("id") is not None:
        entry["id"] = positive_int(item["id"], f"{where}.id")
    name = item.get("name")
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{where}.name must be a non-empty string.")
        entry["name"] = name.strip()
    if not entry:
        raise InputError(f"{where} needs an id or a name to say which plan variable it sets.")
    label = f"{where} ({_describe(entry)})"
    value, server = item.get("value"), item.get("server")
    if value is not None and server is not None:
        raise InputError(f"{label} has both value and server: give value for a value variable or server for a host variable.")
    if value is None and server is None:
        raise InputError(f"{label} needs a value (value variables) or a server (host variables).")
    if server is not None:
        entry["server"] = _server(server, label)
    else:
        entry["value"] = _as_string(value, label)
    return entry


def _from_shorthand(name: Any, value: Any) -> dict[str, Any]:
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"global_vars keys must be non-empty variable names, got {name!r}.")
    label = f"global_vars.{name}"
    if isinstance(value, dict):
        return {"name": name.strip(), "server": _server(value, label)}
    return {"name": name.strip(), "value": _as_string(value, label)}


def float_values(global_var_list: Any, global_vars: Any) -> list[str]:
    """The names (or ``id N``) of the variables given as floats, which are sent in Python's shortest form (2.10 as 2.1)."""
    found = [str(name) for name, value in (global_vars.items() if isinstance(global_vars, dict) else [])
             if isinstance(value, float)]
    for item in global_var_list if isinstance(global_var_list, list) else []:
        if isinstance(item, dict) and isinstance(item.get("value"), float):
            found.append(str(item["name"]) if item.get("name") is not None else f"id {item.get('id')}")
    return found


def _as_string(value: Any, label: str) -> str:
    """JOB values are strings; scalars are sent in their string form, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if value is None:
        raise InputError(f"{label} has no value; use '' to send an empty string.")
    if isinstance(value, (list, tuple)):
        raise InputError(
            f"{label}: a list cannot be sent as a value. JOB values are strings: write an array variable as a "
            "string such as '(a b c)', and give hosts as a server mapping (host_id_list, ip_list, ...).")
    raise InputError(f"{label}: a {type(value).__name__} cannot be sent as a value; JOB values are strings, numbers or booleans.")


def _server(server: Any, label: str) -> dict[str, Any]:
    if not isinstance(server, dict):
        raise InputError(f"{label}: server must be a mapping with {', '.join(SERVER_KEYS)}.")
    unknown = sorted(str(key) for key in server if key not in SERVER_KEYS)
    if unknown:
        raise InputError(f"{label}: unknown server key(s) {', '.join(unknown)}; allowed: {', '.join(SERVER_KEYS)}.")
    result: dict[str, Any] = {}
    for key in SERVER_KEYS:
        items = server.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise InputError(f"{label}.{key} must be a list.")
        if items:
            result[key] = [_SERVER_ITEM[key](item, f"{label}.{key}[{index}]") for index, item in enumerate(items)]
    if not result:
        raise InputError(f"{label}: server lists no hosts; give host_id_list, ip_list, dynamic_group_list or topo_node_list.")
    if "host_id_list" in result and "ip_list" in result:
        raise InputError(f"{label}: give hosts in host_id_list or ip_list, not both: JOB uses host_id_list and ignores ip_list when both "
                         "are given, so the ip_list hosts would silently not run. Put every host in one of the two lists.")
    return result


def _host_id(item: Any, where: str) -> int:
    return positive_int(item, where)


def _ip(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InputError(f"{where} must be a mapping with ip and bk_cloud_id.")
    _only_keys(item, ("ip", "bk_cloud_id") + REPORTED_IP_KEYS, where)
    raw = item.get("ip")
    try:
        address = ipaddress.IPv4Address(str(raw).strip())
    except ValueError:
        raise InputError(f"{where}.ip must be an IPv4 address (JOB's ip_list takes IPv4 only; use host_id_list otherwise), got {raw!r}.") from None
    cloud = item.get("bk_cloud_id", 0)
    cloud = 0 if cloud is None else cloud
    if isinstance(cloud, str) and cloud.strip().isdigit():
        cloud = int(cloud)
    if isinstance(cloud, bool) or not isinstance(cloud, int) or cloud < 0:
        raise InputError(f"{where}.bk_cloud_id must be a non-negative integer, got {cloud!r}.")
    return {"bk_cloud_id": cloud, "ip": str(address)}


def _dynamic_group(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InputError(f"{where} must be a mapping with the CMDB dynamic group id.")
    _only_keys(item, ("id",), where)
    group_id = item.get("id")
    if not isinstance(group_id, str) or not group_id.strip():
        raise InputError(f"{where}.id must be a non-empty CMDB dynamic group id string.")
    return {"id": group_id.strip()}


def _topo_node(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InputError(f"{where} must be a mapping with id and node_type.")
    _only_keys(item, ("id", "node_type"), where)
    node_type = item.get("node_type")
    if not isinstance(node_type, str) or not NODE_TYPE.match(node_type):
        raise InputError(f"{where}.node_type must be a CMDB object id such as module, set or biz, got {node_type!r}.")
    return {"id": positive_int(item.get("id"), f"{where}.id"), "node_type": node_type}


_SERVER_ITEM = {"host_id_list": _host_id, "ip_list": _ip, "dynamic_group_list": _dynamic_group, "topo_node_list": _topo_node}


def _only_keys(item: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(key) for key in item if key not in allowed)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}.")


def _describe(entry: dict[str, Any]) -> str:
    return f"name {entry['name']!r}" if "name" in entry else f"id {entry['id']}"


def plan_variable(entry: dict[str, Any], by_id: dict[Any, dict], by_name: dict[str, dict]) -> dict[str, Any] | None:
    """The plan variable (``by_id``/``by_name``: the plan's global_var_list indexed) an entry refers to: by id when it
    has one, as JOB matches it (id first, then name); None when the plan has no such variable."""
    if "id" in entry:
        return by_id.get(entry["id"])
    return by_name.get(entry["name"])


def mixed_references(entries: list[dict[str, Any]]) -> str | None:
    """A warning when some variables are given by id only and others by name only, and the plan is not read to check them.

    JOB looks a variable up by id when the entry has one, whatever its name (EsbExecuteJobPlanV3ResourceImpl passes both
    on), so an id-only entry and a name-only entry for the same variable both set it, and the one with the id wins.
    """
    by_id = [str(entry["id"]) for entry in entries if "id" in entry and "name" not in entry]
    by_name = [repr(entry["name"]) for entry in entries if "name" in entry and "id" not in entry]
    if by_id and by_name:
        return (f"global_var_list gives variables by id only ({', '.join(by_id)}) and by name only ({', '.join(by_name)}) and "
                "validate_vars is false, so nothing checks that they are different variables: if an id and a name are the same "
                "plan variable, JOB uses the entry with the id.")
    return None


def _reject_duplicates(entries: list[dict[str, Any]]) -> None:
    seen: set[tuple[str, Any]] = set()
    for entry in entries:
        for key in ("id", "name"):
            if key in entry:
                if (key, entry[key]) in seen:
                    raise InputError(f"Variable {key} {entry[key]!r} is given twice (global_var_list/global_vars); give each variable once.")
                seen.add((key, entry[key]))
