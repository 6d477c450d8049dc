# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Property-based fuzzing of the three modules' entry points: random argument shapes, never a traceback.

Each example runs the real module's ``main()`` in-process, Ansible's standard unit-test way (the module arguments
are handed over as ``{"ANSIBLE_MODULE_ARGS": {...}}`` through ``ansible.module_utils.basic``); nothing of the
module is mocked. ``bk_api_url`` is always a local JOB emulator, a local port that refuses connections, or a URL
the module must refuse, so nothing outside this machine is ever contacted. Every outcome must be the module's own
JSON: ``failed`` with a ``msg`` string, or a success; never an uncaught exception, never ``Traceback``, never a
credential.

The inputs that broke the modules when this test was written (non-finite and huge timeouts, non-ASCII and CR/LF
tenant ids, a global_var_list of the wrong shape losing no_log; fixed in 5a57432) are drawn on purpose, and pinned
by the regression tests at the end.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal

import hypothesis
import pytest
from hypothesis import strategies as st

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.common.validation import check_type_float, check_type_int

from ansible_collections.blueking.job.plugins.module_utils._args import CONNECTION_ARGSPEC, SCOPE_ARGSPEC
from ansible_collections.blueking.job.plugins.modules import execute_job_plan, job_instance_info, job_plan_info

from process import Emulator  # pylint: disable=import-error  # tests/emulator, put on sys.path by tests/unit/plugins/conftest.py
from support import ACCESS_TOKEN, APP_CODE, APP_SECRET, BK_TOKEN, PLAN_DEPLOY_APP, SECRETS, closed_port  # pylint: disable=import-error

MODULES = {"execute_job_plan": execute_job_plan, "job_instance_info": job_instance_info, "job_plan_info": job_plan_info}
FUZZ_EXAMPLES = int(os.environ.get("BKJOB_FUZZ_EXAMPLES", "400"))
EXAMPLE_SECONDS = 30  # a single example running longer than this is a hang

# A call waits at most this long (valid but long waits are out of the fuzz's scope: they would only wait).
MAX_WAIT_SECONDS = 5

INT_OPTIONS = ("bk_biz_id", "job_plan_id", "job_instance_id", "job_template_id", "wait_timeout", "log_max_bytes")
FLOAT_OPTIONS = ("request_timeout", "poll_interval", "poll_max_interval")


def _raises_overflow(check, value):
    try:
        check(value)
    except OverflowError:
        return True
    except (TypeError, ValueError):
        return False
    return False


# ansible-core bugs reachable through any module (not the collection's code), pinned by the xfail tests at the end:
# ansible-core 2.19's check_type_int lets OverflowError out for inf / "inf" (fixed upstream by ansible/ansible#87253);
# check_type_float does the same for an int beyond the float range (10**400), in 2.16 and 2.19.
CORE_INT_INF_BUG = _raises_overflow(check_type_int, float("inf"))
CORE_FLOAT_BIG_INT_BUG = _raises_overflow(check_type_float, 10 ** 400)


def hits_core_bug(args):
    """Whether ``args`` would crash ansible-core's own argument conversion (so the fuzz leaves them out)."""
    for option in INT_OPTIONS:
        value = args.get(option)
        if CORE_INT_INF_BUG and (isinstance(value, float) or isinstance(value, str)) and _raises_overflow(check_type_int, value):
            return True
    for option in FLOAT_OPTIONS:
        value = args.get(option)
        if CORE_FLOAT_BIG_INT_BUG and isinstance(value, int) and _raises_overflow(check_type_float, value):
            return True
    return False


# ------------------------------------------------------------------------------------------------------------
# Running main() in-process.

class Hang(Exception):
    """An example ran longer than EXAMPLE_SECONDS."""


def _alarm(_signum, _frame):
    raise Hang(f"the module ran longer than {EXAMPLE_SECONDS} s")


@contextlib.contextmanager
def module_args(args):
    """Expose ``args`` to AnsibleModule: ansible-core >= 2.19 has patch_module_args, older ones read _ANSIBLE_ARGS."""
    try:
        from ansible.module_utils.testing import patch_module_args  # pylint: disable=import-outside-toplevel
    except ImportError:
        patch_module_args = None
    if patch_module_args is not None:
        with patch_module_args(args):
            yield
        return
    saved = basic._ANSIBLE_ARGS  # pylint: disable=protected-access
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode("utf-8")  # pylint: disable=protected-access
    try:
        yield
    finally:
        basic._ANSIBLE_ARGS = saved  # pylint: disable=protected-access


def run_main(module_name, args):
    """Run the module's main() with ``args``; (stdout, uncaught exception or None)."""
    for name in ("_global_warnings", "_global_deprecations"):
        registry = getattr(ansible_warnings, name, None)
        if hasattr(registry, "clear"):
            registry.clear()
    out = io.StringIO()
    uncaught = None
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(EXAMPLE_SECONDS)
    try:
        with module_args(args), contextlib.redirect_stdout(out):
            MODULES[module_name].main()
    except SystemExit:
        pass
    except BaseException as exc:  # pylint: disable=broad-exception-caught
        uncaught = exc
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return out.getvalue(), uncaught


def assert_clean_outcome(module_name, args, stdout, uncaught):
    shown = json.dumps(args, default=repr)[:1500]
    assert uncaught is None, f"{module_name} raised {type(uncaught).__name__}: {uncaught!r} for {shown}"
    assert "Traceback" not in stdout, f"{module_name}: traceback for {shown}:\n{stdout[-3000:]}"
    try:
        result = json.loads(stdout)
    except ValueError:
        pytest.fail(f"{module_name} did not answer with one JSON document for {shown}:\n{stdout[-3000:]}")
    assert isinstance(result, dict)
    if result.get("failed"):
        assert isinstance(result.get("msg"), str) and result["msg"].strip(), result
    else:
        assert "msg" not in result or isinstance(result["msg"], str)
    for secret in SECRETS:
        assert secret not in stdout, f"{module_name}: a credential is in the output for {shown}"
    return result


# ------------------------------------------------------------------------------------------------------------
# Fixtures.

@pytest.fixture()
def emulator():
    # Function scope on purpose: ansible-test units runs every test in its own fork (ansible_forked), which never
    # tears down a module-scoped fixture, so a module-scoped emulator would be left running after each test.
    with Emulator(config={"default_behaviour": {"step_seconds": 0.01}}) as running:
        yield running


@pytest.fixture(scope="module")
def refused_url():
    return f"http://127.0.0.1:{closed_port()}"


# ------------------------------------------------------------------------------------------------------------
# Strategies: each option mixes valid values with wrong types, ranges and shapes.

# Random text has no "h", "t" or "p", so it can never form an http(s) URL with a host (nothing external is contacted);
# the special strings are the ones that broke the modules before (5a57432) and the usual numeric edge cases.
SPECIAL_TEXT = st.sampled_from(["nan", "NaN", "inf", "-inf", "1e300", "1e999", "-0", "0x10", " 5 ", "٣", "租户", "a\r\nX-Injected: 1",
                                "\x00", "a" * 300, "9" * 30])
JUNK_TEXT = st.one_of(st.text(alphabet="abcdefinxyz0123456789-_ :/.,=@[]{}é租\t\r\n", max_size=12), SPECIAL_TEXT)
JUNK = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
                 st.floats(allow_nan=True, allow_infinity=True), JUNK_TEXT,
                 st.lists(st.integers(min_value=-3, max_value=3), max_size=3),
                 st.dictionaries(JUNK_TEXT, st.integers(min_value=-3, max_value=3), max_size=2))


def either(*values, junk=True):
    choices = st.sampled_from(values)
    return st.one_of(choices, JUNK) if junk else choices


TOPO_NODE = st.fixed_dictionaries({"id": either(1000, 0)}, optional={"node_type": either("module", "set", "bad type!")})


def server_strategy():
    ip_item = st.one_of(st.fixed_dictionaries({"ip": either("10.0.0.1", "10.0.0.2", "10.0.0.999", "::1", "")},
                                              optional={"bk_cloud_id": either(0, 1, -1, "0"), "extra": JUNK}), JUNK)
    return st.fixed_dictionaries({}, optional={
        "host_id_list": st.one_of(st.lists(either(101, 102, 0, -4, "103"), max_size=3), JUNK),
        "ip_list": st.one_of(st.lists(ip_item, max_size=3), JUNK),
        "dynamic_group_list": st.one_of(st.lists(st.one_of(st.fixed_dictionaries({"id": either("blo8gojho0skft7pr5q0", "")}), JUNK),
                                                 max_size=2), JUNK),
        "topo_node_list": st.one_of(st.lists(st.one_of(TOPO_NODE, JUNK), max_size=2), JUNK),
        "bogus": JUNK,
    })


VAR_NAMES = either("app_version", "target_hosts", "db_password", "release_note", "no_such_var", "")
VALUE = st.one_of(either("2.4.1", "", 7, 0.5, True), server_strategy())
GLOBAL_VARS = st.one_of(st.dictionaries(VAR_NAMES.filter(lambda name: isinstance(name, str)), VALUE, max_size=4), JUNK)
GLOBAL_VAR_LIST = st.one_of(st.lists(st.one_of(st.fixed_dictionaries({}, optional={
    "id": either(1, 2, 3, 77, 0), "name": VAR_NAMES, "value": either("2.4.1", "", 3), "server": server_strategy(), "bogus": JUNK}), JUNK),
    max_size=4), JUNK)

DELETE = object()  # a mutation that removes the option

# Valid values of each option (a random valid call is drawn from these) ...
VALID = {
    "bk_app_code": (APP_CODE,),
    "bk_app_secret": (APP_SECRET,),
    "bk_username": ("admin", "alice"),
    "bk_token": (BK_TOKEN,),
    "bk_access_token": (ACCESS_TOKEN,),
    "bk_tenant_id": ("default", "tenant-a"),
    "bk_job_web_url": ("https://job.example.com",),
    "validate_certs": (True, False),
    "request_timeout": (5, 10.0),
    "wait_timeout": (2, 3),
    "poll_interval": (0.05, 0.1),
    "poll_max_interval": (0.3,),
    "on_waiting_user": ("wait", "fail", "return"),
    "log_max_bytes": (0, 64, 4096),
    "host_results": ("none", "failed", "all"),
    "validate_vars": (True, False),
    "callback_url": ("http://127.0.0.1:9/cb", "http://u:p@127.0.0.1:9/cb"),
    "terminate_on_timeout": (True, False),
    "secret_var_names": (["release_note"], []),
    "_ansible_check_mode": (True, False),
    "_ansible_diff": (True, False),
}
# ... and the values a mutation may put in (besides JUNK): wrong ranges, shapes, choices and URLs.
INVALID = {
    "bk_api_url": ("ftp://127.0.0.1/x", "", "http://", "127.0.0.1:8080", "http://[::1", "http://admin:pw@127.0.0.1:9",
                   "http://127.0.0.1:99999"),
    "bk_api_type": ("ESB", "soap"),
    "bk_app_secret": ("wrong-secret", ""),
    "bk_username": ("nobody", ""),
    "bk_token": ("bad-token",),
    "bk_access_token": ("", "bad-access-token"),
    "bk_job_web_url": ("ftp://x", "job.example.com"),
    "ca_path": ("/nonexistent/ca.pem",),
    "request_timeout": (0, -1),
    "bk_biz_id": (3, 9991001, 0, -2, "2"),
    "bk_scope_type": ("biz_set", "project"),
    "bk_scope_id": ("9991001", "0", "two", 2),
    "job_plan_id": (999999, 0, -1, 1005),
    "job_plan_name": ("deploy", "nope", ""),
    "job_instance_id": (1, 0, -1),
    "job_template_id": (0, -1),
    "name": ("",),
    "wait_timeout": (0, -3),
    "poll_interval": (0, -1.0),
    "poll_max_interval": (0.01,),
    "on_waiting_user": ("ask",),
    "log_max_bytes": (-1,),
    "host_results": ("some",),
    "callback_url": ("ftp://x", "hooks"),
    "start_task": (False, True),
    "wait": (True, False),
}
# The options a mutation may hit: the modules' own argspecs and the shared connection and scope options
# (build_module adds those to every module); plus "bogus_option", which every module must refuse.
MODULE_OPTIONS = {name: tuple(module.ARGUMENT_SPEC) for name, module in MODULES.items()}
CONNECTION = tuple(CONNECTION_ARGSPEC) + tuple(SCOPE_ARGSPEC)


def optional_valid(names):
    return st.fixed_dictionaries({}, optional={name: st.sampled_from(VALID[name]) for name in names})


@st.composite
def valid_call(draw, module_name, emulator_url, refused_url=None):
    """A call the module should accept (it may still fail in JOB: unknown instance, permission, refused port)."""
    surface = draw(st.sampled_from(["esb", "apigw"]))
    root = refused_url or emulator_url
    url = root if surface == "esb" else root + "/api/bk-job/prod"
    args = {"bk_api_url": url, "bk_api_type": surface}
    if draw(st.booleans()):
        args["bk_access_token"] = ACCESS_TOKEN
    else:
        args.update(bk_app_code=APP_CODE, bk_app_secret=APP_SECRET)
        args.update(draw(st.sampled_from([{"bk_username": "admin"}, {"bk_token": BK_TOKEN}, {"bk_username": "alice", "bk_token": BK_TOKEN}])))
    args.update(draw(st.sampled_from([{"bk_biz_id": 2}, {"bk_scope_id": "2"}, {"bk_scope_type": "biz", "bk_scope_id": "2"}])))
    args.update(draw(optional_valid(["bk_tenant_id", "bk_job_web_url", "validate_certs", "request_timeout", "_ansible_check_mode",
                                     "_ansible_diff"])))
    wait_names = ["wait_timeout", "poll_interval", "poll_max_interval", "on_waiting_user", "log_max_bytes", "host_results"]
    if module_name == "execute_job_plan":
        plan = draw(st.sampled_from([{"job_plan_id": PLAN_DEPLOY_APP}, {"job_plan_id": 1004}, {"job_plan_name": "deploy-app"},
                                     {"job_plan_id": 1003, "global_vars": {"app_version": "3.1"}}]))
        args.update(plan)
        if plan.get("job_plan_id") != 1003 and plan.get("job_plan_id") != 1004:
            args.update(draw(st.sampled_from([{}, {"global_vars": {"app_version": draw(st.sampled_from(["2.4.1", 7, 0.5, True]))}},
                                              {"global_vars": {"target_hosts": {"host_id_list": [101, 102]}, "release_note": "r"}},
                                              {"global_var_list": [{"id": 2, "server": {"ip_list": [{"ip": "10.0.0.1"}]}},
                                                                   {"name": "db_password", "value": "s3cret-pw"}]},
                                              {"global_vars": {"target_hosts": {"topo_node_list": [{"id": 1000, "node_type": "module"}],
                                                                                "dynamic_group_list": [{"id": "blo8gojho0skft7pr5q0"}]}}}])))
        args["wait_timeout"], args["poll_interval"] = 3, 0.05
        args.update(draw(optional_valid(wait_names + ["validate_vars", "callback_url", "terminate_on_timeout", "secret_var_names"])))
        args["wait"] = draw(st.booleans())
    elif module_name == "job_instance_info":
        args["job_instance_id"] = draw(st.sampled_from([20000001, 20000002, 20000003]))
        args["wait_timeout"], args["poll_interval"] = 3, 0.05
        args.update(draw(optional_valid(wait_names)))
        args["wait"] = draw(st.booleans())
    else:
        args.update(draw(st.sampled_from([{}, {"job_plan_id": PLAN_DEPLOY_APP}, {"name": "deploy"}, {"job_template_id": 100}])))
    return args


@st.composite
def module_call(draw, emulator_url, refused_url=None):
    """A valid call, then 0 to 3 mutations: an option removed, or set to a wrong value, type or shape.

    With ``refused_url`` every call goes to a port that refuses connections instead of the emulator.
    """
    module_name = draw(st.sampled_from(sorted(MODULES)))
    args = draw(valid_call(module_name, emulator_url, refused_url))
    names = list(CONNECTION) + list(MODULE_OPTIONS[module_name]) + ["bogus_option"]
    for _mutation in range(draw(st.integers(min_value=0, max_value=3))):
        name = draw(st.sampled_from(names))
        choices = [JUNK, st.just(DELETE)]
        if name in INVALID:
            choices.append(st.sampled_from(INVALID[name]))
        if name in ("global_vars", "global_var_list"):
            choices.append(GLOBAL_VARS if name == "global_vars" else GLOBAL_VAR_LIST)
        value = draw(st.one_of(*choices))
        if value is DELETE:
            args.pop(name, None)
        else:
            args[name] = value
    if _as_number(args.get("wait_timeout")) > MAX_WAIT_SECONDS:
        args["wait_timeout"] = MAX_WAIT_SECONDS
    return module_name, {key: value for key, value in args.items() if value is not None}


def _as_number(value):
    """What Ansible's int/float conversion would make of ``value``; 0 when it would refuse it."""
    if isinstance(value, bool):
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return 0 if math.isnan(number) else number  # nan: refused by the module


def fuzz(strategy, examples):
    """Run ``examples`` random calls; the number of clean failures and successes."""
    outcomes = {"failed": 0, "ok": 0}

    @hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize="BKJOB_FUZZ_EXAMPLES" not in os.environ,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(call=strategy)
    def check(call):
        module_name, args = call
        hypothesis.assume(not hits_core_bug(args))
        stdout, uncaught = run_main(module_name, args)
        result = assert_clean_outcome(module_name, args, stdout, uncaught)
        outcomes["failed" if result.get("failed") else "ok"] += 1

    check()  # pylint: disable=no-value-for-parameter
    return outcomes


def test_random_arguments_never_give_a_traceback(emulator):
    outcomes = fuzz(module_call(emulator.url), FUZZ_EXAMPLES)
    print(f"\nfuzz (emulator): {sum(outcomes.values())} examples, {outcomes['failed']} failed cleanly, {outcomes['ok']} succeeded, "
          "0 tracebacks")
    assert outcomes["failed"] and outcomes["ok"], outcomes


def test_random_arguments_against_a_refused_port(emulator, refused_url):
    """Every read is retried with backoff (about a second per call that gets that far), so fewer examples."""
    outcomes = fuzz(module_call(emulator.url, refused_url), max(10, FUZZ_EXAMPLES // 20))
    print(f"\nfuzz (refused port): {sum(outcomes.values())} examples, {outcomes['failed']} failed cleanly, {outcomes['ok']} succeeded")
    assert outcomes["failed"], outcomes


def test_the_harness_reports_a_clean_failure(refused_url):
    stdout, uncaught = run_main("job_plan_info", {"bk_api_url": refused_url, "bk_access_token": ACCESS_TOKEN, "bk_biz_id": 2,
                                                  "request_timeout": 1})
    result = assert_clean_outcome("job_plan_info", {}, stdout, uncaught)
    assert result["failed"] is True and "was refused" in result["msg"] and result["error"]["stage"] == "lookup"


# ------------------------------------------------------------------------------------------------------------
# Regressions: inputs that gave a traceback or leaked a credential before 5a57432.

BASE = {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": "admin", "bk_biz_id": 2, "job_plan_id": PLAN_DEPLOY_APP, "wait": False}


@pytest.mark.parametrize("option, value", [
    pytest.param("request_timeout", "nan", id="request_timeout-nan"),
    pytest.param("request_timeout", "inf", id="request_timeout-inf"),
    pytest.param("request_timeout", 1e300, id="request_timeout-1e300"),
    pytest.param("poll_interval", "nan", id="poll_interval-nan"),
    pytest.param("bk_tenant_id", "租户", id="bk_tenant_id-non-latin1"),
    pytest.param("bk_tenant_id", "t1\r\nX-Injected: 1", id="bk_tenant_id-crlf"),
    pytest.param("job_plan_id", 2 ** 63, id="job_plan_id-beyond-int64"),
])
def test_regression_input_refused_before_any_request(emulator, option, value):
    args = {**BASE, "bk_api_url": emulator.url, "wait": option == "poll_interval", option: value}
    emulator.reset()
    stdout, uncaught = run_main("execute_job_plan", args)
    result = assert_clean_outcome("execute_job_plan", args, stdout, uncaught)
    assert result["failed"] is True and option in result["msg"], result["msg"]
    assert emulator.requests() == []


@pytest.mark.parametrize("value", [pytest.param(False, id="false"), pytest.param(5, id="int"), pytest.param("", id="empty-string"),
                                   pytest.param(["x"], id="list-of-text")])
def test_regression_no_log_kept_when_global_var_list_has_the_wrong_shape(value):
    """ansible-core stops collecting no_log values at a sub-option type error (ansible/ansible#81672)."""
    args = {**BASE, "bk_api_url": "http://127.0.0.1:9", "global_var_list": value}
    stdout, uncaught = run_main("execute_job_plan", args)
    result = assert_clean_outcome("execute_job_plan", args, stdout, uncaught)  # asserts no credential in the output
    assert result["failed"] is True and "global_var_list" in result["msg"]


# ------------------------------------------------------------------------------------------------------------
# ansible-core bugs that reach the modules: AnsibleModule's own type conversion raises OverflowError before any
# module code runs, so the task ends with a traceback. Workaround in the collection: declare these options as raw
# and convert them in _args (as positive_int / seconds already check them).

@pytest.mark.xfail(CORE_INT_INF_BUG, strict=True,
                   reason="BUG (ansible-core 2.19, fixed upstream by ansible/ansible#87253): an int option given inf / -inf / 'inf' "
                          "(job_plan_id, bk_biz_id, job_instance_id, job_template_id, wait_timeout, log_max_bytes) makes "
                          "check_type_int raise OverflowError: a traceback ('Module failed: cannot convert Infinity to integer')")
@pytest.mark.parametrize("value", [pytest.param(float("inf"), id="float-inf"), pytest.param("-inf", id="text-minus-inf")])
def test_core_bug_int_option_given_infinity(value):
    args = {**BASE, "bk_api_url": "http://127.0.0.1:9", "job_plan_id": value}
    stdout, uncaught = run_main("execute_job_plan", args)
    result = assert_clean_outcome("execute_job_plan", args, stdout, uncaught)
    assert result["failed"] is True and "job_plan_id" in result["msg"]


@pytest.mark.xfail(CORE_FLOAT_BIG_INT_BUG, strict=True,
                   reason="BUG (ansible-core 2.16 and 2.19): a float option given an integer beyond the float range (10**400) "
                          "(request_timeout, poll_interval, poll_max_interval) makes check_type_float raise OverflowError: "
                          "a traceback ('int too large to convert to float')")
def test_core_bug_float_option_given_a_huge_integer():
    args = {**BASE, "bk_api_url": "http://127.0.0.1:9", "request_timeout": 10 ** 400}
    stdout, uncaught = run_main("execute_job_plan", args)
    result = assert_clean_outcome("execute_job_plan", args, stdout, uncaught)
    assert result["failed"] is True and "request_timeout" in result["msg"]
