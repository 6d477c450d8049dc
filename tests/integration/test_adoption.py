# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Concurrency matrix through real ansible-playbook: many hosts launch the same job plan at once (one operator, other
operators, bk_token and bk_access_token callers whose operator the task cannot know, both API surfaces) while random
answers of the create and of the start are lost before and after JOB did the work. Counted: wrong adoptions, jobs
started twice, instances nobody reports or names."""

from __future__ import annotations

import random

import pytest

from conftest import Ansible  # pylint: disable=import-error
from process import Emulator  # pylint: disable=import-error
from support import (  # pylint: disable=import-error
    ACCESS_TOKEN, ACCESS_TOKEN_USER, APP_CODE, APP_SECRET, BIZ_ID, BK_TOKEN, PLAN_DEPLOY_APP, USERNAME,
)
from multihost import no_crash, run_hosts, start_all  # pylint: disable=import-error

LAUNCH = "execute_job_plan"
PLAN = PLAN_DEPLOY_APP
WEB = "https://job.example.com"
HOSTS = 16  # launching at once, per round
ROUNDS = 3  # per JOB version
LOST = ("html_502", "drop", "after_create_502", "after_create_drop")  # before JOB did anything / after JOB did it


def identity(index, url):
    """(connection, the user JOB records): admin and alice by name, admin by bk_token, alice by bk_access_token."""
    esb = {"bk_api_url": url, "bk_biz_id": BIZ_ID}
    apigw = {"bk_api_url": url + "/api/bk-job/prod", "bk_api_type": "apigw", "bk_scope_type": "biz", "bk_scope_id": str(BIZ_ID)}
    app = {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET}
    return [
        ({**esb, **app, "bk_username": "admin"}, "admin"),
        ({**apigw, **app, "bk_username": "alice"}, "alice"),
        ({**esb, **app, "bk_token": BK_TOKEN}, USERNAME),
        ({**apigw, "bk_access_token": ACCESS_TOKEN}, ACCESS_TOKEN_USER),
        ({**apigw, **app, "bk_username": "admin"}, "admin"),
        ({**esb, **app, "bk_username": "alice"}, "alice"),
    ][index % 6]


def version_of(instance):
    return {var["name"]: var.get("value") for var in instance["global_var_list"] or []}.get("app_version")


def lose_random_answers(job, rng):
    """One to four lost answers each of the creates and of the starts, before or after JOB did the work."""
    for api in ("execute_job_plan", "operate_job_instance"):
        for _fault in range(rng.randint(1, 4)):
            job.fault(api, rng.choice(LOST))


def round_cells(url, round_index):
    """The play of one round: {host: (module, args)} and {host: (the user JOB records, app_version)}."""
    cells, expected = {}, {}
    for index in range(HOSTS):
        connection, user = identity(index, url)
        # hosts 0 and 6: both admin by name, same variables (the case a history search alone cannot tell apart)
        version = f"r{round_index}-same" if index in (0, 6) else f"r{round_index}-h{index}"
        host = f"h{index:02d}"
        cells[host] = (LAUNCH, {**connection, "job_plan_id": PLAN, "global_vars": {"app_version": version},
                                "bk_job_web_url": WEB, "wait": False})
        expected[host] = (user, version)
    return cells, expected


def assert_clean_result(result):
    """No traceback, no 'adopted' key, and a failure either keeps the launched id or says what may have happened."""
    no_crash(result)
    assert "adopted" not in result
    if result.get("failed"):
        assert "job_instance_id" in result or "may have started" in result["msg"] or "nothing was started" in result["msg"], result["msg"]


def count_results(results, instances, expected, tally):
    """ok / failed, and for every reported id: the task's own operator and variables, started unless it failed.
    The reported ids."""
    reported = []
    for host, result in results.items():
        assert_clean_result(result)
        tally["failed" if result.get("failed") else "ok"] += 1
        if result.get("job_instance_id") is None:
            continue
        reported.append(result["job_instance_id"])
        mine = instances[result["job_instance_id"]]
        if (mine["operator"], version_of(mine)) != expected[host]:
            tally["wrong_adoptions"] += 1
        if not result.get("failed") and mine["status"] == 1:
            tally["reported_but_not_started"] += 1
    return reported


def account_for_instances(instances, reported, texts, tally):
    """Every instance is reported by one task, or named in a failure or warning; none twice."""
    for job_instance_id, item in instances.items():
        started = item["status"] != 1
        tally["started" if started else "unstarted"] += 1
        count = reported.count(job_instance_id)
        if count > 1:
            tally["reported_twice"] += 1
        elif count == 0 and str(job_instance_id) in texts:
            tally["named_in_a_warning_or_failure"] += 1
        elif count == 0:
            tally["unaccounted_started" if started else "unaccounted_unstarted"] += 1


def count_started_twice(instances, expected, tally):
    """A task's variables: at most one started instance; the shared pair's at most two."""
    for _user, version in set(expected.values()):
        allowed = 2 if version.endswith("-same") else 1
        if sum(1 for item in instances.values() if version_of(item) == version and item["status"] != 1) > allowed:
            tally["started_twice"] += 1


def texts_of(results):
    """Every failure message and warning of the play, in one text."""
    return " ".join([result.get("msg") or "" for result in results.values()]
                    + [str(warning) for result in results.values() for warning in result.get("warnings") or []])


def run_round(ansible, job, rng, round_index, tally):
    """HOSTS hosts launch the plan at once while random answers are lost; then every instance is accounted for."""
    job.reset()
    lose_random_answers(job, rng)
    cells, expected = round_cells(job.url, round_index)
    run = run_hosts(ansible, cells, forks=HOSTS)
    instances = {item["job_instance_id"]: item for item in job.instances()}
    tally["tasks"] += HOSTS
    tally["lost_answers"] += sum(1 for request in job.requests() if request.get("fault"))
    tally["instances"] += len(instances)
    reported = count_results(run.results, instances, expected, tally)
    account_for_instances(instances, reported, texts_of(run.results), tally)
    count_started_twice(instances, expected, tally)


@pytest.mark.parametrize("job_version", [None, "3.9.0"], ids=["job-3.10", "job-3.9"])
def test_concurrent_launches_with_lost_answers(tmp_path, collections, job_version):
    ansible = Ansible(tmp_path, collections)
    config = {"default_behaviour": {"step_seconds": 60, **({"job_version": job_version} if job_version else {})}}
    job = Emulator(config=config)
    start_all([job])
    tally = dict.fromkeys(("tasks", "ok", "failed", "instances", "started", "unstarted", "lost_answers", "wrong_adoptions",
                           "started_twice", "reported_twice", "reported_but_not_started", "named_in_a_warning_or_failure",
                           "unaccounted_started", "unaccounted_unstarted"), 0)
    rng = random.Random(11 + (job_version is not None))
    try:
        for round_index in range(ROUNDS):
            run_round(ansible, job, rng, round_index, tally)
    finally:
        job.stop()
    print(f"\nconcurrency matrix through ansible-playbook ({'JOB ' + job_version if job_version else 'JOB 3.10+'}): {tally}")
    assert tally["wrong_adoptions"] == 0 and tally["started_twice"] == 0 and tally["reported_twice"] == 0
    assert tally["reported_but_not_started"] == 0 and tally["unaccounted_started"] == 0
    assert tally["lost_answers"] > 0 and tally["ok"] > 0
