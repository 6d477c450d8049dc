# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller side (plugins/action, plugins/plugin_utils/_controller.py): a task that runs on the controller runs
the module's code in ansible-playbook's own worker process and writes progress lines while it waits; any other task
runs the module as a module. Both paths give the same results.

The path is chosen per task: in-process by default on the controller; ``bk_job_in_process: false`` (a variable) or
``BK_JOB_IN_PROCESS=false`` (the controller's environment), ``async``, or a connection that is not local give the module
path. Progress lines exist only in-process, which is how these tests tell the paths apart.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import esb_connection  # pylint: disable=import-error
from multihost import FAST  # pylint: disable=import-error
from support import BIZ_ID, PLAN_DEPLOY_APP  # pylint: disable=import-error

WEB = "https://job.example.com"
LAUNCH_LINE = re.compile(r"\[localhost\] JOB instance (\d+) \"deploy-app\": launched, " + re.escape(WEB) + r"/api_execute/(\d+)")
STEP_LINE = re.compile(r"\[localhost\] JOB instance \d+ \"deploy-app\": (\w+), step (\d)/4 \"[^\"]+\" (\w+)")
DB_PASSWORD = "Pa55-word-for-db-9931"
# Result keys that differ between two runs of the same task (new ids and times), not between the two paths.
VOLATILE = {"job_instance_id", "request_id", "job_request_id", "job_instance_url", "start_time", "end_time", "total_time",
            "create_time", "step_instance_id", "job_instance_name"}


def launch(job, **options):
    return {"blueking.job.execute_job_plan": {**esb_connection(job, bk_biz_id=BIZ_ID, bk_job_web_url=WEB),
                                              "job_plan_id": PLAN_DEPLOY_APP, **FAST, **options}}


def stream_playbook(ansible, tasks, *, extra_env=None, until=None, timeout=120.0):
    """Run a playbook with ``ansible-playbook`` (normal verbosity) and read its output line by line as it comes:
    [(seconds since start, line)]. ``until(line)`` true: SIGINT the run there, as Ctrl-C does, and read the rest."""
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    path = ansible.workdir / "stream.yml"
    path.write_text(json.dumps(play))
    started = time.monotonic()
    process = subprocess.Popen([ansible.playbook_bin, str(path)], cwd=ansible.workdir, env={**ansible.env, **(extra_env or {})},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    try:
        for line in process.stdout:
            lines.append((time.monotonic() - started, line.rstrip("\n")))
            if until is not None and until(line):
                os.killpg(process.pid, signal.SIGINT)
                until = None
            assert time.monotonic() - started < timeout, "\n".join(text for _at, text in lines)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return lines


def line_at(lines, pattern):
    """(seconds, match) of the first line matching ``pattern``, or (None, None)."""
    for at, text in lines:
        found = pattern.search(text) if hasattr(pattern, "search") else (pattern in text or None)
        if found:
            return at, found
    return None, None


def test_progress_lines_come_while_the_job_runs(job, ansible):
    """The launch line (id, name, link) and a line per step change are on screen before the task ends."""
    job.next_launch(step_seconds=1.2)
    lines = stream_playbook(ansible, [launch(job)])
    output = "\n".join(text for _at, text in lines)
    launched_at, launched = line_at(lines, LAUNCH_LINE)
    done_at, _done = line_at(lines, "changed: [localhost]")
    assert launched is not None and done_at is not None, output
    assert launched.group(1) == launched.group(2) == str(job.instances()[0]["job_instance_id"]), output
    assert done_at - launched_at > 2.0, output  # the launch line came seconds before the result
    steps = [STEP_LINE.search(text) for at, text in lines if at < done_at]
    steps = [(found.group(1), int(found.group(2)), found.group(3)) for found in steps if found]
    assert len({number for _job, number, _step in steps}) >= 3, output  # one line per step reached, at least
    assert steps[-1] == ("success", 4, "success"), output
    assert [number for _job, number, _step in steps] == sorted(number for _job, number, _step in steps), output


def test_show_progress_false_and_the_module_path_write_no_line(job, ansible):
    tasks = [launch(job, show_progress=False), {**launch(job), "vars": {"bk_job_in_process": False}}]
    lines = stream_playbook(ansible, tasks)
    output = "\n".join(text for _at, text in lines)
    assert output.count("changed: [localhost]") == 2, output
    assert "JOB instance" not in output, output
    lines = stream_playbook(ansible, [launch(job)], extra_env={"BK_JOB_IN_PROCESS": "false"})
    assert "JOB instance" not in "\n".join(text for _at, text in lines)


def test_an_interrupted_run_leaves_the_id_and_link_on_screen(job, ansible):
    """Ctrl-C while waiting: the job keeps running in JOB, and the screen says which one it is."""
    job.next_launch(step_seconds=5)
    lines = stream_playbook(ansible, [launch(job)], until=LAUNCH_LINE.search)
    output = "\n".join(text for _at, text in lines)
    _at, launched = line_at(lines, LAUNCH_LINE)
    assert launched is not None, output
    assert "changed: [localhost]" not in output, output
    [instance] = job.instances()
    assert launched.group(1) == str(instance["job_instance_id"]), output


def test_async_runs_the_module_path_with_the_same_result(job, ansible):
    run = ansible.playbook([{**launch(job), "async": 60, "poll": 1}, launch(job)])
    assert run["r0"]["status_name"] == run["r1"]["status_name"] == "success", run.output[-3000:]
    assert not run["r0"].get("failed") and run["r0"]["changed"]
    # wait_timeout (3600 s by default) is not below the async limit: the id would be lost if the job outlasted it
    assert "async (60 s) is not longer than wait_timeout (3600 s)" in " ".join(run.output.split())
    # async_status adds its own keys (the job's files and its module's empty stdout/stderr)
    async_keys = ("ansible_job_id", "results_file", "started", "finished", "stdout", "stdout_lines", "stderr", "stderr_lines",
                  "warnings")  # the async task's own warning (ansible-core 2.19+ puts an action's warnings in its result)
    assert normalised(run["r0"], drop=async_keys + ("invocation",)) == normalised(run["r1"], drop=("invocation",))


def normalised(result, drop=()):
    """``result`` without what differs between two runs of the same task: VOLATILE keys, the keys ``drop``, the
    instance's id inside texts (``<id>``) and the host logs' text (whose lines JOB stamps with the time; only whether a
    host has a log is kept)."""
    ids = {str(found) for found in re.findall(r"\b2\d{7}\b", json.dumps(result))}

    def walk(value, key=None):
        if isinstance(value, dict):
            return {item_key: walk(item, item_key) for item_key, item in value.items() if item_key not in VOLATILE and item_key not in drop}
        if isinstance(value, list):
            return [walk(item) for item in value]
        if key == "log":
            return bool(value)
        if isinstance(value, str):
            for job_instance_id in ids:
                value = value.replace(job_instance_id, "<id>")
        return value

    return walk(copy.deepcopy(result))


# (name, options, task keywords, the emulator's behaviour for the launch or None, whether the task fails)
PARITY_TASKS = [
    ("success with every host's result and a password",
     {"host_results": "all", "global_vars": {"db_password": DB_PASSWORD}, "secret_var_names": ["db_password"]}, {}, None, False),
    ("a failed job", {}, {}, {"failed_hosts": 1}, True),
    ("check and diff", {"global_vars": {"app_version": "2.5.0"}}, {"check_mode": True, "diff": True}, None, False),
    ("an argument error", {"wait_timeout": "soon"}, {}, None, True),
    ("an input error", {"poll_interval": 5, "poll_max_interval": 1}, {}, None, True),
    ("an API error", {"job_plan_id": 999999}, {}, None, True),
    ("a float warning", {"global_vars": {"app_version": 2.10}}, {}, None, False),
    ("no_log", {}, {"no_log": True}, None, False),
    ("a loop", {"global_vars": {"app_version": "{{ item }}"}}, {"loop": ["1.0.0", "1.0.1"]}, None, False),
    ("delegated to localhost", {}, {"delegate_to": "localhost"}, None, False),
]


@pytest.mark.parametrize("name,options,keywords,behaviour,fails", PARITY_TASKS, ids=[item[0] for item in PARITY_TASKS])
def test_both_paths_give_the_same_result(job, ansible, name, options, keywords, behaviour, fails):
    """The same task in-process and as a module: equal results (ids and times aside), no secret on either path."""
    results = []
    for in_process in (True, False):
        if behaviour is not None:
            job.next_launch(**behaviour)
        task = {**launch(job, **options), **keywords, "name": name, "vars": {"bk_job_in_process": in_process}}
        run = ansible.playbook([task], secrets=(DB_PASSWORD,))
        results.append(normalised(run["r0"]))
    in_process, module = results
    assert in_process == module
    assert bool(in_process.get("failed")) is fails, in_process


def test_a_value_of_bk_job_in_process_that_is_no_boolean_fails_the_task(job, ansible):
    run = ansible.playbook([{**launch(job), "vars": {"bk_job_in_process": "sometimes"}}])
    assert run["r0"]["failed"] is True and "bk_job_in_process" in run["r0"]["msg"] and "'sometimes'" in run["r0"]["msg"]
    assert job.requests("execute_job_plan") == []


def test_environment_and_module_defaults_reach_the_in_process_module(job, ansible):
    """``environment:`` (the BK_* fallbacks) and ``module_defaults`` apply in-process as they do to a module."""
    connection = esb_connection(job)
    # not the secret: ansible-playbook -vvvv shows a module's environment in its command line
    task = {"blueking.job.execute_job_plan": {"bk_biz_id": BIZ_ID, "job_plan_id": PLAN_DEPLOY_APP, "wait": False},
            "environment": {"BK_API_URL": connection["bk_api_url"], "BK_USERNAME": connection["bk_username"]}}
    defaults = {"group/blueking.job.bk_job": {"bk_app_code": connection["bk_app_code"], "bk_app_secret": connection["bk_app_secret"]}}
    run = ansible.playbook([task, {**task, "vars": {"bk_job_in_process": False}}], module_defaults=defaults)
    assert run["r0"]["changed"] and run["r1"]["changed"], run.output[-3000:]
    assert normalised(run["r0"]) == normalised(run["r1"])
    [first, second] = job.requests("execute_job_plan")
    assert first["body"] == second["body"]  # ESB: the credentials are in the body
    assert first["body"]["bk_username"] == connection["bk_username"] and first["body"]["bk_app_secret"] == connection["bk_app_secret"]
