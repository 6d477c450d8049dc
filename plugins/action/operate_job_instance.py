# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin of blueking.job.operate_job_instance: in the controller's process on the controller, as a module elsewhere
(plugins/plugin_utils/_controller.py)."""

from __future__ import annotations

from ansible_collections.blueking.job.plugins.plugin_utils._controller import BKJobAction, preload

preload("operate_job_instance")


class ActionModule(BKJobAction):
    """blueking.job.operate_job_instance; see BKJobAction."""
