# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reliability and security evidence, through real ansible-playbook runs against JOB emulators.

* Fault matrix: every stage (auth, lookup, validate, launch, wait, logs, terminate, plus output variables) against
  every fault the emulator can produce and the three it cannot (refused connection, DNS failure, TLS failure). The
  whole matrix is one run: one inventory host per cell, all cells in parallel (one ansible-playbook per module, the
  three side by side), each cell on its own emulator (two cells share one only when they use different surfaces,
  ESB and the API gateway, whose faults never touch each other). Every cell must end with a clear ``msg`` and no
  traceback, launch at most once, and report the job instance id whenever an instance exists.
* Secret scan: success, failure, check, diff, timeout, fault, async and ad-hoc paths; the credentials and the
  password variable come from the environment, so that any hit in stdout/stderr, the registered results or any file
  under the test's directory (ansible log, async results, temp files) is a leak.
* Load: 200 hosts launching at once (forks 50), each waiting for its job: 200 distinct instances, 0 failures.
* TLS: the emulator on HTTPS with its own CA (trustme): default settings fail with a certificate message,
  ``ca_path`` passes, ``validate_certs: false`` passes with a warning.

The figures are in docs/reliability.md.
"""

from __future__ import annotations

import concurrent.futures
import json
import socket
import sys
import time
from pathlib import Path

import pytest

from conftest import (  # pylint: disable=import-error
    ACCESS_TOKEN, APP_CODE, APP_SECRET, BK_TOKEN, USERNAME, Ansible, apigw_connection, esb_connection,
)
from process import Emulator  # pylint: disable=import-error

LAUNCH = "execute_job_plan"
INFO = "job_instance_info"
PLAN_INFO = "job_plan_info"
FAST = {"poll_interval": 0.2, "poll_max_interval": 0.5}
DB_PASSWORD = "Db-Pa55-vault-4417"

CONNECTION_OPTIONS = ("bk_api_url", "bk_api_type", "bk_app_code", "bk_app_secret", "bk_username", "bk_token", "bk_access_token",
                      "bk_tenant_id", "bk_job_web_url", "validate_certs", "ca_path", "request_timeout",
                      "bk_biz_id", "bk_scope_type", "bk_scope_id")
WAIT_OPTIONS = ("wait_timeout", "poll_interval", "poll_max_interval", "on_waiting_user", "log_max_bytes", "log_total_max_bytes")
MODULE_OPTIONS = {
    LAUNCH: CONNECTION_OPTIONS + WAIT_OPTIONS + (
        "job_plan_id", "job_plan_name", "global_var_list", "global_vars", "secret_var_names", "validate_vars", "callback_url", "callback_listen",
        "start_task", "wait", "terminate_on_timeout", "host_results"),
    INFO: CONNECTION_OPTIONS + WAIT_OPTIONS + ("job_instance_id", "wait", "host_results"),
    PLAN_INFO: CONNECTION_OPTIONS + ("job_plan_id", "name", "job_template_id"),
}


# ------------------------------------------------------------------------------------------------------------
# Many hosts: each inventory host runs one module call with its own arguments.

class HostsRun:
    """One multi-host run (an ansible-playbook per module, in parallel): per-host results, the whole output, the wall time."""

    def __init__(self, results: dict, output: str, wall: float, rc: int):
        self.results = results
        self.output = output
        self.wall = wall
        self.rc = rc


def run_hosts(ansible: Ansible, cells: dict, *, forks: int = 50, env: dict | None = None, secrets: tuple = ()) -> HostsRun:
    """Run ``cells`` ({host: (module short name, args)}) over inventories of local hosts, one host per cell.

    Every option is passed as ``"{{ cell_args.<option> | default(omit) }}"``, so that each host calls the real module
    with exactly its own arguments. The cells of each module run as one ansible-playbook; the (up to three) runs go in
    parallel. Their output is searched for secrets and tracebacks by ``Ansible.run_command``.
    """
    by_module: dict = {}
    for name, (module, args) in cells.items():
        by_module.setdefault(module, {})[name] = args

    def run_one(module, group):
        # Only the options some host sets are templated (templating costs controller CPU); an option the module does not
        # have (a bad-input case) is passed through too: the module must refuse it.
        options = sorted({key for args in group.values() for key in args})
        hosts = {name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "cell_args": args}
                 for name, args in group.items()}
        inventory = ansible.workdir / f"inventory-{module}.json"
        inventory.write_text(json.dumps({"cells": {"hosts": hosts}}))
        result_file = ansible.workdir / f"results-{module}.json"
        if result_file.exists():
            result_file.unlink()
        task = {"name": module, f"blueking.job.{module}": {option: f"{{{{ cell_args.{option} | default(omit) }}}}" for option in options},
                "register": "r", "ignore_errors": True}
        collect = "{{ dict(groups['cells'] | zip(groups['cells'] | map('extract', hostvars, 'r'))) | to_json }}"
        plays = [
            {"name": "cells", "hosts": "cells", "gather_facts": False, "tasks": [task]},
            {"name": "collect", "hosts": "localhost", "gather_facts": False, "tasks": [
                {"name": "save results", "ansible.builtin.copy": {"content": collect, "dest": str(result_file)}, "check_mode": False}]},
        ]
        playbook = ansible.workdir / f"cells-{module}.yml"
        playbook.write_text(json.dumps(plays, indent=1))
        argv = [ansible.playbook_bin, "-vvvv", "-i", str(inventory), str(playbook)]
        completed = ansible.run_command(argv, {"ANSIBLE_FORKS": str(min(forks, len(group))), **(env or {})}, secrets)
        output = completed.stdout + completed.stderr
        assert result_file.exists(), output[-4000:]
        return json.loads(result_file.read_text()), output, completed.returncode

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(by_module) or 1) as pool:
        runs = list(pool.map(lambda item: run_one(*item), by_module.items()))
    wall = time.monotonic() - started
    results = {}
    for part, _output, _rc in runs:
        results.update(part)
    return HostsRun(results, "".join(output for _part, output, _rc in runs), wall, max((rc for _part, _output, rc in runs), default=0))


def start_all(emulators: list) -> None:
    """Start emulators in parallel (each start waits for its port file)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda emulator: emulator.start(), emulators))


def closed_port() -> int:
    """A local TCP port nothing listens on: connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tenant_of(request: dict) -> str | None:
    return {name.lower(): value for name, value in request["headers"].items()}.get("x-bk-tenant-id")


def no_crash(result: dict) -> None:
    """The module answered with its own JSON: no traceback, no raw stderr of a crashed module."""
    text = json.dumps(result)
    assert "Traceback" not in text and "module_stderr" not in result and "module_stdout" not in result, text[-3000:]


def warnings_of(result: dict) -> list:
    out = []
    for warning in result.get("warnings") or []:
        out.append(warning if isinstance(warning, str) else json.dumps(warning, ensure_ascii=False))
    return out


# ------------------------------------------------------------------------------------------------------------
# TLS: a private CA, the emulator on HTTPS.

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    trustme = pytest.importorskip("trustme")
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    good = ca.issue_cert("127.0.0.1", "localhost")
    wrong_name = ca.issue_cert("bkjob.example.test")
    files = {}
    for name, cert in (("good", good), ("wrong_name", wrong_name)):
        cert.cert_chain_pems[0].write_to_path(str(directory / f"{name}.pem"))
        cert.private_key_pem.write_to_path(str(directory / f"{name}.key"))
        files[name] = (str(directory / f"{name}.pem"), str(directory / f"{name}.key"))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(directory / "other-ca.pem"))
    files["ca"] = str(directory / "ca.pem")
    files["other_ca"] = str(directory / "other-ca.pem")
    return files


@pytest.fixture(scope="module")
def tls_job(pki):
    with Emulator(tls_cert=pki["good"][0], tls_key=pki["good"][1]) as running:
        yield running


# ------------------------------------------------------------------------------------------------------------
# Fault matrix.

# label: (emulator kind, params, transient for the client's retry, phrase the msg carries)
FAULTS = {
    "http_5xx": ("http_status", {}, True, "HTTP 50"),
    "html_502": ("html_502", {}, True, "HTTP 502 with a body that is not JSON"),
    "http_429": ("http_status", {"status": 429, "reset": 1}, True, "rate-limited"),
    "non_json": ("non_json", {}, True, "body that is not JSON"),
    "garbled_json": ("garbled_json", {}, True, "body that is not JSON"),
    "slow": ("slow", {}, True, "within request_timeout"),
    "drop": ("drop", {}, True, "connection"),
}
# What ESB answers when JOB answers these: HTTP 200 with 1306201 (blueking-apigateway esb/components/component.py)
ESB_WRAPPED = ("http_5xx", "http_429", "non_json", "garbled_json")
SLOW_TIMEOUT = 2.0  # request_timeout of the slow cells; the slow answer comes SLOW_EXTRA seconds later
SLOW_EXTRA = 0.3
SLOW_READ_ONLY = 3.5

# Read-only stages: (stage label, faulted API, error.stage when the task fails)
READ_ONLY_STAGES = [
    ("lookup", "get_job_plan_list", "lookup"),
    ("validate", "get_job_plan_detail", "lookup"),
    ("wait", "get_job_instance_status", "wait"),
    ("logs", "batch_get_job_instance_ip_log", None),
    ("output_vars", "get_job_instance_global_var_value", None),
]


class Cell:
    """One cell of the fault matrix."""

    def __init__(self, cell_id, *, stage, fault, module, args, group, surface, expect, error_stage=None, phrases=(),
                 warn=None, api=None, attempts=None, min_attempts=None, launches=0, instance=False, leftovers=0, bug=None):
        self.id = cell_id
        self.stage = stage
        self.fault = fault
        self.module = module
        self.args = args
        self.group = group  # the emulator this cell runs on (None: no emulator is reached)
        self.surface = surface
        self.expect = expect  # "fail", "ok", "ok_warn", "launched" (wait: false; a warning when warn is set)
        self.error_stage = error_stage
        self.phrases = phrases
        self.warn = warn
        self.api = api
        self.attempts = attempts
        self.min_attempts = min_attempts
        self.launches = launches
        self.instance = instance  # whether the task's (started) job instance must exist afterwards
        self.leftovers = leftovers  # unstarted instances a lost create (start_task false) left, named in a warning
        self.bug = bug
        self.fault_spec = None  # (api, kind, count, params) added on the cell's emulator and surface


def _connection(surface, tenant, url):
    """ESB cells run as admin with bk_biz_id, gateway cells as alice with bk_scope_id; ``tenant`` tags the requests."""
    if surface == "esb":
        return {"bk_api_url": url, "bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": USERNAME, "bk_biz_id": 2,
                "bk_tenant_id": tenant}
    return {"bk_api_url": url + "/api/bk-job/prod", "bk_api_type": "apigw", "bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET,
            "bk_username": "alice", "bk_scope_type": "biz", "bk_scope_id": "2", "bk_tenant_id": tenant}


def operator_of(surface):
    return USERNAME if surface == "esb" else "alice"


def build_matrix():
    """The cells, in a stable order. URLs are filled in when the emulators run (placeholder ``@group``)."""
    cells = []
    kinds = list(FAULTS)
    for stage_index, (stage, api, error_stage) in enumerate(READ_ONLY_STAGES):
        for kind_index, kind in enumerate(kinds):
            emulator_kind, params, transient, phrase = FAULTS[kind]
            never_surface = "esb" if (stage_index + kind_index) % 2 == 0 else "apigw"
            for mode, surface in (("never", never_surface), ("recovers", "apigw" if never_surface == "esb" else "esb")):
                count = -1 if mode == "never" else (2 if transient else 1)
                cell_id = f"{stage}/{kind}/{mode}"
                group = f"{api}/{kind}"
                extra = dict(FAST)
                if stage == "lookup":
                    extra["job_plan_name"] = "deploy-app"
                else:
                    extra["job_plan_id"] = 1000
                if stage == "wait":
                    extra["wait_timeout"] = 5 if mode == "never" else 15  # never: bounds the cell; recovers: slack under load
                if stage == "logs":
                    extra["host_results"] = "all"
                if kind == "slow":
                    extra["request_timeout"] = SLOW_TIMEOUT
                cell = Cell(cell_id, stage=stage, fault=kind, module=LAUNCH, args=extra, group=group, surface=surface,
                            expect="ok", api=api)
                fault_params = dict(params)
                if kind == "http_5xx":
                    fault_params["status"] = 503 if surface == "esb" else 504
                if kind == "slow":
                    fault_params["seconds"] = SLOW_READ_ONLY
                cell.fault_spec = (api, emulator_kind, count, fault_params)
                if mode == "recovers":
                    cell.expect = "ok"
                    cell.launches, cell.instance = 1, True
                    cell.min_attempts = count + 1
                elif stage in ("lookup", "validate"):
                    cell.expect, cell.error_stage, cell.phrases = "fail", error_stage, (api, phrase)
                    cell.attempts = 3 if transient else 1
                elif stage == "wait":
                    cell.expect, cell.error_stage, cell.phrases = "fail", "wait", ("Lost track of job instance", phrase)
                    cell.launches, cell.instance = 1, True
                    cell.min_attempts = 3 if transient else 1
                else:
                    warn = "Host logs of job instance" if stage == "logs" else "Output variables of job instance"
                    cell.expect, cell.warn = "ok_warn", warn
                    cell.launches, cell.instance = 1, True
                    cell.attempts = 3 if transient else 1
                cells.append(cell)
    # Mutating calls. The launch creates with start_task false and then starts the id (operate_job_instance 2): a
    # create whose answer is unclear is sent again (it can only have left an unstarted instance, named in a warning),
    # one refused before JOB (429) is sent again; the terminate is sent once. A launch cell and the terminate cell of
    # the same fault share an emulator whose jobs run for minutes, on different surfaces.
    launch_kinds = kinds + ["after_create_drop", "after_create_502"]
    for kind_index, kind in enumerate(launch_kinds):
        # http_429 launches through the gateway, whose rate limit refuses before JOB (ESB would wrap JOB's 429 as 1306201)
        surface = "apigw" if kind == "http_429" else "esb" if kind_index % 2 == 0 else "apigw"
        other = "apigw" if surface == "esb" else "esb"
        group = f"mutating/{kind}"
        emulator_kind, params, _transient, phrase = FAULTS.get(kind, (kind, {}, False, ""))
        fault_params = dict(params)
        extra = {"job_plan_id": 1000, "wait": False}
        if kind == "http_5xx":
            fault_params["status"] = 503 if surface == "esb" else 504
        if kind == "slow":
            # the answer comes SLOW_EXTRA s after request_timeout: the lost create leaves an unstarted instance
            extra["request_timeout"] = SLOW_TIMEOUT
            fault_params["seconds"] = SLOW_TIMEOUT + SLOW_EXTRA
        cell = Cell(f"launch/{kind}/once", stage="launch", fault=kind, module=LAUNCH, args=extra, group=group, surface=surface,
                    expect="launched", api="execute_job_plan", attempts=2, launches=2, instance=True, warn="got no clear answer once")
        cell.fault_spec = ("execute_job_plan", emulator_kind, 1, fault_params)
        if kind in ("slow", "after_create_drop", "after_create_502"):
            cell.leftovers = 1
        elif kind == "http_429":
            cell.warn = None  # refused before JOB: sent again, nothing to explain
        cells.append(cell)
        if kind in FAULTS:
            term_params = dict(params)
            term_extra = {"job_plan_id": 1000, "wait_timeout": 1, "terminate_on_timeout": True, **FAST}
            if kind == "http_5xx":
                term_params["status"] = 503 if other == "esb" else 504
            if kind == "slow":
                term_extra["request_timeout"] = SLOW_TIMEOUT
                term_params["seconds"] = SLOW_TIMEOUT + SLOW_EXTRA
            term = Cell(f"terminate/{kind}/once", stage="terminate", fault=kind, module=LAUNCH, args=term_extra, group=group,
                        surface=other, expect="fail", error_stage="terminate", api="operate_job_instance", attempts=1,
                        launches=1, instance=True, phrases=("operate_job_instance", "terminating it failed", phrase))
            # the launch's own start is operate_job_instance 2: the fault is for the terminate (code 1) only
            term.fault_spec = ("operate_job_instance", emulator_kind, 1, {**term_params, "match": {"operation_code": 1}})
            cells.append(term)
    # A rate-limit streak longer than the retries: the launch is refused before JOB every time and fails cleanly.
    streak = Cell("launch/http_429/never", stage="launch", fault="http_429", module=LAUNCH, args={"job_plan_id": 1000, "wait": False},
                  group="mutating/http_429_streak", surface="apigw", expect="fail", error_stage="launch", api="execute_job_plan",
                  attempts=3, launches=3, phrases=("execute_job_plan", "rate-limited", "wait and retry"))
    streak.fault_spec = ("execute_job_plan", "http_status", -1, {"status": 429, "reset": 1})
    cells.append(streak)
    # Faults no emulator route produces: refused connection, DNS failure, TLS failure (HTTPS emulator, unknown CA).
    transport = {
        "refused": ("was refused", None),
        "dns": ("Could not resolve the host", None),
        "tls": ("TLS verification failed", "tls"),
    }
    for kind, (phrase, group) in transport.items():
        for stage in ("lookup", "validate", "launch", "wait"):
            if stage == "wait":
                module, args, error_stage = INFO, {"job_instance_id": 20000001, "wait": True, "wait_timeout": 3, **FAST}, "wait"
                phrases = ("Lost track of job instance 20000001", phrase)
            else:
                module, error_stage, phrases = LAUNCH, ("launch" if stage == "launch" else "lookup"), (phrase,)
                args = {"job_plan_name": "deploy-app"} if stage == "lookup" else {"job_plan_id": 1000}
                if stage == "launch":
                    args.update(validate_vars=False, wait=False)
            surface = "esb" if stage in ("lookup", "launch") else "apigw"
            cells.append(Cell(f"{stage}/{kind}/never", stage=stage, fault=kind, module=module, args=args, group=group,
                              surface=surface, expect="fail", error_stage=error_stage, phrases=phrases))
    # Auth: credentials refused, on every module and both surfaces; never retried, nothing launched.
    auth = [
        ("esb_wrong_secret", LAUNCH, "esb", {"bk_app_secret": "not-the-secret-1"}, {"job_plan_id": 1000}, "did not accept the credentials"),
        ("esb_wrong_secret_at_launch", LAUNCH, "esb", {"bk_app_secret": "not-the-secret-1"},
         {"job_plan_id": 1000, "validate_vars": False}, "did not accept the credentials"),
        ("apigw_wrong_secret", LAUNCH, "apigw", {"bk_app_secret": "not-the-secret-1"}, {"job_plan_id": 1000},
         "The API gateway rejected the request"),
        ("esb_unknown_bk_token", INFO, "esb", {"bk_username": None, "bk_token": "tok-nobody-0000"}, {"job_instance_id": 20000001},
         "did not accept the credentials"),
        ("apigw_unknown_access_token", INFO, "apigw", {"bk_access_token": "at-nobody-0000"}, {"job_instance_id": 20000001},
         "The API gateway rejected the request"),
        ("esb_unknown_app", PLAN_INFO, "esb", {"bk_app_code": "no-such-app"}, {}, "did not accept the credentials"),
        ("apigw_wrong_secret_plan_info", PLAN_INFO, "apigw", {"bk_app_secret": "not-the-secret-1"}, {"job_plan_id": 1000},
         "The API gateway rejected the request"),
    ]
    for name, module, surface, identity, args, phrase in auth:
        first_call = "execute_job_plan" if args.get("validate_vars") is False else None
        cells.append(Cell(f"auth/{name}/never", stage="auth", fault="credentials_refused", module=module,
                          args={**args, "_identity": identity}, group="auth", surface=surface, expect="fail",
                          error_stage="auth", phrases=(phrase,), launches=1 if first_call else 0))
    empty = Cell("auth/empty_401/never", stage="auth", fault="empty_401", module=LAUNCH, args={"job_plan_id": 1000}, group="auth_401",
                 surface="apigw", expect="fail", error_stage="auth", phrases=("HTTP 401",), api="get_job_plan_detail", attempts=1)
    empty.fault_spec = ("get_job_plan_detail", "empty_401", -1, {})
    cells.append(empty)
    return cells


MATRIX = build_matrix()
MATRIX_BY_ID = {cell.id: cell for cell in MATRIX}


class Observation:
    """What one cell produced: the task result, the requests tagged with its tenant, the instances of its operator."""

    def __init__(self, result, requests, instances):
        self.result = result
        self.requests = requests
        self.instances = instances

    def calls(self, api):
        return [request for request in self.requests if request["api"] == api]


@pytest.fixture(scope="module")
def fault_matrix(tmp_path_factory, collections, tls_job):
    """Run every cell in one go; {cell id: Observation}, plus '_run' with the whole run."""
    workdir = tmp_path_factory.mktemp("fault-matrix")
    ansible = Ansible(workdir, collections)
    groups = sorted({cell.group for cell in MATRIX if cell.group and cell.group != "tls"})
    emulators = {}
    for group in groups:
        config = {"default_behaviour": {"step_seconds": 60}} if group.startswith("mutating/") else None
        emulators[group] = Emulator(config=config)
    try:
        start_all(list(emulators.values()))
        emulators["tls"] = tls_job
        refused = f"http://127.0.0.1:{closed_port()}"
        hosts, tags = {}, {}
        for index, cell in enumerate(MATRIX):
            tag = f"cell-{index:03d}"
            tags[cell.id] = tag
            if cell.group is None:
                url = refused if cell.fault == "refused" else "http://bkjob-emulator.invalid"
            else:
                url = emulators[cell.group].url
            args = dict(cell.args)
            identity = args.pop("_identity", {})
            conn = _connection(cell.surface, tag, url)
            if identity.get("bk_access_token"):
                for key in ("bk_app_code", "bk_app_secret", "bk_username"):
                    conn.pop(key)
            merged = {**conn, **identity, **args}
            hosts[f"c{index:03d}"] = (cell.module, {key: value for key, value in merged.items() if value is not None})
            if cell.fault_spec:
                api, kind, count, params = cell.fault_spec
                emulators[cell.group].fault(api, kind, count=count, surface=cell.surface, **params)
        run = run_hosts(ansible, hosts, forks=len(hosts), secrets=("not-the-secret-1", "tok-nobody-0000", "at-nobody-0000"))
        observed = {"_run": run}
        requests = {group: emulator.requests() for group, emulator in emulators.items()}
        instances = {group: emulator.instances() for group, emulator in emulators.items()}
        for index, cell in enumerate(MATRIX):
            tag = tags[cell.id]
            mine = [request for request in requests.get(cell.group, []) if tenant_of(request) == tag]
            operator = operator_of(cell.surface)
            owned = [instance for instance in instances.get(cell.group, []) if instance.get("operator") == operator]
            observed[cell.id] = Observation(run.results[f"c{index:03d}"], mine, owned)
        return observed
    finally:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda emulator: emulator.stop(), [emulator for group, emulator in emulators.items() if group != "tls"]))


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
    result = seen.result
    no_crash(result)
    text = json.dumps(result, ensure_ascii=False)
    for secret in (APP_SECRET, BK_TOKEN, ACCESS_TOKEN):
        assert secret not in text
    # Never twice: at most one started instance per cell, its id in the result; a lost create's leftover never starts
    # and is named in a warning.
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
    if cell.expect == "fail":
        assert result.get("failed") is True, result
        msg = result.get("msg")
        assert isinstance(msg, str) and 20 <= len(msg) <= 2000, msg
        for phrase in cell.phrases:
            if cell.surface == "esb" and cell.fault in ESB_WRAPPED and phrase == FAULTS[cell.fault][3]:
                phrase = "ESB got no usable answer from JOB"
            assert phrase in msg, (phrase, msg)
        assert result["error"]["stage"] == cell.error_stage, result["error"]
        if cell.stage == "wait" and cell.module == LAUNCH:
            assert f"Lost track of job instance {result['job_instance_id']}" in msg
    else:
        assert result.get("failed") is False, result.get("msg")
        assert result.get("job_instance_id"), result
        assert "adopted" not in result, result
        if cell.expect != "launched":
            assert result["status_name"] == "success", result
        warned = [warning for warning in warnings_of(result) if cell.warn and cell.warn in warning]
        if cell.expect == "ok_warn" or (cell.expect == "launched" and cell.warn):
            assert warned, warnings_of(result)
        elif cell.expect in ("ok", "launched"):
            assert not warnings_of(result), warnings_of(result)
            if cell.stage == "logs":
                hosts = [host for step in result["steps"] for host in step["hosts"] if step["type"] in (1, 2)]
                assert hosts and all(host["log"] for host in hosts), "logs must be there once the fault passed"
    calls = seen.calls(cell.api) if cell.api else []
    if cell.stage == "terminate":  # the launch's own start is operate_job_instance too (code 2)
        calls = [call for call in calls if call["body"]["operation_code"] == 1]
    if cell.api and cell.attempts is not None:
        assert len(calls) == cell.attempts, (cell.api, len(calls))
    if cell.api and cell.min_attempts is not None:
        assert len(calls) >= cell.min_attempts, (cell.api, len(calls))
    if cell.fault == "tls" or cell.group is None:
        assert seen.requests == []


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
    [warning] = [text for text in warnings_of(seen.result) if "got no clear answer once" in text]
    assert "It was sent again" in warning and f"job instance {seen.result['job_instance_id']} is this task's" in warning
    probes = [call for call in seen.calls("operate_job_instance") if call["body"]["job_instance_id"] == 2 ** 63 - 1]
    starts = [call for call in seen.calls("operate_job_instance") if call["body"]["job_instance_id"] != 2 ** 63 - 1]
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


# ------------------------------------------------------------------------------------------------------------
# Load: 200 hosts launching at once.

LOAD_HOSTS = 200
LOAD_FORKS = 50


def test_200_concurrent_launches_give_200_distinct_instances(tmp_path, collections):
    ansible = Ansible(tmp_path, collections)
    with Emulator(config={"default_behaviour": {"step_seconds": 0.05}}) as job:
        cells = {}
        for index in range(LOAD_HOSTS):
            tag = f"load-{index:03d}"
            cells[f"h{index:03d}"] = (LAUNCH, {**esb_connection(job), "bk_biz_id": 2, "bk_tenant_id": tag, "job_plan_id": 1004,
                                               "wait": True, **FAST})
        run = run_hosts(ansible, cells, forks=LOAD_FORKS)
        instances = job.instances()
        launches = job.requests("execute_job_plan")
    results = list(run.results.values())
    failed = [result.get("msg") for result in results if result.get("failed")]
    ids = [result.get("job_instance_id") for result in results]
    print(f"\nload: {LOAD_HOSTS} hosts, forks {LOAD_FORKS}, wait: true: wall {run.wall:.1f} s; "
          f"{len(set(ids))} distinct job instances, {len(failed)} failures, {len(ids) - len(set(ids))} duplicates")
    assert run.rc == 0 and not failed, failed[:3]
    assert len(results) == LOAD_HOSTS and len(set(ids)) == LOAD_HOSTS and None not in ids
    assert all(result["status_name"] == "success" for result in results)
    assert len(instances) == LOAD_HOSTS and {instance["job_instance_id"] for instance in instances} == set(ids)
    assert len(launches) == LOAD_HOSTS
    assert sorted(tenant_of(request) for request in launches) == sorted(f"load-{index:03d}" for index in range(LOAD_HOSTS)), \
        "each host launched exactly once"


# ------------------------------------------------------------------------------------------------------------
# TLS through real ansible-playbook.

def test_tls_private_ca(tls_job, pki, ansible):
    with Emulator(tls_cert=pki["wrong_name"][0], tls_key=pki["wrong_name"][1]) as wrong_name:
        tls_job.reset()
        esb = esb_connection(tls_job)
        gateway = apigw_connection(tls_job)
        run = ansible.playbook([
            {"name": "default settings", f"blueking.job.{LAUNCH}": {**esb, "bk_biz_id": 2, "job_plan_id": 1000}},
            {"name": "ca_path", f"blueking.job.{LAUNCH}": {**esb, "bk_biz_id": 2, "job_plan_id": 1000, "ca_path": pki["ca"], **FAST}},
            {"name": "validate_certs false", f"blueking.job.{LAUNCH}": {**esb, "bk_biz_id": 2, "job_plan_id": 1000, "wait": False,
                                                                        "validate_certs": False}},
            {"name": "gateway default", f"blueking.job.{PLAN_INFO}": {**gateway, "bk_scope_id": "2"}},
            {"name": "gateway ca_path",
             f"blueking.job.{INFO}": {**gateway, "bk_scope_id": "2", "ca_path": pki["ca"], "job_instance_id": "{{ r1.job_instance_id }}"}},
            {"name": "BK_CA_PATH", f"blueking.job.{LAUNCH}": {**esb, "bk_biz_id": 2, "job_plan_id": 1000, "wait": False},
             "environment": {"BK_CA_PATH": pki["ca"]}},
            {"name": "ca_path wins over REQUESTS_CA_BUNDLE", f"blueking.job.{PLAN_INFO}": {**esb, "bk_biz_id": 2, "ca_path": pki["ca"]},
             "environment": {"REQUESTS_CA_BUNDLE": pki["other_ca"], "CURL_CA_BUNDLE": pki["other_ca"]}},
            {"name": "another CA", f"blueking.job.{LAUNCH}": {**esb, "bk_biz_id": 2, "job_plan_id": 1000, "ca_path": pki["other_ca"]}},
            {"name": "wrong host name", f"blueking.job.{LAUNCH}": {**esb_connection(wrong_name), "bk_biz_id": 2, "job_plan_id": 1000,
                                                                   "ca_path": pki["ca"]}},
        ])
        wrong_name_requests = wrong_name.requests()
    refused_by_tls = [run[key] for key in ("r0", "r3", "r7", "r8")]
    for result in refused_by_tls:
        assert result["failed"] is True and result["error"]["kind"] == "tls", result
        assert "TLS verification failed" in result["msg"] and "ca_path" in result["msg"], result["msg"]
        assert "certificate" in result["msg"].lower() or "hostname" in result["msg"].lower(), result["msg"]
        no_crash(result)
    assert "certificate verify failed" in run["r0"]["msg"]
    assert "mismatch" in run["r8"]["msg"].lower() or "match" in run["r8"]["msg"].lower(), run["r8"]["msg"]
    assert run["r1"]["failed"] is False and run["r1"]["status_name"] == "success"
    assert run["r2"]["failed"] is False and run["r2"]["changed"] is True
    assert any("validate_certs is false" in warning for warning in warnings_of(run["r2"]))
    assert not any("validate_certs" in warning for warning in warnings_of(run["r1"]))
    assert run["r4"]["failed"] is False and run["r4"]["job_instance_id"] == run["r1"]["job_instance_id"]
    assert run["r5"]["failed"] is False and run["r5"]["job_instance_id"]
    assert run["r6"]["failed"] is False and run["r6"]["job_plans"]
    assert wrong_name_requests == []
    launched = tls_job.requests("execute_job_plan")
    assert len(launched) == 3, "only the ca_path, validate_certs: false and BK_CA_PATH tasks reached JOB"


# ------------------------------------------------------------------------------------------------------------
# Secret scan: every path, every place the module's output can land.

SECRET_ENV = {"BK_APP_CODE": APP_CODE, "BK_APP_SECRET": APP_SECRET, "BK_USERNAME": USERNAME, "BK_TOKEN": BK_TOKEN,
              "RS_ACCESS_TOKEN": ACCESS_TOKEN, "RS_DB_PASSWORD": DB_PASSWORD, "RS_NOTE": "note-secret-6a1f"}
SCANNED = (APP_SECRET, BK_TOKEN, ACCESS_TOKEN, DB_PASSWORD, "note-secret-6a1f")


def _uri(job, method, path, body=None):
    task = {"name": f"emulator {method} {path}", "ansible.builtin.uri": {"url": job.url + path, "method": method, "status_code": [200]}}
    if body is not None:
        task["ansible.builtin.uri"].update(body=body, body_format="json")
    return task


def test_no_secret_in_any_output_on_any_path(job, ansible):
    """Credentials and password values come from the environment, so no file the test writes holds them."""
    env_secret = {"db_password": "{{ lookup('env', 'RS_DB_PASSWORD') }}", "release_note": "{{ lookup('env', 'RS_NOTE') }}"}
    # release_note is a plain string variable: the module masks it only because secret_var_names names it.
    base = {"bk_api_url": job.url, "bk_biz_id": 2, "job_plan_id": 1000, "secret_var_names": ["release_note"], **FAST}
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
        {"name": "gateway with an access token", launch: {**gateway, "bk_scope_id": "2", "job_plan_id": 1000,
                                                          "global_var_list": [{"id": 3, "value": "{{ lookup('env', 'RS_DB_PASSWORD') }}"}],
                                                          "wait": False}},
        _uri(job, "POST", "/_emulator/faults", {"api": "get_job_instance_status", "kind": "drop", "count": -1, "surface": "esb"}),
        {"name": "fault while waiting", launch: {**base, "global_vars": env_secret, "wait_timeout": 3}},
        _uri(job, "DELETE", "/_emulator/faults"),
        {"name": "validation failure", launch: {**base, "global_vars": {**env_secret, "no_such_var": "x"}}},
        _uri(job, "POST", "/_emulator/faults", {"api": "execute_job_plan", "kind": "after_create_502", "count": 1}),
        # the create's answer is lost after JOB made the instance: created again, the unstarted leftover named
        {"name": "lost answer, created again", launch: {**base, "job_plan_id": 1001, "global_vars": env_secret, "wait": False}},
        _uri(job, "POST", "/_emulator/faults", {"api": "execute_job_plan", "kind": "permission", "count": 1}),
        {"name": "permission denied", launch: {**base, "global_vars": env_secret}},
        _uri(job, "POST", "/_emulator/next_launch", {"behaviour": {"failed_hosts": 2}}),
        {"name": "job fails, failed hosts' logs", launch: {**base, "global_vars": env_secret, "host_results": "failed"}},
        # job_instance_info has no secret_var_names: attach to the job whose only secret is the password variable.
        {"name": "attach", f"blueking.job.{INFO}": {**gateway, "bk_scope_id": "2", "job_instance_id": "{{ r4.job_instance_id }}",
                                                    "wait": True, "host_results": "all", **FAST}},
        {"name": "plan detail", f"blueking.job.{PLAN_INFO}": {"bk_api_url": job.url, "bk_biz_id": 2, "job_plan_id": 1000}},
        {"name": "async", launch: {**base, "global_vars": env_secret}, "async": 60, "poll": 0},
        {"name": "async result (left in ANSIBLE_ASYNC_DIR: no cleanup)", "ansible.builtin.async_status": {"jid": "{{ r17.ansible_job_id }}"},
         "until": "r18.finished", "retries": 60, "delay": 0.5},
        {"name": "wrong access token", f"blueking.job.{PLAN_INFO}": {**gateway, "bk_scope_id": "2", "bk_access_token": "at-wrong-9e9e"}},
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
    adhoc = ansible.adhoc(launch, {"bk_api_url": job.url, "bk_biz_id": 2, "job_plan_id": 1000, "global_vars": {"db_password": DB_PASSWORD},
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
