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
    def vector(self, name, unix_time):
        self.now = unix_time
        self.nonce = nonce_for(name)
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


def tea_vector(pins, name, description, produced_by, inputs, call, unix_time=1700000000):
    """Runs one Tea client call and turns the captured request into a vector."""
    inputs = dict(inputs)
    inputs["x_acs_date"] = iso_utc(unix_time)
    inputs["x_acs_signature_nonce"] = nonce_for(name)
    inputs["unix_time"] = unix_time
    with pins.vector(name, unix_time):
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
    "fc3": ("aliyun-fc3.json", fc3_vectors),
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
