# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Scope options of every blueking.job module; mirrors SCOPE_ARGSPEC in module_utils/_args.py."""

    DOCUMENTATION = r"""
options:
  bk_biz_id:
    description:
      - Business id, the field of the original C(execute_job_plan) API. Sent as C(bk_biz_id).
      - JOB reads an id from 8000000 to 9999999 as a business set, not a business (the range business sets had before
        they became their own scope; C(BasicAppInterceptor) in bk-job). Prefer O(bk_scope_type=biz_set) with O(bk_scope_id).
      - Exactly one of O(bk_biz_id) and O(bk_scope_id) is required; the request carries the form you chose.
    type: int
  bk_scope_type:
    description:
      - Resource scope type sent with O(bk_scope_id). Defaults to V(biz) when O(bk_scope_id) is given.
      - V(tenant_set) is a tenant set of a multi-tenant BlueKing (bk-job 3.12 and later, C(ResourceScopeTypeEnum)).
    type: str
    choices: [biz, biz_set, tenant_set]
  bk_scope_id:
    description:
      - Business (V(biz)), business-set (V(biz_set)) or tenant-set (V(tenant_set)) id, sent as C(bk_scope_type) and
        C(bk_scope_id).
    type: str
"""
