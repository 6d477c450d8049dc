# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# pylint: disable=too-many-lines
"""A BlueKing JOB v3 emulator, reached through ESB and through the API gateway.

Standard library only.  Run it as ``python tests/emulator/bkjob_emulator.py --port 0 --port-file PATH``.
Behaviour follows ``reference/bk-job-api-facts.md`` (where JOB's docs and code disagree, the code wins).
See ``tests/emulator/README.md`` for the admin routes, fault kinds and seed data.
"""
from __future__ import annotations

import argparse
import base64
import copy
import datetime
import json
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

# ---------------------------------------------------------------------------
# Configuration (credentials); overridable with --config JSON_FILE
# ---------------------------------------------------------------------------

DEFAULT_CONFIG = {
    "apps": {"bk-demo-app": "demo-app-secret-9f2c41"},
    "users": ["admin", "alice"],
    "bk_tokens": {"tok-admin-7d1e": "admin"},
    # access_token -> user name; null means an app-type token that cannot indicate a user
    "access_tokens": {"at-alice-55aa": "alice"},
    # app used when an access_token authenticates (the token stands for app + user)
    "access_token_app": "bk-demo-app",
    # apps allowed to name a user with bk_username alone (ESB "skip user auth" whitelist,
    # gateway "免用户认证应用白名单" plugin); null means every configured app
    "skip_user_auth_apps": None,
    "tenant_required": False,
    # JOB feature toggle bkBizIdCompatible (chart default on): accept bk_biz_id, emit bk_biz_id in answers
    "bk_biz_id_compatible": True,
    # false: unknown hosts are accepted (a host id is made up); true: JOB's CMDB check (1243052/1243053)
    "strict_hosts": False,
    # merged into every launch's behaviour, see compute_progress()
    "default_behaviour": {},
}

ESB_PREFIX = "/api/c/compapi/v2/jobv3/"
APIGW_STAGE_ROOT = "/api/bk-job/prod"
ADMIN_PREFIX = "/_emulator/"

# ---------------------------------------------------------------------------
# Seed data (module level so that tests and later issues can extend it)
# ---------------------------------------------------------------------------

SEED_TIME = 1767225600000  # 2026-01-01T00:00:00Z, ms

# (bk_scope_type, bk_scope_id) -> scope info
SCOPES = {
    ("biz", "2"): {"name": "Blueking"},
    ("biz", "3"): {"name": "Demo"},
    ("biz_set", "9991001"): {"name": "All business"},
}

# bk_host_id -> host; "biz" is the CMDB business holding it (a biz_set sees every host)
HOSTS = {
    101: {"bk_cloud_id": 0, "ip": "10.0.0.1", "biz": "2"},
    102: {"bk_cloud_id": 0, "ip": "10.0.0.2", "biz": "2"},
    103: {"bk_cloud_id": 0, "ip": "10.0.0.3", "biz": "2"},
    104: {"bk_cloud_id": 0, "ip": "10.0.0.4", "biz": "2"},
    105: {"bk_cloud_id": 1, "ip": "10.0.0.5", "biz": "2"},
    201: {"bk_cloud_id": 0, "ip": "10.0.1.1", "biz": "3"},
    202: {"bk_cloud_id": 0, "ip": "10.0.1.2", "biz": "3"},
}

# CMDB topology nodes and dynamic groups -> host ids
TOPO_NODES = {("module", 1000): [101, 102], ("set", 10): [101, 102, 103, 104]}
DYNAMIC_GROUPS = {"blo8gojho0skft7pr5q0": [103], "blo8gojho0sabc7priuy": [104]}

VAR_STRING, VAR_NAMESPACE, VAR_HOST, VAR_CIPHER, VAR_ASSOC_ARRAY, VAR_INDEX_ARRAY = 1, 2, 3, 4, 5, 6
STEP_SCRIPT, STEP_FILE, STEP_CONFIRM = 1, 2, 3
CIPHER_MASK = "******"


def _var(var_id, name, var_type, value=None, required=0, description="", used=True, host_ids=None):
    """One plan global variable; host variables (type 3) get a server made from seeded host ids."""
    variable = {"id": var_id, "name": name, "type": var_type, "required": required,
                "description": description, "used": used}
    if var_type == VAR_HOST:
        variable["server"] = {
            "ip_list": [{"bk_host_id": host_id, "bk_cloud_id": HOSTS[host_id]["bk_cloud_id"], "ip": HOSTS[host_id]["ip"]}
                        for host_id in host_ids or []],
            "dynamic_group_list": [],
            "topo_node_list": [],
        }
    else:
        variable["value"] = value
    return variable


def _script_step(step_id, name, target, content="echo ok", param=""):
    """target: {"variable": NAME} (a host variable) or {"host_ids": [...]} (static hosts)."""
    return {"id": step_id, "type": STEP_SCRIPT, "name": name, "target": target, "content": content, "param": param}


def _file_step(step_id, name, target, source_files, destination):
    return {"id": step_id, "type": STEP_FILE, "name": name, "target": target,
            "source_files": source_files, "destination": destination}


def _confirm_step(step_id, name, users=("admin",), message="please confirm"):
    return {"id": step_id, "type": STEP_CONFIRM, "name": name, "approval_users": list(users), "message": message}


def _plan(plan_id, name, scope, template_id, global_vars, steps, creator="admin", need_update=False):
    return {
        "id": plan_id, "name": name, "scope": scope, "job_template_id": template_id,
        "creator": creator, "create_time": SEED_TIME + plan_id * 1000,
        "last_modify_user": creator, "last_modify_time": SEED_TIME + plan_id * 1000 + 500,
        "need_update": need_update, "global_vars": global_vars, "steps": steps,
    }


def _deploy_vars():
    return [
        _var(1, "app_version", VAR_STRING, "1.0.0", required=1, description="version to deploy"),
        _var(2, "target_hosts", VAR_HOST, required=1, description="hosts to deploy to", host_ids=[101]),
        _var(3, "db_password", VAR_CIPHER, "s3cr3t-db-pass", description="database password"),
        _var(4, "k8s_namespace", VAR_NAMESPACE, "prod", used=False),
        _var(5, "labels", VAR_ASSOC_ARRAY, "([a]=1 [b]=2)", used=False),
        _var(6, "ports", VAR_INDEX_ARRAY, "(80 443)", used=False),
        _var(7, "release_note", VAR_STRING, "", used=False),
    ]


def _deploy_steps(first_step_id):
    target = {"variable": "target_hosts"}
    return [
        _script_step(first_step_id, "check env", target, "#!/bin/bash\ndf -h /data\n"),
        _file_step(first_step_id + 1, "push package", target,
                   [{"host_ids": [104], "files": ["/data/release/app-${app_version}.tar.gz"]}], "/data/app/"),
        _confirm_step(first_step_id + 2, "approve"),
        _script_step(first_step_id + 3, "restart", target, "#!/bin/bash\nsystemctl restart app\n", "${app_version}"),
    ]


def _build_plans():
    biz2, biz3, bizset = ("biz", "2"), ("biz", "3"), ("biz_set", "9991001")
    plans = [
        _plan(1000, "deploy-app", biz2, 100, _deploy_vars(), _deploy_steps(5001)),
        _plan(1001, "deploy-app-canary", biz2, 100, _deploy_vars(), _deploy_steps(5011), need_update=True),
        _plan(1002, "deploy-app", biz3, 300,
              [_var(1, "app_version", VAR_STRING, "1.0.0", required=1),
               _var(2, "target_hosts", VAR_HOST, required=1, host_ids=[201])],
              [_script_step(5021, "restart", {"variable": "target_hosts"})]),
        _plan(1003, "rollback", biz2, 101,
              [_var(1, "app_version", VAR_STRING, "", required=1, description="version to roll back to")],
              [_script_step(5031, "rollback", {"host_ids": [101, 102]}, "#!/bin/bash\n./rollback.sh\n", "${app_version}")],
              creator="alice"),
        _plan(1004, "deploy", biz2, 102, [], [_script_step(5041, "deploy", {"host_ids": [101]})]),
        _plan(1005, "inspect-all", bizset, 400, [], [_script_step(5051, "inspect", {"host_ids": [101, 201]})]),
    ]
    for index in range(1, 46):
        plans.append(_plan(1100 + index, f"maintenance-{index:02d}", biz2, 200, [],
                           [_script_step(6000 + index, "clean logs", {"host_ids": [102]})],
                           creator="alice" if index % 3 == 0 else "admin"))
    return {plan["id"]: plan for plan in plans}


PLANS = _build_plans()

# ---------------------------------------------------------------------------
# Status tables (RunStatusEnum, ExecuteObjectTaskStatusEnum)
# ---------------------------------------------------------------------------

FINISHED_STATUSES = frozenset({3, 4, 5, 6, 8, 9, 11, 13, 14})
HOST_STATUS_FOR_STEP = {1: 5, 2: 7, 3: 9, 4: 104, 5: 9, 6: 104, 8: 403, 9: 0, 10: 7, 11: 403, 13: 403, 14: 0}
HOST_ERROR_CODE_FOR_STEP = {2: 115, 8: 126, 10: 115, 11: 126, 13: 126, 4: -1, 9: -1, 14: -1}
DEFAULT_BEHAVIOUR = {"step_seconds": 0.2, "final_status": 3}

# ---------------------------------------------------------------------------
# Errors and envelopes (the one place where answer bodies are shaped)
# ---------------------------------------------------------------------------


class JobError(Exception):
    """A JOB-side error: EsbResp envelope with code/message; HTTP 200 except missing parameters."""

    def __init__(self, code, message, http_status=200, permission=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.permission = permission


def missing_parameter(name):
    # MissingParameterException is the one JOB error answered with HTTP 400
    return JobError(1241004, f"请求参数[{name}]缺失", http_status=400)


def illegal_parameter(name):
    return JobError(1241005, f"请求参数[{name}]不合法")


def field_error(field, message):
    # bean validation (buildValidateFailResp): code 1240003, the first field error as message
    return JobError(1240003, f"{field}: {message}")


def new_hex_id():
    return uuid.uuid4().hex


def job_body(code=0, message="success", data=None, permission=None):
    """EsbResp, serialised NON_NULL (an error body has no data key)."""
    body = {"result": code == 0, "code": code, "message": message}
    if data is not None:
        body["data"] = data
    if permission is not None:
        body["permission"] = permission
    body["job_request_id"] = new_hex_id()
    return body


def permission_body(user, scope_type, scope_id):
    scope_name = SCOPES.get((scope_type, scope_id), {}).get("name", scope_id)
    is_set = scope_type == "biz_set"
    return {
        "system_id": "bk_job",
        "system_name": "作业平台",
        "actions": [{
            "id": "access_business",
            "name": "业务访问",
            "related_resource_types": [{
                "type": "biz_set" if is_set else "biz",
                "system_id": "bk_cmdb",
                "system_name": "配置平台",
                "type_name": "业务集" if is_set else "业务",
                "instances": [[{"id": scope_id, "type": "business_set" if is_set else "business",
                                "name": scope_name, "type_name": "业务集" if is_set else "业务"}]],
            }],
        }],
    }, f"用户({user})权限不足，请前往权限中心确认并申请补充后重试"


class Reply:
    """One HTTP answer, or a dropped connection."""

    def __init__(self, status=200, body=b"", content_type="application/json", headers=None, code=None, drop=False):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = dict(headers or {})
        self.code = code
        self.drop = drop

    @classmethod
    def json(cls, status, obj, headers=None):
        code = obj.get("code") if isinstance(obj, dict) else None
        return cls(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), headers=headers, code=code)


def esb_error(code, message):
    return Reply.json(200, {"result": False, "code": code, "data": None, "message": message, "request_id": new_hex_id()})


GATEWAY_ERRORS = {
    400: (1640001, "INVALID_ARGS", 'Parameters error [reason="invalid request"]'),
    403: (1640301, "APP_NO_PERMISSION", "App has no permission to the resource"),
    404: (1640401, "API_NOT_FOUND", "API not found"),
    413: (1641301, "BODY_SIZE_LIMIT_EXCEED", "Request body size too large."),
    414: (1641401, "URI_SIZE_LIMIT_EXCEED", "Request uri size too large."),
    429: (1642902, "RATE_LIMIT_RESTRICTION", "API rate limit exceeded by stage strategy"),
    502: (1650200, "BAD_GATEWAY", 'Bad Gateway [upstream_error="cannot read header from upstream"]'),
    504: (1650401, "REQUEST_BACKEND_TIMEOUT", 'Request backend service timeout [upstream_error="cannot read header from upstream"]'),
}


def _header_safe(text):
    return text.encode("ascii", "backslashreplace").decode("ascii")


def apigw_error(status, code=None, message=None, code_name=None, headers=None):
    default_code, default_name, default_message = GATEWAY_ERRORS.get(
        status, (1650200, "BAD_GATEWAY", "Bad Gateway") if status >= 500 else (1640001, "INVALID_ARGS", "invalid request"))
    code = default_code if code is None else code
    message = default_message if message is None else message
    body = {"code_name": code_name or default_name, "data": None, "code": code, "message": message, "result": False}
    all_headers = {"X-Bkapi-Error-Code": str(code), "X-Bkapi-Error-Message": _header_safe(message)}
    all_headers.update(headers or {})
    return Reply.json(status, body, headers=all_headers)


def apigw_auth_error(reason):
    return apigw_error(400, message=f'Parameters error [reason="{reason}"]')


NGINX_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
             b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")

# ---------------------------------------------------------------------------
# Job progression: the one place that turns elapsed time + behaviour into states
# ---------------------------------------------------------------------------


def compute_progress(instance, at_ms):
    """State of a job instance at at_ms (epoch milliseconds).

    behaviour keys: step_seconds (each step's duration), final_status (status the last step ends with;
    earlier steps succeed; a non-terminal value such as 2 or 7 leaves the job there).
    An operate_job_instance terminate freezes the running step as 11 (强制终止成功).
    Returns {"status", "start_time", "end_time", "total_time", "steps": [...]} with per-host results.
    """
    behaviour = instance["behaviour"]
    step_ms = max(0, int(float(behaviour.get("step_seconds", 0.2)) * 1000))
    final_status = int(behaviour.get("final_status", 3))
    start = instance["start_time"]
    terminated_at = instance.get("terminate_time")
    steps = []
    job_status, job_end = 1, None
    last_index = len(instance["steps"]) - 1
    for index, step in enumerate(instance["steps"]):
        state = {"status": 1, "start_time": None, "end_time": None}
        if start is not None:
            step_start = start + index * step_ms
            step_end = step_start + step_ms
            now = at_ms if terminated_at is None else min(at_ms, terminated_at)
            if now >= step_end:
                status = 3 if index < last_index else final_status
                state = {"status": status, "start_time": step_start,
                         "end_time": step_end if status in FINISHED_STATUSES else None}
            elif now >= step_start:
                state = {"status": 2, "start_time": step_start, "end_time": None}
            if terminated_at is not None and state["start_time"] is not None and state["end_time"] is None:
                # the step that was running (or stuck) when the job was terminated
                state = {"status": 11, "start_time": step_start, "end_time": terminated_at}
        steps.append(state)
    if start is not None:
        job_status, job_end = _job_status_from_steps(steps, terminated_at)
    result_steps = []
    for step, state in zip(instance["steps"], steps):
        total = state["end_time"] - state["start_time"] if state["end_time"] is not None else None
        result_steps.append(dict(state, total_time=total, hosts=_host_results(step, state, total)))
    return {
        "status": job_status,
        "start_time": start,
        "end_time": job_end,
        "total_time": job_end - start if job_end is not None else None,
        "steps": result_steps,
    }


def _job_status_from_steps(steps, terminated_at):
    for state in steps:
        if state["status"] == 11:
            return 11, terminated_at
        if state["status"] == 3:
            continue
        if state["status"] == 1:
            # a step is waiting: the previous one has just finished, the job is running
            return 2, None
        return state["status"], state["end_time"] if state["status"] in FINISHED_STATUSES else None
    return 3, steps[-1]["end_time"] if steps else None


def _host_results(step, state, total):
    if step["type"] == STEP_CONFIRM:
        return []
    step_status = state["status"]
    host_status = HOST_STATUS_FOR_STEP.get(step_status, 500)
    if step["type"] == STEP_FILE and host_status == 104:
        host_status = 11
    done = state["end_time"] is not None
    results = []
    for host in step["hosts"]:
        results.append({
            "bk_host_id": host["bk_host_id"],
            "ip": host["ip"],
            "bk_cloud_id": host["bk_cloud_id"],
            "status": host_status,
            "tag": "",
            "exit_code": (1 if host_status == 104 else 0) if done else 0,
            "error_code": HOST_ERROR_CODE_FOR_STEP.get(step_status, 0),
            "start_time": state["start_time"],
            "end_time": state["end_time"],
            "total_time": total,
        })
    return results


# ---------------------------------------------------------------------------
# Shared state
# ---------------------------------------------------------------------------


def now_ms():
    return int(time.time() * 1000)


class EmulatorState:
    """Recorded requests, pending faults and job instances; all access under one lock."""

    FIRST_INSTANCE_ID = 20000001
    FIRST_STEP_INSTANCE_ID = 30000001

    def __init__(self, config):
        self.config = config
        self.lock = threading.RLock()
        self.requests = []
        self.faults = []
        self.instances = {}
        self.next_launch = None
        self._seq = 0
        self._next_instance_id = self.FIRST_INSTANCE_ID
        self._next_step_instance_id = self.FIRST_STEP_INSTANCE_ID

    def reset(self):
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.instances.clear()
            self.next_launch = None
            self._seq = 0
            self._next_instance_id = self.FIRST_INSTANCE_ID
            self._next_step_instance_id = self.FIRST_STEP_INSTANCE_ID

    def record(self, entry):
        with self.lock:
            self._seq += 1
            entry["seq"] = self._seq
            self.requests.append(entry)
        return entry

    def list_requests(self, api=None):
        with self.lock:
            return [copy.deepcopy(entry) for entry in self.requests if api is None or entry.get("api") == api]

    def add_fault(self, fault):
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, api, surface, phase):
        """Consume the first pending fault matching api/surface; phase "pre" or "post" (after_create_*)."""
        with self.lock:
            for fault in self.faults:
                if fault["api"] not in ("*", api):
                    continue
                if fault.get("surface") not in (None, surface):
                    continue
                if (phase == "post") != fault["kind"].startswith("after_create_"):
                    continue
                if fault["count"] > 0:
                    fault["count"] -= 1
                    if fault["count"] == 0:
                        self.faults.remove(fault)
                return dict(fault)
        return None

    def launch_behaviour(self):
        with self.lock:
            behaviour = dict(DEFAULT_BEHAVIOUR)
            behaviour.update(self.config.get("default_behaviour") or {})
            if self.next_launch is not None:
                behaviour.update(self.next_launch)
                self.next_launch = None
            return behaviour

    def create_instance(self, instance):
        with self.lock:
            instance["job_instance_id"] = self._next_instance_id
            self._next_instance_id += 1
            for step in instance["steps"]:
                step["step_instance_id"] = self._next_step_instance_id
                self._next_step_instance_id += 1
            self.instances[instance["job_instance_id"]] = instance
            return instance


# ---------------------------------------------------------------------------
# JOB API layer (what both ESB and the gateway forward to)
# ---------------------------------------------------------------------------

IPV4_PATTERN = re.compile(r"((?!\d\d\d)\d+|1\d\d|2[0-4]\d|25[0-5])(\.((?!\d\d\d)\d+|1\d\d|2[0-4]\d|25[0-5])){3}")
BIZ_SET_ID_MIN, BIZ_SET_ID_MAX = 8000000, 9999999
MAX_PAGE_LENGTH, DEFAULT_PAGE_LENGTH = 1000, 20
THIRTY_DAYS_MS = 30 * 24 * 3600 * 1000


def _is_missing(value):
    return value is None or (isinstance(value, str) and value == "")


def _as_long(value):
    """JSON numbers and numeric strings (Jackson coerces them); None when not an integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


class JobCall:
    """One call of a JOB API: parameters, the authenticated user, the resolved scope."""

    def __init__(self, state, api, params, user, app_code):
        self.state = state
        self.api = api
        self.params = params
        self.user = user
        self.app_code = app_code
        self.scope_type = None
        self.scope_id = None

    def long(self, name, required=False, default=None):
        value = self.params.get(name)
        if _is_missing(value):
            if required:
                raise missing_parameter(name)
            return default
        number = _as_long(value)
        if number is None:
            raise JobError(1241020, f"请求参数[{name}]类型错误")
        return number

    def boolean(self, name, default):
        value = self.params.get(name)
        if _is_missing(value):
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise JobError(1241020, f"请求参数[{name}]类型错误")

    def text(self, name):
        value = self.params.get(name)
        return None if _is_missing(value) else str(value)

    def resolve_scope(self):
        """EsbAppScopeReq: bk_scope_type+bk_scope_id win; else bk_biz_id when bkBizIdCompatible is on."""
        scope_type = self.params.get("bk_scope_type")
        scope_id = self.params.get("bk_scope_id")
        compatible = self.state.config.get("bk_biz_id_compatible", True)
        if not compatible or not _is_missing(scope_type) or not _is_missing(scope_id):
            if scope_type not in ("biz", "biz_set"):
                raise field_error("bk_scope_type", "非法的资源范围类型")
            if _is_missing(scope_id) or not str(scope_id).strip():
                raise field_error("bk_scope_id", "非法的资源范围ID")
            scope_id = str(scope_id).strip()
        elif not _is_missing(self.params.get("bk_biz_id")):
            biz_id = self.long("bk_biz_id")
            if biz_id < 1:
                raise field_error("bk_biz_id", "非法的业务ID")
            # [8000000,9999999] were biz-set ids before biz sets were migrated
            scope_type = "biz_set" if BIZ_SET_ID_MIN <= biz_id <= BIZ_SET_ID_MAX else "biz"
            scope_id = str(biz_id)
        else:
            raise missing_parameter("bk_scope_id")
        if (scope_type, scope_id) not in SCOPES:
            raise JobError(1243051, f"资源范围不存在：{scope_type}:{scope_id}")
        self.scope_type, self.scope_id = scope_type, scope_id
        return scope_type, scope_id

    def check_permission(self):
        if self.user not in self.state.config["users"]:
            permission, message = permission_body(self.user, self.scope_type, self.scope_id)
            raise JobError(9900403, message, permission=permission)

    def in_scope(self, scope):
        return scope == (self.scope_type, self.scope_id)

    def scope_fields(self, scope=None):
        scope_type, scope_id = scope or (self.scope_type, self.scope_id)
        fields = {"bk_scope_type": scope_type, "bk_scope_id": scope_id}
        if self.state.config.get("bk_biz_id_compatible", True):
            fields["bk_biz_id"] = int(scope_id)
        return fields

    def page(self):
        start = self.long("start", default=0)
        length = self.long("length", default=DEFAULT_PAGE_LENGTH)
        start = max(start, 0)
        if length <= 0:
            length = DEFAULT_PAGE_LENGTH
        return start, min(length, MAX_PAGE_LENGTH)

    def instance(self):
        job_instance_id = self.long("job_instance_id", required=True)
        with self.state.lock:
            instance = self.state.instances.get(job_instance_id)
        if instance is None or not self.in_scope(instance["scope"]):
            raise JobError(1244006, "作业实例不存在")
        return instance


def _host_in_scope(host, scope):
    return scope[0] == "biz_set" or host["biz"] == scope[1]


def _host_entry(host_id, host):
    return {"bk_host_id": host_id, "bk_cloud_id": host["bk_cloud_id"], "ip": host["ip"]}


def resolve_hosts(server, scope, strict):
    """Hosts of a server value (host_id_list wins over ip_list; topo nodes and dynamic groups from the seed)."""
    hosts = {}
    host_ids = server.get("host_id_list") or []
    if host_ids:
        for raw_id in host_ids:
            host_id = _as_long(raw_id)
            host = HOSTS.get(host_id)
            if host is None or not _host_in_scope(host, scope):
                if strict:
                    raise JobError(1243053, f"主机ID在 CMDB 中不存在：{raw_id}")
                host = {"bk_cloud_id": 0, "ip": f"192.0.2.{(host_id or 0) % 250 + 1}"}
            hosts[host_id] = _host_entry(host_id, host)
    else:
        for item in server.get("ip_list") or []:
            cloud_id, ip = _as_long(item.get("bk_cloud_id")), str(item.get("ip")).strip()
            found = [host_id for host_id, host in HOSTS.items()
                     if host["ip"] == ip and host["bk_cloud_id"] == cloud_id and _host_in_scope(host, scope)]
            if found:
                hosts[found[0]] = _host_entry(found[0], HOSTS[found[0]])
            elif strict:
                raise JobError(1243052, f"IP（含管控区域ID）在 CMDB 中不存在：{cloud_id}:{ip}")
            else:
                host_id = _as_long(item.get("bk_host_id")) or 900000 + len(hosts) + 1
                hosts[host_id] = {"bk_host_id": host_id, "bk_cloud_id": cloud_id, "ip": ip}
    for group in server.get("dynamic_group_list") or []:
        for host_id in DYNAMIC_GROUPS.get(str(group.get("id")), []):
            hosts[host_id] = _host_entry(host_id, HOSTS[host_id])
    for node in server.get("topo_node_list") or []:
        for host_id in TOPO_NODES.get((str(node.get("node_type")), _as_long(node.get("id"))), []):
            hosts[host_id] = _host_entry(host_id, HOSTS[host_id])
    return list(hosts.values())


def _server_has_hosts(server):
    # EsbServerV3DTO.checkHostParamsNonEmpty
    return isinstance(server, dict) and any(server.get(key) for key in
                                            ("host_id_list", "ip_list", "dynamic_group_list", "topo_node_list"))


def _validate_global_var_list(raw_vars):
    """Bean validation of EsbExecuteJobV3Request.global_var_list (EsbIpDTO: @NotNull @Min(0) bk_cloud_id, IPv4 ip)."""
    if raw_vars is None:
        return []
    if not isinstance(raw_vars, list) or not all(isinstance(var, dict) for var in raw_vars):
        raise JobError(1241020, "请求参数[global_var_list]类型错误")
    for var_index, var in enumerate(raw_vars):
        server = var.get("server")
        if server is None:
            continue
        if not isinstance(server, dict):
            raise JobError(1241020, "请求参数[global_var_list]类型错误")
        for ip_index, item in enumerate(server.get("ip_list") or []):
            field = f"global_var_list[{var_index}].server.ip_list[{ip_index}]"
            if not isinstance(item, dict):
                raise JobError(1241020, "请求参数[global_var_list]类型错误")
            cloud_id = _as_long(item.get("bk_cloud_id"))
            if cloud_id is None or cloud_id < 0:
                raise field_error(f"{field}.bk_cloud_id", "云区域ID非法")
            if not isinstance(item.get("ip"), str) or not IPV4_PATTERN.fullmatch(item["ip"].strip()):
                raise field_error(f"{field}.ip", "IP非法")
    return raw_vars


def _valid_callback_url(url):
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def resolve_variables(plan, raw_vars, scope, strict):
    """Plan defaults overridden by the request; unknown ids/names are silently ignored, as JOB does."""
    variables = [{"id": var["id"], "name": var["name"], "type": var["type"], "value": var.get("value"),
                  "server": copy.deepcopy(var.get("server")), "source": "default"} for var in plan["global_vars"]]
    for raw in raw_vars:
        raw_id = _as_long(raw.get("id"))
        if raw_id is not None and raw_id > 0:
            matches = [var for var in variables if var["id"] == raw_id]
        else:
            matches = [var for var in variables if var["name"] == raw.get("name")]
        if not matches:
            continue
        target = matches[0]
        value, server = raw.get("value"), raw.get("server")
        if _is_missing(value) and _server_has_hosts(server):
            target.update(value=None, server=copy.deepcopy(server), source="request")
        else:
            target.update(value="" if value is None else str(value), server=None, source="request")
    for var in variables:
        if var["type"] == VAR_HOST:
            var["hosts"] = resolve_hosts(var["server"], scope, strict) if var["server"] else []
    return variables


def _step_hosts(step, variables):
    target = step.get("target") or {}
    if "variable" in target:
        var = next((var for var in variables if var["name"] == target["variable"]), None)
        if var is None:
            raise JobError(1244008, f"作业引用的主机列表变量[{target['variable']}]不存在")
        if not var.get("hosts"):
            raise JobError(1244009, f"作业引用的主机列表变量[{target['variable']}]的主机为空")
        return [dict(host) for host in var["hosts"]]
    hosts = [_host_entry(host_id, HOSTS[host_id]) for host_id in target.get("host_ids", [])]
    if not hosts:
        raise JobError(1244028, f"步骤 [{step['name']}] 的目标执行对象为空")
    return hosts


def api_execute_job_plan(call):
    plan_id = call.long("job_plan_id", required=True)
    raw_vars = _validate_global_var_list(call.params.get("global_var_list"))
    callback_url = call.text("callback_url")
    if callback_url is not None and not _valid_callback_url(callback_url):
        raise illegal_parameter("callback_url")
    start_task = call.boolean("start_task", True)
    if plan_id <= 0:
        raise illegal_parameter("job_plan_id")
    for raw in raw_vars:
        raw_id = _as_long(raw.get("id"))
        name = raw.get("name")
        if not (raw_id is not None and raw_id > 0) and not (isinstance(name, str) and name.strip()):
            raise illegal_parameter("global_var.id|global_var.name")
    plan = PLANS.get(plan_id)
    if plan is None or not call.in_scope(plan["scope"]):
        raise JobError(1244012, "执行方案不存在")
    strict = bool(call.state.config.get("strict_hosts"))
    variables = resolve_variables(plan, raw_vars, plan["scope"], strict)
    steps = []
    for step in plan["steps"]:
        hosts = [] if step["type"] == STEP_CONFIRM else _step_hosts(step, variables)
        steps.append({"step_id": step["id"], "name": step["name"], "type": step["type"], "hosts": hosts})
    created = now_ms()
    stamp = datetime.datetime.fromtimestamp(created / 1000).strftime("%Y%m%d%H%M%S") + f"{created % 1000:03d}"
    instance = call.state.create_instance({
        "job_instance_name": f"{plan['name']}_{stamp}",
        "plan_id": plan_id,
        "job_template_id": plan["job_template_id"],
        "scope": plan["scope"],
        "operator": call.user,
        "app_code": call.app_code,
        "launch_mode": 2,
        "type": 0,
        "create_time": created,
        "start_time": created if start_task else None,
        "terminate_time": None,
        "callback_url": callback_url,
        "start_task": start_task,
        "global_var_list_received": copy.deepcopy(call.params.get("global_var_list")),
        "variables": variables,
        "steps": steps,
        "behaviour": call.state.launch_behaviour(),
    })
    return {"job_instance_id": instance["job_instance_id"], "job_instance_name": instance["job_instance_name"]}


def api_get_job_instance_status(call):
    instance = call.instance()
    return_ip_result = call.boolean("return_ip_result", False)
    progress = compute_progress(instance, now_ms())
    job_instance = dict(call.scope_fields(instance["scope"]))
    job_instance.update({
        "job_instance_id": instance["job_instance_id"],
        "name": instance["job_instance_name"],
        "create_time": instance["create_time"],
        "status": progress["status"],
        "start_time": progress["start_time"],
        "end_time": progress["end_time"],
        "total_time": progress["total_time"],
    })
    step_list = []
    for step, state in zip(instance["steps"], progress["steps"]):
        item = {
            "step_instance_id": step["step_instance_id"],
            "type": step["type"],
            "name": step["name"],
            "status": state["status"],
            "create_time": instance["create_time"],
            "start_time": state["start_time"],
            "end_time": state["end_time"],
            "total_time": state["total_time"],
            "execute_count": 0,
        }
        if return_ip_result:
            item["step_ip_result_list"] = state["hosts"]
        step_list.append(item)
    return {"finished": progress["status"] in FINISHED_STATUSES, "job_instance": job_instance,
            "step_instance_list": step_list}


def api_operate_job_instance(call):
    instance = call.instance()
    operation_code = call.long("operation_code", required=True)
    with call.state.lock:
        progress = compute_progress(instance, now_ms())
        if operation_code == 2:
            if instance["start_time"] is not None:
                raise JobError(1241015, f"不支持的操作，请勿重复启动作业，job_instance_id={instance['job_instance_id']}")
            instance["start_time"] = now_ms()
        elif operation_code == 1:
            if instance["start_time"] is None or progress["status"] in FINISHED_STATUSES:
                raise JobError(1241014, "不支持的操作")
            if instance["terminate_time"] is not None:
                raise JobError(1244015, "任务正在终止中，请不要重复操作")
            instance["terminate_time"] = now_ms()
        else:
            raise illegal_parameter("operation_code")
    return {"job_instance_id": instance["job_instance_id"]}


def _plan_basic(call, plan):
    item = dict(call.scope_fields(plan["scope"]))
    item.update({key: plan[key] for key in ("id", "job_template_id", "name", "creator", "create_time",
                                            "last_modify_user", "last_modify_time")})
    return item


def api_get_job_plan_list(call):
    name = call.text("name")
    template_id = call.long("job_template_id")
    creator = call.text("creator")
    last_modify_user = call.text("last_modify_user")
    time_filters = [(key, field, call.long(key)) for key, field in (
        ("create_time_start", "create_time"), ("create_time_end", "create_time"),
        ("last_modify_time_start", "last_modify_time"), ("last_modify_time_end", "last_modify_time"))]
    start, length = call.page()
    matched = []
    for plan in sorted(PLANS.values(), key=lambda plan: plan["id"]):
        if not call.in_scope(plan["scope"]):
            continue
        if name is not None and name.lower() not in plan["name"].lower():
            continue
        if template_id is not None and plan["job_template_id"] != template_id:
            continue
        if creator is not None and plan["creator"] != creator:
            continue
        if last_modify_user is not None and plan["last_modify_user"] != last_modify_user:
            continue
        if any(bound is not None and (plan[field] < bound if key.endswith("_start") else plan[field] > bound)
               for key, field, bound in time_filters):
            continue
        matched.append(plan)
    items = [dict(_plan_basic(call, plan), need_update=plan["need_update"]) for plan in matched[start:start + length]]
    return {"data": items, "start": start, "length": length, "total": len(matched)}


def _render_server(target):
    if "variable" in target:
        return {"variable": target["variable"]}
    return {"ip_list": [_host_entry(host_id, HOSTS[host_id]) for host_id in target.get("host_ids", [])]}


def _render_account(name="root"):
    return {"id": 1, "name": name, "alias": name}


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _render_step(step):
    item = {"id": step["id"], "type": step["type"], "name": step["name"]}
    if step["type"] == STEP_SCRIPT:
        item["script_info"] = {
            "script_type": 1, "script_content": _b64(step["content"]), "script_language": 1,
            "script_param": _b64(step["param"]), "script_timeout": 3600, "is_param_sensitive": 0,
            "is_ignore_error": 0, "account": _render_account(), "server": _render_server(step["target"]),
        }
    elif step["type"] == STEP_FILE:
        item["file_info"] = {
            "file_source_list": [{"file_type": 1, "file_list": source["files"], "account": _render_account(),
                                  "server": _render_server({"host_ids": source["host_ids"]})}
                                 for source in step["source_files"]],
            "file_destination": {"path": step["destination"], "account": _render_account(),
                                 "server": _render_server(step["target"])},
            "timeout": 3600, "source_speed_limit": None, "destination_speed_limit": None,
            "transfer_mode": 1, "is_ignore_error": 0,
        }
        item["file_info"] = {key: value for key, value in item["file_info"].items() if value is not None}
    elif step["type"] == STEP_CONFIRM:
        item["approval_info"] = {"approval_type": 1, "approval_user": {"user_list": step["approval_users"], "role_list": []},
                                 "approval_message": step["message"], "notify_channel": ["mail"]}
    return item


def _render_plan_var(var):
    item = {"id": var["id"], "type": var["type"], "name": var["name"], "description": var["description"],
            "required": var["required"], "used": var["used"]}
    if var["type"] == VAR_HOST:
        item["server"] = copy.deepcopy(var["server"])
    else:
        item["value"] = CIPHER_MASK if var["type"] == VAR_CIPHER else var["value"]
    return item


def api_get_job_plan_detail(call):
    plan_id = call.long("job_plan_id", required=True)
    plan = PLANS.get(plan_id)
    if plan is None or not call.in_scope(plan["scope"]):
        raise JobError(1243009, "执行方案不存在")
    detail = _plan_basic(call, plan)
    detail["global_var_list"] = [_render_plan_var(var) for var in plan["global_vars"]]
    detail["step_list"] = [_render_step(step) for step in plan["steps"]]
    return detail


def _find_step(instance, step_instance_id):
    for index, step in enumerate(instance["steps"]):
        if step["step_instance_id"] == step_instance_id:
            return index, step
    raise JobError(1244007, "作业步骤实例不存在")


def _script_log(step, host, state):
    if state["start_time"] is None:
        return ""
    stamp = datetime.datetime.fromtimestamp(state["start_time"] / 1000).strftime("%Y-%m-%d %H:%M:%S")
    lines = [f"[{stamp}][PID:{4000 + host['bk_host_id']}] job_start", f"{step['name']} on {host['ip']}"]
    if state["end_time"] is not None:
        lines.append(f"exit_code={host['exit_code']}")
    return "\n".join(lines) + "\n"


def _file_logs(step, host, state):
    if state["start_time"] is None:
        return []
    file_status = 4 if state["status"] == 3 else (5 if state["end_time"] is not None else 3)
    return [{"mode": 1, "src_ip": {"bk_host_id": 104, "bk_cloud_id": 0, "ip": HOSTS[104]["ip"]},
             "src_path": "/data/release/app.tar.gz", "dest_ip": {key: host[key] for key in ("bk_host_id", "bk_cloud_id", "ip")},
             "dest_path": "/data/app/app.tar.gz", "status": file_status, "log_content": f"{step['name']}: status {file_status}\n",
             "size": "12 MB", "speed": "10 MB/s", "process": "100%" if file_status == 4 else "0%"}]


def _step_state(instance, step_instance_id):
    index, step = _find_step(instance, step_instance_id)
    return step, compute_progress(instance, now_ms())["steps"][index]


def api_get_job_instance_ip_log(call):
    instance = call.instance()
    step, state = _step_state(instance, call.long("step_instance_id", required=True))
    host_id, cloud_id, ip = call.long("bk_host_id"), call.long("bk_cloud_id"), call.text("ip")
    if host_id is None and (cloud_id is None or ip is None):
        raise JobError(1241007, "请求参数[bk_host_id|bk_cloud_id+ip]缺失或不合法")
    host = next((host for host in state["hosts"] if (host["bk_host_id"] == host_id if host_id is not None
                                                     else (host["bk_cloud_id"], host["ip"]) == (cloud_id, ip))), None)
    if host is None:
        raise JobError(1246001, "获取作业执行日志失败")
    data = {key: host[key] for key in ("bk_host_id", "ip", "bk_cloud_id")}
    if step["type"] == STEP_FILE:
        data.update(log_type=2, file_logs=_file_logs(step, host, state))
    else:
        data.update(log_type=1, log_content=_script_log(step, host, state))
    return data


def api_batch_get_job_instance_ip_log(call):
    instance = call.instance()
    step_instance_id = call.long("step_instance_id", required=True)
    step, state = _step_state(instance, step_instance_id)
    host_ids, ip_list = call.params.get("host_id_list"), call.params.get("ip_list")
    wanted = host_ids or ip_list
    if not isinstance(wanted, list) or not wanted or len(wanted) > 500:
        raise JobError(1241007, "请求参数[host_id_list/ip_list]缺失或不合法")
    if host_ids:
        keys = {_as_long(host_id) for host_id in host_ids}
        hosts = [host for host in state["hosts"] if host["bk_host_id"] in keys]
    else:
        keys = {(_as_long(item.get("bk_cloud_id")), str(item.get("ip"))) for item in ip_list if isinstance(item, dict)}
        hosts = [host for host in state["hosts"] if (host["bk_cloud_id"], host["ip"]) in keys]
    data = {"job_instance_id": instance["job_instance_id"], "step_instance_id": step_instance_id}
    if step["type"] == STEP_FILE:
        data["log_type"] = 2
        data["file_task_logs"] = [dict({key: host[key] for key in ("bk_host_id", "ip", "bk_cloud_id")},
                                       file_logs=_file_logs(step, host, state)) for host in hosts]
    else:
        data["log_type"] = 1
        data["script_task_logs"] = [{"host_id": host["bk_host_id"], "bk_host_id": host["bk_host_id"], "ip": host["ip"],
                                     "bk_cloud_id": host["bk_cloud_id"], "log_content": _script_log(step, host, state)}
                                    for host in hosts]
    return data


def api_get_job_instance_global_var_value(call):
    instance = call.instance()
    # only string variables are returned (EsbGetJobInstanceGlobalVarValueV3ResourceImpl)
    values = [{"name": var["name"], "value": var["value"], "type": VAR_STRING}
              for var in instance["variables"] if var["type"] == VAR_STRING]
    return {"job_instance_id": instance["job_instance_id"],
            "step_instance_var_list": [{"step_instance_id": step["step_instance_id"], "global_var_list": copy.deepcopy(values)}
                                       for step in instance["steps"]]}


def api_get_job_instance_list(call):
    time_start, time_end = call.long("create_time_start"), call.long("create_time_end")
    if time_start is None or time_end is None or time_end < time_start or time_end - time_start > THIRTY_DAYS_MS:
        raise illegal_parameter("create_time_start|create_time_end")
    job_instance_id = call.long("job_instance_id")
    filters = {"operator": call.text("operator"), "launch_mode": call.long("launch_mode"),
               "type": call.long("type"), "status": call.long("status")}
    name, ip = call.text("name"), call.text("ip")
    start, length = call.page()
    now = now_ms()
    with call.state.lock:
        instances = sorted(call.state.instances.values(), key=lambda inst: inst["create_time"], reverse=True)
    matched = []
    for instance in instances:
        if not call.in_scope(instance["scope"]):
            continue
        progress = compute_progress(instance, now)
        item = dict(call.scope_fields(instance["scope"]))
        item.update({
            "job_instance_id": instance["job_instance_id"], "job_plan_id": instance["plan_id"],
            "job_template_id": instance["job_template_id"], "name": instance["job_instance_name"],
            "operator": instance["operator"], "launch_mode": instance["launch_mode"], "status": progress["status"],
            "start_time": progress["start_time"], "end_time": progress["end_time"], "total_time": progress["total_time"],
            "create_time": instance["create_time"], "type": instance["type"],
        })
        if job_instance_id is not None:
            # job_instance_id ignores every other condition
            if instance["job_instance_id"] == job_instance_id:
                matched.append(item)
            continue
        if not time_start <= instance["create_time"] <= time_end:
            continue
        if any(value is not None and item[key] != value for key, value in filters.items()):
            continue
        if name is not None and name.lower() not in item["name"].lower():
            continue
        if ip is not None and not any(host["ip"] == ip for step in instance["steps"] for host in step["hosts"]):
            continue
        matched.append(item)
    page = [{key: value for key, value in item.items() if value is not None} for item in matched[start:start + length]]
    return {"data": page, "start": start, "length": length, "total": len(matched)}


class ApiSpec:
    """A JOB API: gateway method, required parameters (missing -> HTTP 400 1241004), implementation."""

    def __init__(self, method, required, func):
        self.method = method
        self.required = required
        self.func = func


# The route table: api name -> gateway method (ESB accepts GET and POST for every API).
API_TABLE = {
    "execute_job_plan": ApiSpec("POST", ("job_plan_id",), api_execute_job_plan),
    "get_job_instance_status": ApiSpec("GET", ("job_instance_id",), api_get_job_instance_status),
    "get_job_instance_ip_log": ApiSpec("GET", ("job_instance_id", "step_instance_id"), api_get_job_instance_ip_log),
    "batch_get_job_instance_ip_log": ApiSpec("POST", ("job_instance_id", "step_instance_id"), api_batch_get_job_instance_ip_log),
    "get_job_instance_global_var_value": ApiSpec("GET", ("job_instance_id",), api_get_job_instance_global_var_value),
    "get_job_instance_list": ApiSpec("GET", (), api_get_job_instance_list),
    "get_job_plan_list": ApiSpec("GET", (), api_get_job_plan_list),
    "get_job_plan_detail": ApiSpec("GET", ("job_plan_id",), api_get_job_plan_detail),
    "operate_job_instance": ApiSpec("POST", ("job_instance_id", "operation_code"), api_operate_job_instance),
}


def run_job_api(state, api, params, user, app_code):
    """Call a JOB API as its backend would; returns (http_status, EsbResp dict, JobCall)."""
    spec = API_TABLE[api]
    call = JobCall(state, api, params, user, app_code)
    try:
        for name in spec.required:
            if _is_missing(params.get(name)):
                raise missing_parameter(name)
        call.resolve_scope()
        call.check_permission()
        data = spec.func(call)
    except JobError as err:
        return err.http_status, job_body(err.code, err.message, permission=err.permission), call
    return 200, job_body(data=data), call


# ---------------------------------------------------------------------------
# Authentication: ESB validators and gateway bk-auth-verify
# ---------------------------------------------------------------------------


class AuthFailure(Exception):
    """Credentials refused by ESB (1306xxx) or the gateway (1640001)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _skip_user_auth(config, app_code):
    apps = config.get("skip_user_auth_apps")
    return app_code in (config["apps"] if apps is None else apps)


def _lookup_access_token(config, token):
    """(found, user) for an access token; user None for an app-type token."""
    tokens = config.get("access_tokens") or {}
    return token in tokens, tokens.get(token)


def esb_authenticate(config, authorization):
    """ESB AppAuthValidator + UserAuthValidator (blueking-apigateway src/esb); returns (app_code, user)."""
    access_token = authorization.get("access_token")
    if access_token:
        found, user = _lookup_access_token(config, access_token)
        if not found:
            raise AuthFailure(1306000, "verify access_token failed, please check if the access_token is valid")
        if not user:
            raise AuthFailure(1306000, "the access_token is the application type and cannot indicate the user")
        return config.get("access_token_app"), user
    app_code = authorization.get("bk_app_code") or authorization.get("app_code")
    app_secret = authorization.get("bk_app_secret") or authorization.get("app_secret")
    if not app_secret:
        raise AuthFailure(1306000, "Signature [bk_signature] and APP Secret [bk_app_secret] cannot be empty at the same time")
    if not app_code:
        raise AuthFailure(1306000, "APP Code [bk_app_code] cannot be empty")
    if app_code not in config["apps"]:
        raise AuthFailure(1306000, f"Invalid APP Code [bk_app_code={app_code}], please confirm if the APP Code has been registered")
    if config["apps"][app_code] != app_secret:
        # sic: "pelase" is ESB's own spelling
        raise AuthFailure(1306000, "APP Secret verification failed, pelase confirm if the APP Secret and APP Code "
                                   f"[bk_app_code={app_code}] match")
    bk_token = authorization.get("bk_token")
    if bk_token:
        user = (config.get("bk_tokens") or {}).get(bk_token)
        if not user:
            raise AuthFailure(1306000, "User authentication failed, please check if the bk_token is valid")
        return app_code, user
    username = authorization.get("bk_username") or authorization.get("username")
    if username and _skip_user_auth(config, app_code):
        return app_code, username
    raise AuthFailure(1306000, "User authentication failed, please provide a valid user identity, such as bk_token, bk_username")


def apigw_authenticate(config, authorization):
    """Gateway app + user verification (header X-Bkapi-Authorization only); returns (app_code, user)."""
    access_token = authorization.get("access_token")
    if access_token:
        found, user = _lookup_access_token(config, access_token)
        if not found:
            raise AuthFailure(1640001, "access_token is invalid, url: http://bkauth.example.com/api/v1/oauth/tokens/verify, code: 403")
        if not user:
            raise AuthFailure(1640001, "the access_token is the application type and cannot indicate the user")
        return config.get("access_token_app"), user
    app_code = authorization.get("bk_app_code")
    app_secret = authorization.get("bk_app_secret")
    if not app_code:
        raise AuthFailure(1640001, "app code cannot be empty")
    if not app_secret:
        raise AuthFailure(1640001, "please provide bk_app_secret or bk_signature to verify app")
    if config["apps"].get(app_code) != app_secret:
        raise AuthFailure(1640001, "bk_app_code or bk_app_secret is incorrect")
    bk_token = authorization.get("bk_token")
    if bk_token:
        user = (config.get("bk_tokens") or {}).get(bk_token)
        if not user:
            raise AuthFailure(1640001, "user authentication failed, please provide a valid user identity, such as bk_username, bk_token, access_token")
        return app_code, user
    username = authorization.get("bk_username")
    if username:
        if _skip_user_auth(config, app_code):
            return app_code, username
        raise AuthFailure(1640001, "user authentication failed, the user indicated by bk_username is not verified")
    raise AuthFailure(1640001, "user authentication failed, please provide a valid user identity, such as bk_username, bk_token, access_token")


def _parse_authorization_header(raw):
    """The header's JSON object, or None when absent; raises ValueError when not a JSON object."""
    if raw is None:
        return None
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


# ---------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------

FAULT_KINDS = ("business_error", "permission", "http_status", "html_502", "non_json", "garbled_json", "slow", "drop",
               "empty_401", "missing_param_400", "after_create_drop", "after_create_502")


def fault_reply(fault, surface, api, params):
    """The answer a fault gives, or None to go on normally (slow)."""
    kind = fault["kind"]
    if kind == "slow":
        time.sleep(float(fault.get("seconds", 1)))
        return None
    if kind in ("drop", "after_create_drop"):
        return Reply(drop=True)
    if kind in ("html_502", "after_create_502"):
        return Reply(502, NGINX_502, content_type="text/html")
    if kind == "non_json":
        return Reply(200, b"upstream says hi", content_type="text/plain")
    if kind == "garbled_json":
        return Reply(200, b'{"result": true, "code": 0, "data": {"job_inst')
    if kind == "empty_401":
        return Reply(401, b"", content_type="application/json")
    if kind == "http_status":
        return _http_status_fault(fault, surface)
    if kind == "missing_param_400":
        spec = API_TABLE.get(api)
        name = fault.get("param") or (spec.required[0] if spec and spec.required else "bk_scope_id")
        return _job_reply(surface, 400, job_body(1241004, f"请求参数[{name}]缺失"))
    if kind == "permission":
        scope_type = params.get("bk_scope_type") or "biz"
        scope_id = str(params.get("bk_scope_id") or params.get("bk_biz_id") or "2")
        permission, message = permission_body(fault.get("user", "admin"), scope_type, scope_id)
        return _job_reply(surface, 200, job_body(9900403, message, permission=fault.get("permission_object", permission)))
    # business_error
    return _job_reply(surface, 200, job_body(int(fault.get("code", 1240002)), fault.get("message", "内部服务器异常")))


def _http_status_fault(fault, surface):
    status = int(fault.get("status", 502))
    if surface == "apigw":
        headers = {}
        if status == 429:
            headers = {"X-Bkapi-RateLimit-Limit": str(fault.get("limit", 10)), "X-Bkapi-RateLimit-Remaining": "0",
                       "X-Bkapi-RateLimit-Reset": str(fault.get("reset", 1)), "X-Bkapi-RateLimit-Plugin": "bk-rate-limit"}
        return apigw_error(status, fault.get("code"), fault.get("message"), fault.get("code_name"), headers)
    code = fault.get("code", 1306429 if status == 429 else 1306201)
    message = fault.get("message", "Request rate limit exceeded" if status == 429
                        else f"Request third-party interface error, JOB answered HTTP {status}")
    return Reply.json(status, {"result": False, "code": code, "data": None, "message": message, "request_id": new_hex_id()})


def _job_reply(surface, status, body):
    if surface == "esb":
        body = dict(body, request_id=new_hex_id())
    return Reply.json(status, body)


# ---------------------------------------------------------------------------
# HTTP layer
# ---------------------------------------------------------------------------


class IncomingRequest:
    """A parsed request: path, single-valued query, headers, raw body and its JSON."""

    def __init__(self, method, path, query, headers, raw_body):
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.raw_body = raw_body
        self.json_error = False
        self.json_body = None
        if raw_body:
            try:
                self.json_body = json.loads(raw_body.decode("utf-8"))
            except ValueError:
                self.json_error = True

    def header(self, name):
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    def recorded_body(self):
        if not self.raw_body:
            return None
        if not self.json_error:
            return self.json_body
        return self.raw_body.decode("utf-8", "replace")


def _surface_and_api(path):
    if path.startswith("/api/c/compapi/"):
        match = re.fullmatch(re.escape(ESB_PREFIX) + r"([A-Za-z0-9_]+)/?", path)
        return "esb", match.group(1) if match else None
    if path == APIGW_STAGE_ROOT or path.startswith(APIGW_STAGE_ROOT + "/"):
        match = re.fullmatch(r"/api/v3/([A-Za-z0-9_]+)/?", path[len(APIGW_STAGE_ROOT):])
        return "apigw", match.group(1) if match else None
    return None, None


def handle_esb(state, request, api):
    """ESB channel: component lookup, parameters, authentication, then JOB; returns (Reply, JobCall or None)."""
    reply, params, auth = _esb_prepare(request, api)
    if reply is not None:
        return reply, None
    try:
        app_code, user = esb_authenticate(state.config, auth)
    except AuthFailure as failure:
        return esb_error(failure.code, failure.message), None
    status, body, call = run_job_api(state, api, params, user, app_code)
    body["request_id"] = new_hex_id()
    return Reply.json(status, body), call


def _esb_prepare(request, api):
    if api not in API_TABLE or not request.path.endswith("/") or request.method not in ("GET", "POST"):
        return esb_error(1306404, "Not found, component class not found"), None, None
    if request.method == "GET":
        params = dict(request.query)
    elif request.json_error or (request.json_body is not None and not isinstance(request.json_body, dict)):
        return esb_error(1306406, "Request parameter error, the request body is not a valid JSON object"), None, None
    else:
        params = dict(request.json_body or {})
    try:
        auth = _parse_authorization_header(request.header("X-Bkapi-Authorization"))
    except ValueError:
        return esb_error(1306406, "request header X-Bkapi-Authorization is not a valid JSON format string"), None, None
    if auth is None:
        # no header: ESB reads the credentials from the parameters
        keys = ("bk_app_code", "bk_app_secret", "app_code", "app_secret", "bk_token", "bk_username", "username", "access_token")
        auth = {key: params[key] for key in keys if not _is_missing(params.get(key))}
    return None, params, auth


def handle_apigw(state, request, api):
    """Gateway: resource lookup, tenant, authentication (header only), then JOB; returns (Reply, JobCall or None)."""
    reply = _apigw_gate(state, request, api)
    if isinstance(reply, Reply):
        return reply, None
    app_code, user = reply
    if request.method == "GET":
        params = dict(request.query)
    elif request.json_error or (request.json_body is not None and not isinstance(request.json_body, dict)):
        return Reply.json(200, job_body(1241022, "HTTP请求体格式不正确")), None
    else:
        params = dict(request.json_body or {})
    status, body, call = run_job_api(state, api, params, user, app_code)
    return Reply.json(status, body), call


def _apigw_gate(state, request, api):
    """A gateway error Reply, or the authenticated (app_code, user)."""
    resource = request.path[len(APIGW_STAGE_ROOT):] or "/"
    spec = API_TABLE.get(api)
    if spec is None or spec.method != request.method or resource.endswith("/"):
        return apigw_error(404, message=f'API not found [method="{request.method}" path="{resource}"]')
    if state.config.get("tenant_required") and not request.header("X-Bk-Tenant-Id"):
        return apigw_auth_error("tenant id cannot be empty, please provide the header X-Bk-Tenant-Id")
    try:
        authorization = _parse_authorization_header(request.header("X-Bkapi-Authorization")) or {}
    except ValueError:
        return apigw_auth_error("request header X-Bkapi-Authorization is not a valid JSON")
    try:
        return apigw_authenticate(state.config, authorization)
    except AuthFailure as failure:
        return apigw_auth_error(failure.message)


class EmulatorServer(ThreadingHTTPServer):
    """One thread per connection; TLS (when configured) is negotiated in that thread."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, state, quiet=False, ssl_context=None):
        super().__init__(address, EmulatorHandler)
        self.state = state
        self.quiet = quiet
        self.ssl_context = ssl_context

    def handle_error(self, request, client_address):
        if not self.quiet:
            sys.stderr.write(f"bkjob-emulator: error serving {client_address}: {sys.exc_info()[1]!r}\n")


class EmulatorHandler(BaseHTTPRequestHandler):
    """Records each request, applies pending faults, then hands it to ESB, the gateway or the admin routes."""

    protocol_version = "HTTP/1.1"
    server_version = "bkjob-emulator/1.0"
    timeout = 120

    def setup(self):
        if self.server.ssl_context is not None:
            # handshake in the handler thread, so a stalled client never blocks accept()
            self.request.settimeout(self.timeout)
            self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        if not self.server.quiet:
            sys.stderr.write(f"bkjob-emulator: {self.address_string()} {format % args}\n")

    def do_GET(self):  # pylint: disable=invalid-name
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def dispatch(self):
        url = urlsplit(self.path)
        query = {}
        for key, value in parse_qsl(url.query, keep_blank_values=True):
            query.setdefault(key, value)
        request = IncomingRequest(self.command, url.path, query, dict(self.headers.items()), self._read_body())
        if url.path.startswith(ADMIN_PREFIX):
            self.send_reply(handle_admin(self.server.state, request))
            return
        state = self.server.state
        surface, api = _surface_and_api(url.path)
        entry = state.record({
            "time": time.time(), "method": self.command, "path": url.path, "surface": surface, "api": api,
            "headers": request.headers, "query": query, "body": request.recorded_body(),
            "response_status": None, "response_code": None,
        })
        try:
            reply = self.route(state, request, surface, api, entry)
        except Exception as err:  # pylint: disable=broad-exception-caught
            # an emulator bug must not look like the "drop" fault: answer 500 and say why on stderr
            traceback.print_exc(file=sys.stderr)
            reply = Reply.json(500, {"result": False, "code": 1240002, "message": f"emulator internal error: {err!r}"})
        with state.lock:
            entry["response_status"] = None if reply.drop else reply.status
            entry["response_code"] = reply.code
        self.send_reply(reply)

    def route(self, state, request, surface, api, entry):
        if surface is None:
            return Reply.json(404, {"result": False, "code": None, "message": f"no such path: {request.path}"})
        params = request.query if request.method == "GET" else (request.json_body if isinstance(request.json_body, dict) else {})
        fault = state.take_fault(api, surface, "pre")
        if fault is not None:
            with state.lock:
                entry["fault"] = fault["kind"]
            reply = fault_reply(fault, surface, api, params)
            if reply is not None:
                return self.with_request_id(reply, surface, fault["kind"])
        reply, call = handle_esb(state, request, api) if surface == "esb" else handle_apigw(state, request, api)
        if call is not None and api == "execute_job_plan" and reply.status == 200 and reply.code == 0:
            fault = state.take_fault(api, surface, "post")
            if fault is not None:
                with state.lock:
                    entry["fault"] = fault["kind"]
                reply = fault_reply(fault, surface, api, params)
        return self.with_request_id(reply, surface, entry.get("fault"))

    @staticmethod
    def with_request_id(reply, surface, fault_kind):
        # every gateway answer carries X-Bkapi-Request-Id; a proxy's HTML page or a dropped socket does not
        if surface == "apigw" and not reply.drop and fault_kind not in ("html_502", "after_create_502"):
            reply.headers.setdefault("X-Bkapi-Request-Id", str(uuid.uuid4()))
        return reply

    def send_reply(self, reply):
        if reply.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type + ("; charset=utf-8" if reply.body else ""))
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)


# ---------------------------------------------------------------------------
# Admin routes (/_emulator/...)
# ---------------------------------------------------------------------------


def _instance_summary(instance):
    progress = compute_progress(instance, now_ms())
    return {
        "job_instance_id": instance["job_instance_id"],
        "job_instance_name": instance["job_instance_name"],
        "job_plan_id": instance["plan_id"],
        "operator": instance["operator"],
        "app_code": instance["app_code"],
        "bk_scope_type": instance["scope"][0],
        "bk_scope_id": instance["scope"][1],
        "global_var_list": instance["global_var_list_received"],
        "variables": copy.deepcopy(instance["variables"]),
        "callback_url": instance["callback_url"],
        "start_task": instance["start_task"],
        "create_time": instance["create_time"],
        "behaviour": instance["behaviour"],
        "status": progress["status"],
        "steps": [{"step_instance_id": step["step_instance_id"], "name": step["name"], "type": step["type"],
                   "hosts": step["hosts"]} for step in instance["steps"]],
    }


def handle_admin(state, request):
    route = (request.method, request.path.rstrip("/"))
    body = request.json_body if isinstance(request.json_body, dict) else {}
    if request.json_error:
        return Reply.json(400, {"error": "body is not JSON"})
    if route == ("GET", "/_emulator/requests"):
        return Reply.json(200, {"requests": state.list_requests(request.query.get("api"))})
    if route == ("POST", "/_emulator/reset"):
        state.reset()
        return Reply.json(200, {"ok": True})
    if route == ("GET", "/_emulator/instances"):
        with state.lock:
            instances = [_instance_summary(instance) for instance in state.instances.values()]
        return Reply.json(200, {"instances": instances})
    if route == ("GET", "/_emulator/faults"):
        with state.lock:
            return Reply.json(200, {"faults": copy.deepcopy(state.faults)})
    if route == ("POST", "/_emulator/faults"):
        return _add_fault(state, body)
    if route == ("DELETE", "/_emulator/faults"):
        with state.lock:
            state.faults.clear()
        return Reply.json(200, {"ok": True})
    if route == ("POST", "/_emulator/next_launch"):
        behaviour = body.get("behaviour")
        problem = _behaviour_problem(behaviour)
        if problem:
            return Reply.json(400, {"error": problem})
        with state.lock:
            state.next_launch = behaviour
        return Reply.json(200, {"ok": True, "behaviour": behaviour})
    if route == ("DELETE", "/_emulator/next_launch"):
        with state.lock:
            state.next_launch = None
        return Reply.json(200, {"ok": True})
    if route == ("GET", "/_emulator/health"):
        return Reply.json(200, {"ok": True})
    return Reply.json(404, {"error": f"no admin route {request.method} {request.path}"})


def _behaviour_problem(behaviour):
    if not isinstance(behaviour, dict):
        return 'body must be {"behaviour": {...}}'
    step_seconds = behaviour.get("step_seconds", 0)
    if isinstance(step_seconds, bool) or not isinstance(step_seconds, (int, float)) or step_seconds < 0:
        return "step_seconds must be a number >= 0"
    if "final_status" in behaviour and _as_long(behaviour["final_status"]) not in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15):
        return "final_status must be a JOB status (RunStatusEnum)"
    return None


def _add_fault(state, body):
    kind = body.get("kind")
    if kind not in FAULT_KINDS:
        return Reply.json(400, {"error": f"kind must be one of {', '.join(FAULT_KINDS)}"})
    api = body.get("api") or "*"
    if kind.startswith("after_create_") and api != "execute_job_plan":
        return Reply.json(400, {"error": f"{kind} only applies to execute_job_plan"})
    if body.get("surface") not in (None, "esb", "apigw"):
        return Reply.json(400, {"error": "surface must be esb, apigw or null"})
    count = _as_long(body.get("count", 1))
    if count is None or count == 0 or count < -1:
        return Reply.json(400, {"error": "count must be a positive integer or -1 (forever)"})
    fault = dict(body, api=api, kind=kind, count=count, surface=body.get("surface"))
    state.add_fault(fault)
    return Reply.json(200, {"ok": True, "fault": fault})


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def load_config(path):
    config = copy.deepcopy(DEFAULT_CONFIG)
    if path:
        with open(path, encoding="utf-8") as handle:
            overrides = json.load(handle)
        unknown = set(overrides) - set(DEFAULT_CONFIG)
        if unknown:
            raise SystemExit(f"bkjob-emulator: unknown config keys: {', '.join(sorted(unknown))}")
        config.update(overrides)
    problem = _behaviour_problem(config.get("default_behaviour") or {})
    if problem:
        raise SystemExit(f"bkjob-emulator: default_behaviour: {problem}")
    return config


def _write_port_file(path, port):
    directory = os.path.dirname(os.path.abspath(path))
    tmp_path = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp_path, "w", encoding="utf-8") as handle:
        handle.write(f"{port}\n")
    os.replace(tmp_path, path)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="BlueKing JOB v3 emulator (ESB and API gateway surfaces)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the bound port here (atomically) once listening")
    parser.add_argument("--tls-cert", help="PEM certificate (chain); serve HTTPS")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--config", help="JSON file overriding credentials and switches")
    parser.add_argument("--quiet", action="store_true", help="no per-request log lines")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    state = EmulatorState(load_config(args.config))
    ssl_context = None
    if args.tls_cert:
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
    server = EmulatorServer((args.host, args.port), state, quiet=args.quiet, ssl_context=ssl_context)
    port = server.server_address[1]
    stop = threading.Event()

    def request_stop(signum, frame):  # pylint: disable=unused-argument
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    serving.start()
    if args.port_file:
        _write_port_file(args.port_file, port)
    scheme = "https" if ssl_context else "http"
    sys.stderr.write(f"listening on {scheme}://{args.host}:{port}\n")
    sys.stderr.flush()
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
