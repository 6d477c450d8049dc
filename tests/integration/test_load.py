# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Load: 200 hosts launching at once (forks 50), each waiting for its job: 200 distinct instances, 0 failures.

The figures are in docs/reliability.md.
"""

from __future__ import annotations

from conftest import Ansible, esb_connection  # pylint: disable=import-error
from multihost import FAST, LAUNCH, run_hosts, tenant_of  # pylint: disable=import-error
from process import Emulator  # pylint: disable=import-error
from support import BIZ_ID, PLAN_DEPLOY  # pylint: disable=import-error

LOAD_HOSTS = 200
LOAD_FORKS = 50


def test_200_concurrent_launches_give_200_distinct_instances(tmp_path, collections):
    ansible = Ansible(tmp_path, collections)
    with Emulator(config={"default_behaviour": {"step_seconds": 0.05}}) as job:
        cells = {}
        for index in range(LOAD_HOSTS):
            tag = f"load-{index:03d}"
            cells[f"h{index:03d}"] = (LAUNCH, {**esb_connection(job), "bk_biz_id": BIZ_ID, "bk_tenant_id": tag, "job_plan_id": PLAN_DEPLOY,
                                               "wait": True, **FAST})
        run = run_hosts(ansible, cells, forks=LOAD_FORKS)
        instances = job.instances()
        launches = job.requests("execute_job_plan")
    results = list(run.results.values())
    failed = [result.get("msg") for result in results if result.get("failed")]
    ids = [result.get("job_instance_id") for result in results]
    print(f"\nload: {LOAD_HOSTS} hosts, forks {LOAD_FORKS}, wait: true: wall {run.wall:.1f} s; "
          f"{len(set(ids))} distinct job instances, {len(failed)} failures, {len(ids) - len(set(ids))} duplicates")
    assert run.rc == 0 and not failed, failed[:3]
    assert len(results) == LOAD_HOSTS and len(set(ids)) == LOAD_HOSTS and None not in ids
    assert all(result["status_name"] == "success" for result in results)
    assert len(instances) == LOAD_HOSTS and {instance["job_instance_id"] for instance in instances} == set(ids)
    assert len(launches) == LOAD_HOSTS
    assert sorted(tenant_of(request) for request in launches) == sorted(f"load-{index:03d}" for index in range(LOAD_HOSTS)), \
        "each host launched exactly once"
