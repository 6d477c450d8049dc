# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Safe launches: validation against the plan, plan by name, check and diff, lost answers, passwords; job_plan_info."""

from __future__ import annotations

import json

import pytest

from conftest import apigw_connection, esb_connection  # pylint: disable=import-error
from support import BK_TOKEN, PLAN_DEPLOY_APP  # pylint: disable=import-error

LAUNCH = "blueking.job.execute_job_plan"
PLAN_INFO = "blueking.job.job_plan_info"
PASSWORD = "Pa55-w0rd-db-19"


def launch(emulator, **args):
    return {"name": "launch", LAUNCH: {**esb_connection(emulator), "bk_biz_id": 2, "wait": False, **args}}


def launches(emulator):
    return emulator.requests(api="execute_job_plan")


def test_each_validation_problem_is_named_and_nothing_is_launched(job, ansible):
    run = ansible.playbook([
        launch(job, job_plan_id=PLAN_DEPLOY_APP, global_vars={"app_verison": "2.0"}),
        launch(job, job_plan_id=PLAN_DEPLOY_APP, global_var_list=[{"id": 77, "value": "x"}]),
        launch(job, job_plan_id=PLAN_DEPLOY_APP, global_vars={"target_hosts": "10.0.0.1"}),
        launch(job, job_plan_id=PLAN_DEPLOY_APP, global_vars={"app_version": {"host_id_list": [101]}}),
        launch(job, job_plan_id=PLAN_DEPLOY_APP, global_vars={"app_version": ""}),
        launch(job, job_plan_id=1003),
        launch(job, job_plan_id=PLAN_DEPLOY_APP, global_vars={"app_verison": "2.0", "target_hosts": "10.0.0.1"}),
    ])
    expected = [
        "unknown variable 'app_verison' (did you mean 'app_version'?)",
        "unknown variable id 77",
        "'target_hosts' is a host variable: give server",
        "'app_version' is a string variable: give value, not server",
        "'app_version' is required but given an empty value",
        "'app_version' is required and the plan has no default",
        "unknown variable 'app_verison' (did you mean 'app_version'?); 'target_hosts' is a host variable",
    ]
    for index, text in enumerate(expected):
        result = run[f"r{index}"]
        assert result["failed"] is True and text in result["msg"], (text, result["msg"])
        assert result["error"]["stage"] == "validate" and "Nothing was launched" in result["msg"]
    assert launches(job) == []


def test_plan_by_exact_name_across_pages(job, ansible):
    job.admin("POST", "/_emulator/settings", {"page_limit": 2})
    run = ansible.playbook([
        launch(job, job_plan_name="maintenance-45"),
        launch(job, job_plan_name="deploy"),
        launch(job, job_plan_name="deploy-ap"),
    ])
    assert run["r0"]["changed"] is True and run["r0"]["job_plan_id"] == 1145
    assert run["r1"]["job_plan_id"] == 1004, "the fuzzy API filter also matches deploy-app*: only the exact name counts"
    assert run["r2"]["failed"] is True and "No job plan is named exactly 'deploy-ap'" in run["r2"]["msg"]
    assert "'deploy-app' (1000)" in run["r2"]["msg"] and run["r2"]["error"]["stage"] == "lookup"
    assert [sent["body"]["job_plan_id"] for sent in launches(job)] == [1145, 1004]
    pages = job.requests(api="get_job_plan_list")
    assert all(sent["body"]["length"] == 1000 for sent in pages)
    # maintenance-45 matches 1 plan, deploy 3 (2 pages), deploy-ap 2 (1 page, then total reached)
    assert [sent["body"]["start"] for sent in pages] == [0, 0, 2, 0]


def test_several_plans_with_one_name_fail_listing_them(job, ansible):
    job.admin("POST", "/_emulator/plans", {"bk_scope_type": "biz", "bk_scope_id": "2", "id": 1999, "name": "deploy-app"})
    result = ansible.playbook([launch(job, job_plan_name="deploy-app")])["r0"]
    assert result["failed"] is True and "2 job plans are named 'deploy-app'" in result["msg"]
    assert "1000" in result["msg"] and "1999" in result["msg"]
    assert launches(job) == []


def test_check_mode_validates_and_launches_nothing(job, ansible):
    run = ansible.playbook([
        launch(job, job_plan_name="deploy-app", global_vars={"app_version": "3.1"}),
        launch(job, job_plan_id=PLAN_DEPLOY_APP, global_vars={"app_verison": "3.1"}),
    ], check=True)
    assert run["r0"]["changed"] is True and run["r0"]["job_plan_id"] == PLAN_DEPLOY_APP
    assert run["r0"]["global_var_list"] == [{"name": "app_version", "value": "3.1"}]
    assert run["r1"]["failed"] is True and "unknown variable 'app_verison'" in run["r1"]["msg"]
    assert launches(job) == []


def test_diff_shows_defaults_against_values_sent_with_passwords_masked(job, ansible):
    run = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY_APP, global_vars={"app_version": "3.1", "db_password": PASSWORD})],
                           check=True, diff=True, secrets=(PASSWORD,))
    diff = run["r0"]["diff"]
    assert diff["before"]["app_version"] == "1.0.0" and diff["after"]["app_version"] == "3.1"
    assert diff["after"]["db_password"] == "********"
    assert "job plan 1000 (deploy-app)" in diff["before_header"]
    assert '"app_version": "3.1"' in run.output or "app_version" in run.output
    assert launches(job) == []


def test_password_values_never_shown_but_sent(job, ansible):
    run = ansible.playbook([
        launch(job, job_plan_id=PLAN_DEPLOY_APP, global_vars={"db_password": PASSWORD, "app_version": "4.0"}),
        launch(job, job_plan_id=PLAN_DEPLOY_APP, validate_vars=False, secret_var_names=["db_password"],
               global_var_list=[{"name": "db_password", "value": PASSWORD}]),
        launch(job, job_plan_id=PLAN_DEPLOY_APP, global_vars={"db_password": PASSWORD, "no_such_var": "x"}),
    ], diff=True, secrets=(PASSWORD,))
    assert {"name": "db_password", "value": "********"} in run["r0"]["global_var_list"]
    assert run["r1"]["global_var_list"] == [{"name": "db_password", "value": "********"}]
    assert run["r2"]["failed"] is True and PASSWORD not in json.dumps(run.results)
    sent = [request["body"]["global_var_list"] for request in launches(job)]
    assert {"name": "db_password", "value": PASSWORD} in sent[0] and sent[1] == [{"name": "db_password", "value": PASSWORD}]


def starts(emulator):
    return [request for request in emulator.requests(api="operate_job_instance") if request["body"]["operation_code"] == 2
            and request["body"]["job_instance_id"] != 2 ** 63 - 1]


def version_of(instance):
    return {var["name"]: var.get("value") for var in instance["global_var_list"] or []}.get("app_version")


def test_a_loop_item_whose_launch_a_proxy_lost_gets_its_own_job(job, ansible):
    """Issue 11: item 2's POST is answered by a proxy's HTML 502 before it reaches JOB; item 1's job is not item 2's."""
    job.fault("execute_job_plan", "html_502", surface="apigw")
    connection = {**esb_connection(job), "bk_api_url": "{{ item.url }}", "bk_api_type": "{{ item.type }}"}
    run = ansible.playbook([{
        "name": "deploy each version", "loop": [{"version": "2.0", "url": job.url, "type": "esb"},
                                                {"version": "2.1", "url": job.apigw_url, "type": "apigw"}],
        LAUNCH: {**connection, "bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, "global_vars": {"app_version": "{{ item.version }}"},
                 "bk_job_web_url": "https://job.example.com", "poll_interval": 0.2}}])
    first, second = run["r0"]["results"]
    instances = {item["job_instance_id"]: item for item in job.instances()}
    assert first["failed"] is False and second["failed"] is False and "adopted" not in second
    assert first["job_instance_id"] != second["job_instance_id"] and len(instances) == 2
    assert version_of(instances[first["job_instance_id"]]) == "2.0" and version_of(instances[second["job_instance_id"]]) == "2.1"
    assert first["status_name"] == second["status_name"] == "success"
    # a loop's warnings are on the loop's result
    assert any("got no clear answer once" in warning and f"job instance {second['job_instance_id']} is this task's" in warning
               for warning in run["r0"]["warnings"])
    assert [request["body"]["start_task"] for request in launches(job)] == [False, False, False]
    assert len(starts(job)) == 2


@pytest.mark.parametrize("fault", ["after_create_drop", "after_create_502"])
def test_a_create_lost_after_job_made_it_is_sent_again_and_the_leftover_named(job, ansible, fault):
    job.fault("execute_job_plan", fault)
    result = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY_APP, wait=True, poll_interval=0.2, bk_job_web_url="https://job.example.com")])["r0"]
    instances = {item["job_instance_id"]: item for item in job.instances()}
    [leftover] = [item for item in instances.values() if item["job_instance_id"] != result["job_instance_id"]]
    assert result["failed"] is False and result["status_name"] == "success" and "adopted" not in result
    assert leftover["status"] == 1, "the lost create's instance never starts"
    assert any(f"https://job.example.com/api_execute/{leftover['job_instance_id']}" in warning for warning in result["warnings"])
    assert len(launches(job)) == 2 and len(starts(job)) == 1


@pytest.mark.parametrize("fault", ["after_create_drop", "html_502"])
def test_a_lost_start_answer_starts_the_job_once(job, ansible, fault):
    job.fault("operate_job_instance", fault)
    result = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY_APP, wait=True, poll_interval=0.2)])["r0"]
    [instance] = job.instances()
    assert result["failed"] is False and result["job_instance_id"] == instance["job_instance_id"] and result["status_name"] == "success"
    assert len(starts(job)) == (1 if fault.startswith("after_create") else 2)


def test_a_token_caller_on_old_job_never_takes_another_users_job(job, ansible):
    """Issue 11: alice launched a moment ago; a bk_token caller's launch gets a 502 on a JOB before 3.10 (no start_task)."""
    job.next_launch(job_version="3.9.0")
    others = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY_APP, bk_username="alice")])["r0"]
    job.next_launch(job_version="3.9.0")
    job.fault("execute_job_plan", "html_502")
    token = {key: value for key, value in esb_connection(job, bk_token=BK_TOKEN).items() if key != "bk_username"}
    task = {**token, "bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, "wait": False, "bk_job_web_url": "https://job.example.com"}
    result = ansible.playbook([{"name": "launch", LAUNCH: task}])["r0"]
    assert others["failed"] is False and result["failed"] is True and "job_instance_id" not in result
    assert "the job may have started" in result["msg"] and "None is adopted" in result["msg"]
    assert f"{others['job_instance_id']} (https://job.example.com/api_execute/{others['job_instance_id']}, operator alice" in result["msg"]
    assert len(job.instances()) == 1


def test_one_step_launch_with_a_lost_answer_names_the_candidates_without_guessing(job, ansible):
    first = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY_APP)])["r0"]
    job.fault("execute_job_plan", "after_create_drop")
    result = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY_APP, start_task=True)])["r0"]
    instances = job.instances()
    assert result["failed"] is True and "start_task is true" in result["msg"] and "by admin" in result["msg"]
    assert all(str(item["job_instance_id"]) in result["msg"] for item in instances) and str(first["job_instance_id"]) in result["msg"]
    assert len(instances) == 2 and len(launches(job)) == 2


def test_job_plan_info_lists_every_page_and_describes_a_plan(job, ansible):
    job.admin("POST", "/_emulator/settings", {"page_limit": 20})
    connection = {**apigw_connection(job), "bk_scope_id": "2"}
    run = ansible.playbook([
        {"name": "all plans", PLAN_INFO: connection},
        {"name": "fuzzy name", PLAN_INFO: {**connection, "name": "deploy"}},
        {"name": "one plan", PLAN_INFO: {**connection, "job_plan_id": PLAN_DEPLOY_APP}},
    ], check=True)
    assert len(run["r0"]["job_plans"]) == 49 and run["r0"]["changed"] is False
    assert len({plan["id"] for plan in run["r0"]["job_plans"]}) == 49
    assert sorted(plan["name"] for plan in run["r1"]["job_plans"]) == ["deploy", "deploy-app", "deploy-app-canary"]
    plan = run["r2"]["job_plan"]
    assert plan["id"] == 1000 and plan["name"] == "deploy-app"
    variables = {var["name"]: var for var in plan["variables"]}
    assert variables["db_password"]["type_name"] == "password" and variables["db_password"]["value"] == "********"
    assert variables["app_version"]["required"] is True and variables["app_version"]["value"] == "1.0.0"
    assert variables["target_hosts"]["type_name"] == "host_list" and "server" in variables["target_hosts"]
    assert [step["type_name"] for step in plan["steps"]] == ["script", "file", "confirm", "script"]


def test_password_masked_even_when_the_plan_cannot_be_read(job, ansible):
    job.fault("get_job_plan_detail", "http_status", status=502, count=-1)
    run = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY_APP, global_vars={"db_password": PASSWORD, "app_version": "4.0"})],
                           secrets=(PASSWORD,))
    assert run["r0"]["failed"] is True and run["r0"]["error"]["stage"] == "lookup"
    assert launches(job) == []


def test_secret_looking_names_are_masked_without_the_plan(job, ansible):
    run = ansible.playbook([launch(job, job_plan_id=PLAN_DEPLOY_APP, validate_vars=False, global_vars={"deploy_token": PASSWORD})],
                           secrets=(PASSWORD,))
    assert run["r0"]["global_var_list"] == [{"name": "deploy_token", "value": "********"}]
    assert launches(job)[0]["body"]["global_var_list"] == [{"name": "deploy_token", "value": PASSWORD}]


def test_tenant_set_scope_is_sent_as_chosen(job, ansible):
    """bk_scope_type tenant_set (bk-job 3.12 ResourceScopeTypeEnum.TENANT_SET) reaches JOB exactly as written."""
    run = ansible.playbook([{"name": "plans", PLAN_INFO: {**esb_connection(job), "bk_scope_type": "tenant_set", "bk_scope_id": "1"}}])
    assert run["r0"].get("failed") is not True, run["r0"].get("msg")
    sent = job.requests(api="get_job_plan_list")[-1]["body"]
    assert sent["bk_scope_type"] == "tenant_set" and sent["bk_scope_id"] == "1" and "bk_biz_id" not in sent
