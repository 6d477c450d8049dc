# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The AWX / AAP path: jobs run by ansible-runner with the credential type's injected environment.

AWX runs a job template through ansible-runner and hands the playbook its credentials as
environment variables rendered from the credential type's ``injectors``. These tests do the same:
they read ``extensions/awx/credential_type.yml``, render its injectors from test inputs the way
AWX does, and run a playbook that carries no credentials through ``ansible_runner.run`` against
the JOB emulator. ``playbooks/create_credential_type.yml`` is run against a stand-in for the
AWX API, with the real awx.awx collection when the harness' tools venv provides it.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from conftest import ACCESS_TOKEN, APP_CODE, APP_SECRET, REPO, USERNAME  # pylint: disable=import-error
from support import PLAN_DEPLOY_APP, isolated_ansible_env  # pylint: disable=import-error

ansible_runner = pytest.importorskip("ansible_runner")

CREDENTIAL_TYPE_FILE = REPO / "extensions" / "awx" / "credential_type.yml"
WEB_URL = "https://job.example.com"

# AWX refuses these names in a custom credential type's env injector (awx_plugins' injectors
# ENV_BLOCKLIST and CredentialTypeInjectorField: nothing that starts with ANSIBLE_).
AWX_ENV_BLOCKLIST = frozenset((
    "VIRTUAL_ENV", "PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID", "INVENTORY_UPDATE_ID",
    "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES", "CALLBACK_QUEUE", "CALLBACK_CONNECTION",
    "CACHE", "JOB_CALLBACK_DEBUG", "INVENTORY_HOSTVARS", "AWX_HOST", "PROJECT_REVISION", "SUPERVISOR_CONFIG_PATH",
))
# Connection options that stay out of the credential: a CA bundle is a file of the execution
# environment, and a timeout belongs to the playbook.
NOT_IN_CREDENTIAL = {"BK_CA_PATH", "BK_REQUEST_TIMEOUT"}

LAUNCH_PLAYBOOK = [{
    "name": "Deploy through BlueKing JOB (the AWX job template's playbook)",
    "hosts": "localhost",
    "gather_facts": False,
    "module_defaults": {"group/blueking.job.bk_job": {"bk_biz_id": 2}},
    "tasks": [
        {"name": "Launch plan 1000", "blueking.job.execute_job_plan": {
            "job_plan_id": PLAN_DEPLOY_APP,
            "global_vars": {"app_version": "2.4.1", "target_hosts": {"host_id_list": [101, 102]}},
        }, "register": "launch"},
        {"name": "Show the job", "ansible.builtin.debug": {
            "msg": "job {{ launch.job_instance_id }} {{ launch.status_name }} {{ launch.job_instance_url | default('') }}"}},
    ],
}]
EXPECTED_VARS = [{"name": "app_version", "value": "2.4.1"}, {"name": "target_hosts", "server": {"host_id_list": [101, 102]}}]


def load_credential_type() -> dict:
    return yaml.safe_load(CREDENTIAL_TYPE_FILE.read_text(encoding="utf-8"))


def render_env(credential_type: dict, inputs: dict) -> dict:
    """The environment AWX injects for a credential with ``inputs`` (awx_plugins ``inject_credential``).

    Inputs that are empty are left out of the template namespace (they render as ``""``), a
    boolean field without an input is ``False``, and every env template is rendered in an
    immutable Jinja2 sandbox; blocked names are skipped.
    """
    namespace: dict = {}
    for name, value in inputs.items():
        if isinstance(value, bool) or value:
            namespace[name] = value
    for field in credential_type["inputs"]["fields"]:
        if field["type"] == "boolean" and field["id"] not in inputs:
            namespace[field["id"]] = False
    sandbox = ImmutableSandboxedEnvironment()
    return {name: sandbox.from_string(template).render(**namespace)
            for name, template in credential_type["injectors"]["env"].items() if name not in AWX_ENV_BLOCKLIST}


def module_env_fallbacks(collections: Path) -> set:
    """Every environment variable the modules' connection options fall back to."""
    sys.path.insert(0, str(collections))
    try:
        from ansible_collections.blueking.job.plugins.module_utils._args import CONNECTION_ARGSPEC  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.remove(str(collections))
    names = set()
    for spec in CONNECTION_ARGSPEC.values():
        if "fallback" in spec:
            names.update(spec["fallback"][1])
    return names


def clean_environ(monkeypatch) -> None:
    """ansible-runner starts from os.environ: drop the caller's BK_* and ANSIBLE_* settings."""
    for name in list(os.environ):
        if name.startswith(("BK_", "ANSIBLE_", "CONTROLLER_", "TOWER_")):
            monkeypatch.delenv(name)


def base_envvars(tmp_path: Path, collections_path: str) -> dict:
    return {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            **isolated_ansible_env(tmp_path, collections_path)}


def private_data_dir(tmp_path: Path, playbook: list) -> Path:
    """An ansible-runner private data dir: project/<playbook>, inventory with a local localhost."""
    root = tmp_path / "runner"
    (root / "project").mkdir(parents=True)
    (root / "inventory").mkdir()
    (root / "project" / "site.yml").write_text(json.dumps(playbook, indent=2), encoding="utf-8")
    (root / "inventory" / "hosts").write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n", encoding="utf-8")
    return root


def run_job(root: Path, envvars: dict, *, playbook: str = "site.yml", verbosity: int = 4):
    # suppress_env_files, as AWX does: the environment is not written to env/envvars.
    return ansible_runner.run(private_data_dir=str(root), playbook=playbook, envvars=envvars, verbosity=verbosity,
                              quiet=True, suppress_env_files=True, ident="job")


def task_result(runner, task: str) -> dict:
    [event] = [event for event in runner.events
               if event.get("event") in ("runner_on_ok", "runner_on_failed") and event["event_data"].get("task") == task]
    return event["event_data"]["res"]


def assert_no_secret_in_artifacts(root: Path, runner, secrets: tuple) -> None:
    """No secret in stdout, in any job event, or in any other file the run left behind.

    ``artifacts/<ident>/command`` is ansible-runner's record of the process it started, environment
    included: that environment is the injected credential itself (AWX keeps it in the job's
    encrypted environment and masks it in the UI), so it is the one file left out.
    """
    assert not (root / "env" / "envvars").exists()
    stdout = runner.stdout.read()
    events = json.dumps(list(runner.events))
    checked = 0
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.relative_to(root).parts[-1] != "command":
            text = path.read_text(encoding="utf-8", errors="replace")
            for secret in secrets:
                assert secret not in text, f"secret {secret[:3]}... in {path.relative_to(root)}"
            checked += 1
    job_events = list((root / "artifacts" / "job" / "job_events").glob("*.json"))
    assert job_events and checked > len(job_events)
    for secret in secrets:
        assert secret not in stdout and secret not in events, f"secret {secret[:3]}... in the job output"


# ---------------------------------------------------------------------------------------------------
# The credential type file itself.

def test_credential_type_is_a_valid_awx_cloud_type(collections):
    credential_type = load_credential_type()
    assert credential_type["kind"] == "cloud"
    assert credential_type["name"] and credential_type["description"]
    fields = credential_type["inputs"]["fields"]
    ids = [field["id"] for field in fields]
    assert len(ids) == len(set(ids)), "field ids must be unique"
    for field in fields:
        assert set(field) <= {"id", "label", "type", "secret", "multiline", "choices", "default", "help_text", "format"}, field
        assert field["label"] and field["type"] in ("string", "boolean"), field
        if "choices" in field:
            assert field["type"] == "string" and field.get("default", field["choices"][0]) in field["choices"], field
    secret = {field["id"] for field in fields if field.get("secret")}
    assert secret == {"bk_app_secret", "bk_token", "bk_access_token"}
    assert set(credential_type["inputs"]["required"]) <= set(ids)
    assert set(credential_type["injectors"]) == {"env"}, "only env injectors: the modules read BK_* variables"

    env = credential_type["injectors"]["env"]
    assert not [name for name in env if name.startswith("ANSIBLE_") or name in AWX_ENV_BLOCKLIST]
    # Exactly the variables the modules fall back to, less the two that stay out of the credential.
    assert set(env) == module_env_fallbacks(collections) - NOT_IN_CREDENTIAL
    assert NOT_IN_CREDENTIAL <= module_env_fallbacks(collections)
    # Every template only names fields of this type (a typo would render as an empty string).
    namespace = {field["id"]: "x" for field in fields}
    for template in env.values():
        ImmutableSandboxedEnvironment(undefined=StrictUndefined).from_string(template).render(**namespace)


def test_awx_guide_shows_the_credential_type_as_shipped():
    # The guide's "paste into the UI" blocks must be the file's inputs and injectors, to the letter.
    guide = (REPO / "docs" / "docsite" / "rst" / "guide_awx.rst").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(re.sub(r"^  ", "", block, flags=re.M))
              for block in re.findall(r"^\.\. code-block:: yaml\n\n((?:  .*\n|\n)+)", guide, flags=re.M)]
    credential_type = load_credential_type()
    assert credential_type["inputs"] in blocks
    assert credential_type["injectors"] in blocks


def test_injectors_render_safe_defaults_for_unset_inputs():
    env = render_env(load_credential_type(), {"bk_api_url": "https://paas.example.com", "bk_app_code": APP_CODE,
                                              "bk_app_secret": APP_SECRET, "bk_username": USERNAME})
    assert env["BK_API_TYPE"] == "esb"
    assert env["BK_VALIDATE_CERTS"] == "true", "an unset box must not turn certificate checks off"
    assert env["BK_TOKEN"] == env["BK_ACCESS_TOKEN"] == env["BK_TENANT_ID"] == ""
    insecure = render_env(load_credential_type(), {"bk_api_url": "https://paas.example.com", "skip_tls_verify": True})
    assert insecure["BK_VALIDATE_CERTS"] == "false"


# ---------------------------------------------------------------------------------------------------
# A job template run: ansible-runner, injected environment, no credentials in the playbook.

@pytest.mark.parametrize("surface", ["esb", "apigw"])
def test_awx_job_launches_with_the_injected_credential(job, collections, tmp_path, monkeypatch, surface):
    clean_environ(monkeypatch)
    if surface == "esb":
        inputs = {"bk_api_url": job.url, "bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": USERNAME,
                  "bk_job_web_url": WEB_URL}
        secrets = (APP_SECRET,)
    else:
        inputs = {"bk_api_url": job.apigw_url, "bk_api_type": "apigw", "bk_access_token": ACCESS_TOKEN,
                  "bk_tenant_id": "tenant-a", "bk_job_web_url": WEB_URL}
        secrets = (ACCESS_TOKEN,)
    injected = render_env(load_credential_type(), inputs)
    root = private_data_dir(tmp_path, LAUNCH_PLAYBOOK)
    playbook_text = (root / "project" / "site.yml").read_text(encoding="utf-8")
    assert not [value for value in (job.url, APP_CODE, USERNAME) + secrets if value in playbook_text]

    runner = run_job(root, {**base_envvars(tmp_path, str(collections)), **injected})

    assert runner.status == "successful" and runner.rc == 0, runner.stdout.read()[-4000:]
    result = task_result(runner, "Launch plan 1000")
    assert result["changed"] is True and result["status_name"] == "success"
    assert result["job_instance_url"] == f"{WEB_URL}/api_execute/{result['job_instance_id']}"
    [sent] = job.requests("execute_job_plan")
    headers = {name.lower(): value for name, value in sent["headers"].items()}
    if surface == "esb":
        assert sent["path"] == "/api/c/compapi/v2/jobv3/execute_job_plan/"
        assert sent["body"] == {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": USERNAME,
                                "bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, "global_var_list": EXPECTED_VARS, "start_task": False}
        assert "x-bk-tenant-id" not in headers, "an empty tenant input sends no tenant header"
    else:
        assert sent["path"] == "/api/bk-job/prod/api/v3/execute_job_plan"
        assert json.loads(headers["x-bkapi-authorization"]) == {"access_token": ACCESS_TOKEN}
        assert headers["x-bk-tenant-id"] == "tenant-a"
        assert sent["body"] == {"bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, "global_var_list": EXPECTED_VARS, "start_task": False}
    [instance] = job.instances()
    assert instance["job_instance_id"] == result["job_instance_id"]
    assert_no_secret_in_artifacts(root, runner, secrets)


def test_awx_job_without_identity_fails_cleanly_before_any_request(job, collections, tmp_path, monkeypatch):
    # A credential with only the URL: the module names what is missing and sends nothing.
    clean_environ(monkeypatch)
    injected = render_env(load_credential_type(), {"bk_api_url": job.url})
    runner = run_job(private_data_dir(tmp_path, LAUNCH_PLAYBOOK), {**base_envvars(tmp_path, str(collections)), **injected})
    assert runner.status == "failed"
    result = task_result(runner, "Launch plan 1000")
    assert "Missing credentials" in result["msg"] and "bk_app_secret" in result["msg"]
    assert "Traceback" not in runner.stdout.read()
    assert job.requests() == []


# ---------------------------------------------------------------------------------------------------
# playbooks/create_credential_type.yml against a stand-in for the AWX API.

AWX_TOKEN = "awx-oauth-token-3c9e"


class FakeAWX(ThreadingHTTPServer):
    """The slice of AWX's /api/v2/credential_types/ that awx.awx.credential_type uses."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), FakeAWXHandler)
        self.credential_types: dict[int, dict] = {}
        self.requests: list[dict] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class FakeAWXHandler(BaseHTTPRequestHandler):
    server: FakeAWX

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-API-Product-Name", "AWX")
        self.send_header("X-API-Product-Version", "24.6.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append({"method": self.command, "path": parts.path, "query": parse_qs(parts.query), "body": body})
        if self.headers.get("Authorization") != f"Bearer {AWX_TOKEN}":
            self._answer(401, {"detail": "Authentication credentials were not provided."})
            return
        types = self.server.credential_types
        if parts.path == "/api/v2/credential_types/" and self.command == "GET":
            names = parse_qs(parts.query).get("name", [])
            found = [item for item in types.values() if not names or item["name"] in names]
            self._answer(200, {"count": len(found), "results": found})
        elif parts.path == "/api/v2/credential_types/" and self.command == "POST":
            new_id = len(types) + 1
            types[new_id] = {**body, "id": new_id, "type": "credential_type", "url": f"/api/v2/credential_types/{new_id}/"}
            self._answer(201, types[new_id])
        elif self.command == "PATCH" and parts.path.startswith("/api/v2/credential_types/"):
            item = types[int(parts.path.rstrip("/").rsplit("/", 1)[1])]
            item.update(body)
            self._answer(200, item)
        else:
            self._answer(404, {"detail": "Not found."})

    do_GET = do_POST = do_PATCH = _handle


def awx_collections_path() -> Path | None:
    """Where the harness' tools venv unpacked awx.awx (scripts/lib.sh bkjob_tools_venv), if it did."""
    candidates = [os.environ.get("BKJOB_AWX_COLLECTIONS_PATH")]
    for root in (os.environ.get("BKJOB_ROOT"), str(REPO)):
        if root:
            candidates.append(str(Path(root) / ".venvs" / "tools" / "collections"))
    for candidate in candidates:
        if candidate and (Path(candidate) / "ansible_collections" / "awx" / "awx" / "MANIFEST.json").is_file():
            return Path(candidate)
    return None


@pytest.fixture()
def fake_awx():
    server = FakeAWX()
    server.thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_create_credential_type_playbook_sends_the_file_unrendered(collections, tmp_path, monkeypatch, fake_awx):
    awx_path = awx_collections_path()
    if awx_path is None:
        pytest.skip("the awx.awx collection is not available: the harness' tools venv provides it "
                    "(scripts/test.sh with the release step, or BKJOB_AWX_COLLECTIONS_PATH)")
    clean_environ(monkeypatch)
    root = tmp_path / "runner"
    (root / "inventory").mkdir(parents=True)
    (root / "inventory" / "hosts").write_text(f"localhost ansible_python_interpreter={sys.executable}\n", encoding="utf-8")
    envvars = {**base_envvars(tmp_path, f"{collections}{os.pathsep}{awx_path}"),
               "CONTROLLER_HOST": fake_awx.url, "CONTROLLER_OAUTH_TOKEN": AWX_TOKEN}

    first = run_job(root, envvars, playbook="blueking.job.create_credential_type", verbosity=1)
    assert first.status == "successful", first.stdout.read()[-4000:]
    assert task_result(first, "Create or update the credential type")["changed"] is True
    credential_type = load_credential_type()
    [posted] = [request["body"] for request in fake_awx.requests if request["method"] == "POST"]
    assert posted == {"name": credential_type["name"], "description": credential_type["description"],
                      "kind": "cloud", "managed": False,
                      "inputs": credential_type["inputs"], "injectors": credential_type["injectors"]}
    assert posted["injectors"]["env"]["BK_API_URL"] == "{{ bk_api_url }}", "templates must reach AWX unrendered"
    assert_no_secret_in_artifacts(root, first, (AWX_TOKEN,))

    # A second run finds the type as it is and changes nothing.
    (root / "artifacts").rename(root / "artifacts-first")
    second = run_job(root, envvars, playbook="blueking.job.create_credential_type", verbosity=1)
    assert second.status == "successful", second.stdout.read()[-4000:]
    assert task_result(second, "Create or update the credential type")["changed"] is False
    assert [request["method"] for request in fake_awx.requests].count("POST") == 1
    assert "PATCH" not in [request["method"] for request in fake_awx.requests]


def test_awx_job_events_carry_the_progress_lines(job, collections, tmp_path, monkeypatch):
    """At normal verbosity, the wait's progress lines are job events (what AWX shows live), each before the task's
    result event: the launch line with the instance id and link first."""
    clean_environ(monkeypatch)
    job.next_launch(step_seconds=1)
    inputs = {"bk_api_url": job.url, "bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": USERNAME,
              "bk_job_web_url": WEB_URL}
    playbook = json.loads(json.dumps(LAUNCH_PLAYBOOK))
    playbook[0]["tasks"][0]["blueking.job.execute_job_plan"].update(poll_interval=0.2, poll_max_interval=0.5)
    root = private_data_dir(tmp_path, playbook)

    runner = run_job(root, {**base_envvars(tmp_path, str(collections)), **render_env(load_credential_type(), inputs)}, verbosity=0)

    assert runner.status == "successful", runner.stdout.read()[-4000:]
    events = list(runner.events)
    [result] = [event for event in events if event.get("event") == "runner_on_ok" and event["event_data"].get("task") == "Launch plan 1000"]
    progress = [event for event in events if "JOB instance" in (event.get("stdout") or "")]
    job_instance_id = result["event_data"]["res"]["job_instance_id"]
    assert progress, [event.get("stdout") for event in events]
    assert f"JOB instance {job_instance_id} \"deploy-app\": launched, {WEB_URL}/api_execute/{job_instance_id}" in progress[0]["stdout"]
    assert all(event["counter"] < result["counter"] for event in progress)
    assert len(progress) >= 3 and "success" in progress[-1]["stdout"]
    assert_no_secret_in_artifacts(root, runner, (APP_SECRET,))
