# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Secret variables: which names are secret, which values Ansible may mask, and that masking never damages a result.

The property tests run the real path: secret_entries -> secrets_to_mask -> ansible-core's remove_values (what
AnsibleModule.exit_json applies to every result) over generated names and values.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings, strategies as st

from ansible.module_utils.common.parameters import remove_values

from ansible_collections.blueking.job.plugins.module_utils._plan import plan_diff
from ansible_collections.blueking.job.plugins.module_utils._secrets import (
    MASK,
    is_secret_name,
    mask_safe,
    masked,
    masked_arguments,
    raw_secret_values,
    secret_entries,
    secrets_to_mask,
)
from ansible_collections.blueking.job.plugins.module_utils._variables import build_global_var_list
from support import PLAN_DEPLOY_APP  # pylint: disable=import-error

SECRET_NAMES = ["db_password", "dbPassword", "DB_PASSWORD", "api_token", "ssh_private_key", "mysql-pwd", "app.secret",
                "accessKey", "ApiKey", "root_passwd", "AUTH_TOKEN", "user_credentials", "sign_secret_key", "db_pass"]
PLAIN_NAMES = ["bypass_cache", "compass", "keyboard", "tokenizer_mode", "passport_no", "monkey", "cache_key", "app_version",
               "target_hosts", "sort_key", "passive", "secretary_name"]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names_match_on_word_parts(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_names_that_only_contain_a_secret_word_are_not_secret(name):
    assert not is_secret_name(name)


@pytest.mark.parametrize("value", ["1", "true", "false", "admin", "8080", "20000001", "10.0.0.1", "2026-11-29", "1.2.3",
                                   "production", "password", "success", "", "   ", "12345678901234567890"])
def test_short_numeric_and_common_values_are_not_handed_to_ansible(value):
    assert not mask_safe(value)


@pytest.mark.parametrize("value", ["S3cr3t-pw", "db-pass-9f2c41", "aZ3kP9qX", "correct horse battery staple"])
def test_distinctive_values_are_masked_everywhere(value):
    assert mask_safe(value)


def test_bypass_cache_one_no_longer_wipes_the_job_id():
    entries = build_global_var_list(None, {"bypass_cache": "1", "db_password": "1"})
    secrets = secret_entries(entries, None, [])
    assert secrets == {1: "name"}
    safe, unsafe = secrets_to_mask(entries, secrets)
    assert safe == set()  # a guess from the name never reaches Ansible's global masking
    assert unsafe == ["'db_password'"]  # and is warned about as too short, like a password variable
    result = {"job_instance_id": 20000001, "status": 3, "global_var_list": masked(entries, secrets)}
    shown = remove_values(result, safe)
    assert shown["job_instance_id"] == 20000001
    assert shown["global_var_list"] == [{"name": "bypass_cache", "value": "1"}, {"name": "db_password", "value": MASK}]


def test_explicit_short_secret_is_masked_structurally_and_reported_as_unsafe():
    entries = build_global_var_list([{"id": 3, "value": "42"}], None)
    secrets = secret_entries(entries, None, ["3"])
    assert secrets == {0: "named"}
    assert secrets_to_mask(entries, secrets) == (set(), ["id 3"])
    assert masked(entries, secrets) == [{"id": 3, "value": MASK}]


def test_plan_password_is_known_by_id_and_name_and_masked_in_the_diff():
    plan = {"id": 1000, "name": "deploy", "global_var_list": [
        {"id": 1, "name": "db_conn", "type": 4, "value": "old-pass-1"},
        {"id": 2, "name": "api_key", "type": 1, "value": "plan-default-key-77"},
        {"id": 3, "name": "region", "type": 1, "value": "gz"}]}
    entries = build_global_var_list([{"id": 1, "value": "x"}, {"name": "region", "value": "x"}], None)
    secrets = secret_entries(entries, plan, [])
    assert secrets == {0: "password"}
    shown = plan_diff(entries, plan, secrets, [])
    assert shown["before"] == {"db_conn": MASK, "api_key": MASK, "region": "gz"}
    assert shown["after"] == {"db_conn": MASK, "api_key": MASK, "region": "x"}  # same value, not a secret: shown


def test_raw_arguments_of_any_shape_yield_their_secret_values():
    raw = {"global_var_list": [{"id": 3, "value": "pw-by-id-1"}, {"name": "dbPassword", "value": ["a", 7]}, "junk"],
           "secret_var_names": "3,other"}
    assert sorted(raw_secret_values(raw)) == [("7", "name"), ("a", "name"), ("pw-by-id-1", "named")]
    assert raw_secret_values({"global_vars": {"db_password": True}}) == [("True", "name"), ("true", "name")]
    shown = masked_arguments({**raw, "global_vars": None})
    assert shown["global_var_list"] == [{"id": 3, "value": MASK}, {"name": "dbPassword", "value": MASK}, "junk"]


NAMES = st.one_of(st.sampled_from(SECRET_NAMES + PLAIN_NAMES), st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,20}", fullmatch=True))
VALUES = st.one_of(st.text(max_size=12), st.integers(-10, 10 ** 9).map(str), st.sampled_from(["1", "0", "true", "false", "3",
                                                                                              "success", "deploy", "10.0.0.1"]))


@settings(max_examples=300, deadline=None)
@given(variables=st.dictionaries(NAMES, VALUES, min_size=1, max_size=6), marked=st.lists(NAMES, max_size=3),
       job_id=st.integers(1, 2 ** 63 - 1), plan_name=st.text(min_size=1, max_size=20))
def test_no_variable_value_damages_the_id_name_ip_or_status(variables, marked, job_id, plan_name):
    entries = build_global_var_list(None, variables)
    secrets = secret_entries(entries, None, marked)
    safe, _unsafe = secrets_to_mask(entries, secrets)
    reported = {"job_instance_id": job_id, "job_instance_name": f"{plan_name}_20261129", "status": 3, "status_name": "success",
                "steps": [{"hosts": [{"ip": "10.0.0.1", "bk_host_id": 101, "status": 9}]}]}
    shown = remove_values({**reported, "global_var_list": masked(entries, secrets)}, safe)
    for value in safe:  # what Ansible masks everywhere occurs by chance in none of these
        assert mask_safe(value)
    if not any(value in f"{plan_name}_20261129" for value in safe):
        assert {key: shown[key] for key in reported} == reported
    for index, entry in enumerate(shown["global_var_list"]):
        if index in secrets:
            assert entry["value"] == MASK
        elif not any(value in entries[index]["value"] for value in safe):
            assert entry["value"] == entries[index]["value"]  # a value that is not secret is never damaged


STEP_NAMES = ["push package", "restart service", "deploy-app"]
RESULT_NAMES = st.sampled_from(["deploy-app", "deploy-app-canary", "push package", "restart service", "success", "10.0.0.1",
                                "fe80::a1b2:3c4d", "20001", "1000", "https://job.example.com/api_execute/20001"])


@settings(max_examples=300, deadline=None)
@given(variables=st.dictionaries(NAMES, st.one_of(VALUES, RESULT_NAMES), min_size=1, max_size=6), marked=st.lists(NAMES, max_size=3),
       secret_name=RESULT_NAMES, plan_name=st.one_of(RESULT_NAMES, st.text(min_size=1, max_size=20)))
def test_a_secret_that_is_also_a_name_leaves_the_names_intact_and_shows_nowhere(variables, marked, secret_name, plan_name):
    """Issue 11 follow-up: db_password "deploy-app" made the job_instance_name VALUE_SPECIFIED_IN_NO_LOG_PARAMETER.

    The module's exit path: identity_clashes takes the clashing values out of Ansible's masking, hide_in_text masks them
    in the free text, then ansible-core's remove_values masks the others everywhere.
    """
    from ansible_collections.blueking.job.plugins.module_utils._module import hide_in_text, identity_clashes

    variables = {**variables, "db_password": secret_name}
    entries = build_global_var_list(None, variables)
    secrets = secret_entries(entries, None, marked)
    safe, _unsafe = secrets_to_mask(entries, secrets)
    identities = {"job_instance_id": 20001, "job_instance_name": plan_name, "job_plan_id": PLAN_DEPLOY_APP, "status": 3, "status_name": "success",
                  "job_instance_url": "https://job.example.com/api_execute/20001",
                  "steps": [{"step_instance_id": 7001 + index, "name": name, "status_name": "success",
                             "hosts": [{"ip": "10.0.0.1", "ipv6": "fe80::a1b2:3c4d", "bk_host_id": 101, "status_name": "success"}]}
                            for index, name in enumerate(STEP_NAMES)]}
    free = " | ".join(str(value) for value in variables.values())
    result = {**copy.deepcopy(identities), "msg": f"Job {plan_name} ended: {free}", "global_var_list": masked(entries, secrets),
              "output_vars": {"status": free}, "error": {"message": free, "request_id": "r-1"}}
    for step in result["steps"]:
        step["hosts"][0]["log"] = f"[{step['name']}] {free}"
    clashes = identity_clashes(safe, result)
    shown = remove_values(hide_in_text(result, clashes), safe - clashes)
    assert {key: shown[key] for key in identities if key != "steps"} == {key: identities[key] for key in identities if key != "steps"}
    assert [{**step, "hosts": [{key: value for key, value in host.items() if key != "log"} for host in step["hosts"]]}
            for step in shown["steps"]] == identities["steps"]
    free_texts = [shown["msg"], shown["output_vars"]["status"], shown["error"]["message"]] + [
        step["hosts"][0]["log"] for step in shown["steps"]] + [str(entry.get("value")) for entry in shown["global_var_list"]]
    for value in safe:
        if "*" not in value:
            assert not any(value in text for text in free_texts), (value, free_texts)
    for index, entry in enumerate(shown["global_var_list"]):
        if index in secrets:
            assert entry["value"] == MASK
