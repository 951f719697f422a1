#!/usr/bin/env python3
"""Makes tests/vectors/*.json by running the official cloud SDKs' own signing code.

Run it through generate.sh, which installs the pinned SDK versions (requirements.txt) in a
throwaway venv. Every vector is one real SDK call sent over HTTP to a capture server on
127.0.0.1: name resolution is redirected there, so the Host header (which is signed) keeps the
real cloud host. The clock and the random parts the SDKs put into a request (date, nonce, trace
id) are pinned by replacing the SDK functions that produce them; the SDK's hashing and signing
functions are only wrapped, to record what they were given. Nothing in a vector comes from
fnvault's Rust signer.

Each signature is then checked twice before it is written: by a from-scratch computation in
this file (hashlib/hmac over the captured wire request) and, for ACS3 and TC3, by the SDK's
signer applied to what was captured. A vector that fails either check stops the run, so a
written file never holds a signature nobody reproduced.

    python generate.py --out DIR [--only tencent|fc|fc3]
"""

import argparse
import base64
import contextlib
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import os
import platform
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from urllib.parse import parse_qsl, quote, urlsplit

# A proxy from the environment would carry the captured requests elsewhere.
for _k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_k, None)

import crcmod  # noqa: E402
import crcmod.predefined  # noqa: E402


class Failure(Exception):
    """A vector that the SDK and the independent computation disagree on."""


# ---------------------------------------------------------------------------
# capture server and redirection


class Capture:
    """Records each request exactly as received and answers with a fixed JSON body."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.answer = (200, b"{}")
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self):
        capture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with capture.lock:
                    capture.requests.append({
                        "request_line": self.requestline,
                        "method": self.command,
                        "target": self.path,
                        # items() keeps the order and case of the wire
                        "headers": [[k, v] for k, v in self.headers.items()],
                        "body": body,
                    })
                    status, answer = capture.answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.send_header("x-fc-request-id", "capture-0001")
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        return Handler

    def take_one(self):
        with self.lock:
            got, self.requests = self.requests, []
        if len(got) != 1:
            raise Failure("expected exactly one captured request, got %d" % len(got))
        return got[0]


CAPTURE = None
_real_getaddrinfo = socket.getaddrinfo


def _redirected_getaddrinfo(host, port, *args, **kwargs):
    # Every connection goes to the capture server; the request still names the real host.
    return _real_getaddrinfo("127.0.0.1", CAPTURE.port, *args, **kwargs)


def start_capture():
    global CAPTURE
    CAPTURE = Capture()
    socket.getaddrinfo = _redirected_getaddrinfo


# ---------------------------------------------------------------------------
# helpers


def versions(*names):
    return {n: metadata.version(n) for n in names}


def nonce_for(name):
    # The SDKs' own nonces are 32 hex digits too; md5 of the vector name keeps runs identical.
    return hashlib.md5(name.encode()).hexdigest()


def iso_utc(unix_time):
    return dt.datetime.fromtimestamp(unix_time, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def http_date(unix_time):
    return email.utils.formatdate(unix_time, usegmt=True)


def header(headers, name):
    found = [v for k, v in headers if k.lower() == name.lower()]
    return found[0] if found else None


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def split_target(target):
    parts = urlsplit(target)
    return parts.path, parts.query


def expect_equal(vector, what, expected, computed):
    if expected != computed:
        raise Failure("%s: %s differs\n  SDK:         %r\n  independent: %r"
                      % (vector, what, expected, computed))


# ---------------------------------------------------------------------------
# Alibaba Cloud ACS3-HMAC-SHA256 (Tea / darabonba clients)

ACS3 = "ACS3-HMAC-SHA256"
ALI_KEY = ("LTAI5tFakeAccessKeyId01", "FakeAccessKeySecretForOracle0001")
ALI_STS = ("STS.FakeStsAccessKeyId01", "FakeStsSecret0001", "FakeStsToken/with+base64=chars==")
ALI_ACCOUNT = "1234567890123456"
ALI_REGION = "cn-hangzhou"
ALI_ENDPOINT = "%s.%s.fc.aliyuncs.com" % (ALI_ACCOUNT, ALI_REGION)
ALI_SECRETS = {ALI_KEY[0]: ALI_KEY[1], ALI_STS[0]: ALI_STS[1]}


class TeaPins:
    """Pins x-acs-date and the nonce, and records what the Tea signer hashes and signs."""

    def __init__(self):
        import alibabacloud_tea_openapi.utils as tea_utils

        self.mod = tea_utils
        self.now = None
        self.nonce = None
        self.hashed = []
        self.signed = []
        utils = tea_utils.Utils
        real_hash = utils.hash
        real_sign = tea_utils.signature_method
        pins = self

        def get_timestamp():
            return iso_utc(pins.now)

        def get_nonce():
            return pins.nonce

        def hash_observed(raw, sign_type):
            pins.hashed.append(raw)
            return real_hash(raw, sign_type)

        def sign_observed(secret, source, sign_type):
            pins.signed.append(source)
            return real_sign(secret, source, sign_type)

        utils.get_timestamp = staticmethod(get_timestamp)
        utils.get_nonce = staticmethod(get_nonce)
        utils.hash = staticmethod(hash_observed)
        tea_utils.signature_method = sign_observed

    @contextlib.contextmanager
    def vector(self, nonce, unix_time):
        self.now = unix_time
        self.nonce = nonce
        self.hashed, self.signed = [], []
        yield

    def canonical_and_string_to_sign(self, vector):
        if len(self.signed) != 1 or not self.hashed:
            raise Failure("%s: the SDK signed %d times, hashed %d times"
                          % (vector, len(self.signed), len(self.hashed)))
        # get_authorization hashes the canonical request right before it signs.
        return self.hashed[-1].decode("utf-8"), self.signed[0]


def acs3_independent(vector, method, target, headers, body, secret):
    """ACS3-HMAC-SHA256 from scratch over the captured request: canonical URI as on the request
    line, the query decoded and re-encoded RFC 3986 (only '~' kept) and sorted, the signed headers
    named by the Authorization header, trimmed and sorted."""
    auth = header(headers, "Authorization")
    prefix = ACS3 + " Credential="
    if not auth or not auth.startswith(prefix):
        raise Failure("%s: no ACS3 Authorization header" % vector)
    fields = dict(p.split("=", 1) for p in auth[len(ACS3) + 1:].split(","))
    signed = fields["SignedHeaders"].split(";")
    path, raw_query = split_target(target)
    pairs = sorted(parse_qsl(raw_query, keep_blank_values=True))
    canonical_query = "&".join("%s=%s" % (k, quote(v, safe="~")) for k, v in pairs)
    lines = []
    for name in signed:
        values = [v.strip() for k, v in headers if k.lower() == name]
        if not values:
            raise Failure("%s: signed header %s was not sent" % (vector, name))
        lines.append("%s:%s\n" % (name, ",".join(sorted(values))))
    payload = sha256_hex(body)
    expect_equal(vector, "x-acs-content-sha256", header(headers, "x-acs-content-sha256"), payload)
    canonical = "%s\n%s\n%s\n%s\n%s\n%s" % (method, path, canonical_query, "".join(lines),
                                            ";".join(signed), payload)
    string_to_sign = "%s\n%s" % (ACS3, sha256_hex(canonical.encode()))
    signature = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    # Headers sent but not signed may only be the ones the HTTP stack adds after signing.
    for k, _ in headers:
        low = k.lower()
        if low not in signed and low not in ("authorization", "accept-encoding", "connection",
                                             "content-length"):
            raise Failure("%s: header %s was sent but not signed" % (vector, k))
    return {
        "credential": fields["Credential"],
        "canonical_request": canonical,
        "string_to_sign": string_to_sign,
        "signed_headers": ";".join(signed),
        "signature": signature,
        "authorization": "%s Credential=%s,SignedHeaders=%s,Signature=%s"
                         % (ACS3, fields["Credential"], ";".join(signed), signature),
    }


def acs3_oracle(vector, method, target, headers, body):
    """Verifies the captured request with the SDK's own get_authorization, as a server would."""
    from alibabacloud_tea_openapi.utils import Utils
    from darabonba.request import DaraRequest

    auth = header(headers, "Authorization")
    fields = dict(p.split("=", 1) for p in auth[len(ACS3) + 1:].split(","))
    ak = fields["Credential"]
    path, raw_query = split_target(target)
    req = DaraRequest()
    req.method = method
    req.pathname = path
    req.query = dict(parse_qsl(raw_query, keep_blank_values=True))
    req.headers = {n: header(headers, n) for n in fields["SignedHeaders"].split(";")}
    expected = Utils.get_authorization(req, ACS3, sha256_hex(body), ak, ALI_SECRETS[ak])
    if not hmac.compare_digest(expected, auth):
        raise Failure("%s: the SDK's signer does not accept the captured request" % vector)
    return "%s signature ok (AccessKeyId %s)" % (ACS3, ak)


def tea_vector(pins, name, description, produced_by, inputs, call, unix_time=1700000000,
               nonce=None):
    """Runs one Tea client call and turns the captured request into a vector."""
    inputs = dict(inputs)
    inputs["x_acs_date"] = iso_utc(unix_time)
    inputs["x_acs_signature_nonce"] = nonce or nonce_for(name)
    inputs["unix_time"] = unix_time
    with pins.vector(inputs["x_acs_signature_nonce"], unix_time):
        call()
        canonical, string_to_sign = pins.canonical_and_string_to_sign(name)
    got = CAPTURE.take_one()
    method, target, headers, body = got["method"], got["target"], got["headers"], got["body"]
    path, raw_query = split_target(target)
    secret = inputs["access_key_secret"]
    mine = acs3_independent(name, method, target, headers, body, secret)
    auth = header(headers, "Authorization")
    expect_equal(name, "canonical_request", canonical, mine["canonical_request"])
    expect_equal(name, "string_to_sign", string_to_sign, mine["string_to_sign"])
    expect_equal(name, "authorization", auth, mine["authorization"])
    expect_equal(name, "x-acs-date", header(headers, "x-acs-date"), inputs["x_acs_date"])
    expect_equal(name, "nonce", header(headers, "x-acs-signature-nonce"),
                 inputs["x_acs_signature_nonce"])
    host = header(headers, "host")
    return {
        "name": name,
        "scheme": ACS3,
        "description": description,
        "produced_by": produced_by,
        "inputs": inputs,
        "request": {
            "method": method,
            "url": "http://%s%s" % (host, target),
            "path": path,
            "query": raw_query,
            "headers": headers,
            "body": body.decode("utf-8"),
        },
        "canonical_request": canonical,
        "string_to_sign": string_to_sign,
        "signed_headers": mine["signed_headers"],
        "signature": mine["signature"],
        "authorization": auth,
        "oracle_verify": acs3_oracle(name, method, target, headers, body),
    }


# ---------------------------------------------------------------------------
# FC 3.0 (alibabacloud-fc20230330)


def fc3_vectors():
    from alibabacloud_fc20230330 import models as m
    from alibabacloud_fc20230330.client import Client
    from alibabacloud_tea_openapi import utils_models
    from darabonba.runtime import RuntimeOptions

    CAPTURE.answer = (200, b"{}")
    pins = TeaPins()

    def client(sts=False, endpoint=ALI_ENDPOINT):
        key = ALI_STS if sts else ALI_KEY
        config = utils_models.Config(
            access_key_id=key[0], access_key_secret=key[1],
            security_token=key[2] if sts else None,
            region_id=ALI_REGION, endpoint=endpoint,
            # Capture only: the scheme is not signed, production uses https.
            protocol="http",
        )
        return Client(config)

    def base(action, sts=False, endpoint=ALI_ENDPOINT, **extra):
        key = ALI_STS if sts else ALI_KEY
        inputs = {
            "access_key_id": key[0],
            "access_key_secret": key[1],
            "security_token": key[2] if sts else None,
            "account_id": ALI_ACCOUNT,
            "region": ALI_REGION,
            "endpoint": endpoint,
            "api_version": "2023-03-30",
            "action": action,
        }
        inputs.update(extra)
        return inputs

    rt = RuntimeOptions
    fn = "demo_function"
    out = []

    def add(name, description, produced_by, inputs, call, unix_time=1700000000):
        out.append(tea_vector(pins, name, description, produced_by, inputs, call, unix_time))

    add("fc3_get_function_code",
        "GetFunctionCode without qualifier. No query, empty body; every header present at "
        "signing time is signed (the SDK's user-agent included).",
        "Client.get_function_code_with_options(function_name, GetFunctionCodeRequest(), {}, "
        "RuntimeOptions())",
        base("GetFunctionCode", function_name=fn, query_params={}),
        lambda: client().get_function_code_with_options(fn, m.GetFunctionCodeRequest(), {}, rt()))
    add("fc3_get_function_code_qualifier",
        "GetFunctionCode with ?qualifier=prod (an alias). In 3.0 the qualifier is a query "
        "parameter and ACS3 signs it (canonical query 'qualifier=prod').",
        "Client.get_function_code_with_options(function_name, "
        "GetFunctionCodeRequest(qualifier='prod'), {}, RuntimeOptions())",
        base("GetFunctionCode", function_name=fn, query_params={"qualifier": "prod"}),
        lambda: client().get_function_code_with_options(
            fn, m.GetFunctionCodeRequest(qualifier="prod"), {}, rt()))
    add("fc3_get_function_code_sts",
        "GetFunctionCode with STS credentials and qualifier LATEST: the SDK adds "
        "x-acs-accesskey-id and x-acs-security-token and signs both; "
        "x-acs-credentials-provider becomes static_sts.",
        "Client(Config(security_token=...)).get_function_code_with_options(function_name, "
        "GetFunctionCodeRequest(qualifier='LATEST'), {}, RuntimeOptions())",
        base("GetFunctionCode", sts=True, function_name=fn, query_params={"qualifier": "LATEST"}),
        lambda: client(sts=True).get_function_code_with_options(
            fn, m.GetFunctionCodeRequest(qualifier="LATEST"), {}, rt()),
        unix_time=1704164645)
    v2_name = "demo-service$demo_function"
    add("fc3_get_function_code_v2_function_name",
        "GetFunctionCode for an FC 2.0 function seen through the 3.0 API, named "
        "'service$function'. The SDK percent-encodes each path parameter ('$' -> %24); the "
        "canonical URI is the encoded path exactly as sent on the request line.",
        "Client.get_function_code_with_options('demo-service$demo_function', "
        "GetFunctionCodeRequest(), {}, RuntimeOptions())",
        base("GetFunctionCode", function_name=v2_name, query_params={}),
        lambda: client().get_function_code_with_options(
            v2_name, m.GetFunctionCodeRequest(), {}, rt()))
    add("fc3_get_function_version_qualifier",
        "GetFunction (configuration) with ?qualifier=3, a published version number.",
        "Client.get_function_with_options(function_name, GetFunctionRequest(qualifier='3'), {}, "
        "RuntimeOptions())",
        base("GetFunction", function_name=fn, query_params={"qualifier": "3"}),
        lambda: client().get_function_with_options(
            fn, m.GetFunctionRequest(qualifier="3"), {}, rt()))
    add("fc3_list_functions_paged",
        "ListFunctions with limit, nextToken, prefix and fcVersion. The URL carries the query "
        "form-encoded in the SDK's insertion order; the canonical query is sorted by key and "
        "each value is RFC 3986-encoded ('+' -> %2B, '/' -> %2F, '=' -> %3D).",
        "Client.list_functions_with_options(ListFunctionsRequest(limit=100, "
        "next_token='eyJrIjoiYSJ9+/=', prefix='demo', fc_version='v3'), {}, RuntimeOptions())",
        base("ListFunctions", query_params={"fcVersion": "v3", "limit": "100",
                                            "nextToken": "eyJrIjoiYSJ9+/=", "prefix": "demo"}),
        lambda: client().list_functions_with_options(
            m.ListFunctionsRequest(limit=100, next_token="eyJrIjoiYSJ9+/=", prefix="demo",
                                   fc_version="v3"), {}, rt()))
    token = "a b*c~d+e/f=\u00e9"
    add("fc3_list_functions_query_encoding",
        "ListFunctions whose query needs care: a nextToken with space, '*', '~', '+', '/', '=' "
        "and a non-ASCII character, and the tags filter, which the SDK serialises as a JSON "
        "string using the model's capitalised keys ([{\"Key\":\"env\",\"Value\":\"prod\"}]). "
        "On the wire a space is '+' (form encoding) while the canonical query has %20; '*' is "
        "%2A in both; '~' stays.",
        "Client.list_functions_with_options(ListFunctionsRequest(limit=10, "
        "next_token='a b*c~d+e/f=\\u00e9', tags=[Tag(key='env', value='prod')]), {}, "
        "RuntimeOptions())",
        base("ListFunctions", query_params={"limit": "10", "nextToken": token,
                                            "tags": "[{\"Key\":\"env\",\"Value\":\"prod\"}]"}),
        lambda: client().list_functions_with_options(
            m.ListFunctionsRequest(limit=10, next_token=token,
                                   tags=[m.Tag(key="env", value="prod")]), {}, rt()))
    add("fc3_list_functions_default_endpoint",
        "ListFunctions with no endpoint configured: the SDK picks its regional default "
        "fcv3.<region>.aliyuncs.com, and that host is what gets signed. fcVersion=v2 lists only "
        "2.0 functions.",
        "Client(Config(region_id='cn-hangzhou', endpoint=None)).list_functions_with_options("
        "ListFunctionsRequest(limit=20, fc_version='v2'), {}, RuntimeOptions())",
        base("ListFunctions", endpoint=None, query_params={"fcVersion": "v2", "limit": "20"}),
        lambda: client(endpoint=None).list_functions_with_options(
            m.ListFunctionsRequest(limit=20, fc_version="v2"), {}, rt()))
    add("fc3_list_triggers",
        "ListTriggers for a function with limit/nextToken/prefix.",
        "Client.list_triggers_with_options(function_name, ListTriggersRequest(limit=50, "
        "next_token='trigger-b', prefix='t'), {}, RuntimeOptions())",
        base("ListTriggers", function_name=fn,
             query_params={"limit": "50", "nextToken": "trigger-b", "prefix": "t"}),
        lambda: client().list_triggers_with_options(
            fn, m.ListTriggersRequest(limit=50, next_token="trigger-b", prefix="t"), {}, rt()))
    add("fc3_list_function_versions",
        "ListFunctionVersions with direction/limit/nextToken.",
        "Client.list_function_versions_with_options(function_name, "
        "ListFunctionVersionsRequest(direction='BACKWARD', limit=100, next_token='7'), {}, "
        "RuntimeOptions())",
        base("ListFunctionVersions", function_name=fn,
             query_params={"direction": "BACKWARD", "limit": "100", "nextToken": "7"}),
        lambda: client().list_function_versions_with_options(
            fn, m.ListFunctionVersionsRequest(direction="BACKWARD", limit=100, next_token="7"),
            {}, rt()))
    add("fc3_list_aliases",
        "ListAliases with limit/nextToken/prefix.",
        "Client.list_aliases_with_options(function_name, ListAliasesRequest(limit=100, "
        "next_token='prod', prefix='p'), {}, RuntimeOptions())",
        base("ListAliases", function_name=fn,
             query_params={"limit": "100", "nextToken": "prod", "prefix": "p"}),
        lambda: client().list_aliases_with_options(
            fn, m.ListAliasesRequest(limit=100, next_token="prod", prefix="p"), {}, rt()))
    add("fc3_get_alias",
        "GetAlias: two path parameters, no query.",
        "Client.get_alias_with_options(function_name, 'prod', {}, RuntimeOptions())",
        base("GetAlias", function_name=fn, alias_name="prod", query_params={}),
        lambda: client().get_alias_with_options(fn, "prod", {}, rt()))
    add("fc3_list_layers",
        "ListLayers with limit/nextToken/prefix/official/public (official and public are "
        "strings in 3.0).",
        "Client.list_layers_with_options(ListLayersRequest(limit=100, next_token='layer-b', "
        "prefix='my', official='false', public='false'), {}, RuntimeOptions())",
        base("ListLayers", query_params={"limit": "100", "nextToken": "layer-b",
                                         "official": "false", "prefix": "my",
                                         "public": "false"}),
        lambda: client().list_layers_with_options(
            m.ListLayersRequest(limit=100, next_token="layer-b", prefix="my", official="false",
                                public="false"), {}, rt()))
    add("fc3_list_layer_versions",
        "ListLayerVersions pages with startVersion (not nextToken).",
        "Client.list_layer_versions_with_options('my-layer', ListLayerVersionsRequest(limit=20, "
        "start_version='3'), {}, RuntimeOptions())",
        base("ListLayerVersions", layer_name="my-layer",
             query_params={"limit": "20", "startVersion": "3"}),
        lambda: client().list_layer_versions_with_options(
            "my-layer", m.ListLayerVersionsRequest(limit=20, start_version="3"), {}, rt()))
    add("fc3_get_layer_version",
        "GetLayerVersion: /layers/{layerName}/versions/{version}; the version is a path "
        "segment.",
        "Client.get_layer_version_with_options('my-layer', '2', {}, RuntimeOptions())",
        base("GetLayerVersion", layer_name="my-layer", version="2", query_params={}),
        lambda: client().get_layer_version_with_options("my-layer", "2", {}, rt()))
    arn = "acs:fc:%s:%s:layers/my-layer/versions/2" % (ALI_REGION, ALI_ACCOUNT)
    add("fc3_get_layer_version_by_arn",
        "GetLayerVersionByArn: the whole ARN is ONE path segment, so ':' -> %3A and '/' -> "
        "%2F; the canonical URI keeps those escapes.",
        "Client.get_layer_version_by_arn_with_options('%s', {}, RuntimeOptions())" % arn,
        base("GetLayerVersionByArn", arn=arn, query_params={}),
        lambda: client().get_layer_version_by_arn_with_options(arn, {}, rt()))

    # query_params are written in the order the SDK puts them on the wire, for readability.
    return {
        "about": "Alibaba Cloud Function Compute 3.0 (OpenAPI 2023-03-30) ACS3-HMAC-SHA256 "
                 "request-signing vectors. Each was produced by RUNNING the official FC 3.0 "
                 "Python client (alibabacloud_fc20230330) against a local capture server: name "
                 "resolution redirected to 127.0.0.1, real Host header kept, x-acs-date and "
                 "x-acs-signature-nonce frozen by replacing "
                 "alibabacloud_tea_openapi.utils.Utils.get_timestamp / get_nonce. "
                 "'request.headers' is exactly what went over the wire, in order and case. "
                 "'canonical_request' is the string the SDK hashed and 'string_to_sign' the "
                 "string it fed to HMAC. The capture used http://; production uses https:// and "
                 "neither the scheme nor the port is signed. The user-agent is "
                 "environment-dependent and is signed: reproduce a vector by signing exactly the "
                 "headers in request.headers except Authorization and the ones the HTTP stack "
                 "added after signing (Accept-Encoding, Connection).",
        "generated_by": "tests/vectors/generate.sh (generate.py), which drives the official FC "
                        "3.0 SDK's own signing with a fixed date and nonce",
        "sdk_versions": versions("alibabacloud-fc20230330", "alibabacloud-tea-openapi",
                                 "darabonba-core", "alibabacloud-credentials",
                                 "alibabacloud-tea"),
        "python": platform.python_version(),
        "how_date_and_nonce_were_fixed": "Utils.get_timestamp replaced by a function returning "
                                         "the UTC ISO-8601 form of inputs.unix_time; "
                                         "Utils.get_nonce replaced by a function returning "
                                         "md5(vector name) in hex (the SDK's own nonce is also "
                                         "32 hex digits).",
        "cross_checked_with": [
            "an independent from-scratch ACS3 computation in generate.py (hashlib/hmac over the "
            "captured wire request) reproduced canonical_request, string_to_sign, "
            "signed_headers and signature of every vector",
            "a verifier built on the SDK's signer (Utils.get_authorization over the captured "
            "request) accepted every captured wire request; its answer is in each vector's "
            "oracle_verify. It shares the SDK's signer, so check 1 is the independent one",
        ],
        "secrets": dict(ALI_SECRETS),
        "signature_vectors": out,
    }


# ---------------------------------------------------------------------------
# FC 2.0: the classic FC scheme (aliyun-fc2), ACS3 (alibabacloud-fc-open20210406), CRC-64


class Fc2Pins:
    """Pins the Date fc2 and the gateway helper sign, and records what their HMAC is given."""

    def __init__(self):
        import alibabacloud_gateway_fc_util.client as gateway
        import fc2.auth

        self.now = None
        self.hmac_inputs = []
        self.canonical_headers = []
        pins = self
        real_formatdate = email.utils.formatdate
        real_canonical = fc2.auth.Auth._build_canonical_headers

        def formatdate(timeval=None, localtime=False, usegmt=False):
            if timeval is None and pins.now is not None:
                timeval = pins.now
            return real_formatdate(timeval, localtime, usegmt)

        class HmacObserver:
            def __getattr__(self, name):
                return getattr(hmac, name)

            @staticmethod
            def new(key, msg=None, digestmod=None):
                pins.hmac_inputs.append(msg.decode("utf-8"))
                return hmac.new(key, msg, digestmod)

        def canonical_observed(headers):
            text = real_canonical(headers)
            pins.canonical_headers.append(text)
            return text

        # fc2 and the gateway helper both call email.utils.formatdate(usegmt=True) for Date.
        email.utils.formatdate = formatdate
        fc2.auth.hmac = HmacObserver()
        gateway.hmac = HmacObserver()
        fc2.auth.Auth._build_canonical_headers = staticmethod(canonical_observed)

    @contextlib.contextmanager
    def vector(self, unix_time):
        self.now = unix_time
        self.hmac_inputs, self.canonical_headers = [], []
        try:
            yield
        finally:
            self.now = None

    def string_to_sign(self, vector):
        if len(self.hmac_inputs) != 1:
            raise Failure("%s: fc2 signed %d times" % (vector, len(self.hmac_inputs)))
        return self.hmac_inputs[0]


def fc_independent(vector, method, target, headers, secret):
    """The FC scheme from scratch over the captured request: method, Content-MD5, Content-Type,
    Date, the x-fc-* headers lower-cased and sorted, then the percent-decoded path (fc2 signs no
    query of a management call)."""
    from urllib.parse import unquote

    path, _ = split_target(target)
    fc_headers = sorted((k.lower(), v) for k, v in headers if k.lower().startswith("x-fc-"))
    canonical_headers = "".join("%s:%s\n" % kv for kv in fc_headers)
    resource = unquote(path)
    string_to_sign = "\n".join([method, header(headers, "content-md5") or "",
                                header(headers, "content-type") or "",
                                header(headers, "date") or "", canonical_headers + resource])
    digest = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).digest()
    return {
        "string_to_sign": string_to_sign,
        "canonical_headers": canonical_headers,
        "canonical_resource": resource,
        "signature": base64.b64encode(digest).decode(),
    }


def fc2_vector(pins, name, description, produced_by, inputs, call, unix_time=1700000000):
    inputs = dict(inputs)
    inputs["date"] = http_date(unix_time)
    inputs["unix_time"] = unix_time
    with pins.vector(unix_time):
        call()
        string_to_sign = pins.string_to_sign(name)
    got = CAPTURE.take_one()
    method, target, headers, body = got["method"], got["target"], got["headers"], got["body"]
    path, raw_query = split_target(target)
    mine = fc_independent(name, method, target, headers, inputs["access_key_secret"])
    auth = header(headers, "authorization")
    expect_equal(name, "string_to_sign", string_to_sign, mine["string_to_sign"])
    expect_equal(name, "canonical_headers", pins.canonical_headers[-1], mine["canonical_headers"])
    expect_equal(name, "authorization", auth,
                 "FC %s:%s" % (inputs["access_key_id"], mine["signature"]))
    expect_equal(name, "date", header(headers, "date"), inputs["date"])
    return {
        "name": name,
        "scheme": "FC",
        "description": description,
        "produced_by": produced_by,
        "inputs": inputs,
        "request": {
            "method": method,
            "url": "http://%s%s" % (header(headers, "host"), target),
            "path": path,
            "query": raw_query,
            "headers": headers,
            "body": body.decode("utf-8"),
        },
        "string_to_sign": string_to_sign,
        "canonical_headers": mine["canonical_headers"],
        "canonical_resource": mine["canonical_resource"],
        "signature": mine["signature"],
        "authorization": auth,
        "response_status": 200,
    }


def crc64_section():
    """CRC-64 as OSS and FC compute it (crcmod, as oss2.utils.Crc64 spells it), each value also
    computed by a bitwise textbook CRC-64/XZ here."""
    crc = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)

    def textbook(data):
        reg = 0xFFFFFFFFFFFFFFFF
        for byte in data:
            reg ^= byte
            for _ in range(8):
                reg = (reg >> 1) ^ (0xC96C5795D7870F42 if reg & 1 else 0)
        return reg ^ 0xFFFFFFFFFFFFFFFF

    def case(data, inp):
        value = crc(data)
        if value != textbook(data):
            raise Failure("crc64 %s: crcmod %x, textbook %x" % (inp["description"], value,
                                                                textbook(data)))
        return {"input": inp, "crc64_decimal": str(value), "crc64_hex": "%016x" % value}

    check = crc(b"123456789")
    cases = [
        case(b"", {"kind": "ascii", "text": "", "description": "empty"}),
        case(b"123456789", {"kind": "ascii", "text": "123456789",
                            "description": "ascii 123456789 (check value)"}),
        case(b"hello world!", {"kind": "ascii", "text": "hello world!",
                               "description": "ascii 'hello world!' (crc64fast doc example)"}),
        case(bytes(1 << 20), {"kind": "zeros", "length": 1 << 20,
                              "description": "1 MiB of 0x00"}),
        case(bytes(i % 251 for i in range(1000)),
             {"kind": "i_mod_251", "length": 1000, "description": "1000 bytes, byte i = i % 251"}),
    ]
    inverted = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0xFFFFFFFFFFFFFFFF, rev=True,
                               xorOut=0xFFFFFFFFFFFFFFFF)
    ecma = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, rev=False, xorOut=0)
    return {
        "algorithm": "CRC-64/XZ a.k.a. CRC-64/GO-ECMA (OSS/FC 'crc64ecma'): poly "
                     "0x42F0E1EBA9EA3693 (ECMA-182), reflected in and out, init "
                     "0xFFFFFFFFFFFFFFFF, xorout 0xFFFFFFFFFFFFFFFF. crcmod spelling "
                     "(oss2.utils.Crc64): mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, rev=True, "
                     "xorOut=0xFFFFFFFFFFFFFFFF). FC returns it as an unsigned 64-bit decimal "
                     "string.",
        "check_value_123456789": {"hex": "%016x" % check, "decimal": str(check)},
        "cross_checked_with": "a textbook bitwise CRC-64/XZ (init/xorout all ones, reflected "
                              "poly 0xC96C5795D7870F42) in generate.py on every vector input",
        "vectors": cases,
        "wrong_variants_for_123456789": {
            "crcmod initCrc=0xFFFFFFFFFFFFFFFF (register inverted twice)":
                "%016x" % inverted(b"123456789"),
            "CRC-64/ECMA-182 (not reflected, init 0, xorout 0)": "%016x" % ecma(b"123456789"),
            "crcmod.predefined 'crc-64' (ISO polynomial 0x1B)":
                "%016x" % crcmod.predefined.mkCrcFun("crc-64")(b"123456789"),
            "crcmod.predefined 'crc-64-we'":
                "%016x" % crcmod.predefined.mkCrcFun("crc-64-we")(b"123456789"),
        },
    }


def fc_vectors():
    import alibabacloud_credentials.client as cred_client
    import alibabacloud_credentials.models as cred_models
    import fc2
    from alibabacloud_fc_open20210406 import models as m
    from alibabacloud_fc_open20210406.client import Client as TeaClient
    from alibabacloud_gateway_fc_util.client import Client as GatewayClient
    from alibabacloud_tea_openapi import models as open_api_models
    from alibabacloud_tea_util import models as util_models
    from requests import Request

    CAPTURE.answer = (200, b"{}")
    fc2_pins = Fc2Pins()
    tea_pins = TeaPins()
    out = []

    def fc2_client(sts=False, api_version="2021-04-06"):
        key = ALI_STS if sts else ALI_KEY
        kwargs = {"endpoint": "http://" + ALI_ENDPOINT, "accessKeyID": key[0],
                  "accessKeySecret": key[1]}
        if sts:
            kwargs["securityToken"] = key[2]
        c = fc2.Client(**kwargs)
        c.api_version = api_version
        return c

    def base(sts=False, api_version="2021-04-06", **extra):
        key = ALI_STS if sts else ALI_KEY
        inputs = {
            "access_key_id": key[0],
            "access_key_secret": key[1],
            "security_token": key[2] if sts else None,
            "account_id": ALI_ACCOUNT,
            "region": ALI_REGION,
            "api_version": api_version,
        }
        inputs.update(extra)
        return inputs

    def fc(name, description, produced_by, inputs, call, unix_time=1700000000):
        out.append(fc2_vector(fc2_pins, name, description, produced_by, inputs, call, unix_time))

    svc, fn = "demo-service", "demo_function"
    fc("get_function_code", "GetFunctionCode without qualifier.",
       "fc2.Client.get_function_code(serviceName, functionName); Client.api_version set to "
       "'2021-04-06'",
       base(service_name=svc, function_name=fn, qualifier=None),
       lambda: fc2_client().get_function_code(svc, fn))

    def code_with_query():
        c = fc2_client()
        path = "/%s/services/%s/functions/%s/code" % (c.api_version, svc, fn)
        headers = c._build_common_headers("GET", path)
        c._do_request("GET", path, headers, params={"qualifier": "prod"})

    fc("get_function_code_qualifier_query",
       "GetFunctionCode with ?qualifier=prod, the 2021-04-06 form. The query is NOT part of the "
       "canonical resource (same as every fc2 management call that takes query parameters).",
       "fc2.Client._build_common_headers(method, path) + fc2.Client._do_request(..., "
       "params={'qualifier': 'prod'}), the code path list_functions uses; fc2 has no public "
       "?qualifier= call",
       base(service_name=svc, function_name=fn, qualifier="prod",
            query_params={"qualifier": "prod"}),
       code_with_query)
    fc("get_function_code_qualifier_in_path_2016",
       "What fc2 does natively with a qualifier: '<service>.<qualifier>' as the service path "
       "segment, under its default 2016-08-15 prefix. Informational; new code should use "
       "?qualifier= on 2021-04-06.",
       "fc2.Client.get_function_code(serviceName, functionName, qualifier='prod') with the "
       "default api_version '2016-08-15'",
       base(api_version="2016-08-15", service_name=svc, function_name=fn, qualifier="prod"),
       lambda: fc2_client(api_version="2016-08-15").get_function_code(svc, fn, qualifier="prod"))
    fc("get_function_code_sts",
       "GetFunctionCode with STS credentials: x-fc-security-token is sent and signed. Date has "
       "a single-digit day (zero padded).",
       "fc2.Client(securityToken=...).get_function_code(serviceName, functionName)",
       base(sts=True, service_name=svc, function_name=fn, qualifier=None),
       lambda: fc2_client(sts=True).get_function_code(svc, fn),
       unix_time=1704164645)
    extra = {"X-Fc-Trace-Id": "trace-0001", "X-Fc-Account-Id": ALI_ACCOUNT}
    fc("get_function_code_x_fc_headers_sts",
       "Several x-fc-* headers (given in mixed case) are lower-cased and sorted by name in the "
       "canonical headers: x-fc-account-id, x-fc-security-token, x-fc-trace-id.",
       "fc2.Client(securityToken=...).get_function_code(..., headers={'X-Fc-Trace-Id': ..., "
       "'X-Fc-Account-Id': ...})",
       base(sts=True, service_name=svc, function_name=fn, qualifier=None, extra_headers=extra),
       lambda: fc2_client(sts=True).get_function_code(svc, fn, headers=dict(extra)))
    fc("get_function_code_invalid_names",
       "INVALID names (FC allows only [A-Za-z0-9_-]): fc2 signs the raw, unescaped path "
       "('/2021-04-06/services/my svc/functions/a/b/code') while requests sends 'my%20svc' and "
       "leaves '/' unescaped, so the function name becomes two path segments. A client must "
       "reject such names before building a request.",
       "fc2.Client.get_function_code('my svc', 'a/b')",
       base(service_name="my svc", function_name="a/b", qualifier=None),
       lambda: fc2_client().get_function_code("my svc", "a/b"))
    fc("get_function", "GetFunction (metadata incl. codeChecksum, codeSize).",
       "fc2.Client.get_function(serviceName, functionName); Client.api_version set to "
       "'2021-04-06'",
       base(service_name=svc, function_name=fn, qualifier=None),
       lambda: fc2_client().get_function(svc, fn))
    fc("list_functions_paged",
       "ListFunctions with limit/prefix/nextToken/startKey. Query parameters are sent "
       "form-encoded (requests: '+' -> %2B, '/' -> %2F, '=' -> %3D, space -> '+') and are NOT "
       "signed.",
       "fc2.Client.list_functions(serviceName, limit=100, prefix='demo', "
       "nextToken='eyJrIjoiYSJ9+/=', startKey='demo_a')",
       base(service_name=svc, query_params={"limit": "100", "prefix": "demo",
                                            "nextToken": "eyJrIjoiYSJ9+/=",
                                            "startKey": "demo_a"}),
       lambda: fc2_client().list_functions(svc, limit=100, prefix="demo",
                                           nextToken="eyJrIjoiYSJ9+/=", startKey="demo_a"))
    fc("list_services_paged", "ListServices with limit and nextToken (query not signed).",
       "fc2.Client.list_services(limit=100, nextToken='next-token-1')",
       base(query_params={"limit": "100", "nextToken": "next-token-1"}),
       lambda: fc2_client().list_services(limit=100, nextToken="next-token-1"))

    # The Tea client (ACS3). These vectors share one fixed nonce.
    def tea_client(sts=False):
        key = ALI_STS if sts else ALI_KEY
        return TeaClient(open_api_models.Config(
            access_key_id=key[0], access_key_secret=key[1],
            security_token=key[2] if sts else None, region_id=ALI_REGION,
            endpoint=ALI_ENDPOINT, protocol="http"))

    def tea(name, description, produced_by, inputs, call):
        vector = tea_vector(tea_pins, name, description, produced_by, inputs, call,
                            nonce="0123456789abcdef0123456789abcdef")
        vector.pop("signed_headers")
        vector.pop("oracle_verify")
        vector["response_status"] = 200
        out.append(vector)

    rt = util_models.RuntimeOptions
    tea("tea_get_function_code_qualifier",
        "Tea client GetFunctionCode(?qualifier=prod, X-Fc-Account-Id header). Default signer is "
        "ACS3-HMAC-SHA256: every header present at signing time is signed, including the "
        "environment-dependent user-agent; x-acs-date/nonce were frozen for this vector.",
        "alibabacloud_fc_open20210406.client.Client.get_function_code_with_options",
        base(service_name=svc, function_name=fn, qualifier="prod"),
        lambda: tea_client().get_function_code_with_options(
            svc, fn, m.GetFunctionCodeRequest(qualifier="prod"),
            m.GetFunctionCodeHeaders(x_fc_account_id=ALI_ACCOUNT), rt()))
    tea("tea_list_functions_paged",
        "Tea client ListFunctions; ACS3 signs the query (RFC 3986 encoded, sorted) while the URL "
        "carries it form-encoded.",
        "alibabacloud_fc_open20210406.client.Client.list_functions_with_options",
        base(service_name=svc, query_params={"limit": "100", "nextToken": "eyJrIjoiYSJ9+/=",
                                             "prefix": "demo"}),
        lambda: tea_client().list_functions_with_options(
            svc, m.ListFunctionsRequest(limit=100, next_token="eyJrIjoiYSJ9+/=", prefix="demo"),
            m.ListFunctionsHeaders(), rt()))
    tea("tea_get_function_code_sts",
        "Tea client with STS: x-acs-accesskey-id and x-acs-security-token are added and signed.",
        "alibabacloud_fc_open20210406.client.Client(Config(security_token=...))."
        "get_function_code_with_options",
        base(sts=True, service_name=svc, function_name=fn, qualifier=None),
        lambda: tea_client(sts=True).get_function_code_with_options(
            svc, fn, m.GetFunctionCodeRequest(), m.GetFunctionCodeHeaders(), rt()))
    tea("tea_get_function_code_invalid_names",
        "INVALID names through the Tea client: each path parameter is percent-encoded with only "
        "'~' left alone, so ' ' -> %20 and '/' -> %2F; the ACS3 canonical URI is that encoded "
        "path.",
        "alibabacloud_fc_open20210406.client.Client.get_function_code_with_options('my svc', "
        "'a/b', ...)",
        base(service_name="my svc", function_name="a/b", qualifier=None),
        lambda: tea_client().get_function_code_with_options(
            "my svc", "a/b", m.GetFunctionCodeRequest(), m.GetFunctionCodeHeaders(), rt()))

    # The gateway helper's FC signature, which is not the management API's (kept to show why).
    gateway = GatewayClient(cred_client.Client(cred_models.Config(
        type="access_key", access_key_id=ALI_KEY[0], access_key_secret=ALI_KEY[1])))
    informational = []
    for name, url in (
        ("gateway_fc_util_management_path",
         "http://%s/2021-04-06/services/%s/functions/%s/code" % (ALI_ENDPOINT, svc, fn)),
        ("gateway_fc_util_trigger_query",
         "http://%s/2023-03-30/functions/%s/invocations?b=2&a=1" % (ALI_ENDPOINT, fn)),
    ):
        with fc2_pins.vector(1700000000):
            req = gateway.sign_request(Request(url=url, method="GET", headers={}))
            string_to_sign = fc2_pins.string_to_sign(name)
        informational.append({
            "name": name,
            "scheme": "FC",
            "description": "alibabacloud_gateway_fc_util.client.Client.sign_request (used by the "
                           "Tea client only for HTTP-trigger helpers). Its canonical resource is "
                           "always '<decoded path>\\n' followed by the raw query split on '&' "
                           "(unsorted), so for a management API it does NOT match what fc2 "
                           "signs. Not sent anywhere; do not use for GetFunctionCode/List*.",
            "url": url,
            "headers": {k: v for k, v in req.headers.items()},
            "string_to_sign": string_to_sign,
            "authorization": req.headers["authorization"],
        })

    return {
        "about": "Alibaba Cloud Function Compute 2.0 (OpenAPI 2021-04-06) signing and CRC-64 "
                 "vectors. Every signature below was produced by RUNNING the official SDK client "
                 "against a local capture server (name resolution redirected to 127.0.0.1, real "
                 "Host header kept), with the Date (fc2) or x-acs-date/nonce (Tea) frozen. "
                 "'request.headers' is exactly what went over the wire, in order and case. "
                 "Scheme 'FC' is what a new client should implement; 'ACS3-HMAC-SHA256' vectors "
                 "show what the Tea SDK sends by default. The capture used http://; real clients "
                 "use https:// and nothing in either signature depends on the scheme or port.",
        "generated_by": "tests/vectors/generate.sh (generate.py): the official SDKs run against "
                        "a local capture server",
        "sdk_versions": versions("aliyun-fc2", "alibabacloud-fc-open20210406",
                                 "alibabacloud-tea-openapi", "alibabacloud-gateway-fc-util",
                                 "crcmod"),
        "secrets": dict(ALI_SECRETS),
        "signature_vectors": out,
        "informational_not_for_management_api": informational,
        "crc64": crc64_section(),
    }


# ---------------------------------------------------------------------------
# Tencent Cloud TC3-HMAC-SHA256 (tencentcloud-sdk-python)


class Tc3Pins:
    """Pins the SDK's clock and trace id; records what it hashes, its HMAC chain, and the headers
    it hands to its HTTP layer. Optionally swaps its json.dumps (one vector shows a serde-style
    body)."""

    def __init__(self):
        import tencentcloud.common.abstract_client as ac
        import tencentcloud.common.sign as sign_mod
        from tencentcloud.common.http.request import ApiRequest

        self.now = None
        self.trace = None
        self.dumps = None
        self.hashed = []
        self.hmacs = []
        self.sdk_headers = None
        pins = self

        class TimeShim:
            def __getattr__(self, name):
                return getattr(__import__("time"), name)

            @staticmethod
            def time():
                return float(pins.now)

        class UuidShim:
            def __getattr__(self, name):
                return getattr(__import__("uuid"), name)

            @staticmethod
            def uuid4():
                import uuid
                return uuid.UUID(pins.trace)

        class HashShim:
            def __getattr__(self, name):
                return getattr(hashlib, name)

            @staticmethod
            def sha256(data=b""):
                pins.hashed.append(data)
                return hashlib.sha256(data)

        class HmacShim:
            def __getattr__(self, name):
                return getattr(hmac, name)

            @staticmethod
            def new(key, msg=None, digestmod=None):
                mac = hmac.new(key, msg, digestmod)
                pins.hmacs.append((msg.decode("utf-8"), mac.copy().hexdigest()))
                return mac

        class JsonShim:
            def __getattr__(self, name):
                return getattr(json, name)

            @staticmethod
            def dumps(obj, **kwargs):
                if pins.dumps is not None:
                    return pins.dumps(obj)
                return json.dumps(obj, **kwargs)

        real_send = ApiRequest.send_request

        def send_observed(self, req_inter):
            pins.sdk_headers = [[k, v] for k, v in req_inter.header.items()]
            return real_send(self, req_inter)

        ac.time = TimeShim()
        ac.uuid = UuidShim()
        ac.hashlib = HashShim()
        ac.json = JsonShim()
        sign_mod.hmac = HmacShim()
        ApiRequest.send_request = send_observed

    @contextlib.contextmanager
    def vector(self, unix_time, trace, dumps=None):
        self.now, self.trace, self.dumps = unix_time, trace, dumps
        self.hashed, self.hmacs, self.sdk_headers = [], [], None
        try:
            yield
        finally:
            self.dumps = None


def tc3_signing(vector, pins, secret_key, timestamp, service):
    """The SDK's recorded signing steps, checked against a from-scratch TC3 computation."""
    if len(pins.hashed) != 2 or len(pins.hmacs) != 4:
        raise Failure("%s: the SDK hashed %d and HMACed %d times"
                      % (vector, len(pins.hashed), len(pins.hmacs)))
    payload, canonical = pins.hashed
    canonical = canonical.decode("utf-8")
    (date, k_date), (svc, k_service), (tail, k_signing), (string_to_sign, signature) = pins.hmacs
    lines = canonical.split("\n")
    canonical_headers = "\n".join(lines[3:5]) + "\n"
    scope = "%s/%s/tc3_request" % (date, svc)
    # from scratch
    expect_equal(vector, "date", date,
                 dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%d"))
    expect_equal(vector, "service", svc, service)
    expect_equal(vector, "scope tail", tail, "tc3_request")
    expect_equal(vector, "string_to_sign", string_to_sign,
                 "TC3-HMAC-SHA256\n%d\n%s\n%s" % (timestamp, scope, sha256_hex(canonical.encode())))
    key = ("TC3" + secret_key).encode()
    for msg, got in ((date, k_date), (svc, k_service), ("tc3_request", k_signing)):
        mac = hmac.new(key, msg.encode(), hashlib.sha256)
        expect_equal(vector, "hmac chain step %s" % msg, got, mac.hexdigest())
        key = mac.digest()
    expect_equal(vector, "signature", signature,
                 hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest())
    return {
        "hashed_request_payload": sha256_hex(payload),
        "canonical_headers": canonical_headers,
        "signed_headers": lines[6],
        "canonical_request": canonical,
        "hashed_canonical_request": sha256_hex(canonical.encode()),
        "credential_scope": scope,
        "string_to_sign": string_to_sign,
        "hmac_chain": {
            "k_date_key": "UTF-8 bytes of 'TC3' followed by inputs.secret_key",
            "k_date_msg": date,
            "k_date_hex": k_date,
            "k_service_msg": svc,
            "k_service_hex": k_service,
            "k_signing_msg": "tc3_request",
            "k_signing_hex": k_signing,
        },
        "signature": signature,
    }


def tencent_vectors():
    import tencentcloud
    from tencentcloud.common import credential
    from tencentcloud.common.http.request import RequestInternal
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.scf.v20180416 import models
    from tencentcloud.scf.v20180416.scf_client import ScfClient

    pins = Tc3Pins()
    # SCF answers every call with HTTP 200 and a Response object; the SDK insists on one.
    CAPTURE.answer = (200, b'{"Response": {"RequestId": "capture-0001"}}')
    key = ("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", None)
    tmp = ("AKIDtmpFNVAULTexampleTemporaryKey0001", "tmpSecretKeyFNVAULTexample0000000001",
           "EXAMPLEsessionToken/with+base64=chars_0123456789abcdef")
    sdk_json = "sdk (Python json.dumps defaults: ', ' and ': ' separators, ensure_ascii)"
    out = []

    def compact_utf8(obj):
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)

    def add(name, description, action, request, region, timestamp, host=None, creds=key,
            language="zh-CN", dumps=None):
        trace = "00000000-0000-4000-8000-%012d" % (len(out) + 1)
        profile = ClientProfile(httpProfile=HttpProfile(
            # Capture only: the scheme is not signed, the SDK's default is https.
            protocol="http", endpoint=host))
        profile.language = language
        client = ScfClient(credential.Credential(*creds), region, profile)
        with pins.vector(timestamp, trace, dumps):
            getattr(client, action)(request)
            signing = tc3_signing(name, pins, creds[1], timestamp, "scf")
            sdk_headers = pins.sdk_headers
        got = CAPTURE.take_one()
        wire, body = got["headers"], got["body"]
        sent_host = header(wire, "Host")
        content_type = header(wire, "Content-Type")
        expect_equal(name, "payload", signing["hashed_request_payload"], sha256_hex(body))
        expect_equal(name, "canonical headers", signing["canonical_headers"],
                     "content-type:%s\nhost:%s\n" % (content_type, sent_host))
        expect_equal(name, "canonical request", signing["canonical_request"],
                     "POST\n/\n\n%s\ncontent-type;host\n%s"
                     % (signing["canonical_headers"], sha256_hex(body)))
        authorization = ("TC3-HMAC-SHA256 Credential=%s/%s, SignedHeaders=content-type;host, "
                         "Signature=%s" % (creds[0], signing["credential_scope"],
                                           signing["signature"]))
        expect_equal(name, "authorization", header(wire, "Authorization"), authorization)
        signing["authorization"] = authorization
        out.append({
            "name": name,
            "description": description,
            "produced_by": "ScfClient.%s sent over HTTP to a local recorder (%s)"
                           % (action, "SDK json.dumps" if dumps is None
                              else "SDK json.dumps replaced by compact UTF-8 dumps"),
            "inputs": {
                "secret_id": creds[0],
                "secret_key": creds[1],
                "session_token": creds[2],
                "region": region,
                "action": action,
                "version": "2018-04-16",
                "service": "scf",
                "host": sent_host,
                "timestamp": timestamp,
                "language": language,
                "params": json.loads(body),
                "body_serialization": sdk_json if dumps is None
                else "compact_utf8 (serde_json style)",
            },
            "request": {
                "method": got["method"],
                "path": got["target"],
                "query": "",
                "content_type": content_type,
                "body_utf8": body.decode("utf-8"),
                "body_hex": body.hex(),
                "body_sha256": sha256_hex(body),
                "sdk_headers": sdk_headers,
                "wire_request_line": got["request_line"],
                "wire_headers": wire,
            },
            "signing": signing,
        })

    def address(name, namespace=None, qualifier=None):
        req = models.GetFunctionAddressRequest()
        req.FunctionName = name
        req.Qualifier = qualifier
        req.Namespace = namespace
        return req

    add("get_function_address_basic",
        "GetFunctionAddress with all three parameters, default host, long-term key.",
        "GetFunctionAddress", address("backup-target", "default", "$LATEST"), "ap-guangzhou",
        1700000000)
    non_ascii = "\u5907\u4efd-\u51fd\u6570-\u00e9"
    add("get_function_address_non_ascii_sdk_escaped",
        "Non-ASCII function name. The SDK's json.dumps escapes it as \\uXXXX, so the body on the "
        "wire is pure ASCII. Timestamp is one second before a UTC midnight.",
        "GetFunctionAddress", address(non_ascii, "default"), "ap-shanghai", 1704067199)
    add("get_function_address_non_ascii_compact_utf8",
        "Same request shape serialized the way serde_json does it: compact separators and raw "
        "UTF-8. Produced by swapping the SDK's json.dumps only; signing and sending are the "
        "SDK's. Shows that the signature covers the exact bytes sent, whatever the serializer.",
        "GetFunctionAddress", address(non_ascii, "default"), "ap-shanghai", 1704067199,
        dumps=compact_utf8)
    add("get_function_address_session_token",
        "Temporary credentials: X-TC-Token is sent but is not part of the signature. Timestamp "
        "is exactly a UTC midnight.",
        "GetFunctionAddress", address("nightly-export", "prod"), "ap-beijing", 1704067200,
        creds=tmp)
    add("get_function_address_intl_host",
        "International site host; the scope service stays 'scf'.",
        "GetFunctionAddress", address("intl-func", qualifier="3"), "ap-singapore", 1718000000,
        host="scf.intl.tencentcloudapi.com")
    add("get_function_address_regional_host",
        "Regional host set explicitly through HttpProfile.endpoint; the SDK never derives it "
        "from the region by itself.",
        "GetFunctionAddress", address("backup-target"), "ap-guangzhou", 1700000000,
        host="scf.ap-guangzhou.tencentcloudapi.com")
    add("get_function_address_local_endpoint_with_port",
        "Endpoint override to a local fake server: the Host header, and the signed host value, "
        "is the endpoint string verbatim, port included.",
        "GetFunctionAddress", address("backup-target", "default"), "ap-guangzhou", 1700000000,
        host="127.0.0.1:18080")
    paging = models.ListFunctionsRequest()
    paging.Offset, paging.Limit, paging.Namespace = 40, 20, "default"
    add("list_functions_paging",
        "ListFunctions page: integers in the body, key order follows the SDK model.",
        "ListFunctions", paging, "ap-guangzhou", 1700000300)
    add("list_functions_empty_body",
        "ListFunctions with no parameters: the body is exactly '{}'.",
        "ListFunctions", models.ListFunctionsRequest(), "ap-chengdu", 1700000000)
    namespaces = models.ListNamespacesRequest()
    namespaces.Limit, namespaces.Offset = 100, 0
    add("list_namespaces_en_us",
        "ListNamespaces with ClientProfile(language='en-US'); X-TC-Language is not signed.",
        "ListNamespaces", namespaces, "ap-guangzhou", 1700000000, language="en-US")

    # Tencent's published Signature v3 example, computed by the SDK's own signing function.
    doc = {"secret_id": "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
           "secret_key": "Gu5t9xGARNpq86cd98joQYCN3*******",
           "host": "cvm.tencentcloudapi.com", "service": "cvm", "timestamp": 1551113065,
           "action": "DescribeInstances", "version": "2017-03-12", "region": "ap-guangzhou"}
    documented_signature = "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    body = json.dumps({"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"],
                                                "Name": "instance-name"}]})
    req = RequestInternal(doc["host"], "POST", "/", header={
        "Content-Type": "application/json; charset=utf-8", "Host": doc["host"],
        "X-TC-Timestamp": str(doc["timestamp"])}, data=body)
    client = ScfClient(credential.Credential(doc["secret_id"], doc["secret_key"]), doc["region"])
    with pins.vector(doc["timestamp"], "00000000-0000-4000-8000-000000000000"):
        date = dt.datetime.fromtimestamp(doc["timestamp"], dt.timezone.utc).strftime("%Y-%m-%d")
        client._get_tc3_signature({}, req, date, doc["service"], doc["secret_key"])
        signing = tc3_signing("documented_cvm_example", pins, doc["secret_key"],
                              doc["timestamp"], doc["service"])
    expect_equal("documented_cvm_example", "signature", documented_signature,
                 signing["signature"])
    signing["authorization"] = ("TC3-HMAC-SHA256 Credential=%s/%s, SignedHeaders=content-type;"
                                "host, Signature=%s" % (doc["secret_id"],
                                                        signing["credential_scope"],
                                                        signing["signature"]))
    signing["documented_signature"] = documented_signature
    body_bytes = body.encode()
    cross_checks = [{
        "name": "documented_cvm_example_cross_check",
        "description": "The example published in Tencent Cloud's 'Signature v3' document (CVM "
                       "DescribeInstances), recomputed by the SDK's "
                       "AbstractClient._get_tc3_signature and equal to the documented signature. "
                       "Note the content type with '; charset=utf-8' (the SDK itself sends plain "
                       "'application/json') and service 'cvm'.",
        "produced_by": "AbstractClient._get_tc3_signature called directly (no HTTP)",
        "inputs": doc,
        "request": {
            "method": "POST",
            "path": "/",
            "query": "",
            "content_type": "application/json; charset=utf-8",
            "body_utf8": body,
            "body_hex": body_bytes.hex(),
            "body_sha256": sha256_hex(body_bytes),
        },
        "signing": signing,
    }]

    return {
        "description": "TC3-HMAC-SHA256 vectors for Tencent Cloud SCF (API 2018-04-16), every "
                       "value produced by running the official Python SDK. Secrets are fake.",
        "how_produced": {
            "command": "tests/vectors/generate.sh (generate.py): the official SDK run against a "
                       "local recorder (see method)",
            "method": "For each vector a real ScfClient (tencentcloud.scf.v20180416.scf_client) "
                      "calls the action through a requests session to a raw HTTP recorder on "
                      "127.0.0.1. The SDK's module references were wrapped, without changing "
                      "behaviour, to observe: time.time (pinned to inputs.timestamp), "
                      "uuid.uuid4 (pins the unsigned X-TC-TraceId), hashlib.sha256 (the payload "
                      "and canonical request it hashes), hmac.new inside Sign.sign_tc3 (the key "
                      "chain and the signature) and ApiRequest.send_request (the headers the SDK "
                      "hands to requests). Name resolution was redirected to the recorder so the "
                      "Host header keeps the real name. HttpProfile.protocol was 'http' for "
                      "capture only; the SDK default is https and the scheme is not signed. "
                      "Every signing step was recomputed from scratch in generate.py.",
            "packages": {
                "tencentcloud-sdk-python-common": metadata.version(
                    "tencentcloud-sdk-python-common"),
                "tencentcloud-sdk-python-scf": metadata.version("tencentcloud-sdk-python-scf"),
                "tencentcloud.__version__ (feeds X-TC-RequestClient)": tencentcloud.__version__,
                "requests": metadata.version("requests"),
                "urllib3": metadata.version("urllib3"),
                "python": platform.python_version(),
            },
        },
        "notes": [
            "Only content-type and host are signed. Everything else in sdk_headers is sent but "
            "unsigned.",
            "Reproduce a vector from inputs + request.body_hex: never re-serialize params, the "
            "signature covers the exact body bytes.",
            "wire_headers also holds what the requests library adds (User-Agent, Accept, "
            "Accept-Encoding, Connection, Content-Length); those depend on library versions and "
            "are not part of TC3.",
            "X-TC-TraceId and X-TC-RequestClient are SDK-specific and unsigned; a client sends "
            "its own values.",
            "signing.hmac_chain shows each HMAC-SHA256 step: k_date = HMAC('TC3'+SecretKey, "
            "date), k_service = HMAC(k_date, service), k_signing = HMAC(k_service, "
            "'tc3_request'), signature = hex(HMAC(k_signing, string_to_sign)).",
        ],
        "vectors": out,
        "cross_checks": cross_checks,
    }


# ---------------------------------------------------------------------------


def write(path, data):
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    print("wrote %s (%d vectors)" % (path, count(data)))


def count(data):
    return sum(len(data.get(k, [])) for k in ("signature_vectors", "vectors"))


MAKERS = {
    "fc": ("aliyun-fc.json", fc_vectors),
    "fc3": ("aliyun-fc3.json", fc3_vectors),
    "tencent": ("tencent-tc3.json", tencent_vectors),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for the JSON files")
    parser.add_argument("--only", choices=sorted(MAKERS), action="append",
                        help="make only this file (repeatable)")
    args = parser.parse_args()
    start_capture()
    for key in args.only or sorted(MAKERS):
        filename, make = MAKERS[key]
        try:
            data = make()
        except Failure as e:
            print("generate.py: %s: %s" % (filename, e), file=sys.stderr)
            return 1
        write(os.path.join(args.out, filename), data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
