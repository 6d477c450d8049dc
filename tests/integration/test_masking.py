# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Masking never corrupts a result, secrets stay hidden on every failure path, and what users set is what they get.

Every run's whole -vvvv output is searched for the secret values (``Ansible.run_command``); the ansible-runner runs
search stdout, every job event and every artifact file.
"""

from __future__ import annotations

import json

import pytest

from conftest import ACCESS_TOKEN, APP_CODE, APP_SECRET, USERNAME, esb_connection  # pylint: disable=import-error
from support import PLAN_DEPLOY_APP  # pylint: disable=import-error

LAUNCH = "blueking.job.execute_job_plan"
INFO = "blueking.job.job_instance_info"
PLAN_INFO = "blueking.job.job_plan_info"
MASK = "********"

PASSWORD = "Pa55-w0rd-mask-31"  # plan 1000's db_password is a password variable (type 4)
NAMED = "named-secret-8c1d"  # k8s_namespace, marked in secret_var_names by name
BY_ID = "by-id-secret-5e7a"  # variable id 5 (labels), marked in secret_var_names by id
GUESSED = "guessed-tok-44f0"  # api_token: secret by its name (global_vars shorthand)
SECRETS = (PASSWORD, NAMED, BY_ID, GUESSED)
SECRET_VARS = [{"name": "db_password", "value": PASSWORD}, {"name": "k8s_namespace", "value": NAMED}, {"id": 5, "value": BY_ID}]
MARKS = ["k8s_namespace", "5"]


def launch(emulator, **args):
    return {"name": "launch", LAUNCH: {**esb_connection(emulator), "bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, "wait": False,
                                       "global_var_list": SECRET_VARS, "secret_var_names": MARKS, **args}}


def launches(emulator):
    return emulator.requests(api="execute_job_plan")


# ---------------------------------------------------------------------------------------------------
# 3. Masking never corrupts a result.

def test_a_short_value_of_a_name_with_pass_in_it_does_not_wipe_the_job_id(job, ansible):
    run = ansible.playbook([
        {"name": "launch", LAUNCH: {**esb_connection(job), "bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, "validate_vars": False, "wait": False,
                                    "global_vars": {"bypass_cache": "1", "compass": 3, "keyboard": True, "tokenizer_mode": "2"}}},
        {"name": "use the id", INFO: {**esb_connection(job), "bk_biz_id": 2, "job_instance_id": "{{ r0.job_instance_id }}",
                                      "wait": False}},
    ])
    launched, info = run["r0"], run["r1"]
    assert isinstance(launched["job_instance_id"], int) and launched["job_instance_id"] == job.instances()[0]["job_instance_id"]
    assert launched["global_var_list"] == [{"name": "bypass_cache", "value": "1"}, {"name": "compass", "value": "3"},
                                           {"name": "keyboard", "value": "true"}, {"name": "tokenizer_mode", "value": "2"}]
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" not in json.dumps(launched)
    assert info.get("failed") is not True and info["job_instance_id"] == launched["job_instance_id"]


def test_a_misspelt_password_variable_shows_no_value(job, ansible, execution_path):  # pylint: disable=unused-argument
    """db_pasword is no variable of the plan and not a secret-looking name: the validation failure masks the values of
    every unknown variable, so the invocation (shown at -vvvv up to ansible-core 2.20) does not show it."""
    secret, short = "S3cretPassw0rd!", "pw12"
    run = ansible.playbook([{"name": "typo", LAUNCH: {**esb_connection(job), "bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP,
                                                      "global_vars": {"db_pasword": secret, "app_versoin": short}}}],
                           secrets=(secret,))
    result = run["r0"]
    assert result["failed"] is True and "did you mean 'db_password'" in result["msg"] and job.instances() == []
    shown = (result.get("invocation") or {}).get("module_args", {}).get("global_vars")
    if shown is not None:  # ansible-core 2.21 leaves the invocation out
        assert shown == {"db_pasword": "********", "app_versoin": "********"}


def test_a_short_known_secret_is_masked_where_reported_and_warned_about(job, ansible):
    run = ansible.playbook([
        {"name": "launch", LAUNCH: {**esb_connection(job), "bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, "wait": False,
                                    "global_vars": {"db_password": "7", "app_version": "7"}}},
    ], diff=True)
    result = run["r0"]
    assert isinstance(result["job_instance_id"], int)
    assert result["global_var_list"] == [{"name": "db_password", "value": MASK}, {"name": "app_version", "value": "7"}]
    assert result["diff"]["after"]["db_password"] == MASK and result["diff"]["after"]["app_version"] == "7"
    assert any("'db_password'" in warning and "too short" in warning for warning in result["warnings"])
    [sent] = launches(job)
    assert {"name": "db_password", "value": "7"} in sent["body"]["global_var_list"]


def test_a_permission_error_names_the_user(job, ansible):
    job.fault("execute_job_plan", "permission")
    result = ansible.playbook([launch(job)])["r0"]
    assert result["failed"] is True and f"({USERNAME})" in json.dumps(result, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------------
# 4. Secrets stay hidden on every failure path.

# (case id, task arguments over launch(), text the msg must carry)
FAILURES = [
    ("poll_interval_text", {"poll_interval": "soon", "wait": True}, "poll_interval"),
    ("ipv6_in_another_variable", {"global_var_list": SECRET_VARS + [{"name": "target_hosts", "server": {"ip_list": [{"ip": "::1"}]}}]},
     "IPv4"),
    ("empty_app_code", {"bk_app_code": ""}, "Missing credentials"),
    ("validate_certs_text", {"validate_certs": "maybe"}, "validate_certs"),
    ("unknown_option", {"bogus": 1}, "bogus"),
    ("plan_id_and_name", {"job_plan_name": "deploy-app"}, "mutually exclusive"),
    ("unknown_entry_key", {"global_var_list": SECRET_VARS + [{"name": "x", "vaule": "1"}]}, "vaule"),
    ("unknown_variable", {"global_var_list": SECRET_VARS + [{"name": "no_such_var", "value": "1"}]}, "unknown variable"),
    ("plan_missing_on_read", {"job_plan_id": 99999}, "get_job_plan_detail"),
    ("plan_missing_on_launch", {"job_plan_id": 99999, "validate_vars": False}, "JOB refused execute_job_plan"),
    ("api_url_ftp", {"bk_api_url": "ftp://127.0.0.1"}, "bk_api_url"),
    ("start_task_false_waiting", {"start_task": False, "wait": True}, "start_task"),
    ("callback_url_user_info", {"callback_url": "https://u:cbpw-91ab@hooks.example.com/x"}, "user name or password"),
    ("hosts_in_both_lists", {"global_var_list": SECRET_VARS + [
        {"name": "target_hosts", "server": {"host_id_list": [101], "ip_list": [{"ip": "10.0.0.2"}]}}]}, "not both"),
    ("global_var_list_false", {"global_var_list": False, "global_vars": {"api_token": GUESSED}}, "global_var"),
    ("shorthand_list_value", {"global_var_list": None, "global_vars": {"api_token": GUESSED, "app_version": ["a"]}}, "list"),
]


def failure_task(emulator, args):
    task = launch(emulator, **args)
    task[LAUNCH] = {key: value for key, value in task[LAUNCH].items() if value is not None}
    return task


def check_failure(result, text, *, failed_key=True):
    """A clean failure naming ``text`` and showing no secret; the ad-hoc and runner views of a result carry no ``failed``."""
    dumped = json.dumps(result, ensure_ascii=False)
    assert (result.get("failed") is True or not failed_key) and text in result.get("msg", ""), (text, result.get("msg"))
    assert "Traceback" not in dumped and not [secret for secret in SECRETS if secret in dumped]


def test_no_failure_path_shows_a_secret_through_ansible_playbook(job, ansible, execution_path):  # pylint: disable=unused-argument
    run = ansible.playbook([failure_task(job, args) for _name, args, _text in FAILURES], secrets=SECRETS + ("cbpw-91ab",))
    for index, (_name, _args, text) in enumerate(FAILURES):
        check_failure(run[f"r{index}"], text)
    assert launches(job) == [] or all(request["body"]["job_plan_id"] == 99999 for request in launches(job))
    print(f"\nsecret scan, ansible-playbook -vvvv: {len(FAILURES)} failure paths x {len(SECRETS)} secrets, 0 found")


@pytest.mark.parametrize("name", ["poll_interval_text", "ipv6_in_another_variable", "empty_app_code", "unknown_option",
                                  "plan_missing_on_launch"])
def test_no_failure_path_shows_a_secret_through_ansible_adhoc(job, ansible, name, execution_path):  # pylint: disable=unused-argument
    [(args, text)] = [(args, text) for case, args, text in FAILURES if case == name]
    result = ansible.adhoc(LAUNCH, failure_task(job, args)[LAUNCH], secrets=SECRETS)
    assert result.rc != 0
    check_failure(result.results, text, failed_key=False)


def test_a_short_secret_is_masked_in_the_invocation_of_an_argument_failure(job, ansible):
    args = failure_task(job, {"poll_interval": "soon", "wait": True, "secret_var_names": ["5"],
                              "global_var_list": [{"name": "db_password", "value": "q9"}, {"id": 5, "value": "q8"}, {"name": "x", "value": "q9"}]})
    result = ansible.adhoc(LAUNCH, args[LAUNCH]).results  # the -vvvv view: ansible-core up to 2.20 shows the invocation there
    assert "q8" not in json.dumps(result), "the id-marked secret shows nowhere"
    if "invocation" not in result:  # ansible-core 2.21 leaves the invocation out of an argument-check failure
        return
    shown = result["invocation"]["module_args"]["global_var_list"]
    assert shown == [{"name": "db_password", "value": MASK}, {"id": 5, "value": MASK}, {"name": "x", "value": "q9"}]


def test_no_failure_path_shows_a_secret_through_ansible_runner(job, collections, tmp_path, monkeypatch):
    awx = pytest.importorskip("test_awx_runner")
    awx.clean_environ(monkeypatch)
    tasks = []
    for name, args, _text in FAILURES:
        task = failure_task(job, args)
        tasks.append({"name": name, LAUNCH: task[LAUNCH], "ignore_errors": True})
    root = awx.private_data_dir(tmp_path, [{"name": "failures", "hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    runner = awx.run_job(root, awx.base_envvars(tmp_path, str(collections)))
    # The playbook (project/) holds the values as the user wrote them; what the run produced must not.
    produced = [runner.stdout.read(), json.dumps(list(runner.events), ensure_ascii=False)]
    produced += [path.read_text(encoding="utf-8", errors="replace") for path in sorted((root / "artifacts").rglob("*"))
                 if path.is_file() and path.name != "command"]
    assert len(produced) > len(FAILURES)
    for text in produced:
        assert not [secret for secret in SECRETS + (APP_SECRET, "cbpw-91ab") if secret in text]
    for name, _args, text in FAILURES:
        check_failure(awx.task_result(runner, name), text, failed_key=False)
    print(f"\nsecret scan, ansible-runner: {len(FAILURES)} failure paths, {len(produced)} outputs (stdout, events, artifacts), 0 found")


# ---------------------------------------------------------------------------------------------------
# 5. What users set is what they get.

def plain_launch(emulator, **args):
    task = {**esb_connection(emulator), "bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, "wait": False, "global_vars": {"app_version": "2.0"}, **args}
    return {"name": "launch", LAUNCH: {key: value for key, value in task.items() if value is not None}}


def test_empty_environment_variables_count_as_unset(job, ansible):
    env = {"BK_API_TYPE": "", "BK_VALIDATE_CERTS": "", "BK_REQUEST_TIMEOUT": " ", "BK_TENANT_ID": "", "BK_ACCESS_TOKEN": "",
           "BK_JOB_WEB_URL": "", "BK_CA_PATH": ""}
    result = ansible.playbook([plain_launch(job)], env=env)["r0"]
    assert result.get("failed") is not True and isinstance(result["job_instance_id"], int), result.get("msg")
    assert "job_instance_url" not in result


def test_the_shipped_credential_type_with_empty_fields_runs_through_ansible_runner(job, collections, tmp_path, monkeypatch):
    awx = pytest.importorskip("test_awx_runner")
    awx.clean_environ(monkeypatch)
    fields = [field["id"] for field in awx.load_credential_type()["inputs"]["fields"]]
    inputs = {**{field: "" for field in fields}, "skip_tls_verify": False, "bk_api_url": job.url, "bk_app_code": APP_CODE,
              "bk_app_secret": APP_SECRET, "bk_username": USERNAME}  # AWX renders every unset field as ""
    injected = awx.render_env(awx.load_credential_type(), inputs)
    assert injected["BK_TOKEN"] == injected["BK_ACCESS_TOKEN"] == injected["BK_TENANT_ID"] == injected["BK_JOB_WEB_URL"] == ""
    # An API type input saved empty, and a timeout some other credential or the EE leaves empty.
    injected.update({"BK_API_TYPE": "", "BK_REQUEST_TIMEOUT": "", "BK_CA_PATH": ""})
    runner = awx.run_job(awx.private_data_dir(tmp_path, awx.LAUNCH_PLAYBOOK), {**awx.base_envvars(tmp_path, str(collections)), **injected})
    assert runner.status == "successful", runner.stdout.read()[-3000:]
    assert awx.task_result(runner, "Launch plan 1000")["status_name"] == "success"


def test_options_on_the_task_beat_an_access_token_from_the_environment(job, ansible):
    run = ansible.playbook([plain_launch(job)], env={"BK_ACCESS_TOKEN": ACCESS_TOKEN})
    result = run["r0"]
    assert result.get("failed") is not True, result.get("msg")
    assert any("BK_ACCESS_TOKEN" in warning and "application identity" in warning for warning in result["warnings"])
    [sent] = launches(job)
    assert sent["body"]["bk_app_code"] == APP_CODE and "access_token" not in sent["body"]


def test_an_id_and_a_name_for_different_variables_fail_and_two_entries_for_one_variable_are_refused(job, ansible):
    run = ansible.playbook([
        plain_launch(job, global_vars=None, global_var_list=[{"id": 1, "name": "release_note", "value": "2.0"}]),
        plain_launch(job, global_vars=None, global_var_list=[{"id": 1, "value": "2.0"}, {"name": "app_version", "value": "3.0"}]),
        plain_launch(job, global_vars=None, validate_vars=False,
                     global_var_list=[{"id": 1, "value": "2.0"}, {"name": "app_version", "value": "3.0"}]),
    ])
    assert "id 1 is 'app_version', not 'release_note'" in run["r0"]["msg"]
    assert "'app_version' (id 1) is given twice" in run["r1"]["msg"]
    assert any("JOB uses the entry with the id" in warning for warning in run["r2"]["warnings"])
    assert len(launches(job)) == 1


@pytest.mark.parametrize("written, sent", [
    ("https://hooks.example.com/bk-job/", "https://hooks.example.com/bk-job/"),
    ("  https://hooks.example.com/cb?next=/  ", "https://hooks.example.com/cb?next=/"),
    ("", None),
    ("   ", None),
])
def test_callback_url_reaches_job_as_written(job, ansible, written, sent):
    result = ansible.playbook([plain_launch(job, callback_url=written)])["r0"]
    assert result.get("failed") is not True, result.get("msg")
    [request] = launches(job)
    assert request["body"].get("callback_url") == sent


@pytest.mark.parametrize("url, text", [
    ("https://user:pw-1234@hooks.example.com/x", "user name or password"),
    ("https://user@hooks.example.com/x", "user name or password"),
    ("https://my_hooks.example.com/x", "not a host name JOB can parse"),
    ("https://hooks.example.com/a b", "percent-encode"),
])
def test_a_callback_url_job_refuses_is_refused_before_sending(job, ansible, url, text):
    result = ansible.playbook([plain_launch(job, callback_url=url)], secrets=("pw-1234",))["r0"]
    assert result["failed"] is True and text in result["msg"], result["msg"]
    assert launches(job) == []


def test_a_plan_read_with_job_plan_info_launches_with_one_value_changed(job, ansible):
    run = ansible.playbook([
        {"name": "read", PLAN_INFO: {**esb_connection(job), "bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP}},
        {"name": "launch", LAUNCH: {**esb_connection(job), "bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, "wait": False,
                                    "global_var_list": "{{ r0.job_plan.variables | rejectattr('name', 'eq', 'app_version') | list"
                                                       " + [{'name': 'app_version', 'value': '9.9'}] }}"}},
    ])
    assert run["r1"].get("failed") is not True, run["r1"].get("msg")
    [sent] = launches(job)
    names = [entry.get("name") for entry in sent["body"]["global_var_list"]]
    assert {"name": "app_version", "value": "9.9"} in sent["body"]["global_var_list"]
    assert "db_password" not in names, "the masked password is not sent: the plan keeps its own"
    for entry in sent["body"]["global_var_list"]:
        assert set(entry) <= {"id", "name", "value", "server"}
        for host in (entry.get("server") or {}).get("ip_list", []):
            assert set(host) == {"bk_cloud_id", "ip"}
