# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One raw HTTP call of a JOB API on a running emulator (``process.Emulator``), through ESB or the API gateway,
for tests of the emulator itself.  Standard library only."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from support import APP_CODE, APP_SECRET  # pylint: disable=import-error  # tests/emulator, beside this file

APP = {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET}
# The demo app is exempted from user verification explicitly (the emulator's default exempts no app).
CONFIG = {"skip_user_auth_apps": [APP_CODE]}
GATEWAY_METHODS = {"execute_job_plan": "POST", "operate_job_instance": "POST", "batch_get_job_instance_ip_log": "POST",
                   "operate_step_instance": "POST"}


def call(job, api, params=None, surface="apigw", auth=None, headers=None, method=None):
    """One JOB API call; returns (HTTP status, parsed JSON body or None, raw body bytes, response headers)."""
    params = dict(params or {})
    auth = dict(APP, bk_username="admin") if auth is None else auth
    all_headers = {"Content-Type": "application/json"}
    if surface == "esb":
        method = method or "POST"
        url = f"{job.url}/api/c/compapi/v2/jobv3/{api}/"
        params = dict(auth, **params)
    else:
        method = method or GATEWAY_METHODS.get(api, "GET")
        url = f"{job.apigw_url}/api/v3/{api}"
        if auth:
            all_headers["X-Bkapi-Authorization"] = json.dumps(auth)
    all_headers.update(headers or {})
    data = None
    if method == "GET":
        query = {key: json.dumps(value) if isinstance(value, (list, dict)) else
                 ("true" if value is True else "false" if value is False else value) for key, value in params.items()}
        url += "?" + urllib.parse.urlencode(query)
    else:
        data = json.dumps(params).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback emulator)
            status, raw, answer_headers = answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        status, raw, answer_headers = error.code, error.read(), dict(error.headers)
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return status, body, raw, answer_headers


SCOPE = {"bk_scope_type": "biz", "bk_scope_id": "2"}
