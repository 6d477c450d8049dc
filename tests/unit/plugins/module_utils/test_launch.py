# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The launch (_launch.launch_once) against the real JOB emulator over HTTP: lost answers before and after JOB did
the work, old JOB without start_task, and a concurrency matrix of launchers of one plan with random lost answers."""

from __future__ import annotations

import random
import threading

import pytest

from ansible_collections.blueking.job.plugins.module_utils._client import Client
from ansible_collections.blueking.job.plugins.module_utils._errors import BKJobError
from ansible_collections.blueking.job.plugins.module_utils._launch import launch_once

from process import Emulator  # pylint: disable=import-error  # tests/emulator, put on sys.path by tests/unit/plugins/conftest.py
from support import APP_CODE, APP_SECRET, BIZ_ID, BK_TOKEN, PLAN_DEPLOY_APP, USERNAME  # pylint: disable=import-error

APP = {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET}
SCOPE = {"bk_scope_type": "biz", "bk_scope_id": str(BIZ_ID)}
PLAN = PLAN_DEPLOY_APP
WEB = "https://job.example.com"
# who launches: (label, credentials, the operator the task knows, the user JOB records)
IDENTITIES = [
    ("admin", {**APP, "bk_username": "admin"}, "admin", "admin"),
    ("alice", {**APP, "bk_username": "alice"}, "alice", "alice"),
    ("token", {**APP, "bk_token": BK_TOKEN}, None, USERNAME),
]
LOST_BEFORE = ("html_502", "drop")  # a proxy answers / the connection breaks before JOB does anything
LOST_AFTER = ("after_create_502", "after_create_drop")  # JOB did the work, then the answer is lost


def no_sleep(_seconds):
    return None


def client(job, credentials, surface="esb"):
    url = job.url if surface == "esb" else job.apigw_url
    return Client(url, api_type=surface, credentials=credentials, sleep=no_sleep, request_timeout=10)


def payload(version, **extra):
    return {**SCOPE, "job_plan_id": PLAN, "global_var_list": [{"name": "app_version", "value": version}], **extra}


def launch(job, version="1.0", credentials=None, operator="admin", surface="esb", **extra):
    warnings = []
    result = launch_once(client(job, credentials or IDENTITIES[0][1], surface), payload(version, **extra), operator=operator,
                         warn=warnings.append, link=lambda job_instance_id: f"{WEB}/api_execute/{job_instance_id}", sleep=no_sleep)
    return result, warnings


def version_of(instance):
    return {var["name"]: var.get("value") for var in instance["global_var_list"] or []}.get("app_version")


def started(instance):
    """Status 1 (BLANK) is a created instance nobody started."""
    return instance["status"] != 1


# The app may name its user with bk_username alone (ESB/gateway "skip user auth" list), so that several operators launch.
CONFIG = {"skip_user_auth_apps": [APP["bk_app_code"]]}


@pytest.fixture(scope="module")
def emulator():
    """This module's JOB emulator (the ``job`` fixture of conftest.py empties it for each test)."""
    with Emulator(config=CONFIG) as running:
        yield running


@pytest.fixture(scope="module")
def old_emulator():
    """A JOB before 3.10: start_task ignored, operate_job_instance code 2 unknown."""
    with Emulator(config={**CONFIG, "default_behaviour": {"job_version": "3.9.0"}}) as running:
        yield running


@pytest.fixture()
def old_job(old_emulator):  # pylint: disable=redefined-outer-name
    old_emulator.reset()
    return old_emulator


def starts(job):
    return [request for request in job.requests(api="operate_job_instance") if (request.get("body") or request.get("query") or {}).get(
        "operation_code") in (2, "2") and str((request.get("body") or request.get("query") or {}).get("job_instance_id")) != str(2 ** 63 - 1)]


def test_a_launch_creates_unstarted_then_starts_that_id(job):
    result, warnings = launch(job)
    [instance] = job.instances()
    assert result["job_instance_id"] == instance["job_instance_id"] and started(instance) and not warnings
    [create] = job.requests(api="execute_job_plan")
    assert create["body"]["start_task"] is False
    [start] = starts(job)
    assert start["body"]["job_instance_id"] == instance["job_instance_id"]


def test_a_loop_item_whose_create_is_lost_before_job_gets_its_own_job(job):
    """Issue 11's first input: item 2's POST is answered by a proxy's HTML 502 before it reaches JOB."""
    first, _warnings = launch(job, "2.0")
    job.fault("execute_job_plan", "html_502")
    second, warnings = launch(job, "2.1")
    instances = {item["job_instance_id"]: item for item in job.instances()}
    assert second["job_instance_id"] != first["job_instance_id"] and "adopted" not in second
    assert version_of(instances[second["job_instance_id"]]) == "2.1" and started(instances[second["job_instance_id"]])
    assert len(instances) == 2 and all(started(item) for item in instances.values())
    assert "No unstarted instance" in warnings[0] and "job instance %s is this task's" % second["job_instance_id"] in warnings[0]


@pytest.mark.parametrize("surface", ["esb", "apigw"])
def test_a_create_lost_after_job_made_it_leaves_a_named_unstarted_instance(job, surface):
    job.fault("execute_job_plan", "after_create_502")
    result, warnings = launch(job, "3.0", surface=surface)
    instances = {item["job_instance_id"]: item for item in job.instances()}
    [leftover] = [item for item in instances.values() if item["job_instance_id"] != result["job_instance_id"]]
    assert started(instances[result["job_instance_id"]]) and not started(leftover)
    assert f"{leftover['job_instance_id']} ({WEB}/api_execute/{leftover['job_instance_id']}, operator admin, status 1)" in warnings[0]
    assert len(starts(job)) == 1


def test_a_bk_token_caller_on_old_job_never_takes_another_users_job(old_job):
    """Issue 11's second input: alice launched a moment ago; the token caller's answer is lost on a JOB before 3.10."""
    job = old_job
    others, _warnings = launch(job, "4.0", IDENTITIES[1][1], "alice")
    job.fault("execute_job_plan", "html_502")
    with pytest.raises(BKJobError) as caught:
        launch(job, "4.1", IDENTITIES[2][1], None)
    msg = caught.value.msg
    assert "the job may have started" in msg and "None is adopted" in msg and "by any operator" in msg
    assert f"{others['job_instance_id']} ({WEB}/api_execute/{others['job_instance_id']}, operator alice" in msg
    assert "job_instance_id" not in caught.value.result and len(job.instances()) == 1
    assert len(job.requests(api="execute_job_plan")) == 2


def test_old_job_starts_on_create_and_the_start_is_not_needed(old_job):
    job = old_job
    result, warnings = launch(job)
    [instance] = job.instances()
    assert started(instance) and result["job_instance_id"] == instance["job_instance_id"] and not warnings
    assert job.requests(api="operate_job_instance")[0]["response_code"] == 1241002


@pytest.mark.parametrize("kind", LOST_BEFORE + LOST_AFTER)
def test_a_lost_start_answer_is_resolved_by_the_instance_status(job, kind):
    job.fault("operate_job_instance", kind)
    result, _warnings = launch(job)
    [instance] = job.instances()
    assert started(instance) and result["job_instance_id"] == instance["job_instance_id"]
    # lost after JOB started it: one start; lost before: the status stayed 1 and the start was sent again
    assert len(starts(job)) == (1 if kind in LOST_AFTER else 2)
    assert len(job.requests(api="get_job_instance_status")) >= 1


def test_a_start_that_keeps_failing_keeps_the_id_and_says_it_did_not_start(job):
    job.fault("operate_job_instance", "business_error", count=-1, code=1241003, message="不支持的操作")
    with pytest.raises(BKJobError) as caught:
        launch(job)
    [instance] = job.instances()
    assert caught.value.result["job_instance_id"] == instance["job_instance_id"] and caught.value.result["changed"] is True
    assert caught.value.result["job_instance_url"] == f"{WEB}/api_execute/{instance['job_instance_id']}"
    assert "created but not started" in caught.value.msg and not started(instance)


def test_start_task_true_is_one_step_and_an_unclear_answer_names_the_candidates(job):
    job.fault("execute_job_plan", "after_create_drop")
    with pytest.raises(BKJobError) as caught:
        launch(job, start_task=True)
    [instance] = job.instances()
    assert started(instance) and str(instance["job_instance_id"]) in caught.value.msg
    assert "start_task is true" in caught.value.msg and "by admin" in caught.value.msg
    assert len(job.requests(api="execute_job_plan")) == 1 and not starts(job)


def test_start_task_false_creates_only(job):
    result, _warnings = launch(job, start_task=False)
    [instance] = job.instances()
    assert not started(instance) and result["job_instance_id"] == instance["job_instance_id"] and not starts(job)


def test_creates_lost_every_time_stop_after_three_and_start_nothing(job):
    job.fault("execute_job_plan", "after_create_502", count=-1)
    with pytest.raises(BKJobError) as caught:
        launch(job)
    instances = job.instances()
    assert len(instances) == 3 and not any(started(item) for item in instances)
    assert "got no clear answer 3 times" in caught.value.msg and "nothing was started" in caught.value.msg
    assert all(str(item["job_instance_id"]) in caught.value.msg for item in instances)


@pytest.mark.parametrize("surface, fault", [
    ("apigw", {"kind": "http_status", "status": 429, "reset": 1}),  # the gateway's rate limit, X-Bkapi-RateLimit-Reset
    ("esb", {"kind": "business_error", "code": 1306429, "message": "Request rate limit exceeded"}),  # ESB's rate limit
])
def test_a_rate_limited_launch_is_sent_again_and_a_longer_streak_fails_cleanly(job, surface, fault):
    job.fault("execute_job_plan", count=2, **fault)
    result, _warnings = launch(job, surface=surface)
    assert len(job.requests(api="execute_job_plan")) == 3 and [item["job_instance_id"] for item in job.instances()] == [result["job_instance_id"]]
    job.reset()
    job.fault("execute_job_plan", count=5, **fault)
    with pytest.raises(BKJobError) as caught:
        launch(job, surface=surface)
    assert caught.value.kind == "rate_limit" and caught.value.reached_job is False
    assert not job.instances() and len(job.requests(api="execute_job_plan")) == 3
    assert "wait and retry" in caught.value.msg and "may have started" not in caught.value.msg


def test_a_refused_connection_is_sent_again_and_never_called_unclear():
    sleeps = []
    unreachable = Client("http://127.0.0.1:9", api_type="esb", credentials=IDENTITIES[0][1], sleep=sleeps.append, request_timeout=5)
    with pytest.raises(BKJobError) as caught:
        launch_once(unreachable, payload("5.0"), operator="admin", warn=pytest.fail, sleep=no_sleep)
    assert caught.value.reached_job is False and len(sleeps) == 2
    assert "may have started" not in caught.value.msg


# ---------------------------------------------------------------------------------------------- concurrency matrix
LAUNCHERS = 8  # at once, per round
ROUNDS = 12
FAULT_KINDS = LOST_BEFORE + LOST_AFTER
SAME_PAIR = (0, 3)  # launchers 0 and 3: both admin, same variables (the hard case)


class Launcher:
    """One task of a round: who launches, with which variables, over which surface, and what it got."""

    def __init__(self, index, surface):
        self.label, self.credentials, self.operator, self.user = IDENTITIES[index % len(IDENTITIES)]
        self.version = "same" if index in SAME_PAIR else f"v{index}"
        self.surface = surface
        self.result = None
        self.error = None
        self.warnings = []

    def run(self, job, barrier):
        barrier.wait()
        try:
            self.result, self.warnings = launch(job, self.version, self.credentials, self.operator, self.surface)
        except BKJobError as err:
            self.error = err

    @property
    def got(self):
        """What the task reports: its result, or its failed result (which keeps a launched id)."""
        return self.result or (self.error.result if self.error else {})

    @property
    def texts(self):
        """What the task says: its failure message and its warnings."""
        return ([self.error.msg] if self.error else []) + list(self.warnings)


def lose_random_answers(job, rng):
    """Up to three lost answers each of the creates and of the starts, before or after JOB did the work."""
    for api in ("execute_job_plan", "operate_job_instance"):
        for _fault in range(rng.randint(0, 3)):
            job.fault(api, rng.choice(FAULT_KINDS))


def launch_at_once(job, launchers):
    barrier = threading.Barrier(len(launchers))
    threads = [threading.Thread(target=launcher.run, args=(job, barrier)) for launcher in launchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


def count_tasks_and_instances(tally, job, launchers, instances):
    tally["tasks"] += len(launchers)
    tally["ok"] += sum(1 for launcher in launchers if launcher.result)
    tally["failed"] += sum(1 for launcher in launchers if launcher.error)
    tally["instances"] += len(instances)
    started_count = sum(1 for item in instances.values() if started(item))
    tally["started"] += started_count
    tally["unstarted"] += len(instances) - started_count
    tally["lost_answers"] += sum(1 for request in job.requests() if request.get("fault"))


def count_wrong_adoptions(tally, launchers, instances):
    """A reported instance must carry the task's own operator and variables, and a success must have started it."""
    for launcher in launchers:
        if "job_instance_id" not in launcher.got:
            continue
        mine = instances[launcher.got["job_instance_id"]]
        if mine["operator"] != launcher.user or version_of(mine) != launcher.version:
            tally["wrong_adoptions"] += 1
        if launcher.result and not started(mine):
            tally["reported_but_not_started"] += 1


def account_for_instances(tally, launchers, instances):
    """Every instance is reported by one task, or named in a failure or warning; none twice."""
    reported = [launcher.got["job_instance_id"] for launcher in launchers if "job_instance_id" in launcher.got]
    texts = " ".join(text for launcher in launchers for text in launcher.texts)
    for job_instance_id, item in instances.items():
        count = reported.count(job_instance_id)
        if count > 1:
            tally["reported_twice"] += 1
        elif count == 0 and str(job_instance_id) in texts:
            tally["unstarted_named" if not started(item) else "started_named_in_failure"] += 1
        elif count == 0:
            tally["unaccounted"] += 1
            tally["unaccounted_started" if started(item) else "unaccounted_unstarted"] += 1


def started_with(instances, version):
    return sum(1 for item in instances.values() if version_of(item) == version and started(item))


def count_started_twice(tally, launchers, instances):
    """A task's job: at most one started instance with its variables; the shared pair at most two."""
    for launcher in launchers:
        if launcher.version != "same" and started_with(instances, launcher.version) > 1:
            tally["started_twice"] += 1
    if started_with(instances, "same") > len(SAME_PAIR):
        tally["started_twice"] += 1


def run_round(job, rng, tally):
    """LAUNCHERS tasks launch plan PLAN at once (mixed identities and surfaces; two share operator and variables),
    while random lost answers hit the creates and the starts; then every instance is accounted for."""
    job.reset()
    lose_random_answers(job, rng)
    launchers = [Launcher(index, rng.choice(["esb", "apigw"])) for index in range(LAUNCHERS)]
    launch_at_once(job, launchers)
    instances = {item["job_instance_id"]: item for item in job.instances()}
    count_tasks_and_instances(tally, job, launchers, instances)
    count_wrong_adoptions(tally, launchers, instances)
    account_for_instances(tally, launchers, instances)
    count_started_twice(tally, launchers, instances)


@pytest.mark.parametrize("old", [False, True], ids=["job-3.10", "job-3.9"])
def test_concurrency_matrix(job, old_emulator, old, capsys):  # pylint: disable=redefined-outer-name
    rng = random.Random(1100 + old)
    emulator = old_emulator if old else job
    tally = dict.fromkeys(("tasks", "ok", "failed", "instances", "started", "unstarted", "lost_answers", "wrong_adoptions",
                           "started_twice", "reported_twice", "reported_but_not_started", "unstarted_named",
                           "started_named_in_failure", "unaccounted", "unaccounted_started", "unaccounted_unstarted"), 0)
    for _round in range(ROUNDS):
        run_round(emulator, rng, tally)
    with capsys.disabled():
        print(f"\nconcurrency matrix ({'JOB 3.9' if old else 'JOB 3.10+'}): {tally}")
    assert tally["wrong_adoptions"] == 0 and tally["started_twice"] == 0 and tally["reported_twice"] == 0
    assert tally["reported_but_not_started"] == 0 and tally["unaccounted_started"] == 0
    assert tally["lost_answers"] > 0 and tally["ok"] > 0
