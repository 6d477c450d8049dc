# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Secret scan: success, failure, check, diff, timeout, fault, async and ad-hoc paths.

The credentials and the password variable come from the environment, so that any hit in stdout/stderr, the registered
results or any file under the test's directory (ansible log, async results, temp files) is a leak.
The figures are in docs/reliability.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ACCESS_TOKEN, APP_CODE, APP_SECRET, BK_TOKEN, USERNAME  # pylint: disable=import-error
from multihost import FAST, INFO, LAUNCH, PLAN_INFO, warnings_of  # pylint: disable=import-error
from support import BIZ_ID, PLAN_DEPLOY_APP, PLAN_DEPLOY_APP_CANARY  # pylint: disable=import-error

DB_PASSWORD = "Db-Pa55-vault-4417"
SECRET_ENV = {"BK_APP_CODE": APP_CODE, "BK_APP_SECRET": APP_SECRET, "BK_USERNAME": USERNAME, "BK_TOKEN": BK_TOKEN,
              "RS_ACCESS_TOKEN": ACCESS_TOKEN, "RS_DB_PASSWORD": DB_PASSWORD, "RS_NOTE": "note-secret-6a1f"}
SCANNED = (APP_SECRET, BK_TOKEN, ACCESS_TOKEN, DB_PASSWORD, "note-secret-6a1f")


def _uri(job, method, path, body=None):
    task = {"name": f"emulator {method} {path}", "ansible.builtin.uri": {"url": job.url + path, "method": method, "status_code": [200]}}
    if body is not None:
        task["ansible.builtin.uri"].update(body=body, body_format="json")
    return task


def test_no_secret_in_any_output_on_any_path(job, ansible, execution_path):  # pylint: disable=unused-argument
    """Credentials and password values come from the environment, so no file the test writes holds them."""
    env_secret = {"db_password": "{{ lookup('env', 'RS_DB_PASSWORD') }}", "release_note": "{{ lookup('env', 'RS_NOTE') }}"}
    # release_note is a plain string variable: the module masks it only because secret_var_names names it.
    base = {"bk_api_url": job.url, "bk_biz_id": BIZ_ID, "job_plan_id": PLAN_DEPLOY_APP, "secret_var_names": ["release_note"], **FAST}
    gateway = {"bk_api_url": job.apigw_url, "bk_api_type": "apigw", "bk_access_token": "{{ lookup('env', 'RS_ACCESS_TOKEN') }}"}
    launch = f"blueking.job.{LAUNCH}"
    tasks = [
        _uri(job, "POST", "/_emulator/next_launch", {"behaviour": {"step_seconds": 5}}),
        {"name": "timeout, terminated", launch: {**base, "global_vars": env_secret,
                                                 "wait_timeout": 1, "terminate_on_timeout": True}},
        {"name": "success with diff and every host's log", launch: {**base, "global_vars": env_secret,
                                                                    "host_results": "all"}, "diff": True},
        {"name": "check and diff", launch: {**base, "global_vars": env_secret},
         "check_mode": True, "diff": True},
        {"name": "gateway with an access token", launch: {**gateway, "bk_scope_id": str(BIZ_ID), "job_plan_id": PLAN_DEPLOY_APP,
                                                          "global_var_list": [{"id": 3, "value": "{{ lookup('env', 'RS_DB_PASSWORD') }}"}],
                                                          "wait": False}},
        _uri(job, "POST", "/_emulator/faults", {"api": "get_job_instance_status", "kind": "drop", "count": -1, "surface": "esb"}),
        {"name": "fault while waiting", launch: {**base, "global_vars": env_secret, "wait_timeout": 3}},
        _uri(job, "DELETE", "/_emulator/faults"),
        {"name": "validation failure", launch: {**base, "global_vars": {**env_secret, "no_such_var": "x"}}},
        _uri(job, "POST", "/_emulator/faults", {"api": "execute_job_plan", "kind": "after_create_502", "count": 1}),
        # the create's answer is lost after JOB made the instance: created again, the unstarted leftover named
        {"name": "lost answer, created again", launch: {**base, "job_plan_id": PLAN_DEPLOY_APP_CANARY, "global_vars": env_secret, "wait": False}},
        _uri(job, "POST", "/_emulator/faults", {"api": "execute_job_plan", "kind": "permission", "count": 1}),
        {"name": "permission denied", launch: {**base, "global_vars": env_secret}},
        _uri(job, "POST", "/_emulator/next_launch", {"behaviour": {"failed_hosts": 2}}),
        {"name": "job fails, failed hosts' logs", launch: {**base, "global_vars": env_secret, "host_results": "failed"}},
        # job_instance_info has no secret_var_names: attach to the job whose only secret is the password variable.
        {"name": "attach", f"blueking.job.{INFO}": {**gateway, "bk_scope_id": str(BIZ_ID), "job_instance_id": "{{ r4.job_instance_id }}",
                                                    "wait": True, "host_results": "all", **FAST}},
        {"name": "plan detail", f"blueking.job.{PLAN_INFO}": {"bk_api_url": job.url, "bk_biz_id": BIZ_ID, "job_plan_id": PLAN_DEPLOY_APP}},
        {"name": "async", launch: {**base, "global_vars": env_secret}, "async": 60, "poll": 0},
        {"name": "async result (left in ANSIBLE_ASYNC_DIR: no cleanup)", "ansible.builtin.async_status": {"jid": "{{ r17.ansible_job_id }}"},
         "until": "r18.finished", "retries": 60, "delay": 0.5},
        {"name": "wrong access token", f"blueking.job.{PLAN_INFO}": {**gateway, "bk_scope_id": str(BIZ_ID), "bk_access_token": "at-wrong-9e9e"}},
        # Failures before the module's own masking runs (the argument check, input checks, the credentials check): the
        # task's arguments come back in invocation; a variable given by id only is marked secret by its id.
        {"name": "argument check fails", launch: {**base, "global_vars": env_secret, "poll_interval": "soon"}},
        {"name": "input check fails", launch: {**base, "global_var_list": [
            {"name": "db_password", "value": "{{ lookup('env', 'RS_DB_PASSWORD') }}"}, {"id": 5, "value": "{{ lookup('env', 'RS_NOTE') }}"},
            {"name": "target_hosts", "server": {"ip_list": [{"ip": "::1"}]}}], "secret_var_names": ["5"]}},
        {"name": "credentials check fails", launch: {**base, "global_vars": env_secret, "bk_app_code": ""}},
        {"name": "secret by id, no plan read", launch: {**base, "validate_vars": False, "wait": False, "secret_var_names": ["5"],
                                                        "global_var_list": [{"id": 5, "value": "{{ lookup('env', 'RS_NOTE') }}"}]}},
    ]
    env = {**SECRET_ENV, "ANSIBLE_LOG_PATH": str(ansible.workdir / "ansible.log"), "ANSIBLE_ASYNC_DIR": str(ansible.workdir / "async"),
           "ANSIBLE_KEEP_REMOTE_FILES": "0"}
    run = ansible.playbook(tasks, env=env, secrets=SCANNED + ("at-wrong-9e9e",))
    adhoc = ansible.adhoc(launch, {"bk_api_url": job.url, "bk_biz_id": BIZ_ID, "job_plan_id": PLAN_DEPLOY_APP, "global_vars": {"db_password": DB_PASSWORD},
                                   "wait": False}, env={**env, "ANSIBLE_LOG_PATH": str(ansible.workdir / "adhoc.log")}, secrets=SCANNED)
    # The paths were really taken.
    expected = {"r1": (True, "terminated"), "r2": (False, None), "r3": (False, None), "r4": (False, None), "r6": (True, "Lost track"),
                "r8": (True, "unknown variable 'no_such_var'"), "r10": (False, None), "r12": (True, "BlueKing IAM denied"),
                "r14": (True, "ended with status failed"), "r15": (False, None), "r16": (False, None), "r17": (False, None),
                "r18": (False, None), "r19": (True, "The API gateway rejected"), "r20": (True, "poll_interval"), "r21": (True, "IPv4"),
                "r22": (True, "Missing credentials"), "r23": (False, None)}
    for key, (failed, phrase) in expected.items():
        assert bool(run[key].get("failed")) is failed, (key, run[key].get("msg"))  # async_status on 2.16 says failed: 0
        if phrase:
            assert phrase in run[key]["msg"], (key, run[key]["msg"])
    assert run["r2"]["diff"] and run["r3"]["diff"] and "adopted" not in run["r10"]
    assert any("got no clear answer once" in warning for warning in warnings_of(run["r10"]))
    assert run["r18"]["job_instance_id"] and run["r18"]["status_name"] == "success"
    assert any(host["log"] for step in run["r2"]["steps"] for host in step["hosts"])
    assert adhoc.results["changed"] is True
    assert {"id": 5, "value": "********"} in run["r23"]["global_var_list"]
    # The password reached JOB (that is the point), and nowhere else.
    sent = [request["body"] for request in job.requests("execute_job_plan")]
    assert any({"name": "db_password", "value": DB_PASSWORD} in body.get("global_var_list", []) for body in sent)
    # Scan: ansible's whole output (done by run_command), the registered results, and every file under the test dir.
    hits = []
    text = json.dumps(run.results, ensure_ascii=False) + json.dumps(adhoc.results, ensure_ascii=False)
    hits += [f"results: {secret[:4]}..." for secret in SCANNED if secret in text]
    files = [path for path in Path(ansible.workdir).rglob("*") if path.is_file()]
    assert (ansible.workdir / "ansible.log").exists() and any("async" in str(path) for path in files), "log and async files are scanned"
    for path in files:
        data = path.read_bytes()
        hits += [f"{path.relative_to(ansible.workdir)}: {secret[:4]}..." for secret in SCANNED if secret.encode() in data]
    print(f"\nsecret scan: {len(expected) + 1} tasks on success/failure/check/diff/timeout/fault/async/ad-hoc paths, "
          f"{len(files)} files ({', '.join(sorted(str(path.relative_to(ansible.workdir)) for path in files))}) and the whole -vvvv "
          f"output searched for {len(SCANNED)} secrets: {len(hits)} hits")
    assert hits == []
