# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The edge between Ansible and the client: argspec assembly, secret masking from the raw arguments on, and the single ``except BKJobError``."""

from __future__ import annotations

from typing import Any, Callable

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
from ansible_collections.blueking.job.plugins.module_utils._secrets import mask_safe, masked_arguments, raw_secret_values

# What a module's run() gets and returns: the module, a connected client; a result dict.
RunFunction = Callable[[AnsibleModule, Client], "dict[str, Any]"]


class BKJobModule(AnsibleModule):
    """An AnsibleModule that knows the secret variables before it checks its arguments.

    ansible-core builds a failure's ``invocation.module_args`` from the arguments, masking only the values of
    no_log options (basic.AnsibleModule.__init__ fails on the first argument error, then _return_formatted runs
    remove_values). A password variable's value is not a no_log option, so it is registered here from the raw
    arguments (_load_params runs before the argument check), and ``invocation`` shows the variables with their
    secret values replaced structurally, which also hides a value too short for Ansible's masking.
    """

    task_options: set[str] = set()

    def _load_params(self) -> None:
        super()._load_params()
        raw = self.params if isinstance(self.params, dict) else {}
        # Options set on the task (or module_defaults); the others may come from BK_* environment fallbacks.
        self.task_options = {key for key, value in raw.items() if value is not None and not key.startswith("_ansible_")}
        self.no_log_values.update(value for value, _why in raw_secret_values(raw) if mask_safe(value))

    def _shown_arguments(self) -> dict[str, Any]:
        return masked_arguments(self.params) if isinstance(self.params, dict) else self.params

    def _return_formatted(self, kwargs: dict[str, Any]) -> None:
        if "invocation" not in kwargs:
            kwargs["invocation"] = {"module_args": self._shown_arguments()}
        super()._return_formatted(kwargs)

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
    if failure:
        module.fail_json(**failure)
    module.exit_json(**result)
