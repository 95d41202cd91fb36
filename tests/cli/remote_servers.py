"""Servers for the remote-path tests, all on 127.0.0.1 and started and
stopped by the tests: s3rver (npm, installed by scripts/setup.sh into
.deps/npm), a static http server with Range support, and a fault-injecting
reverse proxy (connection resets, 500s, 503 with Retry-After, slow
responses, truncated bodies). Also a minimal SigV4 client, independent of
ockpt's libcurl signing, to put and get objects."""
import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import os
import random
import shutil
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
import urllib.parse

ACCESS_KEY = "S3RVER"
SECRET_KEY = "S3RVER"
REGION = "us-east-1"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def s3rver_script(project_dir):
    """Path of s3rver's CLI, or None with a reason."""
    if shutil.which("node") is None:
        return None, "node is not installed (scripts/setup.sh installs nodejs and npm)"
    script = os.path.join(project_dir, ".deps", "npm", "node_modules", "s3rver", "bin", "s3rver.js")
    if not os.path.exists(script):
        return None, "s3rver is not installed (scripts/setup.sh: npm install --prefix .deps/npm s3rver)"
    return script, ""


class S3Server:
    """s3rver on a free loopback port with one bucket."""

    def __init__(self, script, workdir, bucket="bucket"):
        self.bucket = bucket
        self.port = free_port()
        self.dir = os.path.join(workdir, "s3rver-data")
        os.makedirs(self.dir, exist_ok=True)
        self.log = open(os.path.join(workdir, "s3rver.log"), "w")
        self.proc = subprocess.Popen(
            ["node", script, "-d", self.dir, "-a", "127.0.0.1", "-p", str(self.port),
             "--configure-bucket", bucket, "--no-vhost-buckets"],
            stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_port(self.port):
            self.stop()
            raise RuntimeError("s3rver did not start")
        self.endpoint = "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


# --- a SigV4 client (AWS's documented algorithm, written from the spec) ---

def _sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def s3_request(endpoint, method, path, query=None, body=b""):
    """One signed request; returns (status, headers, body)."""
    u = urllib.parse.urlparse(endpoint)
    host = u.netloc
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical_uri = urllib.parse.quote(path, safe="/-_.~")
    query = query or {}
    canonical_query = "&".join("%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
                               for k, v in sorted(query.items()))
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical = "\n".join([method, canonical_uri, canonical_query,
                           "".join("%s:%s\n" % (k, headers[k]) for k in sorted(headers)), signed, payload_hash])
    scope = "%s/%s/s3/aws4_request" % (date, REGION)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = _sign(("AWS4" + SECRET_KEY).encode(), date)
    k = _sign(_sign(_sign(k, REGION), "s3"), "aws4_request")
    sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        ACCESS_KEY, scope, signed, sig)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    target = canonical_uri + ("?" + canonical_query if canonical_query else "")
    conn.request(method, target, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), data


def upload_tree(endpoint, bucket, local_dir, prefix):
    """Puts every file below local_dir as bucket/prefix/<relative path>."""
    n = 0
    for dirpath, _, files in os.walk(local_dir):
        for f in files:
            p = os.path.join(dirpath, f)
            rel = os.path.relpath(p, local_dir).replace(os.sep, "/")
            with open(p, "rb") as fh:
                status, _, body = s3_request(endpoint, "PUT", "/%s/%s/%s" % (bucket, prefix, rel), body=fh.read())
            if status != 200:
                raise RuntimeError("PUT %s: %d %s" % (rel, status, body[:200]))
            n += 1
    return n


def list_keys(endpoint, bucket, prefix):
    keys = []
    token = None
    while True:
        q = {"list-type": "2", "prefix": prefix}
        if token:
            q["continuation-token"] = token
        status, _, body = s3_request(endpoint, "GET", "/" + bucket, q)
        if status != 200:
            raise RuntimeError("list: %d %s" % (status, body[:200]))
        text = body.decode()
        import re
        keys += [urllib.parse.unquote(k) if False else k for k in re.findall(r"<Key>([^<]*)</Key>", text)]
        if "<IsTruncated>true</IsTruncated>" not in text:
            return sorted(keys)
        token = re.search(r"<NextContinuationToken>([^<]*)</NextContinuationToken>", text).group(1)


def download_tree(endpoint, bucket, prefix, local_dir):
    for key in list_keys(endpoint, bucket, prefix.rstrip("/") + "/"):
        status, _, body = s3_request(endpoint, "GET", "/%s/%s" % (bucket, key))
        if status != 200:
            raise RuntimeError("GET %s: %d" % (key, status))
        p = os.path.join(local_dir, key[len(prefix.rstrip("/")) + 1:])
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as fh:
            fh.write(body)


# --- a static http server with Range support ---

class _Threading(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # resets are what the fault proxy is for; no tracebacks


class RangeHttpServer:
    """Serves root read-only over http on 127.0.0.1 (GET with Range, HEAD);
    counts requests."""

    def __init__(self, root):
        server = self
        self.requests = 0
        self.lock = threading.Lock()

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=root, **kw)

            def log_message(self, *a):
                pass

            def send_head(self):
                with server.lock:
                    server.requests += 1
                path = self.translate_path(self.path)
                rng = self.headers.get("Range")
                if os.path.isdir(path) or not rng or not os.path.isfile(path):
                    return super().send_head()
                size = os.path.getsize(path)
                spec = rng.split("=", 1)[1]
                a, b = spec.split("-")
                a = int(a)
                b = min(int(b) if b else size - 1, size - 1)
                if a >= size:
                    self.send_error(416)
                    return None
                f = open(path, "rb")
                f.seek(a)
                self.send_response(206)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Range", "bytes %d-%d/%d" % (a, b, size))
                self.send_header("Content-Length", str(b - a + 1))
                self.end_headers()
                import io
                data = f.read(b - a + 1)
                f.close()
                return io.BytesIO(data)

        self.httpd = _Threading(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --- the fault-injecting reverse proxy ---

class FaultProxy:
    """Forwards to upstream_port, failing a fraction `rate` of requests with
    one of: reset (close without answer), 500, 503 + Retry-After, slow (a
    delay, then the real answer), truncated (the real headers, half the body).
    Counts requests by method and records each one (`requests`)."""

    FAULTS = ("reset", "500", "503", "slow", "truncate")

    def __init__(self, upstream_port, rate=0.0, seed=1, faults=FAULTS, bearer_check=None):
        """bearer_check: a function of the Authorization header returning
        whether to serve the request (else 401); the header is not forwarded
        (s3rver serves unsigned requests), so the proxy plays a gs:// endpoint
        that wants a bearer token."""
        proxy = self
        self.rate = rate
        self.bearer_check = bearer_check
        self.unauthorized = 0
        self.faults = faults
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.counts = {}
        self.requests = []  # "METHOD /path [Range]", in order
        self.injected = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _pick(self):
                with proxy.lock:
                    proxy.counts[self.command] = proxy.counts.get(self.command, 0) + 1
                    proxy.requests.append("%s %s%s" % (self.command, self.path,
                                                       " " + self.headers["Range"] if "Range" in self.headers else ""))
                    if proxy.rng.random() < proxy.rate:
                        f = proxy.rng.choice(proxy.faults)
                        proxy.injected[f] = proxy.injected.get(f, 0) + 1
                        return f
                return None

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = self._pick()
                if fault == "reset":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if fault in ("500", "503"):
                    msg = b"<Error><Code>%s</Code><Message>injected</Message></Error>" % (
                        b"InternalError" if fault == "500" else b"SlowDown")
                    self.send_response(int(fault))
                    if fault == "503":
                        self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                if proxy.bearer_check is not None and not proxy.bearer_check(self.headers.get("Authorization", "")):
                    with proxy.lock:
                        proxy.unauthorized += 1
                    msg = b"<Error><Code>AuthenticationRequired</Code><Message>bearer token refused</Message></Error>"
                    self.send_response(401)
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(msg)
                    return
                if fault == "slow":
                    time.sleep(0.3)
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items()}
                if proxy.bearer_check is not None:
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                conn.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST") else None,
                             headers=headers)
                r = conn.getresponse()
                data = r.read()
                conn.close()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() in ("transfer-encoding", "connection", "content-length"):
                        continue
                    self.send_header(k, v)
                if self.command == "HEAD":
                    self.send_header("Content-Length", r.getheader("Content-Length") or "0")
                    self.end_headers()
                    return
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if fault == "truncate" and len(data) > 1:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle

        self.httpd = _Threading(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def reset_counts(self):
        with self.lock:
            self.counts = {}
            self.requests = []
            self.injected = {}
            self.unauthorized = 0

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --- an OAuth2 token endpoint (Google's two grants) ---

def _b64url_decode(part):
    import base64
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class TokenServer:
    """POST /token on 127.0.0.1, as Google's token endpoint answers the two
    grants ockpt sends: jwt-bearer (a service account's RS256 JWT, whose
    signature is checked with `openssl dgst -sha256 -verify` against
    public_key_pem and whose claims are checked) and refresh_token (the
    authorized_user's client_id, client_secret and refresh_token). Issues
    tokens "tok-1", "tok-2", ...; check_bearer (for FaultProxy) accepts an
    issued token, each for at most `uses` requests when set. Records each
    grant (or why it was refused) in `grants`."""

    SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"

    def __init__(self, workdir, public_key_pem, client_email, user, lifetime=3600):
        server = self
        self.workdir = workdir
        self.public_key_pem = public_key_pem
        self.client_email = client_email
        self.user = user  # (client_id, client_secret, refresh_token)
        self.lifetime = lifetime
        self.uses = None
        self.lock = threading.Lock()
        self.grants = []
        self.issued = {}  # token -> requests served with it

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                form = {k: v[0] for k, v in form.items()}
                ctype = self.headers.get("Content-Type", "")
                why = None
                if self.path != "/token":
                    why = "path %s" % self.path
                elif ctype != "application/x-www-form-urlencoded":
                    why = "content type %r" % ctype
                else:
                    why = server._check_grant(form)
                with server.lock:
                    server.grants.append((form.get("grant_type"), why))
                    if why is None:
                        token = "tok-%d" % (len(server.issued) + 1)
                        server.issued[token] = 0
                if why is None:
                    body = json.dumps({"access_token": token, "expires_in": server.lifetime,
                                       "token_type": "Bearer"}).encode()
                    self.send_response(200)
                else:
                    body = json.dumps({"error": "invalid_grant", "error_description": why}).encode()
                    self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = _Threading(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d/token" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _verify_rs256(self, signing_input, signature):
        d = tempfile.mkdtemp(dir=self.workdir)
        try:
            paths = [os.path.join(d, n) for n in ("key.pem", "data", "sig")]
            for path, data in zip(paths, (self.public_key_pem.encode(), signing_input, signature)):
                with open(path, "wb") as f:
                    f.write(data)
            p = subprocess.run(["openssl", "dgst", "-sha256", "-verify", paths[0], "-signature", paths[2], paths[1]],
                               capture_output=True)
            return p.returncode == 0
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def _check_grant(self, form):
        """None when the grant is good, else why not."""
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            parts = form.get("assertion", "").split(".")
            if len(parts) != 3:
                return "the assertion is not a JWT"
            try:
                header = json.loads(_b64url_decode(parts[0]))
                claims = json.loads(_b64url_decode(parts[1]))
                signature = _b64url_decode(parts[2])
            except ValueError:
                return "the JWT does not decode"
            if header.get("alg") != "RS256" or header.get("typ") != "JWT":
                return "JWT header %r" % header
            now = time.time()
            expect = {"iss": self.client_email, "scope": self.SCOPE, "aud": self.url}
            for k, v in expect.items():
                if claims.get(k) != v:
                    return "claim %s is %r, not %r" % (k, claims.get(k), v)
            if abs(claims.get("iat", 0) - now) > 300 or claims.get("exp", 0) - claims.get("iat", 0) != 3600:
                return "iat/exp %r/%r" % (claims.get("iat"), claims.get("exp"))
            if not self._verify_rs256(("%s.%s" % (parts[0], parts[1])).encode(), signature):
                return "the JWT signature does not verify"
            return None
        if grant == "refresh_token":
            got = (form.get("client_id"), form.get("client_secret"), form.get("refresh_token"))
            return None if got == tuple(self.user) else "unknown client or refresh token"
        return "grant_type %r" % grant

    def check_bearer(self, header):
        if not header.startswith("Bearer "):
            return False
        token = header[len("Bearer "):]
        with self.lock:
            if token not in self.issued:
                return False
            self.issued[token] += 1
            return self.uses is None or self.issued[token] <= self.uses

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
