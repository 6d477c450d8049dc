# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Start and drive the JOB emulator (bkjob_emulator.py) from tests; standard library only.

    with Emulator().start() as job:
        ...  # point the module at job.url (ESB) or job.apigw_url (gateway stage root)
        assert job.requests("execute_job_plan")[0]["body"]["job_plan_id"] == 1000
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

EMULATOR_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bkjob_emulator.py")
START_TIMEOUT = 60.0  # seconds; generous: CI starts dozens at once on 2 loaded cores
# The test suites' BlueKing: the emulator itself exempts no app from user verification (as BlueKing ships), the
# tests exempt the demo app explicitly so that bk_username alone works for it.  A dict config given to Emulator()
# is laid over this one (top-level keys); a config file path is used as it is.
TEST_CONFIG = {"skip_user_auth_apps": ["bk-demo-app"]}
# Each emulator's folder (port file, config, stderr log) is made under one folder per process that imports this
# module, and that folder goes when the process exits. ansible-test units runs each test in a forked child that ends
# with os._exit: its emulators stop by --parent-pid, but neither their stop() nor an atexit handler of the child runs,
# so the parent (which imported this module before forking) removes what the children left. A test process killed
# by a signal (timeout's SIGTERM, SIGKILL) runs no atexit handler either: its folder is named after its pid, and the
# next process that imports this module removes it once that pid is gone.
_ROOT_PREFIX = "bkjob-emulators-"
_ROOT_OWNER = os.getpid()
_ROOT = tempfile.mkdtemp(prefix=f"{_ROOT_PREFIX}{_ROOT_OWNER}-")


def _remove_root() -> None:
    if os.getpid() == _ROOT_OWNER:
        shutil.rmtree(_ROOT, ignore_errors=True)


def _remove_roots_of_killed_runs() -> None:
    temp = os.path.dirname(_ROOT)
    for name in os.listdir(temp):
        owner = name[len(_ROOT_PREFIX):].split("-", 1)[0] if name.startswith(_ROOT_PREFIX) else ""
        if not owner.isdigit() or int(owner) == _ROOT_OWNER:
            continue
        try:
            os.kill(int(owner), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(temp, name), ignore_errors=True)
        except OSError:  # alive, another user's
            continue


atexit.register(_remove_root)
_remove_roots_of_killed_runs()


def _as_int(value):
    """A request field as sent: an int when it is a whole number (JSON number or numeric text), else as it is."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


class EmulatorError(Exception):
    """The emulator did not start, or an admin call failed."""


class Emulator:
    """A bkjob_emulator.py process on 127.0.0.1 with a free port.

    config: a dict laid over TEST_CONFIG (written to a temporary JSON file), or the path of a JSON file, see --config.
    """

    def __init__(self, tls_cert=None, tls_key=None, config=None):
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.config = dict(TEST_CONFIG, **(config or {})) if config is None or isinstance(config, dict) else config
        self.port = None
        self.url = None
        self.apigw_url = None
        self._process = None
        self._workdir = None
        self._log = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "Emulator":
        if self._process is not None:
            return self
        os.makedirs(_ROOT, exist_ok=True)  # a test may have removed the system temp folder's content
        self._workdir = tempfile.mkdtemp(prefix="bkjob-emulator-", dir=_ROOT)
        port_file = os.path.join(self._workdir, "port")
        command = [sys.executable, EMULATOR_SCRIPT, "--port", "0", "--port-file", port_file, "--quiet", "--parent-pid", str(os.getpid())]
        if self.tls_cert:
            command += ["--tls-cert", self.tls_cert, "--tls-key", self.tls_key]
        if isinstance(self.config, dict):
            config_path = os.path.join(self._workdir, "config.json")
            with open(config_path, "w", encoding="utf-8") as handle:
                json.dump(self.config, handle)
            command += ["--config", config_path]
        elif self.config:
            command += ["--config", str(self.config)]
        self._log = open(os.path.join(self._workdir, "stderr.log"), "w+b")  # pylint: disable=consider-using-with
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=self._log)  # pylint: disable=consider-using-with
        deadline = time.monotonic() + START_TIMEOUT
        while not os.path.exists(port_file):
            if self._process.poll() is not None or time.monotonic() > deadline:
                output = self._stderr()
                self.stop()
                raise EmulatorError(f"the JOB emulator did not start: {output.strip() or 'no output'}")
            time.sleep(0.02)
        with open(port_file, encoding="utf-8") as handle:
            self.port = int(handle.read().strip())
        scheme = "https" if self.tls_cert else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.apigw_url = self.url + "/api/bk-job/prod"
        return self

    def stop(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        self.stop()

    def _stderr(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    # -- admin API -----------------------------------------------------------

    def admin(self, method, path, body=None) -> dict:
        """Call an admin route (/_emulator/...) and return its JSON answer."""
        if self.url is None:
            raise EmulatorError("the emulator is not started")
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        context = ssl._create_unverified_context() if self.url.startswith("https") else None  # pylint: disable=protected-access
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            raise EmulatorError(f"{method} {path}: HTTP {err.code}: {err.read().decode('utf-8', 'replace')}") from err

    def requests(self, api=None) -> list:
        """Recorded non-admin requests, oldest first; api filters on the API name."""
        query = "?" + urllib.parse.urlencode({"api": api}) if api else ""
        return self.admin("GET", "/_emulator/requests" + query)["requests"]

    def operations(self, api="operate_step_instance") -> list:
        """The operate_step_instance (or, with api="operate_job_instance", operate_job_instance) requests so far, oldest
        first, as {"job_instance_id", "step_instance_id" (None for a job operation), "operation_code", "surface",
        "response_code"}: ids and code as sent (numbers as ints), from the JSON body or the query string."""
        found = []
        for request in self.requests(api):
            fields = dict(request.get("query") or {})
            if isinstance(request.get("body"), dict):
                fields.update(request["body"])
            found.append({key: _as_int(fields.get(key)) for key in ("job_instance_id", "step_instance_id", "operation_code")})
            found[-1].update(surface=request.get("surface"), response_code=request.get("response_code"))
        return found

    def reset(self) -> None:
        """Forget requests, faults, job instances and the next-launch behaviour (seed data stays)."""
        self.admin("POST", "/_emulator/reset")

    def fault(self, api, kind, count=1, **params) -> None:
        """Make the next `count` calls of `api` ("*" for any) fail as `kind`; -1 means forever."""
        self.admin("POST", "/_emulator/faults", dict(params, api=api, kind=kind, count=count))

    def instances(self) -> list:
        """Job instances created so far (variables as received, operator, scope, callback_url, start_task)."""
        return self.admin("GET", "/_emulator/instances")["instances"]

    def next_launch(self, **behaviour) -> None:
        """Behaviour of the next launched job, e.g. next_launch(step_seconds=1, final_status=4)."""
        self.admin("POST", "/_emulator/next_launch", {"behaviour": behaviour})

    def confirm(self, job_instance_id, action="continue") -> dict:
        """Answer the confirm step a job waits on (status 7): "continue" runs on, "terminate" ends it with 13."""
        return self.admin("POST", f"/_emulator/instances/{int(job_instance_id)}/confirm", {"action": action})

    def terminate(self, job_instance_id, status=None) -> dict:
        """Terminate a job from outside (a person in JOB's web UI): 10 then 11, or with status=8 straight to 8."""
        return self.admin("POST", f"/_emulator/instances/{int(job_instance_id)}/terminate", {"status": status})

    def callbacks(self) -> list:
        """Callback attempts so far: job_instance_id, url, attempt, content_type, body, status, error (or skipped)."""
        return self.admin("GET", "/_emulator/callbacks")["callbacks"]
