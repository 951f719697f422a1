#!/usr/bin/env python3
"""Drives the fnvault release binary against sim.py (scenarios a-i of README.md).

Called by run.sh, which starts the sim and owns its lifetime. This script only
rewrites the sim's state file, writes fnvault configs, runs the binary and
checks what it reports, what it archived and what the sim saw.

Prints `PASS <scenario>` / `FAIL <scenario>: <why>` and `N passed, M failed`.
"""

import argparse
import hashlib
import http.client
import io
import json
import os
import secrets
import subprocess
import sys
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sim import crc64  # noqa: E402  (crcmod, OSS parameters)

ACCOUNT_ID = "1234567890123456"
OTHER_ACCOUNT_ID = "6543210987654321"

# Credentials the sim knows (fake).
TC = ("AKIDsimFnvaultPermanent0001", "SimTencentSecretKey0001abcdefgh")
TC_STS = ("AKIDsimFnvaultTemporary0001", "SimTencentTmpSecretKey0001", "tc-sts-token+with/odd=chars")
ALI_ACS3 = ("LTAI5tSimFnvaultAcs3", "SimAliyunSecretAcs3Key0001")
ALI_FC = ("LTAI5tSimFnvaultFcSch", "SimAliyunSecretFcScheme0001")
ALI_STS = ("STS.SimFnvaultAcs3Tmp", "SimAliyunStsSecretAcs3", "CAIS+ali/sts=Token==")
ALI_STS_FC = ("STS.SimFnvaultFcTmp", "SimAliyunStsSecretFc", "CAIS+ali/sts=FcToken==")


def make_zip(label, size_hint=2000):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("index.py", "# %s\ndef handler(event, context):\n    return %r\n" % (label, label))
        z.writestr("data.bin", os.urandom(size_hint))
    return buf.getvalue()


class World:
    def __init__(self, workdir, port, binary):
        self.dir = workdir
        self.port = port
        self.bin = binary
        self.endpoint = "http://127.0.0.1:%d" % port
        self.state_path = os.path.join(workdir, "state.json")
        self.log_path = os.path.join(workdir, "requests.jsonl")
        self.pkg_dir = os.path.join(workdir, "packages")
        self.fv_dir = os.path.join(workdir, "fnvault")
        os.makedirs(self.pkg_dir, exist_ok=True)
        os.makedirs(self.fv_dir, exist_ok=True)
        self.pkgs = {}
        # sim-side functions: id -> dict (cloud, fields)
        self.fns = {
            "scf-order": {"cloud": "tencent", "region": "ap-guangzhou", "namespace": "default",
                          "name": "order-api", "qualifier": "$LATEST"},
            "scf-report": {"cloud": "tencent", "region": "ap-shanghai", "namespace": "batch",
                           "name": "report-job"},
            "fc-checkout": {"cloud": "aliyun", "account_id": ACCOUNT_ID, "region": "cn-shanghai",
                            "service": "orders", "name": "checkout", "qualifier": "LATEST"},
            "fc-refund": {"cloud": "aliyun", "account_id": OTHER_ACCOUNT_ID, "region": "cn-hangzhou",
                          "service": "payments", "name": "refund"},
            # FC 3.0 (API 2023-03-30): no service. Only scenario g's config names them.
            "fc3-resize": {"cloud": "aliyun3", "account_id": ACCOUNT_ID, "region": "cn-hangzhou",
                           "name": "resize"},
            "fc3-thumbs": {"cloud": "aliyun3", "account_id": ACCOUNT_ID, "region": "cn-hangzhou",
                           "name": "thumbs", "qualifier": "prod"},
            "fc3-img-a": {"cloud": "aliyun3", "account_id": ACCOUNT_ID, "region": "cn-hangzhou",
                          "name": "img-a"},
            "fc3-img-b": {"cloud": "aliyun3", "account_id": ACCOUNT_ID, "region": "cn-hangzhou",
                          "name": "img-b"},
            "fc3-other": {"cloud": "aliyun3", "account_id": ACCOUNT_ID, "region": "cn-hangzhou",
                          "name": "other"},
        }
        # Layer versions the sim serves (scenario i): {name, version, package_file, _data}.
        self.layers = []
        for fid in self.fns:
            self.deploy(fid, write=False)
        self.write_state()
        with open(os.open(os.path.join(self.fv_dir, "tc.key"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(TC[1] + "\n")
        with open(os.open(os.path.join(self.fv_dir, "ali.key"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(ALI_ACS3[1] + "\n")
        with open(os.open(os.path.join(self.fv_dir, "tc-sts.token"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(TC_STS[2] + "\n")

    # -- sim state
    def deploy(self, fid, write=True):
        n = sum(1 for k in self.pkgs if k[0] == fid) + 1
        data = make_zip("%s v%d" % (fid, n), 1000 + 997 * n)
        path = os.path.join(self.pkg_dir, "%s-v%d.zip" % (fid, n))
        with open(path, "wb") as f:
            f.write(data)
        self.pkgs[(fid, n)] = data
        self.fns[fid]["package_file"] = path
        self.fns[fid]["_data"] = data
        if write:
            self.write_state()
        return data

    def set_corrupt(self, fid, value):
        self.fns[fid]["corrupt"] = value
        self.write_state()

    def write_state(self):
        def clean(d):
            return {k: v for k, v in d.items() if k not in ("cloud", "_data")}
        state = {
            "tencent": {
                "credentials": [
                    {"secret_id": TC[0], "secret_key": TC[1]},
                    {"secret_id": TC_STS[0], "secret_key": TC_STS[1], "token": TC_STS[2]},
                ],
                "functions": [clean(f) for f in self.fns.values() if f["cloud"] == "tencent"],
                "aliases": getattr(self, "aliases", {}).get("tencent", []),
            },
            "aliyun": {
                "credentials": [
                    {"access_key_id": ALI_ACS3[0], "access_key_secret": ALI_ACS3[1]},
                    {"access_key_id": ALI_FC[0], "access_key_secret": ALI_FC[1]},
                    {"access_key_id": ALI_STS[0], "access_key_secret": ALI_STS[1], "security_token": ALI_STS[2]},
                    {"access_key_id": ALI_STS_FC[0], "access_key_secret": ALI_STS_FC[1],
                     "security_token": ALI_STS_FC[2]},
                ],
                "functions": [clean(f) for f in self.fns.values() if f["cloud"] == "aliyun"],
                "functions_v3": [clean(f) for f in self.fns.values() if f["cloud"] == "aliyun3"],
                "aliases_v3": getattr(self, "aliases", {}).get("aliyun3", []),
            },
            "layers": [clean(l) for l in self.layers],
        }
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f, indent=1)
        os.replace(tmp, self.state_path)

    def stats(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/_sim/stats")
        data = json.loads(conn.getresponse().read())
        conn.close()
        return data

    def log_entries(self):
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path) as f:
            return [json.loads(x) for x in f if x.strip()]

    # -- fnvault config
    def config(self, name, extra_accounts="", extra_functions=""):
        ep = self.endpoint
        text = f'''# written by tests/sdk-sim/scenarios.py
[archive]
dir = "archive"

[database]
path = "fnvault.db"

[[accounts]]
name = "tc"
cloud = "tencent"
endpoint = "{ep}"
secret_id = "{TC[0]}"
secret_key_file = "tc.key"

[[accounts]]
name = "ali"
cloud = "aliyun"
account_id = "{ACCOUNT_ID}"
endpoint = "{ep}"
access_key_id = "{ALI_ACS3[0]}"
access_key_secret_file = "ali.key"

[[accounts]]
name = "alifc"
cloud = "aliyun"
account_id = "{OTHER_ACCOUNT_ID}"
endpoint = "{ep}"
access_key_id = "{ALI_FC[0]}"
access_key_secret_env = "FNVAULT_SIM_ALIFC_SECRET"
signature = "fc"
{extra_accounts}
[[functions]]
account = "tc"
region = "ap-guangzhou"
namespace = "default"
name = "order-api"
qualifier = "$LATEST"

[[functions]]
account = "tc"
region = "ap-shanghai"
namespace = "batch"
name = "report-job"

[[functions]]
account = "ali"
region = "cn-shanghai"
service = "orders"
name = "checkout"
qualifier = "LATEST"

[[functions]]
account = "alifc"
region = "cn-hangzhou"
service = "payments"
name = "refund"
{extra_functions}'''
        path = os.path.join(self.fv_dir, name)
        # Owner-only: some scenarios write a secret inline, and fnvault refuses a config
        # readable by others that holds one.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return path

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        env["FNVAULT_SIM_ALIFC_SECRET"] = ALI_FC[1]
        env["FNVAULT_SIM_TC_STS_KEY"] = TC_STS[1]
        return env

    def run(self, config, *args, timeout=300):
        cmd = [self.bin, "--config", config] + list(args)
        t0 = time.time()
        p = subprocess.run(cmd, env=self.env(), cwd=self.fv_dir, capture_output=True, timeout=timeout)
        return Run(cmd, p, time.time() - t0)

    def list_json(self, config):
        r = self.run(config, "list", "--json")
        if r.code != 0:
            raise Check("`list --json` exited %d: %s" % (r.code, r.tail()))
        try:
            arr = json.loads(r.stdout)
        except ValueError as e:
            raise Check("`list --json` printed no JSON (%s): %r" % (e, r.stdout[:300]))
        if not isinstance(arr, list):
            raise Check("`list --json` is not a JSON array")
        return {o.get("function"): o for o in arr}

    def tmp_files(self):
        tmp = os.path.join(self.fv_dir, "archive", "tmp")
        out = []
        for root, _, files in os.walk(tmp):
            out.extend(os.path.join(root, f) for f in files)
        return out


class Run:
    def __init__(self, cmd, p, secs):
        self.cmd = cmd
        self.code = p.returncode
        self.stdout = p.stdout.decode("utf-8", "replace")
        self.stderr = p.stderr.decode("utf-8", "replace")
        self.secs = secs

    def tail(self, n=800):
        s = self.stderr.strip()
        return ("..." + s[-n:]) if len(s) > n else s


class Check(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise Check(msg)


KEYS = {
    "scf-order": "tc/ap-guangzhou/default/order-api",
    "scf-report": "tc/ap-shanghai/batch/report-job",
    "fc-checkout": "ali/cn-shanghai/orders/checkout",
    "fc-refund": "alifc/cn-hangzhou/payments/refund",
}
SCHEME_OF_AK = {ALI_ACS3[0]: "ACS3-HMAC-SHA256", ALI_FC[0]: "FC", ALI_STS[0]: "ACS3-HMAC-SHA256",
                ALI_STS_FC[0]: "FC", TC[0]: "TC3-HMAC-SHA256", TC_STS[0]: "TC3-HMAC-SHA256"}


def sha(b):
    return hashlib.sha256(b).hexdigest()


def check_function(listing, key, data, versions):
    o = listing.get(key)
    expect(o is not None, "`list --json` has no entry %r (has %s)" % (key, sorted(k for k in listing if k)))
    expect(o.get("versions") == versions, "%s: versions %r, expected %d" % (key, o.get("versions"), versions))
    expect(o.get("latest_sha256") == sha(data), "%s: latest_sha256 %r, expected %s" % (
        key, o.get("latest_sha256"), sha(data)))
    expect(o.get("latest_size") == len(data), "%s: latest_size %r, expected %d" % (
        key, o.get("latest_size"), len(data)))
    expect(o.get("last_error") in (None, ""), "%s: last_error %r" % (key, o.get("last_error")))
    expect(o.get("last_checked") not in (None, ""), "%s: last_checked not set" % key)


def check_requests(entries, since):
    """Every API request since `since` was verified and used the account's scheme."""
    new = entries[since:]
    api = [e for e in new if e["kind"] == "api"]
    expect(api, "the sim received no API request")
    bad = [e for e in api if not e["verified"]]
    expect(not bad, "the SDK verifier rejected %d request(s), first: %s %s %s (see sim.stderr)" % (
        len(bad), bad[0].get("scheme"), bad[0].get("code"), bad[0].get("function")) if bad else "")
    for e in api:
        want = SCHEME_OF_AK.get(e.get("access_key_id"))
        expect(want is None or e["scheme"] == want, "%s sent with scheme %s, expected %s" % (
            e.get("access_key_id"), e["scheme"], want))
    return api


def scenario_a(w, cfg):
    n0 = len(w.log_entries())
    d0 = w.stats()["downloads"]
    r = w.run(cfg, "sync")
    expect(r.code == 0, "sync exited %d: %s" % (r.code, r.tail()))
    api = check_requests(w.log_entries(), n0)
    schemes = {e["scheme"] for e in api}
    expect({"TC3-HMAC-SHA256", "ACS3-HMAC-SHA256", "FC"} <= schemes, "schemes seen: %s" % sorted(schemes))
    listing = w.list_json(cfg)
    for fid, key in KEYS.items():
        check_function(listing, key, w.fns[fid]["_data"], 1)
    expect(w.stats()["downloads"] - d0 == 4, "sim served %d downloads, expected 4" % (w.stats()["downloads"] - d0))
    expect(not w.tmp_files(), "files left in archive/tmp: %s" % w.tmp_files())


def scenario_b(w, cfg):
    n0 = len(w.log_entries())
    d0 = w.stats()["downloads"]
    r = w.run(cfg, "sync")
    expect(r.code == 0, "sync exited %d: %s" % (r.code, r.tail()))
    check_requests(w.log_entries(), n0)
    d = w.stats()["downloads"] - d0
    expect(d == 0, "second sync downloaded %d package(s)" % d)
    listing = w.list_json(cfg)
    for fid, key in KEYS.items():
        check_function(listing, key, w.fns[fid]["_data"], 1)


def scenario_c(w, cfg):
    old = w.fns["scf-order"]["_data"]
    new = w.deploy("scf-order")
    expect(sha(old) != sha(new), "redeploy made the same package")
    d0 = w.stats()["downloads"]
    r = w.run(cfg, "sync")
    expect(r.code == 0, "sync exited %d: %s" % (r.code, r.tail()))
    d = w.stats()["downloads"] - d0
    expect(d == 1, "sync after one redeploy downloaded %d package(s), expected 1" % d)
    listing = w.list_json(cfg)
    check_function(listing, KEYS["scf-order"], new, 2)
    for fid in ("scf-report", "fc-checkout", "fc-refund"):
        check_function(listing, KEYS[fid], w.fns[fid]["_data"], 1)


def scenario_d(w, cfg):
    # Redeploy (so fnvault must download) and serve bytes that do not match the CRC-64.
    before = w.list_json(cfg)[KEYS["fc-checkout"]]
    old = w.fns["fc-checkout"]["_data"]
    w.deploy("fc-checkout", write=False)
    w.set_corrupt("fc-checkout", True)
    try:
        _scenario_d_corrupt(w, cfg, old, before)
    finally:
        w.set_corrupt("fc-checkout", False)  # later scenarios must not inherit it
    # the same package served intact archives it
    r = w.run(cfg, "sync")
    expect(r.code == 0, "sync after the corruption was repaired exited %d: %s" % (r.code, r.tail()))
    check_function(w.list_json(cfg), KEYS["fc-checkout"], w.fns["fc-checkout"]["_data"], 2)


def _scenario_d_corrupt(w, cfg, old, before):
    d0 = w.stats()["downloads"]
    r = w.run(cfg, "sync")
    expect(r.code == 1, "sync exited %d, expected 1: %s" % (r.code, r.tail()))
    expect(w.stats()["downloads"] - d0 >= 1, "the corrupt package was never downloaded")
    listing = w.list_json(cfg)
    o = listing.get(KEYS["fc-checkout"]) or {}
    expect(o.get("last_error"), "%s: last_error not set after a corrupt download" % KEYS["fc-checkout"])
    expect(o.get("versions") == before.get("versions") == 1, "%s: versions %r (was %r)" % (
        KEYS["fc-checkout"], o.get("versions"), before.get("versions")))
    expect(o.get("latest_sha256") == sha(old), "%s: latest_sha256 changed to %r" % (
        KEYS["fc-checkout"], o.get("latest_sha256")))
    expect(not w.tmp_files(), "files left in archive/tmp: %s" % w.tmp_files())
    check_function(listing, KEYS["scf-order"], w.fns["scf-order"]["_data"], 2)
    for fid in ("scf-report", "fc-refund"):
        check_function(listing, KEYS[fid], w.fns[fid]["_data"], 1)


def scenario_e(w):
    accounts = f'''
[[accounts]]
name = "tcbad"
cloud = "tencent"
endpoint = "{w.endpoint}"
secret_id = "{TC[0]}"
secret_key = "NotTheRightTencentSecretKey00"

[[accounts]]
name = "alibad"
cloud = "aliyun"
account_id = "{ACCOUNT_ID}"
endpoint = "{w.endpoint}"
access_key_id = "{ALI_ACS3[0]}"
access_key_secret = "NotTheRightAliyunSecret000"
'''
    functions = '''
[[functions]]
account = "tc"
region = "ap-guangzhou"
namespace = "default"
name = "no-such-function"

[[functions]]
account = "ali"
region = "cn-shanghai"
service = "orders"
name = "no_such_function"

[[functions]]
account = "tcbad"
region = "ap-guangzhou"
namespace = "default"
name = "order-api"

[[functions]]
account = "alibad"
region = "cn-shanghai"
service = "orders"
name = "checkout"
qualifier = "LATEST"
'''
    cfg = w.config("fnvault-e.toml", accounts, functions)
    r = w.run(cfg, "sync")
    expect(r.code == 1, "sync exited %d, expected 1: %s" % (r.code, r.tail()))
    listing = w.list_json(cfg)
    want = {
        "tc/ap-guangzhou/default/no-such-function": "ResourceNotFound.Function",
        "ali/cn-shanghai/orders/no_such_function": "FunctionNotFound",
        "tcbad/ap-guangzhou/default/order-api": "AuthFailure.SignatureFailure",
        "alibad/cn-shanghai/orders/checkout": "SignatureNotMatch",
    }
    for key, code in want.items():
        o = listing.get(key)
        expect(o is not None, "`list --json` has no entry %r" % key)
        expect(code in (o.get("last_error") or ""), "%s: last_error %r does not contain %s" % (
            key, o.get("last_error"), code))
        expect(not o.get("versions"), "%s: versions %r" % (key, o.get("versions")))
    versions = {"scf-order": 2, "scf-report": 1, "fc-checkout": 2, "fc-refund": 1}
    for fid, key in KEYS.items():
        check_function(listing, key, w.fns[fid]["_data"], versions[fid])


def scenario_f(w):
    accounts = f'''
[[accounts]]
name = "tcsts"
cloud = "tencent"
endpoint = "{w.endpoint}"
secret_id = "{TC_STS[0]}"
secret_key_env = "FNVAULT_SIM_TC_STS_KEY"
session_token_file = "tc-sts.token"

[[accounts]]
name = "alists"
cloud = "aliyun"
account_id = "{ACCOUNT_ID}"
endpoint = "{w.endpoint}"
access_key_id = "{ALI_STS[0]}"
access_key_secret = "{ALI_STS[1]}"
security_token = "{ALI_STS[2]}"

[[accounts]]
name = "alistsfc"
cloud = "aliyun"
account_id = "{OTHER_ACCOUNT_ID}"
endpoint = "{w.endpoint}"
access_key_id = "{ALI_STS_FC[0]}"
access_key_secret = "{ALI_STS_FC[1]}"
security_token = "{ALI_STS_FC[2]}"
signature = "fc"
'''
    functions = '''
[[functions]]
account = "tcsts"
region = "ap-shanghai"
namespace = "batch"
name = "report-job"

[[functions]]
account = "alists"
region = "cn-shanghai"
service = "orders"
name = "checkout"
qualifier = "LATEST"

[[functions]]
account = "alistsfc"
region = "cn-hangzhou"
service = "payments"
name = "refund"
'''
    cfg = w.config("fnvault-f.toml", accounts, functions)
    n0 = len(w.log_entries())
    r = w.run(cfg, "sync")
    expect(r.code == 0, "sync exited %d: %s" % (r.code, r.tail()))
    api = check_requests(w.log_entries(), n0)
    for ak, scheme in ((TC_STS[0], "TC3-HMAC-SHA256"), (ALI_STS[0], "ACS3-HMAC-SHA256"),
                       (ALI_STS_FC[0], "FC")):
        mine = [e for e in api if e.get("access_key_id") == ak]
        expect(mine, "no request with the temporary key %s" % ak)
        expect(all(e["verified"] and e.get("sts") and e["scheme"] == scheme for e in mine),
               "temporary key %s: %s" % (ak, mine[0]))
    listing = w.list_json(cfg)
    check_function(listing, "tcsts/ap-shanghai/batch/report-job", w.fns["scf-report"]["_data"], 1)
    check_function(listing, "alists/cn-shanghai/orders/checkout", w.fns["fc-checkout"]["_data"], 1)
    check_function(listing, "alistsfc/cn-hangzhou/payments/refund", w.fns["fc-refund"]["_data"], 1)


FC3_KEYS = {
    "fc3-resize": "ali/cn-hangzhou/resize",
    "fc3-thumbs": "alists/cn-hangzhou/thumbs@prod",
    "fc3-img-a": "ali/cn-hangzhou/img-a",
    "fc3-img-b": "ali/cn-hangzhou/img-b",
}


def scenario_g(w):
    """FC 3.0: explicit functions (permanent and STS keys) and an fc_version = "3.0" rule.

    Its own folder, archive and database, so the counts of a-f stay as they are. The
    sim's 3.0 ListFunctions shows the FC 2.0 functions too (as service$function) unless
    fnvault asks for fcVersion=v3.
    """
    d = os.path.join(w.fv_dir, "fc3")
    os.makedirs(d, exist_ok=True)
    # 0600 like the other key files: fnvault refuses a key file others can read.
    with open(os.open(os.path.join(d, "ali.key"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(ALI_ACS3[1] + "\n")

    def config(name, extra=""):
        path = os.path.join(d, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f'''# written by tests/sdk-sim/scenarios.py (scenario g, FC 3.0)
[archive]
dir = "archive"

[database]
path = "fnvault.db"

[[accounts]]
name = "ali"
cloud = "aliyun"
account_id = "{ACCOUNT_ID}"
endpoint = "{w.endpoint}"
access_key_id = "{ALI_ACS3[0]}"
access_key_secret_file = "ali.key"

[[accounts]]
name = "alists"
cloud = "aliyun"
account_id = "{ACCOUNT_ID}"
endpoint = "{w.endpoint}"
access_key_id = "{ALI_STS[0]}"
access_key_secret = "{ALI_STS[1]}"
security_token = "{ALI_STS[2]}"

# No `service`: FC 3.0 functions.
[[functions]]
account = "ali"
region = "cn-hangzhou"
name = "resize"

[[functions]]
account = "alists"
region = "cn-hangzhou"
name = "thumbs"
qualifier = "prod"

[[discover]]
account = "ali"
regions = ["cn-hangzhou"]
fc_version = "3.0"
include = ["img-*"]
{extra}''')
        return path

    cfg = config("fnvault-g.toml")
    n0 = len(w.log_entries())
    d0 = w.stats()["downloads"]
    r = w.run(cfg, "sync")
    expect(r.code == 0, "sync exited %d: %s" % (r.code, r.tail()))
    api = check_requests(w.log_entries(), n0)
    fc3 = [e for e in api if e.get("api") == "2023-03-30"]
    expect(len(fc3) == len(api), "%d request(s) did not go to the 3.0 API" % (len(api) - len(fc3)))
    expect(all(e["scheme"] == "ACS3-HMAC-SHA256" for e in fc3), "a 3.0 request not signed with ACS3")
    actions = {e["action"] for e in fc3}
    want = {"GetFunctionCode", "ListFunctions", "GetFunction", "ListTriggers"}
    expect(actions == want, "3.0 actions seen: %s, expected %s" % (sorted(actions), sorted(want)))
    expect(any(e.get("sts") for e in fc3), "no 3.0 request with the STS key")
    listing = w.list_json(cfg)
    expect(sorted(k for k in listing if k) == sorted(FC3_KEYS.values()),
           "keys %s, expected exactly %s (FC 2.0 functions must not be listed through 3.0)"
           % (sorted(k for k in listing if k), sorted(FC3_KEYS.values())))
    for fid, key in FC3_KEYS.items():
        check_function(listing, key, w.fns[fid]["_data"], 1)
    expect(w.stats()["downloads"] - d0 == 4, "sim served %d downloads, expected 4"
           % (w.stats()["downloads"] - d0))

    d0 = w.stats()["downloads"]
    r = w.run(cfg, "sync")
    expect(r.code == 0, "second sync exited %d: %s" % (r.code, r.tail()))
    expect(w.stats()["downloads"] == d0, "second sync downloaded %d package(s)" % (w.stats()["downloads"] - d0))

    new = w.deploy("fc3-thumbs")
    r = w.run(cfg, "sync")
    expect(r.code == 0, "sync after a redeploy exited %d: %s" % (r.code, r.tail()))
    expect(w.stats()["downloads"] == d0 + 1, "a 3.0 redeploy downloaded %d package(s), expected 1"
           % (w.stats()["downloads"] - d0))
    check_function(w.list_json(cfg), FC3_KEYS["fc3-thumbs"], new, 2)

    cfg2 = config("fnvault-g2.toml", '\n[[functions]]\naccount = "ali"\nregion = "cn-hangzhou"\nname = "nope"\n')
    r = w.run(cfg2, "sync")
    expect(r.code == 1, "sync with an unknown 3.0 function exited %d: %s" % (r.code, r.tail()))
    err = (w.list_json(cfg2).get("ali/cn-hangzhou/nope") or {}).get("last_error") or ""
    expect("FunctionNotFound" in err and "404" in err and "request id 1-" in err,
           "last_error of the unknown 3.0 function: %r" % err)


def _history(w, cfg, fid):
    r = w.run(cfg, "history", KEYS[fid], "--json")
    expect(r.code == 0, "`history %s --json` exited %d: %s" % (KEYS[fid], r.code, r.tail()))
    try:
        versions = json.loads(r.stdout)["versions"]
    except (ValueError, KeyError, TypeError) as e:
        raise Check("`history %s --json` has no versions array (%s)" % (KEYS[fid], e))
    return sorted(versions, key=lambda v: v["version"]), r


def scenario_h(w, cfg):
    """A configuration-only change (an environment variable's value) on an SCF and an FC 2.0
    function: exactly one new version each, marked config_changed and not code_changed, no
    package downloaded, and neither the old nor the new value anywhere in fnvault's output,
    archive or database."""
    old_value = "h-old-" + secrets.token_hex(12)
    new_value = "h-new-" + secrets.token_hex(12)
    targets = ("scf-report", "fc-checkout")
    seen = []  # every byte fnvault printed
    for fid in targets:
        w.fns[fid]["config"] = {"env": {"API_TOKEN": old_value, "MODE": "h"}}
    w.write_state()
    # Settle: whatever earlier scenarios left, plus the variable's first appearance.
    r = w.run(cfg, "sync")
    seen += [r.stdout, r.stderr]
    expect(r.code == 0, "settling sync exited %d: %s" % (r.code, r.tail()))
    before = {fid: _history(w, cfg, fid)[0] for fid in targets}

    for fid, modified in zip(targets, ("2026-12-06 12:00:00", "2026-12-06T04:00:00Z")):
        w.fns[fid]["config"]["env"]["API_TOKEN"] = new_value
        w.fns[fid]["config"]["modified"] = modified
    w.write_state()
    n0 = len(w.log_entries())
    d0 = w.stats()["downloads"]
    r = w.run(cfg, "sync")
    seen += [r.stdout, r.stderr]
    expect(r.code == 0, "sync after a configuration change exited %d: %s" % (r.code, r.tail()))
    api = check_requests(w.log_entries(), n0)
    actions = {e["action"] for e in api}
    for want in ("GetFunction", "GetService", "ListTriggers"):
        expect(want in actions, "no %s request in the sync (saw %s)" % (want, sorted(a for a in actions if a)))
    d = w.stats()["downloads"] - d0
    expect(d == 0, "a configuration-only change downloaded %d package(s)" % d)
    for fid in targets:
        after, hr = _history(w, cfg, fid)
        seen += [hr.stdout, hr.stderr]
        expect(len(after) == len(before[fid]) + 1, "%s: %d versions after a configuration change, expected %d"
               % (KEYS[fid], len(after), len(before[fid]) + 1))
        last = after[-1]
        expect(last.get("config_changed") is True and last.get("code_changed") is False,
               "%s: newest version has code_changed=%r config_changed=%r, expected false/true"
               % (KEYS[fid], last.get("code_changed"), last.get("config_changed")))
        expect(last.get("sha256") == sha(w.fns[fid]["_data"]), "%s: newest version's package changed" % KEYS[fid])
        expect(last.get("cloud_modified") == w.fns[fid]["config"]["modified"],
               "%s: cloud_modified %r, expected the cloud's %r" % (KEYS[fid], last.get("cloud_modified"),
                                                                  w.fns[fid]["config"]["modified"]))
        sr = w.run(cfg, "show", KEYS[fid], "--json")
        seen += [sr.stdout, sr.stderr]
        expect(sr.code == 0, "`show %s --json` exited %d: %s" % (KEYS[fid], sr.code, sr.tail()))
        expect("API_TOKEN" in sr.stdout, "%s: `show --json` does not name the variable" % KEYS[fid])
    # The same configuration read again is not a change.
    r = w.run(cfg, "sync")
    seen += [r.stdout, r.stderr]
    expect(r.code == 0, "third sync exited %d: %s" % (r.code, r.tail()))
    for fid in targets:
        n = len(_history(w, cfg, fid)[0])
        expect(n == len(before[fid]) + 1, "%s: an unchanged configuration made a new version (%d)" % (KEYS[fid], n))
    # No clear value anywhere: output, archive, database (and its WAL), whatever fnvault wrote.
    for value in (old_value, new_value):
        expect(not any(value in t for t in seen), "an environment value appeared in fnvault's output")
        for root, _, files in os.walk(w.fv_dir):
            for name in files:
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    expect(value.encode() not in f.read(), "an environment value is in clear in %s"
                           % os.path.relpath(path, w.fv_dir))


def scenario_i(w):
    """Layers and container images, in their own archive: an SCF, an FC 2.0 and an FC 3.0
    function each use layer i-deps version 1 (SCF by name, FC by ARN), an SCF and an FC 3.0
    function are container images. Every request (GetLayerVersion included, on all three
    APIs) is accepted by the SDK verifiers; each layer key is downloaded once and its bytes
    recorded; the image functions are archived as images with no package call; a second sync
    makes no GetLayerVersion and downloads nothing."""
    d = os.path.join(w.fv_dir, "layers")
    os.makedirs(d, exist_ok=True)
    for name, secret in (("tc.key", TC[1]), ("ali.key", ALI_ACS3[1])):
        with open(os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(secret + "\n")
    layer = make_zip("layer i-deps 1", 1500)
    lpath = os.path.join(w.pkg_dir, "i-deps-1.zip")
    with open(lpath, "wb") as f:
        f.write(layer)
    w.layers.append({"name": "i-deps", "version": 1, "package_file": lpath, "_data": layer})
    uses = {"config": {"layers": [["i-deps", 1]]}}
    w.fns.update({
        "i-scf": {"cloud": "tencent", "region": "ap-guangzhou", "namespace": "default",
                  "name": "i-layered", **uses},
        "i-fc2": {"cloud": "aliyun", "account_id": ACCOUNT_ID, "region": "cn-shanghai",
                  "service": "isvc", "name": "i-layered", **uses},
        "i-fc3": {"cloud": "aliyun3", "account_id": ACCOUNT_ID, "region": "cn-hangzhou",
                  "name": "i-layered", **uses},
        "i-scf-img": {"cloud": "tencent", "region": "ap-guangzhou", "namespace": "default",
                      "name": "i-image",
                      "config": {"image": "ccr.ccs.tencentyun.com/shop/i-image:v1@sha256:" + "a" * 64}},
        "i-fc3-img": {"cloud": "aliyun3", "account_id": ACCOUNT_ID, "region": "cn-hangzhou",
                      "name": "i-image", "config": {"image": "registry.cn-hangzhou.aliyuncs.com/shop/i-image:v1",
                                                    "image_digest": "sha256:" + "b" * 64}},
    })
    for fid in ("i-scf", "i-fc2", "i-fc3", "i-scf-img", "i-fc3-img"):
        w.deploy(fid, write=False)
    w.write_state()
    cfg = os.path.join(d, "fnvault.toml")
    fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f'''# written by tests/sdk-sim/scenarios.py (scenario i, layers and images)
[archive]
dir = "archive"

[database]
path = "fnvault.db"

[[accounts]]
name = "tc"
cloud = "tencent"
endpoint = "{w.endpoint}"
secret_id = "{TC[0]}"
secret_key_file = "tc.key"

[[accounts]]
name = "ali"
cloud = "aliyun"
account_id = "{ACCOUNT_ID}"
endpoint = "{w.endpoint}"
access_key_id = "{ALI_ACS3[0]}"
access_key_secret_file = "ali.key"

[[functions]]
account = "tc"
region = "ap-guangzhou"
namespace = "default"
name = "i-layered"

[[functions]]
account = "ali"
region = "cn-shanghai"
service = "isvc"
name = "i-layered"

[[functions]]
account = "ali"
region = "cn-hangzhou"
name = "i-layered"

[[functions]]
account = "tc"
region = "ap-guangzhou"
namespace = "default"
name = "i-image"

[[functions]]
account = "ali"
region = "cn-hangzhou"
name = "i-image"
''')

    def run(*args):
        cmd = [w.bin, "--config", cfg] + list(args)
        p = subprocess.run(cmd, env=w.env(), cwd=d, capture_output=True, timeout=300)
        return Run(cmd, p, 0)

    n0 = len(w.log_entries())
    r = run("sync")
    expect(r.code == 0, "sync exited %d: %s" % (r.code, r.tail()))
    entries = w.log_entries()[n0:]
    api = check_requests(w.log_entries(), n0)
    layer_calls = [e for e in api if e["action"] == "GetLayerVersion"]
    clouds = sorted({(e["cloud"], e.get("api", "2021-04-06" if e["cloud"] == "aliyun" else "")) for e in layer_calls})
    expect(len(layer_calls) == 3 and len(clouds) == 3,
           "GetLayerVersion calls: %s, expected one each on SCF, FC 2.0 and FC 3.0" % clouds)
    layer_dl = [e for e in entries if e["kind"] == "download" and e.get("layer")]
    expect(len(layer_dl) == 3 and all(e["status"] == 200 for e in layer_dl),
           "layer downloads: %d, expected one per key (3)" % len(layer_dl))
    package_calls = [e for e in api if e["action"] in ("GetFunctionAddress", "GetFunctionCode")]
    expect(not any("i-image" in (e.get("function") or "") for e in package_calls),
           "a package call was made for an image function")
    keys = {"tc/ap-guangzhou/default/i-layered": "tc/ap-guangzhou/layer/i-deps/1",
            "ali/cn-shanghai/isvc/i-layered": "ali/cn-shanghai/layer/i-deps/1",
            "ali/cn-hangzhou/i-layered": "ali/cn-hangzhou/layer/i-deps/1"}
    for key, layer_key in keys.items():
        sr = run("show", key, "--json")
        expect(sr.code == 0, "`show %s --json` exited %d: %s" % (key, sr.code, sr.tail()))
        o = json.loads(sr.stdout)
        ls = o.get("layers") or []
        expect(len(ls) == 1 and ls[0].get("key") == layer_key and ls[0].get("sha256") == sha(layer)
               and ls[0].get("size") == len(layer) and ls[0].get("name") == "i-deps",
               "%s: layers %r" % (key, ls))
        expect(o.get("image") is None, "%s: image %r for a package function" % (key, o.get("image")))
    for key, ref in (("tc/ap-guangzhou/default/i-image", "ccr.ccs.tencentyun.com/shop/i-image:v1@sha256:" + "a" * 64),
                     ("ali/cn-hangzhou/i-image", "registry.cn-hangzhou.aliyuncs.com/shop/i-image@sha256:" + "b" * 64)):
        sr = run("show", key, "--json")
        expect(sr.code == 0, "`show %s --json` exited %d: %s" % (key, sr.code, sr.tail()))
        o = json.loads(sr.stdout)
        expect((o.get("image") or {}).get("reference") == ref, "%s: image %r, expected %s" % (key, o.get("image"), ref))
        expect((o.get("package") or {}).get("format") == "image", "%s: package %r" % (key, o.get("package")))
    # Layers are immutable: a second sync asks for none and downloads nothing.
    n1 = len(w.log_entries())
    r = run("sync")
    expect(r.code == 0, "second sync exited %d: %s" % (r.code, r.tail()))
    again = w.log_entries()[n1:]
    expect(not [e for e in again if e.get("action") == "GetLayerVersion"], "a known layer was asked for again")
    expect(not [e for e in again if e["kind"] == "download"], "the second sync downloaded something")


def scenario_j(w):
    """Published versions and aliases (issue 14), SCF and FC 3.0, in their own archive: with
    `versions = true` and `aliases = true` every published version is archived once under
    `<key>@<version>` and an alias's move is recorded with its weights; the listings
    (ListVersionByFunction, ListAliases; ListFunctionVersions, ListAliases) pass the SDK
    verifiers like every call; a further sync downloads nothing."""
    d = os.path.join(w.fv_dir, "versions")
    os.makedirs(d, exist_ok=True)
    for name, secret in (("tc.key", TC[1]), ("ali.key", ALI_ACS3[1])):
        with open(os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(secret + "\n")
    w.fns["j-scf"] = {"cloud": "tencent", "region": "ap-guangzhou", "namespace": "default", "name": "release-api"}
    w.fns["j-fc3"] = {"cloud": "aliyun3", "account_id": ACCOUNT_ID, "region": "cn-hangzhou", "name": "release3"}
    keys = {"j-scf": "tc/ap-guangzhou/default/release-api", "j-fc3": "ali/cn-hangzhou/release3"}
    w.aliases = {"tencent": [], "aliyun3": []}

    def publish(fid, version, stamp):
        w.fns["%s@%s" % (fid, version)] = dict(w.fns[fid], qualifier=version, mod_time=stamp)

    def alias(fid, main, weights):
        cloud = w.fns[fid]["cloud"]
        a = {"function": w.fns[fid]["name"], "name": "prod", "version": main, "weights": weights,
             "mod_time": "2026-12-06 10:00:00" if cloud == "tencent" else "2026-12-06T02:00:00Z"}
        w.aliases[cloud] = [x for x in w.aliases[cloud] if x["function"] != a["function"]] + [a]

    for fid in keys:
        w.deploy(fid, write=False)
        publish(fid, "1", "2026-12-05 10:00:00" if fid == "j-scf" else "2026-12-05T02:00:00Z")
        alias(fid, "1", {})
    w.write_state()
    path = os.path.join(d, "fnvault.toml")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f'''# written by tests/sdk-sim/scenarios.py (scenario j, versions and aliases)
[archive]
dir = "archive"

[database]
path = "fnvault.db"

[[accounts]]
name = "tc"
cloud = "tencent"
endpoint = "{w.endpoint}"
secret_id = "{TC[0]}"
secret_key_file = "tc.key"

[[accounts]]
name = "ali"
cloud = "aliyun"
account_id = "{ACCOUNT_ID}"
endpoint = "{w.endpoint}"
access_key_id = "{ALI_ACS3[0]}"
access_key_secret_file = "ali.key"

[[functions]]
account = "tc"
region = "ap-guangzhou"
name = "release-api"
versions = true
aliases = true

[[functions]]
account = "ali"
region = "cn-hangzhou"
name = "release3"
versions = true
aliases = true
''')

    def run(*args):
        cmd = [w.bin, "--config", path] + list(args)
        p = subprocess.run(cmd, env=w.env(), cwd=d, capture_output=True, timeout=300)
        return Run(cmd, p, 0)

    n0, d0 = len(w.log_entries()), w.stats()["downloads"]
    r = run("sync")
    expect(r.code == 0, "first sync exited %d: %s" % (r.code, r.tail()))
    api = check_requests(w.log_entries(), n0)
    actions = {e["action"] for e in api}
    for want in ("ListVersionByFunction", "ListAliases", "ListFunctionVersions"):
        expect(want in actions, "no %s request in the sync (saw %s)" % (want, sorted(a for a in actions if a)))
    got = w.stats()["downloads"] - d0
    expect(got == 4, "first sync downloaded %d packages, expected 4 (two functions, two versions 1)" % got)

    for fid in keys:
        w.deploy(fid, write=False)
        publish(fid, "2", "2026-12-06 10:00:00" if fid == "j-scf" else "2026-12-06T02:00:00Z")
        alias(fid, "1", {"2": 0.1})
    w.write_state()
    n0, d0 = len(w.log_entries()), w.stats()["downloads"]
    r = run("sync")
    expect(r.code == 0, "second sync exited %d: %s" % (r.code, r.tail()))
    check_requests(w.log_entries(), n0)
    got = w.stats()["downloads"] - d0
    expect(got == 4, "second sync downloaded %d packages, expected 4 (two functions, two versions 2)" % got)
    d0 = w.stats()["downloads"]
    r = run("sync")
    expect(r.code == 0, "third sync exited %d: %s" % (r.code, r.tail()))
    got = w.stats()["downloads"] - d0
    expect(got == 0, "an unchanged sync downloaded %d packages (published versions are immutable)" % got)

    for fid, key in keys.items():
        for version in ("1", "2"):
            r = run("history", "%s@%s" % (key, version), "--json")
            expect(r.code == 0, "`history %s@%s` exited %d: %s" % (key, version, r.code, r.tail()))
            versions = json.loads(r.stdout)["versions"]
            expect(len(versions) == 1, "%s@%s: %d archive versions, expected 1" % (key, version, len(versions)))
            expect(versions[0]["sha256"] == sha(w.pkgs[(fid, int(version))]),
                   "%s@%s: archived the wrong package" % (key, version))
        r = run("aliases", key, "--json")
        expect(r.code == 0, "`aliases %s` exited %d: %s" % (key, r.code, r.tail()))
        history = json.loads(r.stdout)[0]["history"]
        steps = [[(v["version"], v["weight"]) for v in s["versions"]] for s in history]
        expect(steps == [[("1", 0.9), ("2", 0.1)], [("1", 1.0)]],
               "%s: alias prod recorded as %r" % (key, steps))
        expect(history[0]["to"] is None and history[1]["to"] == history[0]["from"],
               "%s: alias states do not chain: %r" % (key, history))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bin", required=True)
    args = ap.parse_args()
    assert crc64(b"123456789") == 11051210869376104954

    w = World(args.workdir, args.port, args.bin)
    cfg = w.config("fnvault.toml")
    results = []
    scenarios = [
        ("a-first-sync-archives-all", lambda: scenario_a(w, cfg)),
        ("b-second-sync-downloads-nothing", lambda: scenario_b(w, cfg)),
        ("c-redeploy-downloads-one", lambda: scenario_c(w, cfg)),
        ("d-corrupt-download-rejected", lambda: scenario_d(w, cfg)),
        ("e-unknown-function-and-bad-key", lambda: scenario_e(w)),
        ("f-temporary-credentials", lambda: scenario_f(w)),
        ("g-fc3-functions-and-discovery", lambda: scenario_g(w)),
        ("h-config-only-change", lambda: scenario_h(w, cfg)),
        ("i-layers-and-images", lambda: scenario_i(w)),
        ("j-published-versions-and-aliases", lambda: scenario_j(w)),
    ]
    for name, fn in scenarios:
        try:
            fn()
            print("PASS %s" % name, flush=True)
            results.append(True)
        except Check as e:
            print("FAIL %s: %s" % (name, e), flush=True)
            results.append(False)
        except subprocess.TimeoutExpired as e:
            print("FAIL %s: fnvault timed out (%s)" % (name, " ".join(e.cmd[-2:])), flush=True)
            results.append(False)
        except Exception as e:
            print("FAIL %s: %s: %s" % (name, type(e).__name__, e), flush=True)
            results.append(False)
    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
