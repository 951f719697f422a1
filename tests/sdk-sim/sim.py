#!/usr/bin/env python3
"""SDK-verified cloud simulator for fnvault.

Serves a fake Tencent Cloud SCF API (GetFunctionAddress), a fake Alibaba Cloud
FC 2.0 API (GetFunctionCode, 2021-04-06), a fake FC 3.0 API (GetFunctionCode and
ListFunctions, 2023-03-30) and fake COS/OSS download endpoints.
Every API request's signature is recomputed with the clouds' official Python
SDK code (tencentcloud-sdk-python-common, alibabacloud-tea-openapi,
aliyun-fc2), never with a signer of our own, so that a mistake shared by
fnvault's signer and fnvault's own Rust simulator cannot go unnoticed.

The state (credentials, functions, packages) comes from a JSON file that is
re-read on every request; see README.md for its format.
"""

import argparse
import base64
import datetime as _dt
import email.utils
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import crcmod

# --- official SDK code -----------------------------------------------------
import tencentcloud.common.abstract_client as tc_abstract_client
from tencentcloud.common.credential import Credential as TcCredential
from tencentcloud.common.http.request import RequestInternal as TcRequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile as TcClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile as TcHttpProfile
from tencentcloud.common.sign import Sign as TcSign
from tencentcloud.scf.v20180416.scf_client import ScfClient

import alibabacloud_tea_openapi.utils as tea_utils_mod
from alibabacloud_tea_openapi.utils import Utils as TeaUtils
from alibabacloud_openapi_util.client import Client as OpenApiUtilClient
from darabonba.request import DaraRequest

import fc2.auth as fc2_auth_mod
from fc2.auth import Auth as Fc2Auth

# FC 3.0: the official 2023-03-30 client signs through tea-openapi's generic client,
# whose do_request computes Authorization with Utils.get_authorization: the function
# verify_acs3 calls. Refuse to run if the pinned SDK no longer works that way, since the
# 3.0 checks below would then not be the 3.0 SDK's own code.
import inspect
import alibabacloud_fc20230330.client as fc3_client_mod
import alibabacloud_tea_openapi.client as tea_openapi_client_mod
if not issubclass(fc3_client_mod.Client, tea_openapi_client_mod.Client):  # pragma: no cover
    raise SystemExit("alibabacloud_fc20230330.Client is not a tea-openapi client any more")
if "get_authorization" not in inspect.getsource(tea_openapi_client_mod.Client.do_request):  # pragma: no cover
    raise SystemExit("tea-openapi's do_request no longer signs with Utils.get_authorization")

SCF_VERSION = "2018-04-16"
SCF_SKEW = 300            # seconds, X-TC-Timestamp
FC_SKEW = 15 * 60         # seconds, Date / x-acs-date
FC_API_VERSION = "2021-04-06"
FC3_API_VERSION = "2023-03-30"
ACS3 = "ACS3-HMAC-SHA256"
# The owner written into layer addresses when the credentials name no account.
ACCOUNT_FALLBACK = "0"

# OSS/FC CRC-64 (CRC-64/XZ) exactly as the OSS Python SDK spells it with crcmod.
crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, rev=True,
                        xorOut=0xFFFFFFFFFFFFFFFF)
CRC64_CHECK = 11051210869376104954
if crc64(b"123456789") != CRC64_CHECK:  # pragma: no cover - environment sanity
    raise SystemExit("crcmod CRC-64 parameters do not give the CRC-64/XZ check value")


# --- observing what the SDK computes (for diagnostics only) ----------------
# The wrappers below delegate unchanged to the SDK's own functions; they only
# remember the intermediate strings (canonical request, string to sign) so a
# rejected request can be explained.  They record nothing unless a recorder is
# active on the current thread.

_rec = threading.local()


def _record(key, value):
    log = getattr(_rec, "log", None)
    if log is not None:
        log.append((key, value))


class _Recording:
    def __enter__(self):
        _rec.log = []
        return _rec.log

    def __exit__(self, *exc):
        _rec.log = None
        return False


class _HashlibObserver:
    """Stands in for the `hashlib` module inside tencentcloud's abstract_client."""

    def __getattr__(self, name):
        return getattr(hashlib, name)

    def sha256(self, data=b""):
        _record("tc.sha256_input", data)
        return hashlib.sha256(data)


class _ObservedTcSign(TcSign):
    @staticmethod
    def sign_tc3(secret_key, date, service, str2sign):
        _record("tc.string_to_sign", str2sign)
        return TcSign.sign_tc3(secret_key, date, service, str2sign)


tc_abstract_client.hashlib = _HashlibObserver()
tc_abstract_client.Sign = _ObservedTcSign

_tea_hash_orig = TeaUtils.hash
_tea_signature_method_orig = tea_utils_mod.signature_method


def _tea_hash_observed(raw, sign_type):
    _record("acs3.hash_input", raw)
    return _tea_hash_orig(raw, sign_type)


def _tea_signature_method_observed(secret, source, sign_type):
    _record("acs3.string_to_sign", source)
    return _tea_signature_method_orig(secret, source, sign_type)


TeaUtils.hash = staticmethod(_tea_hash_observed)
tea_utils_mod.signature_method = _tea_signature_method_observed


class _LoggingObserver:
    """Stands in for `logging` inside fc2.auth, whose sign_request logs the
    string to sign at debug level."""

    def __getattr__(self, name):
        import logging
        return getattr(logging, name)

    def debug(self, msg, *args, **kwargs):
        if isinstance(msg, str) and msg.startswith("string to sign:"):
            _record("fc.string_to_sign", msg[len("string to sign:"):])
        import logging
        logging.debug(msg, *args, **kwargs)


fc2_auth_mod.logging = _LoggingObserver()

# One SDK client object whose signing method we drive.  It never sends anything.
_SCF_CLIENT = ScfClient(
    TcCredential("AKIDsimulatorplaceholder", "placeholder"),
    "ap-guangzhou",
    TcClientProfile(httpProfile=TcHttpProfile(endpoint="127.0.0.1", protocol="http")),
)
_VERIFY_LOCK = threading.Lock()


# --- small helpers ----------------------------------------------------------

class Verdict:
    def __init__(self, ok, scheme, code=None, message=None, status=200,
                 access_key_id=None, sts=False, diag=None):
        self.ok = ok
        self.scheme = scheme
        self.code = code
        self.message = message
        self.status = status
        self.access_key_id = access_key_id
        self.sts = sts
        self.diag = diag or {}

    def __repr__(self):
        return "Verdict(ok=%r, scheme=%r, code=%r, message=%r)" % (
            self.ok, self.scheme, self.code, self.message)


class Headers:
    """Received headers: case-insensitive, duplicates kept, values verbatim."""

    def __init__(self, pairs):
        self.pairs = [(k, v) for k, v in pairs]
        self.by_name = {}
        for k, v in self.pairs:
            self.by_name.setdefault(k.lower(), []).append(v)

    def get(self, name, default=None):
        vals = self.by_name.get(name.lower())
        return vals[0] if vals else default

    def all(self, name):
        return self.by_name.get(name.lower(), [])

    def count(self, name):
        return len(self.all(name))

    def names(self):
        return list(self.by_name.keys())

    def duplicated(self, names=None):
        out = []
        for k, vals in self.by_name.items():
            if len(vals) > 1 and (names is None or k in names):
                out.append(k)
        return out


def _mask(text, secrets_to_hide):
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for s in secrets_to_hide:
        if s:
            text = text.replace(s, "***")
    return text


def _sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


# --- Tencent Cloud TC3-HMAC-SHA256 ------------------------------------------

_TC3_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<sid>[^/ ,]+)/(?P<date>[^/]+)/(?P<service>[^/]+)/tc3_request, "
    r"SignedHeaders=(?P<signed>[^, ]+), Signature=(?P<sig>[0-9a-f]{64})$")


def verify_tc3(method, raw_target, headers, body, lookup_secret, now,
               service="scf", expected_hosts=None):
    """Verify one TC3-HMAC-SHA256 request with the SDK's own signing code.

    lookup_secret(secret_id) -> dict(secret_key=..., token=...) or None.
    """
    v = lambda ok, code=None, msg=None, **kw: Verdict(ok, "TC3-HMAC-SHA256", code, msg, **kw)
    dups = headers.duplicated({"authorization", "content-type", "host", "x-tc-timestamp", "x-tc-token"})
    if dups:
        return v(False, "AuthFailure.SignatureFailure", "duplicate header(s): %s" % ", ".join(dups))
    auth = headers.get("authorization")
    if not auth:
        return v(False, "AuthFailure.SignatureFailure", "no Authorization header")
    m = _TC3_AUTH_RE.match(auth)
    if not m:
        return v(False, "AuthFailure.InvalidAuthorization",
                 "Authorization is not in the SDK's form "
                 "'TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/tc3_request, "
                 "SignedHeaders=<list>, Signature=<64 hex>': %r" % auth[:200])
    sid = m.group("sid")
    cred = lookup_secret(sid)
    if cred is None:
        return v(False, "AuthFailure.SecretIdNotFound", "secret id %s not found" % sid, access_key_id=sid)
    secret_key = cred["secret_key"]
    token = cred.get("token") or None
    hide = [secret_key, token]
    ts_raw = headers.get("x-tc-timestamp")
    if ts_raw is None or not re.fullmatch(r"[0-9]{1,12}", ts_raw):
        return v(False, "AuthFailure.SignatureFailure", "X-TC-Timestamp missing or not decimal seconds: %r" % ts_raw,
                 access_key_id=sid)
    ts = int(ts_raw)
    if abs(now - ts) > SCF_SKEW:
        return v(False, "AuthFailure.SignatureExpire",
                 "X-TC-Timestamp %d is %+d s from the server clock (allowed +-%d s)" % (ts, ts - int(now), SCF_SKEW),
                 access_key_id=sid)
    # The date the SDK puts in the scope (abstract_client._build_req_with_tc3_signature).
    date = _dt.datetime.utcfromtimestamp(ts).strftime("%Y-%m-%d")
    problems = []
    if m.group("date") != date:
        problems.append("credential scope date %s != UTC date of X-TC-Timestamp %s" % (m.group("date"), date))
    if m.group("service") != service:
        problems.append("credential scope service %r != %r" % (m.group("service"), service))
    if m.group("signed") != "content-type;host":
        problems.append("SignedHeaders %r: the SDK signs exactly 'content-type;host'" % m.group("signed"))
    ct = headers.get("content-type")
    host = headers.get("host")
    if ct is None:
        problems.append("no Content-Type header")
    if host is None:
        problems.append("no Host header")
    if headers.get("x-tc-content-sha256") is not None:
        problems.append("X-TC-Content-SHA256 present (unsigned payload is refused)")
    split = urlsplit(raw_target)
    if method != "POST" or split.path != "/" or split.query:
        problems.append("request must be 'POST /' with no query, got %s %s" % (method, raw_target))
    if expected_hosts and host is not None and host not in expected_hosts:
        problems.append("Host %r is not this server's authority %s" % (host, sorted(expected_hosts)))

    diag = {}
    sdk_sig = None
    if ct is not None and host is not None:
        req = TcRequestInternal(host, "POST", "/", header={
            "Content-Type": ct, "Host": host, "X-TC-Timestamp": ts_raw}, data=body)
        with _VERIFY_LOCK, _Recording() as rec:
            sdk_sig = _SCF_CLIENT._get_tc3_signature({}, req, date, service, secret_key)
        hashed = [x for k, x in rec if k == "tc.sha256_input"]
        diag["payload_sha256"] = _sha256_hex(body)
        if len(hashed) >= 2:
            diag["canonical_request"] = _mask(hashed[-1], hide)
        for k, x in rec:
            if k == "tc.string_to_sign":
                diag["string_to_sign"] = x
        expected_auth = ("TC3-HMAC-SHA256 Credential=%s/%s/%s/tc3_request, "
                         "SignedHeaders=content-type;host, Signature=%s" % (sid, date, service, sdk_sig))
        diag["expected_signature"] = sdk_sig
        diag["received_signature"] = m.group("sig")
        if not hmac.compare_digest(expected_auth, auth):
            problems.append("signature mismatch")
    if problems:
        return v(False, "AuthFailure.SignatureFailure", "; ".join(problems), access_key_id=sid, diag=diag)
    sent_token = headers.get("x-tc-token")
    if token:
        if sent_token is None:
            return v(False, "AuthFailure.TokenFailure", "temporary secret id used without X-TC-Token",
                     access_key_id=sid, diag=diag)
        if not hmac.compare_digest(sent_token, token):
            return v(False, "AuthFailure.TokenFailure", "X-TC-Token does not match the temporary credentials",
                     access_key_id=sid, diag=diag)
    elif sent_token is not None:
        return v(False, "AuthFailure.TokenFailure", "X-TC-Token sent for a permanent secret id",
                 access_key_id=sid, diag=diag)
    return v(True, access_key_id=sid, sts=bool(token), diag=diag)


# --- Alibaba Cloud ACS3-HMAC-SHA256 (Tea client) ----------------------------

_ACS3_AUTH_RE = re.compile(
    r"^ACS3-HMAC-SHA256 Credential=(?P<ak>[^,]+),SignedHeaders=(?P<signed>[^,]+),Signature=(?P<sig>[0-9a-f]{64})$")
_ACS_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_REQUIRED_ACS3_SIGNED = ("host", "x-acs-date", "x-acs-content-sha256", "x-acs-signature-nonce")


class NonceCache:
    def __init__(self, ttl=FC_SKEW * 2):
        self.ttl = ttl
        self.seen = {}
        self.lock = threading.Lock()

    def use(self, key, now):
        with self.lock:
            for k in [k for k, t in self.seen.items() if now - t > self.ttl]:
                del self.seen[k]
            if key in self.seen:
                return False
            self.seen[key] = now
            return True


def verify_acs3(method, raw_target, headers, body, lookup_secret, now, nonces=None,
                expected_hosts=None, api_version=FC_API_VERSION, action=None):
    """Verify an ACS3-HMAC-SHA256 request with alibabacloud_tea_openapi's signer.

    lookup_secret(access_key_id) -> dict(secret=..., token=...) or None.
    """
    def v(ok, code=None, msg=None, status=403, **kw):
        return Verdict(ok, ACS3, code, msg, status=200 if ok else status, **kw)

    auth_all = headers.all("authorization")
    if len(auth_all) != 1:
        return v(False, "AccessDenied", "expected exactly one Authorization header, got %d" % len(auth_all))
    auth = auth_all[0]
    m = _ACS3_AUTH_RE.match(auth)
    if not m:
        return v(False, "SignatureNotMatch",
                 "Authorization is not in the SDK's form "
                 "'ACS3-HMAC-SHA256 Credential=<ak>,SignedHeaders=<a;b>,Signature=<64 hex>': %r" % auth[:200])
    ak = m.group("ak")
    cred = lookup_secret(ak)
    if cred is None:
        return v(False, "InvalidAccessKeyID", "access key id %s not found" % ak, access_key_id=ak)
    secret = cred["secret"]
    token = cred.get("token") or None
    hide = [secret, token]
    signed = m.group("signed").split(";")
    problems = []
    for name in signed:
        if name != name.lower():
            problems.append("signed header name %r is not lower case" % name)
        n = headers.count(name)
        if n == 0:
            problems.append("signed header %r not sent" % name)
        elif n > 1:
            problems.append("signed header %r sent %d times" % (name, n))
    if "authorization" in signed:
        problems.append("authorization must not be signed")
    for name in _REQUIRED_ACS3_SIGNED:
        if name not in signed:
            problems.append("%s must be signed" % name)
    for name in headers.names():
        if (name.startswith("x-acs-") or name.startswith("x-fc-")) and name not in signed:
            problems.append("header %s is sent but not signed" % name)
    if problems:
        return v(False, "SignatureNotMatch", "; ".join(problems), access_key_id=ak)

    acs_date = headers.get("x-acs-date")
    if not _ACS_DATE_RE.match(acs_date or ""):
        return v(False, "InvalidArgument", "x-acs-date %r is not YYYY-MM-DDTHH:MM:SSZ" % acs_date,
                 status=400, access_key_id=ak)
    t = _dt.datetime.strptime(acs_date, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc).timestamp()
    if abs(now - t) > FC_SKEW:
        return v(False, "RequestTimeTooSkewed",
                 "x-acs-date %s is %+d s from the server clock (allowed +-%d s)" % (acs_date, t - now, FC_SKEW),
                 access_key_id=ak)

    split = urlsplit(raw_target)
    pathname = split.path
    try:
        pairs = parse_qsl(split.query, keep_blank_values=True, strict_parsing=False)
    except ValueError as e:
        return v(False, "InvalidArgument", "bad query: %s" % e, status=400, access_key_id=ak)
    query = {}
    for k, val in pairs:
        if k in query:
            return v(False, "InvalidArgument", "query parameter %r repeated" % k, status=400, access_key_id=ak)
        query[k] = val
    payload_hash = _sha256_hex(body)
    sent_hash = headers.get("x-acs-content-sha256")
    diag = {"payload_sha256": payload_hash}
    if sent_hash != payload_hash:
        return v(False, "SignatureNotMatch",
                 "x-acs-content-sha256 %r is not the SHA-256 of the body (%s)" % (sent_hash, payload_hash),
                 access_key_id=ak, diag=diag)

    req = DaraRequest()
    req.method = method
    req.pathname = pathname
    req.query = query
    req.headers = {name: headers.get(name) for name in signed}
    with _VERIFY_LOCK, _Recording() as rec:
        sdk_auth = TeaUtils.get_authorization(req, ACS3, payload_hash, ak, secret)
    # The same computation in alibabacloud_openapi_util (the older home of this
    # signer); the two must agree, or the SDKs themselves disagree.
    util_auth = OpenApiUtilClient.get_authorization(req, ACS3, payload_hash, ak, secret)
    for k, x in rec:
        if k == "acs3.hash_input":
            diag["canonical_request"] = _mask(x, hide)
        elif k == "acs3.string_to_sign":
            diag["string_to_sign"] = x
    diag["expected_authorization"] = sdk_auth
    diag["received_authorization"] = auth
    if util_auth != sdk_auth:
        diag["warning"] = "alibabacloud_openapi_util computed %s" % util_auth
    if expected_hosts and headers.get("host") not in expected_hosts:
        return v(False, "SignatureNotMatch", "Host %r is not this server's authority %s"
                 % (headers.get("host"), sorted(expected_hosts)), access_key_id=ak, diag=diag)
    if not hmac.compare_digest(sdk_auth, auth):
        return v(False, "SignatureNotMatch", "signature mismatch", access_key_id=ak, diag=diag)

    sent_token = headers.get("x-acs-security-token")
    if token:
        if sent_token is None or not hmac.compare_digest(sent_token, token):
            return v(False, "InvalidSecurityToken",
                     "STS access key used without the matching x-acs-security-token", access_key_id=ak, diag=diag)
        if headers.get("x-acs-accesskey-id") != ak:
            return v(False, "InvalidSecurityToken",
                     "x-acs-accesskey-id %r must repeat the STS access key id" % headers.get("x-acs-accesskey-id"),
                     access_key_id=ak, diag=diag)
    elif sent_token is not None:
        return v(False, "InvalidSecurityToken", "x-acs-security-token sent for a permanent access key",
                 access_key_id=ak, diag=diag)

    # `action=None` (FC 2.0): only GetFunctionCode paths are checked, as before; FC 3.0
    # names the action of every path it serves.
    want_action = action or "GetFunctionCode"
    for name, want in (("x-acs-version", api_version), ("x-acs-action", want_action)):
        got = headers.get(name)
        if got is None:
            return v(False, "MissingRequiredHeader", "%s is required" % name, status=400,
                     access_key_id=ak, diag=diag)
        if got != want and (action is not None or pathname.endswith("/code")):
            return v(False, "InvalidArgument", "%s is %r, expected %r" % (name, got, want), status=400,
                     access_key_id=ak, diag=diag)
    if nonces is not None:
        if not nonces.use((ak, headers.get("x-acs-signature-nonce")), now):
            return v(False, "SignatureNonceUsed", "x-acs-signature-nonce was already used",
                     access_key_id=ak, diag=diag)
    return v(True, access_key_id=ak, sts=bool(token), diag=diag)


# --- Alibaba Cloud classic FC scheme (fc2) -----------------------------------

_FC_AUTH_RE = re.compile(r"^FC (?P<ak>[^:\s]+):(?P<sig>[A-Za-z0-9+/]{43}=)$")
_RFC1123_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}:\d{2} GMT$")


def verify_fc(method, raw_target, headers, body, lookup_secret, now):
    """Verify an `Authorization: FC id:sig` request with fc2.auth.Auth.sign_request.

    The canonical resource is the percent-decoded path without the query (what
    fc2 signs for every management call)."""
    def v(ok, code=None, msg=None, status=403, **kw):
        return Verdict(ok, "FC", code, msg, status=200 if ok else status, **kw)

    auth_all = headers.all("authorization")
    if len(auth_all) != 1:
        return v(False, "AccessDenied", "expected exactly one Authorization header, got %d" % len(auth_all))
    auth = auth_all[0]
    m = _FC_AUTH_RE.match(auth)
    if not m:
        return v(False, "SignatureNotMatch", "Authorization is not 'FC <id>:<base64 sig>': %r" % auth[:200])
    ak = m.group("ak")
    cred = lookup_secret(ak)
    if cred is None:
        return v(False, "InvalidAccessKeyID", "access key id %s not found" % ak, access_key_id=ak)
    secret = cred["secret"]
    token = cred.get("token") or None
    hide = [secret, token]
    dups = [n for n in headers.duplicated() if n.startswith("x-fc-") or n in ("date", "content-type", "content-md5")]
    if dups:
        return v(False, "InvalidArgument", "duplicate header(s): %s" % ", ".join(dups), status=400,
                 access_key_id=ak)
    date = headers.get("date")
    if date is None:
        return v(False, "MissingRequiredHeader", "no Date header", status=400, access_key_id=ak)
    if not _RFC1123_RE.match(date):
        return v(False, "InvalidArgument",
                 "Date %r is not in fc2's form 'Tue, 02 Jan 2024 03:04:05 GMT'" % date, status=400,
                 access_key_id=ak)
    t = email.utils.parsedate_to_datetime(date).timestamp()
    if abs(now - t) > FC_SKEW:
        return v(False, "RequestTimeTooSkewed",
                 "Date %s is %+d s from the server clock (allowed +-%d s)" % (date, t - now, FC_SKEW),
                 access_key_id=ak)
    split = urlsplit(raw_target)
    unescaped_path = unquote(split.path)
    sign_headers = {k: vals[0] for k, vals in headers.by_name.items()}
    with _VERIFY_LOCK, _Recording() as rec:
        sdk_auth = Fc2Auth(ak, secret, token or "").sign_request(method, unescaped_path, sign_headers)
    diag = {"canonical_resource": unescaped_path}
    for k, x in rec:
        if k == "fc.string_to_sign":
            diag["string_to_sign"] = _mask(x, hide)
    diag["expected_authorization"] = sdk_auth
    diag["received_authorization"] = auth
    if not hmac.compare_digest(sdk_auth, auth):
        return v(False, "SignatureNotMatch", "signature mismatch", access_key_id=ak, diag=diag)
    sent_token = headers.get("x-fc-security-token")
    if token:
        if sent_token is None or not hmac.compare_digest(sent_token, token):
            return v(False, "InvalidSecurityToken",
                     "STS access key used without the matching x-fc-security-token", access_key_id=ak, diag=diag)
    elif sent_token is not None:
        return v(False, "InvalidSecurityToken", "x-fc-security-token sent for a permanent access key",
                 access_key_id=ak, diag=diag)
    return v(True, access_key_id=ak, sts=bool(token), diag=diag)


# --- presigned download URLs --------------------------------------------------

class UrlSigner:
    """Presigned-looking URLs whose query carries '+', '/' and '=' (COS) or
    their percent-escapes (OSS), verified byte for byte."""

    def __init__(self, key=None):
        self.key = key or secrets.token_bytes(32)

    def _mac(self, *parts):
        return hmac.new(self.key, "\n".join(parts).encode("utf-8"), hashlib.sha1).digest()

    # COS (Tencent): /cos/<appid>/<sha256>/<name>.zip?sign=<base64(mac + plain text)>
    def cos_url(self, base, appid, sha256, name, expires):
        path = "/cos/%s/%s/%s.zip" % (appid, sha256, quote(name, safe=""))
        n = 0
        while True:
            nonce = "%d%s" % (n, "x" * (n % 3))
            plain = "a=%s&e=%d&r=%s&f=%s&b=lambdacode" % (appid, expires, nonce, path)
            mac = self._mac("GET", path, str(expires), nonce)
            sign = base64.b64encode(mac + plain.encode("utf-8")).decode("ascii")
            if "+" in sign and "/" in sign and sign.endswith("="):
                return base + path + "?sign=" + sign
            n += 1

    def cos_verify(self, raw_target, now):
        path, _, query = raw_target.partition("?")
        params = _raw_query(query)
        sign = params.get("sign")
        if sign is None or len(params) != 1:
            return "query must be exactly ?sign=..."
        try:
            blob = base64.b64decode(sign, validate=True)
        except Exception:
            return "sign is not the base64 that was handed out (re-encoded?)"
        mac, plain = blob[:20], blob[20:].decode("utf-8", "replace")
        fields = dict(p.split("=", 1) for p in plain.split("&") if "=" in p)
        if fields.get("f") != path:
            return "sign was issued for another path (path re-encoded?)"
        want = self._mac("GET", path, fields.get("e", ""), fields.get("r", ""))
        if not hmac.compare_digest(want, mac):
            return "sign does not verify"
        if int(fields.get("e", "0")) < now:
            return "URL expired"
        return None

    # OSS (Aliyun): /oss/<bucket>/<account>%2F<sha256>%2F<name>.zip?OSSAccessKeyId&Expires&Signature
    def oss_url(self, base, bucket, account, sha256, name, expires):
        path = "/oss/%s/%s%%2F%s%%2F%s.zip" % (bucket, quote(account, safe=""), sha256, quote(name, safe=""))
        while True:
            sig = base64.b64encode(self._mac("GET", path, str(expires))).decode("ascii")
            if "+" in sig and "/" in sig:
                return "%s%s?OSSAccessKeyId=LTAIsimOssKey&Expires=%d&Signature=%s" % (
                    base, path, expires, quote(sig, safe=""))
            expires += 1

    def oss_verify(self, raw_target, now):
        path, _, query = raw_target.partition("?")
        params = _raw_query(query)
        if set(params) != {"OSSAccessKeyId", "Expires", "Signature"}:
            return "query must be OSSAccessKeyId, Expires, Signature"
        exp = params["Expires"]
        if not exp.isdigit():
            return "Expires is not decimal"
        want = quote(base64.b64encode(self._mac("GET", path, exp)).decode("ascii"), safe="")
        if not hmac.compare_digest(want, params["Signature"]):
            return "Signature does not verify (URL re-encoded or decoded?)"
        if int(exp) < now:
            return "URL expired"
        return None


def _raw_query(query):
    out = {}
    if not query:
        return out
    for part in query.split("&"):
        k, _, val = part.partition("=")
        out[k] = val
    return out


# --- state ---------------------------------------------------------------------

class StateError(Exception):
    pass


def load_state(path):
    with open(path, "rb") as f:
        state = json.load(f)
    base = os.path.dirname(os.path.abspath(path))
    for cloud in ("tencent", "aliyun"):
        section = state.setdefault(cloud, {})
        section.setdefault("credentials", [])
        for fn in section.setdefault("functions", []):
            fn["_package"] = _package_bytes(fn, base)
    for fn in state["aliyun"].setdefault("functions_v3", []):
        fn["_package"] = _package_bytes(fn, base)
    # Layer versions (any cloud: SCF and FC name them alike): {name, version, package_*}.
    for layer in state.setdefault("layers", []):
        layer["_package"] = _package_bytes(layer, base)
    return state


def find_layer(state, name, version):
    return next((l for l in state["layers"]
                 if l["name"] == name and str(l["version"]) == str(version)), None)


def layer_arn(fn, account, name, version):
    return "acs:fc:%s:%s:layers/%s/versions/%s" % (fn.get("region", "cn-hangzhou"), account or "0",
                                                   name, version)


def _package_bytes(fn, base):
    if "package_file" in fn:
        p = fn["package_file"]
        if not os.path.isabs(p):
            p = os.path.join(base, p)
        with open(p, "rb") as f:
            return f.read()
    if "package_b64" in fn:
        return base64.b64decode(fn["package_b64"])
    if "package_text" in fn:
        return fn["package_text"].encode("utf-8")
    raise StateError("function %r has no package_file/package_b64/package_text" % fn.get("name"))


def corrupted(data):
    if not data:
        return b"corrupt"
    b = bytearray(data)
    b[len(b) // 2] ^= 0x5A
    return bytes(b)



# --- function configuration (GetFunction / GetService / ListTriggers answers) -----

# A function's configuration lives in its state entry's optional "config" object:
#   runtime, handler, memory, timeout, env ({name: value}), modified (the cloud's
#   last-modified time), triggers ([trigger names], each a timer), layers ([[name, version]],
#   in order), image (a container image reference: SCF CustomImage / FC custom-container) and
#   image_digest (FC 3.0's resolvedImageUri digest).
# Absent keys take these defaults, so a state without "config" still answers.
CONFIG_DEFAULTS = {"runtime": "python3.9", "handler": "index.handler", "memory": 128,
                   "timeout": 3, "env": {}, "modified": None, "triggers": ["every-hour"],
                   "layers": [], "image": None, "image_digest": None}


def fn_config(fn):
    c = dict(CONFIG_DEFAULTS)
    c.update(fn.get("config") or {})
    return c


def scf_get_function_answer(fn, name, ns, qual, pkg, request_id):
    """SCF GetFunction's Response, with the volatile fields the real API sends."""
    c = fn_config(fn)
    mod = c["modified"] or "2026-01-01 00:00:00"
    runtime = (fn.get("config") or {}).get("runtime", "Python3.9")
    handler = (fn.get("config") or {}).get("handler", "index.main_handler")
    image = None
    if c["image"]:
        # The tccli example of an image function: CustomImage, no handler, CodeSize 0.
        runtime, handler, pkg = "CustomImage", "", b""
        image = {"ImageType": "personal", "ImageUri": c["image"], "RegistryId": "", "EntryPoint": "",
                 "Command": "", "Args": "", "ContainerImageAccelerate": False, "ImagePort": 9000}
    layers = [{"LayerName": n, "LayerVersion": int(v), "CompatibleRuntimes": ["Python3.9"],
               "Description": "", "LicenseInfo": "", "AddTime": "2026-01-01 00:00:00",
               "Status": "Active", "Stamp": "default"} for n, v in c["layers"]]
    return {
        "FunctionName": name, "Namespace": ns, "FunctionVersion": qual, "Qualifier": qual,
        "Runtime": runtime, "Handler": handler, "ImageConfig": image,
        "MemorySize": c["memory"], "Timeout": c["timeout"], "Type": "Event", "Description": "",
        "Environment": {"Variables": [{"Key": k, "Value": v} for k, v in sorted(c["env"].items())]},
        "VpcConfig": {"VpcId": "", "SubnetId": ""}, "Role": "", "Layers": layers,
        "Triggers": [{"TriggerName": t, "Type": "timer", "Qualifier": "$DEFAULT",
                      "TriggerDesc": "{\"cron\":\"0 0 */1 * * * *\"}", "CustomArgument": "",
                      "Enable": 1, "AvailableStatus": "Available", "BindStatus": "on",
                      "AddTime": "2026-01-01 00:00:00", "ModTime": mod} for t in c["triggers"]],
        "ModTime": mod, "AddTime": "2026-01-01 00:00:00",
        "Status": "Active", "StatusDesc": "", "CodeSize": len(pkg), "CodeResult": "success",
        "CodeError": "", "ErrNo": 0, "AvailableStatus": "Available", "RequestId": request_id,
    }


def fc_function_answer(fn, name, pkg, v3=False, account=None):
    """FC GetFunction (2.0, or 3.0 with its ARN and lifecycle state)."""
    c = fn_config(fn)
    account = account or fn.get("account_id") or "0"
    arns = [layer_arn(fn, account, n, v) for n, v in c["layers"]]
    out = {
        "functionName": name, "functionId": "fn-%s" % _sha256_hex(name.encode())[:12], "description": "",
        "runtime": "custom-container" if c["image"] else c["runtime"], "handler": c["handler"],
        "memorySize": c["memory"],
        "timeout": c["timeout"], "environmentVariables": dict(c["env"]), "layers": [],
        "codeChecksum": str(crc64(pkg)), "codeSize": len(pkg),
        "createdTime": "2026-01-01T00:00:00Z",
        "lastModifiedTime": c["modified"] or "2026-01-01T00:00:00Z",
    }
    if c["image"]:
        cc = {"image": c["image"], "command": "", "args": "", "accelerationType": "Default",
              "accelerationInfo": {"status": "Preparing"}}
        if v3 and c["image_digest"]:
            cc["resolvedImageUri"] = "%s@%s" % (c["image"].rsplit(":", 1)[0], c["image_digest"])
        out["customContainerConfig"] = cc
    if v3:
        out.update({"functionArn": "acs:fc:%s:%s:functions/%s" % (
                        fn.get("region", "cn-hangzhou"), fn.get("account_id") or "0", name),
                    "state": "Active", "stateReason": "", "lastUpdateStatus": "Successful",
                    "layers": [{"arn": a, "size": 1} for a in arns]})
    else:
        out["layersArnV2"] = arns
    return out


def fc_layer_answer(layer, url, region, account, v3=False):
    """FC GetLayerVersion's Layer (2.0: arnV2 and an int acl; 3.0: layerVersionArn, acl "0")."""
    pkg = layer["_package"]
    arn = "acs:fc:%s:%s:layers/%s/versions/%s" % (region, account or "0", layer["name"], layer["version"])
    out = {"layerName": layer["name"], "version": int(layer["version"]),
           "code": {"location": url, "repositoryType": "OSS"},
           "codeChecksum": str(crc64(pkg)), "codeSize": len(pkg), "compatibleRuntime": ["python3.9"],
           "createTime": "2026-01-01T00:00:00Z", "description": "", "license": ""}
    if v3:
        out.update({"layerVersionArn": arn, "acl": "0"})
    else:
        out.update({"arnV2": arn, "acl": 0, "arn": "f00d#%s#%s" % (layer["name"], layer["version"])})
    return out


def fc_service_answer(service, account):
    return {"serviceName": service, "serviceId": "svc-%s" % _sha256_hex(service.encode())[:12],
            "description": "", "role": "acs:ram::%s:role/fc-logs" % (account or "0"),
            "internetAccess": True, "logConfig": {"project": "", "logstore": ""},
            "vpcConfig": {"vpcId": "", "vSwitchIds": [], "securityGroupId": ""},
            "createdTime": "2026-01-01T00:00:00Z", "lastModifiedTime": "2026-01-01T00:00:00Z"}


def fc_triggers_page(fn, q, v3=False):
    """One ListTriggers page: `limit` (1-100, default 20) from `nextToken` (the next name,
    base64). Returns (answer, None) or (None, error message)."""
    try:
        limit = int(q.get("limit", "20"))
    except ValueError:
        return None, "limit %r is not a number" % q.get("limit")
    if not 1 <= limit <= 100:
        return None, "limit must be 1 to 100"
    names = sorted(t for t in fn_config(fn)["triggers"] if t.startswith(q.get("prefix", "")))
    start = 0
    if q.get("nextToken"):
        try:
            first = base64.b64decode(q["nextToken"], validate=True).decode("utf-8")
        except Exception:
            return None, "nextToken is not valid"
        start = next((i for i, n in enumerate(names) if n >= first), len(names))
    page = names[start:start + limit]
    items = []
    for t in page:
        item = {"triggerName": t, "triggerType": "timer", "qualifier": "LATEST", "description": "",
                "triggerId": _sha256_hex(t.encode())[:16], "invocationRole": "", "sourceArn": "",
                "triggerConfig": "{\"cronExpression\":\"@every 1h\",\"enable\":true,\"payload\":\"\"}",
                "createdTime": "2026-01-01T00:00:00Z", "lastModifiedTime": "2026-01-01T00:00:00Z"}
        if v3:
            item["status"] = "Ready"
        items.append(item)
    out = {"triggers": items}
    if start + limit < len(names):
        out["nextToken"] = base64.b64encode(names[start + limit].encode()).decode()
    return out, None


# FC 2.0 paths this sim serves (percent-decoded), each with its API action.
FC2_ROUTES = [
    (r"/2021-04-06/layers/([^/]+)/versions/([^/]+)", "GetLayerVersion"),
    (r"/2021-04-06/services/([^/]+)/functions/([^/]+)/code", "GetFunctionCode"),
    (r"/2021-04-06/services/([^/]+)/functions/([^/]+)/triggers", "ListTriggers"),
    (r"/2021-04-06/services/([^/]+)/functions/([^/]+)", "GetFunction"),
    (r"/2021-04-06/services/([^/]+)", "GetService"),
]
# FC 3.0 per-function paths (ListFunctions is the bare collection).
FC3_ROUTES = [
    (r"/2023-03-30/layers/([^/]+)/versions/([^/]+)", "GetLayerVersion"),
    (r"/2023-03-30/functions/([^/]+)/code", "GetFunctionCode"),
    (r"/2023-03-30/functions/([^/]+)/triggers", "ListTriggers"),
    (r"/2023-03-30/functions/([^/]+)/versions", "ListFunctionVersions"),
    (r"/2023-03-30/functions/([^/]+)/aliases", "ListAliases"),
    (r"/2023-03-30/functions/([^/]+)", "GetFunction"),
]

# --- HTTP server -----------------------------------------------------------------

class Sim:
    def __init__(self, state_path, log_path, check_host=True):
        self.state_path = state_path
        self.log_path = log_path
        self.check_host = check_host
        self.signer = UrlSigner()
        self.nonces = NonceCache()
        self.lock = threading.Lock()
        self.stats = {"api_requests": 0, "api_rejected": 0, "downloads": 0, "download_rejected": 0}
        self.port = None

    def now(self, state):
        return time.time() + float(state.get("clock_offset", 0))

    def expected_hosts(self):
        if not self.check_host or self.port is None:
            return None
        return {"127.0.0.1:%d" % self.port, "localhost:%d" % self.port}

    def log(self, entry):
        entry = dict(entry, ts=round(time.time(), 3))
        line = json.dumps(entry, sort_keys=True)
        with self.lock:
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as f:
                    f.write(line + "\n")

    def bump(self, key):
        with self.lock:
            self.stats[key] += 1


def _diag_text(verdict):
    lines = ["  verdict: %s %s: %s" % (verdict.scheme, verdict.code, verdict.message)]
    for k in ("canonical_resource", "payload_sha256", "canonical_request", "string_to_sign",
              "expected_signature", "received_signature", "expected_authorization",
              "received_authorization", "warning"):
        if k in verdict.diag:
            val = verdict.diag[k]
            if isinstance(val, bytes):
                val = val.decode("utf-8", "replace")
            lines.append("  %s:\n    %s" % (k, "\n    ".join(repr(x)[1:-1] for x in str(val).split("\n"))))
    return "\n".join(lines)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fnvault-sdk-sim/1"
    sim = None  # set by main()

    def log_message(self, fmt, *args):  # quieter access log on stderr
        sys.stderr.write("sim: %s %s\n" % (self.address_string(), fmt % args))

    # -- plumbing
    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                size_line = self.rfile.readline().strip()
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, body, content_type="application/json", extra=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
        elif isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _headers(self):
        return Headers(self.headers.items())

    def _base_url(self):
        return "http://127.0.0.1:%d" % self.sim.port

    # -- dispatch
    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        try:
            body = self._read_body()
            path = urlsplit(self.path).path
            if path == "/_sim/stats":
                with self.sim.lock:
                    return self._send(200, dict(self.sim.stats))
            if method == "POST" and path == "/":
                return self._scf(body)
            if path.startswith("/cos/"):
                return self._download("cos")
            if path.startswith("/oss/"):
                return self._download("oss")
            if path.startswith("/%s/" % FC3_API_VERSION) or path == "/%s" % FC3_API_VERSION:
                return self._fc3(method, body)
            if path.startswith("/20"):
                return self._fc(method, body)
            return self._send(404, {"error": "no such route in sdk-sim: %s %s" % (method, path)})
        except Exception as e:  # report, never die
            traceback.print_exc()
            try:
                self._send(500, {"ErrorCode": "InternalServerError", "ErrorMessage": "sim error: %s" % e})
            except Exception:
                pass

    # -- Tencent SCF
    def _scf(self, body):
        sim = self.sim
        sim.bump("api_requests")
        request_id = str(uuid.uuid4())
        headers = self._headers()
        action = headers.get("x-tc-action")
        entry = {"kind": "api", "cloud": "tencent", "action": action, "scheme": "TC3-HMAC-SHA256",
                 "function": None, "verified": False, "code": None}

        def fail(code, message, verdict=None):
            sim.bump("api_rejected")
            entry["code"] = code
            sys.stderr.write("sim: REJECT scf %s: %s: %s\n" % (action, code, message))
            if verdict is not None and verdict.diag:
                sys.stderr.write(_diag_text(verdict) + "\n")
            sim.log(entry)
            return self._send(200, {"Response": {"Error": {"Code": code, "Message": message},
                                                 "RequestId": request_id}})

        try:
            state = load_state(sim.state_path)
        except Exception as e:
            return fail("InternalError", "sim state unreadable: %s" % e)
        creds = {c["secret_id"]: c for c in state["tencent"]["credentials"]}

        def lookup(sid):
            c = creds.get(sid)
            return None if c is None else {"secret_key": c["secret_key"], "token": c.get("token")}

        verdict = verify_tc3("POST", self.path, headers, body, lookup, sim.now(state),
                             expected_hosts=sim.expected_hosts())
        entry["access_key_id"] = verdict.access_key_id
        entry["sts"] = verdict.sts
        try:
            params = json.loads(body.decode("utf-8"))
        except Exception:
            params = None
        if isinstance(params, dict):
            entry["function"] = "%s/%s/%s@%s" % (headers.get("x-tc-region"), params.get("Namespace", "default"),
                                                 params.get("FunctionName"), params.get("Qualifier"))
        if not verdict.ok:
            return fail(verdict.code, verdict.message, verdict)
        entry["verified"] = True
        if headers.get("x-tc-version") != SCF_VERSION:
            return fail("NoSuchVersion", "X-TC-Version must be %s, got %r" % (SCF_VERSION, headers.get("x-tc-version")))
        region = headers.get("x-tc-region")
        if not region:
            return fail("MissingParameter", "X-TC-Region is required")
        if action in ("ListVersionByFunction", "ListAliases"):
            return self._scf_listing(action, params, state, region, entry, fail, request_id)
        if action not in ("GetFunctionAddress", "GetFunction", "GetLayerVersion"):
            return fail("InvalidAction", "action %r is not served by the sim" % action)
        if not isinstance(params, dict):
            return fail("InvalidParameter.Payload", "body is not a JSON object")
        if action == "GetLayerVersion":
            lname, lver = params.get("LayerName"), params.get("LayerVersion")
            entry["function"] = "layer %s/%s" % (lname, lver)
            # The API types LayerVersion as an integer: a string is the wrong request.
            if not isinstance(lname, str) or not isinstance(lver, int) or isinstance(lver, bool):
                return fail("InvalidParameterValue", "LayerName (string) and LayerVersion (integer) are required")
            layer = find_layer(state, lname, lver)
            if layer is None:
                return fail("ResourceNotFound.LayerVersion", "layer %s version %s does not exist" % (lname, lver))
            lsha = _sha256_hex(layer["_package"])
            expires = int(sim.now(state)) + int(state.get("url_ttl", 600))
            url = sim.signer.cos_url(self._base_url(), state["tencent"].get("appid", "1250000000"),
                                     lsha, lname, expires)
            sim.log(entry)
            return self._send(200, {"Response": {
                "LayerName": lname, "LayerVersion": lver, "Location": url, "CodeSha256": lsha,
                "CompatibleRuntimes": ["Python3.9"], "AddTime": "2026-01-01 00:00:00",
                "Description": "", "LicenseInfo": "", "Status": "Active", "RequestId": request_id}})
        name = params.get("FunctionName")
        if not isinstance(name, str) or not name:
            return fail("MissingParameter", "FunctionName is required")
        ns = params.get("Namespace", "default")
        qual = params.get("Qualifier")
        qual_eff = qual if qual is not None else "$LATEST"
        fns = [f for f in state["tencent"]["functions"]
               if f.get("region", region) == region and f.get("namespace", "default") == ns]
        if not fns and ns != "default":
            return fail("ResourceNotFound.Namespace", "namespace %s does not exist" % ns)
        same_name = [f for f in fns if f["name"] == name]
        if not same_name:
            return fail("ResourceNotFound.Function", "function %s does not exist in %s/%s" % (name, region, ns))
        match = [f for f in same_name if f.get("qualifier", "$LATEST") == qual_eff]
        if not match:
            return fail("ResourceNotFound.Version", "function %s has no version %s" % (name, qual_eff))
        fn = match[0]
        if fn.get("error"):
            return fail(fn["error"], "configured error for this function")
        pkg = fn["_package"]
        if action == "GetFunction":
            sim.log(entry)
            return self._send(200, {"Response": scf_get_function_answer(fn, name, ns, qual_eff, pkg, request_id)})
        sha = _sha256_hex(pkg)
        ttl = int(state.get("url_ttl", 600))
        expires = int(sim.now(state)) + (-60 if state.get("expired_urls") else ttl)
        url = sim.signer.cos_url(self._base_url(), state["tencent"].get("appid", "1250000000"), sha, name, expires)
        sim.log(entry)
        return self._send(200, {"Response": {"Url": url, "CodeSha256": sha, "RequestId": request_id}})

    def _scf_listing(self, action, params, state, region, entry, fail, request_id):
        """ListVersionByFunction and ListAliases (issue 14). A published version is a function
        entry whose qualifier is digits; aliases are state["tencent"]["aliases"]. Offset and
        Limit must have the types the SDK's request models give them: int for
        ListVersionByFunction, str for ListAliases (models.ListAliasesRequest). The version
        listing shows $LATEST first, as the tccli example does."""
        if not isinstance(params, dict):
            return fail("InvalidParameter.Payload", "body is not a JSON object")
        name = params.get("FunctionName")
        if not isinstance(name, str) or not name:
            return fail("MissingParameter", "FunctionName is required")
        ns = params.get("Namespace", "default")
        want = str if action == "ListAliases" else int
        for key, default in (("Offset", 0), ("Limit", 20)):
            value = params.get(key, want(default))
            if type(value) is not want:
                return fail("InvalidParameterValue", "%s is typed %s in the SDK's %sRequest, got %r"
                            % (key, want.__name__, action, value))
        offset, limit = int(params.get("Offset", 0)), int(params.get("Limit", 20))
        fns = [f for f in state["tencent"]["functions"]
               if f.get("region", region) == region and f.get("namespace", "default") == ns
               and f["name"] == name]
        if not fns:
            return fail("ResourceNotFound.Function", "function %s does not exist in %s/%s" % (name, region, ns))
        if action == "ListVersionByFunction":
            if params.get("OrderBy") not in (None, "AddTime", "ModTime"):
                return fail("InvalidParameterValue.OrderBy", "OrderBy %r" % params.get("OrderBy"))
            published = sorted((f for f in fns if str(f.get("qualifier", "")).isdigit()),
                               key=lambda f: int(f["qualifier"]))
            items = [{"Version": "$LATEST", "Description": None, "AddTime": None, "ModTime": None,
                      "Status": "Active"}]
            items += [{"Version": f["qualifier"], "Description": "",
                       "AddTime": f.get("mod_time", "2026-12-01 00:00:00"),
                       "ModTime": f.get("mod_time", "2026-12-01 00:00:00"), "Status": "Active"}
                      for f in published]
            page = items[offset:offset + limit]
            out = {"FunctionVersion": [i["Version"] for i in page], "Versions": page,
                   "TotalCount": len(items), "RequestId": request_id}
        else:
            aliases = [a for a in state["tencent"].get("aliases", [])
                       if a["function"] == name and a.get("region", region) == region
                       and a.get("namespace", "default") == ns]
            items = [{"Name": a["name"], "FunctionVersion": a["version"],
                      "RoutingConfig": {"AdditionalVersionWeights": [
                          {"Version": v, "Weight": w} for v, w in sorted(a.get("weights", {}).items())],
                          "AddtionVersionMatchs": []},
                      "Description": "", "AddTime": a.get("mod_time", "2026-12-01 00:00:00"),
                      "ModTime": a.get("mod_time", "2026-12-01 00:00:00")}
                     for a in sorted(aliases, key=lambda a: a["name"])]
            out = {"Aliases": items[offset:offset + limit], "TotalCount": len(items),
                   "RequestId": request_id}
        self.sim.log(entry)
        return self._send(200, {"Response": out})

    # -- Aliyun FC
    def _fc(self, method, body):
        sim = self.sim
        sim.bump("api_requests")
        request_id = str(uuid.uuid4())
        headers = self._headers()
        auth = headers.get("authorization") or ""
        scheme = "FC" if auth.startswith("FC ") else (ACS3 if auth.startswith(ACS3 + " ") else None)
        split = urlsplit(self.path)
        decoded = unquote(split.path)
        q = dict(parse_qsl(split.query, keep_blank_values=True))
        action = None
        for pattern, name in FC2_ROUTES:
            m = re.fullmatch(pattern, decoded)
            if m:
                action = name
                break
        account = headers.get("x-fc-account-id")
        entry = {"kind": "api", "cloud": "aliyun", "action": action,
                 "scheme": scheme, "function": None, "verified": False, "code": None, "account_id": account}
        if m:
            entry["function"] = "%s/%s/%s@%s" % (account, m.group(1), m.group(2) if m.lastindex > 1 else "",
                                                 q.get("qualifier"))

        def fail(status, code, message, verdict=None):
            sim.bump("api_rejected")
            entry["code"] = code
            sys.stderr.write("sim: REJECT fc %s %s: %d %s: %s\n" % (method, split.path, status, code, message))
            if verdict is not None and verdict.diag:
                sys.stderr.write(_diag_text(verdict) + "\n")
            sim.log(entry)
            return self._send(status, {"ErrorCode": code, "ErrorMessage": message},
                              extra={"X-Fc-Request-Id": request_id})

        try:
            state = load_state(sim.state_path)
        except Exception as e:
            return fail(500, "InternalServerError", "sim state unreadable: %s" % e)
        creds = {c["access_key_id"]: c for c in state["aliyun"]["credentials"]}

        def lookup(ak):
            c = creds.get(ak)
            return None if c is None else {"secret": c["access_key_secret"], "token": c.get("security_token")}

        now = sim.now(state)
        if scheme == "FC":
            verdict = verify_fc(method, self.path, headers, body, lookup, now)
            if verdict.ok and sim.expected_hosts() and headers.get("host") not in sim.expected_hosts():
                verdict = Verdict(False, "FC", "SignatureNotMatch", "Host %r is not this server's authority"
                                  % headers.get("host"), status=403, access_key_id=verdict.access_key_id)
        elif scheme == ACS3:
            verdict = verify_acs3(method, self.path, headers, body, lookup, now, nonces=sim.nonces,
                                  expected_hosts=sim.expected_hosts())
        else:
            return fail(403, "AccessDenied", "missing or unsupported Authorization scheme: %r" % auth[:40])
        entry["access_key_id"] = verdict.access_key_id
        entry["sts"] = verdict.sts
        if not verdict.ok:
            return fail(verdict.status, verdict.code, verdict.message, verdict)
        entry["verified"] = True
        cred = creds[verdict.access_key_id]
        if cred.get("account_id") and account and cred["account_id"] != account:
            return fail(403, "AccessDenied", "access key belongs to account %s, not %s" % (cred["account_id"], account))
        if method != "GET" or not m:
            return fail(400, "PathNotSupported", "%s %s is not served by the sim" % (method, split.path))
        if action == "GetLayerVersion":
            layer = find_layer(state, m.group(1), m.group(2))
            if layer is None:
                return fail(404, "LayerVersionNotFound", "layer %s version %s not found" % (m.group(1), m.group(2)))
            expires = int(now) + int(state.get("url_ttl", 600))
            owner = account or cred.get("account_id")
            url = sim.signer.oss_url(self._base_url(), "fc-layers", owner or "0",
                                     _sha256_hex(layer["_package"]), layer["name"], expires)
            sim.log(entry)
            return self._send(200, fc_layer_answer(layer, url, "cn-shanghai", owner),
                              extra={"X-Fc-Request-Id": request_id})
        service = m.group(1)
        qual_eff = q.get("qualifier") or "LATEST"
        fns = [f for f in state["aliyun"]["functions"]
               if not (account and f.get("account_id") and f["account_id"] != account)]
        in_service = [f for f in fns if f["service"] == service]
        if not in_service:
            return fail(404, "ServiceNotFound", "service %s does not exist" % service)
        if action == "GetService":
            sim.log(entry)
            return self._send(200, fc_service_answer(service, account or cred.get("account_id")),
                              extra={"X-Fc-Request-Id": request_id})
        fname = m.group(2)
        same_name = [f for f in in_service if f["name"] == fname]
        if not same_name:
            return fail(404, "FunctionNotFound", "function %s does not exist in service %s" % (fname, service))
        if action == "ListTriggers":
            # Triggers belong to the function, not to a version: ListTriggers takes no qualifier.
            out, err = fc_triggers_page(same_name[0], q)
            if err:
                return fail(400, "InvalidArgument", err)
            sim.log(entry)
            return self._send(200, out, extra={"X-Fc-Request-Id": request_id})
        match = [f for f in same_name if f.get("qualifier", "LATEST") == qual_eff]
        if not match:
            code = "VersionNotFound" if qual_eff.isdigit() else "AliasNotFound"
            return fail(404, code, "%s %s not found for %s/%s" % (code[:-8].lower(), qual_eff, service, fname))
        fn = match[0]
        if fn.get("error"):
            return fail(int(fn.get("error_status", 500)), fn["error"], "configured error for this function")
        pkg = fn["_package"]
        if action == "GetFunction":
            sim.log(entry)
            return self._send(200, fc_function_answer(fn, fname, pkg, account=account),
                              extra={"X-Fc-Request-Id": request_id})
        ttl = int(state.get("url_ttl", 600))
        expires = int(now) + (-60 if state.get("expired_urls") else ttl)
        url = sim.signer.oss_url(self._base_url(), "fc-code-%s" % fn.get("region", "cn-shanghai"),
                                 account or fn.get("account_id") or "0", _sha256_hex(pkg), fname, expires)
        sim.log(entry)
        return self._send(200, {"checksum": str(crc64(pkg)), "url": url},
                          extra={"X-Fc-Request-Id": request_id})

    # -- Aliyun FC 3.0 (2023-03-30)
    def _fc3(self, method, body):
        """GetFunctionCode and ListFunctions as the FC 3.0 service answers them.

        ACS3 only, verified by verify_acs3 (the 3.0 SDK's signer) with this API version
        and the path's action. The request must carry exactly the headers the 3.0 SDK
        sends: x-acs-credentials-provider (static_ak / static_sts), no x-fc-account-id.
        Errors in the 3.0 envelope {Code, Message, RequestId}, request id in the body only.
        FC 3.0 functions live in state["aliyun"]["functions_v3"]; ListFunctions shows them
        for fcVersion=v3, the 2.0 functions as service$function for v2, and both without it.
        """
        sim = self.sim
        sim.bump("api_requests")
        request_id = "1-%s-%s" % (secrets.token_hex(4), secrets.token_hex(12))
        headers = self._headers()
        split = urlsplit(self.path)
        decoded = unquote(split.path)
        q = dict(parse_qsl(split.query, keep_blank_values=True))
        action = "ListFunctions" if decoded == "/2023-03-30/functions" else None
        m = None
        for pattern, name in FC3_ROUTES:
            m = re.fullmatch(pattern, decoded)
            if m:
                action = name
                break
        auth = headers.get("authorization") or ""
        entry = {"kind": "api", "cloud": "aliyun", "api": FC3_API_VERSION, "action": action,
                 "scheme": ACS3 if auth.startswith(ACS3 + " ") else None,
                 "function": ("%s@%s" % (m.group(1), q.get("qualifier"))) if m else None,
                 "verified": False, "code": None}

        def fail(status, code, message, verdict=None):
            sim.bump("api_rejected")
            entry["code"] = code
            sys.stderr.write("sim: REJECT fc3 %s %s: %d %s: %s\n" % (method, split.path, status, code, message))
            if verdict is not None and verdict.diag:
                sys.stderr.write(_diag_text(verdict) + "\n")
            sim.log(entry)
            return self._send(status, {"Code": code, "Message": message, "RequestId": request_id})

        try:
            state = load_state(sim.state_path)
        except Exception as e:
            return fail(500, "InternalServerError", "sim state unreadable: %s" % e)
        if method != "GET" or action is None:
            return fail(404, "PathNotFound", "%s %s is not served by the sim" % (method, split.path))
        if entry["scheme"] != ACS3:
            return fail(403, "AccessDenied", "FC 3.0 takes only ACS3-HMAC-SHA256: %r" % auth[:40])
        creds = {c["access_key_id"]: c for c in state["aliyun"]["credentials"]}

        def lookup(ak):
            c = creds.get(ak)
            return None if c is None else {"secret": c["access_key_secret"], "token": c.get("security_token")}

        now = sim.now(state)
        verdict = verify_acs3(method, self.path, headers, body, lookup, now, nonces=sim.nonces,
                              expected_hosts=sim.expected_hosts(), api_version=FC3_API_VERSION,
                              action=action)
        entry["access_key_id"] = verdict.access_key_id
        entry["sts"] = verdict.sts
        if not verdict.ok:
            return fail(verdict.status, verdict.code, verdict.message, verdict)
        want_provider = "static_sts" if verdict.sts else "static_ak"
        if headers.get("x-acs-credentials-provider") != want_provider:
            return fail(400, "InvalidArgument", "x-acs-credentials-provider %r; the 3.0 SDK sends %r"
                        % (headers.get("x-acs-credentials-provider"), want_provider), verdict)
        if headers.get("x-fc-account-id") is not None:
            return fail(400, "InvalidArgument", "x-fc-account-id is a 2.0 header; the 3.0 SDK sends none",
                        verdict)
        entry["verified"] = True
        cred = creds[verdict.access_key_id]
        v3 = [f for f in state["aliyun"].get("functions_v3", [])
              if not (cred.get("account_id") and f.get("account_id") and f["account_id"] != cred["account_id"])]

        if action == "ListFunctions":
            try:
                limit = int(q.get("limit", "20"))
            except ValueError:
                return fail(400, "InvalidArgument", "limit %r is not a number" % q.get("limit"))
            if not 1 <= limit <= 100:
                return fail(400, "InvalidArgument", "limit must be 1 to 100")
            version = q.get("fcVersion")
            if version not in (None, "v2", "v3"):
                return fail(400, "InvalidArgument", "fcVersion must be v2 or v3")
            names = set()
            if version in (None, "v3"):
                names.update(f["name"] for f in v3)
            if version in (None, "v2"):
                names.update("%s$%s" % (f["service"], f["name"]) for f in state["aliyun"]["functions"])
            names = sorted(n for n in names if n.startswith(q.get("prefix", "")))
            start = 0
            if "nextToken" in q:
                try:
                    first = base64.b64decode(q["nextToken"], validate=True).decode("utf-8")
                except Exception:
                    return fail(400, "InvalidArgument", "nextToken is not valid")
                start = next((i for i, n in enumerate(names) if n >= first), len(names))
            page = names[start:start + limit]
            out = {"functions": [{"functionName": n, "description": ""} for n in page]}
            if start + limit < len(names):
                out["nextToken"] = base64.b64encode(names[start + limit].encode()).decode()
            sim.log(entry)
            return self._send(200, out)

        if action == "GetLayerVersion":
            layer = find_layer(state, m.group(1), m.group(2))
            if layer is None:
                return fail(404, "LayerVersionNotFound", "layer %s version %s not found" % (m.group(1), m.group(2)))
            expires = int(now) + int(state.get("url_ttl", 600))
            owner = cred.get("account_id") or ACCOUNT_FALLBACK
            url = sim.signer.oss_url(self._base_url(), "fc3-layers", owner,
                                     _sha256_hex(layer["_package"]), layer["name"], expires)
            sim.log(entry)
            return self._send(200, fc_layer_answer(layer, url, "cn-hangzhou", owner, v3=True))
        fname = m.group(1)
        qual_eff = q.get("qualifier") or "LATEST"
        same_name = [f for f in v3 if f["name"] == fname]
        if not same_name:
            return fail(404, "FunctionNotFound", "function not found")
        if action in ("ListFunctionVersions", "ListAliases"):
            # Issue 14: published versions are entries whose qualifier is digits; aliases are
            # state["aliyun"]["aliases_v3"]. Paged by limit (1-100) and a base64 offset token.
            try:
                limit = int(q.get("limit", "20"))
                start = int(base64.b64decode(q["nextToken"], validate=True).decode()) if "nextToken" in q else 0
            except (ValueError, KeyError):
                return fail(400, "InvalidArgument", "limit or nextToken is not valid")
            if not 1 <= limit <= 100:
                return fail(400, "InvalidArgument", "limit must be 1 to 100")
            if action == "ListFunctionVersions":
                direction = q.get("direction", "BACKWARD")
                if direction not in ("FORWARD", "BACKWARD"):
                    return fail(400, "InvalidArgument", "direction must be FORWARD or BACKWARD")
                published = sorted((f for f in same_name if str(f.get("qualifier", "")).isdigit()),
                                   key=lambda f: int(f["qualifier"]), reverse=direction == "BACKWARD")
                items = [{"versionId": f["qualifier"], "description": "",
                          "createdTime": f.get("mod_time", "2026-12-01T00:00:00Z"),
                          "lastModifiedTime": f.get("mod_time", "2026-12-01T00:00:00Z")}
                         for f in published]
                key = "versions"
            else:
                aliases = sorted((a for a in state["aliyun"].get("aliases_v3", []) if a["function"] == fname),
                                 key=lambda a: a["name"])
                items = [{"aliasName": a["name"], "versionId": a["version"],
                          "additionalVersionWeight": a.get("weights", {}), "description": "",
                          "createdTime": a.get("mod_time", "2026-12-01T00:00:00Z"),
                          "lastModifiedTime": a.get("mod_time", "2026-12-01T00:00:00Z")}
                         for a in aliases]
                key = "aliases"
            out = {key: items[start:start + limit]}
            if start + limit < len(items):
                out["nextToken"] = base64.b64encode(str(start + limit).encode()).decode()
            sim.log(entry)
            return self._send(200, out)
        if action == "ListTriggers":
            # Triggers belong to the function, not to a version: ListTriggers takes no qualifier.
            out, err = fc_triggers_page(same_name[0], q, v3=True)
            if err:
                return fail(400, "InvalidArgument", err)
            sim.log(entry)
            return self._send(200, out)
        match = [f for f in same_name if f.get("qualifier", "LATEST") == qual_eff]
        if not match:
            code = "VersionNotFound" if qual_eff.isdigit() else "AliasNotFound"
            return fail(404, code, "%s %s not found for %s" % (code[:-8].lower(), qual_eff, fname))
        fn = match[0]
        if fn.get("error"):
            return fail(int(fn.get("error_status", 500)), fn["error"], "configured error for this function")
        pkg = fn["_package"]
        if action == "GetFunction":
            sim.log(entry)
            return self._send(200, fc_function_answer(fn, fname, pkg, v3=True))
        ttl = int(state.get("url_ttl", 600))
        expires = int(now) + (-60 if state.get("expired_urls") else ttl)
        url = sim.signer.oss_url(self._base_url(), "fc3-code-%s" % fn.get("region", "cn-hangzhou"),
                                 fn.get("account_id") or "0", _sha256_hex(pkg), fname, expires)
        sim.log(entry)
        return self._send(200, {"checksum": str(crc64(pkg)), "url": url})

    # -- downloads
    def _download(self, store):
        sim = self.sim
        entry = {"kind": "download", "store": store, "function": None, "verified": False,
                 "corrupt": False, "status": None}
        try:
            state = load_state(sim.state_path)
        except Exception as e:
            entry["status"] = 500
            sim.log(entry)
            return self._send(500, "sim state unreadable: %s" % e, "text/plain")
        now = sim.now(state)
        problem = (sim.signer.cos_verify if store == "cos" else sim.signer.oss_verify)(self.path, now)
        if problem:
            sim.bump("download_rejected")
            entry["status"] = 403
            entry["reason"] = problem
            sys.stderr.write("sim: REJECT download %s: %s (raw path+query length %d)\n"
                             % (store, problem, len(self.path)))
            sim.log(entry)
            return self._send(403, "<Error><Code>AccessDenied</Code><Message>%s</Message></Error>" % problem,
                              "application/xml")
        raw_path = self.path.partition("?")[0]
        if store == "cos":
            sha = raw_path.split("/")[3]
            cloud = "tencent"
        else:
            sha = unquote(raw_path.split("/")[3]).split("/")[1]
            cloud = "aliyun"
        fns = state[cloud]["functions"] + (state["aliyun"]["functions_v3"] if cloud == "aliyun" else [])
        fn = next((f for f in fns if _sha256_hex(f["_package"]) == sha), None)
        if fn is None:
            # A layer version's zip, from the same kind of presigned address.
            fn = next((l for l in state["layers"] if _sha256_hex(l["_package"]) == sha), None)
            if fn is not None:
                entry["layer"] = "%s/%s" % (fn["name"], fn["version"])
        if fn is None:
            entry["status"] = 404
            sim.log(entry)
            return self._send(404, "<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        data = fn["_package"]
        entry["function"] = fn["name"]
        entry["verified"] = True
        if fn.get("corrupt"):
            data = corrupted(data)
            entry["corrupt"] = True
        sim.bump("downloads")
        entry["status"] = 200
        entry["bytes"] = len(data)
        sim.log(entry)
        extra = {}
        if store == "oss":
            extra["x-oss-hash-crc64ecma"] = str(crc64(data))
        return self._send(200, data, "application/zip", extra)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--state", required=True, help="JSON state file, re-read on every request")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--log", help="JSON-lines request log (appended)")
    ap.add_argument("--no-host-check", action="store_true",
                    help="do not require Host to be 127.0.0.1:<port> or localhost:<port>")
    args = ap.parse_args(argv)

    sim = Sim(os.path.abspath(args.state), args.log and os.path.abspath(args.log),
              check_host=not args.no_host_check)
    load_state(sim.state_path)  # fail early on a broken state file
    Handler.sim = sim
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    sim.port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % sim.port)
        os.replace(tmp, args.port_file)
    sys.stderr.write("sim: listening on 127.0.0.1:%d (state %s)\n" % (sim.port, sim.state_path))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
