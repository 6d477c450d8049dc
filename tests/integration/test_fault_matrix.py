# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fault matrix, through real ansible-playbook runs against JOB emulators (the cells are in fault_matrix.py).

The whole matrix is one run: one inventory host per cell, all cells in parallel (one ansible-playbook per module, the
three side by side), each cell on its own emulator (two cells share one only when they use different surfaces, ESB and
the API gateway, whose faults never touch each other). Every cell must end with a clear ``msg`` and no traceback,
launch at most once, and report the job instance id whenever an instance exists. The figures are in
docs/reliability.md.
"""

from __future__ import annotations

import concurrent.futures
import json

import pytest

from conftest import ACCESS_TOKEN, APP_SECRET, BK_TOKEN, Ansible  # pylint: disable=import-error
from fault_matrix import AUTH_SECRETS, MATRIX, MATRIX_BY_ID, LOST_CREATE_WARNING, connection, operator_of  # pylint: disable=import-error
from multihost import LAUNCH, no_crash, run_hosts, start_all, tenant_of, warnings_of  # pylint: disable=import-error
from process import Emulator  # pylint: disable=import-error
from support import closed_port  # pylint: disable=import-error

INT64_MAX = 2 ** 63 - 1  # the id the launch probes operate_job_instance with (JOB answers 1244006 when it knows code 2)


class Observation:
    """What one cell produced: the task result, the requests tagged with its tenant, the instances of its operator."""

    def __init__(self, result, requests, instances):
        self.result = result
        self.requests = requests
        self.instances = instances

    def calls(self, api):
        return [request for request in self.requests if request["api"] == api]


def _host_args(cell, tag, url):
    """The cell's module arguments: its surface's credentials (or the identity an auth cell replaces them with)."""
    args = dict(cell.args)
    identity = args.pop("_identity", {})
    conn = connection(cell.surface, tag, url)
    if identity.get("bk_access_token"):
        for key in ("bk_app_code", "bk_app_secret", "bk_username"):
            conn.pop(key)
    merged = {**conn, **identity, **args}
    return {key: value for key, value in merged.items() if value is not None}


def _start_emulators():
    """One emulator per cell group (the mutating groups' jobs run for minutes), started in parallel."""
    groups = sorted({cell.group for cell in MATRIX if cell.group and cell.group != "tls"})
    emulators = {}
    for group in groups:
        config = {"default_behaviour": {"step_seconds": 60}} if group.startswith("mutating/") else None
        emulators[group] = Emulator(config=config)
    return emulators


def _observe(run, emulators, tags):
    observed = {"_run": run}
    requests = {group: emulator.requests() for group, emulator in emulators.items()}
    instances = {group: emulator.instances() for group, emulator in emulators.items()}
    for index, cell in enumerate(MATRIX):
        mine = [request for request in requests.get(cell.group, []) if tenant_of(request) == tags[cell.id]]
        operator = operator_of(cell.surface)
        owned = [instance for instance in instances.get(cell.group, []) if instance.get("operator") == operator]
        observed[cell.id] = Observation(run.results[f"c{index:03d}"], mine, owned)
    return observed


@pytest.fixture(scope="module")
def fault_matrix(tmp_path_factory, collections, tls_job):
    """Run every cell in one go; {cell id: Observation}, plus '_run' with the whole run."""
    ansible = Ansible(tmp_path_factory.mktemp("fault-matrix"), collections)
    emulators = _start_emulators()
    try:
        start_all(list(emulators.values()))
        emulators["tls"] = tls_job
        refused = f"http://127.0.0.1:{closed_port()}"
        hosts, tags = {}, {}
        for index, cell in enumerate(MATRIX):
            tags[cell.id] = f"cell-{index:03d}"
            if cell.group is None:
                url = refused if cell.fault == "refused" else "http://bkjob-emulator.invalid"
            else:
                url = emulators[cell.group].url
            hosts[f"c{index:03d}"] = (cell.module, _host_args(cell, tags[cell.id], url))
            if cell.fault_spec:
                api, kind, count, params = cell.fault_spec
                emulators[cell.group].fault(api, kind, count=count, surface=cell.surface, **params)
        run = run_hosts(ansible, hosts, forks=len(hosts), secrets=AUTH_SECRETS)
        return _observe(run, emulators, tags)
    finally:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda emulator: emulator.stop(), [emulator for group, emulator in emulators.items() if group != "tls"]))


# ------------------------------------------------------------------------------------------------------------
# One assertion helper per part of a cell's outcome; EXPECT maps the cell's ``expect`` to its helper.

def assert_clean_answer(result):
    """The module's own JSON, no traceback, no credential."""
    no_crash(result)
    text = json.dumps(result, ensure_ascii=False)
    for secret in (APP_SECRET, BK_TOKEN, ACCESS_TOKEN):
        assert secret not in text


def assert_launched_at_most_once(cell, seen):
    """Never twice: at most one started instance per cell, its id in the result; a lost create's leftover never starts
    and is named in a warning."""
    result = seen.result
    launches = seen.calls("execute_job_plan")
    assert len(launches) == cell.launches, (len(launches), result.get("msg"))
    started = [instance for instance in seen.instances if instance["status"] != 1]
    leftovers = [instance for instance in seen.instances if instance["status"] == 1]
    assert len(started) == (1 if cell.instance else 0) and len(leftovers) == cell.leftovers, seen.instances
    for leftover in leftovers:
        assert any(str(leftover["job_instance_id"]) in warning for warning in warnings_of(result)), (leftover, warnings_of(result))
    if started:
        assert result.get("job_instance_id") == started[0]["job_instance_id"], result
        if cell.module == LAUNCH:
            assert result.get("changed") is True, "an instance was created: changed must be true"
    if cell.module != LAUNCH:
        assert result.get("changed") is False


def assert_fails_cleanly(cell, result):
    """expect "fail": a clear msg carrying the cell's phrases, the failing stage, the job id when the wait lost track."""
    assert result.get("failed") is True, result
    msg = result.get("msg")
    assert isinstance(msg, str) and 20 <= len(msg) <= 2000, msg
    for phrase in cell.phrases:
        phrase = cell.expected_phrase(phrase)
        assert phrase in msg, (phrase, msg)
    assert result["error"]["stage"] == cell.error_stage, result["error"]
    if cell.stage == "wait" and cell.module == LAUNCH:
        assert f"Lost track of job instance {result['job_instance_id']}" in msg


def _assert_succeeded(result):
    assert result.get("failed") is False, result.get("msg")
    assert result.get("job_instance_id"), result
    assert "adopted" not in result, result


def _assert_warned(cell, result):
    warned = [warning for warning in warnings_of(result) if cell.warn and cell.warn in warning]
    assert warned, warnings_of(result)


def _assert_silent(cell, result):
    assert not warnings_of(result), warnings_of(result)
    if cell.stage == "logs":
        hosts = [host for step in result["steps"] for host in step["hosts"] if step["type"] in (1, 2)]
        assert hosts and all(host["log"] for host in hosts), "logs must be there once the fault passed"


def assert_ok(cell, result):
    """expect "ok": the fault passed; the job ran to success and nothing is left to warn about."""
    _assert_succeeded(result)
    assert result["status_name"] == "success", result
    _assert_silent(cell, result)


def assert_ok_warn(cell, result):
    """expect "ok_warn": the job succeeded; what the fault cost (host logs, output variables) is said in a warning."""
    _assert_succeeded(result)
    assert result["status_name"] == "success", result
    _assert_warned(cell, result)


def assert_launched(cell, result):
    """expect "launched" (wait: false): started once; a lost create is explained in a warning, a 429 retry is silent."""
    _assert_succeeded(result)
    if cell.warn:
        _assert_warned(cell, result)
    else:
        _assert_silent(cell, result)


EXPECT = {"fail": assert_fails_cleanly, "ok": assert_ok, "ok_warn": assert_ok_warn, "launched": assert_launched}


def assert_attempts(cell, seen):
    """The faulted API was called exactly ``attempts`` / at least ``min_attempts`` times; no request without an emulator."""
    calls = seen.calls(cell.api) if cell.api else []
    if cell.stage == "terminate":  # the launch's own start is operate_job_instance too (code 2)
        calls = [call for call in calls if call["body"]["operation_code"] == 1]
    if cell.api and cell.attempts is not None:
        assert len(calls) == cell.attempts, (cell.api, len(calls))
    if cell.api and cell.min_attempts is not None:
        assert len(calls) >= cell.min_attempts, (cell.api, len(calls))
    if cell.fault == "tls" or cell.group is None:
        assert seen.requests == []


def _cell_params():
    params = []
    for cell in MATRIX:
        marks = [pytest.mark.xfail(strict=True, reason=cell.bug)] if cell.bug else []
        params.append(pytest.param(cell.id, marks=marks, id=cell.id))
    return params


@pytest.mark.parametrize("cell_id", _cell_params())
def test_fault_matrix_cell(fault_matrix, cell_id):
    cell = MATRIX_BY_ID[cell_id]
    seen = fault_matrix[cell_id]
    assert_clean_answer(seen.result)
    assert_launched_at_most_once(cell, seen)
    EXPECT[cell.expect](cell, seen.result)
    assert_attempts(cell, seen)


def test_auth_failures_are_never_retried(fault_matrix):
    for cell in MATRIX:
        if cell.stage == "auth":
            assert len(fault_matrix[cell.id].requests) == 1, cell.id


AMBIGUOUS_LAUNCHES = ["launch/http_5xx/once", "launch/drop/once", "launch/html_502/once", "launch/non_json/once", "launch/garbled_json/once",
                      "launch/slow/once", "launch/after_create_drop/once", "launch/after_create_502/once"]


@pytest.mark.parametrize("cell_id", AMBIGUOUS_LAUNCHES)
def test_an_unclear_create_is_sent_again_and_explained(fault_matrix, cell_id):
    """Issue 11: an unclear create (start_task false) is sent again after JOB said it knows operation code 2; the warning
    says why, and the start went to the new id only."""
    seen = fault_matrix[cell_id]
    [warning] = [text for text in warnings_of(seen.result) if LOST_CREATE_WARNING in text]
    assert "It was sent again" in warning and f"job instance {seen.result['job_instance_id']} is this task's" in warning
    probes = [call for call in seen.calls("operate_job_instance") if call["body"]["job_instance_id"] == INT64_MAX]
    starts = [call for call in seen.calls("operate_job_instance") if call["body"]["job_instance_id"] != INT64_MAX]
    assert len(probes) == 1 and probes[0]["response_code"] == 1244006
    assert [call["body"]["job_instance_id"] for call in starts] == [seen.result["job_instance_id"]]
    assert [call["body"]["start_task"] for call in seen.calls("execute_job_plan")] == [False, False]


def test_fault_matrix_totals(fault_matrix):
    """Whole-run figures: no double launch anywhere, every cell answered; printed for docs/reliability.md."""
    run = fault_matrix["_run"]
    observations = [fault_matrix[cell.id] for cell in MATRIX]
    assert len(run.results) == len(MATRIX)
    started = [[instance for instance in seen.instances if instance["status"] != 1] for seen in observations]
    double = sum(1 for instances in started if len(instances) > 1)
    assert double == 0
    with_instance = [(seen, instances[0]) for seen, instances in zip(observations, started) if instances]
    assert all(seen.result.get("job_instance_id") == instance["job_instance_id"] for seen, instance in with_instance)
    leftovers = [instance for seen in observations for instance in seen.instances if instance["status"] == 1]
    failed = sum(1 for seen in observations if seen.result.get("failed"))
    stages = sorted({cell.stage for cell in MATRIX})
    faults = sorted({cell.fault for cell in MATRIX})
    print(f"\nfault matrix: {len(MATRIX)} cells ({len(stages)} stages x {len(faults)} faults), one parallel run in "
          f"{run.wall:.1f} s; {failed} tasks failed cleanly, {len(MATRIX) - failed} succeeded; "
          f"{len(with_instance)} cells started a job instance, every one reported; {len(leftovers)} unstarted leftovers of lost "
          f"creates, every one named in a warning; 0 jobs started twice; 0 adoptions; 0 tracebacks")
