# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.blueking.job.plugins.module_utils import _args
from ansible_collections.blueking.job.plugins.module_utils._errors import InputError

BASE = {
    "bk_api_url": "https://paas.example.com/", "bk_api_type": "esb", "bk_app_code": "app", "bk_app_secret": "s3cret-value",
    "bk_username": "admin", "bk_token": None, "bk_access_token": None, "bk_tenant_id": None, "validate_certs": True,
    "ca_path": None, "request_timeout": 30.0, "bk_job_web_url": None,
}


def params(**changes):
    return {**BASE, **changes}


def test_scope_is_sent_in_the_form_the_user_chose():
    assert _args.scope_params({"bk_biz_id": 2}) == {"bk_biz_id": 2}
    assert _args.scope_params({"bk_biz_id": None, "bk_scope_type": None, "bk_scope_id": " 2 "}) == {"bk_scope_type": "biz", "bk_scope_id": "2"}
    assert _args.scope_params({"bk_biz_id": None, "bk_scope_type": "biz_set", "bk_scope_id": "9991001"}) == {
        "bk_scope_type": "biz_set", "bk_scope_id": "9991001"}


@pytest.mark.parametrize("scope, expected", [
    ({"bk_biz_id": 0}, "bk_biz_id must be a positive integer"),
    ({"bk_biz_id": -3}, "bk_biz_id must be a positive integer"),
    ({"bk_biz_id": None, "bk_scope_id": "abc"}, "bk_scope_id must be a positive integer"),
    ({"bk_biz_id": None, "bk_scope_id": "0"}, "bk_scope_id must be a positive integer"),
])
def test_bad_scope_fails(scope, expected):
    with pytest.raises(InputError, match=expected):
        _args.scope_params(scope)


def test_credentials_app_code_secret_and_user():
    assert _args.credentials(params()) == {"bk_app_code": "app", "bk_app_secret": "s3cret-value", "bk_username": "admin"}
    assert _args.credentials(params(bk_username=None, bk_token="tok")) == {"bk_app_code": "app", "bk_app_secret": "s3cret-value", "bk_token": "tok"}


def test_access_token_replaces_everything_else():
    assert _args.credentials(params(bk_access_token="at-1")) == {"access_token": "at-1"}


@pytest.mark.parametrize("changes, missing", [
    ({"bk_app_secret": None}, "bk_app_secret"),
    ({"bk_app_code": None, "bk_app_secret": None}, "bk_app_code, bk_app_secret"),
    ({"bk_username": None}, "bk_username or bk_token"),
])
def test_missing_identity_names_what_is_missing(changes, missing):
    with pytest.raises(InputError) as caught:
        _args.credentials(params(**changes))
    assert f"Missing credentials: {missing}." in caught.value.msg
    assert "s3cret-value" not in caught.value.msg


@pytest.mark.parametrize("url, expected", [
    ("ftp://paas.example.com", "must be an http:// or https:// URL"),
    ("paas.example.com", "must be an http:// or https:// URL"),
    ("https://", "must be an http:// or https:// URL"),
    ("https://paas.example.com:99999", "is not a valid URL"),
])
def test_bad_api_url(url, expected):
    with pytest.raises(InputError, match=expected):
        _args.api_root(params(bk_api_url=url))


def test_api_url_with_password_is_refused_without_echoing_it():
    with pytest.raises(InputError) as caught:
        _args.api_root(params(bk_api_url="https://admin:hunter2-pass@paas.example.com"))
    assert "must not carry a user name or password" in caught.value.msg
    assert "hunter2-pass" not in caught.value.msg


def test_api_url_with_api_path_gets_a_hint():
    with pytest.raises(InputError, match="leave out /api/c/compapi"):
        _args.api_root(params(bk_api_url="https://paas.example.com/api/c/compapi/v2/jobv3/"))
    with pytest.raises(InputError, match="leave out /api/v3"):
        _args.api_root(params(bk_api_type="apigw", bk_api_url="https://bkapi.example.com/api/bk-job/prod/api/v3/"))
    assert _args.api_root(params(bk_api_type="apigw", bk_api_url="https://bkapi.example.com/api/bk-job/prod/")) == \
        "https://bkapi.example.com/api/bk-job/prod"


def test_client_options_check_timeout_and_ca_path(tmp_path):
    with pytest.raises(InputError, match="request_timeout must be a positive number"):
        _args.client_options(params(request_timeout=0))
    with pytest.raises(InputError, match="ca_path .* does not exist"):
        _args.client_options(params(ca_path=str(tmp_path / "missing.pem")))
    options = _args.client_options(params(bk_tenant_id=" tenant-a "))
    assert options["tenant_id"] == "tenant-a"
    assert options["api_type"] == "esb"


def test_job_instance_url_uses_the_scope_independent_link():
    assert _args.job_instance_url(params(bk_job_web_url="https://job.example.com/"), 42) == "https://job.example.com/api_execute/42"
    assert _args.job_instance_url(params(), 42) is None


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_environment_variable_counts_as_unset(monkeypatch, value):
    from ansible.module_utils.errors import AnsibleFallbackNotFound

    monkeypatch.setenv("BK_API_TYPE", value)
    with pytest.raises(AnsibleFallbackNotFound):
        _args.env_fallback("BK_API_TYPE")
    monkeypatch.setenv("BK_REQUEST_TIMEOUT", "12")
    assert _args.env_fallback("BK_API_TYPE", "BK_REQUEST_TIMEOUT") == "12"


def test_app_identity_on_the_task_beats_an_access_token_from_the_environment():
    warnings = []
    both = params(bk_access_token="at-env-1234")
    assert _args.credentials(both, {"bk_app_code", "bk_app_secret", "bk_username"}, warnings.append) == {
        "bk_app_code": "app", "bk_app_secret": "s3cret-value", "bk_username": "admin"}
    assert "BK_ACCESS_TOKEN" in warnings[0] and "bk_app_code" in warnings[0]
    # Both from the environment, or the token on the task: the token wins, and a warning says so.
    assert _args.credentials(both, set(), warnings.append) == {"access_token": "at-env-1234"}
    assert _args.credentials(both, {"bk_access_token", "bk_username"}, warnings.append) == {"access_token": "at-env-1234"}
    assert len(warnings) == 3 and "bk_access_token is used" in warnings[2]
    assert _args.credentials(params(bk_access_token="at-1234", bk_app_code=None, bk_app_secret=None, bk_username=None), set(),
                             warnings.append) == {"access_token": "at-1234"}
    assert len(warnings) == 3


@pytest.mark.parametrize("url", ["https://hooks.example.com/bk-job/", "https://hooks.example.com/cb?next=/", "http://10.0.0.1:8080/",
                                 "http://[::1]:8765/cb", "https://xn--fiq228c.example.com/x#frag", "HTTPS://Hooks.Example.COM./a%20b"])
def test_callback_url_is_sent_as_written(url):
    assert _args.callback_url(f"  {url} ") == url


@pytest.mark.parametrize("url", [None, "", "   "])
def test_an_empty_callback_url_means_no_callback(url):
    assert _args.callback_url(url) is None


@pytest.mark.parametrize("url, expected", [
    ("https://u:cb-pass-1@hooks.example.com/x", "user name or password"),
    ("https://u@hooks.example.com/x", "user name or password"),
    ("https://@hooks.example.com/x", "user name or password"),
    ("https://my_hooks.example.com/x", "not a host name JOB can parse"),
    ("https://hooks.example.com/a b", "percent-encode"),
    ("https://hooks.example.com/a|b", "percent-encode"),
    ("https://hooks.example.com/a%zz", "percent-encode"),
    ("https://-bad.example.com/", "not a host name"),
    ("ftp://hooks.example.com/x", "http:// or https://"),
])
def test_a_callback_url_job_refuses_is_refused(url, expected):
    with pytest.raises(InputError) as caught:
        _args.callback_url(url)
    assert expected in caught.value.msg and "cb-pass-1" not in caught.value.msg


def test_a_user_on_the_task_beats_a_login_token_from_the_environment():
    """Issue 11 follow-up: BK_TOKEN in the environment silently ran the job as the token's user."""
    warnings = []
    both = params(bk_username="alice", bk_token="tok-env-1234")
    identity = _args.credentials(both, {"bk_app_code", "bk_app_secret", "bk_username"}, warnings.append)
    assert identity == {"bk_app_code": "app", "bk_app_secret": "s3cret-value", "bk_username": "alice"}
    assert _args.known_operator(identity) == "alice"
    assert len(warnings) == 1 and "BK_TOKEN" in warnings[0] and "runs as alice" in warnings[0] and "tok-env-1234" not in warnings[0]
    # The token on the task, the user from the environment: the token is sent alone, its user unknown to the task.
    identity = _args.credentials(both, {"bk_token"}, warnings.append)
    assert identity == {"bk_app_code": "app", "bk_app_secret": "s3cret-value", "bk_token": "tok-env-1234"}
    assert _args.known_operator(identity) is None and "BK_USERNAME" in warnings[1]
    # Both on the task: both are sent, the token's user wins at ESB, and the warning says so.
    identity = _args.credentials(both, {"bk_username", "bk_token"}, warnings.append)
    assert identity["bk_username"] == "alice" and identity["bk_token"] == "tok-env-1234"
    assert _args.known_operator(identity) is None and "JOB takes the user from bk_token" in warnings[2]
    assert _args.known_operator({"access_token": "at-1"}) is None
    assert len(warnings) == 3 and not any("tok-env-1234" in warning for warning in warnings)
