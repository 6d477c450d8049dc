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
