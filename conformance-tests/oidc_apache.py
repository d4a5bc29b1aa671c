#!/usr/bin/env python3
"""Apache httpd + mod_auth_openidc protecting a page, with Madang as the OpenID provider.

Usage: oidc_apache.py   (env: CT_URL, CT_USER, CT_PASSWORD, CT_MADANG_CLI, CT_RESULTS_DIR;
                         optional CT_OIDC_ISSUER, CT_APACHE_BIN default /usr/sbin/apache2)

Registers a confidential client `apache`, then starts Apache with ct_apache.py (shared with
web_browser.py): a temp ServerRoot (its own PidFile, logs, a free 127.0.0.1 port; not the system
service) in which mod_auth_openidc protects /protected with OIDCProviderMetadataURL pointing at
Madang's discovery document, and a CGI at /protected/claims prints the OIDC_CLAIM_* environment
(OIDCPassClaimsAs environment) as JSON. Apache runs in the foreground as a child of this
script and is stopped by its PID.

Checks: an anonymous request is redirected to Madang's authorization endpoint with the
module's parameters (code flow, nonce, state, our scopes); a scripted browser signs in
(CSRF field and all), consents, comes back to the module's redirect URI (which validates
state, `iss` (RFC 9207), the code exchange with client_secret_basic, the id_token signature
against the JWKS, nonce, iss, aud, exp) and reaches the page, which shows REMOTE_USER =
preferred_username, sub, email, groups and an access token; the session then carries on
without Madang; the module's logout goes through Madang's end-session endpoint with
id_token_hint and back to the registered post-logout URI, after which the page asks for
Madang's sign-in again.

Prints ok/FAIL lines, then "N passed, N failed"; exits non-zero on any failure.
"""

import json
import os
import shutil
import signal
import sys
import tempfile
from urllib.parse import quote, urlparse

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ct_apache  # noqa: E402
import ct_web as W  # noqa: E402

BASE = os.environ["CT_URL"]
ISSUER = os.environ.get("CT_OIDC_ISSUER", BASE)
USER = os.environ.get("CT_USER", "alice")
PASSWORD = os.environ["CT_PASSWORD"]
CLI = os.environ.get("CT_MADANG_CLI", "")
OUT = os.environ.get("CT_RESULTS_DIR", "")
CLIENT_ID = "apache"
GROUPS = ["staff", "wiki-editors"]

C = W.Checks()

def run(ap):
    page = ap.url + "/protected/claims"
    # Anonymous: sent to Madang's authorization endpoint with the module's parameters.
    anon = requests.get(page, allow_redirects=False, timeout=W.TIMEOUT)
    loc = anon.headers.get("Location", "")
    C.ok(anon.status_code == 302 and loc.startswith(BASE), "anonymous request: 302 to Madang",
         f"{anon.status_code} {loc[:200]}")
    q = W.query_of(loc)
    C.eq(urlparse(loc).path, "/oauth2/authorize", "  ... to the authorization endpoint from discovery")
    C.eq(q.get("client_id"), CLIENT_ID, "  ... client_id")
    C.eq(q.get("response_type"), "code", "  ... response_type=code")
    C.ok(bool(q.get("nonce")) and bool(q.get("state")), "  ... with nonce and state")
    C.eq(q.get("code_challenge_method"), "S256", "  ... and PKCE S256 (OIDCPKCEMethod S256)")
    C.eq(q.get("scope"), "openid email profile groups", "  ... our scopes")
    C.eq(q.get("redirect_uri"), ap.url + "/protected/redirect_uri", "  ... our redirect_uri")

    b = W.Browser(BASE, user_agent="madang-conformance-apache")
    cb, resp, info = W.authorize(b, page, ap.url + "/protected/redirect_uri", USER, PASSWORD)
    C.ok(cb is not None, "sign-in at Madang comes back to mod_auth_openidc's redirect URI",
         f"{resp.status_code} {resp.url}: {W.page_text(resp.text)[:200]}" if cb is None else "")
    if cb is None:
        return
    cq = W.query_of(cb)
    C.eq(cq.get("iss"), ISSUER, "authorization response carries iss (RFC 9207)")
    r = b.get(cb)
    r, _ = b.follow(r, stop=(BASE,))
    served = r.status_code == 200
    C.ok(served, "mod_auth_openidc accepted the response and served the protected page",
         "" if served else f"{r.status_code} {r.url}: {r.text[:300]}\n{ap.log_tail(30)}")
    try:
        env = r.json()
    except ValueError:
        env = {}
    C.eq(urlparse(r.url).path, "/protected/claims", "back on the page first asked for")
    C.eq(env.get("REMOTE_USER"), USER, "REMOTE_USER is preferred_username")
    C.eq(env.get("OIDC_CLAIM_preferred_username"), USER, "OIDC_CLAIM_preferred_username")
    C.eq(env.get("OIDC_CLAIM_email"), f"{USER}@example.com", "OIDC_CLAIM_email")
    C.eq(env.get("OIDC_CLAIM_iss"), ISSUER, "OIDC_CLAIM_iss (from the id_token) is the issuer")
    C.ok(bool(env.get("OIDC_CLAIM_sub")), "OIDC_CLAIM_sub present")
    got = sorted((env.get("OIDC_CLAIM_groups") or "").split(","))
    C.eq(got, sorted(GROUPS), "OIDC_CLAIM_groups lists the user's groups (scope groups)")
    C.ok(bool(env.get("OIDC_access_token")), "the module holds an access token")
    C.ok(env.get("OIDC_CLAIM_email_verified") in ("0", "1", "true", "false"),
         "OIDC_CLAIM_email_verified is a boolean", repr(env.get("OIDC_CLAIM_email_verified")))
    if OUT:
        with open(os.path.join(OUT, "claims.json"), "w") as f:
            json.dump(env, f, indent=2, sort_keys=True)
    # The module's session carries on by itself.
    r2 = b.get(page)
    C.ok(r2.status_code == 200 and r2.json().get("REMOTE_USER") == USER, "second request: served from the module's "
                                                                         "session", f"{r2.status_code}")
    # Logout through the module: RP-initiated logout at Madang with id_token_hint.
    back = ap.url + "/loggedout"
    r = b.get(ap.url + "/protected/redirect_uri?logout=" + quote(back, safe=""))
    md = requests.get(BASE.rstrip("/") + "/.well-known/openid-configuration", timeout=W.TIMEOUT).json()
    loc = r.headers.get("Location", "")
    C.ok(W.is_redirect(r) and loc.startswith(md.get("end_session_endpoint", "-")),
         "module logout redirects to Madang's end_session_endpoint", f"{r.status_code} {loc[:200]}")
    lq = W.query_of(loc)
    C.ok(bool(lq.get("id_token_hint")) and lq.get("post_logout_redirect_uri") == back,
         "  ... with id_token_hint and post_logout_redirect_uri", repr(lq.keys()))
    r, stopped = b.follow(r, stop=(back,))
    if stopped is None and r.status_code == 200:
        forms = [f for f in W.forms_of(r) if f.method == "post"]
        if forms:
            r, stopped = b.submit(forms[0], stop=(back,))
    C.ok(stopped is not None, "Madang's end-session redirects to the registered post-logout URI",
         f"{r.status_code} {r.url}: {W.page_text(r.text)[:200]}")
    r, _ = b.open(page, stop=(ap.url + "/protected/redirect_uri",))
    C.ok(W.signin_form(r) is not None, "after logout the protected page needs Madang's sign-in again",
         f"{r.status_code} {r.url}")


def setup_groups():
    W.add_user(CLI, W.ADMIN_USER, W.ADMIN_PASSWORD, admin=True)
    for g in GROUPS:
        W.ensure_group_member(BASE, g, USER)
    C.ok(True, f"{USER} is in groups {', '.join(GROUPS)} (admin API)")


def main():
    # `timeout` (run.sh) sends SIGTERM: unwind so the finally below stops Apache by its PID.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    missing = ct_apache.available()
    if missing:
        print(f"FAIL {missing}")
        return 1
    port = ct_apache.free_port()
    ap_url = f"http://127.0.0.1:{port}"
    secret = C.step("register client", W.add_oidc_client, CLI, CLIENT_ID, [ap_url + "/protected/redirect_uri"],
                    post_logout=[ap_url + "/loggedout"])
    C.ok(bool(secret), "client 'apache' registered")
    C.step("groups", setup_groups)
    if not secret:
        return C.finish() or 1
    root = tempfile.mkdtemp(prefix="ct-apache.")
    ap = None
    try:
        ap = C.step("start apache2 with mod_auth_openidc", ct_apache.Apache, root, port, provider=BASE,
                    client_id=CLIENT_ID, secret=secret, out_dir=OUT, written_by="conformance-tests/oidc_apache.py")
        if ap is not None:
            C.ok(True, f"apache2 (pid {ap.p.pid}) serves {ap.url}")
            C.step("sign-in through mod_auth_openidc", run, ap)
            if C.failed:
                print("--- apache error log (tail) ---")
                print(ap.log_tail(80))
    finally:
        if ap is not None:
            ap.stop()
        shutil.rmtree(root, ignore_errors=True)
    return C.finish()


if __name__ == "__main__":
    sys.exit(main())
