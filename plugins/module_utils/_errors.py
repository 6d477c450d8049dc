# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The one error hierarchy of blueking.job.

Every failure the client can meet is one of these classes. Each carries what an operator needs
(stage, HTTP status, JOB/ESB/gateway code, message, request id, IAM permission object) and renders
itself for ``fail_json``; the module's ``main()`` has a single ``except BKJobError``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

# Where in the task's life a failure happened; the ``error.stage`` result field.
STAGES = ("validate", "auth", "lookup", "launch", "wait", "logs", "terminate", "operate")
_UNSET = object()  # reached_job not given: the class's own value stands


class BKJobError(Exception):
    """Base class: a failure with a one-sentence ``msg`` and the ``error`` result object (docs/docsite/rst/guide_troubleshooting.rst).

    Layers above the one that raised add to a failure in two ways only: ``keep(known)`` (what the task already knows,
    e.g. the job instance id, goes into the failed result) and ``reword(...)`` (the message says more, or the stage
    is corrected). ``keeping(known)`` is ``keep`` for every BKJobError leaving a ``with`` block.
    """

    kind = "error"
    # Whether a read-only call may be sent again after this failure.
    transient = False
    # Whether the request reached JOB: True when JOB (or ESB/the gateway on its behalf) answered it for certain,
    # False when it provably never got past the transport, ESB or the gateway (so even a launch may be sent
    # again), None when nobody can tell (read timeout, reset after sending, 5xx, unreadable answer, ESB's wrapped
    # JOB timeout 1306201/1306203, JOB's own 1240001/1240002): a launch answered so is unclear.
    reached_job: bool | None = True

    def __init__(
        self,
        msg: str,
        *,
        stage: str = "validate",
        api: str | None = None,
        http_status: int | None = None,
        code: int | str | None = None,
        message: str | None = None,
        request_id: str | None = None,
        job_request_id: str | None = None,
        permission: dict | None = None,
        retry_after: float | None = None,
        reached_job: Any = _UNSET,
    ) -> None:
        super().__init__(msg)
        if reached_job is not _UNSET:
            self.reached_job = reached_job
        self.msg = msg
        self.stage = stage
        self.api = api
        self.http_status = http_status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.job_request_id = job_request_id
        self.permission = permission
        self.retry_after = retry_after
        # What the task already knows when it fails (above all the job instance id); kept in the result.
        self.result: dict[str, Any] = {}

    def keep(self, known: dict[str, Any]) -> BKJobError:
        """Add ``known`` (result keys: job_instance_id, its url, a report ...) to the failed result; later keeps win; self."""
        self.result.update(known)
        return self

    def reword(self, msg: str | None = None, *, prefix: str = "", suffix: str = "", stage: str | None = None) -> BKJobError:
        """Reword the one-sentence ``msg``: ``msg`` replaces it, ``prefix`` goes before it as written, ``suffix`` after it
        with a space; ``stage`` (one of STAGES) corrects where the task was. The ``error`` object's JOB fields stay; self."""
        text = self.msg if msg is None else msg
        self.msg = f"{prefix}{text} {suffix}" if suffix else f"{prefix}{text}"
        if stage is not None:
            self.stage = stage
        return self

    def error_object(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "stage": self.stage,
            "api": self.api,
            "http_status": self.http_status,
            "code": self.code,
            "message": self.message,
            "request_id": self.request_id,
            "job_request_id": self.job_request_id,
            "permission": self.permission,
        }

    def to_fail_json(self) -> dict[str, Any]:
        return {**self.result, "msg": self.msg, "error": self.error_object()}


class InputError(BKJobError):
    """Task arguments that cannot be sent; raised before any request."""

    kind = "invalid_input"


class AuthError(BKJobError):
    """ESB 1306xxx auth failures, gateway 400/1640001 and 403/16403xx, JOB gateway 401."""

    kind = "auth"

    def __init__(self, msg: str, **kwargs: Any) -> None:
        kwargs["stage"] = "auth"
        super().__init__(msg, **kwargs)


class PermissionDeniedError(BKJobError):
    """JOB's 9900403: the user lacks an IAM permission; ``permission`` says which."""

    kind = "permission"


class APIError(BKJobError):
    """HTTP 200 with ``result: false``: JOB refused the request (codes 124xxxx and friends)."""

    kind = "api"


class GatewayError(BKJobError):
    """A non-2xx answer: from the API gateway (``X-Bkapi-Error-Code``), a proxy, or JOB itself."""

    kind = "http"

    def __init__(self, msg: str, **kwargs: Any) -> None:
        super().__init__(msg, **kwargs)
        status = self.http_status or 0
        self.transient = status >= 500
        if status >= 500 and "reached_job" not in kwargs:
            self.reached_job = None


class RateLimitError(GatewayError):
    """HTTP 429 (gateway 16429xx) or ESB 1306429; ``retry_after`` from ``X-Bkapi-RateLimit-Reset``."""

    kind = "rate_limit"
    # The gateway (or ESB) refuses before it forwards anything to JOB.
    reached_job = False

    def __init__(self, msg: str, **kwargs: Any) -> None:
        kwargs.setdefault("reached_job", False)
        super().__init__(msg, **kwargs)
        self.transient = True


class InvalidResponseError(BKJobError):
    """An answer that is not a JOB envelope: HTML error pages, plain text, truncated JSON.

    Transient: a proxy glitch answers garbage with HTTP 200 too, and a read-only call is safe to send again
    (the launch never is; see MUTATING_APIS).
    """

    kind = "invalid_response"
    transient = True
    reached_job = None


class TransportError(BKJobError):
    """No usable HTTP answer: DNS failure, refused or dropped connection, timeout, TLS failure.

    ``may_have_reached_server`` is false only when the request certainly never left (DNS,
    refused, connect timeout, TLS handshake); a launch that may have reached JOB is never resent.
    """

    kind = "transport"
    transient = True

    def __init__(self, msg: str, *, may_have_reached_server: bool, **kwargs: Any) -> None:
        kwargs.setdefault("reached_job", None if may_have_reached_server else False)
        super().__init__(msg, **kwargs)
        self.may_have_reached_server = may_have_reached_server


class TLSError(TransportError):
    """Certificate verification or handshake failure; retrying does not help."""

    kind = "tls"
    transient = False


class RequestTimeoutError(TransportError):
    """No answer within ``request_timeout``."""

    kind = "timeout"


class JobFailedError(BKJobError):
    """The job itself ended badly (or timed out, or waits for a person under on_waiting_user: fail).

    ``code`` is JOB's job status (or ``timeout``) and ``message`` its name; ``result`` holds the full report.
    """

    kind = "job_failed"


@contextmanager
def keeping(known: dict[str, Any]) -> Iterator[None]:
    """Every BKJobError leaving the block keeps ``known`` (see BKJobError.keep); ``known`` is read when the error passes,
    so keys added to it inside the block are kept too."""
    try:
        yield
    except BKJobError as err:
        err.keep(known)
        raise
