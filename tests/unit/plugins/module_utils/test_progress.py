# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Progress lines (_progress) and the skip of ansible-core's no_log scrub when it would change nothing (_module).

The status answers are shaped as get_job_instance_status answers them (the emulator's seed plan deploy-app: four steps).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from ansible.module_utils.common.parameters import remove_values

from ansible_collections.blueking.job.plugins.module_utils import _progress
from ansible_collections.blueking.job.plugins.module_utils._args import WaitOptions
from ansible_collections.blueking.job.plugins.module_utils._module import occurring
from ansible_collections.blueking.job.plugins.module_utils._progress import Progress, for_wait

STEP_NAMES = ("check env", "push package", "approve", "restart")


def answer(job_status, step_statuses, hosts=None):
    """A get_job_instance_status answer; ``hosts``: host statuses of the first unfinished step (None: no host results)."""
    steps = []
    for name, status in zip(STEP_NAMES, step_statuses):
        step = {"step_instance_id": len(steps) + 1, "name": name, "status": status, "step_ip_result_list": None}
        steps.append(step)
    if hosts is not None:
        current = next((step for step in steps if step["status"] not in (3, 5, 6)), steps[-1])
        current["step_ip_result_list"] = [{"bk_host_id": 100 + index, "status": status} for index, status in enumerate(hosts)]
    return {"finished": job_status in (3, 4), "job_instance": {"job_instance_id": 7, "name": "deploy-app", "status": job_status},
            "step_instance_list": steps}


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def watch(answers, every=10.0, step=1.0):
    lines, clock = [], Clock()
    progress = Progress(lines.append, every, monotonic=clock)
    progress.launched({"job_instance_id": 7, "job_instance_name": "deploy-app", "job_instance_url": "https://job/api_execute/7"})
    for data in answers:
        clock.now += step
        progress.observe(data)
    return lines


def test_a_line_at_the_launch_and_at_each_change_only():
    lines = watch([
        answer(2, [2, 1, 1, 1], hosts=[7, 7]),
        answer(2, [2, 1, 1, 1], hosts=[7, 7]),  # nothing changed: no line
        answer(2, [2, 1, 1, 1], hosts=[9, 7]),
        answer(2, [3, 2, 1, 1]),
        answer(3, [3, 3, 3, 3], hosts=[9, 9]),
    ])
    assert lines == [
        'JOB instance 7 "deploy-app": launched, https://job/api_execute/7',
        'JOB instance 7 "deploy-app": running, step 1/4 "check env" running, hosts 0/2 done (1 s)',
        'JOB instance 7 "deploy-app": running, step 1/4 "check env" running, hosts 1/2 done (3 s)',
        'JOB instance 7 "deploy-app": running, step 2/4 "push package" running (4 s)',
        'JOB instance 7 "deploy-app": success, step 4/4 "restart" success, hosts 2/2 done (5 s)',
    ]


def test_a_line_at_least_every_interval_while_nothing_changes():
    lines = watch([answer(2, [2, 1, 1, 1])] * 12, every=3.0)
    assert len(lines) == 1 + 4  # launch, first answer (t=1), then t=4, 7, 10
    assert all("step 1/4" in line for line in lines[1:])


def test_failed_hosts_and_a_waiting_confirmation_are_said():
    lines = watch([answer(4, [4, 1, 1, 1], hosts=[9, 104]), answer(7, [3, 3, 7, 1])])
    assert lines[1].endswith('failed, step 1/4 "check env" failed, hosts 1/2 done, 1 failed (1 s)')
    assert lines[2].endswith('waiting_user, step 3/4 "approve" waiting_user (2 s)')


def test_note_and_no_launch_line_attach_by_name():
    lines, clock = [], Clock()
    progress = Progress(lines.append, 10, monotonic=clock)
    progress.observe(answer(2, [2, 1, 1, 1]))
    progress.note("retrying the failed hosts of step 1 (attempt 2 of 3)")
    assert lines[1] == 'JOB instance 7 "deploy-app": retrying the failed hosts of step 1 (attempt 2 of 3)'


def test_no_emitter_or_show_progress_false_gives_no_progress(monkeypatch):
    monkeypatch.setattr(_progress, "EMITTER", None)
    assert for_wait(WaitOptions()) is None
    lines = []
    monkeypatch.setattr(_progress, "EMITTER", lines.append)
    assert for_wait(WaitOptions()._replace(show_progress=False)) is None
    progress = for_wait(WaitOptions()._replace(poll_max_interval=4.0))
    assert progress is not None and progress.every == 4.0


@settings(max_examples=300, deadline=None)
@given(result=st.recursive(st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False)),
                           lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
                           max_leaves=20),
       secret=st.text(min_size=1, max_size=6))
def test_occurring_finds_every_secret_remove_values_would_mask(result, secret):
    """Whenever ansible-core's remove_values would change a result, ``occurring`` finds the secret in it (so the scrub is
    only skipped where it is a no-op), for any text, escapes and non-ASCII included."""
    if secret in ("True", "False", "None") or any(secret in word for word in ("True", "False", "None")):
        return  # BKJobModule never skips the scrub for such secrets (str(True) contains them)
    scrubbed = remove_values(result, {secret})
    if json.dumps(scrubbed, sort_keys=True, default=str) != json.dumps(result, sort_keys=True, default=str):
        assert occurring({secret}, result) == {secret}


@pytest.mark.parametrize("secret", ['qu"ote-9x', "tab\there-7", "ünï-cødé-1", "back\\slash-2"])
def test_occurring_sees_secrets_json_escapes(secret):
    assert occurring({secret}, {"msg": f"before {secret} after"}) == {secret}
    assert occurring({secret}, {"msg": "clean"}) == set()
