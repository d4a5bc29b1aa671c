#!/usr/bin/env python3
"""What authentication costs per request, on SQLite and PostgreSQL, in one run.

    python3 bench/auth.py            # builds release binaries, both backends
    python3 bench/auth.py --no-build --backends sqlite

Each backend gets a fresh `madang serve` on 127.0.0.1 with one user, one app password and one
first-party OIDC client. Then, with the same load generator as bench/run.py (bench-load, 8
keep-alive connections, 5 s per line):

  * GET /healthz (no credentials): the floor;
  * GET /api/v1/me and a DAV GET of one event with Basic + account password, Basic + app password
    (both after the first request are verification-cache hits) and an OAuth Bearer token (looked
    up per request, so revocation is immediate);

and, sequentially, the latency of the flows a person or a relying party waits for: a web sign-in
POST (argon2 + session), a full authorization-code round trip (authorize → code → token, with the
session), and a refresh-token rotation. Ratios are against the no-credentials floor. Nothing here
has a peer: Radicale and Xandikos have no OpenID Connect provider.
"""
import argparse
import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
USER, PASSWORD = "bench", "bench-secret-pw"
REDIRECT = "http://127.0.0.1:9/cb"
EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\nUID:auth-bench\r\n"
    "DTSTAMP:20260101T000000Z\r\nDTSTART:20260102T100000Z\r\nDTEND:20260102T110000Z\r\n"
    "SUMMARY:auth bench\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Http:
    """One keep-alive connection with a cookie jar; no redirects followed."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies = {}

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        try:
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # The server closed the idle keep-alive connection (during the
            # load phases): reconnect once, as a browser does.
            self.conn.close()
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
        data = r.read().decode("utf-8", "replace")
        for name, value in r.getheaders():
            if name.lower() == "set-cookie":
                k, _, v = value.split(";", 1)[0].partition("=")
                if v and "Max-Age=0" not in value:
                    self.cookies[k] = v
                else:
                    self.cookies.pop(k, None)
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def csrf_of(page):
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    if not m:
        raise SystemExit("no CSRF field in the page")
    return m.group(1)


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def timed(fn, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out), sorted(out)[max(0, int(len(out) * 0.95) - 1)]


class Server:
    def __init__(self, binary, backend, tmp):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "MADANG_CONFIG": "",
            "MADANG_DATA_DIR": os.path.join(tmp, backend),
            "MADANG_LISTEN": f"127.0.0.1:{self.port}",
            "MADANG_SERVER_PUBLIC_URL": self.base + "/",
            "MADANG_LOG_LEVEL": "warn",
        }
        self.db = None
        if backend == "postgres":
            self.db = f"madang_auth_bench_{os.getpid()}"
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'CREATE DATABASE "{self.db}"'], check=True)
            self.env["MADANG_DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{self.db}"
        self.binary = binary
        self.log = open(os.path.join(tmp, f"{backend}.log"), "w")
        self.proc = subprocess.Popen([binary, "serve"], env=self.env, stdout=self.log, stderr=self.log)
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            self.stop()
            raise SystemExit(f"{backend}: server did not become ready (see {self.log.name})")

    def cli(self, *args, stdin=""):
        r = subprocess.run([self.binary, *args], env=self.env, input=stdin, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"madang {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.db:
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)'],
                check=False,
            )


def sign_in(port):
    b = Http(port)
    _, _, page = b.request("GET", "/signin")
    status, headers, _ = b.request(
        "POST", "/signin", {"csrf": csrf_of(page), "username": USER, "password": PASSWORD, "next": "/account"}
    )
    if status != 303:
        raise SystemExit(f"sign-in answered {status}")
    return b


def authorization_code(browser, secret):
    query = urllib.parse.urlencode(
        {"response_type": "code", "client_id": "bench", "redirect_uri": REDIRECT, "scope": "openid api dav", "state": "s"}
    )
    status, headers, body = browser.request("GET", f"/oauth2/authorize?{query}")
    if status != 302 or not headers.get("location", "").startswith(REDIRECT):
        raise SystemExit(f"authorize answered {status} {headers.get('location')} {body[:200]}")
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(headers["location"]).query)["code"][0]
    t = Http(browser.conn.port)
    status, _, body = t.request(
        "POST",
        "/oauth2/token",
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        {"Authorization": basic("bench", secret)},
    )
    if status != 200:
        raise SystemExit(f"token answered {status}: {body}")
    return json.loads(body)


def load(load_bin, server, path, auth):
    args = [load_bin, "get", "--base", server.base, "--concurrency", "8", "--duration", "5", path]
    if auth and auth[0] == "bearer":
        args[6:6] = ["--bearer", auth[1]]
    elif auth:
        args[6:6] = ["--user", auth[0], "--password", auth[1]]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench-load: {r.stderr.strip()}")
    out = json.loads(r.stdout)
    if out["errors"]:
        raise SystemExit(f"GET {path}: {out['errors']} errors, e.g. {out['error_samples'][:3]}")
    return out


def run_backend(binary, load_bin, backend, tmp):
    log(f"{backend}: starting")
    s = Server(binary, backend, tmp)
    try:
        s.cli("user", "add", USER, "--email", "bench@example.com", stdin=PASSWORD + "\n")
        app_pw = s.cli("app-password", "add", USER, "phone").strip()
        out = s.cli(
            "oidc", "client", "add", "bench", "--redirect-uri", REDIRECT, "--first-party", "--pkce", "optional",
            "--scope", "openid api dav",
        )
        secret = re.search(r"client_secret: (\S+)", out).group(1)
        dav = f"/dav/calendars/{USER}/default/auth-bench.ics"
        c = Http(s.port)
        status, _, body = c.request("PUT", dav, EVENT, {"Authorization": basic(USER, PASSWORD), "Content-Type": "text/calendar"})
        if status not in (201, 204):
            raise SystemExit(f"PUT answered {status}: {body}")
        browser = sign_in(s.port)
        tokens = authorization_code(browser, secret)
        bearer = tokens["access_token"]
        # Every credential must work before it is measured.
        for auth in [basic(USER, PASSWORD), basic(USER, app_pw), "Bearer " + bearer]:
            for path in ["/api/v1/me", dav]:
                status, _, body = c.request("GET", path, headers={"Authorization": auth})
                if status != 200:
                    raise SystemExit(f"{backend}: GET {path} with {auth.split()[0]} answered {status}: {body[:200]}")
        rows = {}
        rows["GET /healthz, no credentials"] = load(load_bin, s, "/healthz", None)
        for label, auth in [
            ("Basic, account password", (USER, PASSWORD)),
            ("Basic, app password", (USER, app_pw)),
            ("Bearer token", ("bearer", bearer)),
        ]:
            rows[f"GET /api/v1/me, {label}"] = load(load_bin, s, "/api/v1/me", auth)
            rows[f"DAV GET event, {label}"] = load(load_bin, s, dav, auth)
        flows = {}
        flows["web sign-in (GET form + POST, argon2)"] = timed(lambda: sign_in(s.port), 10)
        flows["authorization code round trip (authorize + token)"] = timed(lambda: authorization_code(browser, secret), 30)
        refresh = [tokens["refresh_token"]]

        def rotate():
            t = Http(s.port)
            status, _, body = t.request(
                "POST", "/oauth2/token", {"grant_type": "refresh_token", "refresh_token": refresh[0]},
                {"Authorization": basic("bench", secret)},
            )
            if status != 200:
                raise SystemExit(f"refresh answered {status}: {body}")
            refresh[0] = json.loads(body)["refresh_token"]

        flows["refresh-token rotation"] = timed(rotate, 30)
        return rows, flows
    finally:
        s.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--backends", default="sqlite,postgres")
    args = ap.parse_args()
    if not args.no_build:
        log("building release binaries")
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "madang"], cwd=REPO, check=True)
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "madang-bench"], cwd=REPO, check=True)
    binary = os.path.join(REPO, "target", "release", "madang")
    load_bin = os.path.join(REPO, "target", "release", "bench-load")
    tmp = tempfile.mkdtemp(prefix="madang-auth-bench-")
    results = {}
    try:
        for backend in args.backends.split(","):
            results[backend] = run_backend(binary, load_bin, backend, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for backend, (rows, flows) in results.items():
        floor = rows["GET /healthz, no credentials"]["rps"]
        print(f"\n{backend}: requests/s at concurrency 8 (5 s each), p50/p95 ms, and ratio to the no-credentials floor")
        for name, r in rows.items():
            print(f"  {name:<44} {r['rps']:>8,.0f}/s  p50 {r['p50_ms']:6.2f}  p95 {r['p95_ms']:6.2f}  {r['rps'] / floor:5.2f}×")
        print(f"{backend}: sequential flows, p50 / p95 ms")
        for name, (p50, p95) in flows.items():
            print(f"  {name:<52} {p50:7.1f} / {p95:7.1f}")


if __name__ == "__main__":
    main()
