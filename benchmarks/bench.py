#!/usr/bin/env python
# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Performance benchmark of blueking.job.execute_job_plan against the local JOB emulator.

    .venvs/core-2.19/bin/python benchmarks/bench.py                  # every scenario, about 4 minutes
    .venvs/core-2.19/bin/python benchmarks/bench.py --quick          # fewer repetitions, about 1 minute
    .venvs/core-2.19/bin/python benchmarks/bench.py --scenario wait  # launch | wait | scale, repeatable

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
sys.dont_write_bytecode = True  # the imports from the checkout (emulator, _outcome) leave no __pycache__ there

from process import Emulator  # noqa: E402  pylint: disable=wrong-import-position,import-error

APP_CODE = "bk-demo-app"
APP_SECRET = "demo-app-secret-9f2c41"
USERNAME = "admin"
CREDENTIALS = {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": USERNAME}
MODULE = "blueking.job.execute_job_plan"
MODULE_IMPORT = "ansible_collections.blueking.job.plugins.modules.execute_job_plan"
URI_IMPORT = "ansible.modules.uri"
CHILD = BENCH_DIR / "module_child.py"
ESB_PATH = "/api/c/compapi/v2/jobv3/{api}/"

# Plans of the emulator's seed: 1000 "deploy-app" (4 steps, host variable target_hosts),
# 1004 "deploy" (one script step, no variables).
LAUNCH_PLAN = 1000
WAIT_PLAN = 1004
JOB_SECONDS = 5.0
LOG_BATCH = 500

# Targets (the issue "beat ansible.builtin.uri and uri+until, and stay fast at 10,000 hosts").
TARGET_LAUNCH_RATIO = 1.0
TARGET_LATENCY = 0.5
TARGET_CALL_SHARE = 0.5
TARGET_CPU = 1.0
TARGET_RSS_MB = 100.0
TARGET_LINEAR = 1.5  # marginal per-host cost 1,000 -> 10,000 over 100 -> 1,000; quadratic work gives ~10

QUICK = {"launch_tasks": 4, "launch_runs": 2, "child_reps": 3, "wait_rounds": 3, "scale_reps": 1, "worst_case": False}
FULL = {"launch_tasks": 12, "launch_runs": 4, "child_reps": 5, "wait_rounds": 9, "scale_reps": 3, "worst_case": True}


# ---------------------------------------------------------------------------------------------- helpers
def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bootstrap_ratio(numerator: list[float], denominator: list[float], rounds: int = 2000) -> tuple[float, float]:
    """95 % interval of median(numerator) / median(denominator), resampling both (fixed seed)."""
    rng = random.Random(20261125)
    ratios = sorted(median(rng.choices(numerator, k=len(numerator))) / median(rng.choices(denominator, k=len(denominator)))
                    for _round in range(rounds))
    return ratios[int(rounds * 0.025)], ratios[int(rounds * 0.975) - 1]


def verdict(ok: bool, interval: tuple[float, float] | None = None, goal: float | None = None) -> str:
    text = "met" if ok else "**missed**"
    if interval is not None and goal is not None and interval[0] <= goal <= interval[1]:
        text += " (at par: the 95 % interval contains the goal)"
    return text


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _header in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def calls_text(counter: Counter) -> str:
    short = {"get_job_instance_status": "status", "execute_job_plan": "launch", "get_job_plan_detail": "plan_detail",
             "batch_get_job_instance_ip_log": "logs", "get_job_instance_global_var_value": "var_values",
             "get_job_instance_list": "history"}
    return ", ".join(f"{short.get(api, api)} {count}" for api, count in sorted(counter.items(), key=lambda item: -item[1]))


def say(text: str = "") -> None:
    print(text, flush=True)


def progress(text: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {text}\n")
    sys.stderr.flush()


class Workspace:
    """A temporary directory with ansible_collections/blueking/job -> this checkout, and an isolated Ansible env."""

    def __init__(self, keep: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="bkjob-bench-"))
        self.keep = keep
        self.collections = self.root / "collections"
        link = self.collections / "ansible_collections" / "blueking" / "job"
        link.parent.mkdir(parents=True)
        link.symlink_to(REPO)
        bindir = Path(sys.executable).parent
        self.playbook_bin = str(bindir / "ansible-playbook")
        self.env = {key: value for key, value in os.environ.items() if not key.startswith(("BK_", "ANSIBLE_"))}
        self.env.update({
            "ANSIBLE_COLLECTIONS_PATH": str(self.collections),
            "ANSIBLE_HOME": str(self.root / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(self.root / "ansible-tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_DEPRECATION_WARNINGS": "false",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_CALLBACK_PLUGINS": str(BENCH_DIR / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "bench_timing",
            # Leave no __pycache__ in the checkout; AnsiballZ compiles the module's files on every run anyway.
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        self._count = 0
        self.last_output_bytes = 0

    def close(self) -> None:
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def playbook(self, tasks: list[dict[str, Any]], label: str, allow_failed: bool = False, hosts: list[str] | None = None,
                 **play: Any) -> list[dict[str, Any]]:
        """Run one play; the bench_timing lines of its task results, in order (tasks must not fail unless allowed).

        hosts: names of local inventory hosts (connection local, this Python); default: the implicit localhost.
        """
        self._count += 1
        playbook = self.root / f"{label}-{self._count}.json"
        timings = self.root / f"{label}-{self._count}.timings.jsonl"
        argv = [self.playbook_bin, str(playbook)]
        if hosts:
            inventory = self.root / f"{label}-{self._count}.inventory.ini"
            inventory.write_text("".join(f"{host} ansible_connection=local ansible_python_interpreter={sys.executable}\n" for host in hosts))
            argv += ["-i", str(inventory), "--forks", str(len(hosts))]
        playbook.write_text(json.dumps([{"name": label, "hosts": "all" if hosts else "localhost", "gather_facts": False, **play,
                                         "tasks": tasks}], indent=1))
        completed = subprocess.run(argv, cwd=self.root, env={**self.env, "BKJOB_BENCH_TIMINGS": str(timings)},
                                   capture_output=True, text=True, timeout=600, check=False)
        lines = [json.loads(line) for line in timings.read_text().splitlines()] if timings.exists() else []
        failed = [] if allow_failed else [line for line in lines if line["status"] != "ok"]
        self.last_output_bytes = len(completed.stdout.encode()) + len(completed.stderr.encode())
        if completed.returncode != 0 or failed or (not hosts and len(lines) != len(tasks)):
            raise SystemExit(f"{label}: ansible-playbook rc {completed.returncode}, {len(lines)}/{len(tasks)} task results, "
                             f"failed: {failed[:2]}\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}")
        return lines

    def child(self, module: str, args: dict[str, Any] | None) -> dict[str, Any]:
        """Run module_child.py; its stats, the process's wall time, its CPU time (rusage) and its stdout."""
        self._count += 1
        args_path = self.root / f"child-{self._count}.args.json"
        stats_path = self.root / f"child-{self._count}.stats.json"
        out_path = self.root / f"child-{self._count}.out"
        args_path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}))
        with open(out_path, "wb") as out, open(self.root / "child.stderr", "ab") as err:
            started = time.perf_counter()
            process = subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, str(CHILD), module, str(self.collections), str(args_path), str(stats_path)],
                stdout=out, stderr=err, env=self.env, cwd=self.root)
            # os.wait4 gives this child's own rusage; RUSAGE_CHILDREN would sum every child so far.
            _pid, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout = out_path.read_bytes()
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else None
        if stats is None:
            raise SystemExit(f"{module}: the child wrote no stats (exit {process.returncode}): "
                             f"{(self.root / 'child.stderr').read_text()[-3000:]}")
        for path in (args_path, stats_path, out_path):
            path.unlink()
        return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_kb": stats.get("VmHWM"), "stats": stats,
                "stdout": stdout, "returncode": process.returncode}


def module_connection(job: Emulator) -> dict[str, Any]:
    return {"bk_api_url": job.url, **CREDENTIALS}


def uri_post(job: Emulator, api: str, fields: dict[str, Any]) -> dict[str, Any]:
    """An ansible.builtin.uri task posting an ESB call, credentials in the JSON body (SPEC: ESB)."""
    return uri_post_at(job.url, api, fields)


def uri_post_at(base_url: str, api: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"url": base_url + ESB_PATH.format(api=api), "method": "POST", "body_format": "json", "body": {**CREDENTIALS, **fields}}


def requests_between(requests: list[dict[str, Any]], start: float, end: float) -> Counter:
    return Counter(request["api"] for request in requests if start <= request["time"] <= end)


# ---------------------------------------------------------------------------------------------- 1. launch
LAUNCH_FIELDS = {"bk_biz_id": 2, "job_plan_id": LAUNCH_PLAN,
                 "global_var_list": [{"name": "app_version", "value": "2.4.1"},
                                     {"name": "target_hosts", "server": {"host_id_list": [101]}}]}


def launch_module_args(job: Emulator, validate_vars: bool) -> dict[str, Any]:
    return {**module_connection(job), "bk_biz_id": 2, "job_plan_id": LAUNCH_PLAN, "wait": False, "validate_vars": validate_vars,
            "global_vars": {"app_version": "2.4.1", "target_hosts": {"host_id_list": [101]}}}


def scenario_launch(ws: Workspace, settings: dict[str, Any], report: dict[str, Any]) -> None:
    variants = {
        "module": lambda job: {MODULE: launch_module_args(job, False)},
        "uri": lambda job: {"ansible.builtin.uri": uri_post(job, "execute_job_plan", LAUNCH_FIELDS)},
        "module_validate": lambda job: {MODULE: launch_module_args(job, True)},
    }
    labels = {"module": f"`{MODULE}` wait: false, validate_vars: false",
              "uri": "`ansible.builtin.uri` POST (same ESB body)",
              "module_validate": f"`{MODULE}` wait: false, validate_vars: true (default)"}
    durations: dict[str, list[float]] = {name: [] for name in variants}
    paired: dict[str, list[float]] = {"module": [], "module_validate": []}
    worker: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    payloads: set[str] = set()
    calls: Counter = Counter()
    tasks_per_variant, runs = settings["launch_tasks"], settings["launch_runs"]
    with Emulator() as job:
        for run in range(runs):
            job.reset()
            order = names[run % len(names):] + names[:run % len(names)]  # rotate who goes first
            tasks = []
            for index in range(tasks_per_variant):
                for name in order:
                    tasks.append({"name": f"{name} {index}", **variants[name](job)})
            progress(f"launch: run {run + 1}/{runs}, {len(tasks)} tasks interleaved ({', '.join(order)})")
            lines = ws.playbook(tasks, "launch")
            by_task = {}
            for line in lines:
                name, index = line["name"].rsplit(" ", 1)
                if index == "0":  # the first task of each kind builds and caches its AnsiballZ payload
                    continue
                by_task[name, index] = line["end"] - line["task_start"]
                durations[name].append(line["end"] - line["task_start"])
                worker[name].append(line["end"] - line["worker_start"])
            for (name, index), seconds in by_task.items():
                if name in paired:  # the uri task of the same index ran next to it
                    paired[name].append(seconds / by_task["uri", index])
            launches = job.requests("execute_job_plan")
            bad = [request for request in launches if request["response_code"] != 0]
            if bad or len(launches) != len(tasks):
                raise SystemExit(f"launch: {len(launches)} launches for {len(tasks)} tasks, refused: {bad[:1]}")
            payloads.update(json.dumps({key: value for key, value in request["body"].items() if key not in CREDENTIALS}, sort_keys=True)
                            for request in launches)
            calls.update(request["api"] for request in job.requests())

        progress(f"launch: module processes alone, {settings['child_reps']} repetitions")
        children: dict[str, list[dict[str, Any]]] = {"baseline": [], "uri": [], "module": [], "module_validate": []}
        child_args = {
            "baseline": ("baseline", None),
            "uri": (URI_IMPORT, uri_post(job, "execute_job_plan", LAUNCH_FIELDS)),
            "module": (MODULE_IMPORT, launch_module_args(job, False)),
            "module_validate": (MODULE_IMPORT, launch_module_args(job, True)),
        }
        imports = {"requests": "import:requests", "ansible.module_utils.urls (what uri uses)": "import:ansible.module_utils.urls",
                   "http.client + ssl (standard library)": "import:http.client,ssl"}
        child_args.update({label: (spec, None) for label, spec in imports.items()})
        children.update({label: [] for label in imports})
        for rep in range(settings["child_reps"]):
            order = list(child_args)[rep % len(child_args):] + list(child_args)[:rep % len(child_args)]
            for name in order:
                module, args = child_args[name]
                children[name].append(ws.child(module, args))

    same_payload = len(payloads) == 1
    med = {name: median(values) for name, values in durations.items()}
    ratio = med["module"] / med["uri"]
    ratio_validate = med["module_validate"] / med["uri"]
    intervals = {name: bootstrap_ratio(durations[name], durations["uri"]) for name in paired}
    rows = []
    for name in names:
        if name in paired:
            low, high = intervals[name]
            ratio_text = f"{med[name] / med['uri']:.3f} ({low:.2f}-{high:.2f})"
            paired_text = f"{median(paired[name]):.3f}"
        else:
            ratio_text, paired_text = "1", "1"
        rows.append([labels[name], len(durations[name]), f"{med[name]:.3f}", f"{median(worker[name]):.3f}", ratio_text, paired_text])
    say("### 1. Launch only: one POST per task\n")
    say(f"{runs} ansible-playbook runs x {tasks_per_variant} tasks of each kind, interleaved (order rotated each run); "
        "the first task of each kind per run is left out (it builds the AnsiballZ payload). "
        f"Same payload sent by both: {'yes' if same_payload else 'NO'}. API calls in all: {calls_text(calls)}.\n")
    say(table(["task", "n", "median task time (s)", "median worker time (s)", "ratio of medians to uri (95 % bootstrap)",
               "median of paired ratios to the uri task of the same index"], rows))
    say()

    base = children["baseline"]
    child_rows = []
    for name in ("uri", "module", "module_validate"):
        runs_ = children[name]
        phases = {phase: median([run["stats"]["phases"].get(phase, {}).get("cpu", 0.0) for run in runs_])
                  for phase in ("imports", "arguments", "run", "output")}
        child_rows.append([labels[name], f"{median([r['wall'] for r in runs_]):.3f}",
                           f"{median([r['cpu'] for r in runs_]) - median([r['cpu'] for r in base]):.3f}",
                           f"{phases['imports']:.3f}", f"{phases['arguments']:.4f}", f"{phases['run']:.4f}", f"{phases['output']:.4f}",
                           f"{(median([r['rss_kb'] for r in runs_]) - median([r['rss_kb'] for r in base])) / 1024:.1f}"])
    say(f"The module process alone ({settings['child_reps']} runs each, alternated; `main()` run in a child Python as AnsiballZ "
        f"would; baseline = interpreter + `ansible.module_utils.basic` import: {median([r['wall'] for r in base]):.3f} s wall, "
        f"{median([r['cpu'] for r in base]):.3f} s CPU, {median([r['rss_kb'] for r in base]) / 1024:.1f} MB):\n")
    say(table(["module process", "wall (s)", "CPU beyond baseline (s)", "CPU imports", "CPU arguments", "CPU run",
               "CPU output", "peak RSS beyond baseline (MB)"], child_rows))
    say()
    import_cpu = {label: median([run["stats"]["phases"]["imports"]["cpu"] for run in children[label]]) for label in imports}
    say("Import cost on top of `ansible.module_utils.basic` (CPU, same children): "
        + "; ".join(f"{label} {seconds * 1000:.0f} ms" for label, seconds in import_cpu.items())
        + ". The module imports requests; uri imports ansible.module_utils.urls (part of it lazily, in its run phase).\n")
    report["launch"] = {
        "median_task_seconds": med, "ratio": ratio, "ratio_interval": intervals,
        "paired_ratio": {name: median(values) for name, values in paired.items()}, "ratio_validate": ratio_validate, "same_payload": same_payload,
        "children": {name: {"wall": median([r["wall"] for r in runs_]), "cpu": median([r["cpu"] for r in runs_]),
                            "rss_kb": median([r["rss_kb"] for r in runs_]),
                            "phases_cpu": {phase: median([r["stats"]["phases"].get(phase, {}).get("cpu", 0.0) for r in runs_])
                                           for phase in ("ansible_basics", "imports", "arguments", "run", "output")}}
                     for name, runs_ in children.items() if name not in imports},
        "import_cpu": import_cpu,
    }
    report["targets"].append(["1. launch: module / uri task time (validate_vars: false)",
                              f"{ratio:.3f} (95 %: {intervals['module'][0]:.2f}-{intervals['module'][1]:.2f}; paired {median(paired['module']):.3f})",
                              f"<= {TARGET_LAUNCH_RATIO:.1f}",
                              verdict(ratio <= TARGET_LAUNCH_RATIO, intervals["module"], TARGET_LAUNCH_RATIO)])
    report["targets"].append(["1. launch: module / uri task time (validate_vars: true, reported)",
                              f"{ratio_validate:.3f} (paired {median(paired['module_validate']):.3f})", "-", "-"])


# ---------------------------------------------------------------------------------------------- 2. wait
WAIT_SEED = 20261126
WAIT_LISTEN = "127.0.0.1:0"
# name: (label, short label, the module's options beyond connection and plan; None = the uri loop). Table order.
WAIT_APPROACHES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "module": (f"`{MODULE}` defaults", "defaults", {}),
    "callback": (f"`{MODULE}` callback_listen: {WAIT_LISTEN}", "callback_listen", {"callback_listen": WAIT_LISTEN}),
    "novalidate": (f"`{MODULE}` validate_vars: false", "validate_vars: false", {"validate_vars": False}),
    "fast": (f"`{MODULE}` poll_interval: 0.5, poll_max_interval: 1", "poll 0.5 / max 1", {"poll_interval": 0.5, "poll_max_interval": 1}),
    "uri": ("`uri` launch + `uri` status, until/retries/delay: 2", "uri loop", None),
}
CALLBACK_LATENCY = 0.05  # projection: JOB's callback reaches the listener this long after the end (the emulator ticks every 50 ms)
LAUNCH_GAP = 0.05  # projection: the job starts this long after the module's clock starts (the launch's round trip)


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


def load_outcome(ws: Workspace) -> Any:
    """The collection's wait (_wait) from this checkout (its PollSchedule drives the projection, history_median the estimate)."""
    import importlib  # pylint: disable=import-outside-toplevel

    if str(ws.collections) not in sys.path:
        sys.path.insert(0, str(ws.collections))
    return importlib.import_module("ansible_collections.blueking.job.plugins.module_utils._wait")


def project_module(outcome: Any, length: float, expected: float | None = None, callback: bool = False) -> tuple[int, float]:
    """Replay the module's PollSchedule (defaults: poll_interval 1, poll_max_interval 10) on a job of `length` s that
    starts LAUNCH_GAP after the module's clock: all API calls for plan 1004 (plan detail, launch, the history read
    unless callback_listen, status polls, a report status call when the poll that saw the end had no host results; no
    output variables: the plan has no string variable) and how long after the end the poll that saw it came."""
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
                return 2 + (0 if callback else 1) + polls + (0 if hosts else 1), now - end
    finally:
        random.setstate(state)


def uri_projection(length: float, delay: float = 2.0) -> int:
    """uri + until, retries, delay: the launch, a poll at once, then one every `delay` s (each attempt's own run
    time left out)."""
    return 1 + math.ceil(length / delay) + 1


def scenario_wait(ws: Workspace, settings: dict[str, Any], report: dict[str, Any]) -> None:
    outcome = load_outcome(ws)
    lengths = wait_lengths(settings["wait_rounds"])
    rounds = [JOB_SECONDS] + lengths  # round 0: warm-up, no history yet; left out of the figures
    fields = {"bk_biz_id": 2, "job_plan_id": WAIT_PLAN}
    names = list(WAIT_APPROACHES)
    modules = [name for name in names if WAIT_APPROACHES[name][2] is not None]
    hosts = {name: f"approach_{name}" for name in names}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    seq = 0
    with LocalEmulator(names) as job:
        for round_, length in enumerate(rounds):
            # Plan 1004 has one script step: every job launched in this round runs `length` seconds.
            job.set_behaviour(step_seconds=length)
            order = names[round_ % len(names):] + names[:round_ % len(names)]  # rotate whose task comes first
            tasks: list[dict[str, Any]] = []
            for name in order:
                when = f"inventory_hostname == '{hosts[name]}'"
                options = WAIT_APPROACHES[name][2]
                if options is None:
                    tasks += [
                        {"name": "uri launch", "ansible.builtin.uri": uri_post_at(job.urls[name], "execute_job_plan", fields),
                         "register": "launch", "when": when},
                        {"name": "uri wait", "ansible.builtin.uri": uri_post_at(job.urls[name], "get_job_instance_status", {
                            "bk_biz_id": 2, "job_instance_id": "{{ launch.json.data.job_instance_id }}"}),
                         "register": "poll", "until": "poll.json.data.finished | default(false)", "retries": 60, "delay": 2,
                         "when": when},
                    ]
                else:
                    tasks.append({"name": name, MODULE: {"bk_api_url": job.urls[name], **CREDENTIALS, **fields, **options},
                                  "when": when})
            what = "warm-up (no history yet, left out)" if round_ == 0 else f"round {round_}/{len(lengths)}"
            progress(f"wait: {what}, {len(names)} approaches at once, each job runs {length:g} s")
            lines = {line["name"]: line for line in ws.playbook(tasks, "wait", hosts=list(hosts.values()), strategy="free")}
            recorded = job.requests(seq)
            seq = max([seq] + [request["seq"] for request in recorded])
            runs = job.runs()
            callbacks = job.callbacks()
            if set(lines) != set(modules) | {"uri launch", "uri wait"}:
                raise SystemExit(f"wait: task results missing: {sorted(lines)}")
            by_approach: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
            for request in recorded:
                name = job.approach_of(request)
                if name is None:
                    raise SystemExit(f"wait: a request on no approach's port: {request.get('api')} {request.get('headers')}")
                by_approach[name].append(request)
            for name in names:
                last = lines["uri wait"] if name == "uri" else lines[name]
                results[name].append(wait_round(name, round_, length, last, by_approach[name], runs, callbacks, outcome.HISTORY_RUNS))

    measured = {name: [item for item in items if item["round"] > 0] for name, items in results.items()}
    warmup = {name: items[0] for name, items in results.items()}
    say(f"### 2. Launch and wait for a job of about {JOB_SECONDS:g} s\n")
    say(f"{len(lengths)} measured round(s) after a warm-up round (job {JOB_SECONDS:g} s) that is left out of the figures: in "
        "it the plan has no earlier run, so the module starts without history. Job length per measured round, in run order: "
        f"{', '.join(f'{length:g} s' for length in lengths)} (4.5-5.5 s, shuffled with seed {WAIT_SEED}). In each round one "
        f"`ansible-playbook` (strategy free) runs the {len(names)} approaches at the same time, each on its own local "
        "inventory host, so they share the machine's load; the order of their tasks rotates each round. Each approach "
        f"launches its own run of plan {WAIT_PLAN} and all runs share the plan's history, as repeated runs of one plan do: the "
        f"module's estimate (median of the {outcome.HISTORY_RUNS} most recent successful runs) is the previous round's length, "
        "as every round adds one run per approach. Job end = the instance's `end_time` (ms; read back in the task's own "
        "result); task return = controller wall clock when the result arrived (`v2_runner_on_ok`, "
        "benchmarks/callback_plugins/bench_timing.py). API calls = every request the emulator recorded on the "
        "approach's own port (the emulator runs in the script's process with one port per approach; a request with a job "
        "instance id must name the approach's own job, checked).\n")
    summary: dict[str, Any] = {"lengths": lengths, "warmup_seconds": JOB_SECONDS}
    for name in names:
        items = measured[name]
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
            "rounds": [{key: value for key, value in item.items() if key != "calls"} | {"calls": dict(item["calls"])} for item in results[name]],
        }
    for name in names:
        summary[name]["share"] = summary[name]["calls"] / summary["uri"]["calls"]
    rows = []
    for name in names:
        figures = summary[name]
        rows.append([figures["label"], len(measured[name]), f"{figures['latency']:.2f}", f"{figures['mean']:.2f}", f"{figures['within']:.0%}",
                     f"{figures['calls']:g}", f"{figures['share']:.2f}",
                     calls_text(Counter({api: round(count, 1) for api, count in figures["by_api"].items()})),
                     " / ".join(str(count) for count in figures["status_each"])])
    say(table(["approach", "rounds", "median latency after job end (s)", "mean (s)", f"jobs within {TARGET_LATENCY} s",
               "API calls (median)", "calls / uri loop's", "calls by API (mean per job)", "status calls per round"], rows))
    say()

    say("Per round (latency after job end in s, then all API calls and, in brackets, status calls). History = the median "
        "the module's history read found at launch (`-`: none):\n")
    round_rows = []
    for index, length in enumerate(rounds):
        estimates = {results[name][index]["estimate"] for name in modules if results[name][index]["history_calls"]}
        estimate_text = " / ".join("-" if value is None else f"{value:g}" for value in sorted(estimates, key=lambda v: (v is not None, v or 0)))
        cells = []
        for name in names:
            item = results[name][index]
            cells.append(f"{item['latency']:.2f}, {sum(item['calls'].values())} ({item['calls'].get('get_job_instance_status', 0)})")
        round_rows.append([f"{index}" + (" (warm-up, left out)" if index == 0 else ""), f"{length:g}", estimate_text or "-"] + cells)
    say(table(["round", "job (s)", "history (s)"] + [WAIT_APPROACHES[name][1] for name in names], round_rows))
    say()

    callback_after = [item["callback_after"] for item in measured["callback"] if item["callback_after"] is not None]
    notes = []
    if callback_after:
        notes.append(f"callback_listen: the emulator's callback was answered by the module's listener {median(callback_after):.2f} s "
                     f"after the job's end (median; the emulator checks for ended jobs every 50 ms), the task returned "
                     f"{summary['callback']['latency']:.2f} s after it")
    missing = sum(1 for item in measured["callback"] if item["callback_after"] is None)
    if missing:
        notes.append(f"callback_listen: {missing} round(s) without a successful callback")
    spreads = [max(results[name][index]["end_time"] for name in names) - min(results[name][index]["end_time"] for name in names)
               for index in range(1, len(rounds))]
    notes.append(f"the {len(names)} jobs of a round ended within {median(spreads):.2f} s of each other (median over the rounds; "
                 f"largest {max(spreads):.2f} s), so the approaches' final calls and result handling overlap")
    summary["end_spread"] = spreads
    notes.append("warm-up round (no history): " + ", ".join(
        f"{WAIT_APPROACHES[name][1]} {warmup[name]['latency']:.2f} s, {sum(warmup[name]['calls'].values())} calls "
        f"({calls_text(warmup[name]['calls'])})" for name in names))
    say("\n".join(f"- {note}" for note in notes) + "\n")
    odd = [f"{WAIT_APPROACHES[name][1]}, round {item['round']} (job {item['length']:g} s"
           + ("" if not item["history_calls"] else ", no history" if item["estimate"] is None else f", history {item['estimate']:g} s")
           + f"): {item['odd']}" for name in names for item in results[name] if item["odd"]]
    if odd:
        say("Rounds worth a look (a module approach other than poll 0.5 / max 1 with more than 3 status calls, or any "
            "latency over 1 s; polls marked (hosts) asked for host results):\n")
        say("\n".join(f"- {note}" for note in odd) + "\n")

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
    report["wait"] = summary
    module, uri = summary["module"], summary["uri"]
    report["targets"].append(["2. wait: task returns after job end (median, module defaults)", f"{module['latency']:.2f} s",
                              f"<= {TARGET_LATENCY} s", verdict(module["latency"] <= TARGET_LATENCY)])
    report["targets"].append(["2. wait: same, other approaches (reported)",
                              "; ".join(f"{WAIT_APPROACHES[name][1]} {summary[name]['latency']:.2f} s" for name in names if name != "module"),
                              "-", "-"])
    for name, what in (("module", "module defaults"), ("callback", f"module callback_listen: {WAIT_LISTEN}"),
                       ("novalidate", "module validate_vars: false (the uri loop's work: no plan read)")):
        share = summary[name]["share"]
        report["targets"].append([f"2. wait: API calls, {what} / uri loop (medians)",
                                  f"{summary[name]['calls']:g} / {uri['calls']:g} = {share:.2f}", f"<= {TARGET_CALL_SHARE}",
                                  verdict(share <= TARGET_CALL_SHARE)])
    if "fast" in summary:
        report["targets"].append(["2. wait: API calls, module poll_interval 0.5 / poll_max_interval 1 / uri loop (reported)",
                                  f"{summary['fast']['calls']:g} / {uri['calls']:g} = {summary['fast']['share']:.2f}", "-", "-"])


def wait_round(name: str, round_: int, length: float, last: dict[str, Any], requests: list[dict[str, Any]],
               runs: dict[int, dict[str, Any]], callbacks: list[dict[str, Any]], recent: int) -> dict[str, Any]:
    """One approach's figures in one round, from its task result and the requests on its port (checked)."""
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
    calls = Counter(request["api"] for request in requests)
    history = [request for request in requests if request["api"] == "get_job_instance_list"]
    odd = []
    for request in history:
        body = request.get("body") or {}
        if body.get("status") != 3 or body.get("type") != 0 or body.get("job_instance_id") is not None:
            odd.append(f"history read with status {body.get('status')}, type {body.get('type')}")
    callback_url = (launches[0].get("body") or {}).get("callback_url")
    if (name == "callback") != bool(callback_url):
        odd.append(f"launch callback_url {callback_url!r}")
    polls = sorted((request["time"] - end_time / 1000.0, bool((request.get("body") or {}).get("return_ip_result")))
                   for request in requests if request["api"] == "get_job_instance_status")
    latency = last["end"] - end_time / 1000.0
    if name not in ("uri", "fast") and len(polls) > 3:  # the fast variant polls every second by design
        odd.append(f"{len(polls)} status calls")
    if latency > 1.0:
        odd.append(f"latency {latency:.2f} s")
    last_call = max(request["time"] for request in requests)
    if odd:  # say where the calls went, when the polls came, and how long the return took after the last call
        odd.append(f"calls: {calls_text(calls)}; status polls at "
                   + ", ".join(f"{offset:+.2f}{' (hosts)' if hosts else ''}" for offset, hosts in polls)
                   + f" s from the job's end; the task returned {last['end'] - last_call:.2f} s after its last API call")
    answered = [entry for entry in callbacks if entry.get("job_instance_id") == job_id and entry.get("status") == 200]
    estimate = history_estimate(runs, history[0]["time"], job_id, recent) if history else None
    return {"round": round_, "length": length, "job_instance_id": job_id, "latency": latency, "calls": calls,
            "launched": launches[0]["time"], "end_time": end_time / 1000.0,
            "history_calls": len(history), "estimate": estimate, "polls": polls,
            "callback_after": answered[0]["time"] - end_time / 1000.0 if answered else None, "odd": "; ".join(odd)}


# ---------------------------------------------------------------------------------------------- 3 + 4. scale
def scale_args(job: Emulator, variable_hosts: int) -> dict[str, Any]:
    ids = list(range(100001, 100001 + variable_hosts))
    return {**module_connection(job), "bk_biz_id": 2, "job_plan_id": LAUNCH_PLAN, "global_vars": {"target_hosts": {"host_id_list": ids}}}


def log_cell(row: dict[str, Any]) -> str:
    return f"{row['with_logs']:,} ({row['log_mb']:.2f} MB)"


def scale_run(ws: Workspace, job: Emulator, variable_hosts: int, log_bytes: int, results: int | None = None,
              **options: Any) -> dict[str, Any]:
    job.reset()
    results = results or variable_hosts // 2
    # The first script step runs on `results` generated hosts, all of which fail: the job ends there, status 4.
    job.next_launch(host_count=results, failed_hosts=results, log_bytes=log_bytes)
    run = ws.child(MODULE_IMPORT, {**scale_args(job, variable_hosts), **options})
    result = json.loads(run["stdout"])
    hosts = [host for step in result.get("steps") or [] for host in step.get("hosts") or []]
    with_logs = sum(1 for host in hosts if host.get("log"))
    log_total = sum(len(host["log"].encode()) for host in hosts if host.get("log"))
    want_hosts = 0 if options.get("host_results") == "none" else results
    want_logs = 0 if options.get("log_max_bytes") == 0 else want_hosts
    budget = options.get("log_total_max_bytes", 1048576)  # the module's default (WAIT_ARGSPEC in module_utils/_args.py)
    # Every host gets its log unless the logs together reach log_total_max_bytes: then the budget is used up exactly.
    logs_ok = with_logs == want_logs or (with_logs < want_logs and log_total == budget)
    if result.get("status") != 4 or len(hosts) != want_hosts or not logs_ok or log_total > budget:
        raise SystemExit(f"scale {variable_hosts}: unexpected result: status {result.get('status')}, {len(hosts)} hosts, "
                         f"{with_logs} logs: {str(result.get('msg'))[:300]}")
    calls = Counter(request["api"] for request in job.requests())
    return {**run, "calls": calls, "result_bytes": len(run["stdout"]), "stdout": None, "with_logs": with_logs, "log_total": log_total}


def scenario_scale(ws: Workspace, settings: dict[str, Any], report: dict[str, Any]) -> None:
    sizes = settings["sizes"]
    reps = settings["scale_reps"]
    runs: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes}
    base: list[dict[str, Any]] = []
    worst: list[dict[str, Any]] = []
    stress: dict[str, Any] | None = None
    with Emulator() as job:
        for rep in range(reps):
            progress(f"scale: repetition {rep + 1}/{reps}: baseline, then {', '.join(map(str, sizes))} variable hosts")
            base.append(ws.child("baseline", None))
            for size in sizes:
                runs[size].append(scale_run(ws, job, size, 200))
                base.append(ws.child("baseline", None))
        playbook_rows = []
        variants: list[tuple[str, dict[str, Any]]] = []
        if settings["worst_case"]:
            progress(f"scale: {max(sizes)} variable hosts with 4 KiB logs (log_max_bytes default)")
            worst.append(scale_run(ws, job, max(sizes), 4096))
            progress(f"scale: {max(sizes)} variable hosts, all {max(sizes)} failed, 4 KiB logs (beyond the target's case)")
            stress = scale_run(ws, job, max(sizes), 4096, results=max(sizes))
            for label, options in (("log_max_bytes: 0 (no logs)", {"log_max_bytes": 0}), ("host_results: none", {"host_results": "none"})):
                progress(f"scale: {max(sizes)} variable hosts, {label}")
                variants.append((label, scale_run(ws, job, max(sizes), 200, **options)))
            for log_bytes in (200, 4096):
                progress(f"scale: {max(sizes)} variable hosts, {log_bytes}-byte logs, through ansible-playbook")
                job.reset()
                job.next_launch(host_count=max(sizes) // 2, failed_hosts=max(sizes) // 2, log_bytes=log_bytes)
                line = ws.playbook([{"name": "scale", MODULE: scale_args(job, max(sizes)), "ignore_errors": True}], "scale",
                                   allow_failed=True)[0]
                playbook_rows.append({"log_bytes": log_bytes, "task": line["end"] - line["task_start"],
                                      "output_bytes": ws.last_output_bytes})

    base_cpu = median([r["cpu"] for r in base])
    base_rss = median([r["rss_kb"] for r in base])

    def figures(items: list[dict[str, Any]], size: int) -> dict[str, Any]:
        cpu = median([r["cpu"] for r in items]) - base_cpu
        return {
            "variable_hosts": size, "host_results": size // 2, "cpu": cpu, "cpu_per_host_us": cpu / size * 1e6,
            "rss_mb": (median([r["rss_kb"] for r in items]) - base_rss) / 1024, "wall": median([r["wall"] for r in items]),
            "result_bytes": int(median([r["result_bytes"] for r in items])), "calls": dict(items[0]["calls"]),
            "log_calls": items[0]["calls"].get("batch_get_job_instance_ip_log", 0),
            "with_logs": items[0]["with_logs"], "log_mb": items[0]["log_total"] / 1e6,
            "phases_cpu": {phase: median([r["stats"]["phases"].get(phase, {}).get("cpu", 0.0) for r in items])
                           for phase in ("imports", "arguments", "run", "output")},
        }

    rows_data = [figures(runs[size], size) for size in sizes]
    smallest = rows_data[0]
    for row in rows_data:
        extra = row["variable_hosts"] - smallest["variable_hosts"]
        row["marginal_us"] = (row["cpu"] - smallest["cpu"]) / extra * 1e6 if extra else None
    say(f"### 3. Scale: a host variable of {max(sizes):,} host ids, {max(sizes) // 2:,} host results, all failed\n")
    say(f"The module's `main()` runs in a child Python with `_ANSIBLE_ARGS` (defaults: validate_vars, wait, host_results: failed, "
        f"log_max_bytes 4096) against the emulator: plan {LAUNCH_PLAN}, the host variable `target_hosts` set to N host ids, the "
        "first script step on N/2 generated hosts that all fail (emulator logs 200 bytes per host unless said). CPU = the child's "
        "rusage (os.wait4) minus a baseline child that only starts Python and imports `ansible.module_utils.basic` "
        f"({base_cpu:.3f} s); memory = the child's peak RSS (VmHWM) minus the baseline's ({base_rss / 1024:.1f} MB). "
        f"Medians of {reps} run(s).\n")
    rows = []
    for row in rows_data:
        rows.append([f"{row['variable_hosts']:,} ids / {row['host_results']:,} failed", f"{row['cpu']:.3f}",
                     f"{row['cpu_per_host_us']:.0f}", "-" if row["marginal_us"] is None else f"{row['marginal_us']:.0f}",
                     f"{row['rss_mb']:.1f}", f"{row['result_bytes'] / 1e6:.2f}", log_cell(row), f"{row['log_calls']}",
                     f"{row['wall']:.2f}", calls_text(Counter(row["calls"]))])
    for item in worst:
        row = figures([item], max(sizes))
        rows.append([f"{max(sizes):,} ids / {max(sizes) // 2:,} failed, 4 KiB logs", f"{row['cpu']:.3f}", f"{row['cpu_per_host_us']:.0f}",
                     "-", f"{row['rss_mb']:.1f}", f"{row['result_bytes'] / 1e6:.2f}", log_cell(row), f"{row['log_calls']}", f"{row['wall']:.2f}",
                     calls_text(Counter(row["calls"]))])
        report["scale_worst_case"] = row
    if stress:
        row = figures([stress], max(sizes))
        rows.append([f"{max(sizes):,} ids / {max(sizes):,} failed, 4 KiB logs (stress, beyond the target's case)", f"{row['cpu']:.3f}",
                     f"{row['cpu_per_host_us']:.0f}", "-", f"{row['rss_mb']:.1f}", f"{row['result_bytes'] / 1e6:.2f}", log_cell(row), f"{row['log_calls']}",
                     f"{row['wall']:.2f}", calls_text(Counter(row["calls"]))])
        report["scale_stress"] = row
    for label, item in variants:
        row = figures([item], max(sizes))
        rows.append([f"{max(sizes):,} ids / {max(sizes) // 2:,} failed, {label}", f"{row['cpu']:.3f}", f"{row['cpu_per_host_us']:.0f}",
                     "-", f"{row['rss_mb']:.1f}", f"{row['result_bytes'] / 1e6:.2f}", log_cell(row), f"{row['log_calls']}", f"{row['wall']:.2f}",
                     calls_text(Counter(row["calls"]))])
        report.setdefault("scale_variants", {})[label] = row
    say(table(["run", "module CPU (s)", "CPU per variable host (µs)", f"marginal CPU per host above {smallest['variable_hosts']} (µs)",
               "peak RSS beyond baseline (MB)", "result JSON (MB)", "hosts with a log (log text)", "log batch calls", "wall (s)",
               "API calls"], rows))
    say()
    phase_rows = [[f"{row['variable_hosts']:,}"] + [f"{row['phases_cpu'][phase]:.3f}" for phase in ("imports", "arguments", "run", "output")]
                  for row in rows_data]
    for label, row in [("4 KiB logs", report.get("scale_worst_case"))] + list((report.get("scale_variants") or {}).items()):
        if row:
            phase_rows.append([f"{max(sizes):,}, {label}"] + [f"{row['phases_cpu'][phase]:.3f}" for phase in ("imports", "arguments", "run", "output")])
    say("Where the module's CPU goes (seconds, inside the child: imports = the module and its utils incl. requests; arguments = "
        "AnsibleModule argument processing; run = the module's own work and HTTP; output = AnsibleModule._return_formatted: "
        "no_log scrubbing of the result, JSON encoding):\n")
    say(table(["variable hosts", "imports", "arguments", "run", "output"], phase_rows))
    say()
    if playbook_rows:
        child_wall = {200: rows_data[-1]["wall"], 4096: report["scale_worst_case"]["wall"]}
        say(f"The same {max(sizes):,}-host run as one `ansible-playbook` task (ignore_errors; default stdout callback, which prints "
            "the whole result of a failed task):\n")
        say(table(["emulator log per host", "task time (s)", "module process alone (s)", "ansible-playbook output (MB)"],
                  [[f"{row['log_bytes']} B", f"{row['task']:.2f}", f"{child_wall[row['log_bytes']]:.2f}", f"{row['output_bytes'] / 1e6:.1f}"]
                   for row in playbook_rows]))
        say()
        report["scale_playbook"] = playbook_rows
    top = rows_data[-1]
    expected_batches = math.ceil(top["host_results"] / LOG_BATCH)
    report["scale"] = rows_data
    report["targets"].append([f"3. scale: module CPU at {top['variable_hosts']:,} hosts", f"{top['cpu']:.2f} s", f"< {TARGET_CPU:g} s",
                              verdict(top["cpu"] < TARGET_CPU)])
    report["targets"].append([f"3. scale: peak memory beyond the interpreter at {top['variable_hosts']:,} hosts", f"{top['rss_mb']:.1f} MB",
                              f"< {TARGET_RSS_MB:g} MB", verdict(top["rss_mb"] < TARGET_RSS_MB)])
    if worst:
        report["targets"].append(["3. scale: peak memory, same with 4 KiB logs per host", f"{report['scale_worst_case']['rss_mb']:.1f} MB",
                                  f"< {TARGET_RSS_MB:g} MB", verdict(report["scale_worst_case"]["rss_mb"] < TARGET_RSS_MB)])
    report["targets"].append([f"3. scale: log batch calls for {top['host_results']:,} failed hosts", f"{top['log_calls']}",
                              f"= {expected_batches}", verdict(top["log_calls"] == expected_batches)])
    sizes_text = f"{top['result_bytes'] / 1e6:.1f} MB" + (f" ({report['scale_worst_case']['result_bytes'] / 1e6:.1f} MB with 4 KiB logs)"
                                                          if worst else "")
    report["targets"].append([f"3. scale: result JSON at {top['host_results']:,} failed hosts", sizes_text, "sensible (reported)", "-"])
    if len(rows_data) >= 3:
        low, high = rows_data[1]["marginal_us"], rows_data[-1]["marginal_us"]
        ratio = high / low if low else float("inf")
        say(f"### 4. How the cost grows\n\nMarginal CPU per variable host (above the {smallest['variable_hosts']}-host run): "
            f"{low:.0f} µs up to {rows_data[1]['variable_hosts']:,}, {high:.0f} µs up to {top['variable_hosts']:,}: ratio {ratio:.2f} "
            f"(linear = 1; work quadratic in the host count would give about {top['variable_hosts'] / rows_data[1]['variable_hosts']:.0f}).\n")
        report["growth_ratio"] = ratio
        report["targets"].append(["4. growth: marginal per-host cost 1,000 -> 10,000 over 100 -> 1,000", f"{ratio:.2f}",
                                  f"<= {TARGET_LINEAR} (linear)", verdict(ratio <= TARGET_LINEAR)])


# ---------------------------------------------------------------------------------------------- main
SCENARIOS = {"launch": scenario_launch, "wait": scenario_wait, "scale": scenario_scale}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (about 1 minute instead of 4)")
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS),
                        help="run only this scenario (repeatable): launch = 1, wait = 2, scale = 3 and 4; default: all")
    parser.add_argument("--sizes", default="100,1000,10000", help="variable host counts of the scale scenario (default %(default)s)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (playbooks, timings)")
    options = parser.parse_args()
    try:
        import ansible  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
        import requests  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    except ImportError as err:
        parser.error(f"{err}: run this with the Python of a virtualenv that has ansible-core and requests, "
                     "e.g. .venvs/core-2.19/bin/python benchmarks/bench.py (make test creates it)")
    from ansible import __version__ as ansible_version  # pylint: disable=import-outside-toplevel

    settings = dict(QUICK if options.quick else FULL)
    settings["sizes"] = sorted(int(size) for size in options.sizes.split(","))
    chosen = options.scenario or list(SCENARIOS)
    report: dict[str, Any] = {"targets": [], "settings": settings}
    started = time.time()
    load = os.getloadavg()
    say(f"## blueking.job benchmark, {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}\n")
    say(f"ansible-core {ansible_version}, Python {platform.python_version()}, {os.cpu_count()} CPU cores, "
        f"{platform.system()} {platform.machine()}; mode: {'quick' if options.quick else 'full'}; emulator on 127.0.0.1 (HTTP); "
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
    if options.json:
        Path(options.json).write_text(json.dumps(report, indent=1, default=str))
    if options.keep:
        progress(f"kept {ws.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
