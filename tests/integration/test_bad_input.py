# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Bad-input matrix: invalid task inputs fail with a message naming the option, and JOB receives nothing.

All cases run at once (one inventory host per case, one ansible-playbook per module, in parallel) against one emulator. Each case
tags its requests with its own ``bk_tenant_id`` (a header the emulator records and otherwise ignores), so a request
that should not have been sent is traced to its case. Complements the bad-input tests of test_execute_job_plan.py,
test_safe_launch.py and test_wait.py (none of their cases is repeated here).

The run's whole -vvvv output is searched for the credentials and for tracebacks (``Ansible.run_command``).
"""

from __future__ import annotations

import json

import pytest

from conftest import ACCESS_TOKEN, APP_SECRET, BK_TOKEN, Ansible, esb_connection  # pylint: disable=import-error
from process import Emulator  # pylint: disable=import-error
from support import BIZ_ID, FIRST_JOB_INSTANCE_ID, PLAN_DEPLOY_APP  # pylint: disable=import-error
from multihost import INFO, LAUNCH, PLAN_INFO, no_crash, run_hosts, tenant_of  # pylint: disable=import-error

E, I, P = LAUNCH, INFO, PLAN_INFO
GW = {"bk_api_type": "apigw"}  # the emulator URL gets the gateway stage path when a case sets this
DROP = None  # a case value that removes the base option
MANY_IPS = [{"ip": f"10.{index // 250}.{index % 250}.1"} for index in range(9999)]

# (case id, module, args over the module's base arguments, option the msg must name, further text the msg must carry)
CASES = [
    # types
    ("plan_id_text_digits", E, {"job_plan_id": "12abc"}, "job_plan_id", "int"),
    ("plan_id_list", E, {"job_plan_id": [PLAN_DEPLOY_APP]}, "job_plan_id", ""),
    ("plan_id_bool", E, {"job_plan_id": True}, "job_plan_id", "positive integer"),
    ("plan_id_float", E, {"job_plan_id": 1.5}, "job_plan_id", ""),
    ("global_vars_list", E, {"global_vars": ["app_version"]}, "global_vars", "dict"),
    ("global_var_list_dict", E, {"global_var_list": {"name": "app_version", "value": "1"}}, "global_var_list", "list"),
    ("global_var_list_id_text", E, {"global_var_list": [{"id": "abc", "value": "1"}]}, "global_var_list", "int"),
    ("global_var_list_server_text", E, {"global_var_list": [{"name": "target_hosts", "server": "10.0.0.1"}]}, "global_var_list", ""),
    ("validate_certs_text", E, {"validate_certs": "maybe"}, "validate_certs", "bool"),
    ("request_timeout_text", E, {"request_timeout": "soon"}, "request_timeout", "float"),
    ("log_max_bytes_text", E, {"log_max_bytes": "lots"}, "log_max_bytes", "int"),
    ("terminate_on_timeout_text", E, {"terminate_on_timeout": "sometimes"}, "terminate_on_timeout", "bool"),
    ("start_task_text", E, {"start_task": "later", "wait": False}, "start_task", "bool"),
    ("secret_var_names_dict", E, {"secret_var_names": {"db_password": 1}}, "secret_var_names", "list"),
    ("bk_biz_id_text", E, {"bk_biz_id": "two"}, "bk_biz_id", "int"),
    ("info_job_instance_id_text", I, {"job_instance_id": "latest"}, "job_instance_id", "int"),
    ("plan_info_template_id_text", P, {"job_template_id": "x"}, "job_template_id", "int"),
    # ranges
    ("request_timeout_zero", E, {"request_timeout": 0}, "request_timeout", "positive"),
    ("wait_timeout_negative", E, {"wait_timeout": -5}, "wait_timeout", "positive"),
    ("poll_interval_zero", E, {"poll_interval": 0}, "poll_interval", "positive"),
    ("poll_interval_negative", E, {"poll_interval": -1, "poll_max_interval": 1}, "poll_interval", "positive"),
    ("scope_id_zero", E, {"bk_biz_id": DROP, "bk_scope_id": "0"}, "bk_scope_id", "positive integer"),
    ("scope_id_two_ids", E, {"bk_biz_id": DROP, "bk_scope_id": "2,3"}, "bk_scope_id", "positive integer"),
    ("host_id_zero", E, {"global_vars": {"target_hosts": {"host_id_list": [0]}}}, "global_vars.target_hosts.host_id_list[0]", "positive"),
    ("topo_node_id_negative", E, {"global_vars": {"target_hosts": {"topo_node_list": [{"id": -1, "node_type": "module"}]}}},
     "global_vars.target_hosts.topo_node_list[0].id", "positive"),
    ("cloud_id_text", E, {"global_vars": {"target_hosts": {"ip_list": [{"ip": "10.0.0.1", "bk_cloud_id": "abc"}]}}},
     "global_vars.target_hosts.ip_list[0].bk_cloud_id", "non-negative"),
    ("info_job_instance_id_zero", I, {"job_instance_id": 0}, "job_instance_id", "positive"),
    ("info_wait_timeout_zero", I, {"wait": True, "wait_timeout": 0}, "wait_timeout", "positive"),
    ("info_log_max_bytes_negative", I, {"log_max_bytes": -1}, "log_max_bytes", "0"),
    ("plan_info_plan_id_negative", P, {"job_plan_id": -1}, "job_plan_id", "positive"),
    ("plan_info_template_id_zero", P, {"job_template_id": 0}, "job_template_id", "positive"),
    # choices
    ("api_type_upper", E, {"bk_api_type": "ESB"}, "bk_api_type", "esb, apigw"),
    ("scope_type_project", E, {"bk_biz_id": DROP, "bk_scope_id": "2", "bk_scope_type": "project"}, "bk_scope_type", "biz_set"),
    ("host_results_some", E, {"host_results": "some"}, "host_results", "none, failed, all"),
    ("on_waiting_user_ask", E, {"on_waiting_user": "ask"}, "on_waiting_user", "wait, fail, return"),
    ("info_host_results_every", I, {"host_results": "every"}, "host_results", "none, failed, all"),
    # shapes
    ("var_entry_unknown_key", E, {"global_var_list": [{"name": "app_version", "value": "1", "bogus": 1}]}, "global_var_list", "bogus"),
    ("var_entry_empty_name", E, {"global_var_list": [{"name": "", "value": "1"}]}, "global_var_list[0].name", "non-empty"),
    ("var_entry_no_value", E, {"global_var_list": [{"name": "app_version"}]}, "global_var_list[0]", "needs a value"),
    ("var_value_none", E, {"global_vars": {"release_note": None}}, "global_vars.release_note", "no value"),
    ("var_given_twice", E, {"global_var_list": [{"name": "app_version", "value": "1"}, {"name": "app_version", "value": "2"}]},
     "global_var_list", "given twice"),
    ("server_unknown_key", E, {"global_vars": {"target_hosts": {"hosts": [101]}}}, "global_vars.target_hosts", "unknown server key"),
    ("server_empty", E, {"global_vars": {"target_hosts": {}}}, "global_vars.target_hosts", "no hosts"),
    ("host_id_list_text", E, {"global_vars": {"target_hosts": {"host_id_list": "101"}}}, "global_vars.target_hosts.host_id_list",
     "must be a list"),
    ("ip_list_unknown_key", E, {"global_vars": {"target_hosts": {"ip_list": [{"ip": "10.0.0.1", "host": "web-1"}]}}},
     "global_vars.target_hosts.ip_list[0]", "unknown key"),
    ("dynamic_group_id_int", E, {"global_vars": {"target_hosts": {"dynamic_group_list": [{"id": 5}]}}},
     "global_vars.target_hosts.dynamic_group_list[0].id", "dynamic group id"),
    # bad IPs
    ("ip_cidr", E, {"global_vars": {"target_hosts": {"ip_list": [{"ip": "10.0.0.1/24"}]}}}, "global_vars.target_hosts.ip_list[0].ip", "IPv4"),
    ("ip_hostname", E, {"global_vars": {"target_hosts": {"ip_list": [{"ip": "localhost"}]}}}, "global_vars.target_hosts.ip_list[0].ip", "IPv4"),
    ("ip_three_octets", E, {"global_var_list": [{"id": 2, "server": {"ip_list": [{"ip": "10.0.0"}]}}]}, "global_var_list[0]", "IPv4"),
    ("ip_v6", E, {"global_vars": {"target_hosts": {"ip_list": [{"ip": "fe80::1"}]}}}, "global_vars.target_hosts.ip_list[0].ip", "IPv4"),
    # unknown node types
    ("node_type_with_space", E, {"global_vars": {"target_hosts": {"topo_node_list": [{"id": 1000, "node_type": "Module Set"}]}}},
     "global_vars.target_hosts.topo_node_list[0].node_type", "CMDB object id"),
    ("node_type_missing", E, {"global_vars": {"target_hosts": {"topo_node_list": [{"id": 1000}]}}},
     "global_vars.target_hosts.topo_node_list[0].node_type", "CMDB object id"),
    ("node_type_number", E, {"global_vars": {"target_hosts": {"topo_node_list": [{"id": 1000, "node_type": "1module"}]}}},
     "global_vars.target_hosts.topo_node_list[0].node_type", "CMDB object id"),
    # oversized
    ("node_type_65_chars", E, {"global_vars": {"target_hosts": {"topo_node_list": [{"id": 1000, "node_type": "m" * 65}]}}},
     "global_vars.target_hosts.topo_node_list[0].node_type", "CMDB object id"),
    ("ip_list_10000_with_one_bad", E, {"global_vars": {"target_hosts": {"ip_list": MANY_IPS + [{"ip": "10.0.0.999"}]}}},
     "global_vars.target_hosts.ip_list[9999].ip", "IPv4"),
    # conflicting options
    ("plan_id_and_name", E, {"job_plan_name": "deploy-app"}, "job_plan_id", "mutually exclusive"),
    ("no_plan", E, {"job_plan_id": DROP}, "job_plan_name", "one of the following is required"),
    ("start_task_false_while_waiting_default", E, {"start_task": False}, "start_task", "wait: false"),
    ("unknown_option", E, {"job_plan": 1000}, "job_plan", "Unsupported parameters"),
    ("plan_info_no_scope", P, {"bk_biz_id": DROP}, "bk_biz_id", "one of the following is required"),
    # missing identity
    ("no_credentials_at_all", E, {"bk_app_code": DROP, "bk_app_secret": DROP, "bk_username": DROP},
     "bk_app_code", "Missing credentials: bk_app_code, bk_app_secret, bk_username or bk_token"),
    ("bk_token_without_app", E, {"bk_app_code": DROP, "bk_app_secret": DROP, "bk_username": DROP, "bk_token": BK_TOKEN},
     "bk_app_code", "Missing credentials"),
    ("empty_access_token_only", I, {"bk_app_code": DROP, "bk_app_secret": DROP, "bk_username": DROP, "bk_access_token": ""},
     "bk_access_token", "Missing credentials"),
    ("no_bk_api_url", P, {"bk_api_url": DROP}, "bk_api_url", "missing required arguments"),
    # bad URLs
    ("api_url_no_scheme", E, {"bk_api_url": "{host}"}, "bk_api_url", "http:// or https://"),
    ("api_url_ftp", E, {"bk_api_url": "ftp://{host}"}, "bk_api_url", "http:// or https://"),
    ("api_url_bad_port", E, {"bk_api_url": "http://127.0.0.1:99999"}, "bk_api_url", "not a valid URL"),
    ("api_url_esb_api_path", E, {"bk_api_url": "{url}/api/c/compapi/v2/jobv3/"}, "bk_api_url", "leave out /api/c/compapi"),
    ("api_url_gateway_api_path", E, {**GW, "bk_api_url": "{url}/api/bk-job/prod/api/v3/execute_job_plan"}, "bk_api_url",
     "leave out /api/v3"),
    ("api_url_empty", I, {"bk_api_url": ""}, "bk_api_url", "http:// or https://"),
    ("api_url_user_only", P, {"bk_api_url": "http://admin@{host}"}, "bk_api_url", "must not carry a user name"),
    ("callback_url_no_scheme", E, {"callback_url": "hooks.example.com/cb"}, "callback_url", "http:// or https://"),
    ("callback_url_broken_ipv6", E, {"callback_url": "http://[::1/cb"}, "callback_url", "not a valid URL"),
    ("callback_url_no_host", E, {"callback_url": "https://:443/cb"}, "callback_url", "with a host"),
    # JOB refuses these callback URLs (CallbackUrlValidateServiceImpl.isValid: user info, no java.net.URI host).
    ("callback_url_user_info", E, {"callback_url": "https://hook:cb-pw-5521@hooks.example.com/cb"}, "callback_url", "user name or password"),
    ("callback_url_underscore_host", E, {"callback_url": "https://my_hooks.example.com/cb"}, "callback_url", "not a host name"),
    ("callback_url_space", E, {"callback_url": "https://hooks.example.com/a b"}, "callback_url", "percent-encode"),
    # JOB would use host_id_list and drop the ip_list hosts (JobExecuteCommonV3Processor.convertToServersDTO).
    ("hosts_in_both_lists", E, {"global_vars": {"target_hosts": {"host_id_list": [101], "ip_list": [{"ip": "10.0.0.1"}]}}},
     "global_vars.target_hosts", "not both"),
    ("info_web_url_ftp", I, {"bk_job_web_url": "ftp://job.example.com"}, "bk_job_web_url", "http:// or https://"),
    # Found by this suite and fixed in 5a57432: each one crashed, hung, leaked or reached JOB before.
    ("web_url_checked_before_launch", E, {"bk_job_web_url": "job.example.com"}, "bk_job_web_url", "http:// or https://"),
    ("request_timeout_nan", E, {"request_timeout": "nan"}, "request_timeout", "positive"),
    ("request_timeout_inf", E, {"request_timeout": "inf"}, "request_timeout", "positive"),
    ("request_timeout_1e300", I, {"request_timeout": 1e300}, "request_timeout", "at most"),
    ("poll_interval_nan", E, {"poll_interval": "nan", "poll_max_interval": "nan", "wait_timeout": 3}, "poll_interval", "positive"),
    ("tenant_non_latin1", E, {"bk_tenant_id": "租户"}, "bk_tenant_id", "visible ASCII"),
    ("tenant_header_injection", E, {"bk_tenant_id": "t1\r\nX-Injected: 1", "validate_vars": False, "wait": False}, "bk_tenant_id",
     "visible ASCII"),
    ("plan_id_beyond_int64", E, {"job_plan_id": 2 ** 63}, "job_plan_id", "at most"),
    ("scope_id_beyond_int64", P, {"bk_biz_id": DROP, "bk_scope_id": "9" * 30}, "bk_scope_id", "positive integer"),
    ("job_instance_id_beyond_int64", I, {"job_instance_id": 2 ** 64}, "job_instance_id", "at most"),
    ("host_id_beyond_int64", E, {"global_vars": {"target_hosts": {"host_id_list": [2 ** 63]}}},
     "global_vars.target_hosts.host_id_list[0]", "at most"),
    # Without the no_log fix (ansible/ansible#81672) these printed bk_app_secret at -vvv; the run's output is searched.
    ("global_var_list_false", E, {"global_var_list": False}, "global_var_list", ""),
    ("global_var_list_of_text", E, {"global_var_list": ["app_version=1"]}, "global_var_list", ""),
]

BASE = {E: {"job_plan_id": PLAN_DEPLOY_APP, "poll_interval": 0.2, "poll_max_interval": 0.5}, I: {"job_instance_id": FIRST_JOB_INSTANCE_ID}, P: {}}


def case_args(emulator, module, args, tag):
    url = emulator.apigw_url if args.get("bk_api_type") == "apigw" else emulator.url
    host = url.split("://", 1)[1]
    merged = {**esb_connection(emulator), "bk_biz_id": BIZ_ID, "bk_tenant_id": tag, **BASE[module]}
    if args.get("bk_api_type") == "apigw":
        merged["bk_api_url"] = emulator.apigw_url
    for key, value in args.items():
        if isinstance(value, str):
            value = value.replace("{url}", emulator.url).replace("{host}", host)
        merged[key] = value
    return {key: value for key, value in merged.items() if value is not DROP}


def _run_cases(tmp_path_factory, collections, name, cases):
    ansible = Ansible(tmp_path_factory.mktemp(name), collections)
    with Emulator() as emulator:
        hosts = {f"b{index:03d}": (case[1], case_args(emulator, case[1], case[2], f"case-{name}-{index:03d}"))
                 for index, case in enumerate(cases)}
        run = run_hosts(ansible, hosts, forks=len(hosts))
        requests = emulator.requests()
    observed = {}
    for index, case in enumerate(cases):
        tag = hosts[f"b{index:03d}"][1].get("bk_tenant_id")
        observed[case[0]] = (run.results[f"b{index:03d}"], [request for request in requests if tenant_of(request) == tag])
    return observed, requests, run


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, collections):
    return _run_cases(tmp_path_factory, collections, "bad", CASES)


def check_case(result, requests, option, text):
    no_crash(result)
    assert result.get("failed") is True, result
    msg = result.get("msg")
    assert isinstance(msg, str) and option in msg and text in msg, (option, text, msg)
    dumped = json.dumps(result, ensure_ascii=False)
    assert APP_SECRET not in dumped and BK_TOKEN not in dumped and ACCESS_TOKEN not in dumped
    assert result.get("changed") is not True and "job_instance_id" not in result
    assert requests == [], f"{len(requests)} request(s) reached JOB: {[request['api'] for request in requests]}"


def test_the_matrix_is_big_enough():
    assert len(CASES) >= 40 and len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_input_names_the_option_and_sends_nothing(bad_inputs, case):
    name, _module, _args, option, text = case
    result, requests = bad_inputs[0][name]
    check_case(result, requests, option, text)


def test_no_request_reached_job_for_any_bad_input(bad_inputs):
    _observed, requests, run = bad_inputs
    print(f"\nbad-input matrix: {len(CASES)} cases in one parallel run ({run.wall:.1f} s): "
          f"{sum(1 for result, _requests in bad_inputs[0].values() if result.get('failed'))} failed cleanly, "
          f"{len(requests)} requests reached JOB")
    assert requests == []
