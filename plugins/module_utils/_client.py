# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The one HTTP client of blueking.job: where credentials go, the envelope check, typed errors.

JOB is reached two ways (docs/guide_api_surfaces.md; ESB and gateway details in docs/bk-job-code-truth.md):

* ESB: ``POST {root}/api/c/compapi/v2/jobv3/<api>/`` with the credentials in the JSON body beside the
  API fields, as the ESB docs' examples do; ESB forwards every jobv3 call to JOB as a POST.
* API gateway: ``{stage root}/api/v3/<api>`` (no trailing slash), the credentials only in the
  ``X-Bkapi-Authorization`` header (the bk-job gateway sets ``allow_auth_from_params: false``),
  queries as GET with query parameters, the three write/batch calls as POST with a JSON body.

The client never calls ``fail_json``: it raises the errors of ``_errors``.
"""

from __future__ import annotations

import json
import random
import re
import time
import traceback
from typing import Any, Callable

from ansible_collections.blueking.job.plugins.module_utils._api import (
    CODE_BK_PERMISSION_DENIED,
    CODE_EXECUTE_TASK_PLAN_NOT_EXIST,
    CODE_INTERNAL_ERROR,
    CODE_MISSING_APP_CODE,
    CODE_MISSING_APP_CODE_LEGACY,
    CODE_MISSING_USER_INFO,
    CODE_SERVICE_UNAVAILABLE,
    CODE_TASK_INSTANCE_NOT_EXIST,
    CODE_TASK_PLAN_NOT_EXIST,
    CODE_USER_ACCESS_APP_FORBIDDEN,
    CODE_USER_NOT_EXIST_OR_NOT_LOGIN_IN,
)
from ansible_collections.blueking.job.plugins.module_utils._errors import (
    APIError,
    AuthError,
    BKJobError,
    GatewayError,
    InvalidResponseError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    TLSError,
    TransportError,
)

try:
    import requests
except ImportError:
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None

COLLECTION_VERSION = "1.0.0"
USER_AGENT = f"blueking.job/{COLLECTION_VERSION} (Ansible collection)"

# API-gateway method of each resource (bk-job support-files/bk-api-gateway/v3/resources.yaml).
API_METHODS = {
    "execute_job_plan": "POST",
    "operate_job_instance": "POST",
    "operate_step_instance": "POST",
    "batch_get_job_instance_ip_log": "POST",
    "get_job_instance_status": "GET",
    "get_job_instance_ip_log": "GET",
    "get_job_instance_global_var_value": "GET",
    "get_job_instance_list": "GET",
    "get_job_plan_list": "GET",
    "get_job_plan_detail": "GET",
}

# Calls that change JOB. They are sent exactly once: a retry after the request may have reached
# JOB could launch (or stop) a job twice.
MUTATING_APIS = frozenset({"execute_job_plan", "operate_job_instance", "operate_step_instance"})

# ESB codes that mean "who you are was not accepted" (blueking-apigateway src/esb/esb/common/errors.py).
ESB_AUTH_CODES = frozenset({1306000, 1306401, 1306402, 1306403, 1306406})
ESB_RATE_LIMIT_CODE = 1306429
ESB_COMPONENT_NOT_FOUND = 1306404
# ESB gave up on JOB: 1306201 (timeout, or a non-200 answer of JOB), 1306203 (TLS to JOB failed)
# (blueking-apigateway src/esb/esb/common/errors.py).
ESB_JOB_FAILED_CODES = frozenset({1306201, 1306203})
# ESB gave up on JOB, or JOB failed on its side (SERVICE_UNAVAILABLE, INTERNAL_ERROR). The request may or may not
# have done its work: a read is sent again, a launch is an unclear answer.
TRANSIENT_CODES = ESB_JOB_FAILED_CODES | {CODE_SERVICE_UNAVAILABLE, CODE_INTERNAL_ERROR}
# ESB's generic code (blueking-apigateway src/esb/esb/common/errors.py COMMON_ERROR): also what ESB's app and user
# validators answer (esb/esb/bkapp/validators.py, esb/esb/bkauth/validators.py), so it is an authentication failure
# only when the message names the credentials.
ESB_COMMON_ERROR = 1306000
ESB_AUTH_MESSAGE = re.compile(r"bk_app_code|bk_app_secret|app secret|app_secret|bk_token|access_token|bk_username|"
                              r"user authentication|app code|认证|登录", re.IGNORECASE)
# ESB's 1306201 for a JOB answer with HTTP 401 (blueking-apigateway src/esb/esb/esb/outgoing.py: "Status Code: 401, ...").
ESB_JOB_401 = re.compile(r"Status Code: 401\b")
# The API gateway's INVALID_ARGS (HTTP 400), also its answer to credentials it cannot verify.
GATEWAY_INVALID_ARGS_CODE = 1640001
# The API gateway's IP_NOT_ALLOWED (403), which a multi-tenant install also answers to a request of the wrong tenant.
GATEWAY_IP_OR_TENANT_CODE = 1640302
# JOB's "does not exist" answers and what to do.
NOT_FOUND_HINTS = {
    CODE_TASK_PLAN_NOT_EXIST: "the job plan does not exist in this scope (TASK_PLAN_NOT_EXIST); list the scope's plans with "
                              "blueking.job.job_plan_info.",
    CODE_EXECUTE_TASK_PLAN_NOT_EXIST: "the job plan does not exist in this scope (EXECUTE_TASK_PLAN_NOT_EXIST); list the scope's "
                                      "plans with blueking.job.job_plan_info.",
    CODE_TASK_INSTANCE_NOT_EXIST: "the job instance does not exist in this scope (TASK_INSTANCE_NOT_EXIST); check job_instance_id "
                                  "and the business or scope it ran in.",
}
# JOB's own gateway refusing who calls: user missing or not logged in, no user, no app code, app not allowed.
JOB_GATEWAY_AUTH_CODES = frozenset({CODE_USER_NOT_EXIST_OR_NOT_LOGIN_IN, CODE_MISSING_USER_INFO, CODE_MISSING_APP_CODE,
                                    CODE_USER_ACCESS_APP_FORBIDDEN, CODE_MISSING_APP_CODE_LEGACY})

SURFACE_NAMES = {"esb": "ESB", "apigw": "the API gateway"}
# What stands for a hidden value everywhere: credentials scrubbed here, secret variables (_secrets, _plan, _module).
MASK = "********"
SNIPPET_CHARS = 160
MAX_RETRY_WAIT = 30.0


class Reply:
    """A successful answer: the envelope's ``data`` and the ids that trace the request."""

    __slots__ = ("data", "request_id", "job_request_id", "http_status")

    def __init__(self, data: Any, request_id: str | None, job_request_id: str | None, http_status: int) -> None:
        self.data = data
        self.request_id = request_id
        self.job_request_id = job_request_id
        self.http_status = http_status


class Client:
    """Talks to JOB through ESB or the API gateway; one ``requests.Session`` per task."""

    def __init__(
        self,
        api_url: str,
        *,
        api_type: str = "esb",
        credentials: dict[str, str],
        tenant_id: str | None = None,
        validate_certs: bool = True,
        ca_path: str | None = None,
        request_timeout: float = 30.0,
        max_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.api_type = api_type
        self.request_timeout = request_timeout
        self.max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._credentials = {key: value for key, value in credentials.items() if value}
        # Only secrets are scrubbed: bk_app_code and bk_username are identities that messages must name (a 9900403
        # says which user lacks which permission), and masking them would damage every text that contains them.
        self._secrets = sorted((value for key, value in self._credentials.items()
                                if key in ("bk_app_secret", "bk_token", "access_token") and len(value) >= 4), key=len, reverse=True)
        self.session = requests.Session()
        # Passed on every request: a Session-level verify loses to REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE in requests'
        # environment merge (psf/requests#3829), and validate_certs/ca_path must win.
        self._verify: bool | str = ca_path or validate_certs
        self.session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        self.tenant_id = tenant_id
        if tenant_id:
            self.session.headers["X-Bk-Tenant-Id"] = tenant_id
        if api_type == "apigw":
            self.session.headers["X-Bkapi-Authorization"] = json.dumps(self._credentials, separators=(",", ":"))
        if not validate_certs:
            # The module warns once; urllib3's per-request warning would only repeat it on stderr.
            requests.packages.urllib3.disable_warnings(requests.packages.urllib3.exceptions.InsecureRequestWarning)

    # ----------------------------------------------------------------------------------------------
    def call(self, api: str, params: dict[str, Any], *, stage: str) -> Reply:
        """Send one JOB API call; a ``Reply``: ``data`` (the envelope's ``data``, whatever JSON JOB put there: a dict,
        a list or None; ``_api`` checks its shape), ``request_id`` (ESB/gateway), ``job_request_id`` (JOB's own,
        gateway only) and ``http_status``.

        Transient failures are retried with bounded backoff (``max_attempts`` in all, honouring a rate limit's
        reset): every one for a read; for a call that changes JOB (MUTATING_APIS) only those that provably never
        reached JOB (``reached_job is False``: refused connection, DNS, gateway or ESB rate limit), so that nothing
        is done twice. Raises a ``BKJobError`` subclass otherwise.
        """
        mutating = api in MUTATING_APIS
        attempt = 1
        while True:
            try:
                return self._send(api, params, stage)
            except BKJobError as err:
                retry = err.transient and (err.reached_job is False or not mutating)
                if not retry or attempt >= self.max_attempts:
                    raise
                self._sleep(self._retry_delay(attempt, err))
                attempt += 1

    def close(self) -> None:
        self.session.close()

    def scrub(self, text: str) -> str:
        """Replace every credential value in ``text``; used on anything quoted from an answer."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    # ----------------------------------------------------------------------------------------------
    def _prepare(self, api: str, params: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        fields = {key: value for key, value in params.items() if value is not None}
        if self.api_type == "esb":
            return "POST", f"{self.api_url}/api/c/compapi/v2/jobv3/{api}/", {"json": {**self._credentials, **fields}}
        method = API_METHODS[api]
        url = f"{self.api_url}/api/v3/{api}"
        if method == "GET":
            return method, url, {"params": {key: _query_value(value) for key, value in fields.items()}}
        return method, url, {"json": fields}

    def _send(self, api: str, params: dict[str, Any], stage: str) -> Reply:
        method, url, kwargs = self._prepare(api, params)
        context = {"stage": stage, "api": api}
        try:
            response = self.session.request(method, url, timeout=self.request_timeout, verify=self._verify, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise TLSError(
                f"TLS verification failed for {url} ({self._reason(exc)}): set ca_path to the CA bundle that signed "
                "the BlueKing certificate, or validate_certs: false to skip the check (insecure).",
                may_have_reached_server=False, **context) from None
        except requests.exceptions.ConnectTimeout:
            raise TransportError(
                f"Could not connect to {self._host(url)} within request_timeout ({self.request_timeout:g} s) for {api}: "
                "check bk_api_url and that the host is reachable from the Ansible controller.",
                may_have_reached_server=False, **context) from None
        except requests.exceptions.ReadTimeout:
            raise RequestTimeoutError(
                f"{api} got no answer from {self._host(url)} within request_timeout ({self.request_timeout:g} s)"
                f"{_maybe_started(api)}", may_have_reached_server=True, **context) from None
        except requests.exceptions.ConnectionError as exc:
            raise self._connection_error(exc, url, context) from None
        except requests.exceptions.RequestException as exc:
            raise TransportError(
                f"{api} failed while reading the answer from {self._host(url)} ({self._reason(exc)}){_maybe_started(api)}",
                may_have_reached_server=True, **context) from None
        return self._read(response, context)

    def _connection_error(self, exc: Exception, url: str, context: dict[str, Any]) -> TransportError:
        reason = self._reason(exc)
        host = self._host(url)
        lowered = repr(exc).lower()
        if any(marker in lowered for marker in ("nameresolution", "name or service not known", "getaddrinfo",
                                                "temporary failure in name resolution", "nodename nor servname",
                                                "no address associated")):
            return TransportError(
                f"Could not resolve the host {host} of bk_api_url: check the URL and the controller's DNS.",
                may_have_reached_server=False, **context)
        if "refused" in lowered:
            return TransportError(
                f"Connection to {host} was refused for {context['api']}: check bk_api_url (host and port) and that "
                "BlueKing is up.", may_have_reached_server=False, **context)
        return TransportError(
            f"The connection to {host} broke during {context['api']} ({reason}){_maybe_started(context['api'])}",
            may_have_reached_server=True, **context)

    def _read(self, response: Any, context: dict[str, Any]) -> Reply:
        api = context["api"]
        status = response.status_code
        gateway_request_id = response.headers.get("X-Bkapi-Request-Id")
        try:
            body = response.json()
        except ValueError:
            body = None
        envelope = body if isinstance(body, dict) else {}
        job_request_id = _text_or_none(envelope.get("job_request_id"))
        request_id = _text_or_none(envelope.get("request_id")) or gateway_request_id or job_request_id
        ids = {"http_status": status, "request_id": request_id, "job_request_id": job_request_id}
        gateway_code = response.headers.get("X-Bkapi-Error-Code")
        if gateway_code or (status >= 400 and "code_name" in envelope):
            raise self._gateway_error(response, envelope, gateway_code, context, ids)
        if status == 401:
            raise AuthError(
                f"JOB answered {api} with HTTP 401 (no verified identity reached it): {self._tenant_advice()}bk_api_url must "
                "be the ESB root or the bk-job API gateway stage root, not JOB's own address.",
                code=envelope.get("code"), message=self._message(envelope), reached_job=False, **context, **ids)
        if status == 404:
            raise self._not_found(f"HTTP 404: {self._snippet(response.text)}", {**context, **ids})
        if body is None:
            if api in MUTATING_APIS:
                advice = _maybe_started(api)[2:]
            elif status >= 500:
                advice = "a proxy or gateway in front of BlueKing failed; check its health and retry."
            else:
                advice = "check that bk_api_url points at BlueKing ESB or the bk-job API gateway stage."
            raise InvalidResponseError(
                f"{api} returned HTTP {status} with a body that is not JSON "
                f"({response.headers.get('Content-Type') or 'no content type'}: {self._snippet(response.text)!r}): {advice}",
                **context, **ids)
        if "result" not in envelope and "code" not in envelope:
            raise InvalidResponseError(
                f"{api} returned HTTP {status} with JSON that is not a BlueKing answer ({self._snippet(response.text)!r}): "
                "check that bk_api_url and bk_api_type point at BlueKing ESB or the bk-job API gateway.",
                **context, **ids)
        if envelope.get("result") is True and 200 <= status < 300:
            return Reply(envelope.get("data"), request_id, job_request_id, status)
        raise self._business_error(envelope, context, ids)

    def _gateway_error(self, response: Any, envelope: dict, gateway_code: str | None,
                       context: dict[str, Any], ids: dict[str, Any]) -> BKJobError:
        api = context["api"]
        status = ids["http_status"]
        code = _int_or_text(gateway_code or envelope.get("code"))
        message = self.scrub(str(response.headers.get("X-Bkapi-Error-Message") or envelope.get("message") or ""))
        details = {"code": code, "message": message, **context, **ids}
        said = f"HTTP {status}, code {code}: {message}" if message else f"HTTP {status}, code {code}"
        if status == 429:
            reset = _float_or_none(response.headers.get("X-Bkapi-RateLimit-Reset"))
            return RateLimitError(
                f"The API gateway rate-limited {api} ({said}): wait and retry, or ask the gateway's owners for a higher limit.",
                retry_after=reset, **details)
        if status == 400 and code == GATEWAY_INVALID_ARGS_CODE:
            return AuthError(
                f"The API gateway rejected the request for {api} ({said}): check bk_app_code, bk_app_secret and "
                "bk_username/bk_token, or bk_access_token.", reached_job=False, **details)
        if code == GATEWAY_IP_OR_TENANT_CODE:
            return AuthError(
                f"The API gateway refused {api} ({said}): {self._tenant_advice()}or add the controller's IP to the gateway's "
                "or resource's IP access protection list.", reached_job=False, **details)
        if status == 403:
            return AuthError(
                f"The API gateway refused {api} ({said}): the app needs permission to the bk-job gateway resource "
                "(apply in the BlueKing developer center), or the controller's IP is not allowed.", reached_job=False, **details)
        if status == 404:
            return self._not_found(said, details)
        return GatewayError(f"The API gateway failed {api} ({said}){_maybe_started(api) if status >= 500 else '.'}", **details)

    def _not_found(self, said: str, details: dict[str, Any]) -> GatewayError:
        where = ("the ESB root, e.g. https://paas.example.com" if self.api_type == "esb"
                 else "the bk-job stage root, e.g. https://bkapi.example.com/api/bk-job/prod")
        return GatewayError(f"{SURFACE_NAMES[self.api_type]} has no {details['api']} at {self.api_url} ({said}): "
                            f"bk_api_url must be {where}, and bk_api_type must match it.", reached_job=False, **details)

    def _business_error(self, envelope: dict, context: dict[str, Any], ids: dict[str, Any]) -> BKJobError:
        api = context["api"]
        status = ids["http_status"]
        code = _int_or_text(envelope.get("code"))
        message = self._message(envelope)
        permission = envelope.get("permission") if isinstance(envelope.get("permission"), dict) else None
        details = {"code": code, "message": message, **context, **ids}
        said = f"code {code}: {message}" if message else f"code {code}"
        surface = SURFACE_NAMES[self.api_type]
        if code == CODE_BK_PERMISSION_DENIED or permission:
            wanted = _permission_summary(permission)
            return PermissionDeniedError(
                f"BlueKing IAM denied {api} ({said}): apply for {wanted} in the BlueKing permission center, then retry.",
                permission=permission, **details)
        if status >= 500:
            return GatewayError(f"{surface} failed {api} with HTTP {status} ({said}){_maybe_started(api)}", **details)
        if code in TRANSIENT_CODES:
            failed = "ESB got no usable answer from JOB" if code in ESB_JOB_FAILED_CODES else "JOB failed on its side"
            if ESB_JOB_401.search(message or ""):
                # JOB's own gateway refused ESB's request with 401 (its tenant check on a multi-tenant install)
                failed += f" (JOB answered HTTP 401: {self._tenant_advice()}check that ESB may call JOB)"
            err = APIError(f"{failed} for {api} ({said}){_maybe_started(api)}", reached_job=None, **details)
            err.transient = True
            return err
        if code == ESB_COMMON_ERROR and not ESB_AUTH_MESSAGE.search(message or ""):
            # ESB's generic code: its own failures and a component's answer without a code (esb/esb/response.py).
            return APIError(f"{surface} failed {api} with its generic error ({said}): check the message; retry later if it "
                            "names no cause.", reached_job=None, **details)
        if code in ESB_AUTH_CODES or code in JOB_GATEWAY_AUTH_CODES:
            return AuthError(
                f"{surface} did not accept the credentials for {api} ({said}): check bk_app_code, bk_app_secret and "
                "bk_username/bk_token, or bk_access_token.", reached_job=False, **details)
        if code == ESB_RATE_LIMIT_CODE:
            return RateLimitError(f"ESB rate-limited {api} ({said}): wait and retry.", **details)
        if code == ESB_COMPONENT_NOT_FOUND:
            return APIError(
                f"ESB has no component {api} ({said}): check that bk_api_url is the ESB root and that JOB v3 is installed.",
                reached_job=False, **details)
        hint = NOT_FOUND_HINTS.get(code) if isinstance(code, int) else None
        if hint:
            return APIError(f"JOB refused {api} ({said}): {hint}", **details)
        return APIError(f"JOB refused {api} ({said}).", **details)

    # ----------------------------------------------------------------------------------------------
    def _retry_delay(self, attempt: int, err: BKJobError) -> float:
        backoff = min(8.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        if err.retry_after is not None:
            return min(MAX_RETRY_WAIT, max(err.retry_after, backoff))
        return backoff

    def _tenant_advice(self) -> str:
        if self.tenant_id:
            return f"on a multi-tenant BlueKing check that bk_tenant_id ({self.tenant_id}) is the tenant of the app and the business; "
        return "on a multi-tenant BlueKing set bk_tenant_id (the tenant of the app and the business); otherwise "

    def _message(self, envelope: dict) -> str | None:
        message = envelope.get("message")
        return None if message is None else self.scrub(str(message))

    def _snippet(self, text: str) -> str:
        collapsed = " ".join(self.scrub(text or "").split())
        return collapsed if len(collapsed) <= SNIPPET_CHARS else collapsed[:SNIPPET_CHARS] + "..."

    def _reason(self, exc: Exception) -> str:
        """The innermost useful words of a requests/urllib3 exception, credentials removed."""
        reason: Any = exc
        while reason is not None and getattr(reason, "reason", None) is not None and reason is not reason.reason:
            reason = reason.reason
        if reason is exc and exc.args and isinstance(exc.args[0], Exception):
            reason = exc.args[0]
            reason = getattr(reason, "reason", None) or reason
        return self._snippet(str(reason))

    def _host(self, url: str) -> str:
        return url.split("/")[2] if url.count("/") >= 2 else url


def _maybe_started(api: str) -> str:
    if api == "execute_job_plan":
        return (": the job may have started; look for it in JOB's execution history before launching again "
                "(this call is never retried automatically).")
    return ": retry later."


def _permission_summary(permission: dict | None) -> str:
    if not permission:
        return "the missing permission"
    names = []
    for action in permission.get("actions") or []:
        name = action.get("name") or action.get("id")
        instances = [
            instance.get("name") or instance.get("id")
            for resource in action.get("related_resource_types") or []
            for path in resource.get("instances") or []
            for instance in path
            if isinstance(instance, dict)
        ]
        names.append(f"'{name}' on {', '.join(str(i) for i in instances)}" if instances else f"'{name}'")
    return ", ".join(names) or "the missing permission"


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _text_or_none(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _int_or_text(value: Any) -> int | str | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return str(value)


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
