# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.blueking.job.plugins.module_utils._errors import InputError
from ansible_collections.blueking.job.plugins.module_utils._variables import build_global_var_list


def api_var(**fields):
    """An entry as AnsibleModule hands it over: every suboption present, unset ones None."""
    return {"id": None, "name": None, "value": None, "server": None, **fields}


def test_api_shape_keeps_only_given_keys_and_stringifies_scalars():
    entries = build_global_var_list(
        [api_var(id=436, server={"ip_list": [{"ip": "10.0.0.1"}, {"bk_cloud_id": 2, "ip": " 10.0.0.2 "}]}),
         api_var(name="param_name", value="param_value"),
         api_var(name="replicas", value=3),
         api_var(name="ratio", value=0.5),
         api_var(name="debug", value=False),
         api_var(name="empty", value="")],
        None)
    assert entries == [
        {"id": 436, "server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}, {"bk_cloud_id": 2, "ip": "10.0.0.2"}]}},
        {"name": "param_name", "value": "param_value"},
        {"name": "replicas", "value": "3"},
        {"name": "ratio", "value": "0.5"},
        {"name": "debug", "value": "false"},
        {"name": "empty", "value": ""},
    ]


def test_shorthand_maps_scalars_to_values_and_mappings_to_servers():
    entries = build_global_var_list(None, {
        "app_version": "2.4.1",
        "target_hosts": {"host_id_list": [101, "102"], "topo_node_list": [{"id": 1000, "node_type": "module"}],
                         "dynamic_group_list": [{"id": "blo8gojho0skft7pr5q0"}], "ip_list": []},
    })
    assert entries == [
        {"name": "app_version", "value": "2.4.1"},
        {"name": "target_hosts", "server": {"host_id_list": [101, 102], "dynamic_group_list": [{"id": "blo8gojho0skft7pr5q0"}],
                                            "topo_node_list": [{"id": 1000, "node_type": "module"}]}},
    ]


def test_no_variables_gives_an_empty_list():
    assert build_global_var_list(None, None) == []
    assert build_global_var_list([], {}) == []


@pytest.mark.parametrize("global_var_list, global_vars, expected", [
    ([api_var(name="x", value=["a", "b"])], None, "global_var_list[0] (name 'x'): a list cannot be sent"),
    ([api_var(name="x", value={"a": 1})], None, "global_var_list[0] (name 'x'): a dict cannot be sent"),
    (None, {"x": ["a"]}, "global_vars.x: a list cannot be sent"),
    (None, {"x": None}, "global_vars.x has no value"),
    ([api_var(value="v")], None, "global_var_list[0] needs an id or a name"),
    ([api_var(name="  ", value="v")], None, "global_var_list[0].name must be a non-empty string"),
    ([api_var(id=0, value="v")], None, "global_var_list[0].id must be a positive integer"),
    ([api_var(id=-4, value="v")], None, "global_var_list[0].id must be a positive integer"),
    ([api_var(name="x")], None, "needs a value (value variables) or a server"),
    ([api_var(name="x", value="v", server={"host_id_list": [1]})], None, "has both value and server"),
    ([api_var(name="h", server={"ip_list": [{"ip": "10.0.0.300"}]})], None, "global_var_list[0] (name 'h').ip_list[0].ip must be an IPv4"),
    ([api_var(name="h", server={"ip_list": [{"ip": "fe80::1"}]})], None, "must be an IPv4 address"),
    ([api_var(name="h", server={"ip_list": [{"ip": "10.0.0.1", "bk_cloud_id": -1}]})], None, "bk_cloud_id must be a non-negative integer"),
    ([api_var(name="h", server={"ip_list": ["10.0.0.1"]})], None, "ip_list[0] must be a mapping with ip and bk_cloud_id"),
    ([api_var(name="h", server={"host_id_list": [0]})], None, "host_id_list[0] must be a positive integer"),
    ([api_var(name="h", server={"host_id_list": [True]})], None, "host_id_list[0] must be a positive integer"),
    ([api_var(name="h", server={"hosts": [1]})], None, "unknown server key(s) hosts"),
    ([api_var(name="h", server={})], None, "server lists no hosts"),
    ([api_var(name="h", server={"host_id_list": 5})], None, "host_id_list must be a list"),
    ([api_var(name="h", server={"topo_node_list": [{"id": 1, "node_type": "mod ule"}]})], None, "node_type must be a CMDB object id"),
    ([api_var(name="h", server={"dynamic_group_list": [{"id": ""}]})], None, "dynamic_group_list[0].id must be a non-empty"),
    ([api_var(name="x", value="1")], {"x": "2"}, "Variable name 'x' is given twice"),
])
def test_bad_variables_fail_with_a_message_naming_the_option(global_var_list, global_vars, expected):
    with pytest.raises(InputError) as caught:
        build_global_var_list(global_var_list, global_vars)
    assert expected in caught.value.msg
    assert caught.value.stage == "validate"


def test_hosts_in_both_host_id_list_and_ip_list_are_refused():
    with pytest.raises(InputError) as caught:
        build_global_var_list(None, {"target_hosts": {"host_id_list": [101], "ip_list": [{"ip": "10.0.0.2"}]}})
    assert "JOB uses host_id_list and ignores ip_list" in caught.value.msg


def test_variables_as_job_plan_info_reports_them_are_taken_and_sent_in_the_launch_shape():
    reported = [
        {"id": 1, "name": "app_version", "type": 1, "type_name": "string", "required": True, "description": "v", "used": True,
         "value": "9.9"},
        {"id": 2, "name": "target_hosts", "type": 3, "type_name": "host_list", "required": True, "description": "", "used": True,
         "server": {"ip_list": [{"bk_host_id": 101, "bk_cloud_id": 0, "ip": "10.0.0.1", "bk_cloud_name": "default", "alive": 1}],
                    "dynamic_group_list": [], "topo_node_list": []}},
        {"id": 3, "name": "db_password", "type": 4, "type_name": "password", "required": False, "description": "", "used": True,
         "value": "********"},
        {"id": 4, "name": "release_note", "type": 1, "type_name": "string", "required": False, "description": "", "used": False,
         "value": None},
    ]
    assert build_global_var_list(reported, None) == [
        {"id": 1, "name": "app_version", "value": "9.9"},
        {"id": 2, "name": "target_hosts", "server": {"ip_list": [{"bk_cloud_id": 0, "ip": "10.0.0.1"}]}},
    ]
    with pytest.raises(InputError) as caught:
        build_global_var_list([{"name": "x", "vaule": "1"}], None)
    assert "unknown key(s) vaule" in caught.value.msg


def test_id_only_and_name_only_entries_give_a_warning_without_the_plan():
    from ansible_collections.blueking.job.plugins.module_utils._variables import mixed_references

    assert "JOB uses the entry with the id" in mixed_references(build_global_var_list([{"id": 1, "value": "a"}, {"name": "b", "value": "c"}], None))
    assert mixed_references(build_global_var_list([{"id": 1, "name": "a", "value": "a"}, {"name": "b", "value": "c"}], None)) is None


def test_the_plan_check_refuses_an_id_and_a_name_of_two_variables_and_one_variable_given_twice():
    from ansible_collections.blueking.job.plugins.module_utils._plan import plan_mismatches

    plan = {"global_var_list": [{"id": 1, "name": "app_version", "type": 1, "value": "1"}, {"id": 7, "name": "release_note", "type": 1}]}
    problems = plan_mismatches(build_global_var_list([{"id": 1, "name": "release_note", "value": "2"}], None), plan)
    assert problems == ["id 1 is 'app_version', not 'release_note' (which is id 7): JOB would use the id"]
    problems = plan_mismatches(build_global_var_list([{"name": "app_version", "value": "2"}, {"id": 1, "value": "3"}], None), plan)
    assert problems == ["'app_version' (id 1) is given twice, by id and by name: JOB would use the entry with the id"]
