#!/usr/bin/env python
# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Performance benchmark of blueking.job.execute_job_plan against the local JOB emulator.

    .venvs/core-2.19/bin/python benchmarks/bench.py                  # every scenario
    .venvs/core-2.19/bin/python benchmarks/bench.py --quick          # fewer repetitions and sizes
    .venvs/core-2.19/bin/python benchmarks/bench.py --scenario wait  # launch | wait | scale, repeatable
    .venvs/core-2.19/bin/python benchmarks/bench.py --scenario launch --plot docs/perf-launch-tasks.svg

Run it with the Python of a virtualenv that has ansible-core and requests (the one `make test`
builds). It starts the emulator itself (tests/emulator), links the checkout as
ansible_collections/blueking/job in a temporary directory, and prints markdown tables of figures
with each target and whether it is met. The figures are side by side in one run: on a shared machine
quote the ratios, not the absolute times. See benchmarks/README.md and docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO / "tests" / "emulator"))
sys.dont_write_bytecode = True  # the imports from the checkout (emulator, _wait) leave no __pycache__ there

# pylint: disable=wrong-import-position,import-error
from process import Emulator  # noqa: E402
from support import BIZ_ID, ESB_CREDENTIALS, PLAN_DEPLOY, PLAN_DEPLOY_APP, isolated_ansible_env  # noqa: E402
# pylint: enable=wrong-import-position,import-error

CREDENTIALS = ESB_CREDENTIALS
MODULE = "blueking.job.execute_job_plan"
MODULE_IMPORT = "ansible_collections.blueking.job.plugins.modules.execute_job_plan"
URI_IMPORT = "ansible.modules.uri"
CHILD = BENCH_DIR / "module_child.py"
ESB_PATH = "/api/c/compapi/v2/jobv3/{api}/"
# The action plugin (plugins/plugin_utils/_controller.py) runs the module's code in the worker process when the task's
# connection is local, unless this variable is false: then the module is shipped and run by AnsiballZ, as on a remote host.
IN_PROCESS_VAR = "bk_job_in_process"
IN_PROCESS_AVAILABLE = (REPO / "plugins" / "action" / "execute_job_plan.py").exists()

# Plans of the emulator's seed: PLAN_DEPLOY_APP (1000, "deploy-app": 4 steps, host variable target_hosts),
# PLAN_DEPLOY (1004, "deploy": one script step, no variables).
LAUNCH_PLAN = PLAN_DEPLOY_APP
WAIT_PLAN = PLAN_DEPLOY
JOB_SECONDS = 5.0
LOG_BATCH = 500  # hosts per batch_get_job_instance_ip_log call (_report.LOG_BATCH)
LOG_TOTAL_DEFAULT = 1048576  # log_total_max_bytes default (WAIT_ARGSPEC in module_utils/_args.py)

# Targets (issue 15, item 4; the wait's from the issue "beat ansible.builtin.uri and uri+until").
TARGET_IN_PROCESS_RATIO = 0.25  # launch-only tasks, in-process wall time / uri's
TARGET_LATENCY = 0.5
TARGET_CALL_SHARE = 0.5
TARGET_CPU = 2.0  # seconds, at JOB's own limit: 50,000 hosts (job.execute.limit.script-task.max-target-server)
TARGET_RSS_MB = 150.0
TARGET_LINEAR = 1.5  # marginal per-host cost up to the largest size over that up to the middle one; quadratic work gives ~5

QUICK = {"launch_counts": [1, 5, 10], "launch_reps": 1, "child_reps": 2, "wait_rounds": 3, "scale_reps": 1, "playbook_reps": 1,
         "extras": False, "sizes": [1000, 10000, 50000]}
FULL = {"launch_counts": [1, 5, 20, 50], "launch_reps": 2, "child_reps": 5, "wait_rounds": 9, "scale_reps": 3, "playbook_reps": 2,
        "extras": True, "sizes": [1000, 10000, 50000]}


# ---------------------------------------------------------------------------------------------- helpers
def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _header in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def calls_text(counter: Counter) -> str:
    short = {"get_job_instance_status": "status", "execute_job_plan": "launch", "get_job_plan_detail": "plan_detail",
             "batch_get_job_instance_ip_log": "logs", "get_job_instance_global_var_value": "var_values",
             "get_job_instance_list": "history", "operate_job_instance": "start"}
    return ", ".join(f"{short.get(api, api)} {count}" for api, count in sorted(counter.items(), key=lambda item: -item[1]))


def say(text: str = "") -> None:
    print(text, flush=True)


def progress(text: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {text}\n")
    sys.stderr.flush()


def phases_cpu(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median CPU per phase of module_child runs."""
    return {phase: median([run["stats"]["phases"].get(phase, {}).get("cpu", 0.0) for run in runs])
            for phase in ("imports", "arguments", "run", "output")}


class Workspace:
    """A temporary directory with ansible_collections/blueking/job -> this checkout, and an isolated Ansible env
    (tests/emulator/support.isolated_ansible_env, as the integration tests use) plus the bench_timing callback."""

    def __init__(self, keep: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bkjob-bench-"))
        self.keep = keep
        self.collections = self.root / "collections"
        link = self.collections / "ansible_collections" / "blueking" / "job"
        link.parent.mkdir(parents=True)
        link.symlink_to(REPO)
        self.playbook_bin = str(Path(sys.executable).parent / "ansible-playbook")
        self.env = {key: value for key, value in os.environ.items() if not key.startswith(("BK_", "ANSIBLE_"))}
        self.env.update(isolated_ansible_env(self.root, self.collections))
        self.env.update({"ANSIBLE_CALLBACK_PLUGINS": str(BENCH_DIR / "callback_plugins"), "ANSIBLE_CALLBACKS_ENABLED": "bench_timing"})
        self._count = 0
        self.last_output_bytes = 0

    def close(self) -> None:
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def _path(self, label: str, suffix: str) -> Path:
        return self.root / f"{label}-{self._count}{suffix}"

    def inventory(self, hosts: dict[str, dict[str, Any]]) -> Path:
        """An inventory of local hosts (connection local, this Python), each with its own variables."""
        path = self._path("inventory", ".ini")
        lines = []
        for host, host_vars in hosts.items():
            extra = "".join(f" {key}={value}" for key, value in host_vars.items())
            lines.append(f"{host} ansible_connection=local ansible_python_interpreter={sys.executable}{extra}\n")
        path.write_text("".join(lines))
        return path

    def run_plays(self, plays: list[dict[str, Any]], label: str, hosts: dict[str, dict[str, Any]], forks: int = 1,
                  env: dict[str, str] | None = None) -> dict[str, Any]:
        """Run plays in one ansible-playbook (with `env` on top of the workspace's); its bench_timing lines, rc, output
        and rusage (the process and every worker it waited for: os.wait4 gives this child's own rusage, with its
        waited-for descendants)."""
        self._count += 1
        playbook, timings = self._path(label, ".json"), self._path(label, ".timings.jsonl")
        out_path = self._path(label, ".out")
        playbook.write_text(json.dumps(plays, indent=1))
        argv = [self.playbook_bin, str(playbook), "-i", str(self.inventory(hosts)), "--forks", str(forks)]
        with open(out_path, "wb") as out:
            started = time.perf_counter()
            environment = {**self.env, **(env or {}), "BKJOB_BENCH_TIMINGS": str(timings)}
            process = subprocess.Popen(argv, cwd=self.root, env=environment, stdout=out, stderr=subprocess.STDOUT)  # pylint: disable=consider-using-with
            _pid, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
        output = out_path.read_bytes()
        self.last_output_bytes = len(output)
        lines = [json.loads(line) for line in timings.read_text().splitlines()] if timings.exists() else []
        return {"lines": lines, "rc": os.waitstatus_to_exitcode(status), "output": output.decode(errors="replace"), "wall": wall,
                "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}

    def playbook(self, tasks: list[dict[str, Any]], label: str, allow_failed: bool = False, hosts: list[str] | None = None,
                 **play: Any) -> list[dict[str, Any]]:
        """Run one play; the bench_timing lines of its task results, in order (tasks must not fail unless allowed).

        hosts: names of local inventory hosts, one fork each; default: localhost.
        """
        names = hosts or ["localhost"]
        run = self.run_plays([{"name": label, "hosts": "all", "gather_facts": False, **play, "tasks": tasks}], label,
                             {name: {} for name in names}, forks=len(names))
        self.check(run, label, allow_failed, None if hosts else len(tasks))
        return run["lines"]

    @staticmethod
    def check(run: dict[str, Any], label: str, allow_failed: bool = False, results: int | None = None) -> None:
        """Stop the benchmark on a failed ansible-playbook run (rc, a failed task, or missing task results)."""
        lines = run["lines"]
        failed = [] if allow_failed else [line for line in lines if line["status"] != "ok"]
        if run["rc"] != 0 or failed or (results is not None and len(lines) != results):
            raise SystemExit(f"{label}: ansible-playbook rc {run['rc']}, {len(lines)}/{results} task results, "
                             f"failed: {failed[:2]}\n{run['output'][-5000:]}")

    def child(self, module: str, args: dict[str, Any] | None) -> dict[str, Any]:
        """Run module_child.py; its stats, the process's wall time, its CPU time (rusage) and its stdout."""
        self._count += 1
        args_path, stats_path, out_path = self._path("child", ".args.json"), self._path("child", ".stats.json"), self._path("child", ".out")
        args_path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}))
        with open(out_path, "wb") as out, open(self.root / "child.stderr", "ab") as err:
            started = time.perf_counter()
            process = subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, str(CHILD), module, str(self.collections), str(args_path), str(stats_path)],
                stdout=out, stderr=err, env=self.env, cwd=self.root)
            # os.wait4 gives this child's own rusage; RUSAGE_CHILDREN would sum every child so far.
            _pid, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
        stdout = out_path.read_bytes()
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else None
        if stats is None:
            raise SystemExit(f"{module}: the child wrote no stats (exit {os.waitstatus_to_exitcode(status)}): "
                             f"{(self.root / 'child.stderr').read_text()[-3000:]}")
        for path in (args_path, stats_path, out_path):
            path.unlink()
        return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_kb": stats.get("VmHWM"), "stats": stats,
                "stdout": stdout, "returncode": os.waitstatus_to_exitcode(status)}


def uri_post_at(base_url: str, api: str, fields: dict[str, Any]) -> dict[str, Any]:
    """An ansible.builtin.uri task posting an ESB call, credentials in the JSON body (the ESB convention)."""
    return {"url": base_url + ESB_PATH.format(api=api), "method": "POST", "body_format": "json", "body": {**CREDENTIALS, **fields}}


# The three ways a playbook launches a job, and the inventory host each runs on.
KINDS = ("module", "in_process", "uri")
KIND_HOSTS = {"module": "bench_module", "in_process": "localhost", "uri": "localhost"}
KIND_HOST_VARS = {"bench_module": {IN_PROCESS_VAR: "false"}, "localhost": {}}
KIND_LABELS = {
    "module": f"`{MODULE}`, module path ({IN_PROCESS_VAR}: false: AnsiballZ, a new Python per task)",
    "in_process": (f"`{MODULE}`, in-process (the action plugin runs the module's code in the worker)" if IN_PROCESS_AVAILABLE
                   else f"`{MODULE}` on localhost (no action plugin in this checkout: also the module path)"),
    "uri": "`ansible.builtin.uri` POST of the same ESB body",
}
KIND_SHORT = {"module": "module", "in_process": "in-process", "uri": "uri"}


# ---------------------------------------------------------------------------------------------- 1. launch
LAUNCH_FIELDS = {"bk_biz_id": BIZ_ID, "job_plan_id": LAUNCH_PLAN,
                 "global_var_list": [{"name": "app_version", "value": "2.4.1"},
                                     {"name": "target_hosts", "server": {"host_id_list": [101]}}]}


def launch_module_args(url: str) -> dict[str, Any]:
    """execute_job_plan, launch only, the same variables as LAUNCH_FIELDS: one create and one start, no plan read."""
    return {"bk_api_url": url, **CREDENTIALS, "bk_biz_id": BIZ_ID, "job_plan_id": LAUNCH_PLAN, "wait": False, "validate_vars": False,
            "global_vars": {"app_version": "2.4.1", "target_hosts": {"host_id_list": [101]}}}


def launch_task(kind: str, url: str, index: int) -> dict[str, Any]:
    if kind == "uri":
        return {"name": f"{kind} {index}", "ansible.builtin.uri": uri_post_at(url, "execute_job_plan", LAUNCH_FIELDS)}
    return {"name": f"{kind} {index}", MODULE: launch_module_args(url)}


def launch_run(ws: Workspace, job: Emulator, count: int, order: list[str]) -> dict[str, dict[str, Any]]:
    """One ansible-playbook with one play of `count` launch-only tasks per kind, in `order`; per kind: the task times,
    the wall time of its play's tasks (first task start to last result) and the launches' bodies."""
    job.reset()
    plays = [{"name": kind, "hosts": KIND_HOSTS[kind], "gather_facts": False,
              "tasks": [launch_task(kind, job.url, index) for index in range(count)]} for kind in order]
    run = ws.run_plays(plays, "launch", {host: KIND_HOST_VARS[host] for host in set(KIND_HOSTS.values())})
    ws.check(run, "launch", results=count * len(order))
    figures: dict[str, dict[str, Any]] = {}
    for kind in order:
        lines = [line for line in run["lines"] if line["name"].rsplit(" ", 1)[0] == kind]
        figures[kind] = {"tasks": [line["end"] - line["task_start"] for line in lines],
                         "wall": max(line["end"] for line in lines) - min(line["task_start"] for line in lines)}
    requests = job.requests()
    launches = [request for request in requests if request["api"] == "execute_job_plan"]
    if len(launches) != count * len(order) or any(request["response_code"] != 0 for request in launches):
        raise SystemExit(f"launch: {len(launches)} launches for {count * len(order)} tasks: {[r['response_code'] for r in launches]}")
    figures["calls"] = Counter(request["api"] for request in requests)
    figures["bodies"] = {json.dumps({key: value for key, value in request["body"].items() if key not in CREDENTIALS}, sort_keys=True)
                         for request in launches}
    return figures


def launch_children(ws: Workspace, job: Emulator, reps: int) -> dict[str, list[dict[str, Any]]]:
    """The module's and uri's main() alone in a child Python, alternated with a baseline child."""
    child_args = {"baseline": ("baseline", None), "uri": (URI_IMPORT, uri_post_at(job.url, "execute_job_plan", LAUNCH_FIELDS)),
                  "module": (MODULE_IMPORT, launch_module_args(job.url))}
    children: dict[str, list[dict[str, Any]]] = {name: [] for name in child_args}
    for rep in range(reps):
        order = list(child_args)[rep % len(child_args):] + list(child_args)[:rep % len(child_args)]
        for name in order:
            children[name].append(ws.child(*child_args[name]))
    return children


def scenario_launch(ws: Workspace, settings: dict[str, Any], report: dict[str, Any]) -> None:
    counts, reps = settings["launch_counts"], settings["launch_reps"]
    runs: dict[int, list[dict[str, dict[str, Any]]]] = {count: [] for count in counts}
    with Emulator() as job:
        turn = 0
        for rep in range(reps):
            for count in counts:
                order = list(KINDS[turn % len(KINDS):] + KINDS[:turn % len(KINDS)])  # rotate who goes first
                turn += 1
                progress(f"launch: repetition {rep + 1}/{reps}, {count} task(s) of each kind ({', '.join(order)})")
                runs[count].append(launch_run(ws, job, count, order))
        progress(f"launch: module processes alone, {settings['child_reps']} repetitions")
        children = launch_children(ws, job, settings["child_reps"])
    summary = launch_summary(runs)
    report["launch"] = summary
    print_launch(summary, runs, children, settings)
    largest = summary["by_count"][str(max(counts))]
    report["targets"].append([f"1. launch only, {max(counts)} tasks: in-process / uri wall time (median of {reps} paired run(s))",
                              f"{largest['ratio']['in_process']:.3f}", f"<= {TARGET_IN_PROCESS_RATIO}",
                              verdict(IN_PROCESS_AVAILABLE and largest["ratio"]["in_process"] <= TARGET_IN_PROCESS_RATIO)])
    report["targets"].append([f"1. launch only, {max(counts)} tasks: module path / uri wall time (reported)",
                              f"{largest['ratio']['module']:.3f}", "-", "-"])


def launch_summary(runs: dict[int, list[dict[str, dict[str, Any]]]]) -> dict[str, Any]:
    """Per task count: median wall of the kind's tasks, and the median of the per-run ratios to uri (same run)."""
    by_count: dict[str, Any] = {}
    steady: dict[str, list[float]] = {kind: [] for kind in KINDS}
    first: dict[str, list[float]] = {kind: [] for kind in KINDS}
    calls: Counter = Counter()
    bodies: set[str] = set()
    for count, items in runs.items():
        by_count[str(count)] = {
            "wall": {kind: median([item[kind]["wall"] for item in items]) for kind in KINDS},
            "ratio": {kind: median([item[kind]["wall"] / item["uri"]["wall"] for item in items]) for kind in KINDS},
            "per_task": {kind: median([item[kind]["wall"] / count for item in items]) for kind in KINDS},
        }
        for item in items:
            for kind in KINDS:
                first[kind].append(item[kind]["tasks"][0])
                steady[kind] += item[kind]["tasks"][1:]
            calls.update(item["calls"])
            bodies |= item["bodies"]
    return {"by_count": by_count, "first_task": {kind: median(values) for kind, values in first.items()},
            "later_task": {kind: median(values) for kind, values in steady.items()},
            "calls": dict(calls), "bodies": sorted(bodies)}


def payload_text(bodies: list[str]) -> str:
    """Whether the module and uri sent the same launch body (the module's two-phase launch adds start_task: false)."""
    stripped = {json.dumps({key: value for key, value in json.loads(body).items() if key != "start_task"}, sort_keys=True) for body in bodies}
    starts = sorted({"not sent" if json.loads(body).get("start_task") is None else str(json.loads(body)["start_task"]).lower() for body in bodies})
    return (f"{'The same' if len(stripped) == 1 else 'A DIFFERENT'} launch body from every kind apart from `start_task` "
            f"(values seen: {', '.join(starts)}; the module creates the instance with start_task: false, then starts it with "
            "`operate_job_instance`, code 2)")


def print_launch(summary: dict[str, Any], runs: dict[int, list[Any]], children: dict[str, list[dict[str, Any]]],
                 settings: dict[str, Any]) -> None:
    counts = sorted(runs)
    say("### 1. Launch only: N tasks, three ways side by side\n")
    say(f"For each N ({', '.join(map(str, counts))}), one `ansible-playbook` runs three plays of N launch-only tasks "
        f"(`wait: false`, `validate_vars: false`; plan {LAUNCH_PLAN} with the same two variables), one play per kind, the "
        f"order of the plays rotating; {settings['launch_reps']} repetition(s). Wall = from the first task's start to the "
        "last task's result (`v2_playbook_on_task_start` to `v2_runner_on_ok`, benchmarks/callback_plugins/bench_timing.py); "
        "the ratio is the median over the repetitions of the kind's wall / uri's wall in the same `ansible-playbook` run. "
        f"Kinds: {'; '.join(f'**{KIND_SHORT[kind]}** = {KIND_LABELS[kind]}' for kind in KINDS)}. "
        f"{payload_text(summary['bodies'])}. API calls in all: {calls_text(Counter(summary['calls']))}.\n")
    rows = []
    for count in counts:
        figures = summary["by_count"][str(count)]
        rows.append([count] + [f"{figures['wall'][kind]:.2f}" for kind in KINDS]
                    + [f"{figures['per_task'][kind]:.3f}" for kind in KINDS]
                    + [f"{figures['ratio']['in_process']:.3f}", f"{figures['ratio']['module']:.3f}"])
    say(table(["N tasks"] + [f"{KIND_SHORT[kind]}: wall (s)" for kind in KINDS] + [f"{KIND_SHORT[kind]}: s per task" for kind in KINDS]
              + ["in-process / uri", "module / uri"], rows))
    say()
    say("Per task (median over every run): the first task of a kind in a run, then every later one (the first module "
        "task builds and caches the AnsiballZ payload): "
        + "; ".join(f"{KIND_SHORT[kind]} {summary['first_task'][kind]:.3f} s, then {summary['later_task'][kind]:.3f} s" for kind in KINDS)
        + ".\n")
    base = children["baseline"]
    rows = []
    for name in ("uri", "module"):
        items = children[name]
        phases = phases_cpu(items)
        rows.append([KIND_LABELS[name], f"{median([r['wall'] for r in items]):.3f}",
                     f"{median([r['cpu'] for r in items]) - median([r['cpu'] for r in base]):.3f}"]
                    + [f"{phases[phase]:.3f}" for phase in ("imports", "arguments", "run", "output")]
                    + [f"{(median([r['rss_kb'] for r in items]) - median([r['rss_kb'] for r in base])) / 1024:.1f}"])
    say(f"The module process alone ({settings['child_reps']} runs each, alternated; `main()` in a child Python as AnsiballZ "
        f"would run it; baseline = interpreter + `ansible.module_utils.basic`: {median([r['wall'] for r in base]):.3f} s wall, "
        f"{median([r['cpu'] for r in base]):.3f} s CPU, {median([r['rss_kb'] for r in base]) / 1024:.1f} MB). The in-process path "
        "saves this process and the module's transfer:\n")
    say(table(["module process", "wall (s)", "CPU beyond baseline (s)", "CPU imports", "CPU arguments", "CPU run", "CPU output",
               "peak RSS beyond baseline (MB)"], rows))
    say()


# ---------------------------------------------------------------------------------------------- 2. wait
WAIT_SEED = 20261126
WAIT_LISTEN = "127.0.0.1:0"
# name: (label, short label, the module's options beyond connection and plan; None = the uri loop). Table order.
WAIT_APPROACHES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "module": (f"`{MODULE}` defaults", "defaults", {}),
    "callback": (f"`{MODULE}` callback_listen: {WAIT_LISTEN}", "callback_listen", {"callback_listen": WAIT_LISTEN}),
    "novalidate": (f"`{MODULE}` validate_vars: false", "validate_vars: false", {"validate_vars": False}),
    "fast": (f"`{MODULE}` poll_interval: 0.5, poll_max_interval: 1", "poll 0.5 / max 1", {"poll_interval": 0.5, "poll_max_interval": 1}),
    "module_path": (f"`{MODULE}` defaults, module path ({IN_PROCESS_VAR}: false)", "module path", {}),
    "uri": ("`uri` launch + `uri` status, until/retries/delay: 2", "uri loop", None),
}
# The approach's inventory host variables: the module path is forced on one host, the others run in-process.
WAIT_HOST_VARS = {"module_path": {IN_PROCESS_VAR: "false"}}
CALLBACK_LATENCY = 0.05  # projection: JOB's callback reaches the listener this long after the end (the emulator ticks every 50 ms)
LAUNCH_GAP = 0.05  # projection: the job starts this long after the module's clock starts (the launch's round trip)
LAUNCH_CALLS = 3  # projection: get_job_plan_detail (validate_vars), execute_job_plan (start_task false), operate_job_instance 2


class LocalEmulator:
    """The JOB emulator served from this process, with one listening port per approach, all sharing one state.

    The wait scenario needs one emulator for every round, so that the plan's history of runs grows as the module
    reads it, and a different job length each round. The emulator reads ``default_behaviour`` from its config at each
    launch, but no admin route changes it, so the script hosts the emulator's own EmulatorState and EmulatorServer
    (as bkjob_emulator.main() does) and sets it between rounds. Its threads run while this process only waits for
    ansible-playbook. One port per approach: the Host header of each recorded request names the approach that sent
    it, so that calls without a job instance id (plan detail, launch, history) are attributed exactly.
    """

    def __init__(self, names: list[str]) -> None:
        import bkjob_emulator  # pylint: disable=import-outside-toplevel,import-error

        self.emulator = bkjob_emulator
        # the config the demo uses: it exempts the demo app from user verification (bk_username alone)
        self.state = bkjob_emulator.EmulatorState(bkjob_emulator.load_config(str(Path(bkjob_emulator.__file__).with_name("demo-config.json"))))
        self.urls: dict[str, str] = {}
        self._by_port: dict[int, str] = {}
        self._servers = []
        for name in names:
            server = bkjob_emulator.EmulatorServer(("127.0.0.1", 0), self.state, quiet=True)
            port = server.server_address[1]
            self.urls[name] = f"http://127.0.0.1:{port}"
            self._by_port[port] = name
            self._servers.append(server)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"emulator-{name}", daemon=True).start()
        self.state.start_ticker()

    def __enter__(self) -> LocalEmulator:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.state.stop_ticker()
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def set_behaviour(self, **behaviour: Any) -> None:
        with self.state.lock:
            self.state.config["default_behaviour"] = behaviour

    def requests(self, after_seq: int = 0) -> list[dict[str, Any]]:
        return [request for request in self.state.list_requests() if request["seq"] > after_seq]

    def approach_of(self, request: dict[str, Any]) -> str | None:
        host = next((value for key, value in (request.get("headers") or {}).items() if key.lower() == "host"), "")
        port = host.rpartition(":")[2]
        return self._by_port.get(int(port)) if port.isdigit() else None

    def runs(self) -> dict[int, dict[str, Any]]:
        """Every job instance: plan, create and end time (ms), status."""
        emulator = self.emulator
        with self.state.lock:
            now = emulator.now_ms()
            runs = {}
            for job_id, instance in self.state.instances.items():
                progress = emulator.compute_progress(instance, now, with_hosts=False)
                runs[job_id] = {"plan": instance["plan_id"], "create": instance["create_time"], "end": progress["end_time"],
                                "status": progress["status"]}
        return runs

    def callbacks(self) -> list[dict[str, Any]]:
        return self.state.list_callbacks()


def wait_lengths(rounds: int) -> list[float]:
    """Job lengths of the measured rounds: spread evenly over 4.5..5.5 s, in a shuffled (seeded) order that is neither
    rising nor falling. A fixed poll schedule meets a fixed length at the same phase every time, and the module's
    history estimate (the median of the plan's recent runs) would be exact for a constant length and biased for a
    monotone sequence."""
    if rounds == 1:
        return [JOB_SECONDS]
    lengths = [round(JOB_SECONDS - 0.5 + index / (rounds - 1), 3) for index in range(rounds)]
    rng = random.Random(WAIT_SEED)
    while True:
        rng.shuffle(lengths)
        steps = [after - before for before, after in zip(lengths, lengths[1:])]
        if rounds < 3 or not (all(step > 0 for step in steps) or all(step < 0 for step in steps)):
            return lengths


def history_estimate(runs: dict[int, dict[str, Any]], at: float, own_id: int, recent: int) -> float | None:
    """What the module's history read (at `at`, epoch seconds) gives: the module's own _wait.history_median over the
    successful runs that had ended by then (JOB's list, queried with status 3, holds only those); load_outcome first."""
    from ansible_collections.blueking.job.plugins.module_utils._wait import history_median  # pylint: disable=import-outside-toplevel,import-error

    items = [{"job_instance_id": job_id, "job_plan_id": run["plan"], "create_time": run["create"], "end_time": run["end"]}
             for job_id, run in runs.items() if run["status"] == 3 and run["end"] is not None and run["end"] <= at * 1000]
    return history_median(items, WAIT_PLAN, own_id, recent)


def load_module_utils(ws: Workspace, name: str) -> Any:
    """One of the collection's module_utils, imported from this checkout."""
    import importlib  # pylint: disable=import-outside-toplevel

    if str(ws.collections) not in sys.path:
        sys.path.insert(0, str(ws.collections))
    return importlib.import_module(f"ansible_collections.blueking.job.plugins.module_utils.{name}")


def load_outcome(ws: Workspace) -> Any:
    """The collection's wait (_wait) from this checkout (its PollSchedule drives the projection, history_median the estimate)."""
    return load_module_utils(ws, "_wait")


def project_module(outcome: Any, length: float, expected: float | None = None, callback: bool = False) -> tuple[int, float]:
    """Replay the module's PollSchedule (defaults: poll_interval 1, poll_max_interval 10) on a job of `length` s that
    starts LAUNCH_GAP after the module's clock: all API calls for plan 1004 (plan detail, the two-phase launch's create and
    start, the history read unless callback_listen, status polls, a report status call when the poll that saw the end had
    no host results; no output variables: the plan has no string variable) and how long after the end the poll that saw
    it came."""
    state = random.getstate()
    random.seed(WAIT_SEED)  # the schedule's jitter
    try:
        schedule = outcome.PollSchedule(outcome.WaitOptions(poll_interval=1.0, poll_max_interval=10.0), 0.0, expected=expected, callback=callback)
        end, now, polls = LAUNCH_GAP + length, 0.0, 0
        while True:
            delay, hosts = schedule.next(now)
            if callback and now + delay >= end + CALLBACK_LATENCY:
                now, hosts = max(now, end + CALLBACK_LATENCY), True
            else:
                now += delay
            polls += 1
            if now >= end:
                return LAUNCH_CALLS + (0 if callback else 1) + polls + (0 if hosts else 1), now - end
    finally:
        random.setstate(state)


def uri_projection(length: float, delay: float = 2.0) -> int:
    """uri + until, retries, delay: the launch, a poll at once, then one every `delay` s (each attempt's own run
    time left out)."""
    return 1 + math.ceil(length / delay) + 1


def wait_tasks(job: LocalEmulator, order: list[str], hosts: dict[str, str]) -> list[dict[str, Any]]:
    """The round's tasks: each approach's task(s), run only on the approach's own inventory host."""
    fields = {"bk_biz_id": BIZ_ID, "job_plan_id": WAIT_PLAN}
    tasks: list[dict[str, Any]] = []
    for name in order:
        when = f"inventory_hostname == '{hosts[name]}'"
        options = WAIT_APPROACHES[name][2]
        if options is None:
            status = {"bk_biz_id": BIZ_ID, "job_instance_id": "{{ launch.json.data.job_instance_id }}"}
            tasks += [
                {"name": "uri launch", "ansible.builtin.uri": uri_post_at(job.urls[name], "execute_job_plan", fields),
                 "register": "launch", "when": when},
                {"name": "uri wait", "ansible.builtin.uri": uri_post_at(job.urls[name], "get_job_instance_status", status),
                 "register": "poll", "until": "poll.json.data.finished | default(false)", "retries": 60, "delay": 2, "when": when},
            ]
        else:
            tasks.append({"name": name, MODULE: {"bk_api_url": job.urls[name], **CREDENTIALS, **fields, **options}, "when": when})
    return tasks


def run_wait_rounds(ws: Workspace, outcome: Any, rounds: list[float]) -> dict[str, list[dict[str, Any]]]:
    """Run every round (one ansible-playbook, strategy free, one inventory host per approach); per approach, its
    figures of each round (wait_round)."""
    names = list(WAIT_APPROACHES)
    modules = {name for name in names if WAIT_APPROACHES[name][2] is not None}
    hosts = {name: f"approach_{name}" for name in names}
    inventory = {hosts[name]: WAIT_HOST_VARS.get(name, {}) for name in names}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    seq = 0
    with LocalEmulator(names) as job:
        for round_, length in enumerate(rounds):
            # Plan 1004 has one script step: every job launched in this round runs `length` seconds.
            job.set_behaviour(step_seconds=length)
            order = names[round_ % len(names):] + names[:round_ % len(names)]  # rotate whose task comes first
            what = "warm-up (no history yet, left out)" if round_ == 0 else f"round {round_}/{len(rounds) - 1}"
            progress(f"wait: {what}, {len(names)} approaches at once, each job runs {length:g} s")
            play = {"name": "wait", "hosts": "all", "gather_facts": False, "strategy": "free", "tasks": wait_tasks(job, order, hosts)}
            run = ws.run_plays([play], "wait", inventory, forks=len(names))
            ws.check(run, "wait")
            lines = {line["name"]: line for line in run["lines"]}
            if set(lines) != modules | {"uri launch", "uri wait"}:
                raise SystemExit(f"wait: task results missing: {sorted(lines)}")
            recorded = job.requests(seq)
            seq = max([seq] + [request["seq"] for request in recorded])
            runs, callbacks = job.runs(), job.callbacks()
            by_approach: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
            for request in recorded:
                name = job.approach_of(request)
                if name is None:
                    raise SystemExit(f"wait: a request on no approach's port: {request.get('api')} {request.get('headers')}")
                by_approach[name].append(request)
            for name in names:
                last = lines["uri wait"] if name == "uri" else lines[name]
                results[name].append(wait_round(name, round_, length, last, by_approach[name], runs, callbacks, outcome.HISTORY_RUNS))
    return results


def wait_summary(results: dict[str, list[dict[str, Any]]], lengths: list[float]) -> dict[str, Any]:
    """Per approach, over the measured rounds (round 0 is the warm-up): latency, calls, calls by API, share of uri's."""
    summary: dict[str, Any] = {"lengths": lengths, "warmup_seconds": JOB_SECONDS}
    for name, everything in results.items():
        items = [item for item in everything if item["round"] > 0]
        latencies = [item["latency"] for item in items]
        by_api: Counter = Counter()
        for item in items:
            by_api.update(item["calls"])
        summary[name] = {
            "label": WAIT_APPROACHES[name][0], "latency": median(latencies), "mean": statistics.fmean(latencies),
            "within": sum(1 for value in latencies if value <= TARGET_LATENCY) / len(items),
            "calls": median([sum(item["calls"].values()) for item in items]),
            "by_api": {api: count / len(items) for api, count in by_api.items()},
            "latencies": latencies, "calls_each": [sum(item["calls"].values()) for item in items],
            "status_each": [item["calls"].get("get_job_instance_status", 0) for item in items],
            "rounds": [{key: value for key, value in item.items() if key != "calls"} | {"calls": dict(item["calls"])} for item in everything],
        }
    for name in results:
        summary[name]["share"] = summary[name]["calls"] / summary["uri"]["calls"]
    return summary


def print_wait_summary(summary: dict[str, Any], lengths: list[float], recent: int) -> None:
    names = list(WAIT_APPROACHES)
    say(f"### 2. Launch and wait for a job of about {JOB_SECONDS:g} s\n")
    say(f"{len(lengths)} measured round(s) after a warm-up round (job {JOB_SECONDS:g} s) that is left out of the figures: in "
        "it the plan has no earlier run, so the module starts without history. Job length per measured round, in run order: "
        f"{', '.join(f'{length:g} s' for length in lengths)} (4.5-5.5 s, shuffled with seed {WAIT_SEED}). In each round one "
        f"`ansible-playbook` (strategy free) runs the {len(names)} approaches at the same time, each on its own local "
        "inventory host, so they share the machine's load; the order of their tasks rotates each round. "
        + (f"The module approaches run in-process (the action plugin), except `module path` ({IN_PROCESS_VAR}: false on its host). "
           if IN_PROCESS_AVAILABLE else "")
        + f"Each approach launches its own run of plan {WAIT_PLAN} and all runs share the plan's history, as repeated runs of "
        f"one plan do: the module's estimate (median of the {recent} most recent successful runs) is the previous round's "
        "length, as every round adds one run per approach. Job end = the instance's `end_time` (ms; read back in the task's "
        "own result); task return = controller wall clock when the result arrived (`v2_runner_on_ok`, "
        "benchmarks/callback_plugins/bench_timing.py). API calls = every request the emulator recorded on the "
        "approach's own port (the emulator runs in the script's process with one port per approach; a request with a job "
        "instance id must name the approach's own job, checked).\n")
    rows = []
    for name in names:
        figures = summary[name]
        rows.append([figures["label"], len(figures["latencies"]), f"{figures['latency']:.2f}", f"{figures['mean']:.2f}",
                     f"{figures['within']:.0%}", f"{figures['calls']:g}", f"{figures['share']:.2f}",
                     calls_text(Counter({api: round(count, 1) for api, count in figures["by_api"].items()})),
                     " / ".join(str(count) for count in figures["status_each"])])
    say(table(["approach", "rounds", "median latency after job end (s)", "mean (s)", f"jobs within {TARGET_LATENCY} s",
               "API calls (median)", "calls / uri loop's", "calls by API (mean per job)", "status calls per round"], rows))
    say()


def print_wait_rounds(results: dict[str, list[dict[str, Any]]], rounds: list[float]) -> None:
    names = list(WAIT_APPROACHES)
    modules = [name for name in names if WAIT_APPROACHES[name][2] is not None]
    say("Per round (latency after job end in s, then all API calls and, in brackets, status calls). History = the median "
        "the module's history read found at launch (`-`: none):\n")
    rows = []
    for index, length in enumerate(rounds):
        estimates = {results[name][index]["estimate"] for name in modules if results[name][index]["history_calls"]}
        estimate_text = " / ".join("-" if value is None else f"{value:g}" for value in sorted(estimates, key=lambda v: (v is not None, v or 0)))
        cells = [f"{item['latency']:.2f}, {sum(item['calls'].values())} ({item['calls'].get('get_job_instance_status', 0)})"
                 for item in (results[name][index] for name in names)]
        rows.append([f"{index}" + (" (warm-up, left out)" if index == 0 else ""), f"{length:g}", estimate_text or "-"] + cells)
    say(table(["round", "job (s)", "history (s)"] + [WAIT_APPROACHES[name][1] for name in names], rows))
    say()


def callback_notes(summary: dict[str, Any], measured: list[dict[str, Any]]) -> list[str]:
    """What the callback_listen approach's rounds say about JOB's callback."""
    notes = []
    callback_after = [item["callback_after"] for item in measured if item["callback_after"] is not None]
    if callback_after:
        notes.append(f"callback_listen: the emulator's callback was answered by the module's listener {median(callback_after):.2f} s "
                     f"after the job's end (median; the emulator checks for ended jobs every 50 ms), the task returned "
                     f"{summary['callback']['latency']:.2f} s after it")
    missing = len(measured) - len(callback_after)
    if missing:
        notes.append(f"callback_listen: {missing} round(s) without a successful callback")
    return notes


def odd_round_notes(results: dict[str, list[dict[str, Any]]]) -> list[str]:
    """One line per approach and round worth a look (wait_oddities found something)."""
    def history(item: dict[str, Any]) -> str:
        if not item["history_calls"]:
            return ""
        return ", no history" if item["estimate"] is None else f", history {item['estimate']:g} s"

    return [f"{WAIT_APPROACHES[name][1]}, round {item['round']} (job {item['length']:g} s{history(item)}): {item['odd']}"
            for name in WAIT_APPROACHES for item in results[name] if item["odd"]]


def print_wait_notes(summary: dict[str, Any], results: dict[str, list[dict[str, Any]]], rounds: list[float]) -> None:
    names = list(WAIT_APPROACHES)
    notes = callback_notes(summary, [item for item in results["callback"] if item["round"] > 0])
    spreads = [max(results[name][index]["end_time"] for name in names) - min(results[name][index]["end_time"] for name in names)
               for index in range(1, len(rounds))]
    notes.append(f"the {len(names)} jobs of a round ended within {median(spreads):.2f} s of each other (median over the rounds; "
                 f"largest {max(spreads):.2f} s), so the approaches' final calls and result handling overlap")
    summary["end_spread"] = spreads
    notes.append("warm-up round (no history): " + ", ".join(
        f"{WAIT_APPROACHES[name][1]} {results[name][0]['latency']:.2f} s, {sum(results[name][0]['calls'].values())} calls "
        f"({calls_text(results[name][0]['calls'])})" for name in names))
    say("\n".join(f"- {note}" for note in notes) + "\n")
    odd = odd_round_notes(results)
    if odd:
        say("Rounds worth a look (a module approach other than poll 0.5 / max 1 with more than 3 status calls, or any "
            "latency over 1 s; polls marked (hosts) asked for host results):\n")
        say("\n".join(f"- {note}" for note in odd) + "\n")


def print_wait_projection(outcome: Any) -> None:
    projection = []
    for seconds in (5, 30, 120, 600):
        cells = [project_module(outcome, seconds), project_module(outcome, seconds, expected=seconds),
                 project_module(outcome, seconds, expected=seconds / 0.9), project_module(outcome, seconds, expected=seconds / 1.1),
                 project_module(outcome, seconds, callback=True)]
        projection.append([f"{seconds} s"] + [f"{calls}, +{late:.2f} s" for calls, late in cells] + [f"{uri_projection(seconds)}"])
    say("For other job lengths, computed by replaying the module's own `PollSchedule` (module defaults, plan "
        f"{WAIT_PLAN}; not measured: no per-call time, the job starts {LAUNCH_GAP:g} s after the module's clock, a callback "
        f"arrives {CALLBACK_LATENCY:g} s after the end). Each cell: all API calls, then how long after the job's end the "
        "poll that saw it came. uri's loop is late by up to its delay plus one attempt's run time:\n")
    say(table(["job length", "module, no history", "module, history = this length", "module, job 10 % shorter than history",
               "module, job 10 % longer than history", "module, callback_listen", "uri delay 2: API calls"], projection))
    say()


def wait_targets(summary: dict[str, Any], report: dict[str, Any]) -> None:
    module, path, uri = summary["module"], summary["module_path"], summary["uri"]
    targets = report["targets"]
    targets.append(["2. wait: task returns after job end (median, module defaults)", f"{module['latency']:.2f} s",
                    f"<= {TARGET_LATENCY} s", verdict(module["latency"] <= TARGET_LATENCY)])
    if IN_PROCESS_AVAILABLE:  # issue 15: the in-process wait no worse than the module path's, side by side
        targets.append(["2. wait: latency after job end, in-process defaults / module path defaults (same rounds)",
                        f"{module['latency']:.2f} s / {path['latency']:.2f} s", "<= module path's", verdict(module["latency"] <= path["latency"])])
        targets.append(["2. wait: API calls, in-process defaults / module path defaults (medians)", f"{module['calls']:g} / {path['calls']:g}",
                        "<= module path's", verdict(module["calls"] <= path["calls"])])
    targets.append(["2. wait: same, other approaches (reported)",
                    "; ".join(f"{WAIT_APPROACHES[name][1]} {summary[name]['latency']:.2f} s" for name in WAIT_APPROACHES if name != "module"),
                    "-", "-"])
    for name, what in (("module", "module defaults"), ("callback", f"module callback_listen: {WAIT_LISTEN}")):
        share = summary[name]["share"]
        targets.append([f"2. wait: API calls, {what} / uri loop (medians)", f"{summary[name]['calls']:g} / {uri['calls']:g} = {share:.2f}",
                        f"<= {TARGET_CALL_SHARE}", verdict(share <= TARGET_CALL_SHARE)])
    targets.append(["2. wait: API calls, module validate_vars: false; poll_interval 0.5 / poll_max_interval 1 (reported)",
                    f"{summary['novalidate']['calls']:g}; {summary['fast']['calls']:g}", "-", "-"])


def scenario_wait(ws: Workspace, settings: dict[str, Any], report: dict[str, Any]) -> None:
    outcome = load_outcome(ws)
    lengths = wait_lengths(settings["wait_rounds"])
    rounds = [JOB_SECONDS] + lengths  # round 0: warm-up, no history yet; left out of the figures
    results = run_wait_rounds(ws, outcome, rounds)
    summary = wait_summary(results, lengths)
    print_wait_summary(summary, lengths, outcome.HISTORY_RUNS)
    print_wait_rounds(results, rounds)
    print_wait_notes(summary, results, rounds)
    print_wait_projection(outcome)
    report["wait"] = summary
    wait_targets(summary, report)


def checked_wait_requests(name: str, last: dict[str, Any], requests: list[dict[str, Any]], runs: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The approach's launch, checked: one launch, every request about its own job, the job ended with success."""
    job_id, end_time = last["job_instance_id"], last["end_time"]
    if not end_time or not job_id:
        raise SystemExit(f"wait: {name}: no job instance or end_time in the result: {last}")
    launches = [request for request in requests if request["api"] == "execute_job_plan"]
    if len(launches) != 1 or launches[0]["response_code"] != 0:
        raise SystemExit(f"wait: {name}: {len(launches)} launches (one expected), codes {[r['response_code'] for r in launches]}")
    foreign = {(request.get("body") or {}).get("job_instance_id") for request in requests} - {None, job_id}
    if foreign:
        raise SystemExit(f"wait: {name}: requests on its port name other jobs: {sorted(foreign)} (its job: {job_id})")
    run = runs.get(job_id) or {}
    if run.get("end") != end_time or run.get("status") != 3:
        raise SystemExit(f"wait: {name}: job {job_id} in the emulator: {run}, the task saw end_time {end_time}")
    return launches[0]


def wait_oddities(name: str, last: dict[str, Any], requests: list[dict[str, Any]], launch: dict[str, Any],
                  polls: list[tuple[float, bool]], latency: float) -> str:
    """What is worth a look in one approach's round: odd history reads or callback URLs, many polls, a late return."""
    odd = []
    for request in requests:
        body = request.get("body") or {}
        if request["api"] == "get_job_instance_list" and (body.get("status") != 3 or body.get("type") != 0
                                                          or body.get("job_instance_id") is not None):
            odd.append(f"history read with status {body.get('status')}, type {body.get('type')}")
    callback_url = (launch.get("body") or {}).get("callback_url")
    if (name == "callback") != bool(callback_url):
        odd.append(f"launch callback_url {callback_url!r}")
    if name not in ("uri", "fast") and len(polls) > 3:  # the fast variant polls every second by design
        odd.append(f"{len(polls)} status calls")
    if latency > 1.0:
        odd.append(f"latency {latency:.2f} s")
    if odd:  # say where the calls went, when the polls came, and how long the return took after the last call
        last_call = max(request["time"] for request in requests)
        odd.append(f"calls: {calls_text(Counter(request['api'] for request in requests))}; status polls at "
                   + ", ".join(f"{offset:+.2f}{' (hosts)' if hosts else ''}" for offset, hosts in polls)
                   + f" s from the job's end; the task returned {last['end'] - last_call:.2f} s after its last API call")
    return "; ".join(odd)


def wait_round(name: str, round_: int, length: float, last: dict[str, Any], requests: list[dict[str, Any]],
               runs: dict[int, dict[str, Any]], callbacks: list[dict[str, Any]], recent: int) -> dict[str, Any]:
    """One approach's figures in one round, from its task result and the requests on its port (checked)."""
    launch = checked_wait_requests(name, last, requests, runs)
    job_id, end_time = last["job_instance_id"], last["end_time"]
    history = [request for request in requests if request["api"] == "get_job_instance_list"]
    polls = sorted((request["time"] - end_time / 1000.0, bool((request.get("body") or {}).get("return_ip_result")))
                   for request in requests if request["api"] == "get_job_instance_status")
    latency = last["end"] - end_time / 1000.0
    answered = [entry for entry in callbacks if entry.get("job_instance_id") == job_id and entry.get("status") == 200]
    return {"round": round_, "length": length, "job_instance_id": job_id, "latency": latency,
            "calls": Counter(request["api"] for request in requests), "launched": launch["time"], "end_time": end_time / 1000.0,
            "history_calls": len(history), "estimate": history_estimate(runs, history[0]["time"], job_id, recent) if history else None,
            "polls": polls, "callback_after": answered[0]["time"] - end_time / 1000.0 if answered else None,
            "odd": wait_oddities(name, last, requests, launch, polls, latency)}


# ---------------------------------------------------------------------------------------------- 3 + 4. scale
SCALE_PHASES = ("imports", "arguments", "run", "output")
EVERY_LOG = "every host listed, every log fetched (log_total_max_bytes: 64 MiB, max_host_results: 0 where it exists)"


# The module's cap on the host entries it lists (the wait option max_host_results, read from the checkout's WAIT_ARGSPEC
# by scenario_scale; None: this checkout has no such option and lists every host).
HOST_CAP: dict[str, int | None] = {"default": None}


def listed_hosts(hosts: int, cap: int | None) -> int:
    """How many host entries the result lists for `hosts` failed hosts under max_host_results `cap` (0 or None: all)."""
    return min(hosts, cap) if cap else hosts


def scale_args(url: str, hosts: int, **options: Any) -> dict[str, Any]:
    """execute_job_plan with the host variable target_hosts set to `hosts` host ids (the emulator's generated hosts),
    the module's defaults otherwise (validate_vars, wait, host_results: failed, log_max_bytes 4096, ...)."""
    ids = list(range(100001, 100001 + hosts))
    return {"bk_api_url": url, **CREDENTIALS, "bk_biz_id": BIZ_ID, "job_plan_id": LAUNCH_PLAN,
            "global_vars": {"target_hosts": {"host_id_list": ids}}, **options}


def log_cell(row: dict[str, Any]) -> str:
    return f"{row['with_logs']:,} ({row['log_mb']:.2f} MB)"


def scale_child(ws: Workspace, job: Emulator, hosts: int, log_bytes: int, **options: Any) -> dict[str, Any]:
    """The module's main() in a child Python: `hosts` host ids in the variable, the first script step on as many
    generated hosts, all failed (the job ends there, status 4); the result checked and measured."""
    job.reset()
    job.next_launch(host_count=hosts, failed_hosts=hosts, log_bytes=log_bytes)
    run = ws.child(MODULE_IMPORT, scale_args(job.url, hosts, **options))
    result = json.loads(run["stdout"])
    reported = [host for step in result.get("steps") or [] for host in step.get("hosts") or []]
    with_logs = sum(1 for host in reported if host.get("log"))
    log_total = sum(len(host["log"].encode()) for host in reported if host.get("log"))
    want_hosts = 0 if options.get("host_results") == "none" else listed_hosts(hosts, options.get("max_host_results", HOST_CAP["default"]))
    want_logs = 0 if options.get("log_max_bytes") == 0 else want_hosts
    budget = options.get("log_total_max_bytes", LOG_TOTAL_DEFAULT)
    # Every host gets its log unless the logs together reach log_total_max_bytes: then the budget is used up exactly.
    logs_ok = with_logs == want_logs or (with_logs < want_logs and log_total == budget)
    if result.get("status") != 4 or len(reported) != want_hosts or not logs_ok or log_total > budget:
        raise SystemExit(f"scale {hosts}: unexpected result: status {result.get('status')}, {len(reported)} hosts, "
                         f"{with_logs} logs: {str(result.get('msg'))[:300]}")
    calls = Counter(request["api"] for request in job.requests())
    return {**run, "calls": calls, "result_bytes": len(run["stdout"]), "stdout": None, "with_logs": with_logs, "log_total": log_total,
            "failed_hosts": len(result.get("failed_hosts") or []), "listed": len(reported), "budget": budget,
            "truncated": bool(result.get("host_results_truncated"))}


def scale_playbook(ws: Workspace, job: Emulator, kind: str, hosts: int) -> dict[str, Any]:
    """The 50,000-host task through ansible-playbook on the kind's host (`failed_when: false`, so that the default stdout
    callback does not print the whole result); `baseline` is the same playbook with the task skipped (`when: false`).
    CPU and peak RSS are those of ansible-playbook with its workers (os.wait4); each worker's own CPU and peak RSS
    come from benchmarks/worker_cpu/sitecustomize.py."""
    workers_dir = ws.root / f"workers-{kind}-{time.monotonic_ns()}"
    workers_dir.mkdir()
    job.reset()
    job.next_launch(host_count=hosts, failed_hosts=hosts, log_bytes=200)
    task = {"name": kind, MODULE: scale_args(job.url, hosts), "failed_when": False}
    if kind == "baseline":
        task["when"] = False
    host = KIND_HOSTS["in_process" if kind == "baseline" else kind]
    run = ws.run_plays([{"name": "scale", "hosts": host, "gather_facts": False, "tasks": [task]}], "scale",
                       {name: KIND_HOST_VARS[name] for name in set(KIND_HOSTS.values())},
                       env={"PYTHONPATH": str(BENCH_DIR / "worker_cpu"), "BKJOB_BENCH_WORKER_CPU": str(workers_dir)})
    workers = [json.loads(path.read_text()) for path in workers_dir.glob("worker-*.json")]
    if not workers:
        raise SystemExit(f"scale {kind}: no worker wrote its CPU time (benchmarks/worker_cpu/sitecustomize.py)")
    run["worker_cpu"] = sum(item["cpu"] for item in workers)
    run["worker_maxrss_kb"] = max(item["maxrss_kb"] for item in workers)
    ws.check(run, f"scale {kind}", results=0 if kind == "baseline" else 1)
    expected = listed_hosts(hosts, HOST_CAP["default"])
    if kind != "baseline" and run["lines"][0].get("hosts") != expected:
        raise SystemExit(f"scale {kind}: the result lists {run['lines'][0].get('hosts')} hosts, {expected} expected")
    line = run["lines"][0] if run["lines"] else {}
    return {**run, "task": line["end"] - line["task_start"] if line else None, "output": None}


def scale_measure(ws: Workspace, settings: dict[str, Any]) -> dict[str, Any]:
    """Every scale run: children per size alternated with baseline children, the extra variants at the largest size,
    and the playbook runs (baseline, module path, in-process, alternated)."""
    sizes, reps, top = settings["sizes"], settings["scale_reps"], max(settings["sizes"])
    measured: dict[str, Any] = {"sizes": {size: [] for size in sizes}, "base": [], "variants": {}, "playbook": {}}
    with Emulator() as job:
        for rep in range(reps):
            progress(f"scale: repetition {rep + 1}/{reps}: baseline, then {', '.join(map(str, sizes))} hosts")
            measured["base"].append(ws.child("baseline", None))
            for size in sizes:
                measured["sizes"][size].append(scale_child(ws, job, size, 200))
                measured["base"].append(ws.child("baseline", None))
        variants = [("4 KiB logs", 4096, {})]
        if settings["extras"]:
            variants += [(EVERY_LOG, 200, {"log_total_max_bytes": 64 * 1048576, **({"max_host_results": 0} if HOST_CAP["default"] else {})}),
                         ("log_max_bytes: 0 (no logs)", 200, {"log_max_bytes": 0}), ("host_results: none", 200, {"host_results": "none"})]
        for label, log_bytes, options in variants:
            progress(f"scale: {top} hosts, {label}")
            measured["variants"][label] = scale_child(ws, job, top, log_bytes, **options)
        kinds = ["baseline", "module", "in_process"]
        measured["playbook"] = {kind: [] for kind in kinds}
        for rep in range(settings["playbook_reps"]):
            for kind in kinds[rep % 3:] + kinds[:rep % 3]:
                progress(f"scale: {top} hosts through ansible-playbook, {kind} ({rep + 1}/{settings['playbook_reps']})")
                measured["playbook"][kind].append(scale_playbook(ws, job, kind, top))
    return measured


def scale_figures(items: list[dict[str, Any]], base_cpu: float, base_rss: float, size: int) -> dict[str, Any]:
    cpu = median([r["cpu"] for r in items]) - base_cpu
    first = items[0]
    return {"hosts": size, "cpu": cpu, "cpu_per_host_us": cpu / size * 1e6, "rss_mb": (median([r["rss_kb"] for r in items]) - base_rss) / 1024,
            "wall": median([r["wall"] for r in items]), "result_bytes": int(median([r["result_bytes"] for r in items])),
            "calls": dict(first["calls"]), "log_calls": first["calls"].get("batch_get_job_instance_ip_log", 0),
            "with_logs": first["with_logs"], "log_mb": first["log_total"] / 1e6, "log_budget": first["budget"],
            "failed_hosts": first["failed_hosts"], "listed": first["listed"], "truncated": first["truncated"], "phases_cpu": phases_cpu(items)}


def scale_row(label: str, row: dict[str, Any]) -> list[Any]:
    return [label, f"{row['cpu']:.3f}", f"{row['cpu_per_host_us']:.0f}", "-" if row.get("marginal_us") is None else f"{row['marginal_us']:.0f}",
            f"{row['rss_mb']:.1f}", f"{row['result_bytes'] / 1e6:.2f}", f"{row['listed']:,} / {row['failed_hosts']:,}", log_cell(row),
            f"{row['log_calls']}", f"{row['wall']:.2f}", calls_text(Counter(row["calls"]))]


def playbook_summary(runs_by_kind: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per kind of ansible-playbook run: medians beyond the skipped (baseline) runs' medians."""
    base_runs = runs_by_kind.get("baseline") or []

    def beyond(runs: list[dict[str, Any]], key: str) -> float:
        return median([r[key] for r in runs]) - median([r[key] for r in base_runs])

    return {kind: {"cpu": beyond(runs, "cpu"), "worker_cpu": beyond(runs, "worker_cpu"), "worker_rss_mb": beyond(runs, "worker_maxrss_kb") / 1024,
                   "rss_mb": beyond(runs, "maxrss_kb") / 1024, "task": median([r["task"] for r in runs]),
                   "wall": median([r["wall"] for r in runs]), "runs": len(runs)}
            for kind, runs in runs_by_kind.items() if kind != "baseline" and runs}


def scale_summary(measured: dict[str, Any]) -> dict[str, Any]:
    base_cpu = median([r["cpu"] for r in measured["base"]])
    base_rss = median([r["rss_kb"] for r in measured["base"]])
    top = max(measured["sizes"])
    rows = [scale_figures(items, base_cpu, base_rss, size) for size, items in sorted(measured["sizes"].items())]
    smallest = rows[0]
    for row in rows:
        extra = row["hosts"] - smallest["hosts"]
        row["marginal_us"] = (row["cpu"] - smallest["cpu"]) / extra * 1e6 if extra else None
    base_runs = measured["playbook"].get("baseline") or []
    return {"base_cpu": base_cpu, "base_rss_mb": base_rss / 1024, "sizes": rows,
            "variants": {label: scale_figures([item], base_cpu, base_rss, top) for label, item in measured["variants"].items()},
            "playbook": playbook_summary(measured["playbook"]),
            "playbook_base": {"cpu": median([r["cpu"] for r in base_runs]), "maxrss_mb": median([r["maxrss_kb"] for r in base_runs]) / 1024}
            if base_runs else None}


def print_scale(summary: dict[str, Any], settings: dict[str, Any]) -> None:
    rows_data, top = summary["sizes"], rows_data_top(summary)
    say(f"### 3. Scale: a host variable of {top['hosts']:,} host ids and a job with {top['hosts']:,} failed hosts\n")
    say("The module's `main()` runs in a child Python with `_ANSIBLE_ARGS` (defaults: validate_vars, wait, host_results: failed, "
        f"log_max_bytes 4096, log_total_max_bytes {LOG_TOTAL_DEFAULT}) against the emulator: plan {LAUNCH_PLAN}, the host variable "
        "`target_hosts` set to N host ids, the first script step on N generated hosts that all fail (emulator logs 200 bytes "
        "per host unless said). CPU = the child's rusage (os.wait4) minus a baseline child that only starts Python and imports "
        f"`ansible.module_utils.basic` ({summary['base_cpu']:.3f} s); memory = the child's peak RSS (VmHWM) minus the baseline's "
        f"({summary['base_rss_mb']:.1f} MB). Medians of {settings['scale_reps']} run(s); variants: one run.\n")
    rows = [scale_row(f"{row['hosts']:,} ids / {row['hosts']:,} failed", row) for row in rows_data]
    rows += [scale_row(f"{top['hosts']:,}, {label}", row) for label, row in summary["variants"].items()]
    say(table(["run", "module CPU (s)", "CPU per host (µs)", f"marginal CPU per host above {rows_data[0]['hosts']:,} (µs)",
               "peak RSS beyond baseline (MB)", "result JSON (MB)", "hosts listed (steps[].hosts / failed_hosts)", "hosts with a log (log text)",
               "log batch calls", "wall (s)", "API calls"], rows))
    say()
    phase_rows = [[f"{row['hosts']:,}"] + [f"{row['phases_cpu'][phase]:.3f}" for phase in SCALE_PHASES] for row in rows_data]
    phase_rows += [[f"{top['hosts']:,}, {label}"] + [f"{row['phases_cpu'][phase]:.3f}" for phase in SCALE_PHASES]
                   for label, row in summary["variants"].items()]
    say("Where the module's CPU goes (seconds, inside the child: imports = the module and its utils incl. requests; arguments = "
        "AnsibleModule argument processing; run = the module's own work and HTTP; output = AnsibleModule._return_formatted: "
        "no_log scrubbing of the result (`remove_values`), JSON encoding):\n")
    say(table(["hosts", *SCALE_PHASES], phase_rows))
    say()
    if summary["playbook"]:
        base = summary["playbook_base"]
        say(f"The same {top['hosts']:,}-host task through `ansible-playbook` (one task, `failed_when: false`; default stdout "
            "callback). CPU and peak RSS: `ansible-playbook` with every worker it waited for (os.wait4), minus a run of the same "
            f"playbook with the task skipped (`when: false`: {base['cpu']:.2f} s CPU, {base['maxrss_mb']:.0f} MB peak RSS of its "
            "largest process, the controller holding the playbook: a task whose worker stays below that adds 0). The worker's "
            "own CPU and peak RSS come from benchmarks/worker_cpu/sitecustomize.py. Medians:\n")
        say(table(["path", "runs", "task time (s)", "CPU beyond the skipped run (s)", "… of it the worker's (s)",
                   "… the rest: controller, and the module's process on the module path (s)", "peak RSS beyond the skipped run (MB)",
                   "worker's peak RSS beyond the skipped run's worker (MB)"],
                  [[KIND_LABELS[kind], row["runs"], f"{row['task']:.2f}", f"{row['cpu']:.2f}", f"{row['worker_cpu']:.2f}",
                    f"{row['cpu'] - row['worker_cpu']:.2f}", f"{row['rss_mb']:.1f}", f"{row['worker_rss_mb']:.1f}"]
                   for kind, row in summary["playbook"].items()]))
        say()
    if len(rows_data) >= 3:
        low, high = rows_data[1]["marginal_us"], rows_data[-1]["marginal_us"]
        summary["growth_ratio"] = high / low if low else float("inf")
        say(f"### 4. How the cost grows\n\nMarginal CPU per host (above the {rows_data[0]['hosts']:,}-host run): "
            f"{low:.0f} µs up to {rows_data[1]['hosts']:,}, {high:.0f} µs up to {top['hosts']:,}: ratio {summary['growth_ratio']:.2f} "
            "(linear = 1; work quadratic in the host count would give about "
            f"{(top['hosts'] + rows_data[0]['hosts']) / (rows_data[1]['hosts'] + rows_data[0]['hosts']):.1f}).\n")


def rows_data_top(summary: dict[str, Any]) -> dict[str, Any]:
    return summary["sizes"][-1]


def scale_targets(summary: dict[str, Any], report: dict[str, Any]) -> None:
    top = rows_data_top(summary)
    size = f"{top['hosts']:,} hosts"
    targets = report["targets"]
    targets.append([f"3. scale, {size}: module process CPU (module path)", f"{top['cpu']:.2f} s", f"< {TARGET_CPU:g} s", verdict(top["cpu"] < TARGET_CPU)])
    for kind, row in summary["playbook"].items():
        targets.append([f"3. scale, {size}: task CPU through ansible-playbook, {KIND_SHORT[kind]}", f"{row['cpu']:.2f} s", f"< {TARGET_CPU:g} s",
                        verdict(row["cpu"] < TARGET_CPU)])
    targets.append([f"3. scale, {size}: module process peak memory beyond the interpreter", f"{top['rss_mb']:.1f} MB", f"< {TARGET_RSS_MB:g} MB",
                    verdict(top["rss_mb"] < TARGET_RSS_MB)])
    for kind, row in summary["playbook"].items():  # the worker runs the task (in-process: the module too)
        targets.append([f"3. scale, {size}: peak memory through ansible-playbook, {KIND_SHORT[kind]}: the worker beyond the skipped "
                        "run's worker (the whole run's largest process)", f"{row['worker_rss_mb']:.1f} MB ({row['rss_mb']:.1f} MB)",
                        f"< {TARGET_RSS_MB:g} MB", verdict(max(row["worker_rss_mb"], row["rss_mb"]) < TARGET_RSS_MB)])
    targets.append([f"3. scale, {size}: log text in the result (kept at log_total_max_bytes)", f"{top['log_mb']:.2f} MB",
                    f"<= {top['log_budget'] / 1e6:.2f} MB", verdict(top["log_mb"] * 1e6 <= top["log_budget"])])
    cap = summary.get("host_cap")
    listed = f"{top['listed']:,} in steps[].hosts, {top['failed_hosts']:,} in failed_hosts; result JSON {top['result_bytes'] / 1e6:.1f} MB"
    if cap:
        targets.append([f"3. scale, {size}: host entries in the result (kept at max_host_results)", listed, f"<= {cap:,} each",
                        verdict(top["listed"] <= cap and top["failed_hosts"] <= cap)])
    else:
        targets.append([f"3. scale, {size}: host entries in the result (no max_host_results in this checkout)", listed, "-", "-"])
    every = summary["variants"].get(EVERY_LOG)
    expected = math.ceil(top["hosts"] / LOG_BATCH)
    if every:
        targets.append([f"3. scale, {size}: log batch calls when every log is fetched", f"{every['log_calls']}", f"= {expected}",
                        verdict(every["log_calls"] == expected)])
    listed_batches = math.ceil(top["listed"] / LOG_BATCH)
    targets.append([f"3. scale, {size}: log batch calls with the defaults (logs of listed hosts, up to log_total_max_bytes)",
                    f"{top['log_calls']}", f"<= {listed_batches}", verdict(top["log_calls"] <= listed_batches)])
    if "growth_ratio" in summary:
        targets.append(["4. growth: marginal per-host cost, largest size over middle size", f"{summary['growth_ratio']:.2f}",
                        f"<= {TARGET_LINEAR} (linear)", verdict(summary["growth_ratio"] <= TARGET_LINEAR)])


def scenario_scale(ws: Workspace, settings: dict[str, Any], report: dict[str, Any]) -> None:
    HOST_CAP["default"] = (load_module_utils(ws, "_args").WAIT_ARGSPEC.get("max_host_results") or {}).get("default")
    summary = scale_summary(scale_measure(ws, settings))
    summary["host_cap"] = HOST_CAP["default"]
    print_scale(summary, settings)
    report["scale"] = summary
    scale_targets(summary, report)


# ---------------------------------------------------------------------------------------------- plot
PLOT_COLOURS = {"module": "#d62728", "in_process": "#2ca02c", "uri": "#1f77b4"}


def svg_plot(summary: dict[str, Any], title: str, subtitle: str) -> str:
    """A line plot (SVG, no dependency) of the wall time of N launch-only tasks against N, one line per kind."""
    counts = sorted(int(count) for count in summary["by_count"])
    walls = {kind: [summary["by_count"][str(count)]["wall"][kind] for count in counts] for kind in KINDS}
    width, height, left, right, top, bottom = 640, 400, 60, 170, 48, 50
    x_max = max(counts)
    y_max = max(max(values) for values in walls.values())
    y_step = next(step for step in (0.5, 1, 2, 5, 10, 20, 50, 100) if y_max / step <= 8)
    y_top = math.ceil(y_max / y_step) * y_step

    def x_of(count: float) -> float:
        return left + (width - left - right) * count / x_max

    def y_of(seconds: float) -> float:
        return height - bottom - (height - top - bottom) * seconds / y_top

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2 - right / 2 + left / 2:.0f}" y="18" text-anchor="middle" font-size="14">{title}</text>',
             f'<text x="{width / 2 - right / 2 + left / 2:.0f}" y="34" text-anchor="middle" font-size="11" fill="#555">{subtitle}</text>']
    for index in range(int(round(y_top / y_step)) + 1):
        value = index * y_step
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y_of(value):.1f}" y2="{y_of(value):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y_of(value) + 4:.1f}" text-anchor="end">{value:g}</text>')
    for count in counts:
        parts.append(f'<text x="{x_of(count):.1f}" y="{height - bottom + 16}" text-anchor="middle">{count}</text>')
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" stroke="black"/>')
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" stroke="black"/>')
    parts.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 12}" text-anchor="middle">launch-only tasks in the play (N)</text>')
    parts.append(f'<text transform="translate(16 {(top + height - bottom) / 2:.0f}) rotate(-90)" text-anchor="middle">'
                 'wall time of the N tasks (s)</text>')
    for row, kind in enumerate(KINDS):
        points = " ".join(f"{x_of(count):.1f},{y_of(value):.1f}" for count, value in zip(counts, walls[kind]))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{PLOT_COLOURS[kind]}" stroke-width="2"/>')
        parts += [f'<circle cx="{x_of(count):.1f}" cy="{y_of(value):.1f}" r="3" fill="{PLOT_COLOURS[kind]}"/>'
                  for count, value in zip(counts, walls[kind])]
        legend_y = top + 20 + row * 20
        parts.append(f'<line x1="{width - right + 12}" x2="{width - right + 36}" y1="{legend_y}" y2="{legend_y}" '
                     f'stroke="{PLOT_COLOURS[kind]}" stroke-width="2"/>')
        parts.append(f'<text x="{width - right + 42}" y="{legend_y + 4}">{KIND_SHORT[kind]}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------------------- main
SCENARIOS = {"launch": scenario_launch, "wait": scenario_wait, "scale": scenario_scale}


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and task counts")
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS),
                        help="run only this scenario (repeatable): launch = 1, wait = 2, scale = 3 and 4; default: all")
    parser.add_argument("--sizes", help="host counts of the scale scenario (default 1000,10000,50000)")
    parser.add_argument("--counts", help="task counts of the launch scenario (default 1,5,20,50; --quick 1,5,10)")
    parser.add_argument("--plot", metavar="PATH", help="write the launch scenario's plot (SVG) of wall time against task count to PATH")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (playbooks, timings)")
    options = parser.parse_args()
    try:
        import ansible  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
        import requests  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    except ImportError as err:
        parser.error(f"{err}: run this with the Python of a virtualenv that has ansible-core and requests, "
                     "e.g. .venvs/core-2.19/bin/python benchmarks/bench.py (make test creates it)")
    return options


def main() -> int:
    options = parse_options()
    from ansible import __version__ as ansible_version  # pylint: disable=import-outside-toplevel

    settings = dict(QUICK if options.quick else FULL)
    if options.sizes:
        settings["sizes"] = sorted(int(size) for size in options.sizes.split(","))
    if options.counts:
        settings["launch_counts"] = sorted(int(count) for count in options.counts.split(","))
    chosen = options.scenario or list(SCENARIOS)
    report: dict[str, Any] = {"targets": [], "settings": settings}
    started = time.time()
    load = os.getloadavg()
    say(f"## blueking.job benchmark, {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M')} UTC\n")
    say(f"ansible-core {ansible_version}, Python {platform.python_version()}, {os.cpu_count()} CPU cores, "
        f"{platform.system()} {platform.machine()}; mode: {'quick' if options.quick else 'full'}; emulator on 127.0.0.1 (HTTP); "
        f"action plugin (in-process path): {'yes' if IN_PROCESS_AVAILABLE else 'no'}; "
        f"load average at the start {load[0]:.1f} (1 min) / {load[1]:.1f} (5 min).\n")
    ws = Workspace(keep=options.keep)
    try:
        for name in SCENARIOS:
            if name in chosen:
                load_before = os.getloadavg()[0]
                SCENARIOS[name](ws, settings, report)
                report.setdefault("load", {})[name] = (load_before, os.getloadavg()[0])
                say(f"_Load average (1 min) while this ran: {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end._\n")
    finally:
        ws.close()
    say("### Targets\n")
    say(table(["target", "measured", "goal", "verdict"], report["targets"]))
    say(f"\nTotal time: {time.time() - started:.0f} s; load average at the end {os.getloadavg()[0]:.1f} (1 min).")
    if options.plot and "launch" in report:
        subtitle = (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d} UTC, ansible-core {ansible_version}, {os.cpu_count()} cores, "
                    f"median of {settings['launch_reps']} run(s); lower is better")
        Path(options.plot).write_text(svg_plot(report["launch"], "execute_job_plan launch-only tasks: wall time against task count", subtitle))
        progress(f"wrote {options.plot}")
    if options.json:
        Path(options.json).write_text(json.dumps(report, indent=1, default=str))
    if options.keep:
        progress(f"kept {ws.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
