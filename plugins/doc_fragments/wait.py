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
      - V(confirm) confirms the step (C(operate_step_instance) operation 6, confirm and continue) and waits on, but
        only while no host of the job has failed so far. A host counts by its current status, so one that failed and
        was recovered by O(retry_failed_hosts) does not count; a step whose errors were ignored does. Otherwise it fails
        as V(fail) does, saying how many hosts failed; C(failed_hosts) lists them.
      - V(terminate) ends the job at the confirmation step (operation 9, confirm terminate), waits for JOB to end it
        and fails the task with status 13 (C(confirm_terminated)), saying that it was ended on purpose. The job did not
        run its later steps, so the task fails, as it does for a job terminated at O(wait_timeout); use V(return) to stop
        at a confirmation with an ok task instead.
      - JOB takes V(confirm) and V(terminate) only from the step's confirm users (or roles). For anyone else JOB answers
        1244016, and the task fails with stage C(operate) while the job still waits. Each confirmation step is answered
        once.
        A step that waits but is not a confirmation step (a paused rolling step) fails the task as V(fail) does.
      - V(confirm) and V(terminate) act only when the task waits for the job. A task that answered a step reports
        C(changed). In check mode nothing is sent; a warning says what would be, and the task returns the waiting job.
    type: str
    choices: [wait, fail, return, confirm, terminate]
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
  retry_failed_hosts:
    description:
      - When the job ends failed (status 4 or 9) in a step with failed hosts, retry that step's failed hosts in the
        same job instance (C(operate_step_instance) operation 2, retry failed) and wait again, up to this many times
        per step. JOB runs the step again on its failed hosts only; hosts that succeeded keep their result, and the
        job goes on from that step when it succeeds.
      - Counted per step, so a host runs a step at most 1 + O(retry_failed_hosts) times; every retry happens within
        the one O(wait_timeout). A job stopped on purpose (terminated, status 8 or 11) is never retried.
      - C(retries) says per step and per host how many runs it took and which hosts recovered; C(failed_hosts)
        lists the hosts still failed. When JOB refuses a retry (no permission, for example), a warning says so and
        the job's failure is reported as it is.
      - Only when the task waits for the job. A task that retried reports C(changed). In check mode nothing is sent; a
        warning says what would be.
      - V(0) (the default) never retries. At most V(100).
    type: int
    default: 0
  max_host_results:
    description:
      - The most hosts each host list of the result carries, so that a job with tens of thousands of hosts gives a
        result Ansible, AWX and a terminal can hold. It caps all steps' C(hosts) together (failed hosts are chosen
        first, then, with C(host_results=all), the others), C(failed_hosts), and all C(retries[].hosts) together.
      - Logs are read only for listed hosts. C(host_summary) and the counts of C(retries) still count every host. When
        hosts were left out, C(host_results_truncated) is true and one warning says how many, from which lists.
      - V(0) lists every host.
    type: int
    default: 2000
  show_progress:
    description:
      - Show progress lines while the task waits (the job's status as it changes, and each retry or confirmation the
        task sends). Only where the task runs on the controller; a module run elsewhere (a delegated host, C(async))
        shows nothing before it ends.
    type: bool
    default: true
"""
