# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The callback listener over real loopback HTTP, and the wait's history lookup against the real JOB emulator.

No HTTP layer is mocked: the listener is driven with http.client exactly as JOB's Apache HttpClient drives it
(a JSON POST, then the same text as a form POST), and expected_seconds reads the emulator's job history.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest

from ansible_collections.blueking.job.plugins.module_utils import _callback
from ansible_collections.blueking.job.plugins.module_utils._callback import CallbackListener, job_instance_id_of, parse_listen
from ansible_collections.blueking.job.plugins.module_utils._client import Client
from ansible_collections.blueking.job.plugins.module_utils._errors import InputError
from ansible_collections.blueking.job.plugins.module_utils._wait import JobWatcher

from process import Emulator  # pylint: disable=import-error  # tests/emulator, put on sys.path by tests/unit/plugins/conftest.py
from support import ESB_CREDENTIALS as CREDENTIALS  # pylint: disable=import-error

SCOPE = {"bk_biz_id": 2}
JOB_ID = 20000042


# -------------------------------------------------------------------------------------------- parse_listen


@pytest.mark.parametrize("value, expected", [
    ("127.0.0.1:0", ("127.0.0.1", 0)),
    ("10.0.0.8:8080", ("10.0.0.8", 8080)),
    ("  10.0.0.8:65535 ", ("10.0.0.8", 65535)),
    ("0.0.0.0:9000", ("0.0.0.0", 9000)),
    (":9000", ("", 9000)),
    ("[::1]:9000", ("::1", 9000)),
    ("[::]:0", ("::", 0)),
    ("[fe80::1]:80", ("fe80::1", 80)),
])
def test_parse_listen_accepts_ip_and_port(value, expected):
    assert parse_listen(value) == expected


@pytest.mark.parametrize("value", ["127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:http", "", ":"])
def test_parse_listen_refuses_a_bad_port(value):
    with pytest.raises(InputError, match="callback_listen must be host:port"):
        parse_listen(value)


@pytest.mark.parametrize("value", ["localhost:8080", "job-runner.example.com:80", "10.0.0.256:80", "[not-v6]:80"])
def test_parse_listen_refuses_a_name_it_would_have_to_resolve(value):
    """A name can resolve to an address JOB cannot reach, or to none: only addresses are listened on."""
    with pytest.raises(InputError, match="needs an IP address"):
        parse_listen(value)


def test_parse_listen_refuses_a_superscript_digit_port_with_input_error():
    with pytest.raises(InputError):
        parse_listen("127.0.0.1:²")


# -------------------------------------------------------------------------------------- job_instance_id_of


@pytest.mark.parametrize("body, expected", [
    (b'{"job_instance_id":20000001,"status":3,"step_instances":[{"step_instance_id":30000001,"status":3}]}', 20000001),
    (b'{"job_instance_id": "20000001"}', 20000001),
    (b"job_instance_id=20000001&status=3", 20000001),
    (b"status=3&job_instance_id=1&job_instance_id=20000001", 20000001),  # a repeated form key: the last one
    (b'{"status": 3}', None),
    (b'{"job_instance_id": true}', None),  # bool is an int in Python, never a job id
    (b'{"job_instance_id": null}', None),
    (b'{"job_instance_id": "twenty"}', None),
    (b'{"job_instance_id": NaN}', None),
    (b"[20000001]", None),
    (b'"20000001"', None),
    (b"", None),
    (b"\xff\xfe garbage", None),
])
def test_job_instance_id_of_reads_json_and_form_bodies(body, expected):
    assert job_instance_id_of(body) == expected


def test_job_instance_id_of_an_infinite_number_is_none():
    assert job_instance_id_of(b'{"job_instance_id": 1e400}') is None


# ------------------------------------------------------------------------------------------ the listener


def post(url: str, body: bytes | str, content_type: str = "application/json", *, path: str | None = None) -> tuple[int, str]:
    """POST as JOB does; (HTTP status, body text). ``path`` overrides the URL's path."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        data = body.encode() if isinstance(body, str) else body
        connection.request("POST", path or parts.path + (f"?{parts.query}" if parts.query else ""), body=data,
                           headers={"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def callback_body(job_instance_id: int, status: int = 3) -> str:
    return json.dumps({"job_instance_id": job_instance_id, "status": status,
                       "step_instances": [{"step_instance_id": 30000001, "status": status}]}, separators=(",", ":"))


@pytest.fixture()
def listener():
    with CallbackListener("127.0.0.1:0", min_gap=0.0) as running:
        yield running


def test_the_url_carries_the_bound_port_and_a_random_token(listener):
    parts = urlsplit(listener.url)
    assert (parts.scheme, parts.hostname) == ("http", "127.0.0.1")
    assert parts.port == listener.server.server_address[1] and parts.port > 0
    assert parts.path.startswith(_callback.PATH_PREFIX) and len(parts.path) > len(_callback.PATH_PREFIX) + 16
    with CallbackListener("127.0.0.1:0") as other:
        assert urlsplit(other.url).path != parts.path, "the token is what keeps other senders out: it differs every time"


def test_a_json_callback_for_this_job_wakes_the_wait(listener):
    listener.expect(JOB_ID)
    assert post(listener.url, callback_body(JOB_ID)) == (200, "ok")
    started = time.monotonic()
    assert listener.wait(5.0) is True
    assert time.monotonic() - started < 1.0


def test_the_form_retry_body_wakes_the_wait_too(listener):
    """JOB re-sends the same JSON text as x-www-form-urlencoded when the first answer was not 200."""
    listener.expect(JOB_ID)
    assert post(listener.url, callback_body(JOB_ID), "application/x-www-form-urlencoded")[0] == 200
    assert listener.wait(5.0) is True


def test_a_key_value_form_body_wakes_the_wait(listener):
    listener.expect(JOB_ID)
    assert post(listener.url, f"job_instance_id={JOB_ID}&status=3", "application/x-www-form-urlencoded")[0] == 200
    assert listener.wait(5.0) is True


def test_a_callback_racing_the_wait_wakes_it_when_it_arrives():
    """The usual order: the wait sleeps first, the callback comes during the sleep and cuts it short."""
    with CallbackListener("127.0.0.1:0") as running:
        running.expect(JOB_ID)
        timer = threading.Timer(0.3, post, args=(running.url, callback_body(JOB_ID)))
        timer.start()
        started = time.monotonic()
        try:
            assert running.wait(10.0) is True
        finally:
            timer.join()
        assert 0.2 < time.monotonic() - started < 3.0


def test_another_jobs_callback_is_answered_but_does_not_wake(listener):
    """JOB may reuse a callback URL it was given for an earlier launch; only this job's end matters."""
    listener.expect(JOB_ID)
    assert post(listener.url, callback_body(JOB_ID + 1)) == (200, "ok")
    started = time.monotonic()
    assert listener.wait(0.3) is False
    assert time.monotonic() - started >= 0.29


def test_a_callback_before_expect_still_wakes(listener):
    """A short job can end, and JOB can call back, before execute_job_plan's answer gives the module the id."""
    assert post(listener.url, callback_body(JOB_ID))[0] == 200
    assert listener.wait(0.1) is False, "nothing to wake before the module knows which job it waits for"
    listener.expect(JOB_ID)
    assert listener.wait(5.0) is True


def test_the_wrong_path_is_404_and_does_not_wake(listener):
    listener.expect(JOB_ID)
    assert post(listener.url, callback_body(JOB_ID), path="/bk-job-callback/guessed-token")[0] == 404
    assert post(listener.url, callback_body(JOB_ID), path="/")[0] == 404
    assert listener.wait(0.2) is False and listener.seen == set()


def test_a_body_over_one_mebibyte_is_413_unread(listener):
    """The limit is checked on Content-Length before reading, so a huge body costs the module no memory."""
    parts = urlsplit(listener.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        connection.putrequest("POST", parts.path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(_callback.MAX_BODY + 1))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
    finally:
        connection.close()
    listener.expect(JOB_ID)
    assert listener.wait(0.1) is False


def test_a_body_of_exactly_one_mebibyte_is_read(listener):
    padding = " " * (_callback.MAX_BODY - len(callback_body(JOB_ID)))
    assert post(listener.url, callback_body(JOB_ID) + padding)[0] == 200


@pytest.mark.parametrize("body", ['{"status": 3}', "not json at all", "", '{"job_instance_id": "x"}'])
def test_a_body_without_a_job_instance_id_is_400(listener, body):
    listener.expect(JOB_ID)
    assert post(listener.url, body)[0] == 400
    assert listener.wait(0.1) is False


def test_an_infinite_job_instance_id_is_400(listener):
    assert post(listener.url, '{"job_instance_id": 1e400}')[0] == 400


def test_a_body_that_breaks_a_handler_does_not_stop_the_listener(listener):
    """Whatever one request does to its handler thread, the next callback is still served."""
    assert post(listener.url, '{"job_instance_id": 1e400}')[0] == 400
    listener.expect(JOB_ID)
    assert post(listener.url, callback_body(JOB_ID))[0] == 200
    assert listener.wait(5.0) is True


def test_other_methods_are_not_served(listener):
    parts = urlsplit(listener.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        connection.request("GET", parts.path)
        assert connection.getresponse().status == 501
    finally:
        connection.close()


def test_wake_ups_come_at_most_once_per_min_gap_and_a_held_back_one_is_not_lost():
    """A flood of callbacks (forged ones included) costs at most one early poll per min_gap; a genuine callback
    that comes within the gap still wakes the wait once the gap has passed, not only at the next safety poll."""
    with CallbackListener("127.0.0.1:0", min_gap=0.6) as running:
        running.expect(JOB_ID)
        assert post(running.url, callback_body(JOB_ID))[0] == 200
        assert running.wait(2.0) is True
        first = time.monotonic()
        assert post(running.url, callback_body(JOB_ID))[0] == 200
        assert running.wait(0.2) is False, "a second wake-up within min_gap is held back"
        assert running.wait(2.0) is True, "and comes when min_gap has passed"
        assert time.monotonic() - first >= 0.6 - 0.01


def test_close_frees_the_port():
    running = CallbackListener("127.0.0.1:0")
    port = running.server.server_address[1]
    running.close()
    with pytest.raises(OSError):
        post(running.url, callback_body(JOB_ID))
    with CallbackListener(f"127.0.0.1:{port}") as again:
        assert again.server.server_address[1] == port
        again.expect(JOB_ID)
        assert post(again.url, callback_body(JOB_ID))[0] == 200


def test_a_given_callback_url_is_used_as_is_and_its_path_is_served():
    """Behind NAT JOB calls another host and port; the listener only knows the path of what JOB was told."""
    url = "http://203.0.113.7:18080/hooks/bk-job?team=ops"
    with CallbackListener("127.0.0.1:0", url) as running:
        assert running.url == url and running.path == "/hooks/bk-job"
        local = f"http://127.0.0.1:{running.server.server_address[1]}"
        running.expect(JOB_ID)
        assert post(local, callback_body(JOB_ID), path=_callback.PATH_PREFIX + "x")[0] == 404
        assert post(local, callback_body(JOB_ID), path="/hooks/bk-job?team=ops")[0] == 200
        assert running.wait(5.0) is True


def test_a_callback_url_with_surrounding_spaces_is_served_at_the_path_job_is_sent():
    """callback_url is sent without its surrounding spaces (_args.callback_url), so the listener serves that URL's path:
    with the raw option it served '/cb/  ', and JOB's callback to '/cb/' never matched."""
    with CallbackListener("127.0.0.1:0", "  http://203.0.113.7:18080/cb/  ", min_gap=0.0) as running:
        assert running.url == "http://203.0.113.7:18080/cb/" and running.path == "/cb/"
        local = f"http://127.0.0.1:{running.server.server_address[1]}"
        running.expect(JOB_ID)
        assert post(local, callback_body(JOB_ID), path="/cb/")[0] == 200
        assert running.wait(5.0) is True


def test_a_given_callback_url_without_a_path_is_served_at_the_root():
    with CallbackListener("127.0.0.1:0", "http://203.0.113.7:18080") as running:
        local = f"http://127.0.0.1:{running.server.server_address[1]}"
        assert post(local, callback_body(JOB_ID), path="/")[0] == 200


def test_the_wildcard_needs_a_callback_url():
    """On 0.0.0.0 the module cannot know which of its addresses JOB reaches, so it must be told."""
    with pytest.raises(InputError, match="set callback_url"):
        CallbackListener("0.0.0.0:0")
    with CallbackListener("0.0.0.0:0", "http://198.51.100.4:9000/cb") as running:
        running.expect(JOB_ID)
        local = f"http://127.0.0.1:{running.server.server_address[1]}"
        assert post(local, callback_body(JOB_ID), path="/cb")[0] == 200, "the wildcard listens on loopback too"
        assert running.wait(5.0) is True


def test_an_ipv6_listener_shows_its_address_in_brackets():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    try:
        running = CallbackListener("[::1]:0")
    except InputError as err:
        pytest.skip(f"no IPv6 loopback here: {err.msg}")
    with running:
        assert running.url.startswith(f"http://[::1]:{running.server.server_address[1]}{_callback.PATH_PREFIX}")


def test_a_port_in_use_is_an_input_error():
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        with pytest.raises(InputError, match=f"callback_listen '127.0.0.1:{port}': cannot listen there.*Nothing was launched"):
            CallbackListener(f"127.0.0.1:{port}")
    finally:
        blocker.close()


def test_an_address_not_on_this_host_is_an_input_error():
    with pytest.raises(InputError, match="cannot listen there"):
        CallbackListener("192.0.2.1:0")  # TEST-NET-1: never one of this host's addresses


# --------------------------------------------------------------------------- expected_seconds (history)


@pytest.fixture()
def job():
    """A fresh emulator per test: a job history starts empty. Function scope on purpose: ansible-test units runs
    every test in its own fork, which never tears down a module-scoped fixture (the emulator would be left running)."""
    with Emulator() as running:
        yield running


def client_of(emulator) -> Client:
    return Client(emulator.url, credentials=CREDENTIALS)


def launch(emulator, client: Client, job_plan_id: int, **behaviour) -> int:
    if behaviour:
        emulator.next_launch(**behaviour)
    job_instance_id = client.call("execute_job_plan", {**SCOPE, "job_plan_id": job_plan_id}, stage="launch").data["job_instance_id"]
    time.sleep(0.005)  # distinct create_time milliseconds, so that "most recent" is well defined
    return job_instance_id


def settle(emulator, timeout: float = 10.0) -> None:
    """Wait until every instance has ended: the history only lists finished, successful runs."""
    deadline = time.monotonic() + timeout
    while any(instance["status"] not in (3, 4) for instance in emulator.instances()):
        assert time.monotonic() < deadline, "emulator jobs did not end"
        time.sleep(0.05)


def test_expected_seconds_is_the_median_of_the_five_latest_successful_runs(job):
    client = client_of(job)
    for seconds in (1.5, 0.5, 0.6, 0.7, 0.8, 0.9):  # oldest first; 1.5 is the sixth-latest: left out
        launch(job, client, 1004, step_seconds=seconds)
    settle(job)
    watcher = JobWatcher(client, SCOPE, launch(job, client, 1004), warn=print)
    expected = watcher.expected_seconds(1004, "deploy")
    assert expected == pytest.approx(0.7, abs=0.05), "median of 0.5..0.9; with the oldest run it would be 0.8"
    [sent] = job.requests(api="get_job_instance_list")
    body = sent["body"]
    assert (body["type"], body["status"], body["name"]) == (0, 3, "deploy")
    assert body["create_time_end"] - body["create_time_start"] == 7 * 86400000


def test_expected_seconds_ignores_other_plans_failed_runs_and_this_job(job):
    """Plan 1000 'deploy-app' matches the name filter 'deploy' too; only plan 1004's own successful runs count."""
    client = client_of(job)
    launch(job, client, 1004, step_seconds=0.2)
    launch(job, client, 1000, step_seconds=0.4)  # 4 steps: 1.6 s, newer, same name prefix
    launch(job, client, 1004, step_seconds=1.0, final_status=4)  # failed: not a length to aim at
    own = launch(job, client, 1004, step_seconds=0.8)
    settle(job)
    assert JobWatcher(client, SCOPE, own, warn=print).expected_seconds(1004, "deploy") == pytest.approx(0.2, abs=0.05)


def test_expected_seconds_without_history_is_none(job):
    client = client_of(job)
    launch(job, client, 1000, step_seconds=0.05)  # a run of another plan only
    settle(job)
    watcher = JobWatcher(client, SCOPE, launch(job, client, 1004), warn=print)
    assert watcher.expected_seconds(1004, "deploy") is None
    assert watcher.expected_seconds(None, "deploy") is None, "no plan id (an attached instance of unknown plan): no lookup"
    assert len(job.requests(api="get_job_instance_list")) == 1


@pytest.mark.parametrize("kind", ["business_error", "permission", "garbled_json"])
def test_expected_seconds_is_none_when_the_history_cannot_be_read(job, kind):
    """The history only tunes the polling: a refusal (e.g. no permission to list instances) must not fail the task."""
    client = client_of(job)
    launch(job, client, 1004, step_seconds=0.05)
    settle(job)
    job.fault("get_job_instance_list", kind, count=-1)
    warnings = []
    watcher = JobWatcher(client, SCOPE, launch(job, client, 1004), warn=warnings.append)
    assert watcher.expected_seconds(1004, "deploy") is None
    assert warnings == []
    assert job.requests(api="get_job_instance_list")
