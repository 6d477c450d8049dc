# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fault matrix as data: every stage against every fault, and what each cell must end with.

Stages: auth, lookup, validate, launch, wait, logs, terminate, plus output variables. Faults: every kind the emulator
produces (``FAULTS``, plus the launch-only ``after_create_*``) and the three it cannot (refused connection, DNS failure,
TLS failure). ``build_matrix()`` turns the tables below into ``Cell`` objects; test_fault_matrix.py runs them all in one
go and checks each with the assertion helper of its ``expect``.
"""

from __future__ import annotations

from collections import namedtuple

from conftest import APP_CODE, APP_SECRET, USERNAME  # pylint: disable=import-error
from multihost import FAST, INFO, LAUNCH, PLAN_INFO  # pylint: disable=import-error
from support import BIZ_ID, FIRST_JOB_INSTANCE_ID, PLAN_DEPLOY_APP  # pylint: disable=import-error

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
# Launch-only faults: JOB made the instance, its answer is lost.
AFTER_CREATE = ["after_create_drop", "after_create_502"]
# What ESB answers when JOB answers these: HTTP 200 with 1306201 (blueking-apigateway esb/components/component.py)
ESB_WRAPPED = ("http_5xx", "http_429", "non_json", "garbled_json")
ESB_WRAPPED_PHRASE = "ESB got no usable answer from JOB"
SLOW_TIMEOUT = 2.0  # request_timeout of the slow cells; the slow answer comes SLOW_EXTRA seconds later
SLOW_EXTRA = 0.3
SLOW_READ_ONLY = 3.5
LOST_CREATE_WARNING = "got no clear answer once"
ANY_PLAN = {"job_plan_id": PLAN_DEPLOY_APP}
PLAN_NAME = "deploy-app"  # PLAN_DEPLOY_APP's name
ANY_INSTANCE = {"job_instance_id": FIRST_JOB_INSTANCE_ID}

# Read-only stages, and what a fault that never passes gives there. ``phrases`` takes (faulted API, fault phrase);
# ``tries`` says how the faulted API's calls are counted: "exact" (attempts) or "at_least" (min_attempts, the wait
# polls until wait_timeout). A fault that passes (mode "recovers") always ends in a successful, waited-for job.
ReadOnlyStage = namedtuple("ReadOnlyStage", "stage api error_stage expect phrases warn launched tries")
READ_ONLY_STAGES = [
    ReadOnlyStage("lookup", "get_job_plan_list", "lookup", "fail", lambda api, phrase: (api, phrase), None, False, "exact"),
    ReadOnlyStage("validate", "get_job_plan_detail", "lookup", "fail", lambda api, phrase: (api, phrase), None, False, "exact"),
    ReadOnlyStage("wait", "get_job_instance_status", "wait", "fail", lambda api, phrase: ("Lost track of job instance", phrase), None,
                  True, "at_least"),
    ReadOnlyStage("logs", "batch_get_job_instance_ip_log", None, "ok_warn", lambda api, phrase: (), "Host logs of job instance",
                  True, "exact"),
    ReadOnlyStage("output_vars", "get_job_instance_global_var_value", None, "ok_warn", lambda api, phrase: (),
                  "Output variables of job instance", True, "exact"),
]

# Faults no emulator route produces: kind: (phrase, emulator group: None = no emulator is reached, "tls" = HTTPS one).
TRANSPORT = {
    "refused": ("was refused", None),
    "dns": ("Could not resolve the host", None),
    "tls": ("TLS verification failed", "tls"),
}
TRANSPORT_STAGES = ("lookup", "validate", "launch", "wait")

# Auth: credentials refused, on every module and both surfaces; never retried, nothing launched.
# (name, module, surface, identity replacing the cell's credentials, args, phrase)
WRONG_SECRET = {"bk_app_secret": "not-the-secret-1"}
AUTH = [
    ("esb_wrong_secret", LAUNCH, "esb", WRONG_SECRET, ANY_PLAN, "did not accept the credentials"),
    ("esb_wrong_secret_at_launch", LAUNCH, "esb", WRONG_SECRET, {**ANY_PLAN, "validate_vars": False}, "did not accept the credentials"),
    ("apigw_wrong_secret", LAUNCH, "apigw", WRONG_SECRET, ANY_PLAN, "The API gateway rejected the request"),
    ("esb_unknown_bk_token", INFO, "esb", {"bk_username": None, "bk_token": "tok-nobody-0000"}, ANY_INSTANCE,
     "did not accept the credentials"),
    ("apigw_unknown_access_token", INFO, "apigw", {"bk_access_token": "at-nobody-0000"}, ANY_INSTANCE,
     "The API gateway rejected the request"),
    ("esb_unknown_app", PLAN_INFO, "esb", {"bk_app_code": "no-such-app"}, {}, "did not accept the credentials"),
    ("apigw_wrong_secret_plan_info", PLAN_INFO, "apigw", WRONG_SECRET, ANY_PLAN, "The API gateway rejected the request"),
]
AUTH_SECRETS = ("not-the-secret-1", "tok-nobody-0000", "at-nobody-0000")


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

    def expected_phrase(self, phrase):
        """ESB wraps JOB's unusable answers as 1306201: the message then says so instead of naming the fault."""
        if self.surface == "esb" and self.fault in ESB_WRAPPED and phrase == FAULTS[self.fault][3]:
            return ESB_WRAPPED_PHRASE
        return phrase


def connection(surface, tenant, url):
    """ESB cells run as admin with bk_biz_id, gateway cells as alice with bk_scope_id; ``tenant`` tags the requests."""
    if surface == "esb":
        return {"bk_api_url": url, "bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": USERNAME, "bk_biz_id": BIZ_ID,
                "bk_tenant_id": tenant}
    return {"bk_api_url": url + "/api/bk-job/prod", "bk_api_type": "apigw", "bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET,
            "bk_username": "alice", "bk_scope_type": "biz", "bk_scope_id": str(BIZ_ID), "bk_tenant_id": tenant}


def operator_of(surface):
    return USERNAME if surface == "esb" else "alice"


def other_surface(surface):
    return "apigw" if surface == "esb" else "esb"


def fault_params(kind, surface, slow_seconds):
    """The emulator's fault parameters for ``kind`` on ``surface``; a slow answer comes after ``slow_seconds``."""
    params = dict(FAULTS[kind][1]) if kind in FAULTS else {}
    if kind == "http_5xx":
        params["status"] = 503 if surface == "esb" else 504
    if kind == "slow":
        params["seconds"] = slow_seconds
    return params


def _read_only_args(stage, kind, mode):
    args = dict(FAST)
    args.update({"job_plan_name": PLAN_NAME} if stage == "lookup" else ANY_PLAN)
    if stage == "wait":
        args["wait_timeout"] = 5 if mode == "never" else 15  # never: bounds the cell; recovers: slack under load
    if stage == "logs":
        args["host_results"] = "all"
    if kind == "slow":
        args["request_timeout"] = SLOW_TIMEOUT
    return args


def read_only_cell(row, kind, mode, surface):
    """A read-only stage's API faulted ``kind``: forever (mode "never") or for the first answer(s) ("recovers")."""
    emulator_kind, _params, transient, phrase = FAULTS[kind]
    count = -1 if mode == "never" else (2 if transient else 1)
    cell = Cell(f"{row.stage}/{kind}/{mode}", stage=row.stage, fault=kind, module=LAUNCH, args=_read_only_args(row.stage, kind, mode),
                group=f"{row.api}/{kind}", surface=surface, expect="ok", api=row.api)
    cell.fault_spec = (row.api, emulator_kind, count, fault_params(kind, surface, SLOW_READ_ONLY))
    if mode == "recovers":
        cell.launches, cell.instance, cell.min_attempts = 1, True, count + 1
        return cell
    cell.expect, cell.warn, cell.phrases = row.expect, row.warn, row.phrases(row.api, phrase)
    if row.expect == "fail":
        cell.error_stage = row.error_stage
    if row.launched:
        cell.launches, cell.instance = 1, True
    tries = 3 if transient else 1
    if row.tries == "exact":
        cell.attempts = tries
    else:
        cell.min_attempts = tries
    return cell


def read_only_cells():
    """Every read-only stage x every fault, never passing and passing; the surfaces alternate across the table."""
    cells = []
    for stage_index, row in enumerate(READ_ONLY_STAGES):
        for kind_index, kind in enumerate(FAULTS):
            never_surface = "esb" if (stage_index + kind_index) % 2 == 0 else "apigw"
            cells.append(read_only_cell(row, kind, "never", never_surface))
            cells.append(read_only_cell(row, kind, "recovers", other_surface(never_surface)))
    return cells


def launch_cell(kind, surface, group):
    """The create's first answer is faulted once. The launch creates with start_task false and then starts the id
    (operate_job_instance 2): an unclear create is sent again (it can only have left an unstarted instance, named in a
    warning); one refused before JOB (429) is sent again without a word."""
    args = {**ANY_PLAN, "wait": False}
    if kind == "slow":
        args["request_timeout"] = SLOW_TIMEOUT  # the answer comes SLOW_EXTRA s later: the lost create leaves an instance
    cell = Cell(f"launch/{kind}/once", stage="launch", fault=kind, module=LAUNCH, args=args, group=group, surface=surface,
                expect="launched", api="execute_job_plan", attempts=2, launches=2, instance=True, warn=LOST_CREATE_WARNING)
    cell.fault_spec = ("execute_job_plan", FAULTS.get(kind, (kind,))[0], 1, fault_params(kind, surface, SLOW_TIMEOUT + SLOW_EXTRA))
    if kind in ("slow",) + tuple(AFTER_CREATE):
        cell.leftovers = 1
    elif kind == "http_429":
        cell.warn = None  # refused before JOB: sent again, nothing to explain
    return cell


def terminate_cell(kind, surface, group):
    """The terminate (operate_job_instance code 1, after wait_timeout) faulted once: sent once, the task fails."""
    args = {**ANY_PLAN, "wait_timeout": 1, "terminate_on_timeout": True, **FAST}
    if kind == "slow":
        args["request_timeout"] = SLOW_TIMEOUT
    cell = Cell(f"terminate/{kind}/once", stage="terminate", fault=kind, module=LAUNCH, args=args, group=group, surface=surface,
                expect="fail", error_stage="terminate", api="operate_job_instance", attempts=1, launches=1, instance=True,
                phrases=("operate_job_instance", "terminating it failed", FAULTS[kind][3]))
    # the launch's own start is operate_job_instance 2: the fault is for the terminate (code 1) only
    params = {**fault_params(kind, surface, SLOW_TIMEOUT + SLOW_EXTRA), "match": {"operation_code": 1}}
    cell.fault_spec = ("operate_job_instance", FAULTS[kind][0], 1, params)
    return cell


def mutating_cells():
    """A launch cell and the terminate cell of the same fault share an emulator whose jobs run for minutes, on
    different surfaces; a rate-limit streak longer than the retries fails the launch cleanly."""
    cells = []
    for kind_index, kind in enumerate(list(FAULTS) + AFTER_CREATE):
        # http_429 launches through the gateway, whose rate limit refuses before JOB (ESB would wrap JOB's 429 as 1306201)
        surface = "apigw" if kind == "http_429" else "esb" if kind_index % 2 == 0 else "apigw"
        cells.append(launch_cell(kind, surface, f"mutating/{kind}"))
        if kind in FAULTS:
            cells.append(terminate_cell(kind, other_surface(surface), f"mutating/{kind}"))
    streak = Cell("launch/http_429/never", stage="launch", fault="http_429", module=LAUNCH, args={**ANY_PLAN, "wait": False},
                  group="mutating/http_429_streak", surface="apigw", expect="fail", error_stage="launch", api="execute_job_plan",
                  attempts=3, launches=3, phrases=("execute_job_plan", "rate-limited", "wait and retry"))
    streak.fault_spec = ("execute_job_plan", "http_status", -1, {"status": 429, "reset": 1})
    cells.append(streak)
    return cells


def transport_cell(kind, stage):
    phrase, group = TRANSPORT[kind]
    surface = "esb" if stage in ("lookup", "launch") else "apigw"
    if stage == "wait":
        args = {**ANY_INSTANCE, "wait": True, "wait_timeout": 3, **FAST}
        return Cell(f"{stage}/{kind}/never", stage=stage, fault=kind, module=INFO, args=args, group=group, surface=surface,
                    expect="fail", error_stage="wait", phrases=(f"Lost track of job instance {FIRST_JOB_INSTANCE_ID}", phrase))
    args = {"job_plan_name": PLAN_NAME} if stage == "lookup" else dict(ANY_PLAN)
    if stage == "launch":
        args.update(validate_vars=False, wait=False)
    return Cell(f"{stage}/{kind}/never", stage=stage, fault=kind, module=LAUNCH, args=args, group=group, surface=surface,
                expect="fail", error_stage="launch" if stage == "launch" else "lookup", phrases=(phrase,))


def auth_cells():
    cells = []
    for name, module, surface, identity, args, phrase in AUTH:
        first_call = "execute_job_plan" if args.get("validate_vars") is False else None
        cells.append(Cell(f"auth/{name}/never", stage="auth", fault="credentials_refused", module=module,
                          args={**args, "_identity": identity}, group="auth", surface=surface, expect="fail",
                          error_stage="auth", phrases=(phrase,), launches=1 if first_call else 0))
    empty = Cell("auth/empty_401/never", stage="auth", fault="empty_401", module=LAUNCH, args=dict(ANY_PLAN), group="auth_401",
                 surface="apigw", expect="fail", error_stage="auth", phrases=("HTTP 401",), api="get_job_plan_detail", attempts=1)
    empty.fault_spec = ("get_job_plan_detail", "empty_401", -1, {})
    cells.append(empty)
    return cells


def build_matrix():
    """The cells, in a stable order. URLs are filled in when the emulators run."""
    transport = [transport_cell(kind, stage) for kind in TRANSPORT for stage in TRANSPORT_STAGES]
    return read_only_cells() + mutating_cells() + transport + auth_cells()


MATRIX = build_matrix()
MATRIX_BY_ID = {cell.id: cell for cell in MATRIX}
