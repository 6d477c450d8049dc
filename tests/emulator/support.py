# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test support shared by the unit tests, the integration tests and the benchmarks; standard library only.

Everything here is read from the emulator's own seed (bkjob_emulator.DEFAULT_CONFIG and PLANS), so that a changed
seed changes every test at once, or fails here at import:

* the demo credentials (``APP_CODE``, ``APP_SECRET``, ``USERNAME``, ``BK_TOKEN``, ``ACCESS_TOKEN``, ``SECRETS``);
* named seed ids (``PLAN_DEPLOY_APP`` = 1000, the plan "deploy-app" of business 2, ...);
* ``closed_port()``: a local TCP port nothing listens on;
* ``isolated_ansible_env()``: the environment of an Ansible run that sees only this collection.

tests/emulator is put on sys.path by tests/unit/plugins/conftest.py, tests/unit/emulator/conftest.py,
tests/integration/conftest.py and benchmarks/bench.py: ``from support import PLAN_DEPLOY_APP``.
"""
from __future__ import annotations

import os
import socket

import bkjob_emulator

_CONFIG = bkjob_emulator.DEFAULT_CONFIG

# Credentials: the demo app, admin's bk_token, alice's access token (the gateway's user).
APP_CODE, APP_SECRET = next(iter(_CONFIG["apps"].items()))
BK_TOKEN, USERNAME = next(iter(_CONFIG["bk_tokens"].items()))
ACCESS_TOKEN, ACCESS_TOKEN_USER = next(iter(_CONFIG["access_tokens"].items()))
SECRETS = (APP_SECRET, BK_TOKEN, ACCESS_TOKEN)
ESB_CREDENTIALS = {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": USERNAME}


def _plan_id(name: str, scope_type: str, scope_id: str) -> int:
    """The id of the seed plan ``name`` in the given scope; KeyError when the emulator's seed has no such plan."""
    for plan in bkjob_emulator.PLANS.values():
        if plan["name"] == name and tuple(plan["scope"]) == (scope_type, scope_id):
            return plan["id"]
    raise KeyError(f"no seed plan {name!r} in {scope_type} {scope_id}")


# Scopes of the seed (bk_biz_id / bk_scope_id).
BIZ_ID = 2
OTHER_BIZ_ID = 3
# Seed plans (bkjob_emulator._build_plans).
PLAN_DEPLOY_APP = _plan_id("deploy-app", "biz", "2")  # 1000: variables app_version, target_hosts, db_password, release_note
PLAN_DEPLOY_APP_CANARY = _plan_id("deploy-app-canary", "biz", "2")  # 1001: as 1000, needs an update in JOB
PLAN_DEPLOY_APP_BIZ3 = _plan_id("deploy-app", "biz", "3")  # 1002: same name, other business
PLAN_ROLLBACK = _plan_id("rollback", "biz", "2")  # 1003
PLAN_DEPLOY = _plan_id("deploy", "biz", "2")  # 1004: no variables, one script step on host 101
PLAN_INSPECT_ALL = _plan_id("inspect-all", "biz_set", "9991001")  # 1005
PLAN_K8S_ROLLOUT = _plan_id("k8s-rollout", "biz", "3")  # 1006: a container variable
PLAN_DB_MIGRATE = _plan_id("db-migrate", "biz", "3")  # 1007
# Failed hosts, retries and confirmations (biz 3, variable target_hosts = hosts 201, 202, 203):
PLAN_FLAKY = _plan_id("flaky-deploy", "biz", "3")  # 1008: scripts deploy, verify; 202 fails deploy's 1st execution only
PLAN_FLAKY_CONFIRM = _plan_id("flaky-approve", "biz", "3")  # 1009: deploy (202 fails once), approve (waits: 7), finish
PLAN_CONFIRM_AFTER_IGNORED = _plan_id("guarded-release", "biz", "3")  # 1010: precheck ignores errors, 203 fails (6); approve waits
FLAKY_HOSTS = (201, 202, 203)  # their targets; 202 is the host that fails once
# The first job instance id the emulator hands out (each emulator counts from here).
FIRST_JOB_INSTANCE_ID = bkjob_emulator.EmulatorState.FIRST_INSTANCE_ID


def closed_port() -> int:
    """A local TCP port nothing listens on: connections to it are refused (the port was bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_ansible_env(workdir, collections_path) -> dict:
    """The ANSIBLE_* settings of an Ansible run that sees only this collection and writes only under ``workdir``.

    ``collections_path``: the folder holding ansible_collections/blueking/job. No colour, no retry files, no
    deprecation / localhost / unparsed-inventory warnings (they are not the module's), no .pyc files.
    """
    return {
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_HOME": os.path.join(str(workdir), "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": os.path.join(str(workdir), "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
