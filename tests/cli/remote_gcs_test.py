#!/usr/bin/env python3
"""gs:// with credentials files as Google's tools find them (issue 13), all
on 127.0.0.1: a token server (remote_servers.TokenServer) checks the
service account's JWT (RS256 signature verified with openssl against the
public half of a key made here) or the authorized_user's refresh grant and
issues tokens; the gs:// endpoint is a proxy in front of s3rver that serves
only requests with an issued bearer token. Covers: a service-account file
(GOOGLE_APPLICATION_CREDENTIALS) for metadata, restore and save; gcloud's
application default credentials (~/.config/gcloud and $CLOUDSDK_CONFIG);
GOOGLE_OAUTH_ACCESS_TOKEN taking precedence; a token renewed after a 401;
no credentials; bad files (exit 2, naming the file); a token endpoint that
refuses (exit 6); and never a key, secret or token on stderr.

usage: remote_gcs_test.py OCKPT GOLDEN_DIR [PROJECT_DIR]
Skips (77) when node, s3rver or the openssl command is missing."""
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Checks  # noqa: E402
import remote_servers as rs  # noqa: E402

OCKPT = os.path.abspath(sys.argv[1])
GOLDEN = os.path.abspath(sys.argv[2])
PROJECT = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

script, why = rs.s3rver_script(PROJECT)
if script is None:
    print("SKIP:", why)
    sys.exit(77)
if shutil.which("openssl") is None:
    print("SKIP: the openssl command is not installed (it verifies the JWT signatures)")
    sys.exit(77)

check = Checks()
work = tempfile.mkdtemp(prefix="ockpt-gcs-")
BUCKET = "bucket"
EMAIL = "ockpt-test@project.iam.gserviceaccount.com"
USER = ("client-id.apps.googleusercontent.com", "client+secret/1", "1//refresh-token-xyz")

key_pem = os.path.join(work, "key.pem")
subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key_pem],
               check=True, capture_output=True)
pub_pem = subprocess.run(["openssl", "pkey", "-in", key_pem, "-pubout"], check=True, capture_output=True).stdout.decode()
private_key = open(key_pem).read()

server = rs.S3Server(script, work, BUCKET)
tokens = rs.TokenServer(work, pub_pem, EMAIL, USER)
proxy = rs.FaultProxy(server.port, bearer_check=tokens.check_bearer)
home = os.path.join(work, "home")
os.makedirs(home)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


SA = write_json(os.path.join(work, "keys", "sa.json"), {
    "type": "service_account", "project_id": "project", "private_key_id": "0123abcd",
    "private_key": private_key, "client_email": EMAIL, "client_id": "1",
    "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": tokens.url})
# What `gcloud auth application-default login` writes (no token_uri: Google's
# default, which OCKPT_GCS_TOKEN_URI replaces here).
ADC = {"type": "authorized_user", "client_id": USER[0], "client_secret": USER[1], "refresh_token": USER[2],
       "account": "", "quota_project_id": "project", "universe_domain": "googleapis.com"}
SECRETS = [USER[1], USER[2], "PRIVATE KEY"] + [l for l in private_key.splitlines() if len(l) > 40][:3]


def env_for(**extra):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith(("AWS_", "OCKPT_", "GOOGLE_", "CLOUDSDK_")):
            del e[k]
    e.update({"HOME": home, "OCKPT_GCS_ENDPOINT": proxy.endpoint, "OCKPT_REMOTE_TIMEOUT": "20"})
    e.update(extra)
    return e


def run(args, env, timeout=120):
    p = subprocess.run([OCKPT, "--no-progress"] + args, capture_output=True, env=env, timeout=timeout)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    leaked = [s for s in SECRETS + list(tokens.issued) if s in err]
    check(not leaked, "%s: stderr quotes no key, secret or token (%s)" % (" ".join(args[:2]), leaked[:1]))
    return p.returncode, out, err


def same_tree(a, b):
    if not (os.path.isdir(a) and os.path.isdir(b)):
        return False
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(same_tree(os.path.join(a, d), os.path.join(b, d)) for d in cmp.common_dirs)


def same_arrays(a, b):
    """The same .npy files, byte for byte (_tree.json aside)."""
    def npys(d):
        out = {}
        for dirpath, _, files in os.walk(d):
            for f in files:
                if f.endswith(".npy"):
                    p = os.path.join(dirpath, f)
                    out[os.path.relpath(p, d)] = open(p, "rb").read()
        return out
    return os.path.isdir(a) and os.path.isdir(b) and len(npys(a)) > 0 and npys(a) == npys(b)


def grants_since(n):
    return tokens.grants[n:]


try:
    t = "orbax_compat/v0_checkpoints/direct_checkpoint/checkpoint_metadata_present/pytree_checkpointable_has_metadata"
    local = os.path.join(work, "ckpt")
    shutil.copytree(os.path.join(GOLDEN, t), local)
    with open(os.path.join(local, "commit_success.txt"), "w") as f:
        f.write("Checkpoint commit was successful")
    rs.upload_tree(server.endpoint, BUCKET, local, "ckpt")
    gs = "gs://%s/ckpt" % BUCKET
    _, local_json, _ = run(["metadata", "--json", local], env_for())
    local_items = json.loads(local_json)["items"]
    local_restore = os.path.join(work, "rl")
    run(["restore", local, local_restore], env_for())

    # --- a service-account file: one JWT grant, then bearer requests ---
    n = len(tokens.grants)
    sa_env = env_for(GOOGLE_APPLICATION_CREDENTIALS=SA)
    rc, out, err = run(["metadata", "--json", gs], sa_env)
    check(rc == 0 and json.loads(out or "{}").get("items") == local_items,
          "metadata --json gs:// with a service account: exit %d (%s)" % (rc, err.strip()[:300]))
    g = grants_since(n)
    check(g == [("urn:ietf:params:oauth:grant-type:jwt-bearer", None)],
          "one jwt-bearer grant, signature and claims good: %s" % g)
    check(proxy.unauthorized == 0, "no request was refused (%d)" % proxy.unauthorized)
    rr = os.path.join(work, "rr")
    rc, _, err = run(["restore", gs, rr], sa_env)
    check(rc == 0 and same_tree(local_restore, rr), "restore gs:// with a service account: exit %d (%s)" % (rc, err.strip()[:300]))
    # save (PUT, DELETE, listing) with the token, read back
    saved = "gs://%s/saved" % BUCKET
    rc, _, err = run(["save", local_restore, saved], sa_env)
    check(rc == 0, "save to gs:// with a service account: exit %d (%s)" % (rc, err.strip()[:300]))
    back = os.path.join(work, "back")
    rc, _, err = run(["restore", saved, back], sa_env)
    check(rc == 0 and same_arrays(local_restore, back), "restore of the gs:// save: exit %d (%s)" % (rc, err.strip()[:300]))

    # --- gcloud's application default credentials (authorized_user) ---
    adc_home = write_json(os.path.join(home, ".config", "gcloud", "application_default_credentials.json"), ADC)
    n = len(tokens.grants)
    adc_env = env_for(OCKPT_GCS_TOKEN_URI=tokens.url)
    rc, out, err = run(["metadata", "--json", gs], adc_env)
    check(rc == 0 and json.loads(out or "{}").get("items") == local_items,
          "metadata --json gs:// with ~/.config/gcloud ADC: exit %d (%s)" % (rc, err.strip()[:300]))
    check(grants_since(n) == [("refresh_token", None)], "one refresh_token grant: %s" % grants_since(n))
    os.remove(adc_home)
    cloudsdk = os.path.join(work, "gcloud-config")
    write_json(os.path.join(cloudsdk, "application_default_credentials.json"), ADC)
    n = len(tokens.grants)
    rc, _, err = run(["metadata", gs], env_for(OCKPT_GCS_TOKEN_URI=tokens.url, CLOUDSDK_CONFIG=cloudsdk))
    check(rc == 0 and grants_since(n) == [("refresh_token", None)],
          "metadata gs:// with $CLOUDSDK_CONFIG ADC: exit %d (%s) %s" % (rc, err.strip()[:300], grants_since(n)))

    # --- GOOGLE_OAUTH_ACCESS_TOKEN comes first: the file is not used ---
    n = len(tokens.grants)
    rc, _, err = run(["metadata", gs], env_for(GOOGLE_APPLICATION_CREDENTIALS=SA, GOOGLE_OAUTH_ACCESS_TOKEN="tok-1"))
    check(rc == 0 and grants_since(n) == [], "GOOGLE_OAUTH_ACCESS_TOKEN wins over the file: exit %d (%s)" % (rc, err.strip()[:200]))

    # --- a token refused (401) is renewed once per refusal ---
    tokens.uses = 3
    n = len(tokens.grants)
    proxy.reset_counts()
    rr2 = os.path.join(work, "rr2")
    # One request at a time: each token serves exactly 3 requests, so every
    # 401 is met by one renewal (concurrent requests could exhaust a fresh
    # token before a slow one uses it).
    rc, _, err = run(["restore", gs, rr2], dict(sa_env, OCKPT_REMOTE_REQUESTS="1"))
    renewed = len(grants_since(n))
    print("restore with tokens good for 3 requests: %d requests, %d refused, %d tokens" % (
        sum(proxy.counts.values()), proxy.unauthorized, renewed))
    check(rc == 0 and same_tree(local_restore, rr2), "restore with tokens renewed after 401: exit %d (%s)" % (rc, err.strip()[:300]))
    check(renewed > 1 and proxy.unauthorized > 0, "tokens were renewed (%d grants, %d refusals)" % (renewed, proxy.unauthorized))
    tokens.uses = None

    # --- no credentials: the bucket refuses, exit 6 naming the URL ---
    rc, _, err = run(["metadata", gs], env_for())
    check(rc == 6 and "401" in err and "127.0.0.1:%d" % proxy.port in err and len(err.strip().splitlines()) == 1,
          "no credentials: exit %d, one line with the 401 (%s)" % (rc, err.strip()[:300]))

    # --- bad files: exit 2 naming the file ---
    missing = os.path.join(work, "keys", "missing.json")
    rc, _, err = run(["metadata", gs], env_for(GOOGLE_APPLICATION_CREDENTIALS=missing))
    check(rc == 2 and missing in err, "a missing credentials file: exit %d (%s)" % (rc, err.strip()[:300]))
    broken = os.path.join(work, "keys", "broken.json")
    with open(broken, "w") as f:
        f.write(open(SA).read()[:-40])
    rc, _, err = run(["metadata", gs], env_for(GOOGLE_APPLICATION_CREDENTIALS=broken))
    check(rc == 2 and broken in err, "a truncated credentials file: exit %d (%s)" % (rc, err.strip()[:300]))
    sa = json.load(open(SA))
    del sa["client_email"]
    no_email = write_json(os.path.join(work, "keys", "no_email.json"), sa)
    rc, _, err = run(["metadata", gs], env_for(GOOGLE_APPLICATION_CREDENTIALS=no_email))
    check(rc == 2 and no_email in err and "client_email" in err, "a file without client_email: exit %d (%s)" % (rc, err.strip()[:300]))

    # --- the token endpoint refuses: exit 6, one line naming the file and the error ---
    wrong = write_json(os.path.join(work, "keys", "wrong.json"), dict(ADC, refresh_token="1//revoked", token_uri=tokens.url))
    rc, _, err = run(["metadata", gs], env_for(GOOGLE_APPLICATION_CREDENTIALS=wrong))
    check(rc == 6 and wrong in err and "invalid_grant" in err and len(err.strip().splitlines()) == 1,
          "a refused refresh token: exit %d (%s)" % (rc, err.strip()[:300]))
finally:
    proxy.stop()
    tokens.stop()
    server.stop()
    shutil.rmtree(work, ignore_errors=True)

check.exit()
