# Copyright (c) 2026 blueking.job contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Connection options of every blueking.job module; mirrors CONNECTION_ARGSPEC in module_utils/_args.py."""

    DOCUMENTATION = r"""
options:
  bk_api_url:
    description:
      - Root URL of the BlueKing API surface chosen by O(bk_api_type).
      - For V(esb), the ESB root, for example C(https://paas.example.com); requests go to
        C({bk_api_url}/api/c/compapi/v2/jobv3/<api>/).
      - For V(apigw), the bk-job API gateway stage root, for example C(https://bkapi.example.com/api/bk-job/prod);
        requests go to C({bk_api_url}/api/v3/<api>).
      - If not set, the value of the E(BK_API_URL) environment variable is used.
    type: str
    required: true
  bk_api_type:
    description:
      - Which API surface to use. V(esb) sends the credentials in the JSON body (BlueKing ESB, C(/api/c/compapi)).
        V(apigw) sends them only in the C(X-Bkapi-Authorization) header (BlueKing API gateway).
      - If not set, the value of the E(BK_API_TYPE) environment variable is used.
    type: str
    choices: [esb, apigw]
    default: esb
  bk_app_code:
    description:
      - BlueKing application id (C(bk_app_code)), from the developer center.
      - Required unless O(bk_access_token) is given.
      - If not set, the value of the E(BK_APP_CODE) environment variable is used.
    type: str
  bk_app_secret:
    description:
      - Secret of the application O(bk_app_code). Never shown in results, warnings, errors or logs.
      - Required unless O(bk_access_token) is given.
      - If not set, the value of the E(BK_APP_SECRET) environment variable is used.
    type: str
  bk_username:
    description:
      - User the job runs as (the JOB operator). The application must be on the ESB or gateway
        user-verification whitelist for a bare user name to be accepted; otherwise use O(bk_token).
      - One of O(bk_username) and O(bk_token) is required unless O(bk_access_token) is given.
      - If not set, the value of the E(BK_USERNAME) environment variable is used.
    type: str
  bk_token:
    description:
      - BlueKing login ticket of the user (the C(bk_token) cookie).
      - If not set, the value of the E(BK_TOKEN) environment variable is used.
    type: str
  bk_access_token:
    description:
      - BlueKing OAuth access token. When given, it replaces O(bk_app_code), O(bk_app_secret),
        O(bk_username) and O(bk_token), and only the token is sent; a warning says so when those are set too.
      - If not set, the value of the E(BK_ACCESS_TOKEN) environment variable is used, unless the task (or its
        C(module_defaults)) sets O(bk_app_code), O(bk_app_secret), O(bk_username) or O(bk_token); options on the task
        beat an identity of another kind from the environment, with a warning.
    type: str
  bk_tenant_id:
    description:
      - Tenant id of a multi-tenant BlueKing, sent as the C(X-Bk-Tenant-Id) header.
      - If not set, the value of the E(BK_TENANT_ID) environment variable is used.
    type: str
  bk_job_web_url:
    description:
      - Root URL of the JOB web console, for example C(https://job.example.com). When set, results carry
        C(job_instance_url), C({bk_job_web_url}/api_execute/{job_instance_id}).
      - If not set, the value of the E(BK_JOB_WEB_URL) environment variable is used.
    type: str
  validate_certs:
    description:
      - Whether to verify the TLS certificate of O(bk_api_url). V(false) is insecure and gives a warning.
      - If not set, the value of the E(BK_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
  ca_path:
    description:
      - PEM bundle (or directory of certificates) of the certificate authority that signed the BlueKing
        server certificate, for a private PKI.
      - If not set, the value of the E(BK_CA_PATH) environment variable is used.
    type: path
  request_timeout:
    description:
      - Seconds to wait for each HTTP request to connect and to answer.
      - If not set, the value of the E(BK_REQUEST_TIMEOUT) environment variable is used.
    type: float
    default: 30
notes:
  - An environment variable that is set but empty (or only spaces) counts as unset, as AWX renders a credential field
    left empty; the option's default then applies.
  - Identity is either O(bk_access_token), or O(bk_app_code) with O(bk_app_secret) and one of O(bk_username)
    or O(bk_token). Anything else fails before any request is sent, naming what is missing.
  - "The modules talk to a remote API; run them on the controller (C(hosts: localhost) or C(delegate_to: localhost))."
  - Set the connection once for a play with C(module_defaults) and the action group C(group/blueking.job.bk_job).
requirements:
  - requests (Python library, on the host that runs the module)
"""
