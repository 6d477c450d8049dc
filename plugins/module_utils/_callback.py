# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""A listener for JOB's job-end callback, so that a wait ends when the job does instead of at the next poll.

JOB POSTs ``{"job_instance_id": ..., "status": ..., "step_instances": [...]}`` to the launch's ``callback_url``
once the job has ended: as ``application/json`` first, then the same text once more as
``application/x-www-form-urlencoded`` when the first answer was not HTTP 200 (bk-job
``src/backend/job-execute/service-job-execute/.../engine/listener/CallbackListener.java``: postJson, then postFormData).

A callback only wakes the wait up. What the task reports always comes from an authenticated
``get_job_instance_status`` call, so a forged callback can at most cause one early poll.
"""

from __future__ import annotations

import http.server
import ipaddress
import json
import re
import secrets
import socket
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ansible_collections.blueking.job.plugins.module_utils._args import callback_url as checked_callback_url
from ansible_collections.blueking.job.plugins.module_utils._errors import InputError

MAX_BODY = 1 << 20  # bytes; JOB's callback body is a few hundred
PATH_PREFIX = "/bk-job-callback/"
WILDCARDS = ("", "0.0.0.0", "::")


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` (port 0: any free port) as (host, port)."""
    text = value.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not re.fullmatch(r"[0-9]{1,5}", port_text) or int(port_text) > 65535:
        raise InputError(f"callback_listen must be host:port (port 0 to 65535; 0 picks a free one), got {value!r}.")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host not in WILDCARDS:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise InputError(f"callback_listen needs an IP address to listen on (or 0.0.0.0 for every address), got {host!r}.") from None
    return host, int(port_text)


def job_instance_id_of(body: bytes) -> int | None:
    """The job instance id in a callback body: JSON (either content type, as JOB sends) or key=value form."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = {key: values[-1] for key, values in parse_qs(text).items()}
    value = data.get("job_instance_id") if isinstance(data, dict) else None
    if isinstance(value, bool):
        return None
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


def listen_address(listen: str, callback_url: str | None) -> tuple[str, int]:
    """The (host, port) to listen on; InputError for anything about ``callback_listen`` that can be found out before
    anything is sent or bound. ``callback_url``: the checked one (``_args.callback_url``) or None."""
    host, port = parse_listen(listen)
    if callback_url is None and host in WILDCARDS:
        raise InputError(f"callback_listen {listen!r} listens on every address, so the module cannot tell which one JOB "
                         "reaches: set callback_url to the URL JOB should call, e.g. http://<this host's address>:<port>/.")
    return host, port


class CallbackListener:
    """An HTTP listener on ``listen`` for the duration of one wait; ``url`` is what the launch sends as callback_url.

    ``url`` is the given ``callback_url`` as ``_args.callback_url`` checks it (without surrounding spaces: how JOB
    reaches this listener, e.g. through NAT or a DNS name) or,
    without one, ``http://<listen address>:<port>/bk-job-callback/<random token>``. Only POSTs to that URL's path
    count. Wake-ups come at most once per ``min_gap`` seconds, so a flood of forged callbacks cannot turn the wait
    into a stream of polls.
    """

    def __init__(self, listen: str, callback_url: str | None = None, *, min_gap: float = 1.0) -> None:
        callback_url = checked_callback_url(callback_url)  # the path served is the one JOB is sent, never the raw option
        host, port = listen_address(listen, callback_url)
        self.expected_id: int | None = None
        self.seen: set[int] = set()
        self.min_gap = min_gap
        self._woken = threading.Event()
        self._last_wake = float("-inf")
        self._lock = threading.Lock()
        self.path = (urlsplit(callback_url).path or "/") if callback_url else PATH_PREFIX + secrets.token_urlsafe(16)
        try:
            self.server = _Server((host or "0.0.0.0", port), _Handler, self)
        except OSError as err:
            raise InputError(f"callback_listen {listen!r}: cannot listen there ({err.strerror or err}). Nothing was launched.") from None
        bound_port = self.server.server_address[1]
        shown_host = f"[{host}]" if ":" in host else host
        self.url = callback_url or f"http://{shown_host}:{bound_port}{self.path}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="bk-job-callback", daemon=True)
        self._thread.start()

    def expect(self, job_instance_id: int) -> None:
        """Wake up for this job (also when its callback came before the launch's answer)."""
        with self._lock:
            self.expected_id = job_instance_id
            if job_instance_id in self.seen:
                self._woken.set()

    def received(self, job_instance_id: int) -> None:
        with self._lock:
            self.seen.add(job_instance_id)
            if job_instance_id == self.expected_id:
                self._woken.set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; true when this job's callback ended the sleep early.

        A callback within ``min_gap`` of the last wake-up is held back until the gap has passed, not dropped.
        """
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._woken.wait(remaining):
                gap_end = self._last_wake + self.min_gap
                if time.monotonic() < gap_end:
                    if gap_end >= deadline:
                        return False  # the scheduled poll comes first; the wake-up stays pending for the next wait
                    time.sleep(max(0.0, gap_end - time.monotonic()))
                self._woken.clear()
                self._last_wake = time.monotonic()
                return True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=2)

    def __enter__(self) -> CallbackListener:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, listener: CallbackListener) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.listener = listener
        super().__init__(address, handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # seconds for a client to send its request

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        if urlsplit(self.path).path != self.server.listener.path:
            self._answer(404, "unknown path")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._answer(413, "body too large")
            return
        job_instance_id = job_instance_id_of(self.rfile.read(length))
        if job_instance_id is None:
            self._answer(400, "no job_instance_id")
            return
        self.server.listener.received(job_instance_id)
        self._answer(200, "ok")

    def _answer(self, status: int, text: str) -> None:
        body = text.encode("ascii")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # pylint: disable=redefined-builtin
        """Silent: the module's output is its JSON result."""
