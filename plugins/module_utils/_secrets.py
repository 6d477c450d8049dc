# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Secrets: which variable values are secret, and masking them everywhere they could show.

A value is secret when the plan types its variable as a password (TaskVariableTypeEnum CIPHER, 4), when
``secret_var_names`` names its variable (by name or id), or when the variable's name says so (``is_secret_name``).
Ansible's own no_log masking replaces a value everywhere in the result, so it only gets values that cannot occur by
chance (``mask_safe``); every secret is also masked structurally where the module shows variables (``masked``,
``masked_arguments``). docs/architecture.md describes the whole path.
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.blueking.job.plugins.module_utils import _api
# MASK: the one mask, defined where the client scrubs credentials; _plan and _module take it from here.
from ansible_collections.blueking.job.plugins.module_utils._client import MASK
from ansible_collections.blueking.job.plugins.module_utils._variables import plan_variable

# A variable name is split into word parts (on "_", "-", ".", spaces and camelCase) and is secret when a part
# says so: db_password, dbPassword, DB_PWD, api_token, ssh_private_key, accessKey. Parts are whole words, so
# bypass_cache, compass, keyboard, tokenizer_mode, passport or monkey are not secret.
SECRET_WORDS = frozenset({
    "password", "passwords", "passwd", "pass", "pwd", "passphrase", "secret", "secrets", "token", "tokens",
    "credential", "credentials", "apikey", "privatekey", "accesskey", "secretkey",
})
# "key" alone (cache_key, sort_key) is not secret; after one of these it is (private_key, api_key, ssh_key).
KEY_QUALIFIERS = frozenset({"private", "api", "access", "secret", "ssh", "signing", "encryption", "auth", "master"})
NAME_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Ansible's masking (remove_values in ansible.module_utils.common.parameters) replaces every occurrence of a no_log
# value in every string of the result, and a whole number when its digits contain the value: a short or common
# value ("1", "true", "admin", "8080") would wipe the job id, names and statuses. Only values that cannot occur by
# chance are handed to it; the others are masked where the module reports them (global_var_list, diff) only.
MIN_MASKED_LENGTH = 8
NUMBER_LIKE = re.compile(r"[0-9\s.,:;+\-/_]*")


def name_words(name: str) -> list[str]:
    """The word parts of a variable name, lower case: ``dbPassword`` -> [db, password]."""
    return [word.lower() for part in re.split(r"[\s_.\-]+", name) for word in NAME_PARTS.findall(part)]


def is_secret_name(name: Any) -> bool:
    """Whether a variable name says its value is secret (SECRET_WORDS, or key after a KEY_QUALIFIERS word)."""
    if not isinstance(name, str):
        return False
    words = name_words(name)
    return any(word in SECRET_WORDS or (word == "key" and index and words[index - 1] in KEY_QUALIFIERS)
               for index, word in enumerate(words))


def mask_safe(value: str) -> bool:
    """Whether Ansible may mask ``value`` in the whole result without damaging values that are not secret.

    Safe: at least MIN_MASKED_LENGTH characters, not made of digits and punctuation only (numbers, ids, dates,
    IP addresses, versions), and mixing letters with digits or other characters unless 16 or more long (so
    that a plain word such as ``production`` is not safe).
    """
    if not isinstance(value, str) or len(value) < MIN_MASKED_LENGTH or NUMBER_LIKE.fullmatch(value):
        return False
    kinds = sum((any(char.isalpha() for char in value), any(char.isdigit() for char in value),
                 any(not char.isalnum() for char in value)))
    return kinds >= 2 or len(value) >= 16


def secret_marks(secret_names: Any) -> set[str]:
    """``secret_var_names`` as a set of strings: names, or ids written as digits."""
    if isinstance(secret_names, str):
        secret_names = secret_names.split(",")
    if not isinstance(secret_names, (list, tuple, set)):
        return set()
    return {str(mark).strip() for mark in secret_names if isinstance(mark, (str, int)) and not isinstance(mark, bool)}


def secret_entries(entries: list[dict[str, Any]], plan: dict[str, Any] | None, secret_names: Any) -> dict[int, str]:
    """Which entries carry a secret value, by index: ``password`` (plan type 4), ``named`` (in secret_var_names,
    by name or id) or ``name`` (a secret-looking name, see is_secret_name). Host variables are never secret."""
    marks = secret_marks(secret_names)
    variables = (plan or {}).get("global_var_list") or []
    by_id = {var.get("id"): var for var in variables}
    by_name = {var.get("name"): var for var in variables}
    found: dict[int, str] = {}
    for index, entry in enumerate(entries):
        if "value" not in entry:
            continue
        var = plan_variable(entry, by_id, by_name) or {}
        names = {str(name) for name in (entry.get("name"), var.get("name")) if name is not None}
        ids = {str(ident) for ident in (entry.get("id"), var.get("id")) if ident is not None}
        if var.get("type") == _api.VAR_TYPE_CIPHER:
            found[index] = "password"
        elif marks & (names | ids):
            found[index] = "named"
        elif any(is_secret_name(name) for name in names):
            found[index] = "name"
    return found


def raw_secret_values(params: dict[str, Any]) -> list[tuple[str, str]]:
    """The secret values in a module's raw arguments, before any validation, as (value, why) pairs.

    Read from ``global_var_list`` / ``global_vars`` as given (any shape), so that a failure of the argument
    check itself can mask them. ``why`` is ``named`` or ``name`` as in secret_entries.
    """
    marks = secret_marks(params.get("secret_var_names"))
    candidates: list[tuple[Any, Any, Any]] = []
    raw_list, raw_vars = params.get("global_var_list"), params.get("global_vars")
    if isinstance(raw_list, dict):
        raw_list = [raw_list]
    for item in raw_list if isinstance(raw_list, list) else []:
        if isinstance(item, dict):
            candidates.append((item.get("name"), item.get("id"), item.get("value")))
    if isinstance(raw_vars, dict):
        candidates.extend((name, None, value) for name, value in raw_vars.items())
    found = []
    for name, ident, value in candidates:
        keys = {str(key).strip() for key in (name, ident) if key is not None and not isinstance(key, (dict, list))}
        why = "named" if marks & keys else "name" if is_secret_name(name) else None
        if why:
            found.extend((text, why) for text in _scalars(value))
    return found


def _scalars(value: Any) -> list[str]:
    """Every scalar inside ``value`` in the form it is sent (booleans as true/false) and the form it was given."""
    if isinstance(value, dict):
        return [text for item in value.values() for text in _scalars(item)]
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in _scalars(item)]
    if value is None or value == "":
        return []
    texts = {str(value)}
    if isinstance(value, bool):
        texts.add("true" if value else "false")
    return sorted(texts)


def masked(entries: list[dict[str, Any]], secrets: dict[int, str] | set[int]) -> list[dict[str, Any]]:
    """``entries`` with the value of each secret entry (by index) replaced by ``MASK``; nothing else changes."""
    return [{**entry, "value": MASK} if index in secrets and "value" in entry else entry for index, entry in enumerate(entries)]


def masked_arguments(params: dict[str, Any], also: Any = ()) -> dict[str, Any]:
    """A copy of the raw task arguments with the secret variables' values replaced by ``MASK``, whatever their shape;
    ``also``: more variable names or ids (as strings) to treat as secret.

    Used for ``invocation.module_args``: the structural mask also hides a value too short for Ansible's own masking.
    """
    marks = secret_marks(params.get("secret_var_names")) | {str(key) for key in also}
    shown = dict(params)

    def hide(name: Any, ident: Any, value: Any) -> Any:
        keys = {str(key).strip() for key in (name, ident) if key is not None and not isinstance(key, (dict, list))}
        if value is None or not (marks & keys or is_secret_name(name)):
            return value
        return MASK if _scalars(value) else value

    raw_list = params.get("global_var_list")
    if isinstance(raw_list, list):
        shown["global_var_list"] = [
            {**item, "value": hide(item.get("name"), item.get("id"), item["value"])} if isinstance(item, dict) and "value" in item else item
            for item in raw_list]
    elif isinstance(raw_list, dict) and "value" in raw_list:
        shown["global_var_list"] = {**raw_list, "value": hide(raw_list.get("name"), raw_list.get("id"), raw_list["value"])}
    raw_vars = params.get("global_vars")
    if isinstance(raw_vars, dict):
        shown["global_vars"] = {name: value if isinstance(value, dict) and not is_secret_name(name) and str(name) not in marks
                                else hide(name, None, value) for name, value in raw_vars.items()}
    return shown


def secrets_to_mask(entries: list[dict[str, Any]], secrets: dict[int, str]) -> tuple[set[str], list[str]]:
    """The secret values Ansible may mask everywhere (mask_safe), and labels of secrets (plan passwords, secret_var_names
    and secret-looking names) too short or too common for that, which are masked in global_var_list and diff only."""
    safe, unsafe = set(), []
    for index, why in secrets.items():
        value = entries[index].get("value")
        if mask_safe(value):
            safe.add(value)
        elif value:
            entry = entries[index]
            unsafe.append(repr(entry["name"]) if "name" in entry else f"id {entry.get('id')}")
    return safe, unsafe
