# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the JOB emulator itself: one emulator per test module (``emulator``), emptied for each test (``job``).
Raw calls of JOB APIs are in ``tests/emulator/raw_call.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "emulator"))

from process import Emulator  # noqa: E402  pylint: disable=wrong-import-position,import-error
from raw_call import CONFIG  # noqa: E402  pylint: disable=wrong-import-position,import-error


@pytest.fixture(scope="module")
def emulator():
    with Emulator(config=CONFIG) as running:
        yield running


@pytest.fixture()
def job(emulator):  # pylint: disable=redefined-outer-name
    """The module's emulator, emptied of recorded requests, faults and instances."""
    emulator.reset()
    return emulator
