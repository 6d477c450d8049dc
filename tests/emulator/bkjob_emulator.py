# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# pylint: disable=too-many-lines
"""A BlueKing JOB v3 emulator, reached through ESB and through the API gateway.

Standard library only.  Run it as ``python tests/emulator/bkjob_emulator.py --port 0 --port-file PATH``.
Behaviour follows bk-job's code (``docs/bk-job-code-truth.md`` lists where it differs from the docs).
See ``tests/emulator/README.md`` for the admin routes, fault kinds and seed data.
"""
from __future__ import annotations

import argparse
import base64
import copy
import datetime
import http.client
import ipaddress
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
    # apps allowed to name a user with bk_username alone: ESB's skip-user-auth list
    # (FunctionControllerClient.is_skip_user_auth), the gateway's bk-verified-user-exempted-apps; BlueKing exempts none
    "skip_user_auth_apps": [],
    # seconds ESB waits for JOB (esb conf/default.py REQUEST_TIMEOUT_SECS) and the gateway waits for its backend
    "esb_timeout_seconds": 30,
    "apigw_timeout_seconds": 60,  # bk-job support-files/bk-api-gateway/v3/definition.yaml backend timeout
    # JOB job.execute.check-callback-url (CheckCallbackUrlConfig): allow-list off by default; bk_domain is bkConfig's
    "check_callback_url": {"enabled": False, "allowed_base_urls": [], "bk_domain": None},
    # null: a single-tenant BlueKing.  An object turns on multi-tenancy (gateway bk-tenant-validate, JOB's
    # CheckTenantGatewayFilterFactory): {"apps": {app_code: {"tenant_mode": "single"|"global", "tenant_id": ID}}};
    # apps not listed are single-tenant apps of tenant "default"
    "tenant": None,
    # JOB feature toggle bkBizIdCompatible (chart default on): accept bk_biz_id, emit bk_biz_id in answers
    "bk_biz_id_compatible": True,
    # false: unknown hosts are accepted (a host id is made up); true: JOB's CMDB check (1243052/1243053)
    "strict_hosts": False,
    # merged into every launch's behaviour, see compute_progress()
    "default_behaviour": {},
    # JOB job.execute openapi.v3GetJobInstanceList (OpenApiProperties): startLimitEnabled false by default; a number
    # turns the limit on with that maxStart (the chart's is 1000): a larger get_job_instance_list start is 1241010
    "job_instance_list_max_start": None,
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
    ("tenant_set", "1"): {"name": "All tenants"},
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
    203: {"bk_cloud_id": 0, "ip": "10.0.1.3", "biz": "3"},
}

# CMDB topology nodes and dynamic groups -> host ids
TOPO_NODES = {("module", 1000): [101, 102], ("set", 10): [101, 102, 103, 104]}
DYNAMIC_GROUPS = {"blo8gojho0skft7pr5q0": [103], "blo8gojho0sabc7priuy": [104]}

VAR_STRING, VAR_NAMESPACE, VAR_HOST, VAR_CIPHER, VAR_ASSOC_ARRAY, VAR_INDEX_ARRAY = 1, 2, 3, 4, 5, 6
# TaskStepTypeEnum in plans (a SQL step is a script step with script_language 6, ScriptTypeEnum.SQL);
# StepExecuteTypeEnum in job instances, where a SQL step is EXECUTE_SQL 4
STEP_SCRIPT, STEP_FILE, STEP_CONFIRM, STEP_SQL = 1, 2, 3, 4
SCRIPT_STEPS = (STEP_SCRIPT, STEP_SQL)
SCRIPT_LANGUAGE_SQL = 6
CIPHER_MASK = "******"


def _var(var_id, name, var_type, value=None, required=0, description="", used=True, host_ids=None, containers=None):
    """One plan global variable; host variables (type 3) get a server made from seeded host ids, or (containers)
    a default that targets containers (CMDB container ids), which has no hosts."""
    variable = {"id": var_id, "name": name, "type": var_type, "required": required,
                "description": description, "used": used}
    if var_type == VAR_HOST:
        variable["server"] = {
            "ip_list": [{"bk_host_id": host_id, "bk_cloud_id": HOSTS[host_id]["bk_cloud_id"], "ip": HOSTS[host_id]["ip"]}
                        for host_id in host_ids or []],
            "dynamic_group_list": [],
            "topo_node_list": [],
        }
        if containers:
            variable["server"]["containers"] = list(containers)
    else:
        variable["value"] = value
    return variable


def _script_step(step_id, name, target, content="echo ok", param="", language=1, ignore_error=False):
    """target: {"variable": NAME} (a host variable) or {"host_ids": [...]} (static hosts); language 6 is SQL.
    ignore_error: the plan step's is_ignore_error (a failed execution ends the step 6 and the job goes on)."""
    return {"id": step_id, "type": STEP_SCRIPT, "name": name, "target": target, "content": content, "param": param,
            "language": language, "ignore_error": ignore_error}


def _file_step(step_id, name, target, source_files, destination, ignore_error=False):
    return {"id": step_id, "type": STEP_FILE, "name": name, "target": target,
            "source_files": source_files, "destination": destination, "ignore_error": ignore_error}


def _confirm_step(step_id, name, users=("admin",), roles=(), message="please confirm"):
    """users / roles: who may confirm (checkConfirmUser); roles are JobRoleEnum or CMDB role names."""
    return {"id": step_id, "type": STEP_CONFIRM, "name": name, "approval_users": list(users),
            "approval_roles": list(roles), "message": message}


def _plan(plan_id, name, scope, template_id, global_vars, steps, creator="admin", need_update=False, behaviour=None):
    """behaviour: launch behaviour of this plan's jobs (see README "Launch behaviour"), under next_launch's."""
    return {
        "id": plan_id, "name": name, "scope": scope, "job_template_id": template_id,
        "creator": creator, "create_time": SEED_TIME + plan_id * 1000,
        "last_modify_user": creator, "last_modify_time": SEED_TIME + plan_id * 1000 + 500,
        "need_update": need_update, "global_vars": global_vars, "steps": steps, "behaviour": dict(behaviour or {}),
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
        _confirm_step(first_step_id + 2, "approve", roles=("JOB_RESOURCE_TRIGGER_USER",)),
        _script_step(first_step_id + 3, "restart", target, "#!/bin/bash\nsystemctl restart app\n", "${app_version}"),
    ]


def _flaky_vars():
    return [_var(1, "target_hosts", VAR_HOST, required=1, description="hosts to deploy to", host_ids=[201, 202, 203])]


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
        # a host variable whose default targets containers (JOB 3.10+ execute objects)
        _plan(1006, "k8s-rollout", biz3, 301, [_var(1, "pods", VAR_HOST, required=1, containers=["c-7f9a01", "c-7f9a02"])],
              [_script_step(5061, "rollout", {"variable": "pods"})]),
        # an "execute SQL" step: TaskStepTypeEnum SCRIPT with script_language 6 in the plan, EXECUTE_SQL (4) when run
        _plan(1007, "db-migrate", biz3, 302, [],
              [_script_step(5071, "migrate", {"host_ids": [201]}, "ALTER TABLE app ADD COLUMN note TEXT;\n", language=6)]),
        # Plans for failed hosts, retries and confirmations (biz 3, hosts 201-203; see README "Seed data")
        # host 202 fails the first execution of "deploy" only: a retry of the failed hosts recovers it
        _plan(1008, "flaky-deploy", biz3, 303, _flaky_vars(),
              [_script_step(5081, "deploy", {"variable": "target_hosts"}, "#!/bin/bash\n./deploy.sh\n"),
               _script_step(5082, "verify", {"variable": "target_hosts"}, "#!/bin/bash\n./verify.sh\n")],
              behaviour={"fail_attempts": {"202": 1}}),
        # the same, then a confirmation that waits for a person (7): the job waits there after a successful retry
        _plan(1009, "flaky-approve", biz3, 304, _flaky_vars(),
              [_script_step(5091, "deploy", {"variable": "target_hosts"}, "#!/bin/bash\n./deploy.sh\n"),
               _confirm_step(5092, "approve", roles=("JOB_RESOURCE_TRIGGER_USER",)),
               _script_step(5093, "finish", {"variable": "target_hosts"}, "#!/bin/bash\n./finish.sh\n")],
              behaviour={"fail_attempts": {"202": 1}, "confirm": True}),
        # a step whose plan ignores errors fails on host 203 (step 6, the job goes on), then a confirmation waits:
        # a job waiting for a person after a step with a failed host
        _plan(1010, "guarded-release", biz3, 305, _flaky_vars(),
              [_script_step(5101, "precheck", {"variable": "target_hosts"}, "#!/bin/bash\n./precheck.sh\n", ignore_error=True),
               _confirm_step(5102, "approve", roles=("JOB_RESOURCE_TRIGGER_USER",)),
               _script_step(5103, "release", {"variable": "target_hosts"}, "#!/bin/bash\n./release.sh\n")],
              behaviour={"failed_hosts": [203], "confirm": True}),
    ]
    for index in range(1, 46):
        plans.append(_plan(1100 + index, f"maintenance-{index:02d}", biz2, 200, [],
                           [_script_step(6000 + index, "clean logs", {"host_ids": [102]})],
                           creator="alice" if index % 3 == 0 else "admin"))
    return {plan["id"]: plan for plan in plans}


PLANS = _build_plans()

# ---------------------------------------------------------------------------
# Status tables (RunStatusEnum, ExecuteObjectTaskStatusEnum) and launch behaviour
# ---------------------------------------------------------------------------

FINISHED_STATUSES = frozenset({3, 4, 5, 6, 8, 9, 11, 13, 14})
RUN_STATUSES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15)
# the deciding step may end with these and the job still runs its later steps, then ends with that status
GO_ON_STATUSES = frozenset({5, 6})
# hosts of a started step that are not among the failed hosts: host status and error code by the step's status
HOST_STATUS_FOR_STEP = {1: 5, 2: 7, 3: 9, 4: 9, 5: 9, 6: 9, 7: 9, 8: 403, 9: 0, 10: 7, 11: 403, 13: 403, 14: 0, 15: 5}
HOST_ERROR_CODE_FOR_STEP = {2: 115, 8: 126, 10: 115, 11: 126, 13: 126, 9: -1, 14: -1}
# failed hosts: script steps 104 (脚本返回码非零, exit code 1), file steps 11 (执行失败)
FAILED_HOST_CODES = {STEP_SCRIPT: (104, 1, 0), STEP_SQL: (104, 1, 0), STEP_FILE: (11, 0, 0)}
MAX_SCRIPT_TARGETS = 50000  # job.execute.limit.script-task.max-target-server
LOG_BATCH_LIMIT = 500  # batch_get_job_instance_ip_log hosts per call

DEFAULT_BEHAVIOUR = {"step_seconds": 0.2, "final_status": 3, "confirm": False, "terminate_seconds": 0.3, "log_bytes": 200}


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _is_int(value, low, high):
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


# behaviour key -> (check, what it must be); documented in README.md ("Launch behaviour")
BEHAVIOUR_RULES = {
    "step_seconds": (_is_number, "a number >= 0"),
    "final_status": (lambda value: _as_long(value) in RUN_STATUSES, "a JOB status (RunStatusEnum)"),
    "host_count": (lambda value: value is None or _is_int(value, 1, 60000), "null or an integer 1..60000"),
    "failed_hosts": (lambda value: value is None or _is_int(value, 0, 10 ** 9)
                     or (isinstance(value, list) and all(_as_long(item) is not None for item in value)),
                     "null, a count >= 0 or a list of host ids"),
    "fail_attempts": (lambda value: value is None or isinstance(value, dict) and all(
        _as_long(key) is not None and _is_int(count, -1, 10 ** 6) for key, count in value.items()),
        'null or {"<bk_host_id>": executions that fail (-1: all)}'),
    "fail_step": (lambda value: value is None or _is_int(value, -1000, 1000), "null or a step index (negative counts from the end)"),
    "confirm": (lambda value: isinstance(value, bool), "true or false"),
    "terminate_seconds": (_is_number, "a number >= 0"),
    "log_bytes": (lambda value: _is_int(value, 0, 10 ** 7), "an integer 0..10000000"),
    "output_vars": (lambda value: isinstance(value, dict) and all(isinstance(item, str) for item in value.values()),
                    "an object of string values"),
    "job_version": (lambda value: value is None or _job_version(value) is not None, "null or a version such as \"3.6.4\""),
    # how JOB records the launch (TaskStartupModeEnum: 1 web, 2 api, 3 cron) and how long ago it was created (the
    # instance list's create_time, and start_time when it starts at once): instances the API alone cannot make
    "launch_mode": (lambda value: _as_long(value) in (1, 2, 3), "1 (web), 2 (api) or 3 (cron)"),
    "created_seconds_ago": (_is_number, "a number >= 0"),
}


def _job_version(value):
    """"3.9.2" -> (3, 9, 2); None for anything else."""
    match = re.fullmatch(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?\S*\s*", value) if isinstance(value, str) else None
    return tuple(int(part or 0) for part in match.groups()) if match else None


# What an older JOB does differently, by the first version that behaves as today (behaviour job_version):
# EsbExecuteJobV3Request.startTask came with 3.10 (older JOB starts every launch), EsbServerV3DTO.hostIds with
# 3.7 (older JOB reads ip_list only), and 3.5.x answered finished: true while a job waited for a person (status 7).
LEGACY_SINCE = {"start_task": (3, 10, 0), "host_id_list": (3, 7, 0), "finished_is_terminal": (3, 6, 0)}


def legacy_behaviour(behaviour, feature):
    """True when the launch's job_version predates feature (a LEGACY_SINCE key)."""
    version = _job_version(behaviour.get("job_version"))
    return version is not None and version < LEGACY_SINCE[feature]

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


def illegal_parameter(name):
    """ILLEGAL_PARAM_WITH_PARAM_NAME."""
    return JobError(1241005, f"请求参数[{name}]不合法")


def missing_or_illegal(name):
    """MISSING_OR_ILLEGAL_PARAM_WITH_PARAM_NAME, what most v3 checkRequest() methods answer."""
    return JobError(1241007, f"请求参数[{name}]缺失或不合法")


def field_error(message):
    """Bean validation: EsbExceptionControllerAdvice -> EsbResp.buildValidateFailResp, code BAD_REQUEST 1240003 and
    the first field violation's message alone (ValidationMessages_zh_CN.properties)."""
    return JobError(1240003, message)


def bad_request():
    """BAD_REQUEST 1240003 with its own message: unreadable body, wrong type, missing required @RequestParam."""
    return JobError(1240003, "错误的请求")


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


def _ms(seconds):
    return max(0, int(float(seconds) * 1000))


def resolve_outcome(behaviour, steps):
    """The deciding step of a launch, fixed at launch: {"index", "status" its first execution ends with, "failed"
    (host ids that fail that execution), "fail_attempts" ({host id: how many executions fail, -1 = all})}.

    fail_step names it; else the first script step (then file step) when failed_hosts or fail_attempts is set or
    final_status is 6; else the last step.  failed_hosts: a count (the step's first N hosts) or host ids; unset means
    every host of the step for final_status 4 and 6, none otherwise.  Each of them fails its first execution only,
    unless fail_attempts says how many (hosts fail_attempts names with n != 0 fail the first execution too).
    Failed hosts with final_status 3 make the status 4.
    """
    final_status = _as_long(behaviour.get("final_status", 3))
    if not steps:
        return {"index": None, "status": final_status, "failed": frozenset(), "fail_attempts": {}}
    failed_spec = behaviour.get("failed_hosts")
    attempts_spec = {_as_long(host_id): int(count) for host_id, count in (behaviour.get("fail_attempts") or {}).items()}
    fail_step = behaviour.get("fail_step")
    if fail_step is not None:
        index = max(0, min(len(steps) - 1, fail_step if fail_step >= 0 else len(steps) + fail_step))
    elif failed_spec is not None or attempts_spec or final_status == 6:
        index = next((index for kinds in (SCRIPT_STEPS, (STEP_FILE,)) for index, step in enumerate(steps) if step["type"] in kinds),
                     len(steps) - 1)
    else:
        index = len(steps) - 1
    host_ids = [host["bk_host_id"] for host in steps[index]["hosts"]]
    if failed_spec is None:
        failed = host_ids if final_status in (4, 6) and not attempts_spec else []
    elif isinstance(failed_spec, int):
        failed = host_ids[:failed_spec]
    else:
        wanted = {_as_long(host_id) for host_id in failed_spec}
        failed = [host_id for host_id in host_ids if host_id in wanted]
    fail_attempts = {host_id: 1 for host_id in failed}
    fail_attempts.update({host_id: count for host_id, count in attempts_spec.items() if host_id in host_ids})
    fail_attempts = {host_id: count for host_id, count in fail_attempts.items() if count != 0}
    first = frozenset(fail_attempts)
    status = 4 if final_status == 3 and first else final_status
    return {"index": index, "status": status, "failed": first, "fail_attempts": fail_attempts}


def _fails(outcome, index, host_id, execution):
    """Whether a host of step index fails its execution-th execution (1-based): only the deciding step's hosts do."""
    if index != outcome["index"]:
        return False
    count = outcome.get("fail_attempts", {}).get(host_id, 0)
    return count == -1 or execution <= count


def _job_times(job, end):
    """finishJob: end_time is set, total_time only when JOB has none yet (TaskCostCalculator.calculate keeps a
    total_time left from an earlier end, e.g. after NEXT_STEP on a terminated job)."""
    job["end"] = end
    if job["total"] is None:
        job["total"] = end - job["start"]


class _StepReplay:
    """One step of a job instance replayed from the moment the job reached it, up to at_ms.

    The step starts running (2) for step_seconds, or waits for a person (7) when it is a confirm step and the launch
    has behaviour confirm.  The events that may change it, in time order: a terminate of the job
    (instance["terminates"], stops the step that is active then), and the step operations recorded by
    operate_step_instance or the admin confirm route (instance["step_events"][index]), which were checked against
    the step's status when they were made (STEP_OPERATIONS), so replaying them in order reproduces the same states.

    What each does is GseStepEventHandler / ConfirmStepEventHandler / JobListener (bk-job job-execute engine):
    retry_failed (2) re-runs the hosts whose last result is not a success, retry_all (8) every host; both raise
    execute_count and run for step_seconds (start_time stays, end/total reset).  ignore (3) turns a failed (4) step
    into 6 and the job goes on.  next (11) turns a stopped step (11) into 5 and the job goes on.  skip (12) turns a
    stopping step (10) into 5 and the job goes on.  continue (6) ends a waiting confirm step with 3, terminate (9)
    with 13 (job 13); restart (10) makes a 13 step wait again (start_time now).

    After run(): self.status, self.state (the step's fields) and self.result: ("hold", None) the job stays at this
    step with the job status self.job_status; ("next", t) the job goes on at t; ("end", t) the job ended at t with
    the step's status.
    """

    def __init__(self, instance, index, cursor, at_ms, job):
        self.instance, self.index, self.at_ms, self.job = instance, index, at_ms, job
        self.step = instance["steps"][index]
        behaviour = instance["behaviour"]
        self.step_ms = _ms(behaviour.get("step_seconds", 0.2))
        self.outcome = instance["outcome"]
        self.events = [event for event in (instance.get("step_events") or {}).get(index, []) if event["at"] <= at_ms]
        self.terminates = [item for item in instance.get("terminates") or [] if cursor <= item["at"] <= at_ms]
        # Runs and host results are kept per phase, not per host, so that a poll of a 50000-host job stays cheap:
        # runs: the host sets of the step's executions (None: every host); marks: (hosts, status, start, end, failed)
        # in time order, the latest mark covering a host being its result (see host_records()).
        self.runs = []
        self.marks = []
        self.state = {"status": 1, "start_time": cursor, "end_time": None, "total_time": None, "execute_count": 0,
                      "run_start": cursor, "run_end": None}
        self.job_status = 2
        waits = self.step["type"] == STEP_CONFIRM and behaviour.get("confirm")
        self.phase = ("wait", cursor) if waits else self._start_run(cursor, None, first=True)
        self.result = None

    # -- phases -----------------------------------------------------------------------------------------------

    def _start_run(self, since, host_ids, first=False):
        """A run of host_ids (None: every host of the step) from since: ("run", since, hosts, status it ends with,
        failed hosts)."""
        self.runs.append(host_ids)
        candidates = self.outcome.get("fail_attempts", {}) if self.index == self.outcome["index"] else {}
        failed = frozenset(host_id for host_id in candidates if (host_ids is None or host_id in host_ids) and _fails(
            self.outcome, self.index, host_id, sum(1 for run in self.runs if run is None or host_id in run)))
        if first and self.index == self.outcome["index"]:
            status = self.outcome["status"]
        else:
            status = 4 if failed else 3
        if status == 4 and self.step.get("ignore_error"):
            status = 6  # a step whose plan ignores errors ends IGNORE_ERROR (GseStepEventHandler) and the job goes on
        self.state.update(run_start=since, run_end=None)
        return ("run", since, host_ids, status, failed)

    def _unsuccessful(self):
        """Hosts whose latest result is not a success (isSuccess: 9): hosts outside the latest run succeeded before
        it (every retry-fail re-runs all the others), so they are that run's failed hosts, or all its hosts when the
        step's status does not give its hosts 9 (9 abnormal: 0, 11 stopped: 403)."""
        host_ids, status, _since, _end, failed = self.marks[-1] if self.marks else (None, 1, None, None, frozenset())
        if HOST_STATUS_FOR_STEP.get(status) == 9:
            return failed
        return host_ids

    def _next_event(self):
        return self.events[0] if self.events else None

    def _take_terminate(self, since, before=None):
        """The first terminate at or after since (and before `before`), used up."""
        for item in self.terminates:
            if item["at"] >= since and (before is None or item["at"] < before):
                self.terminates.remove(item)
                return item
        return None

    def _mark(self, host_ids, status, since, end, failed=frozenset()):
        """The results of host_ids (None: every host) from now on: host status by the step status, failed ones failed."""
        if host_ids == ():
            return
        if self.marks and self.marks[-1][0] == host_ids and self.marks[-1][2] == since and not self.marks[-1][4]:
            self.marks.pop()  # the same run seen again (running, then stopping): keep the latest view only
        self.marks.append((host_ids, status, since, end, failed if self.step["type"] in FAILED_HOST_CODES else frozenset()))

    def failed_hosts(self):
        """Hosts whose latest result is a failure."""
        candidates = set().union(*(mark[4] for mark in self.marks)) if self.marks else set()
        return frozenset(host_id for host_id in candidates if host_id in self._latest(host_id)[4])

    def _latest(self, host_id):
        for mark in reversed(self.marks):
            if mark[0] is None or host_id in mark[0]:
                return mark
        return None

    def host_records(self):
        """bk_host_id -> (status, exit_code, error_code, start, end) of each host with a result (the marks applied in
        order, so the latest covering a host wins)."""
        records = {}
        every = None
        bad_codes = FAILED_HOST_CODES.get(self.step["type"], (104, 1, 0))
        for host_ids, status, since, end, failed in self.marks:
            good = (HOST_STATUS_FOR_STEP.get(status, 500), 0, HOST_ERROR_CODE_FOR_STEP.get(status, 0), since, end)
            if host_ids is None:
                every = every or [host["bk_host_id"] for host in self.step["hosts"]]
                host_ids = every
            records.update(dict.fromkeys(host_ids, good))
            records.update(dict.fromkeys((host_id for host_id in failed if host_id in records), bad_codes + (since, end)))
        return records

    def _finish(self, status, at):
        """The step reaches status at time at: end_time at, total_time as TaskCostCalculator.calculate gives it
        (kept when JOB already has one, e.g. from before a confirm restart or next-step)."""
        state = self.state
        state.update(status=status, end_time=at, run_end=at)
        if state["total_time"] is None:
            state["total_time"] = at - state["start_time"]

    def run(self):
        while self.result is None:
            kind = self.phase[0]
            getattr(self, "_" + kind)()
        return self

    def _run(self):
        _kind, since, host_ids, status, failed = self.phase
        done_at = since + self.step_ms
        # a status that is not finished (2, 7, 10, 15 as a launch's final_status) keeps the step there for good
        open_ended = status not in FINISHED_STATUSES
        terminate = self._take_terminate(since, None if open_ended else done_at)
        if terminate is not None:
            self._mark(host_ids, 2, since, None)
            self.phase = ("stopping", terminate, host_ids)
            return
        if self.at_ms < done_at:
            self.state["status"] = self.job_status = 2
            self._mark(host_ids, 2, since, None)
            self.result = ("hold", None)
            return
        if open_ended:
            self.state["status"] = self.job_status = status
            self._mark(host_ids, status, since, None)
            self.result = ("hold", None)
            return
        self._mark(host_ids, status, since, done_at, failed)
        self._finish(status, done_at)
        self.phase = ("done", done_at)

    def _wait(self):
        since = self.phase[1]
        event = self._next_event()
        terminate = self._take_terminate(since, event["at"] if event else None)
        if terminate is not None:
            self.phase = ("stopping", terminate, ())
            return
        if event is None or event["action"] not in ("continue", "terminate"):
            self.state["status"] = self.job_status = 7
            self.result = ("hold", None)
            return
        self.events.pop(0)
        # confirmContinue -> SUCCESS, confirmTerminate -> CONFIRM_TERMINATED (job too); total_time kept when set
        self._finish(3 if event["action"] == "continue" else 13, event["at"])
        self.phase = ("done", event["at"])

    def _stopping(self):
        _kind, terminate, host_ids = self.phase
        if terminate["status"] != 11:  # a person ended it in the web UI (admin route status 8): at once
            self._mark(host_ids, terminate["status"], self.state["run_start"], terminate["at"])
            self._finish(terminate["status"], terminate["at"])
            self.phase = ("done", terminate["at"])
            return
        done_at = terminate["at"] + terminate["stopping_ms"]
        event = self._next_event()
        if event is not None and event["action"] == "skip" and event["at"] < done_at:
            # skipStep: SKIPPED, end_time now, total_time untouched; the job runs on (JobListener.nextStep)
            self.events.pop(0)
            self.state.update(status=5, end_time=event["at"], run_end=event["at"])
            self._mark(host_ids, 11, self.state["run_start"], event["at"])
            self.result = ("next", event["at"])
            return
        if self.at_ms < done_at:
            self.state["status"] = self.job_status = 10
            self._mark(host_ids, 10, self.state["run_start"], None)
            self.result = ("hold", None)
            return
        self._mark(host_ids, 11, self.state["run_start"], done_at)
        self._finish(11, done_at)
        self.phase = ("done", done_at)

    def _done(self):
        at = self.phase[1]
        status = self.state["status"]
        if status in GO_ON_STATUSES or status == 3:
            self.result = ("next", at)
            return
        if self.job["end"] is None or self.job["end"] < at:
            _job_times(self.job, at)  # finishJob (JobListener): the job ends with the step's status
        event = self._next_event()
        if event is None:
            self.job_status = status
            self.result = ("end", at)
            return
        self.events.pop(0)
        action, when = event["action"], event["at"]
        if self.step["type"] == STEP_CONFIRM and action in ("retry_failed", "retry_all", "next"):
            # doStepOperation sets the job RUNNING (and a retry adds to execute_count), but ConfirmStepEventHandler
            # has no case for these events: the step stays 11 and the job stays 2 for good
            self.state["execute_count"] += action != "next"
            self.job_status = 2
            self.result = ("hold", None)
            return
        if action in ("retry_failed", "retry_all"):
            # retryStepFail/retryStepAll: execute_count + 1, step RUNNING with end/total reset (start_time kept),
            # job RUNNING with end/total reset; retry-fail re-runs only the hosts whose last result is no success
            self.state["execute_count"] += 1
            self.state.update(end_time=None, total_time=None)
            self.job.update(end=None, total=None)
            self.phase = self._start_run(when, None if action == "retry_all" else self._unsuccessful())
        elif action == "ignore":
            # ignoreError: IGNORE_ERROR (times untouched), job end/total reset, the job goes on
            self.state["status"] = 6
            self.job.update(end=None, total=None)
            self.result = ("next", when)
        elif action == "next":
            # nextStep: the stopped step becomes SKIPPED (end now, total kept), job RUNNING (end/total kept)
            self._finish(5, when)
            self.result = ("next", when)
        elif action == "restart":
            # confirmRestart -> executeConfirmStep: WAITING_USER with start_time now (end/total untouched), job 7
            self.state.update(start_time=when, run_start=when)
            self.phase = ("wait", when)
        else:
            raise AssertionError(f"step event {action} in status {status}")


def compute_progress(instance, at_ms, with_hosts=True):
    """State of a job instance at at_ms (epoch milliseconds), from its clock, behaviour and recorded events.

    Steps run one after another from start_time (_StepReplay says how one step goes).  A step that ends 3, 5 or 6
    lets the job go on; when the last step is done the job ends 3 (JobListener.nextStep -> finishJob(SUCCESS): a
    job never ends 5 or 6, only its steps do).  A step that ends with another finished status ends the job with it
    (a step operation may resume it later); an unfinished one (2, 7, 10, 15...) keeps the job there.  Steps not
    reached stay 1, with no hosts.  Job end_time / total_time follow JOB's updates: set when the job finishes
    (total_time only when unset), reset by a retry or ignore-error, kept by next-step and confirm restart.
    Returns {"status", "start_time", "end_time", "total_time", "active" (index of the step holding an unfinished
    job, or None), "steps": [{"status", "start_time", "end_time", "total_time", "execute_count", "failed",
    "run_start", "run_end", "hosts" (with_hosts)}]}.
    """
    states = [{"status": 1, "start_time": None, "end_time": None, "total_time": None, "execute_count": 0,
               "run_start": None, "run_end": None, "replay": None} for _step in instance["steps"]]
    start = instance["start_time"]
    job = {"start": start, "end": None, "total": None}
    status, active = 1, None
    if start is not None:
        cursor = start
        status = 3
        for index in range(len(instance["steps"])):
            replay = _StepReplay(instance, index, cursor, at_ms, job).run()
            states[index] = dict(replay.state, replay=replay)
            kind, at = replay.result
            if kind == "next":
                cursor = at
                continue
            active = index
            status = replay.job_status
            break
        else:
            _job_times(job, cursor)
        if status in FINISHED_STATUSES:
            active = None
    for step, state in zip(instance["steps"], states):
        replay = state.pop("replay")
        state["failed"] = replay.failed_hosts() if replay is not None else frozenset()
        if with_hosts:
            state["hosts"] = _host_results(step, state, replay.host_records() if replay is not None else {})
    return {
        "status": status,
        "start_time": start,
        "end_time": job["end"],
        "total_time": job["total"],
        "active": active,
        "steps": states,
    }


def host_codes(step, state, failed):
    """(host status, exit_code, error_code) of one host of a started step (the log APIs' view)."""
    if failed and step["type"] in FAILED_HOST_CODES:
        return FAILED_HOST_CODES[step["type"]]
    return HOST_STATUS_FOR_STEP.get(state["status"], 500), 0, HOST_ERROR_CODE_FOR_STEP.get(state["status"], 0)


def _host_results(step, state, records):
    """step_ip_result_list: the target hosts of a started script/file step, each with its latest result
    (ExecuteObjectTask of the step's execute_count: a host a retry-fail did not re-run keeps its earlier result);
    JOB has none for a step not reached, and a confirm step has none."""
    if step["type"] == STEP_CONFIRM or state["start_time"] is None:
        return []
    results = []
    for host in step["hosts"]:
        record = records.get(host["bk_host_id"])
        if record is None:  # not run yet (cannot happen for a started step, kept for safety): waiting
            record = (5, 0, 0, None, None)
        host_status, exit_code, error_code, start, end = record
        results.append({"bk_host_id": host["bk_host_id"], "ip": host["ip"], "bk_cloud_id": host["bk_cloud_id"],
                        "status": host_status, "tag": "", "exit_code": exit_code, "error_code": error_code,
                        "start_time": start, "end_time": end,
                        "total_time": end - start if end is not None and start is not None else None})
    return results


def terminate_instance(instance, status, at_ms):
    """Record a terminate (status 11: 10 first, for terminate_seconds; 8: straight there); caller holds the lock.

    TaskExecuteServiceImpl.terminateJob: only a running (2) or waiting (7) job may be terminated, anything else
    (not started 1, terminating 10, finished) is FailedPreconditionException UNSUPPORTED_OPERATION 1241003.  A job
    resumed by a step operation may be terminated again.
    """
    progress = compute_progress(instance, at_ms, with_hosts=False)
    if progress["status"] not in (2, 7):
        raise JobError(1241003, "不支持的操作")
    record = {"at": at_ms, "status": status, "stopping_ms": _ms(instance["behaviour"].get("terminate_seconds", 0.3))}
    instance["terminates"] = list(instance.get("terminates") or []) + [record]  # replaced whole, never half-written
    instance["terminate"] = record


def add_step_event(instance, index, action, at_ms):
    """Record a step operation on step index (see _StepReplay); caller holds the lock and checked the status."""
    events = {key: list(value) for key, value in (instance.get("step_events") or {}).items()}
    events.setdefault(index, []).append({"action": action, "at": at_ms})
    instance["step_events"] = events  # replaced whole: readers never see it half-written


def confirm_instance(instance, action, at_ms):
    """Answer the confirm step the job waits on: "continue" or "terminate"; caller holds the lock."""
    progress = compute_progress(instance, at_ms, with_hosts=False)
    index = progress["active"]
    if progress["status"] != 7 or index is None or instance["steps"][index]["type"] != STEP_CONFIRM:
        raise JobError(1241003, f"job instance {instance['job_instance_id']} is not waiting for a confirmation "
                                f"(status {progress['status']})")
    add_step_event(instance, index, action, at_ms)


# ---------------------------------------------------------------------------
# Shared state
# ---------------------------------------------------------------------------


def now_ms():
    return int(time.time() * 1000)


class EmulatorState:
    """Recorded requests, pending faults, job instances and callbacks; all access under one lock."""

    FIRST_INSTANCE_ID = 20000001
    FIRST_STEP_INSTANCE_ID = 30000001
    TICK_SECONDS = 0.05

    def __init__(self, config):
        self.config = config
        self.lock = threading.RLock()
        self.requests = []
        self.faults = []
        self.instances = {}
        self.callbacks = []
        self.next_launch = None
        self._seq = 0
        self._callback_seq = 0
        self._callbacks_due = set()  # ids of instances with a callback_url whose callback is not sent yet
        self._generation = 0  # bumped by reset(): callbacks still in flight from before are not recorded
        self._next_instance_id = self.FIRST_INSTANCE_ID
        self._next_step_instance_id = self.FIRST_STEP_INSTANCE_ID
        self._ticker = None
        self._ticker_stop = threading.Event()
        # Largest page a list API answers (None: as JOB; get_job_plan_list caps at MAX_PAGE_LENGTH); lower it
        # (admin /_emulator/settings) to test paging with few items.
        self.page_limit = None

    def reset(self):
        with self.lock:
            self.requests.clear()
            self.faults.clear()
            self.instances.clear()
            self.callbacks.clear()
            self._callbacks_due.clear()
            self._generation += 1
            self.next_launch = None
            self._seq = 0
            self._callback_seq = 0
            self._next_instance_id = self.FIRST_INSTANCE_ID
            self._next_step_instance_id = self.FIRST_STEP_INSTANCE_ID
            PLANS.clear()
            PLANS.update(_build_plans())
            self.page_limit = None

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

    def take_fault(self, api, surface, phase, params=None):
        """Consume the first pending fault matching api/surface (and the request fields of its "match", compared as
        text); phase "pre" or "post" (after_create_*)."""
        with self.lock:
            for fault in self.faults:
                if fault["api"] not in ("*", api):
                    continue
                if fault.get("surface") not in (None, surface):
                    continue
                if any(str((params or {}).get(key)) != str(value) for key, value in (fault.get("match") or {}).items()):
                    continue
                if (phase == "post") != fault["kind"].startswith("after_create_"):
                    continue
                if fault["count"] > 0:
                    fault["count"] -= 1
                    if fault["count"] == 0:
                        self.faults.remove(fault)
                return dict(fault)
        return None

    def launch_behaviour(self, plan=None):
        """Defaults < config default_behaviour < the plan's seeded behaviour < next_launch (not consumed here)."""
        with self.lock:
            behaviour = dict(DEFAULT_BEHAVIOUR)
            behaviour.update(self.config.get("default_behaviour") or {})
            behaviour.update((plan or {}).get("behaviour") or {})
            behaviour.update(self.next_launch or {})
            return behaviour

    def create_instance(self, instance):
        """Store a launched instance (ids assigned) and use up next_launch."""
        with self.lock:
            self.next_launch = None
            instance["job_instance_id"] = self._next_instance_id
            self._next_instance_id += 1
            for step in instance["steps"]:
                step["step_instance_id"] = self._next_step_instance_id
                self._next_step_instance_id += 1
            self.instances[instance["job_instance_id"]] = instance
            if instance.get("callback_url"):
                self._callbacks_due.add(instance["job_instance_id"])
            return instance

    # -- callbacks -----------------------------------------------------------------------------------------

    def callback_again(self, job_instance_id):
        """A resumed job calls back again when it finishes anew."""
        with self.lock:
            self._callbacks_due.add(job_instance_id)

    def record_callback(self, generation, entry):
        with self.lock:
            if generation != self._generation:
                return
            self._callback_seq += 1
            self.callbacks.append(dict(entry, seq=self._callback_seq, time=time.time()))

    def list_callbacks(self):
        with self.lock:
            return copy.deepcopy(self.callbacks)

    def tick(self, at_ms=None):
        """Start the callback of every instance that has reached a finished status (once per instance)."""
        at_ms = now_ms() if at_ms is None else at_ms
        due = []
        with self.lock:
            for job_instance_id in sorted(self._callbacks_due):
                instance = self.instances.get(job_instance_id)
                progress = compute_progress(instance, at_ms, with_hosts=False) if instance else None
                if progress is None or progress["status"] in FINISHED_STATUSES:
                    self._callbacks_due.discard(job_instance_id)
                if progress is not None and progress["status"] in FINISHED_STATUSES:
                    due.append((job_instance_id, instance["callback_url"], callback_body(instance, progress)))
            generation = self._generation
        for job_instance_id, url, body in due:
            threading.Thread(target=deliver_callback, args=(self, generation, job_instance_id, url, body),
                             name=f"bkjob-callback-{job_instance_id}", daemon=True).start()

    def start_ticker(self):
        """A background thread that calls tick() every TICK_SECONDS until stop_ticker()."""
        if self._ticker is not None:
            return
        self._ticker_stop.clear()

        def run():
            while not self._ticker_stop.wait(self.TICK_SECONDS):
                try:
                    self.tick()
                except Exception:  # pylint: disable=broad-exception-caught
                    traceback.print_exc(file=sys.stderr)

        self._ticker = threading.Thread(target=run, name="bkjob-emulator-ticker", daemon=True)
        self._ticker.start()

    def stop_ticker(self):
        self._ticker_stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
            self._ticker = None


# ---------------------------------------------------------------------------
# Callbacks (JOB's CallbackListener); only loopback addresses are ever contacted
# ---------------------------------------------------------------------------

CALLBACK_TIMEOUT = 15.0  # seconds per attempt: JOB's HttpConPoolUtil (connect, socket and pool timeouts 15000 ms)
CALLBACK_CONTENT_TYPES = ("application/json", "application/x-www-form-urlencoded")


def callback_body(instance, progress):
    """JobCallbackDTO as JOB serialises it: compact JSON, list key step_instances (not the docs' step_instance_list)."""
    body = {"job_instance_id": instance["job_instance_id"], "status": progress["status"],
            "step_instances": [{"step_instance_id": step["step_instance_id"], "status": state["status"]}
                               for step, state in zip(instance["steps"], progress["steps"])]}
    return json.dumps(body, separators=(",", ":"))


def is_loopback_host(hostname):
    """localhost, 127.0.0.0/8 or ::1; a name is never resolved."""
    if not hostname:
        return False
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _post_callback(url, body, content_type):
    """POST body to a loopback url; (HTTP status, None) or (None, error text)."""
    parts = urlsplit(url)
    if not is_loopback_host(parts.hostname):
        return None, "refused: not a loopback address"
    address = "127.0.0.1" if parts.hostname.lower() == "localhost" else parts.hostname
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Host": parts.netloc.rpartition("@")[2], "Content-Type": content_type, "Connection": "Keep-Alive",
               "User-Agent": "Apache-HttpClient/4.5.14 (Java/1.8.0)"}
    connection = None
    try:
        if parts.scheme == "https":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            connection = http.client.HTTPSConnection(address, parts.port or 443, timeout=CALLBACK_TIMEOUT, context=context)
        else:
            connection = http.client.HTTPConnection(address, parts.port or 80, timeout=CALLBACK_TIMEOUT)
        connection.request("POST", path, body=body.encode("utf-8"), headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, None
    except (OSError, ValueError, http.client.HTTPException) as err:
        return None, f"{type(err).__name__}: {err}"
    finally:
        if connection is not None:
            connection.close()


def deliver_callback(state, generation, job_instance_id, url, body):
    """JOB's CallbackListener: POST the JSON as application/json; when the answer is not HTTP 200, POST the same
    string once more as application/x-www-form-urlencoded.  A connection failure ends it (JOB catches the exception
    and does not retry).  Every attempt is recorded; a non-loopback url is only recorded, never contacted."""
    record = {"job_instance_id": job_instance_id, "url": url, "body": body}
    if not is_loopback_host(urlsplit(url).hostname):
        state.record_callback(generation, dict(record, attempt=0, content_type=None, status=None, error=None,
                                               skipped="non-loopback"))
        return
    for attempt, content_type in enumerate(CALLBACK_CONTENT_TYPES, start=1):
        status, error = _post_callback(url, body, content_type)
        state.record_callback(generation, dict(record, attempt=attempt, content_type=content_type, status=status, error=error))
        if status == 200 or error is not None:
            return


# ---------------------------------------------------------------------------
# JOB API layer (what both ESB and the gateway forward to)
# ---------------------------------------------------------------------------

IPV4_PATTERN = re.compile(r"((?!\d\d\d)\d+|1\d\d|2[0-4]\d|25[0-5])(\.((?!\d\d\d)\d+|1\d\d|2[0-4]\d|25[0-5])){3}")
BIZ_SET_ID_MIN, BIZ_SET_ID_MAX = 8000000, 9999999
SCOPE_TYPES = ("biz", "biz_set", "tenant_set")  # ResourceScopeTypeEnum (tenant_set: 3.12, multi-tenant)
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
    """One call of a JOB API: parameters, how JOB received them, the authenticated user, the resolved scope.

    http_method is what JOB itself sees: ESB always POSTs a JSON body to JOB (JobComponent.handle), the gateway
    passes the resource's method on.  A POST body is a request object (Jackson, then bean validation); a GET is
    @RequestParam values (a wrong type or a missing required one is BAD_REQUEST 1240003).
    """

    def __init__(self, state, api, params, user, app_code, http_method="POST"):
        self.state = state
        self.api = api
        self.params = params
        self.user = user
        self.app_code = app_code
        self.http_method = http_method
        self.scope_type = None
        self.scope_id = None

    @property
    def is_get(self):
        return self.http_method == "GET"

    def long(self, name, default=None):
        """An integer parameter; None (or default) when absent; a wrong type is BAD_REQUEST (Jackson/TypeMismatch)."""
        value = self.params.get(name)
        if _is_missing(value):
            return default
        number = _as_long(value)
        if number is None:
            raise bad_request()
        return number

    def boolean(self, name, default):
        value = self.params.get(name)
        if _is_missing(value):
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad_request()

    def text(self, name):
        value = self.params.get(name)
        return None if _is_missing(value) else str(value)

    def resolve_scope(self):
        """EsbAppScopeReq: its bean validation (ValidBkScope, EsbAppScopeReqGroupSequenceProvider), then
        fillAppResourceScope: bk_scope_type+bk_scope_id win; else bk_biz_id when bkBizIdCompatible is on, read as a
        business set in [8000000, 9999999]."""
        scope_type = self.params.get("bk_scope_type")
        scope_id = self.params.get("bk_scope_id")
        compatible = self.state.config.get("bk_biz_id_compatible", True)
        use_biz_id = compatible and _is_missing(scope_type) and _is_missing(scope_id) and not _is_missing(self.params.get("bk_biz_id"))
        if use_biz_id:
            biz_id = self.long("bk_biz_id")
            if biz_id < 1:
                raise field_error("非法的业务 ID")
            scope_type = "biz_set" if BIZ_SET_ID_MIN <= biz_id <= BIZ_SET_ID_MAX else "biz"
            scope_id = str(biz_id)
        else:
            if scope_type not in SCOPE_TYPES:
                raise field_error("非法的资源范围类型")
            if _is_missing(scope_id) or not str(scope_id).strip():
                raise field_error("非法的资源范围 ID")
            scope_id = str(scope_id)
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
        """EsbAppScopeDTO: bk_scope_type, bk_scope_id, and bk_biz_id (a number) when bkBizIdCompatible is on."""
        scope_type, scope_id = scope or (self.scope_type, self.scope_id)
        fields = {"bk_scope_type": scope_type, "bk_scope_id": scope_id}
        if self.state.config.get("bk_biz_id_compatible", True):
            fields["bk_biz_id"] = _as_long(scope_id)
        return fields

    def page(self):
        start = self.long("start", default=0)
        length = self.long("length", default=DEFAULT_PAGE_LENGTH)
        start = max(start, 0)
        if length <= 0:
            length = DEFAULT_PAGE_LENGTH
        return start, min(length, self.state.page_limit or MAX_PAGE_LENGTH)

    def instance_id(self):
        """job_instance_id as get_job_instance_status / get_job_instance_global_var_value check it: 1241007 when
        missing or < 1 (a GET without it never reaches the check: 1240003)."""
        job_instance_id = self.long("job_instance_id")
        if job_instance_id is None or job_instance_id < 1:
            raise missing_or_illegal("job_instance_id")
        return job_instance_id

    def instance(self, job_instance_id=None):
        """The job instance (TaskInstanceService.getTaskInstance): 1244006 when unknown or in another scope."""
        if job_instance_id is None:
            job_instance_id = self.instance_id()
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
        # TaskExecuteServiceImpl.standardizeDynamicGroupId: a legacy "bizId:groupId" id keeps the group id
        parts = str(group.get("id")).split(":")
        for host_id in DYNAMIC_GROUPS.get(parts[1] if len(parts) == 2 else parts[0], []):
            hosts[host_id] = _host_entry(host_id, HOSTS[host_id])
    for node in server.get("topo_node_list") or []:
        for host_id in TOPO_NODES.get((str(node.get("node_type")), _as_long(node.get("id"))), []):
            hosts[host_id] = _host_entry(host_id, HOSTS[host_id])
    return list(hosts.values())


def _server_has_hosts(server):
    # EsbServerV3DTO.checkHostParamsNonEmpty
    return isinstance(server, dict) and any(server.get(key) for key in
                                            ("host_id_list", "ip_list", "dynamic_group_list", "topo_node_list"))


def _is_list_of_dicts(value):
    return value is None or (isinstance(value, list) and all(isinstance(item, dict) for item in value))


def _validate_global_var_list(raw_vars):
    """Bean validation of EsbExecuteJobV3Request.global_var_list (@Valid EsbGlobalVarV3DTO and its EsbServerV3DTO).

    EsbGlobalVarV3DTO.id @Min(1) (an id of 0 or less is refused whatever the name says); EsbIpDTO bk_cloud_id
    @NotNull @Min(0), ip @NotBlank + @Pattern IPv4 (the whole string: trimIps() only runs after validation, so a
    padded IP is refused); EsbDynamicGroupDTO.id @NotNull; EsbCmdbTopoNodeDTO id and node_type @NotNull.
    A value of the wrong JSON shape cannot be read: 1240003 错误的请求.  Returns the list ([] for none).
    """
    if raw_vars is None:
        return []
    if not _is_list_of_dicts(raw_vars):
        raise bad_request()
    for var in raw_vars:
        if "id" in var and not _is_missing(var["id"]):
            var_id = _as_long(var["id"])
            if var_id is None:
                raise bad_request()
            if var_id < 1:
                raise field_error("非法的全局变量 ID")
        server = var.get("server")
        if server is None:
            continue
        if not isinstance(server, dict) or not all(_is_list_of_dicts(server.get(key)) for key in
                                                   ("ip_list", "dynamic_group_list", "topo_node_list")):
            raise bad_request()
        if server.get("host_id_list") is not None and (not isinstance(server["host_id_list"], list) or any(
                _as_long(item) is None for item in server["host_id_list"])):
            raise bad_request()
        for item in server.get("ip_list") or []:
            cloud_id = _as_long(item.get("bk_cloud_id"))
            if cloud_id is None or cloud_id < 0:
                raise field_error("管控区域 ID 非法")
            if not isinstance(item.get("ip"), str) or not IPV4_PATTERN.fullmatch(item["ip"]):
                raise field_error("IP 非法")
        for group in server.get("dynamic_group_list") or []:
            if group.get("id") is None:
                raise field_error("动态分组 ID 不可为空")
        for node in server.get("topo_node_list") or []:
            if node.get("id") is None:
                raise field_error("拓扑节点 ID 不可为空")
            if node.get("node_type") is None:
                raise field_error("拓扑节点类型不可为空")
    return raw_vars


CALLBACK_URL_MESSAGE = "回调地址不合法或不在允许列表中，请联系平台管理员添加"  # ValidCallbackUrl.message


def _java_uri(url):
    """(scheme, userinfo, host, port, path) as java.net.URI reads a URL; None where URI would throw."""
    if not isinstance(url, str) or re.search(r"[\s\"<>\\^`{|}]", url):
        return None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else None
    return parts.scheme, userinfo, parts.hostname, port, parts.path


def _effective_port(scheme, port):
    return port if port is not None else {"http": 80, "https": 443}.get((scheme or "").lower(), -1)


def _matches_base_url(uri, base_url):
    """CallbackUrlValidateServiceImpl.matchBaseUrl: same scheme, host and port; the path on a / boundary."""
    base = _java_uri(base_url.strip()) if isinstance(base_url, str) and base_url.strip() else None
    if base is None or base[1] is not None:
        return False
    if (uri[0] or "").lower() != (base[0] or "").lower() or (uri[2] or "").lower() != (base[2] or "").lower():
        return False
    if _effective_port(uri[0], uri[3]) != _effective_port(base[0], base[3]):
        return False
    base_path, path = base[4] or "", uri[4] or ""
    if base_path in ("", "/") or path == base_path:
        return True
    return path.startswith(base_path if base_path.endswith("/") else base_path + "/")


def valid_callback_url(url, config):
    """CallbackUrlValidateServiceImpl.isValid: an http(s) URL with a host and without user info; with
    job.execute.check-callback-url.enabled also under an allowed base URL or on the bk_domain (or a subdomain)."""
    uri = _java_uri(url)
    if uri is None or (uri[0] or "").lower() not in ("http", "https") or not uri[2] or uri[1] is not None:
        return False
    check = config.get("check_callback_url") or {}
    if not check.get("enabled"):
        return True
    if any(_matches_base_url(uri, base) for base in check.get("allowed_base_urls") or []):
        return True
    domain = (check.get("bk_domain") or "").strip().lower()
    return bool(domain) and (uri[2].lower() == domain or uri[2].lower().endswith("." + domain))


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
        if not var.get("hosts") and (var.get("server") or {}).get("containers"):
            return []  # container execute objects: no host
        if not var.get("hosts"):
            raise JobError(1244009, f"作业引用的主机列表变量[{target['variable']}]的主机为空")
        return [dict(host) for host in var["hosts"]]
    hosts = [_host_entry(host_id, HOSTS[host_id]) for host_id in target.get("host_ids", [])]
    if not hosts:
        raise JobError(1244028, f"步骤 [{step['name']}] 的目标执行对象为空")
    return hosts


def generated_hosts(count):
    """behaviour host_count: ids 100001.., ips 10.1.x.y (y 1..250), cloud 0."""
    return [{"bk_host_id": 100001 + index, "bk_cloud_id": 0, "ip": f"10.1.{index // 250}.{index % 250 + 1}"}
            for index in range(count)]


def _substitute(text, variables):
    values = {var["name"]: var["value"] for var in variables if var["type"] == VAR_STRING and var["value"] is not None}
    return re.sub(r"\$\{(\w+)\}", lambda match: str(values.get(match.group(1), match.group(0))), text)


def _file_sources(step, variables, destination):
    """A file step's transfers: [{"host", "src_path", "dest_path"}], one per source host and file."""
    sources = []
    for source in step["source_files"]:
        for host_id in source["host_ids"]:
            for path in source["files"]:
                src_path = _substitute(path, variables)
                dest_path = destination + src_path.rsplit("/", 1)[-1] if destination.endswith("/") else destination
                sources.append({"host": _host_entry(host_id, HOSTS[host_id]), "src_path": src_path, "dest_path": dest_path})
    return sources


def _launch_steps(plan, variables, behaviour):
    count = behaviour.get("host_count")
    shared = generated_hosts(count) if count else None
    steps = []
    for step in plan["steps"]:
        item = {"step_id": step["id"], "name": step["name"], "type": step["type"], "hosts": [],
                "ignore_error": bool(step.get("ignore_error"))}
        if step["type"] == STEP_CONFIRM:
            item.update(approval_users=list(step["approval_users"]), approval_roles=list(step.get("approval_roles") or []))
        if step["type"] != STEP_CONFIRM:
            item["hosts"] = shared if shared is not None else _step_hosts(step, variables)
            target_var = next((var for var in variables if var["name"] == (step.get("target") or {}).get("variable")), None)
            if shared is None and not item["hosts"] and target_var is not None:
                item["containers"] = list((target_var.get("server") or {}).get("containers") or [])
        if step["type"] == STEP_SCRIPT and step.get("language") == SCRIPT_LANGUAGE_SQL:
            item["type"] = STEP_SQL
        if item["type"] in SCRIPT_STEPS and len(item["hosts"]) > MAX_SCRIPT_TARGETS:
            raise JobError(1244022, f"脚本任务目标服务器数量超过限制：{MAX_SCRIPT_TARGETS}")
        if step["type"] == STEP_FILE:
            item["sources"] = _file_sources(step, variables, _substitute(step["destination"], variables))
        steps.append(item)
    return steps


def validate_execute_job_plan(call):
    """Bean validation of EsbExecuteJobV3Request: global_var_list, then @ValidCallbackUrl callback_url."""
    _validate_global_var_list(call.params.get("global_var_list"))
    callback_url = call.params.get("callback_url")
    if callback_url is not None and not isinstance(callback_url, str):
        raise bad_request()
    if callback_url and callback_url.strip() and not valid_callback_url(callback_url, call.state.config):
        raise field_error(CALLBACK_URL_MESSAGE)


def api_execute_job_plan(call):
    """EsbExecuteJobPlanV3ResourceImpl.executeJobPlan (checkExecuteTaskRequest, trimIps) and
    TaskExecuteServiceImpl.executeJobPlan; the instance is named after the plan (buildTaskInstanceForTask)."""
    plan_id = call.long("job_plan_id")
    raw_vars = _validate_global_var_list(call.params.get("global_var_list"))
    callback_url = call.text("callback_url")
    start_task = call.boolean("start_task", True)
    if plan_id is None or plan_id <= 0:
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
    behaviour = call.state.launch_behaviour(plan)
    start_task = start_task or legacy_behaviour(behaviour, "start_task")
    if legacy_behaviour(behaviour, "host_id_list"):
        raw_vars = [dict(raw, server={key: value for key, value in raw["server"].items() if key != "host_id_list"})
                    if isinstance(raw.get("server"), dict) else raw for raw in raw_vars]
    variables = resolve_variables(plan, raw_vars, plan["scope"], strict)
    steps = _launch_steps(plan, variables, behaviour)
    created = now_ms() - _ms(behaviour.get("created_seconds_ago", 0))
    instance = call.state.create_instance({
        "job_instance_name": plan["name"],
        "plan_id": plan_id,
        "job_template_id": plan["job_template_id"],
        "scope": plan["scope"],
        "operator": call.user,
        "app_code": call.app_code,
        "launch_mode": _as_long(behaviour.get("launch_mode", 2)),
        "type": 0,
        "create_time": created,
        "start_time": created if start_task else None,
        "callback_url": callback_url,
        "start_task": start_task,
        "global_var_list_received": copy.deepcopy(call.params.get("global_var_list")),
        "variables": variables,
        "steps": steps,
        "behaviour": behaviour,
        "outcome": resolve_outcome(behaviour, steps),
        "step_events": {},  # step index -> [{"action", "at"}]: step operations and confirmations, in time order
        "terminates": [],  # [{"at", "status" (11 or 8), "stopping_ms"}]: operate_job_instance 1 / admin terminate
        "terminate": None,  # the latest of them
    })
    # EsbJobExecuteV3DTO: step_instance_id is only set by the fast_* APIs
    return {"job_instance_id": instance["job_instance_id"], "job_instance_name": instance["job_instance_name"],
            "step_instance_id": None}


def api_get_job_instance_status(call):
    """EsbGetJobInstanceStatusV3ResourceImpl: step_ip_result_list only with return_ip_result (else null), from
    the execute-object tasks of script/SQL steps and the download tasks of file steps; a container task has no
    host, and the NullPointerException it causes is INTERNAL_ERROR 1240002."""
    instance = call.instance()
    return_ip_result = call.boolean("return_ip_result", False)
    if return_ip_result and any(step.get("containers") for step in instance["steps"]):
        raise JobError(1240002, "内部服务器异常")
    progress = compute_progress(instance, now_ms(), with_hosts=return_ip_result)
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
            "execute_count": state["execute_count"],
        }
        item["step_ip_result_list"] = state["hosts"] if return_ip_result else None
        step_list.append(item)
    finished = progress["status"] in FINISHED_STATUSES or (
        progress["status"] == 7 and legacy_behaviour(instance["behaviour"], "finished_is_terminal"))
    return {"finished": finished, "job_instance": job_instance,
            "step_instance_list": step_list}


def api_operate_job_instance(call):
    """EsbOperateJobInstanceV3ResourceImpl: a missing/invalid id or a code outside TaskOperationEnum (1 terminate,
    2 start) is ILLEGAL_PARAM 1241002; then TaskExecuteServiceImpl.doTaskOperation: startJob only from BLANK (1),
    else 1241015; terminateJob only from 2/7, else 1241003."""
    job_instance_id = call.long("job_instance_id")
    operation_code = call.long("operation_code")
    if job_instance_id is None or job_instance_id <= 0 or operation_code not in (1, 2):
        raise JobError(1241002, "请求参数不合法")
    # JOB before 3.10 has no START_JOB in TaskOperationEnum: checkRequest refuses code 2 before any lookup
    if operation_code == 2 and legacy_behaviour(call.state.launch_behaviour(), "start_task"):
        raise JobError(1241002, "请求参数不合法")
    instance = call.instance()
    if operation_code == 2 and legacy_behaviour(instance["behaviour"], "start_task"):
        raise JobError(1241002, "请求参数不合法")
    with call.state.lock:
        at_ms = now_ms()
        if operation_code == 2:
            if compute_progress(instance, at_ms, with_hosts=False)["status"] != 1 or instance["start_time"] is not None:
                raise JobError(1241015, f"不支持的操作，请勿重复启动作业，job_instance_id={instance['job_instance_id']}")
            instance["start_time"] = at_ms
        else:
            terminate_instance(instance, 11, at_ms)
    # EsbJobExecuteV3DTO with only the id set (no @JsonInclude: the other fields are null)
    return {"job_instance_id": instance["job_instance_id"], "job_instance_name": None, "step_instance_id": None}


# StepOperationEnum code -> (step event, step statuses it needs), from TaskExecuteServiceImpl.doStepOperation
STEP_OPERATIONS = {
    2: ("retry_failed", (4, 9, 11)),  # RETRY_FAIL_IP: isStepRetryable (FAIL, ABNORMAL_STATE, STOP_SUCCESS)
    3: ("ignore", (4, 9)),  # IGNORE_ERROR (the engine acts on FAIL only: on 9 the answer is success, nothing happens)
    6: ("continue", (7,)),  # CONFIRM_CONTINUE: a confirm step waiting for a person (checkConfirmUser)
    8: ("retry_all", (4, 9, 11)),  # RETRY_ALL_IP
    9: ("terminate", (7,)),  # CONFIRM_TERMINATE (checkConfirmUser)
    10: ("restart", (13,)),  # CONFIRM_RESTART: a confirm step whose confirmation was terminated
    11: ("next", (11,)),  # NEXT_STEP: a step stopped by a terminate (STOP_SUCCESS)
    12: ("skip", (10,)),  # SKIP: a step still stopping (STOPPING)
    13: ("rolling", (7,)),  # ROLLING_CONTINUE: rolling steps only (the emulator has none)
}
CONFIRM_ACTIONS = ("continue", "terminate", "restart")
# JobRoleEnum.JOB_RESOURCE_TRIGGER_USER: the confirm role "whoever launched the job"
ROLE_TRIGGER_USER = "JOB_RESOURCE_TRIGGER_USER"


def check_confirm_user(instance, step, user):
    """TaskExecuteServiceImpl.checkConfirmUser: a user among the step's confirm users passes; otherwise, when the step
    has confirm roles, the job's operator passes for JOB_RESOURCE_TRIGGER_USER and anyone else needs a CMDB role the
    emulator does not model (1244016 NOT_IN_CONFIRM_USER_LIST); a step with no roles lets anyone confirm."""
    if user in step.get("approval_users", ()):
        return
    roles = step.get("approval_roles") or ()
    if roles and not (ROLE_TRIGGER_USER in roles and instance["operator"] == user):
        raise JobError(1244016, "只有步骤的确认人可以操作")


def api_operate_step_instance(call):
    """EsbOperateStepInstanceV3ResourceImpl.checkRequest + TaskExecuteServiceImpl.doStepOperation.

    Ids missing or < 1, or a code outside StepOperationEnum: ILLEGAL_PARAM 1241002.  Unknown instance 1244006,
    unknown step 1244007.  Only the step's status counts, never the job's: a step not in the status the operation
    needs (STEP_OPERATIONS), a confirm operation on another step type, or a rolling one on a non-rolling step is
    FailedPreconditionException UNSUPPORTED_OPERATION 1241003; confirm continue / terminate by someone
    check_confirm_user refuses: 1244016.  Answers EsbJobExecuteV3DTO {"job_instance_id", "job_instance_name": null,
    "step_instance_id"}.  The job then goes on as _StepReplay describes; a job that finishes again calls back again.
    """
    job_instance_id, step_instance_id = call.long("job_instance_id"), call.long("step_instance_id")
    operation_code = call.long("operation_code")
    if (job_instance_id is None or job_instance_id <= 0 or step_instance_id is None or step_instance_id <= 0
            or operation_code not in STEP_OPERATIONS):
        raise JobError(1241002, "请求参数不合法")
    instance = call.instance(job_instance_id)
    index = next((index for index, step in enumerate(instance["steps"]) if step["step_instance_id"] == step_instance_id), None)
    if index is None:
        raise JobError(1244007, "作业步骤实例不存在")
    action, needed = STEP_OPERATIONS[operation_code]
    step = instance["steps"][index]
    with call.state.lock:
        at_ms = now_ms()
        step_status = compute_progress(instance, at_ms, with_hosts=False)["steps"][index]["status"]
        is_confirm = step["type"] == STEP_CONFIRM
        if action in CONFIRM_ACTIONS and not is_confirm or action == "rolling" or step_status not in needed:
            raise JobError(1241003, "不支持的操作")
        if action in ("continue", "terminate"):
            check_confirm_user(instance, step, call.user)
        if action == "ignore" and step_status != 4 or action == "skip" and is_confirm:
            pass  # GseStepEventHandler.ignoreError only acts on FAIL, ConfirmStepEventHandler has no SKIP: no change
        else:
            add_step_event(instance, index, action, at_ms)
        if instance["callback_url"]:  # finishJob calls back each time the job finishes
            call.state.callback_again(instance["job_instance_id"])
    return {"job_instance_id": instance["job_instance_id"], "job_instance_name": None, "step_instance_id": step_instance_id}


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


def _ip_dto(host_id, cloud_id, ip):
    """EsbIpDTO.fromApplicationHostInfo: host id, cloud id and ip; its other fields are null."""
    return {"bk_host_id": host_id, "bk_cloud_id": cloud_id, "bk_cloud_name": None, "ip": ip, "ipv6": None,
            "bk_agent_id": None, "alive": None}


def _server_dto(variable=None, ips=(), groups=(), nodes=()):
    """EsbServerV3DTO as TaskTargetDTO.toEsbServerV3 fills it: a list only when not empty (else null),
    variable only when set (NON_NULL), host_id_list never (NON_EMPTY, not filled)."""
    server = {"variable": variable} if variable is not None else {}
    server.update({"ip_list": list(ips) or None, "dynamic_group_list": list(groups) or None,
                   "topo_node_list": list(nodes) or None})
    return server


def _render_server(target):
    if "variable" in target:
        return _server_dto(variable=target["variable"])
    return _server_dto(ips=[_ip_dto(host_id, HOSTS[host_id]["bk_cloud_id"], HOSTS[host_id]["ip"])
                            for host_id in target.get("host_ids", [])])


def _render_account(name="root"):
    return {"id": 1, "name": name, "alias": name}


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _render_step(step):
    item = {"id": step["id"], "type": step["type"], "name": step["name"]}
    if step["type"] == STEP_SCRIPT:
        item["script_info"] = {
            "script_type": 1, "script_content": _b64(step["content"]), "script_language": step.get("language", 1),
            "script_param": _b64(step["param"]), "script_timeout": 3600, "is_param_sensitive": 0,
            "is_ignore_error": int(bool(step.get("ignore_error"))), "account": _render_account(),
            "server": _render_server(step["target"]),
        }
    elif step["type"] == STEP_FILE:
        item["file_info"] = {
            "file_source_list": [{"file_type": 1, "file_list": source["files"], "account": _render_account(),
                                  "server": _render_server({"host_ids": source["host_ids"]})}
                                 for source in step["source_files"]],
            "file_destination": {"path": step["destination"], "account": _render_account(),
                                 "server": _render_server(step["target"])},
            "timeout": 3600, "source_speed_limit": None, "destination_speed_limit": None,
            "transfer_mode": 1, "is_ignore_error": int(bool(step.get("ignore_error"))),
        }
        item["file_info"] = {key: value for key, value in item["file_info"].items() if value is not None}
    elif step["type"] == STEP_CONFIRM:
        approval_user = {"user_list": step["approval_users"], "role_list": step.get("approval_roles") or []}
        item["approval_info"] = {"approval_type": 1, "approval_user": approval_user,
                                 "approval_message": step["message"], "notify_channel": ["mail"]}
    return item


def _render_plan_var(var):
    item = {"id": var["id"], "type": var["type"], "name": var["name"], "description": var["description"],
            "required": var["required"], "used": var["used"]}
    if var["type"] == VAR_HOST:
        # a container default has no host node list: every list is null
        server = var["server"]
        item["server"] = _server_dto(ips=[_ip_dto(ip["bk_host_id"], ip["bk_cloud_id"], ip["ip"]) for ip in server["ip_list"]],
                                     groups=[{"id": group["id"]} for group in server["dynamic_group_list"]],
                                     nodes=[dict(node) for node in server["topo_node_list"]])
        item["value"] = None
    else:
        item["value"] = CIPHER_MASK if var["type"] == VAR_CIPHER else var["value"]
        item["server"] = None
    return item


def api_get_job_plan_detail(call):
    """EsbPlanV3ResourceImpl.getPlanDetailUsingPost: EsbGetPlanDetailV3Request.validate (1241007 when job_plan_id is
    missing or < 1), then TaskPlanServiceImpl.getTaskPlan (1243009)."""
    plan_id = call.long("job_plan_id")
    if plan_id is None or plan_id <= 0:
        raise missing_or_illegal("job_plan_id")
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


class StepView:
    """One step of an instance at one moment, for the log APIs."""

    def __init__(self, instance, step_instance_id, at_ms):
        self.instance = instance
        self.at_ms = at_ms
        index, self.step = _find_step(instance, step_instance_id)
        self.state = compute_progress(instance, at_ms, with_hosts=False)["steps"][index]
        self.targets = {host["bk_host_id"]: host for host in self.step["hosts"]}
        self.sources = {}
        for source in self.step.get("sources", []):
            self.sources.setdefault(source["host"]["bk_host_id"], source["host"])

    def find(self, host_ids=None, ip_list=None):
        """Requested hosts of this step (targets, and sources of a file step), in request order, once each."""
        known = dict(self.sources)
        known.update(self.targets)
        if host_ids:
            keys = [_as_long(host_id) for host_id in host_ids]
        else:
            by_ip = {(host["bk_cloud_id"], host["ip"]): host_id for host_id, host in known.items()}
            keys = [by_ip.get((_as_long(item.get("bk_cloud_id")), str(item.get("ip")).strip()))
                    for item in ip_list or [] if isinstance(item, dict)]
        return [known[key] for key in dict.fromkeys(keys) if key in known]

    def _stamp(self):
        """The start of the step's latest run (a retry's, after one)."""
        return datetime.datetime.fromtimestamp(self.state["run_start"] / 1000).strftime("%Y-%m-%d %H:%M:%S")

    def _done_fraction(self):
        """1 when the step's latest run ended on its own; else how far its clock got (a running or terminated step)."""
        if self.state["status"] in FINISHED_STATUSES and self.state["status"] not in (8, 11):
            return 1.0
        step_ms = _ms(self.instance["behaviour"].get("step_seconds", 0.2))
        until = self.state["run_end"] if self.state["run_end"] is not None else self.at_ms
        return max(0.0, min(1.0, (until - self.state["run_start"]) / step_ms)) if step_ms else 1.0

    def script_log(self, host):
        """log_bytes of whole lines "[time][PID:n] host IP step NAME line N"; a failed host ends with ERROR: exit code 1."""
        if self.state["start_time"] is None or host["bk_host_id"] not in self.targets:
            return ""
        failed = host["bk_host_id"] in self.state["failed"]
        tail = "ERROR: exit code 1\n" if failed else ""
        budget = int(self.instance["behaviour"].get("log_bytes", 200)) - len(tail)
        prefix = f"[{self._stamp()}][PID:{1000 + host['bk_host_id'] % 30000}] host {host['ip']} step {self.step['name']} line "
        prefix_bytes = len(prefix.encode("utf-8")) + 1
        lines, size = [], 0
        while not lines or size + prefix_bytes + len(str(len(lines) + 1)) <= budget:
            lines.append(f"{prefix}{len(lines) + 1}\n")
            size += prefix_bytes + len(str(len(lines)))
        fraction = self._done_fraction()
        if fraction < 1.0:
            return "".join(lines[:max(1, int(len(lines) * fraction))])
        return "".join(lines) + tail

    def _upload_entry(self, source, stamp):
        src_ip = _host_entry(source["host"]["bk_host_id"], source["host"])
        status = 4 if self.state["end_time"] is not None or self._done_fraction() >= 1.0 else 2
        return {"mode": 0, "src_ip": src_ip, "src_path": source["src_path"], "dest_ip": None, "dest_path": None,
                "status": status,
                "log_content": f"[{stamp}] upload {source['src_path']} from {src_ip['ip']}: {'done' if status == 4 else 'uploading'}\n",
                "size": "1.00 MB", "speed": "0 KB/s" if status == 4 else "10.00 MB/s", "process": "100%" if status == 4 else "50%"}

    def upload_logs(self):
        """Upload entries (mode 0) of every source host of the step; [] before the step starts."""
        if self.state["start_time"] is None:
            return []
        stamp = self._stamp()
        return [self._upload_entry(source, stamp) for source in self.step.get("sources", [])]

    def file_logs(self, host, uploads=True):
        """file_logs of a host: downloads (mode 1) when it is a target, uploads (mode 0) when it is a source."""
        if self.state["start_time"] is None:
            return []
        host_id = host["bk_host_id"]
        stamp = self._stamp()
        logs = []
        for source in self.step.get("sources", []):
            src_ip = _host_entry(source["host"]["bk_host_id"], source["host"])
            if uploads and source["host"]["bk_host_id"] == host_id:
                logs.append(self._upload_entry(source, stamp))
            if host_id in self.targets:
                codes = host_codes(self.step, self.state, host_id in self.state["failed"])
                status = {9: 4, 7: 3, 5: 1}.get(codes[0], 5)
                text = {4: "done", 3: "downloading", 1: "waiting"}.get(status, "ERROR: file transfer failed")
                logs.append({"mode": 1, "src_ip": src_ip, "src_path": source["src_path"], "dest_ip": _host_entry(host_id, host),
                             "dest_path": source["dest_path"], "status": status,
                             "log_content": f"[{stamp}] download {source['src_path']} from {src_ip['ip']} to {host['ip']}:{source['dest_path']}\n{text}\n",
                             "size": "1.00 MB", "speed": "10.00 MB/s" if status == 3 else "0 KB/s", "process": "100%" if status == 4 else "0%"})
        return logs


def _log_request_ids(call):
    """EsbGetJobInstanceIpLogV3Request / EsbBatchGetJobInstanceIpLogV3Request bean validation: job_instance_id and
    step_instance_id @NotNull @Min(1); returns (job instance, step instance id)."""
    job_instance_id, step_instance_id = call.long("job_instance_id"), call.long("step_instance_id")
    if not call.is_get:
        if job_instance_id is None or job_instance_id < 1:
            raise field_error("任务实例ID必须为正整数")
        if step_instance_id is None or step_instance_id < 1:
            raise field_error("步骤实例ID必须为正整数")
    return job_instance_id, step_instance_id


def _log_step(call, job_instance_id, step_instance_id):
    """The step for a log call: instance access check, then StepInstanceService.getBaseStepInstance; an unknown
    step is NotFoundException(TASK_INSTANCE_NOT_EXIST) 1244006."""
    instance = call.instance(job_instance_id)
    if not any(step["step_instance_id"] == step_instance_id for step in instance["steps"]):
        raise JobError(1244006, "作业实例不存在")
    return instance, StepView(instance, step_instance_id, now_ms())


def api_get_job_instance_ip_log(call):
    """EsbGetJobInstanceIpLogV3ResourceImpl: bk_host_id, or bk_cloud_id + ip (1241007 without either).

    The answer always echoes the request's host fields; log_content (script/SQL steps) is null when the host has no
    log (not in the step, or the step has not reached it), and bk_host_id is then not filled in.  A file step
    answers the host's download entries followed by the upload entries of every source host of the step
    (LogService.batchGetFileSourceExecuteObjectLogContent is not filtered by host).
    """
    job_instance_id, step_instance_id = _log_request_ids(call)
    host_id, cloud_id, ip = call.long("bk_host_id"), call.long("bk_cloud_id"), call.text("ip")
    if host_id is None and (cloud_id is None or ip is None):
        raise missing_or_illegal("host_id/(bk_cloud_id+ip)")
    _instance, view = _log_step(call, job_instance_id, step_instance_id)
    found = view.find(host_ids=[host_id]) if host_id is not None else view.find(ip_list=[{"bk_cloud_id": cloud_id, "ip": ip}])
    data = {"log_type": None, "bk_host_id": host_id, "bk_cloud_id": cloud_id, "ip": ip, "log_content": None, "file_logs": None}
    if view.step["type"] == STEP_FILE:
        data["log_type"] = 2
        target = found[0] if found and found[0]["bk_host_id"] in view.targets else None
        logs = (view.file_logs(target, uploads=False) if target else []) + view.upload_logs()
        data["file_logs"] = logs
        if host_id is None:
            for log in logs:
                for end in (log.get("src_ip"), log.get("dest_ip")):
                    if end and end["ip"] == ip and end["bk_cloud_id"] == cloud_id:
                        data["bk_host_id"] = end["bk_host_id"]
                        break
                if data["bk_host_id"] is not None:
                    break
    elif view.step["type"] in SCRIPT_STEPS:
        data["log_type"] = 1
        content = view.script_log(found[0]) if found else ""
        if content.strip():
            data["log_content"] = content
            if host_id is None:
                data["bk_host_id"] = found[0]["bk_host_id"]
    return data


def validate_batch_log(call):
    _log_request_ids(call)


def api_batch_get_job_instance_ip_log(call):
    """EsbBatchGetJobInstanceIpLogV3ResourceImpl: host_id_list or ip_list (host_id_list wins), at most 500
    (1241007 otherwise, checked before the instance is looked up).  Hosts that have no log are left out; with none
    left the list is null.  script_task_logs and file_task_logs are both present, the other one null."""
    job_instance_id, step_instance_id = _log_request_ids(call)
    host_ids, ip_list = call.params.get("host_id_list"), call.params.get("ip_list")
    lists = [value for value in (host_ids, ip_list) if value not in (None, [])]
    if not lists or any(not isinstance(value, list) or len(value) > LOG_BATCH_LIMIT for value in lists):
        raise missing_or_illegal("host_id_list/ip_list")
    instance, view = _log_step(call, job_instance_id, step_instance_id)
    hosts = view.find(host_ids=host_ids) if host_ids else view.find(ip_list=ip_list)
    data = {"job_instance_id": instance["job_instance_id"], "step_instance_id": step_instance_id, "log_type": None,
            "script_task_logs": None, "file_task_logs": None}
    if view.step["type"] == STEP_FILE:
        data["log_type"] = 2
        logs = [(host, view.file_logs(host)) for host in hosts]
        data["file_task_logs"] = [{"bk_host_id": host["bk_host_id"], "bk_cloud_id": host["bk_cloud_id"], "ip": host["ip"],
                                   "file_logs": file_logs} for host, file_logs in logs if file_logs] or None
    elif view.step["type"] in SCRIPT_STEPS:
        data["log_type"] = 1
        logs = [(host, view.script_log(host)) for host in hosts]
        data["script_task_logs"] = [{"host_id": host["bk_host_id"], "bk_host_id": host["bk_host_id"], "bk_cloud_id": host["bk_cloud_id"],
                                     "ip": host["ip"], "ipv6": None, "log_content": content}
                                    for host, content in logs if content] or None
    return data


def api_get_job_instance_global_var_value(call):
    """computeOutputVariableValuesForAllStep: script steps only, each with the values so far; string variables only.

    behaviour output_vars {name: value} are what the first script step sets: once that step has ended, every
    script step reports them for those of the plan's string variables.
    """
    instance = call.instance()
    if not instance["variables"]:
        return {"job_instance_id": instance["job_instance_id"], "step_instance_var_list": []}
    progress = compute_progress(instance, now_ms(), with_hosts=False)
    scripts = [(step, state) for step, state in zip(instance["steps"], progress["steps"]) if step["type"] == STEP_SCRIPT]
    output = (instance["behaviour"].get("output_vars") or {}) if scripts and scripts[0][1]["end_time"] is not None else {}
    values = [{"name": var["name"], "value": output.get(var["name"], var["value"]), "type": VAR_STRING}
              for var in instance["variables"] if var["type"] == VAR_STRING]
    return {"job_instance_id": instance["job_instance_id"],
            "step_instance_var_list": [{"step_instance_id": step["step_instance_id"], "global_var_list": copy.deepcopy(values)}
                                       for step, _state in scripts]}


def _instance_list_window(call):
    """EsbGetJobInstanceListV3ResourceImpl.checkRequest: both times (ms) required, end after start, span <= 30 days
    (Consts.MAX_SEARCH_TASK_HISTORY_RANGE_MILLS), a known type, and start <= maxStart when the start limit is on."""
    bounds = []
    for name in ("create_time_start", "create_time_end"):
        number = call.long(name)
        if number is None or number < 1:
            raise JobError(1241007, f"请求参数[{name}]缺失或不合法")
        bounds.append(number)
    if bounds[1] - bounds[0] <= 0:
        raise JobError(1241007, "请求参数[create_time_start|create_time_end]缺失或不合法")
    if bounds[1] - bounds[0] > THIRTY_DAYS_MS:
        # ErrorCode.ILLEGAL_PARAM: the v3 code does not use 1244020 (that is the web UI's TaskInstanceQueryValidator)
        raise JobError(1241002, "请求参数不合法")
    task_type = call.long("type")
    if task_type is not None and task_type not in (0, 1, 2):  # TaskTypeEnum.valueOf gives null
        raise JobError(1241002, "请求参数不合法")
    max_start = call.state.config.get("job_instance_list_max_start")
    start = call.long("start", default=0)
    if max_start is not None and start is not None and start > max_start:
        raise JobError(1241010, f"请求参数[start]不合法，原因：The value of start cannot exceed {max_start}")
    return bounds


def validate_instance_list(call):
    """EsbGetJobInstanceListV3Request.length @Range(1, 1000) (bean validation of the POST body only: the GET
    endpoint builds the request itself and skips it)."""
    length = call.long("length")
    if not call.is_get and length is not None and not 1 <= length <= MAX_PAGE_LENGTH:
        raise field_error(f"单次返回最大记录数量length必须在 1-{MAX_PAGE_LENGTH} 之间")


def _sql_like(pattern, text):
    """MySQL `name LIKE '%pattern%'` (TaskInstanceDAOImpl.buildSearchCondition does not escape the pattern: % and _
    are wildcards) under a case-insensitive collation (utf8mb4_general_ci)."""
    regex = "".join(".*" if char == "%" else "." if char == "_" else re.escape(char) for char in pattern)
    return re.search(regex, text, re.IGNORECASE | re.DOTALL) is not None


def _instance_hosts(instance):
    """IPs of task_instance_host: the hosts the instance's steps target or take files from."""
    ips = {host["ip"] for step in instance["steps"] for host in step["hosts"]}
    ips.update(source["host"]["ip"] for step in instance["steps"] for source in step.get("sources", []))
    return ips


def api_get_job_instance_list(call):
    """EsbGetJobInstanceListV3ResourceImpl + TaskInstanceDAOImpl.listPageTaskInstance / buildSearchCondition.

    job_instance_id > 0 matches that instance of the scope and ignores every other condition, the time window too.
    Otherwise: create_time within [create_time_start, create_time_end] (both inclusive); operator exact and name
    LIKE '%name%' when not blank; status (an unknown one: RunStatusEnum.valueOf throws, 1240002), launch_mode (an
    unknown one: TaskStartupModeEnum.getStartupMode throws, 1240002), type, job_cron_id > 0, ip (a host of the
    instance).  No job_plan_id filter exists.  Newest first; start < 0 counts as 0, length <= 0 as 10
    (BaseSearchCondition defaults; absent: the request's 0 and 20); a GET length is not capped.  Answers
    EsbPageDataV3 {"start", "length", "total", "data"}: data is null when the page is empty.  total_time of a running,
    waiting or stopping job is the time since its start (TaskResultServiceImpl.computeTotalTime).
    """
    time_start, time_end = _instance_list_window(call)
    job_instance_id = call.long("job_instance_id")
    operator, name, ip = (call.text(key) for key in ("operator", "name", "ip"))
    launch_mode, task_type, status = call.long("launch_mode"), call.long("type"), call.long("status")
    cron_id = call.long("job_cron_id")
    if status is not None and status not in RUN_STATUSES + (12,):
        raise JobError(1240002, "内部服务器异常")  # IllegalArgumentException: Invalid run status
    if launch_mode is not None and launch_mode not in (1, 2, 3):
        raise JobError(1240002, "内部服务器异常")  # RuntimeException: Unknown TaskStartupMode value
    start = call.long("start", default=0)
    length = call.long("length", default=DEFAULT_PAGE_LENGTH)
    start = 0 if start is None or start < 0 else start
    length = 10 if length is None or length <= 0 else length
    length_used = min(length, call.state.page_limit) if call.state.page_limit else length
    now = now_ms()
    with call.state.lock:
        instances = sorted(call.state.instances.values(), key=lambda inst: inst["create_time"], reverse=True)
    matched = []
    for instance in instances:
        if not call.in_scope(instance["scope"]):
            continue
        if job_instance_id is not None and job_instance_id > 0:
            if instance["job_instance_id"] != job_instance_id:
                continue
        else:
            if not time_start <= instance["create_time"] <= time_end:
                continue
            if operator is not None and operator.strip() and instance["operator"] != operator:
                continue
            if name is not None and name.strip() and not _sql_like(name, instance["job_instance_name"]):
                continue
            if launch_mode is not None and instance["launch_mode"] != launch_mode:
                continue
            if task_type is not None and instance["type"] != task_type:
                continue
            if cron_id is not None and cron_id > 0 and instance.get("cron_id") != cron_id:
                continue
            if ip and ip not in _instance_hosts(instance):
                continue
        progress = compute_progress(instance, now, with_hosts=False)
        if job_instance_id is None or job_instance_id <= 0:
            if status is not None and progress["status"] != status:
                continue
        total_time = progress["total_time"]
        if total_time is None and progress["status"] in (2, 7, 10) and progress["start_time"] is not None:
            total_time = now - progress["start_time"]
        item = dict(call.scope_fields(instance["scope"]))
        item.update({
            "job_instance_id": instance["job_instance_id"], "job_plan_id": instance["plan_id"],
            "job_template_id": instance["job_template_id"], "name": instance["job_instance_name"],
            "operator": instance["operator"], "launch_mode": instance["launch_mode"], "status": progress["status"],
            "start_time": progress["start_time"], "end_time": progress["end_time"], "total_time": total_time,
            "create_time": instance["create_time"], "type": instance["type"],
        })
        matched.append(item)
    # EsbTaskInstanceV3DTO has no @JsonInclude: v3 answers (default ObjectMapper) carry empty fields as null
    page = matched[start:start + length_used]
    return {"start": start, "length": length_used, "total": len(matched), "data": page or None}


class ApiSpec:
    """A JOB API: gateway method, the @RequestParam values its GET endpoint requires (missing: 1240003), the bean
    validation of its POST body (a function of the JobCall, or None) and its implementation."""

    def __init__(self, method, get_required, func, validate=None):
        self.method = method
        self.get_required = get_required
        self.func = func
        self.validate = validate


# The route table: api name -> gateway method.  ESB accepts GET and POST from clients and always POSTs to JOB.
API_TABLE = {
    "execute_job_plan": ApiSpec("POST", (), api_execute_job_plan, validate_execute_job_plan),
    "get_job_instance_status": ApiSpec("GET", ("job_instance_id",), api_get_job_instance_status),
    "get_job_instance_ip_log": ApiSpec("GET", ("job_instance_id", "step_instance_id"), api_get_job_instance_ip_log,
                                       _log_request_ids),
    "batch_get_job_instance_ip_log": ApiSpec("POST", (), api_batch_get_job_instance_ip_log, _log_request_ids),
    "get_job_instance_global_var_value": ApiSpec("GET", ("job_instance_id",), api_get_job_instance_global_var_value),
    "get_job_instance_list": ApiSpec("GET", ("create_time_start", "create_time_end"), api_get_job_instance_list,
                                     validate_instance_list),
    "get_job_plan_list": ApiSpec("GET", (), api_get_job_plan_list),
    "get_job_plan_detail": ApiSpec("GET", ("job_plan_id",), api_get_job_plan_detail),
    "operate_job_instance": ApiSpec("POST", (), api_operate_job_instance),
    "operate_step_instance": ApiSpec("POST", (), api_operate_step_instance),
}


def run_job_api(state, api, params, user, app_code, http_method="POST"):
    """Call a JOB API as its backend would; returns (http_status, EsbResp dict, JobCall).

    Order: a GET's required @RequestParam values (BAD_REQUEST), the bean validation of the scope and of the body
    (BAD_REQUEST with the first violation's message), the scope's existence, permission, then the API's own checks.
    Every JOB answer is HTTP 200 (EsbExceptionControllerAdvice): JOB never throws MissingParameterException.
    """
    spec = API_TABLE[api]
    call = JobCall(state, api, params, user, app_code, http_method)
    try:
        if call.is_get and any(_is_missing(params.get(name)) for name in spec.get_required):
            raise bad_request()
        call.resolve_scope()
        if spec.validate is not None and not call.is_get:
            spec.validate(call)
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
    """ESB FunctionControllerClient.is_skip_user_auth / gateway bk-verified-user-exempted-apps: listed apps only."""
    return app_code in (config.get("skip_user_auth_apps") or [])


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
               "empty_401", "missing_param_400", "after_create_drop", "after_create_502", "job_internal_error",
               "job_unavailable", "job_timeout", "job_tls_error", "component_error")

ESB_SYSTEM_NAME = "JOBV3"  # components/bk/apisv2/jobv3/toolkit/configs.py SYSTEM_NAME
ESB_SSL_ROOT_DIR = "/data/bkce/open_paas/esb/ssl"


def esb_third_party_error(api, reason):
    """ESB REQUEST_THIRD_PARTY_ERROR 1306201 (channel/base.py: RequestThirdPartyException.get_message): JOB
    unreachable, too slow, not HTTP 200, or not JSON.  HTTP 200, like every ESB answer."""
    return esb_error(1306201, f"Component request third-party system [{ESB_SYSTEM_NAME}] interface [{api}] error: "
                              f"{reason}, please try again later or contact component developer to handle this")


def esb_status_error(api, status):
    """What ESB answers when JOB answers an HTTP status other than 200 (outgoing.py _request)."""
    return esb_third_party_error(api, f"Status Code: {status}, Error Message: third-party system interface response "
                                      "status code is not 200")


def esb_timeout_error(api, seconds):
    return esb_third_party_error(api, f"Third-party system interface response time exceeds {seconds:g} seconds")


def esb_ssl_error(api):
    """REQUEST_SSL_ERROR 1306203 (RequestSSLException.get_message): ESB's client certificate for JOB is refused."""
    certs = f"{ESB_SSL_ROOT_DIR}/job_esb_api_client.crt, {ESB_SSL_ROOT_DIR}/job_esb_api_client.key"
    return esb_error(1306203, f"Component request third-party system [{ESB_SYSTEM_NAME}] interface [{api}] SSL error: "
                              f"SSL configuration file [{certs}] does not exist or is illegal, please get the "
                              f"certificates from the documentation and unzip it into [{ESB_SSL_ROOT_DIR}]")


ESB_COMPONENT_ERROR = "Component error, please contact the component developer to handle it."


def fault_reply(fault, surface, api, params, config=None):
    """The answer a fault gives, or None to go on normally (slow, a job_timeout shorter than the surface's wait)."""
    kind = fault["kind"]
    config = config or DEFAULT_CONFIG
    if kind == "slow" and not (surface == "esb" and float(fault.get("seconds", 1)) >= float(config.get("esb_timeout_seconds", 30))):
        time.sleep(float(fault.get("seconds", 1)))
        return None
    if kind in ("job_timeout", "slow"):
        # JOB takes `seconds`; ESB gives up after esb_timeout_seconds (1306201), the gateway after its backend
        # timeout (504 1650401)
        limit = float(config.get("esb_timeout_seconds" if surface == "esb" else "apigw_timeout_seconds", 30))
        seconds = float(fault.get("seconds", limit + 1 if kind == "job_timeout" else 1))
        time.sleep(min(seconds, limit))
        if seconds < limit:
            return None
        return esb_timeout_error(api, limit) if surface == "esb" else apigw_error(504)
    if kind == "job_tls_error":
        return esb_ssl_error(api) if surface == "esb" else apigw_error(502, message='Bad Gateway [upstream_error="SSL handshake failed"]')
    if kind == "component_error":
        return esb_error(1306000, ESB_COMPONENT_ERROR) if surface == "esb" else apigw_error(500, 1650001, "Internal Server Error", "INTERNAL_SERVER_ERROR")
    if kind == "job_internal_error":
        # EsbExceptionControllerAdvice.handleException: any unexpected exception is HTTP 200 INTERNAL_ERROR
        return _job_reply(surface, 200, job_body(1240002, "内部服务器异常"))
    if kind == "job_unavailable":
        return _job_reply(surface, 200, job_body(1240001, "服务不可用"))
    if kind in ("drop", "after_create_drop"):
        return Reply(drop=True)
    if kind in ("html_502", "after_create_502"):
        return Reply(502, NGINX_502, content_type="text/html")
    if kind in ("non_json", "garbled_json") and surface == "esb":
        # JOB's answer is not JSON: ESB's format_resp raises, and ESB answers 1306201
        return esb_third_party_error(api, "interface response is not the JSON format")
    if kind == "non_json":
        return Reply(200, b"upstream says hi", content_type="text/plain")
    if kind == "garbled_json":
        return Reply(200, b'{"result": true, "code": 0, "data": {"job_inst')
    if kind == "empty_401":
        # JOB's gateway filters (CheckTenantGatewayFilterFactory, CheckOpenApiJwtGatewayFilterFactory) answer 401 with
        # an empty body; ESB turns any non-200 answer of JOB into 1306201
        return esb_status_error(api, 401) if surface == "esb" else Reply(401, b"", content_type="application/json")
    if kind == "http_status":
        return _http_status_fault(fault, surface, api)
    if kind == "missing_param_400":
        # NOT an answer of bk-job's code (MissingParameterException is never thrown): an HTTP 400 from something
        # in front of JOB, for tests of a client's handling of a 4xx with a JOB-shaped body
        name = fault.get("param") or "bk_scope_id"
        return _job_reply(surface, 400, job_body(1241004, f"请求参数[{name}]缺失"))
    if kind == "permission":
        scope_type = params.get("bk_scope_type") or "biz"
        scope_id = str(params.get("bk_scope_id") or params.get("bk_biz_id") or "2")
        permission, message = permission_body(fault.get("user", "admin"), scope_type, scope_id)
        return _job_reply(surface, 200, job_body(9900403, message, permission=fault.get("permission_object", permission)))
    # business_error
    return _job_reply(surface, 200, job_body(int(fault.get("code", 1240002)), fault.get("message", "内部服务器异常")))


def _http_status_fault(fault, surface, api):
    status = int(fault.get("status", 502))
    if surface == "apigw":
        headers = {}
        if status == 429:
            headers = {"X-Bkapi-RateLimit-Limit": str(fault.get("limit", 10)), "X-Bkapi-RateLimit-Remaining": "0",
                       "X-Bkapi-RateLimit-Reset": str(fault.get("reset", 1)), "X-Bkapi-RateLimit-Plugin": "bk-rate-limit"}
        return apigw_error(status, fault.get("code"), fault.get("message"), fault.get("code_name"), headers)
    # ESB never answers a status other than 200 for JOB's errors: JOB answered `status`, ESB wraps it
    return esb_status_error(api, status)


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
    if state.config.get("tenant"):
        # ESB sends JOB no X-Bk-Tenant-Id: a multi-tenant JOB answers 401 (CheckTenantGatewayFilterFactory), and ESB
        # wraps that non-200 answer
        return esb_status_error(api, 401), None
    # ESB POSTs every component to JOB as JSON (JobComponent.handle), whatever the client's method
    status, body, call = run_job_api(state, api, params, user, app_code, "POST")
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
        # HttpMessageNotReadableException -> EsbExceptionControllerAdvice: BAD_REQUEST
        return Reply.json(200, job_body(1240003, "错误的请求")), None
    else:
        params = dict(request.json_body or {})
    status, body, call = run_job_api(state, api, params, user, app_code, API_TABLE[api].method)
    return Reply.json(status, body), call


def _apigw_gate(state, request, api):
    """A gateway error Reply, or the authenticated (app_code, user)."""
    resource = request.path[len(APIGW_STAGE_ROOT):] or "/"
    spec = API_TABLE.get(api)
    if spec is None or spec.method != request.method or resource.endswith("/"):
        return apigw_error(404, message=f'API not found [method="{request.method}" path="{resource}"]')
    try:
        authorization = _parse_authorization_header(request.header("X-Bkapi-Authorization")) or {}
    except ValueError:
        return apigw_auth_error("request header X-Bkapi-Authorization is not a valid JSON")
    try:
        app_code, user = apigw_authenticate(state.config, authorization)
    except AuthFailure as failure:
        return apigw_auth_error(failure.message)
    refused = apigw_tenant_check(state.config, app_code, request.header("X-Bk-Tenant-Id"))
    return refused or (app_code, user)


def apigw_tenant_check(config, app_code, header_tenant_id):
    """bk-tenant-validate (blueking-apigateway-apisix) for JOB's gateway, a global-tenant gateway: a single-tenant
    app without X-Bk-Tenant-Id gets its own tenant filled in, with another tenant it is refused (AH2); a
    global-tenant app must send the header (AH1).  403 CROSS_TENANT_FORBIDDEN 1640302.  None when allowed."""
    tenant = config.get("tenant")
    if not tenant:
        return None
    app = (tenant.get("apps") or {}).get(app_code) or {"tenant_mode": "single", "tenant_id": "default"}
    mode, app_tenant_id = app.get("tenant_mode", "single"), app.get("tenant_id", "default")
    if mode == "global":
        if not header_tenant_id:
            reason = (f"Cross-tenant calls are not allowed: header X-Bk-Tenant-Id is required and should not be empty. "
                      f"the app {app_code} tenant_mode={mode}. [AH1]")
            return apigw_error(403, 1640302, f'Cross tenant forbidden [reason="{reason}"]', "CROSS_TENANT_FORBIDDEN")
        return None
    if header_tenant_id and header_tenant_id != app_tenant_id:
        reason = (f"Cross-tenant calls are not allowed: current header X-Bk-Tenant-Id={header_tenant_id}, "
                  f"app {app_code} belongs to tenant {app_tenant_id}(tenant_mode={mode}). [AH2]")
        return apigw_error(403, 1640302, f'Cross tenant forbidden [reason="{reason}"]', "CROSS_TENANT_FORBIDDEN")
    return None


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
        # an answer leaves as two writes (headers, body): without TCP_NODELAY, Nagle + delayed ACK add ~40 ms to each
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
        fault = state.take_fault(api, surface, "pre", params)
        if fault is not None:
            with state.lock:
                entry["fault"] = fault["kind"]
            reply = fault_reply(fault, surface, api, params, state.config)
            if reply is not None:
                return self.with_request_id(reply, surface, fault["kind"])
        reply, call = handle_esb(state, request, api) if surface == "esb" else handle_apigw(state, request, api)
        # after_create_*: JOB did the work (created the instance, or started/terminated it), then the answer is lost
        if call is not None and api in ("execute_job_plan", "operate_job_instance") and reply.status == 200 and reply.code == 0:
            fault = state.take_fault(api, surface, "post", params)
            if fault is not None:
                with state.lock:
                    entry["fault"] = fault["kind"]
                reply = fault_reply(fault, surface, api, params, state.config)
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
    progress = compute_progress(instance, now_ms(), with_hosts=False)
    outcome = instance["outcome"]
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
        "outcome": {"step_index": outcome["index"], "status": outcome["status"], "failed_hosts": len(outcome["failed"])},
        "step_events": {str(index): value for index, value in (instance.get("step_events") or {}).items()},
        "terminate": instance["terminate"],
        "terminates": instance.get("terminates") or [],
        "status": progress["status"],
        "steps": [{"step_instance_id": step["step_instance_id"], "name": step["name"], "type": step["type"],
                   "status": state["status"], "hosts": step["hosts"]} for step, state in zip(instance["steps"], progress["steps"])],
    }


INSTANCE_ACTION_ROUTE = re.compile(r"/_emulator/instances/(\d+)/(confirm|terminate)")


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
    action = INSTANCE_ACTION_ROUTE.fullmatch(route[1])
    if action and route[0] == "POST":
        return _instance_action(state, int(action.group(1)), action.group(2), body)
    if route == ("GET", "/_emulator/callbacks"):
        return Reply.json(200, {"callbacks": state.list_callbacks()})
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
    if route == ("POST", "/_emulator/settings"):
        page_limit = body.get("page_limit")
        if not isinstance(page_limit, int) or page_limit <= 0:
            return Reply.json(400, {"error": 'body must be {"page_limit": int > 0}'})
        with state.lock:
            state.page_limit = page_limit
        return Reply.json(200, {"ok": True, "page_limit": page_limit})
    if route == ("POST", "/_emulator/plans"):
        return _add_plan(state, body)
    if route == ("GET", "/_emulator/health"):
        return Reply.json(200, {"ok": True})
    if route == ("GET", "/_emulator/config"):
        return Reply.json(200, {"config": state.config})
    return Reply.json(404, {"error": f"no admin route {request.method} {request.path}"})


def _add_plan(state, body):
    """POST /_emulator/plans {"id", "name", "bk_scope_type", "bk_scope_id", "copy_of"}: a plan until the next reset.

    The new plan copies the variables and steps of plan ``copy_of`` (default 1000), so that tests can make
    duplicate names or larger scopes without touching the seed.
    """
    source = PLANS.get(body.get("copy_of", 1000))
    plan_id, name = body.get("id"), body.get("name")
    if not isinstance(plan_id, int) or plan_id <= 0 or not isinstance(name, str) or not name or source is None:
        return Reply.json(400, {"error": 'body must be {"id": int > 0, "name": str, "bk_scope_type", "bk_scope_id", "copy_of": plan id}'})
    scope = (body.get("bk_scope_type", "biz"), str(body.get("bk_scope_id", "2")))
    with state.lock:
        if plan_id in PLANS:
            return Reply.json(409, {"error": f"plan {plan_id} exists"})
        PLANS[plan_id] = _plan(plan_id, name, scope, source["job_template_id"], copy.deepcopy(source["global_vars"]),
                               copy.deepcopy(source["steps"]), behaviour=source["behaviour"])
    return Reply.json(200, {"ok": True, "id": plan_id})


def _instance_action(state, job_instance_id, action, body):
    """POST /_emulator/instances/<id>/confirm {"action"} and .../terminate {"status": 8 or null}."""
    if action == "confirm" and body.get("action") not in ("continue", "terminate"):
        return Reply.json(400, {"error": 'body must be {"action": "continue"} or {"action": "terminate"}'})
    if action == "terminate" and body.get("status") not in (None, 8, 11):
        return Reply.json(400, {"error": "status must be 8 (terminated at once) or null/11 (10 terminating, then 11)"})
    with state.lock:
        instance = state.instances.get(job_instance_id)
        if instance is None:
            return Reply.json(404, {"error": f"no job instance {job_instance_id}"})
        try:
            if action == "confirm":
                confirm_instance(instance, body["action"], now_ms())
            else:
                terminate_instance(instance, body.get("status") or 11, now_ms())
        except JobError as err:
            return Reply.json(409, {"error": err.message, "code": err.code})
        status = compute_progress(instance, now_ms(), with_hosts=False)["status"]
    return Reply.json(200, {"ok": True, "job_instance_id": job_instance_id, "status": status})


def _behaviour_problem(behaviour):
    if not isinstance(behaviour, dict):
        return 'body must be {"behaviour": {...}}'
    unknown = sorted(set(behaviour) - set(BEHAVIOUR_RULES))
    if unknown:
        return f"unknown behaviour keys: {', '.join(unknown)} (known: {', '.join(BEHAVIOUR_RULES)})"
    for key, value in behaviour.items():
        check, expected = BEHAVIOUR_RULES[key]
        if not check(value):
            return f"{key} must be {expected}"
    return None


def _add_fault(state, body):
    kind = body.get("kind")
    if kind not in FAULT_KINDS:
        return Reply.json(400, {"error": f"kind must be one of {', '.join(FAULT_KINDS)}"})
    api = body.get("api") or "*"
    if kind.startswith("after_create_") and api not in ("execute_job_plan", "operate_job_instance"):
        return Reply.json(400, {"error": f"{kind} only applies to execute_job_plan and operate_job_instance"})
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
    for plan in PLANS.values():
        problem = _behaviour_problem(plan["behaviour"])
        if problem:
            raise SystemExit(f"bkjob-emulator: behaviour of plan {plan['id']}: {problem}")
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
    parser.add_argument("--parent-pid", type=int, help="exit when this process is gone (a test runner that never cleaned up)")
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
    state.start_ticker()
    if args.port_file:
        _write_port_file(args.port_file, port)
    scheme = "https" if ssl_context else "http"
    sys.stderr.write(f"listening on {scheme}://{args.host}:{port}\n")
    sys.stderr.flush()
    while not stop.wait(0.5):
        if args.parent_pid and os.getppid() != args.parent_pid:
            break  # the process that started this one died without stopping it
    state.stop_ticker()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
