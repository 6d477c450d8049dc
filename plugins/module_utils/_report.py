# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""One job instance as JOB reports it: the status table, reading a job's status, and the result an operator reads.

Status codes are JOB's ``RunStatusEnum`` (``_api.STATUS_*``); FINISHED_STATUSES is the set JOB itself computes
``finished`` from. A status only ends the wait (``_wait``) when JOB also says ``finished``, and the reverse: the two are
read together. The result's ``job_finished`` comes from the status table alone, so that a JOB answering
``finished: true`` at status 7 (3.5.x) cannot fool it; ``finished`` is not a result key (Ansible's async machinery owns
it). The result: ``JobInstance.report`` (steps, hosts, ``failed_hosts``, the ``retries`` of ``_wait``, log tails within a
byte budget, output variables) and ``apply_outcome_rules`` (which statuses fail the task, which only warn).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from ansible_collections.blueking.job.plugins.module_utils import _api
from ansible_collections.blueking.job.plugins.module_utils._api import (
    CODE_INTERNAL_ERROR,
    HOST_STATUS_LAST_SUCCESS,
    HOST_STATUS_RUNNING,
    HOST_STATUS_SUCCESS,
    HOST_STATUS_WAITING,
    LOG_BATCH,
    LOGGED_STEP_TYPES,
    STATUS_ABANDONED,
    STATUS_ABNORMAL_STATE,
    STATUS_BLANK,
    STATUS_CONFIRM_TERMINATED,
    STATUS_FAIL,
    STATUS_IGNORE_ERROR,
    STATUS_ROLLING_WAITING,
    STATUS_RUNNING,
    STATUS_SKIPPED,
    STATUS_STOP_SUCCESS,
    STATUS_STOPPING,
    STATUS_SUCCESS,
    STATUS_TERMINATED,
    STATUS_WAITING_USER,
)
from ansible_collections.blueking.job.plugins.module_utils._args import WaitOptions
from ansible_collections.blueking.job.plugins.module_utils._errors import BKJobError, JobFailedError

# code: (name, what the wait does with it)
#   ok: success; warn: success with a warning; fail: failure; poll: keep waiting; user: on_waiting_user decides
STATUSES: dict[int, tuple[str, str]] = {
    STATUS_BLANK: ("pending", "poll"),
    STATUS_RUNNING: ("running", "poll"),
    STATUS_SUCCESS: ("success", "ok"),
    STATUS_FAIL: ("failed", "fail"),
    STATUS_SKIPPED: ("skipped", "warn"),
    STATUS_IGNORE_ERROR: ("ignored_error", "warn"),
    STATUS_WAITING_USER: ("waiting_user", "user"),
    STATUS_TERMINATED: ("terminated", "fail"),
    STATUS_ABNORMAL_STATE: ("abnormal", "fail"),
    STATUS_STOPPING: ("terminating", "poll"),
    STATUS_STOP_SUCCESS: ("terminate_success", "fail"),
    STATUS_CONFIRM_TERMINATED: ("confirm_terminated", "fail"),
    STATUS_ABANDONED: ("abandoned", "fail"),
    STATUS_ROLLING_WAITING: ("rolling_waiting", "poll"),
}
# RunStatusEnum.FINISHED_STATUS_SET (isFinishedStatus), from which EsbGetJobInstanceStatusV3ResourceImpl sets finished.
FINISHED_STATUSES = frozenset({STATUS_SUCCESS, STATUS_FAIL, STATUS_SKIPPED, STATUS_IGNORE_ERROR, STATUS_TERMINATED,
                               STATUS_ABNORMAL_STATE, STATUS_STOP_SUCCESS, STATUS_CONFIRM_TERMINATED, STATUS_ABANDONED})
FAILED_STEP_STATUSES = frozenset({STATUS_FAIL, STATUS_ABNORMAL_STATE})

# Per-host task status (ExecuteObjectTaskStatusEnum): 9 success, 3 "succeeded last time"; 5/7 still going.
HOST_STATUS_NAMES: dict[int, str] = {
    0: "unknown_error", 1: "agent_error", 2: "invalid_target", 3: "last_success", 5: "waiting", 7: "running",
    9: "success", 11: "failed", 12: "submit_failed", 13: "task_timeout", 15: "log_error", 16: "gse_script_timeout",
    17: "gse_file_timeout", 18: "agent_not_installed", 101: "script_failed", 102: "script_timeout",
    103: "script_terminated", 104: "script_nonzero_exit", 202: "file_transfer_failed", 203: "source_file_missing",
    301: "file_task_error", 303: "file_task_timeout", 310: "agent_error", 311: "user_not_found",
    312: "user_password_wrong", 320: "file_fetch_failed", 321: "file_too_large", 329: "file_transfer_error",
    399: "task_error", 403: "terminated", 404: "terminate_failed", 500: "unknown",
}
HOST_OK = frozenset({HOST_STATUS_LAST_SUCCESS, HOST_STATUS_SUCCESS})
HOST_RUNNING = frozenset({HOST_STATUS_WAITING, HOST_STATUS_RUNNING})

# JOB names an API launch exactly after its plan; older JOB added _<yyyyMMddHHmmssSSS>, which is still stripped.
INSTANCE_STAMP = re.compile(r"_\d{17}$")
HOST_READ_STRIKES = 2  # polls whose host results answer 1240002 (and plain status does not) before v3 is taken not to have them


def job_finished(status: Any) -> bool:
    """Whether a job status is a final one, from the status table (not from JOB's own ``finished`` flag)."""
    return status in FINISHED_STATUSES


def status_name(code: Any) -> str:
    return STATUSES.get(code, (f"unknown_{code}", "poll"))[0]


def host_status_name(code: Any) -> str:
    return HOST_STATUS_NAMES.get(code, f"unknown_{code}")


class JobInstance:
    """Reads and reports one job instance; ``_wait.JobWatcher`` adds waiting for it. One object per job and task."""

    def __init__(self, client: Any, scope: dict[str, Any], job_instance_id: int, *, warn: Callable[[str], None]) -> None:
        self.client = client
        self.scope = scope
        self.job_instance_id = job_instance_id
        self.warn = warn
        self.final: dict[str, Any] | None = None  # the poll that saw the end, when it carried host results
        # JOB's v3 status cannot give this job's per-target results (a container-target job answers 1240002)
        self.no_host_results = False
        self._host_read_failures = 0
        self.had_hosts = False  # whether the last status read carried host results
        # Failed steps retried by _wait (retry_failed_hosts), by step_instance_id in the order first retried:
        # {"step_instance_id", "step_name", "rounds": retries sent, "attempts": {host key: runs of the step on it}, "hosts": {key: host}}
        self.retried: dict[Any, dict[str, Any]] = {}

    # ---------------------------------------------------------------------------------- reading
    def status(self, *, with_hosts: bool, stage: str = "wait") -> dict[str, Any]:
        """get_job_instance_status (see _api), with host results when asked and JOB can give them.

        When the read with host results answers 1240002 and the same read without them succeeds, this read goes on
        without host results, and the report warns; after HOST_READ_STRIKES such reads the job's targets are taken to
        be ones v3 cannot report and host results are no longer asked for (a single one may be JOB's transient
        1240002). Containers: EsbGetJobInstanceStatusV3ResourceImpl reads ``executeObject.getHost()`` for every
        target, null for a container, and the exception answers 1240002 (EsbExceptionControllerAdvice).
        """
        self.had_hosts = False
        if not with_hosts or self.no_host_results:
            return _api.get_job_instance_status(self.client, self.scope, self.job_instance_id, return_ip_result=False, stage=stage)
        try:
            data = _api.get_job_instance_status(self.client, self.scope, self.job_instance_id, return_ip_result=True, stage=stage)
            self.had_hosts = True
            return data
        except BKJobError as err:
            if err.code != CODE_INTERNAL_ERROR:
                raise
            data = _api.get_job_instance_status(self.client, self.scope, self.job_instance_id, return_ip_result=False, stage=stage)
        self._host_read_failures += 1
        self.no_host_results = self._host_read_failures >= HOST_READ_STRIKES
        return data

    # ---------------------------------------------------------------------------------- reporting
    def report(self, options: WaitOptions, *, output_vars: bool = True) -> dict[str, Any]:
        """The result fields (the modules' RETURN blocks) for the job's current state, with host results, logs and output vars.

        ``options``: its host_results, log_max_bytes, log_total_max_bytes and max_host_results are read.
        The poll that saw the end is reused when it carried host results. ``output_vars=False`` skips
        reading them (the plan has no string variables, the only kind JOB reports).

        ``max_host_results`` (0: no limit) caps each host list of the result: all steps' ``hosts`` together (failed
        hosts chosen first), ``failed_hosts`` and all ``retries[].hosts`` together; host_summary and the retries' counts
        stay exact, ``host_results_truncated`` says whether anything was left out, and one warning says what. Logs are
        read only for listed hosts, and host entries are only built for them.
        """
        data = self.final or self.status(with_hosts=True)
        if not self.had_hosts and self._host_read_failures:
            self.warn(f"JOB cannot give per-target results of job instance {self.job_instance_id}: get_job_instance_status with "
                      "host results answered 1240002 while the same read without them succeeded, as for a job whose targets are "
                      "containers. Its outcome and steps are reported without hosts or logs; see them in JOB's web console.")
        instance = data.get("job_instance") or {}
        status = instance.get("status")
        step_list = data.get("step_instance_list") or []
        cap = options.max_host_results
        steps, left_out = self._steps(step_list, options.host_results, cap)
        if options.log_max_bytes > 0 and options.host_results != "none":
            self._attach_logs(steps, options.log_max_bytes, options.log_total_max_bytes)
        summary = host_summary(step_list)
        failed = failed_hosts(step_list, limit=cap)
        retries = retries_report(self.retried, step_list, limit=cap)
        truncated = {"steps[].hosts": left_out, "failed_hosts": summary["failed"] - len(failed),
                     "retries[].hosts": sum(len(record["attempts"]) for record in self.retried.values())
                     - sum(len(record["hosts"]) for record in retries)}
        truncated = {where: count for where, count in truncated.items() if count > 0}
        if truncated:
            what = ", ".join(f"{plural(count, 'host')} from {where}" for where, count in truncated.items())
            self.warn(f"The result of job instance {self.job_instance_id} lists at most max_host_results ({cap}) hosts per list and "
                      f"leaves out {what}; host_summary and the retries' counts include them. Raise max_host_results (0: no "
                      "limit), or see them in JOB's web console.")
        return {
            "job_instance_id": self.job_instance_id,
            "job_instance_name": instance.get("name"),
            "status": status,
            "status_name": status_name(status),
            "job_finished": job_finished(status),
            "create_time": instance.get("create_time"),
            "start_time": instance.get("start_time"),
            "end_time": instance.get("end_time"),
            "total_time": instance.get("total_time"),
            "steps": [step for step, _hosts in steps],
            "host_summary": summary,
            "failed_hosts": failed,
            "retries": retries,
            "host_results_truncated": bool(truncated),
            "output_vars": self._output_vars() if output_vars else {},
        }

    def plan_id(self, create_time: int | None) -> int | None:
        """The plan this instance ran, from JOB's history (get_job_instance_status does not say); None if unknown."""
        if not create_time:
            return None
        try:
            items, _total = _api.get_job_instance_list_page(
                self.client, self.scope, create_time_start=create_time - 60000, create_time_end=create_time + 60000, length=10,
                job_instance_id=self.job_instance_id)
        except BKJobError as err:
            self.warn(f"The job plan of job instance {self.job_instance_id} could not be read: {err.msg}")
            return None
        for item in items:
            if item["job_instance_id"] == self.job_instance_id:
                return item.get("job_plan_id")
        return None

    @staticmethod
    def _steps(step_list: list[dict[str, Any]], host_results: str,
               cap: int) -> tuple[list[tuple[dict[str, Any], list[dict[str, Any]]]], int]:
        """Each step's summary with the hosts ``host_results`` chooses, at most ``cap`` (0: all) over all steps: the
        failed hosts first (in step order), then, for ``all``, the others; each step keeps JOB's order. The steps, and
        how many chosen hosts were left out."""
        wanted: list[list[tuple[int, dict[str, Any]]]] = []
        for step in step_list:
            hosts = step.get("step_ip_result_list") or []
            if host_results == "none":
                wanted.append([])
            elif host_results == "all":
                wanted.append(list(enumerate(hosts)))
            else:
                wanted.append([(index, host) for index, host in enumerate(hosts) if host.get("status") not in HOST_OK])
        total = sum(len(hosts) for hosts in wanted)
        if cap and total > cap:
            budget = cap
            kept: list[list[tuple[int, dict[str, Any]]]] = [[] for _step in step_list]
            for failed in (True, False):
                for position, hosts in enumerate(wanted):
                    if budget <= 0:
                        break
                    chosen = [(index, host) for index, host in hosts if (host.get("status") not in HOST_OK) is failed][:budget]
                    kept[position].extend(chosen)
                    budget -= len(chosen)
            wanted = [sorted(hosts, key=lambda item: item[0]) for hosts in kept]
        steps = [JobInstance._step(step, [host for _index, host in hosts]) for step, hosts in zip(step_list, wanted)]
        return steps, total - sum(len(hosts) for hosts in wanted)

    @staticmethod
    def _step(step: dict[str, Any], hosts: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A step's summary with the given hosts' entries (``log`` filled in later by ``_attach_logs``)."""
        chosen = [{
            "bk_host_id": host.get("bk_host_id"), "ip": host.get("ip"), "bk_cloud_id": host.get("bk_cloud_id"),
            "status": host.get("status"), "status_name": host_status_name(host.get("status")),
            "exit_code": host.get("exit_code"), "error_code": host.get("error_code"), "tag": host.get("tag"),
            "log": None,
        } for host in hosts]
        summary = {
            "step_instance_id": step.get("step_instance_id"), "name": step.get("name"), "type": step.get("type"),
            "status": step.get("status"), "status_name": status_name(step.get("status")),
            "total_time": step.get("total_time"), "hosts": chosen,
        }
        return summary, chosen

    def _attach_logs(self, steps: list[tuple[dict[str, Any], list[dict[str, Any]]]], max_bytes: int, total_bytes: int) -> None:
        """Fetch the chosen hosts' logs once, in batches of at most 500 hosts per step, failed hosts first.

        Each log keeps its last ``max_bytes``; all logs together stop at ``total_bytes``, so that a job with
        thousands of failed hosts gives a result Ansible, AWX and a terminal can still hold.
        """
        budget = total_bytes
        try:
            for failed in (True, False):
                for step, hosts in steps:
                    chosen = [host for host in hosts if (host.get("status") not in HOST_OK) is failed]
                    if step["type"] not in LOGGED_STEP_TYPES or not chosen:
                        continue
                    for start in range(0, len(chosen), LOG_BATCH):
                        if budget <= 0:
                            break
                        budget -= self._fetch_logs(step["step_instance_id"], chosen[start:start + LOG_BATCH], max_bytes, budget)
        except BKJobError as err:
            self.warn(f"Host logs of job instance {self.job_instance_id} could not be read, results carry none: {err.msg}")
            return
        if budget <= 0:
            left_out = sum(1 for step, hosts in steps if step["type"] in LOGGED_STEP_TYPES for host in hosts if host.get("log") is None)
            if left_out:
                self.warn(f"Logs of {left_out} hosts of job instance {self.job_instance_id} are left out of the result: the logs "
                          f"returned already reach log_total_max_bytes ({total_bytes} bytes). Read them in JOB's web console, "
                          "or raise log_total_max_bytes.")

    def _fetch_logs(self, step_instance_id: int, hosts: list[dict[str, Any]], max_bytes: int, budget: int) -> int:
        """Attach each host's log tail (``max_bytes`` each, ``budget`` bytes in all); the bytes attached."""
        used = 0
        by_id = {host["bk_host_id"]: host for host in hosts if host.get("bk_host_id")}
        by_ip = {(host.get("bk_cloud_id"), host.get("ip")): host for host in hosts}
        if len(by_id) == len(hosts):
            log_entries = _api.batch_get_job_instance_ip_log(self.client, self.scope, self.job_instance_id, step_instance_id,
                                                             host_id_list=list(by_id))
        else:
            log_entries = _api.batch_get_job_instance_ip_log(self.client, self.scope, self.job_instance_id, step_instance_id,
                                                             ip_list=[{"bk_cloud_id": cloud, "ip": ip} for cloud, ip in by_ip])
        for entry in log_entries:
            host = by_id.get(entry["bk_host_id"]) or by_ip.get((entry["bk_cloud_id"], entry["ip"]))
            if host is None:
                continue
            text = entry["log"]
            if used >= budget:
                continue
            host["log"] = log_tail(text, min(max_bytes, budget - used))
            used += len(host["log"].encode("utf-8"))
        return used

    def _output_vars(self) -> dict[str, str]:
        """String variables after the run (JOB returns only type-1 variables), the last step's value winning."""
        try:
            return _api.get_job_instance_global_var_value(self.client, self.scope, self.job_instance_id)
        except BKJobError as err:
            self.warn(f"Output variables of job instance {self.job_instance_id} could not be read: {err.msg}")
            return {}


def plan_name_of(job_instance_name: str | None) -> str | None:
    """The plan name in a job instance name: JOB names an API launch exactly after its plan (older JOB added
    ``_<yyyyMMddHHmmssSSS>``, which is stripped)."""
    if not job_instance_name:
        return None
    return INSTANCE_STAMP.sub("", job_instance_name) or None


def log_tail(text: str, max_bytes: int) -> str:
    """The last ``max_bytes`` bytes of ``text`` in UTF-8, never splitting a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[-max_bytes:].decode("utf-8", errors="ignore")


def host_count(data: dict[str, Any]) -> int:
    return sum(len(step.get("step_ip_result_list") or []) for step in data.get("step_instance_list") or [])


def host_key(host: dict[str, Any]) -> Any:
    """One host across steps: its CMDB id, else its cloud area and IP (as ``host_summary`` counts them)."""
    return host.get("bk_host_id") or (host.get("bk_cloud_id"), host.get("ip"))


def host_failed(code: Any) -> bool:
    """A host status that ``host_summary`` counts as failed: neither success (9, 3) nor still going (5, 7)."""
    return code not in HOST_OK and code not in HOST_RUNNING


def failed_hosts(steps: list[dict[str, Any]], limit: int = 0) -> list[dict[str, Any]]:
    """The hosts ``host_summary`` counts as failed, one item each, shaped for ``ansible.builtin.add_host``.

    ``steps``: get_job_instance_status's ``step_instance_list`` (with host results; without them, nothing is found).
    A host failed in several steps (an ignored error, then the failed step) appears once, with the first of them. Items:
    ``name`` (the address to reach the host: ``ip``, else ``ipv6`` when JOB gives one, else null), ``bk_host_id``, ``ip``,
    ``bk_cloud_id``, ``step_instance_id``, ``step_name``, ``status``, ``status_name``, ``exit_code``, ``error_code``.
    At most ``limit`` items (0: all). One pass over the hosts, no request: 50,000 failed hosts cost milliseconds.
    """
    seen: set[Any] = set()
    found = []
    for step in steps:
        for host in step.get("step_ip_result_list") or []:
            code = host.get("status")
            if not host_failed(code):
                continue
            key = host_key(host)
            if key in seen:
                continue
            seen.add(key)
            if limit and len(found) >= limit:
                return found
            found.append({
                "name": host.get("ip") or host.get("ipv6") or None, "bk_host_id": host.get("bk_host_id"), "ip": host.get("ip"),
                "bk_cloud_id": host.get("bk_cloud_id"), "step_instance_id": step.get("step_instance_id"), "step_name": step.get("name"),
                "status": code, "status_name": host_status_name(code), "exit_code": host.get("exit_code"),
                "error_code": host.get("error_code"),
            })
    return found


def retries_report(retried: dict[Any, dict[str, Any]], steps: list[dict[str, Any]], limit: int = 0) -> list[dict[str, Any]]:
    """The result's ``retries``: per retried step, the retries sent and per host the runs of the step and whether it recovered.

    ``retried``: ``JobInstance.retried`` (kept by ``_wait``); ``steps``: the final ``step_instance_list``. A host
    ``recovered`` when its final status in that step is a success (9, or 3 "succeeded last time"); null when the final
    read has no host results for the step (targets JOB's v3 status cannot report, such as containers). At most
    ``limit`` hosts over all steps (0: all); the counts take every host.
    """
    final = {step.get("step_instance_id"): step for step in steps}
    budget = limit or sum(len(record["hosts"]) for record in retried.values())
    report = []
    for step_instance_id, record in retried.items():
        statuses = {host_key(host): host.get("status") for host in (final.get(step_instance_id) or {}).get("step_ip_result_list") or []}
        hosts = []
        recovered_count = failed_count = 0
        for key, host in record["hosts"].items():
            recovered = (statuses[key] in HOST_OK) if key in statuses else None
            recovered_count += recovered is True
            failed_count += recovered is False
            if len(hosts) < budget:
                hosts.append({"name": host.get("ip") or host.get("ipv6") or None, "bk_host_id": host.get("bk_host_id"),
                              "ip": host.get("ip"), "bk_cloud_id": host.get("bk_cloud_id"), "attempts": record["attempts"][key],
                              "recovered": recovered})
        budget -= len(hosts)
        report.append({
            "step_instance_id": step_instance_id, "step_name": record["step_name"], "rounds": record["rounds"],
            "hosts_recovered": recovered_count, "hosts_failed": failed_count, "hosts": hosts,
        })
    return report


def host_summary(steps: list[dict[str, Any]]) -> dict[str, int]:
    """Distinct hosts over all steps: failed if any step failed on it, running if any still runs, else success."""
    state: dict[Any, str] = {}
    for step in steps:
        for host in step.get("step_ip_result_list") or []:
            key = host_key(host)
            code = host.get("status")
            now = "success" if code in HOST_OK else "running" if code in HOST_RUNNING else "failed"
            before = state.get(key)
            if before == "failed" or (before == "running" and now == "success"):
                continue
            state[key] = now
    counts = {"total": len(state), "success": 0, "failed": 0, "running": 0}
    for value in state.values():
        counts[value] += 1
    return counts


def apply_outcome_rules(result: dict[str, Any], on_waiting_user: str, warn: Callable[[str], None]) -> None:
    """Apply the outcome rules to a finished (or waiting) job's result: warn, or raise JobFailedError."""
    status = result["status"]
    name = result["status_name"]
    job = f"Job instance {result['job_instance_id']}"
    verdict = STATUSES.get(status, (name, "fail" if result["job_finished"] else "poll"))[1]
    passed = [step for step in result.get("steps") or [] if step.get("status") in (STATUS_SKIPPED, STATUS_IGNORE_ERROR)]
    if verdict == "ok" and passed:
        # JobListener.refreshJob moves on after a skipped or ignored-error step and ends the job with SUCCESS: only the
        # step shows 5 or 6.
        what = ", ".join(f"'{step.get('name')}' ({step.get('status_name')})" for step in passed)
        warn(f"{job} ended with status {name} ({status}), but not every step succeeded: {what}{_failed_hosts(result, failed_steps=False)}. "
             "See failed_hosts.")
    elif verdict == "warn":
        warn(f"{job} ended with status {name} ({status}): JOB counts it as done, but some steps were skipped or their errors ignored.")
    elif verdict == "user" and on_waiting_user == "fail":
        raise JobFailedError(f"{job} waits for a person to confirm a step (status waiting_user): confirm or end it with "
                             "blueking.job.operate_step_instance (operation confirm_continue or confirm_terminate, wait: true) or in JOB's "
                             "web console, or let the task answer with on_waiting_user: confirm.", stage="wait", code=status, message=name)
    elif verdict == "fail":
        raise JobFailedError(f"{job} ended with status {name} ({status}){_failed_hosts(result)}{_retried(result)}; see failed_hosts, "
                             "and steps[].hosts for exit codes and logs.", stage="wait", code=status, message=name)


def _failed_hosts(result: dict[str, Any], *, failed_steps: bool = True) -> str:
    summary = result.get("host_summary") or {}
    steps = [step["name"] for step in result.get("steps") or [] if step.get("status") in FAILED_STEP_STATUSES] if failed_steps else []
    where = f" in step '{steps[0]}'" if steps else ""
    if summary.get("failed"):
        return f"{':' if failed_steps else ';'} {summary['failed']} of {summary['total']} hosts failed{where}"
    return where


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _retried(result: dict[str, Any]) -> str:
    """What retry_failed_hosts did, for the failure message: '(retried 2 times: 1 host recovered, 3 still failed)'."""
    parts = []
    for record in result.get("retries") or []:
        times = "once" if record["rounds"] == 1 else f"{record['rounds']} times"
        parts.append(f"step '{record['step_name']}' retried {times}: {plural(record['hosts_recovered'], 'host')} recovered, "
                     f"{record['hosts_failed']} still failed")
    return f" ({'; '.join(parts)})" if parts else ""
