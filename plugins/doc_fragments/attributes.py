# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Attributes shared by every blueking.job module (with ansible.builtin.action_common_attributes)."""

    DOCUMENTATION = r"""
attributes:
  action_group:
    description: Use C(group/blueking.job.bk_job) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - blueking.job.bk_job
  platform:
    platforms: all
"""

    # The modules that only read JOB.
    INFO_MODULE = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: N/A
"""
