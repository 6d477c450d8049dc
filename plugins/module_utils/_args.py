# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Options shared by the modules, and what they turn into.

``CONNECTION_ARGSPEC``, ``SCOPE_ARGSPEC`` and ``WAIT_ARGSPEC`` are mirrored by the doc fragments
``blueking.job.connection``, ``blueking.job.scope`` and ``blueking.job.wait``; change both together.
The wait options live here (``WaitOptions``, checked once by ``wait_options``), not with the wait, so that a task that
does not wait never imports (and compiles) the wait.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ansible.module_utils.errors import AnsibleFallbackNotFound

from ansible_collections.blueking.job.plugins.module_utils._errors import InputError


def env_fallback(*names: str, **_kwargs: Any) -> str:
    """The first of the environment variables ``names`` that is set and not blank.

    Unlike ansible-core's env_fallback, an empty variable counts as unset: AWX renders a credential field left
    empty as an empty string, and ``BK_API_TYPE=`` must mean "the default", not an invalid choice.
    """
    for name in names:
        value = os.environ.get(name)
        if value is not None and value.strip():
            return value
    raise AnsibleFallbackNotFound


CONNECTION_ARGSPEC: dict[str, dict[str, Any]] = {
    "bk_api_url": {"type": "str", "required": True, "fallback": (env_fallback, ["BK_API_URL"])},
    "bk_api_type": {"type": "str", "default": "esb", "choices": ["esb", "apigw"], "fallback": (env_fallback, ["BK_API_TYPE"])},
    "bk_app_code": {"type": "str", "fallback": (env_fallback, ["BK_APP_CODE"])},
    "bk_app_secret": {"type": "str", "no_log": True, "fallback": (env_fallback, ["BK_APP_SECRET"])},
    "bk_username": {"type": "str", "fallback": (env_fallback, ["BK_USERNAME"])},
    "bk_token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["BK_TOKEN"])},
    "bk_access_token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["BK_ACCESS_TOKEN"])},
    "bk_tenant_id": {"type": "str", "fallback": (env_fallback, ["BK_TENANT_ID"])},
    "bk_job_web_url": {"type": "str", "fallback": (env_fallback, ["BK_JOB_WEB_URL"])},
    "validate_certs": {"type": "bool", "default": True, "fallback": (env_fallback, ["BK_VALIDATE_CERTS"])},
    "ca_path": {"type": "path", "fallback": (env_fallback, ["BK_CA_PATH"])},
    "request_timeout": {"type": "float", "default": 30.0, "fallback": (env_fallback, ["BK_REQUEST_TIMEOUT"])},
}

SCOPE_ARGSPEC: dict[str, dict[str, Any]] = {
    "bk_biz_id": {"type": "int"},
    # No argspec default: "biz" is applied in scope_params(), so that bk_scope_type given without
    # bk_scope_id is caught instead of being silently dropped.
    "bk_scope_type": {"type": "str", "choices": ["biz", "biz_set", "tenant_set"]},
    "bk_scope_id": {"type": "str"},
}
SCOPE_CONSTRAINTS: dict[str, Any] = {
    "mutually_exclusive": [("bk_biz_id", "bk_scope_id")],
    "required_one_of": [("bk_biz_id", "bk_scope_id")],
    "required_by": {"bk_scope_type": "bk_scope_id"},
}

POSITIVE_ID = re.compile(r"^[1-9][0-9]*$")
MAX_ID = 2 ** 63 - 1  # JOB's ids are Java longs
MAX_SECONDS = 7 * 24 * 3600.0
# Sent as a header: visible ASCII only, so that nothing can break or inject into the request's header block.
TENANT_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


HOST_RESULT_CHOICES = ("none", "failed", "all")
WAITING_USER_CHOICES = ("wait", "fail", "return", "confirm", "terminate")
MAX_LOG_BYTES = 1 << 40  # a bound, so that absurd values fail clearly
MAX_RETRY_FAILED_HOSTS = 100  # retry rounds per step: a bound, so that a typo cannot keep a failing job re-running for hours
MAX_HOST_RESULTS_LIMIT = 1000000  # max_host_results' own bound (0 means no limit)

# The options that control waiting; shared by every module that waits for a job (execute_job_plan, job_instance_info,
# operate_job_instance, operate_step_instance).
WAIT_ARGSPEC: dict[str, dict[str, Any]] = {
    "wait_timeout": {"type": "int", "default": 3600},
    "poll_interval": {"type": "float", "default": 1.0},
    "poll_max_interval": {"type": "float", "default": 10.0},
    "on_waiting_user": {"type": "str", "default": "wait", "choices": list(WAITING_USER_CHOICES)},
    "log_max_bytes": {"type": "int", "default": 4096},
    "log_total_max_bytes": {"type": "int", "default": 1048576},
    "retry_failed_hosts": {"type": "int", "default": 0},
    "show_progress": {"type": "bool", "default": True},
    "max_host_results": {"type": "int", "default": 2000},
}


def scope_params(params: dict[str, Any]) -> dict[str, Any]:
    """The scope fields of a request, in exactly the form the user chose."""
    if params.get("bk_biz_id") is not None:
        return {"bk_biz_id": positive_int(params["bk_biz_id"], "bk_biz_id")}
    scope_id = str(params["bk_scope_id"]).strip()
    if not POSITIVE_ID.match(scope_id) or int(scope_id) > MAX_ID:
        raise InputError(f"bk_scope_id must be a positive integer business or business-set id, got {scope_id!r}.")
    return {"bk_scope_type": params.get("bk_scope_type") or "biz", "bk_scope_id": scope_id}


def positive_int(value: Any, option: str) -> int:
    """A JOB id: a positive integer within JOB's 64-bit range; a string of digits is accepted."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise InputError(f"{option} must be a positive integer (at most {MAX_ID}), got {value!r}.")
    return value


def seconds(value: Any, option: str, *, maximum: float = MAX_SECONDS) -> float:
    """A positive, finite duration: nan, inf or a huge number would break socket timeouts and sleeps."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= maximum:
        raise InputError(f"{option} must be a positive number of seconds, at most {maximum:g}, got {value!r}.")
    return float(value)


class WaitOptions(NamedTuple):
    """How to wait for a job and what to report about it: WAIT_ARGSPEC's options plus ``host_results`` and
    ``terminate_on_timeout``, checked by ``wait_options``. Defaults are WAIT_ARGSPEC's (``host_results``: none)."""

    wait_timeout: float = 3600  # seconds, as given (an int from the argspec)
    poll_interval: float = 1.0  # seconds
    poll_max_interval: float = 10.0  # seconds
    on_waiting_user: str = "wait"  # WAITING_USER_CHOICES
    log_max_bytes: int = 4096  # per host log, 0: no logs
    log_total_max_bytes: int = 1048576  # all logs of one result
    host_results: str = "none"  # HOST_RESULT_CHOICES
    terminate_on_timeout: bool = False
    retry_failed_hosts: int = 0  # retry rounds (step operation 2) per failed step, 0..MAX_RETRY_FAILED_HOSTS
    show_progress: bool = True  # progress lines while waiting (read by _progress)
    max_host_results: int = 2000  # host entries per host list of the result (_report.JobInstance.report); 0: no limit


def wait_options(params: dict[str, Any]) -> WaitOptions:
    """The checked wait options of a task's ``params``; InputError naming the option otherwise. ``host_results`` and
    ``terminate_on_timeout`` are read when the module has them."""
    seconds(params["wait_timeout"], "wait_timeout")
    seconds(params["poll_interval"], "poll_interval", maximum=3600)
    seconds(params["poll_max_interval"], "poll_max_interval", maximum=3600)
    if params["poll_max_interval"] < params["poll_interval"]:
        raise InputError(
            f"poll_max_interval ({params['poll_max_interval']:g}) must not be smaller than poll_interval ({params['poll_interval']:g}).")
    for option in ("log_max_bytes", "log_total_max_bytes"):
        if not 0 <= params[option] <= MAX_LOG_BYTES:
            raise InputError(f"{option} must be 0 (no logs) or more, at most {MAX_LOG_BYTES}, got {params[option]}.")
    retries = params.get("retry_failed_hosts", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRY_FAILED_HOSTS:
        raise InputError(f"retry_failed_hosts must be a whole number of retries per failed step, from 0 (no retry) to "
                         f"{MAX_RETRY_FAILED_HOSTS}, got {retries!r}.")
    cap = params.get("max_host_results", 2000)
    if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= MAX_HOST_RESULTS_LIMIT:
        raise InputError(f"max_host_results must be 0 (no limit) or a number of hosts, at most {MAX_HOST_RESULTS_LIMIT}, got {cap!r}.")
    return WaitOptions(
        wait_timeout=params["wait_timeout"], poll_interval=params["poll_interval"], poll_max_interval=params["poll_max_interval"],
        on_waiting_user=params["on_waiting_user"], log_max_bytes=params["log_max_bytes"], log_total_max_bytes=params["log_total_max_bytes"],
        host_results=params.get("host_results") or "none", terminate_on_timeout=bool(params.get("terminate_on_timeout")),
        retry_failed_hosts=retries, show_progress=bool(params.get("show_progress", True)), max_host_results=cap)


def http_url(value: str, option: str) -> str:
    """Check that ``value`` is an http(s) URL with a host and no user info; return it without surrounding spaces and trailing slash.

    For roots that paths are joined to (bk_api_url, bk_job_web_url); callback_url is checked by callback_url().
    """
    parts = _split_url(value, option)
    if parts.username is not None or parts.password is not None:
        raise InputError(f"{option} must not carry a user name or password; pass credentials through their own options.")
    return value.strip().rstrip("/")


def _split_url(value: Any, option: str) -> Any:
    try:
        parts = urlsplit(value.strip())
        parts.port  # pylint: disable=pointless-statement  # raises ValueError on a bad port
    except (ValueError, AttributeError):
        raise InputError(f"{option} is not a valid URL.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InputError(f"{option} must be an http:// or https:// URL with a host, got {_shown_url(parts)!r}.")
    return parts


# The host forms java.net.URI parses as a server (CallbackUrlValidateServiceImpl.isValid needs URI.getHost()):
# RFC 2396 host names (letters, digits and inner "-" per label, the last label starting with a letter),
# IPv4 addresses, and [IPv6] literals. An "_" in a name, for example, leaves getHost() null and JOB refuses the URL.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
JAVA_HOST = re.compile(rf"^(?:(?:{_LABEL}\.)*[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?|[0-9]{{1,3}}(?:\.[0-9]{{1,3}}){{3}}|\[[0-9A-Fa-f:.]+(?:%[^\]]+)?\])$")
# Characters java.net.URI never takes unescaped (its "other" class admits non-ASCII ones) and malformed escapes.
JAVA_URI_ILLEGAL = re.compile(r'[\x00-\x20"<>\\^`{|}\x7f]|%(?![0-9A-Fa-f]{2})')


def callback_url(value: Any) -> str | None:
    """The callback_url to send: exactly as written, without surrounding spaces; None when empty (no callback).

    Refuses before anything is sent what JOB's callback URL check (bk-job ValidCallbackUrlValidator ->
    CallbackUrlValidateServiceImpl.isValid) refuses: a URL java.net.URI cannot parse, a scheme other than
    http(s), no host, and user info (recent JOB answers 1240003).
    """
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    parts = _split_url(text, "callback_url")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InputError("callback_url must not carry a user name or password (https://user:pass@host): JOB refuses a callback URL "
                         "with user info. Protect the receiver another way, for example with a secret token in the URL path.")
    if JAVA_URI_ILLEGAL.search(text):
        raise InputError(f"callback_url {_shown_url(parts)!r} has characters JOB cannot parse in a URL (spaces, quotes, <>, \\, ^, `, {{}}, |, "
                         "or a % not followed by two hex digits): percent-encode them.")
    host = parts.netloc.rsplit(":", 1)[0] if not parts.netloc.endswith("]") else parts.netloc
    if not JAVA_HOST.match(host):
        raise InputError(f"callback_url host {parts.hostname!r} is not a host name JOB can parse (letters, digits and '-' per label, "
                         "no '_'; or an IP address): JOB would refuse the URL.")
    return text


def url_passwords(params: dict[str, Any]) -> set[str]:
    """Passwords written into URL options (``https://user:pass@host``), to be masked like no_log values."""
    found = set()
    for option in ("bk_api_url", "bk_job_web_url", "callback_url"):
        value = params.get(option)
        if isinstance(value, str):
            try:
                password = urlsplit(value.strip()).password
            except ValueError:
                continue
            if password:
                found.add(password)
    return found


def _shown_url(parts: Any) -> str:
    """The URL without any user info, so that an error never echoes a password."""
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else f"{netloc}{parts.path}"


def api_root(params: dict[str, Any]) -> str:
    url = http_url(params["bk_api_url"], "bk_api_url")
    if params["bk_api_type"] == "esb" and "/api/c/compapi" in url:
        raise InputError(
            "bk_api_url is the ESB root (for example https://paas.example.com); leave out /api/c/compapi/..., "
            "the module adds the API path.")
    if params["bk_api_type"] == "apigw" and re.search(r"/api/v[34](/|$)", url):
        raise InputError(
            "bk_api_url is the bk-job API gateway stage root (for example https://bkapi.example.com/api/bk-job/prod); "
            "leave out /api/v3/..., the module adds the API path.")
    return url


APP_IDENTITY = ("bk_app_code", "bk_app_secret", "bk_username", "bk_token")


def credentials(params: dict[str, Any], given: set[str] | None = None, warn: Any = None) -> dict[str, str]:
    """The identity to send: an access token alone, or app code + secret + user name and/or login token.

    ``given``: the options set on the task (or its module_defaults), as opposed to those read from BK_*
    environment variables; None when unknown (all count as given). An option on the task beats a fallback
    from the environment across identity kinds: BK_ACCESS_TOKEN in the environment does not override
    bk_app_code/bk_app_secret/bk_username given on the task, and BK_TOKEN does not override bk_username given on the task
    (nor BK_USERNAME a bk_token on the task). ``warn`` is told which identity was used when both were present.
    """
    warn = warn or _no_warning
    token = _access_token(params, given, warn)
    if token:
        return {"access_token": token}
    missing = [name for name in ("bk_app_code", "bk_app_secret") if not params.get(name)]
    if not (params.get("bk_username") or params.get("bk_token")):
        missing.append("bk_username or bk_token")
    if missing:
        raise InputError(
            f"Missing credentials: {', '.join(missing)}. Give bk_access_token, or bk_app_code, bk_app_secret and "
            "bk_username or bk_token (as options, module_defaults or the BK_* environment variables).")
    identity = {"bk_app_code": params["bk_app_code"], "bk_app_secret": params["bk_app_secret"]}
    username, login_token = _user_and_login_token(params, given, warn)
    if username:
        identity["bk_username"] = username
    if login_token:
        identity["bk_token"] = login_token
    return identity


def _no_warning(_message: str) -> None:
    return None


def _on_task(given: set[str] | None, name: str) -> bool:
    """Whether option ``name`` was set on the task (not read from a BK_* variable); all count when ``given`` is None."""
    return given is None or name in given


def _access_token(params: dict[str, Any], given: set[str] | None, warn: Any) -> str | None:
    """bk_access_token, unless it came from the environment while the task sets an application identity option."""
    token = params.get("bk_access_token")
    app_given = [name for name in APP_IDENTITY if params.get(name)]
    if not (token and app_given):
        return token
    app_on_task = [name for name in app_given if _on_task(given, name)]
    if app_on_task and not _on_task(given, "bk_access_token"):
        warn(f"bk_access_token from the environment (BK_ACCESS_TOKEN) is ignored: the task sets {', '.join(app_on_task)}, "
             "so the application identity is used.")
        return None
    warn(f"Both bk_access_token and {', '.join(app_given)} are set; bk_access_token is used and the others are ignored.")
    return token


def _user_and_login_token(params: dict[str, Any], given: set[str] | None, warn: Any) -> tuple[str | None, str | None]:
    """(bk_username, bk_token) to send: both when both are on the task (or both from the environment), else the one
    on the task.

    ESB's user check (blueking-apigateway src/esb/esb/esb/bkauth/validators.py, UserAuthValidator.validate) takes
    the user of bk_token before it looks at bk_username, so JOB records the token's user.
    """
    username, login_token = params.get("bk_username"), params.get("bk_token")
    if not (username and login_token):
        return username, login_token
    user_on_task, token_on_task = _on_task(given, "bk_username"), _on_task(given, "bk_token")
    if user_on_task and not token_on_task:
        warn(f"bk_token from the environment (BK_TOKEN) is ignored: the task sets bk_username, so the job runs as {username}.")
        return username, None
    if token_on_task and not user_on_task:
        warn("bk_username from the environment (BK_USERNAME) is ignored: the task sets bk_token, and JOB records the token's user.")
        return None, login_token
    warn(f"Both bk_username ({username}) and bk_token are set: JOB takes the user from bk_token (the user check reads the "
         "login token before bk_username), so the job runs as the token's user, which need not be bk_username.")
    return username, login_token


def known_operator(identity: dict[str, str]) -> str | None:
    """The user JOB records as a job's operator for ``identity`` (as credentials() returns it), None when unknown.

    Only a bare ``bk_username`` names it: with ``bk_token`` or an access token the user is the token's, which the
    task cannot see (ESB's UserAuthValidator and the API gateway resolve the token first).
    """
    if identity.get("access_token") or identity.get("bk_token"):
        return None
    return identity.get("bk_username") or None


def client_options(params: dict[str, Any], given: set[str] | None = None, warn: Any = None) -> dict[str, Any]:
    """Keyword arguments for ``_client.Client`` from validated connection options; ``given`` and ``warn`` as in credentials()."""
    timeout = seconds(params["request_timeout"], "request_timeout", maximum=3600)
    if params.get("bk_job_web_url"):
        http_url(params["bk_job_web_url"], "bk_job_web_url")  # checked now: after a launch it would be too late
    ca_path = params.get("ca_path")
    if ca_path and not os.path.exists(ca_path):
        raise InputError(f"ca_path {ca_path!r} does not exist: give the path of a PEM CA bundle or a directory of CA certificates.")
    tenant = (params.get("bk_tenant_id") or "").strip()
    if tenant and not TENANT_ID.match(tenant):
        raise InputError("bk_tenant_id must be up to 128 visible ASCII characters (it is sent as the X-Bk-Tenant-Id header).")
    return {
        "api_type": params["bk_api_type"],
        "credentials": credentials(params, given, warn),
        "tenant_id": tenant or None,
        "validate_certs": params["validate_certs"],
        "ca_path": ca_path,
        "request_timeout": timeout,
    }


def job_instance_url(params: dict[str, Any], job_instance_id: int) -> str | None:
    """JOB's scope-independent deep link ``{web}/api_execute/{id}`` (bk-job frontend router)."""
    if not params.get("bk_job_web_url"):
        return None
    return f"{http_url(params['bk_job_web_url'], 'bk_job_web_url')}/api_execute/{job_instance_id}"
