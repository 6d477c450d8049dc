# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The time window of job_instance_info's listing: its forms, its checks, and its split into JOB's 30-day queries.

The requests these make are tested end to end in tests/integration/test_job_instance_list.py.
"""

from __future__ import annotations

import pytest

from ansible_collections.blueking.job.plugins.module_utils._errors import InputError
from ansible_collections.blueking.job.plugins.modules.job_instance_info import (
    QUERY_SPAN_MS,
    epoch_ms,
    query_windows,
    since_ms,
    status_codes,
    time_window,
)

NOW = 1764403200000  # 2025-11-29T08:00:00Z
DAY = 24 * 3600 * 1000


@pytest.mark.parametrize("value, expected", [
    (1764403200000, 1764403200000),
    ("1764403200000", 1764403200000),
    (1764403200000.0, 1764403200000),
    ("2025-11-29", 1764374400000),
    ("2025-11-29T08:00:00Z", NOW),
    ("2025-11-29T08:00:00", NOW),
    ("2025-11-29 16:00:00+08:00", NOW),
    ("2025-11-29T08:00:00.250+00:00", NOW + 250),
])
def test_epoch_ms_accepts_milliseconds_and_iso_8601(value, expected):
    assert epoch_ms(value, "create_time_start") == expected


@pytest.mark.parametrize("value, text", [
    (1764403200, "Unix time in seconds? then give 1764403200000"),
    ("29/11/2025", "ISO 8601"),
    (True, "an integer"),
    (float("inf"), "an integer"),
    ([2025], "an integer"),
    ("-5", "ISO 8601"),
    ("9" * 400, "at most 9223372036854775807"),
    (2 ** 63, "at most 9223372036854775807"),
])
def test_epoch_ms_refuses_what_it_cannot_place(value, text):
    with pytest.raises(InputError) as caught:
        epoch_ms(value, "create_time_end")
    assert "create_time_end" in caught.value.msg and text in caught.value.msg


@pytest.mark.parametrize("value, expected", [("90s", 90000), ("30m", 1800000), ("24h", DAY), ("1.5d", 36 * 3600000),
                                             ("2w", 14 * DAY), (" 7 d ", 7 * DAY)])
def test_since(value, expected):
    assert since_ms(value) == expected


@pytest.mark.parametrize("value", ["", "24", "h", "0h", "-1h", "1y", "1e3s"])
def test_since_refuses(value):
    with pytest.raises(InputError, match="since must be a positive number with a unit"):
        since_ms(value)


@pytest.mark.parametrize("value", ["367d", "53w", "9" * 300 + "w"])
def test_since_beyond_366_days(value):
    with pytest.raises(InputError, match="at most 366 days"):
        since_ms(value)


def test_default_window_is_the_last_24_hours():
    assert time_window({}, NOW) == (NOW - DAY, NOW)
    assert time_window({"since": "2h"}, NOW) == (NOW - 2 * 3600000, NOW)
    assert time_window({"create_time_end": NOW - DAY}, NOW) == (NOW - 2 * DAY, NOW - DAY)


def test_window_checks():
    with pytest.raises(InputError, match="must be before create_time_end"):
        time_window({"create_time_start": NOW, "create_time_end": NOW}, NOW)
    assert time_window({"since": "366d"}, NOW) == (NOW - 366 * DAY, NOW)
    with pytest.raises(InputError, match="at most 366 days"):
        time_window({"create_time_start": NOW - 366 * DAY - 1}, NOW)
    with pytest.raises(InputError, match="at most 366 days"):
        time_window({"create_time_start": "0001-01-01T00:00:00+01:00", "create_time_end": "9999-12-31T23:59:59-01:00"}, NOW)


def test_query_windows_are_at_most_30_days_newest_first_and_contiguous():
    assert query_windows(NOW - QUERY_SPAN_MS, NOW) == [(NOW - QUERY_SPAN_MS, NOW)], "exactly 30 days is one query"
    # JOB refuses a query whose end is not after its start: the last 1 ms is a query of 1 ms, sharing its end
    assert query_windows(NOW - QUERY_SPAN_MS - 1, NOW) == [(NOW - QUERY_SPAN_MS, NOW), (NOW - QUERY_SPAN_MS - 1, NOW - QUERY_SPAN_MS)]
    windows = query_windows(NOW - 366 * DAY, NOW)
    assert len(windows) == 13 and windows[0][1] == NOW and windows[-1][0] == NOW - 366 * DAY
    assert all(0 < end - start <= QUERY_SPAN_MS for start, end in windows)
    assert all(newer[0] == older[1] for newer, older in zip(windows, windows[1:]))


def test_status_codes_by_name_or_code():
    assert status_codes(["failed", "SUCCESS", 4, "13"]) == [3, 4, 13]
    for bad in (["done"], [12], [True], [99]):
        with pytest.raises(InputError, match="is not a JOB job status"):
            status_codes(bad)
