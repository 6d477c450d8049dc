# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Options that control waiting for a job; mirrors WAIT_ARGSPEC in module_utils/_args.py."""

    DOCUMENTATION = r"""
options:
  wait_timeout:
    description:
      - Seconds to wait for the job to end. A job still running then is reported as a failure that carries its id.
      - Under C(async), keep O(wait_timeout) below the async limit. When the async limit passes first, Ansible's
        async_wrapper kills the module and the result has no C(job_instance_id). Alternatively use C(poll=0) with
        C(async_status), or C(wait=false) and then C(job_instance_info) to follow the job.
    type: int
    default: 3600
  poll_interval:
    description:
      - Seconds before the first status poll. Later intervals grow by half each time, with jitter, up to
        O(poll_max_interval).
      - When C(execute_job_plan) waits for a job whose plan has run successfully in the last 7 days, it aims its polls
        at the end those runs predict instead (one C(get_job_instance_list) call; the median length of up to 5 recent
        runs). It polls at that moment, then backs off as above but starting from 5 % of that length (at least
        0.2 s, at most O(poll_interval)). Its option C(callback_listen) ends the wait on JOB's callback instead.
    type: float
    default: 1
  poll_max_interval:
    description:
      - Longest interval between two status polls, in seconds.
    type: float
    default: 10
  on_waiting_user:
    description:
      - What to do when the job waits for a person to confirm a step (status 7, C(waiting_user)).
      - V(wait) keeps waiting (within O(wait_timeout)), V(fail) fails the task, V(return) returns successfully
        with the status.
    type: str
    choices: [wait, fail, return]
    default: wait
  log_max_bytes:
    description:
      - How much of the end of each returned host's log to keep, in bytes. V(0) fetches no logs.
      - Logs are fetched once, when the job has ended, through C(batch_get_job_instance_ip_log) in batches of
        at most 500 hosts; failed hosts' logs first.
    type: int
    default: 4096
  log_total_max_bytes:
    description:
      - The most log text, in bytes, the result carries over all hosts together. Once the logs fetched reach it,
        later hosts keep C(log) null, no further logs are fetched, and a warning says how many hosts were left out.
      - It keeps the result of a job with thousands of failed hosts small enough for Ansible's output, AWX's
        database and a terminal. Each returned host adds about 200 bytes besides its log.
    type: int
    default: 1048576
"""
