# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PollSchedule: when the wait polls and which polls carry host results; plan_name_of.

PollSchedule is pure (it is handed ``now``), so these tests drive it with a made-up clock: each poll happens
exactly when the schedule asked for it, as the wait loop does when polls are instant.
"""

from __future__ import annotations

import random

import pytest

from ansible_collections.blueking.job.plugins.module_utils import _wait
from ansible_collections.blueking.job.plugins.module_utils._args import WaitOptions
from ansible_collections.blueking.job.plugins.module_utils._report import plan_name_of
from ansible_collections.blueking.job.plugins.module_utils._wait import PollSchedule

PARAMS = WaitOptions(poll_interval=1.0, poll_max_interval=10.0)
START = 1000.0  # an arbitrary monotonic clock reading: the schedule only uses differences


def drive(schedule: PollSchedule, start: float, count: int) -> list[tuple[float, float, bool]]:
    """(moment of the poll relative to ``start``, delay asked for, with host results) for ``count`` polls."""
    now = start
    polls = []
    for _poll in range(count):
        delay, with_hosts = schedule.next(now)
        now += delay
        polls.append((now - start, delay, with_hosts))
    return polls


# ------------------------------------------------------------------------------------------------ backoff


def test_backoff_starts_at_poll_interval_and_grows_by_half_to_the_ceiling():
    """Without history nothing is known, so the first poll waits poll_interval (no poll right after the launch)."""
    random.seed(7)
    polls = drive(PollSchedule(PARAMS, START), START, 12)
    nominal = [min(10.0, 1.0 * 1.5 ** index) for index in range(12)]
    for (_at, delay, with_hosts), expected in zip(polls, nominal):
        assert 0.9 * expected <= delay <= min(1.1 * expected, 10.0)
        assert with_hosts is False, "a backoff poll does not expect the end, so it spends no host-results budget"
    assert polls[0][1] >= 0.9, "the first poll must not come right after the launch"
    assert all(delay <= 10.0 for _at, delay, _hosts in polls)
    assert polls[-1][1] >= 9.0, "the backoff reaches the ceiling and stays there"


def test_backoff_jitter_stays_within_ten_percent_and_varies():
    """Jitter spreads many tasks launched together, so it must really vary, but only by ±10 %."""
    random.seed(11)
    firsts = [PollSchedule(PARAMS, START).next(START)[0] for _schedule in range(400)]
    assert all(0.9 <= delay <= 1.1 for delay in firsts)
    assert len(set(firsts)) > 300
    assert min(firsts) < 0.92 and max(firsts) > 1.08


def test_backoff_never_exceeds_the_ceiling_even_with_jitter():
    random.seed(3)
    params = WaitOptions(poll_interval=2.0, poll_max_interval=2.0)
    delays = [delay for _schedule in range(50) for _at, delay, _hosts in drive(PollSchedule(params, START), START, 5)]
    assert max(delays) <= 2.0 and min(delays) >= 1.8


def test_host_results_are_never_asked_for_while_backing_off():
    """Without an expected end no poll is 'likely to see it', so the report makes its own host-results call."""
    polls = drive(PollSchedule(PARAMS, START), START, 40)
    assert not any(with_hosts for _at, _delay, with_hosts in polls)


# --------------------------------------------------------------------------------------- expected end


M = _wait.AIM_MARGIN  # the schedule aims this much after the predicted end


def test_a_long_expected_end_is_approached_in_steps_no_longer_than_the_ceiling():
    """A job expected to take 25 s with poll_max_interval 10: three even steps of about 8.4 s, the last one aimed.

    The steps keep a job that ends much earlier than its history (a fast failure) from going unseen for long; even
    steps keep a light poll from landing just before the aimed one.
    """
    polls = drive(PollSchedule(PARAMS, START, expected=25.0), START, 3)
    step = (25.0 + M) / 3
    assert [delay for _at, delay, _hosts in polls] == pytest.approx([step] * 3)
    assert [with_hosts for _at, _delay, with_hosts in polls] == [False, False, True]
    assert polls[2][0] == pytest.approx(25.0 + M)


def test_a_short_expected_end_gets_one_poll_right_at_it_with_host_results():
    """The poll at the expected end is the one most likely to see it, so it carries host results: it is then the report."""
    delay, with_hosts = PollSchedule(PARAMS, START, expected=3.5).next(START)
    assert delay == pytest.approx(3.5 + M) and with_hosts is True
    assert 0 < M <= 0.2, "the margin only covers the launch's own network time"


def test_the_expected_end_is_measured_from_started_not_from_the_first_call():
    """``started`` is the launch; the history lookup and anything else since then already used part of the time."""
    schedule = PollSchedule(PARAMS, START, expected=4.0)
    delay, with_hosts = schedule.next(START + 1.5)
    assert delay == pytest.approx(2.5 + M) and with_hosts is True


@pytest.mark.parametrize("expected, fine", [
    (100.0, 1.0),  # 5 % is 5 s: capped at poll_interval
    (10.0, 0.5),  # 5 %
    (2.0, _wait.FINE_POLL_MIN),  # 5 % is 0.1 s: raised to the 0.2 s floor
])
def test_after_the_expected_end_polls_back_off_from_five_percent_within_bounds(expected, fine):
    random.seed(9)
    schedule = PollSchedule(PARAMS, START, expected=expected)
    now = START + expected - 1.0
    now += schedule.next(now)[0]  # the poll aimed at the expected end
    for index in range(6):
        delay, _hosts = schedule.next(now)
        nominal = min(10.0, fine * 1.5 ** index)
        assert 0.9 * nominal <= delay <= min(1.1 * nominal, 10.0)
        now += delay


def test_fine_polls_never_exceed_a_poll_interval_below_the_floor():
    """A user who asked for 0.1 s polls gets them: the 0.2 s floor only applies to the 5 % share."""
    schedule = PollSchedule(WaitOptions(poll_interval=0.1, poll_max_interval=1.0), START, expected=2.0)
    schedule.next(START)
    assert schedule.next(START + 2.0 + M)[0] <= 0.11


def test_a_run_much_longer_than_its_history_is_not_polled_finely_for_ever():
    """The late polls back off to the ceiling: a run twice its history's length costs a handful of polls, not hundreds."""
    random.seed(5)
    expected = 600.0
    polls = drive(PollSchedule(PARAMS, START, expected=expected), START, 200)
    late = [at for at, _delay, _hosts in polls if expected < at <= 2 * expected]
    assert len(late) <= 600 / 10 + 10, "about one poll per poll_max_interval once the backoff reaches it"
    assert polls[-1][1] >= 9.0


def test_a_run_already_past_its_expected_end_polls_at_once():
    """The history lookup itself may take longer than a short job: then the first poll comes straight away."""
    schedule = PollSchedule(PARAMS, START, expected=2.0)
    delay, with_hosts = schedule.next(START + 2.5)
    assert delay == 0.0 and with_hosts is True


def test_at_most_three_polls_of_a_big_job_carry_host_results():
    """Host results make a poll of a big job heavy (every host of every step): only the three polls most likely to see
    the end pay for them."""
    polls = drive(PollSchedule(PARAMS, START, expected=4.0), START, 12)
    flags = [with_hosts for _at, _delay, with_hosts in polls]
    assert flags[:3] == [True, True, True] and not any(flags[3:])
    assert _wait.HOST_POLLS == 3


def test_every_late_poll_of_a_small_job_carries_host_results():
    """Once a poll showed few host results, asking for them costs JOB little: the poll that sees the end is the report."""
    schedule = PollSchedule(PARAMS, START, expected=4.0)
    schedule.small_job = True
    flags = [with_hosts for _at, _delay, with_hosts in drive(schedule, START, 12)]
    assert all(flags)


def test_the_host_results_budget_counts_from_the_expected_end_poll():
    """Stepping towards a far expected end spends no budget; the poll at the end and the next two polls do."""
    polls = drive(PollSchedule(PARAMS, START, expected=25.0), START, 8)
    assert [with_hosts for _at, _delay, with_hosts in polls] == [False, False, True, True, True, False, False, False]


# ------------------------------------------------------------------------------------------------ callback


def test_callback_mode_polls_only_every_ceiling_without_host_results():
    """The callback wakes the wait; polls are a safety net for a lost callback, so they come rarely and light."""
    schedule = PollSchedule(PARAMS, START, expected=3.0, callback=True)
    assert drive(schedule, START, 5) == [(10.0 * n, 10.0, False) for n in range(1, 6)]


def test_callback_mode_retries_a_failed_poll_soon_backing_off():
    """A poll after a wake-up that fails would otherwise wait a whole poll_max_interval for the next safety poll."""
    schedule = PollSchedule(PARAMS, START, callback=True)
    delays = []
    for failures in range(1, 7):
        schedule.retry(failures)
        delays.append(schedule.next(START)[0])
    assert delays == [1.0, 1.5, 2.25, 3.375, 5.0625, 7.59375]
    assert schedule.next(START) == (10.0, False), "a success (no retry) returns to the safety interval"


def test_without_callback_a_failed_poll_keeps_the_schedule():
    """The backoff already brings the next poll; retrying sooner would shorten how long an outage is tolerated."""
    schedule = PollSchedule(PARAMS, START, expected=30.0)
    schedule.retry(1)
    assert schedule.next(START) == (pytest.approx((30.0 + M) / 4), False)


# -------------------------------------------------------------------------------------------- plan_name_of


@pytest.mark.parametrize("instance_name, plan_name", [
    # JOB names an API launch exactly after its plan (TaskExecuteServiceImpl.buildTaskInstanceForTask: the plan's name)
    ("deploy-app", "deploy-app"),
    ("发布", "发布"),
    ("deploy_app_v2", "deploy_app_v2"),
    # older JOB added _<yyyyMMddHHmmssSSS>: still dropped, so that history and names from such a JOB match
    ("deploy-app_20260105093015123", "deploy-app"),
    ("deploy_app_v2_20260105093015123", "deploy_app_v2"),  # only the last _stamp is JOB's
    ("发布_20260105093015123", "发布"),
    ("nightly_2026", "nightly_2026"),  # not a 17-digit stamp: the name is kept as it is
    ("deploy-app_20260105093015123_x", "deploy-app_20260105093015123_x"),  # the stamp is only stripped at the end
    ("_20260105093015123", None),  # nothing but the stamp: no plan name to filter on
    ("", None),
    (None, None),
])
def test_plan_name_of_is_the_instance_name_without_an_old_stamp(instance_name, plan_name):
    assert plan_name_of(instance_name) == plan_name
