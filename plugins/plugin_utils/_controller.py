# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this plugin util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins!

"""The action plugin behind every module of the collection: run the module's code in the controller's process when the
task runs on the controller, ship it as a module otherwise, and mask the task's secrets in the result on both paths.

In-process (``BKJobAction.in_process``): the task's connection is ``local`` (implicit localhost, ``delegate_to:
localhost``, ``connection: local``), the task is not ``async`` and ``bk_job_in_process`` (a variable, else the
controller's environment variable ``BK_JOB_IN_PROCESS``) is not false. The
module's ``main()`` then runs in the worker process with the arguments ansible-core would have sent it
(``ActionBase._update_module_args``: check and diff mode, no_log, verbosity...), the task's ``environment:`` applied to
``os.environ`` for the length of the task (the ``BK_*`` fallbacks read it), and ``_progress.EMITTER`` set, so that the
wait writes progress lines as it goes. Its output is parsed by ``ActionBase._parse_returned_data`` exactly like a
shipped module's, so both paths give the same result. No module transfer, no new interpreter.

Otherwise (delegated to a bastion host, ``async``, or in-process turned off): ``ActionBase._execute_module``,
as ansible-core's ``normal`` action does.

Either way the result goes through ``mask_result`` with the secret values the task's arguments and environment carry,
whatever path the task failed on (argument check, input checks, API, module, or an exception in-process).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import json
import os
import signal
import sys
import traceback
from typing import Any, Iterator

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.blueking.job.plugins.module_utils import _progress, _wait  # noqa: F401  pylint: disable=unused-import
from ansible_collections.blueking.job.plugins.module_utils._args import CONNECTION_ARGSPEC, WAIT_ARGSPEC, url_passwords
from ansible_collections.blueking.job.plugins.module_utils._module import hide_in_text, occurring
from ansible_collections.blueking.job.plugins.module_utils._secrets import MIN_MASKED_LENGTH, mask_safe, raw_secret_values

PROFILE = "legacy"  # the serialization profile of a module without metadata (ansible-core 2.19 and later)

try:  # ansible-core 2.19 and later: module messages use a serialization profile
    from ansible.module_utils.common.json import Direction, get_module_encoder

    ARGS_ENCODING: dict[str, Any] = {"cls": get_module_encoder(PROFILE, Direction.CONTROLLER_TO_MODULE)}
except ImportError:  # ansible-core 2.16 to 2.18: what module_common sends
    from ansible.module_utils.common.json import AnsibleJSONEncoder

    ARGS_ENCODING = {"cls": AnsibleJSONEncoder, "vault_to_text": True}

try:  # ansible-core 2.20 and earlier; 2.21's _parse_returned_data gives an object that removes them itself
    from ansible.vars.clean import remove_internal_keys
except ImportError:
    remove_internal_keys = None

try:  # ansible-core 2.19 and later: module_utils behave as on a target only while this is false
    from ansible.module_utils import _internal as module_internal
except ImportError:
    module_internal = None

display = Display()

COLLECTION = "ansible_collections.blueking.job.plugins.modules"
IN_PROCESS_VAR = "bk_job_in_process"  # a variable (host, group, play or extra) that turns the in-process path off
IN_PROCESS_ENV = "BK_JOB_IN_PROCESS"  # the same for a whole run, from the controller's environment (AWX: the template's)
# The options whose values are credentials, with the environment variables that can stand in for them.
SECRET_OPTIONS = {name: spec["fallback"][1] for name, spec in CONNECTION_ARGSPEC.items() if spec.get("no_log")}


def preload(module: str) -> None:
    """Import the module ``module`` of the collection now. Called when ansible-playbook's strategy loads the action plugin
    in its main process, so that every worker it forks has the module (and ``_wait``, imported above, which a module
    only imports when it waits) already compiled and imported: a task pays no import at all."""
    try:
        importlib.import_module(f"{COLLECTION}.{module}")
    except ImportError:
        pass  # the task itself reports it (in-process: MODULE FAILURE with the traceback, masked)


class BKJobAction(ActionBase):
    """Runs a blueking.job module in the controller's process when the task runs there; see the module docstring."""

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        environment: dict[str, Any] = {}
        try:
            self._compute_environment_string(raw_environment_out=environment)
        except Exception:  # pylint: disable=broad-exception-caught
            environment = {}  # the module path reports a broken environment: keyword itself
        try:
            in_process = self.in_process(task_vars)
        except TypeError as err:
            return {**result, "failed": True, "msg": str(err)}
        if self._task.async_val:
            self.warn_async_limit()
        try:
            if in_process:
                result.update(self.run_in_process(task_vars, environment))
            else:
                result.update(self._execute_module(task_vars=task_vars, wrap_async=self._task.async_val))
        finally:
            if not self._task.async_val:
                self._remove_tmp_path(self._connection._shell.tmpdir)
        return mask_result(result, self._task.args, environment)

    def in_process(self, task_vars: dict[str, Any]) -> bool:
        """Whether this task runs the module in the controller's process: a local connection, no async, and neither
        the variable ``bk_job_in_process`` nor (when the variable is not set) the controller's environment variable
        ``BK_JOB_IN_PROCESS`` false."""
        value = task_vars.get(IN_PROCESS_VAR, os.environ.get(IN_PROCESS_ENV) or True)
        try:
            wanted = boolean(value, strict=True)
        except TypeError:
            raise TypeError(f"{IN_PROCESS_VAR} (or the environment variable {IN_PROCESS_ENV}) must be true or false, got {value!r}.") from None
        return wanted and not self._task.async_val and getattr(self._connection, "transport", None) == "local"

    def warn_async_limit(self) -> None:
        """Warn when a waiting task's ``wait_timeout`` is not below its ``async`` limit: Ansible's async_wrapper would
        kill the module first, and the result would not have the job instance id (the module path writes no launch
        line either)."""
        args = self._task.args
        module = sys.modules.get(f"{COLLECTION}.{(self._task.resolved_action or self._task.action).rsplit('.', 1)[-1]}")
        spec = getattr(module, "ARGUMENT_SPEC", {})  # preloaded when the action plugin was loaded
        if "wait" not in spec:
            return  # job_plan_info: nothing to wait for
        try:
            waits = boolean(args.get("wait", spec["wait"].get("default")), strict=False)
            wait_timeout = int(args.get("wait_timeout", WAIT_ARGSPEC["wait_timeout"]["default"]))
        except (TypeError, ValueError):
            return  # the module reports the bad value
        if waits and wait_timeout >= int(self._task.async_val):
            display.warning(f"async ({self._task.async_val} s) is not longer than wait_timeout ({wait_timeout} s): if the job outlasts "
                            "the async limit, Ansible ends the module and the result loses the job instance id. Set wait_timeout "
                            "below async, or use wait: false and attach later with blueking.job.job_instance_info.")

    def run_in_process(self, task_vars: dict[str, Any], environment: dict[str, Any]) -> dict[str, Any]:
        """Run the module's ``main()`` here and return its result as ``_execute_module`` would."""
        action = self._task.resolved_action or self._task.action
        args = dict(self._task.args)
        self._update_module_args(action, args, task_vars)
        stdout = io.StringIO()
        stderr = ""
        host = task_vars.get("inventory_hostname", "localhost")
        with module_context(encode_args(args), environment, lambda line: show(f"[{host}] {line}")):
            try:
                with contextlib.redirect_stdout(stdout):
                    importlib.import_module(f"{COLLECTION}.{action.rsplit('.', 1)[-1]}").main()
            except SystemExit:
                pass  # exit_json / fail_json end the module here, as they end a module's process
            except BaseException:  # pylint: disable=broad-exception-caught
                stderr = traceback.format_exc()  # parsed below as a module's traceback is (MODULE FAILURE)
        return self.parse_output({"rc": 1 if stderr else 0, "stdout": stdout.getvalue(), "stderr": stderr})

    def parse_output(self, res: dict[str, Any]) -> dict[str, Any]:
        """The module's printed output as ``ActionBase._execute_module`` turns it into a result, in each ansible-core."""
        if "profile" in inspect.signature(self._parse_returned_data).parameters:  # 2.19 and later
            data = self._parse_returned_data(res, PROFILE)
        else:
            data = self._parse_returned_data(res)
        if not isinstance(data, dict):  # 2.21: a UnifiedTaskResult
            data.remove_internal_keys()
            return data.as_result_dict(for_round_trip=True)
        data.pop("_ansible_suppress_tmpdir_delete", None)
        remove_internal_keys(data)
        return data


def show(line: str) -> None:
    """Write ``line`` to ansible-playbook's output from a worker, with SIGINT and SIGTERM held back until it is written.

    A worker sends display calls to the main process over a queue, under a lock the processes share; on Ctrl-C the
    main process signals the worker, whose handler (WorkerProcess._term) ends it at once. Ended while writing, it
    would keep that lock for ever and ansible-playbook would hang at its cleanup (put on the same queue). Held back,
    the signal ends the worker right after the write, as it does a worker that waits for a module.
    """
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        display.display(line)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def encode_args(args: dict[str, Any]) -> bytes:
    """The arguments as ansible-core sends them to a module (``ANSIBLE_MODULE_ARGS``, module_common)."""
    return json.dumps({"ANSIBLE_MODULE_ARGS": args}, **ARGS_ENCODING).encode()


@contextlib.contextmanager
def module_context(encoded_args: bytes, environment: dict[str, Any], emit: Any) -> Iterator[None]:
    """What a module process would have: its arguments in ``basic._ANSIBLE_ARGS``, module_utils in target mode, its
    own warnings, the task's environment; plus the progress emitter. Everything is put back afterwards, so that the
    next loop item in this worker starts clean."""
    saved_args = basic._ANSIBLE_ARGS  # pylint: disable=protected-access
    saved_profile = getattr(basic, "_ANSIBLE_PROFILE", None)
    saved_controller = getattr(module_internal, "is_controller", None)
    saved_environ = dict(os.environ)
    saved_emitter = _progress.EMITTER
    basic._ANSIBLE_ARGS = encoded_args  # pylint: disable=protected-access
    if hasattr(basic, "_ANSIBLE_PROFILE"):
        basic._ANSIBLE_PROFILE = PROFILE  # pylint: disable=protected-access
    if saved_controller is not None:
        module_internal.is_controller = False
    _clear_module_warnings()
    os.environ.update({str(key): str(value) for key, value in environment.items()})
    _progress.EMITTER = emit
    try:
        yield
    finally:
        _progress.EMITTER = saved_emitter
        os.environ.clear()
        os.environ.update(saved_environ)
        _clear_module_warnings()
        if saved_controller is not None:
            module_internal.is_controller = saved_controller
        basic._ANSIBLE_ARGS = saved_args  # pylint: disable=protected-access
        if hasattr(basic, "_ANSIBLE_PROFILE"):
            basic._ANSIBLE_PROFILE = saved_profile  # pylint: disable=protected-access


def _clear_module_warnings() -> None:
    """Empty module_utils' process-wide warning and deprecation stores (a list before 2.19, a dict since)."""
    for name in ("_global_warnings", "_global_deprecations"):
        store = getattr(module_warnings, name, None)
        if store is not None:
            store.clear()


def task_secrets(args: dict[str, Any], environment: dict[str, Any]) -> set[str]:
    """The secret values a task carries: credential options (or their ``BK_*`` environment variables, from the task's
    ``environment:`` or the controller's), passwords in URL options, and secret variables' values safe to mask
    everywhere (``_secrets.mask_safe``; shorter ones are masked structurally by the module)."""
    found = set()
    for option, variables in SECRET_OPTIONS.items():
        candidates = [args.get(option)] + [environment.get(name, os.environ.get(name)) for name in variables]
        # at least MIN_MASKED_LENGTH: a shorter credential would wipe any text containing it (Ansible's no_log in the
        # module masks it wherever it stands as a value)
        found.update(str(value) for value in candidates if isinstance(value, str) and len(value.strip()) >= MIN_MASKED_LENGTH)
    found.update(url_passwords(args))
    found.update(str(value) for value, _why in raw_secret_values(args) if mask_safe(value))
    return found


def mask_result(result: dict[str, Any], args: dict[str, Any], environment: dict[str, Any]) -> dict[str, Any]:
    """``result`` with every secret value of the task replaced inside every string, except in the names and ids JOB
    reports (``_module.IDENTITY_FIELDS``, which the module already protects); the one masking step of every path."""
    present = occurring(task_secrets(args, environment), result)  # one JSON search; the walk only when there is a hit
    return hide_in_text(result, present) if present else result
