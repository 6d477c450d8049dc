# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The edge between Ansible and the client: argspec assembly, secret masking from the raw arguments on, and the single ``except BKJobError``."""

from __future__ import annotations

import contextlib
import json
from typing import Any, Callable, Iterator

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.blueking.job.plugins.module_utils._args import (
    CONNECTION_ARGSPEC,
    SCOPE_ARGSPEC,
    SCOPE_CONSTRAINTS,
    api_root,
    client_options,
    url_passwords,
)
from ansible_collections.blueking.job.plugins.module_utils._client import HAS_REQUESTS, REQUESTS_IMPORT_ERROR, Client
from ansible_collections.blueking.job.plugins.module_utils._errors import BKJobError
from ansible_collections.blueking.job.plugins.module_utils._secrets import MASK, mask_safe, masked_arguments, raw_secret_values

# What a module's run() gets and returns: the module, a connected client; a result dict.
RunFunction = Callable[[AnsibleModule, Client], "dict[str, Any]"]

# The result fields that carry what JOB names, counts and identifies (ids, names of the instance, plan and steps,
# statuses, times, hosts, links, error identifiers), at any depth. Ansible's no_log masking (remove_values) replaces a
# secret value inside every string of the result, so a secret that is also part of one of these ("deploy-app" as a
# password and as the plan's name) would wipe the name: such a value is masked by the module instead, in the free
# text only (identity_clashes, hide_in_text). One list for every module of the collection.
IDENTITY_FIELDS = frozenset({
    "job_instance_id", "job_instance_name", "job_instance_url", "job_plan_id", "job_plan_name", "request_id", "job_request_id",
    "status", "status_name", "job_finished", "create_time", "start_time", "end_time", "total_time", "operator",
    "step_instance_id", "name", "type", "bk_host_id", "ip", "ipv6", "bk_cloud_id", "bk_agent_id", "exit_code", "error_code",
    "tag", "kind", "stage", "api", "http_status", "code", "total", "success", "failed", "running",
})
# Sections that are free text through and through, whatever their keys (an output variable may be named "status").
FREE_TEXT_SECTIONS = frozenset({"msg", "message", "warnings", "log", "output_vars", "diff", "exception", "global_var_list"})


# What ansible-core's remove_values puts in place of a no_log option's value (and of any string equal to a no_log value).
NO_LOG_PLACEHOLDER = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
# remove_values also compares str(value) of booleans and None with the masked values.
SCALAR_WORDS = ("True", "False", "None")


def occurring(secrets: Any, *values: Any) -> set[str]:
    """The strings of ``secrets`` that occur anywhere in ``values`` (any text inside them, keys and numbers included).

    One JSON rendering of the values is searched, for each secret as written and as JSON escapes it (JSON escapes
    character by character, so a secret inside a longer string is found either way): linear in the size of the result,
    where walking it in Python costs seconds for 50,000 hosts (docs/performance.md).
    """
    wanted = [secret for secret in secrets if isinstance(secret, str) and secret]
    if not wanted:
        return set()
    text = json.dumps(values, ensure_ascii=False, default=str)
    return {secret for secret in wanted if secret in text or json.dumps(secret, ensure_ascii=False)[1:-1] in text}


@contextlib.contextmanager
def remove_values_skipped() -> Iterator[None]:
    """ansible-core's ``remove_values`` made a no-op in ``basic`` for the length of the block. Only for a result in which
    ``occurring`` found none of the module's no_log values (where it would change nothing but still walk and copy every
    node: 60 % of a 50,000-host task's CPU)."""
    original = basic.remove_values
    basic.remove_values = lambda value, no_log_strings: value
    try:
        yield
    finally:
        basic.remove_values = original


def identity_texts(value: Any, key: Any = None) -> set[str]:
    """The texts of the IDENTITY_FIELDS values in a result (numbers as digits), outside FREE_TEXT_SECTIONS."""
    if key in FREE_TEXT_SECTIONS:
        return set()
    if isinstance(value, dict):
        return {text for item_key, item in value.items() for text in identity_texts(item, item_key)}
    if isinstance(value, (list, tuple)):
        return {text for item in value for text in identity_texts(item, key)}
    if key in IDENTITY_FIELDS and isinstance(value, (str, int)) and not isinstance(value, bool):
        return {str(value)}
    return set()


def identity_clashes(secrets: Any, result: dict[str, Any]) -> set[str]:
    """The values of ``secrets`` that occur inside the text of an IDENTITY_FIELDS value of ``result``."""
    names = identity_texts(result)
    return {value for value in secrets if isinstance(value, str) and value and any(value in name for name in names)}


def hide_in_text(value: Any, secrets: set[str], key: Any = None, free: bool = False) -> Any:
    """``value`` with each of ``secrets`` replaced by MASK inside every string, except IDENTITY_FIELDS values outside
    FREE_TEXT_SECTIONS (those are kept as JOB reports them)."""
    free = free or key in FREE_TEXT_SECTIONS
    if isinstance(value, dict):
        return {item_key: hide_in_text(item, secrets, item_key, free) for item_key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [hide_in_text(item, secrets, key, free) for item in value]
    if isinstance(value, str) and (free or key not in IDENTITY_FIELDS):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, MASK)
    return value


class BKJobModule(AnsibleModule):
    """An AnsibleModule that knows the secret variables before it checks its arguments.

    ansible-core builds a failure's ``invocation.module_args`` from the arguments, masking only the values of
    no_log options (basic.AnsibleModule.__init__ fails on the first argument error, then _return_formatted runs
    remove_values). A password variable's value is not a no_log option, so it is registered here from the raw
    arguments (_load_params runs before the argument check), and ``invocation`` shows the variables with their
    secret values replaced structurally, which also hides a value too short for Ansible's masking.
    """

    task_options: set[str] = set()
    masked_here: set[str] = set()  # secret values that are part of a name JOB reports: masked by hide_in_text, not by Ansible
    held_warnings: list[tuple[Any, ...]] = []  # warnings wait for the exit, so that masked_here applies to them too
    # names or ids of variables the plan does not have: a misspelt password's value is shown masked (mask_unknown_variables)
    unknown_variables: frozenset[str] = frozenset()

    def warn(self, warning: str, *args: Any, **kwargs: Any) -> None:  # pylint: disable=arguments-differ
        self.held_warnings = [*self.held_warnings, (warning, args, kwargs)]

    def _load_params(self) -> None:
        super()._load_params()
        raw = self.params if isinstance(self.params, dict) else {}
        # Options set on the task (or module_defaults); the others may come from BK_* environment fallbacks.
        self.task_options = {key for key, value in raw.items() if value is not None and not key.startswith("_ansible_")}
        self.no_log_values.update(value for value, _why in raw_secret_values(raw) if mask_safe(value))

    def _shown_arguments(self) -> dict[str, Any]:
        """The arguments as ``invocation.module_args`` shows them: secret variables masked structurally, no_log options
        replaced as ansible-core's remove_values would (so that the result's text carries no secret at all)."""
        if not isinstance(self.params, dict):
            return self.params
        shown = masked_arguments(self.params, self.unknown_variables)
        for name, spec in self.argument_spec.items():
            if spec.get("no_log") and shown.get(name) is not None:
                shown[name] = NO_LOG_PLACEHOLDER
        return shown

    def _return_formatted(self, kwargs: dict[str, Any]) -> None:
        if "invocation" not in kwargs:
            kwargs["invocation"] = {"module_args": self._shown_arguments()}
        if self.masked_here:
            kwargs = hide_in_text(kwargs, self.masked_here)
        held, self.held_warnings = self.held_warnings, []
        texts = []
        for warning, args, kwargs_of_warning in held:
            text = hide_in_text(warning, self.masked_here, free=True) if isinstance(warning, str) else warning
            texts.append(text)
            super().warn(text, *args, **kwargs_of_warning)
        secrets = {str(value) for value in self.no_log_values}
        if any(secret in word for secret in secrets for word in SCALAR_WORDS) or occurring(secrets, kwargs, texts):
            super()._return_formatted(kwargs)
            return
        with remove_values_skipped():
            super()._return_formatted(kwargs)

    def mask_unknown_variables(self, unknown: list[dict[str, Any]]) -> None:
        """Mask the values of ``unknown`` (entries the plan has no variable for) like secrets: a misspelt
        ``db_pasword`` is not known to be a password, and the failure's invocation would show its value."""
        self.unknown_variables = self.unknown_variables | {str(entry.get("name", entry.get("id"))) for entry in unknown}
        self.no_log_values.update(entry["value"] for entry in unknown if mask_safe(entry.get("value")))

    def keep_identities(self, result: dict[str, Any]) -> None:
        """Take the secret values that occur inside a name or id of ``result`` out of Ansible's masking (which would
        damage the name) into ``masked_here``, and warn once without showing them."""
        present = occurring(self.no_log_values, result)  # usually none: then the result is not walked at all
        clashes = identity_clashes(present, result) if present else set()
        if not clashes:
            return
        self.no_log_values.difference_update(clashes)
        self.masked_here = self.masked_here | clashes
        self.warn(f"{len(clashes)} secret value(s) equal or are part of a name or id JOB reports (job instance, plan, step, "
                  "status or host): the names are shown as JOB has them, and the secret is masked everywhere else "
                  "(messages, logs, output variables, diff, the variables). Use a secret that is not also a name.")

    def _log_invocation(self) -> None:
        params, self.params = self.params, self._shown_arguments()
        try:
            super()._log_invocation()
        finally:
            self.params = params


def build_module(argument_spec: dict[str, Any], *, supports_check_mode: bool = True, **constraints: Any) -> AnsibleModule:
    """An AnsibleModule with the connection and scope options added to ``argument_spec``."""
    spec = {**CONNECTION_ARGSPEC, **SCOPE_ARGSPEC, **argument_spec}
    merged: dict[str, Any] = {
        "mutually_exclusive": list(SCOPE_CONSTRAINTS["mutually_exclusive"]),
        "required_one_of": list(SCOPE_CONSTRAINTS["required_one_of"]),
        "required_by": dict(SCOPE_CONSTRAINTS["required_by"]),
    }
    for key, value in constraints.items():
        if isinstance(value, dict):
            merged[key] = {**merged.get(key, {}), **value}
        else:
            merged[key] = merged.get(key, []) + list(value)
    return BKJobModule(argument_spec=spec, supports_check_mode=supports_check_mode, **merged)


def run_module(module: AnsibleModule, run: RunFunction) -> None:
    """Connect, call ``run`` and report: exit_json with its result, or fail_json from a BKJobError."""
    if not HAS_REQUESTS:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
    # A URL option refused for carrying a password still shows in the invocation: mask that password.
    module.no_log_values.update(url_passwords(module.params))
    client = None
    result: dict[str, Any] = {}
    failure: dict[str, Any] = {}
    try:
        client = Client(api_root(module.params), **client_options(module.params, getattr(module, "task_options", None), module.warn))
        if not module.params["validate_certs"]:
            module.warn("validate_certs is false: the BlueKing server's TLS certificate is not checked.")
        result = run(module, client)
    except BKJobError as err:
        failure = err.to_fail_json()
    finally:
        if client is not None:
            client.close()
    keep = getattr(module, "keep_identities", None)
    if keep is not None:
        keep(failure or result)
    if failure:
        module.fail_json(**failure)
    module.exit_json(**result)
