#!/usr/bin/env python3
"""Drives goth's openidConnect provider (goth/main.go, built by oidc_goth.sh) as Gitea does.

Usage: oidc_goth.py GOTHRP_BINARY   (env: CT_URL, CT_USER, CT_PASSWORD, CT_USER2, CT_PASSWORD2,
                                     CT_MADANG_CLI; optional CT_OIDC_ISSUER, default CT_URL)

Set-up (CLI + admin API): an administrator, group `admins` with CT_USER, group `restricted`
with CT_USER2, and a confidential client `gitea` whose redirect URIs are Gitea's callback
path (/user/oauth2/<name>/callback) on two loopback ports.

1. Gitea as configured in docs/gitea.md: the goth program (a web app on port 1) starts the
   sign-in; a scripted browser follows it to Madang, signs in as CT_USER (CSRF field and all),
   consents, and lands on the program's callback, which exchanges the code with golang.org/x/oauth2
   (AuthStyleAutoDetect: client_secret_basic first), validates the id_token claims the way goth
   does, fetches userinfo and merges it over the id_token claims, and maps `groups` to admin.
   Checked: the authorization request has no nonce and no PKCE and Gitea's scopes; the response
   has `iss` (RFC 9207); one basic token request, 200; no nonce in the id_token; UserID = sub,
   NickName (nickname, then preferred_username) = the user name, Email; IsAdmin; goth's
   RefreshToken (Gitea's token refresh) when a refresh token was issued.
2. A second process with -tamper-basic, signing in as CT_USER2: the first client_secret_basic
   attempt carries a wrong secret, Madang must answer 401 with WWW-Authenticate, and oauth2's
   retry with client_secret_post and the SAME code must succeed. IsAdmin false, IsRestricted true.
3. Gitea 1.26's sign-out: end-session with client_id + post_logout_redirect_uri, no id_token_hint.

Prints ok/FAIL lines, then "N passed, N failed"; exits non-zero on any failure.
"""

import json
import os
import select
import socket
import subprocess
import sys
from urllib.parse import urlencode, urlparse

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ct_web as W  # noqa: E402

BASE = os.environ["CT_URL"]
ISSUER = os.environ.get("CT_OIDC_ISSUER", BASE)
USER = os.environ.get("CT_USER", "alice")
PASSWORD = os.environ["CT_PASSWORD"]
USER2 = os.environ.get("CT_USER2", "bob")
PASSWORD2 = os.environ["CT_PASSWORD2"]
CLI = os.environ.get("CT_MADANG_CLI", "")
OUT = os.environ.get("CT_RESULTS_DIR", "")
DISCOVERY = BASE.rstrip("/") + "/.well-known/openid-configuration"
GITEA_SCOPES = "openid email profile groups"
CLIENT_ID = "gitea"

C = W.Checks()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


PORTS = [free_port(), free_port()]
CALLBACKS = [f"http://127.0.0.1:{p}/user/oauth2/madang/callback" for p in PORTS]
POST_LOGOUT = f"http://127.0.0.1:{PORTS[0]}/"
state = {}


class GothRp:
    """The Go relying party as a child process, stopped by its PID."""

    def __init__(self, binary, port, callback, secret, tamper=False):
        args = [binary, "-listen", f"127.0.0.1:{port}", "-discovery", DISCOVERY, "-client-id", CLIENT_ID,
                "-client-secret", secret, "-callback", callback, "-scopes", GITEA_SCOPES]
        if tamper:
            args.append("-tamper-basic")
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.p.stdout], [], [], 20)
        line = self.p.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError(f"gothrp did not start: {self.stderr()}")
        self.hello = json.loads(line)
        self.url = self.hello["listening"]

    def stderr(self):
        try:
            return self.p.stderr.read()[-2000:] if self.p.poll() is not None else ""
        except Exception:  # noqa: BLE001
            return ""

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)


def setup():
    W.add_user(CLI, W.ADMIN_USER, W.ADMIN_PASSWORD, admin=True)
    W.ensure_group_member(BASE, "admins", USER)
    W.ensure_group_member(BASE, "restricted", USER2)
    C.ok(True, f"groups: {USER} in admins, {USER2} in restricted (admin API)")
    state["secret"] = W.add_oidc_client(CLI, CLIENT_ID, CALLBACKS, post_logout=[POST_LOGOUT], pkce="optional")
    C.ok(bool(state["secret"]), "client 'gitea' registered (confidential, Gitea's callback path)")


def sign_in_through(rp, browser, user, password, callback):
    """Browser: the RP's login URL -> Madang (sign-in, consent) -> the RP's callback (report JSON)."""
    cb, resp, info = W.authorize(browser, rp.url + "user/oauth2/madang", callback, user, password)
    if cb is None:
        raise RuntimeError(f"never came back to the RP: status {resp.status_code} at {resp.url}: "
                           f"{W.page_text(resp.text)[:300]}")
    r = browser.get(cb)
    try:
        report = r.json()
    except ValueError:
        report = {"error": f"callback answered {r.status_code}: {r.text[:300]}"}
    if OUT:
        with open(os.path.join(OUT, f"goth-report-{user}.json"), "w") as f:
            json.dump(report, f, indent=2, sort_keys=True)
    return cb, report, info


def check_authorization_request(browser):
    auth = [u for (m, u, s, loc) in browser.history if "/oauth2/authorize" in urlparse(u).path]
    C.ok(bool(auth), "goth sent the browser to the authorization endpoint")
    if not auth:
        return
    q = W.query_of(auth[0])
    C.eq(q.get("response_type"), "code", "goth: response_type=code")
    C.eq(q.get("scope"), GITEA_SCOPES, "goth: Gitea's scopes")
    C.ok("nonce" not in q, "goth sends no nonce", auth[0])
    C.ok("code_challenge" not in q, "goth sends no PKCE challenge", auth[0])


def check_user(report, user, is_admin, is_restricted, what):
    C.ok("error" not in report, f"{what}: goth completed the sign-in", report.get("error", ""))
    u = report.get("user") or {}
    idc = report.get("id_token_claims") or {}
    C.ok(bool(u.get("UserID")) and u.get("UserID") == idc.get("sub"), f"{what}: UserID is the id_token sub",
         f"{u.get('UserID')!r} vs {idc.get('sub')!r}")
    C.eq(u.get("NickName"), user, f"{what}: NickName (nickname, then preferred_username) = user name")
    C.eq(u.get("Email"), f"{user}@example.com", f"{what}: Email (required by Gitea's auto-registration)")
    C.ok("nonce" not in idc, f"{what}: id_token has no nonce when none was sent", repr(idc.get("nonce")))
    C.eq(idc.get("iss"), ISSUER, f"{what}: id_token iss equals the discovery issuer (goth compares them)")
    C.eq(idc.get("aud") if isinstance(idc.get("aud"), str) else (idc.get("aud") or [None])[0], CLIENT_ID,
         f"{what}: id_token aud is the client id")
    raw = u.get("RawData") or {}
    C.ok(isinstance(raw.get("groups"), list), f"{what}: groups claim is an array after the userinfo merge",
         repr(raw.get("groups")))
    C.eq(u.get("IsAdmin"), is_admin, f"{what}: group claim 'groups' maps to admin={is_admin}")
    C.eq(u.get("IsRestricted"), is_restricted, f"{what}: group claim maps to restricted={is_restricted}")
    C.ok(isinstance(raw.get("email_verified"), bool), f"{what}: email_verified is a boolean",
         repr(raw.get("email_verified")))
    calls = report.get("http") or []
    ui = [c for c in calls if c.get("client_auth") == "bearer"]
    C.ok(len(ui) == 1 and ui[0].get("status") == 200, f"{what}: goth fetched userinfo with the access token (200)",
         repr(ui))
    return calls


def token_calls(calls, token_endpoint):
    return [c for c in calls if c.get("url") == token_endpoint and c.get("method") == "POST"]


def scenario_plain(binary):
    rp = GothRp(binary, PORTS[0], CALLBACKS[0], state["secret"])
    try:
        C.ok(bool(rp.hello.get("token_endpoint")), "gothrp read the discovery document", repr(rp.hello))
        b = W.Browser(BASE, user_agent="madang-conformance-goth")
        cb, report, info = sign_in_through(rp, b, USER, PASSWORD, CALLBACKS[0])
        q = W.query_of(cb)
        C.eq(q.get("iss"), ISSUER, "authorization response carries iss (RFC 9207)")
        check_authorization_request(b)
        calls = check_user(report, USER, True, False, "Gitea sign-in")
        tc = token_calls(calls, rp.hello["token_endpoint"])
        C.ok([(c["client_auth"], c["status"]) for c in tc] == [("basic", 200)],
             "one token request with client_secret_basic, 200 (AuthStyleAutoDetect's first try)", repr(tc))
        state["browser"] = b
        if report.get("refresh_token"):
            r = requests.get(rp.url + "refresh", params={"token": report["refresh_token"]}, timeout=W.TIMEOUT)
            rep = r.json() if r.headers.get("Content-Type", "").startswith("application/json") else {"error": r.text}
            C.ok(r.status_code == 200 and rep.get("access_token"), "goth RefreshToken (Gitea's refresh) succeeds",
                 rep.get("error", ""))
            C.ok(rep.get("refresh_token") and rep.get("refresh_token") != report["refresh_token"],
                 "the refresh token rotated")
        else:
            C.note("no refresh token for Gitea's scopes (no offline_access): goth's RefreshToken not exercised")
    finally:
        rp.stop()


def scenario_tamper(binary):
    rp = GothRp(binary, PORTS[1], CALLBACKS[1], state["secret"], tamper=True)
    try:
        b = W.Browser(BASE, user_agent="madang-conformance-goth-2")
        cb, report, info = sign_in_through(rp, b, USER2, PASSWORD2, CALLBACKS[1])
        calls = check_user(report, USER2, False, True, "basic fails, post retried")
        tc = token_calls(calls, rp.hello["token_endpoint"])
        shape = [(c["client_auth"], c["tampered"], c["status"]) for c in tc]
        C.ok(shape == [("basic", True, 401), ("post", False, 200)],
             "token exchange: basic (wrong secret) 401, then client_secret_post with the same code 200", repr(tc))
        if tc:
            C.ok(tc[0].get("www_authenticate", "").lower().startswith("basic"),
                 "the 401 carries WWW-Authenticate: Basic", repr(tc[0].get("www_authenticate")))
    finally:
        rp.stop()


def scenario_logout():
    b = state.get("browser")
    if b is None:
        raise RuntimeError("no signed-in browser from scenario 1")
    md = requests.get(DISCOVERY, timeout=W.TIMEOUT).json()
    url = md["end_session_endpoint"] + "?" + urlencode({"client_id": CLIENT_ID, "post_logout_redirect_uri": POST_LOGOUT})
    resp, stopped = b.open(url, stop=(POST_LOGOUT,))
    if stopped is None and resp.status_code == 200:
        forms = [f for f in W.forms_of(resp) if f.method == "post"]
        if forms:
            resp, stopped = b.submit(forms[0], stop=(POST_LOGOUT,))
    C.ok(stopped is not None and stopped.startswith(POST_LOGOUT),
         "Gitea 1.26 sign-out (client_id + post_logout_redirect_uri, no id_token_hint) redirects back",
         stopped or f"status {resp.status_code}: {W.page_text(resp.text)[:200]}")
    r, _ = b.open("/account")
    C.ok(W.signin_form(r) is not None, "after end-session the Madang web session is gone (sign-in form)",
         f"{r.status_code} {r.url}")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    binary = sys.argv[1]
    C.step("set-up", setup)
    if "secret" not in state:
        return C.finish() or 1
    C.step("scenario 1: Gitea's sign-in", scenario_plain, binary)
    C.step("scenario 2: basic fails, post retried with the same code", scenario_tamper, binary)
    C.step("scenario 3: Gitea's sign-out", scenario_logout)
    return C.finish()


if __name__ == "__main__":
    sys.exit(main())
