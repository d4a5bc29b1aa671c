#!/usr/bin/env python3
"""Scripted browser flows through Madang's web pages (issue 5), with requests + html.parser.

Usage: web_flows.py   (env: CT_URL, CT_USER, CT_PASSWORD, CT_MADANG_CLI)

Every form is submitted as a browser would: all hidden inputs (the CSRF token among them),
the visible fields filled in, the submit button. TOTP codes are computed with pyotp
(RFC 6238) from the otpauth URI the enrolment page shows.

  - /signin: security headers (CSP with frame-ancestors 'none', Referrer-Policy no-referrer,
    nosniff, no-store), a hidden CSRF field, Korean with Accept-Language: ko;
  - sign-up -> pending: the page says so, sign-in is refused with a clear message (403) and
    gives no session; the admin sees it in GET /api/v1/admin/users?state=pending and approves it
    (admin API; a second request is rejected); then sign-in answers 303 to /account with an
    HttpOnly, SameSite=Lax cookie; `next` goes to a local path only (no open redirect);
  - CSRF: missing or wrong token on /signin, /signout, /account/sessions and /account/password,
    and another session's token -> 403, with nothing done;
  - TOTP: enrolment (otpauth URI + QR, the account password asked again: a wrong code refused,
    the right code with a wrong password refused, the right pair shows ten recovery codes), sign-in with password + code (303), the same code again refused (RFC 6238 §5.2),
    sign-in with a recovery code, the same recovery code refused; with TOTP on the account
    password no longer works over Basic on DAV, an app password made on the web page does;
  - sessions: two browsers, one revokes the other on /account/sessions -> the other is signed
    out; sign-out ends the session server-side (the old cookie is worthless);
  - password reset with `madang user reset-link`: new password works, the link is single-use;
  - audit log has the sign-in/sign-up/TOTP/session events;
  - brute force: wrong passwords for one account -> 429 with Retry-After, and then even the right
    password gets 429 (checked before the password).

Prints ok/FAIL lines, then "N passed, N failed"; exits non-zero on any failure.
"""

import base64
import hashlib
import json
import os
import re
import secrets as sec
import sys
import time
from urllib.parse import urljoin, urlparse

import pyotp
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ct_web as W  # noqa: E402

BASE = os.environ["CT_URL"]
CLI = os.environ.get("CT_MADANG_CLI", "")
C = W.Checks()

NEW_USER = "carol"
NEW_PASSWORD = "carol-Secret-pw-1"
REJECTED_USER = "erin"
BF_USER = "dave"
BF_PASSWORD = "dave-Secret-pw-1"
S = {}


def browser(ua="madang-conformance-web"):
    return W.Browser(BASE, user_agent=ua)


def set_cookies(resp):
    return resp.raw.headers.getlist("Set-Cookie") if hasattr(resp.raw.headers, "getlist") else []


def signed_in(b):
    """True when /account shows the account page (not a redirect to /signin)."""
    r = b.get("/account")
    return r.status_code == 200 and W.signin_form(r) is None


def post_signin(b, user, password, next_=None):
    path = "/signin" + (f"?next={next_}" if next_ else "")
    r = b.get(path)
    f = W.signin_form(r)
    if f is None:
        raise RuntimeError(f"no sign-in form at {path}: {r.status_code}")
    return b.submit(f, {"username": user, "password": password})


def csrf_field_name(form):
    names = [i["name"] for i in form.inputs if i["type"] == "hidden" and "csrf" in i["name"].lower()]
    if not names:
        raise RuntimeError(f"no hidden CSRF field in {form!r}")
    return names[0]


def form_at(resp, path, **hidden):
    for f in W.forms_of(resp):
        if f.path() == path and f.method == "post" and all(f.hidden().get(k) == v for k, v in hidden.items()):
            return f
    raise RuntimeError(f"no form posting to {path} {hidden or ''} on {resp.url}")


# --- steps ------------------------------------------------------------------------------------------


def setup():
    W.add_user(CLI, W.ADMIN_USER, W.ADMIN_PASSWORD, admin=True)
    W.add_user(CLI, BF_USER, BF_PASSWORD)
    C.ok(True, "administrator and a brute-force target created with the CLI")


def signin_page():
    b = browser()
    r = b.get("/signin")
    C.eq(r.status_code, 200, "GET /signin")
    csp = r.headers.get("Content-Security-Policy", "")
    C.ok("frame-ancestors 'none'" in csp, "CSP has frame-ancestors 'none'", csp)
    C.ok("default-src 'none'" in csp or "default-src 'self'" in csp, "CSP restricts default-src", csp)
    C.eq(r.headers.get("Referrer-Policy"), "no-referrer", "Referrer-Policy: no-referrer")
    C.eq(r.headers.get("X-Content-Type-Options"), "nosniff", "X-Content-Type-Options: nosniff")
    C.ok("no-store" in r.headers.get("Cache-Control", ""), "Cache-Control: no-store", r.headers.get("Cache-Control"))
    f = W.signin_form(r)
    C.ok(f is not None, "the page has the sign-in form")
    if f:
        C.ok(any("csrf" in n.lower() for n in f.hidden()), "the sign-in form has a hidden CSRF field", repr(f.hidden()))
    r = requests.get(urljoin(BASE, "signin"), headers={"Accept-Language": "ko-KR,ko;q=0.9"}, timeout=W.TIMEOUT)
    C.ok(re.search(r"<html[^>]*lang=\"ko\"", r.text) is not None and re.search("[\uac00-\ud7a3]", r.text),
         "Accept-Language: ko gives the Korean page", r.text[:120])


def signup_pending_approve():
    b = browser()
    r = b.get("/signup")
    C.eq(r.status_code, 200, "GET /signup")
    f = form_at(r, "/signup")
    fields = {"username": NEW_USER, "email": f"{NEW_USER}@example.com", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    if f.has("display_name"):
        fields["display_name"] = "Carol Conformance"
    r = b.submit(f, fields)
    r, _ = b.follow(r)
    text = W.page_text(r.text).lower()
    C.ok(r.status_code == 200 and ("approv" in text or "pending" in text),
         "sign-up answers with a page saying the account awaits approval", f"{r.status_code}: {text[:200]}")
    # Pending: the right password is refused, with a clear message, and no session.
    r = post_signin(b, NEW_USER, NEW_PASSWORD)
    text = W.page_text(r.text).lower()
    C.ok(r.status_code == 403 and ("approv" in text or "pending" in text),
         "pending account: sign-in refused (403) with a message about approval", f"{r.status_code}: {text[:200]}")
    C.ok(not signed_in(b), "pending account: no session")
    # The administrator sees and approves it; another one is rejected.
    rb = browser()
    r = rb.get("/signup")
    rb.submit(form_at(r, "/signup"), {"username": REJECTED_USER, "email": f"{REJECTED_USER}@example.com",
                                      "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    r = W.admin_api(BASE, "GET", "users", params={"state": "pending"})
    names = [u.get("username") or u.get("name") for u in (r.json() if r.status_code == 200 else [])]
    C.ok(NEW_USER in names and REJECTED_USER in names, "admin API lists both pending sign-ups", f"{r.status_code} {names}")
    r = W.admin_api(BASE, "POST", f"users/{NEW_USER}/approve")
    C.ok(r.status_code in (200, 204), "admin approves the sign-up (POST /api/v1/admin/users/carol/approve)",
         f"{r.status_code} {r.text[:200]}")
    r = W.admin_api(BASE, "POST", f"users/{REJECTED_USER}/reject")
    C.ok(r.status_code in (200, 204), "admin rejects the other one", f"{r.status_code} {r.text[:200]}")
    r = post_signin(browser(), REJECTED_USER, NEW_PASSWORD)
    C.ok(r.status_code != 303, "rejected sign-up cannot sign in", f"{r.status_code}")
    # Approved: 303 to /account with a proper cookie.
    r = post_signin(b, NEW_USER, NEW_PASSWORD)
    C.eq(r.status_code, 303, "approved account: sign-in POST answers 303")
    C.eq(r.headers.get("Location"), "/account", "  ... to /account by default")
    cookies = set_cookies(r)
    sess = [c for c in cookies if "max-age=0" not in c.lower() and "expires=thu, 01 jan 1970" not in c.lower()]
    C.ok(sess and all("httponly" in c.lower() for c in sess), "session cookie is HttpOnly", repr(cookies))
    C.ok(sess and all("samesite=lax" in c.lower() for c in sess), "session cookie is SameSite=Lax", repr(cookies))
    C.ok(signed_in(b), "approved account: /account shows the account page")
    r = b.get("/account")
    C.ok(NEW_USER in W.page_text(r.text), "the account page names the user")
    S["carol"] = b
    # `next` stays on this site.
    for nxt, want in (("/account/sessions", "/account/sessions"), ("//evil.example/x", None),
                      ("https://evil.example/", None), ("/\\evil.example", None)):
        r = post_signin(browser(), NEW_USER, NEW_PASSWORD, next_=requests.utils.quote(nxt, safe=""))
        loc = r.headers.get("Location", "")
        if want:
            C.eq(loc, want, f"next={nxt}: 303 to it")
        else:
            C.ok(r.status_code == 303 and loc.startswith("/") and not loc.startswith("//") and "\\" not in loc
                 and "evil" not in loc, f"next={nxt}: no open redirect", loc)


def csrf():
    b = S["carol"]
    # Pre-session forms.
    nb = browser()
    r = nb.get("/signin")
    f = W.signin_form(r)
    name = csrf_field_name(f)
    r = nb.submit(f, {"username": NEW_USER, "password": NEW_PASSWORD}, drop=(name,))
    C.eq(r.status_code, 403, "POST /signin without the CSRF token: 403")
    # The first character changed, never kept: a token that already began with "x" made this
    # "wrong" token the right one (1 run in 64; seen in CI on 2026-12-06).
    token = f.hidden()[name]
    r = nb.submit(f, {"username": NEW_USER, "password": NEW_PASSWORD, name: ("y" if token[0] == "x" else "x") + token[1:]})
    C.eq(r.status_code, 403, "POST /signin with a wrong CSRF token: 403")
    r = requests.post(urljoin(BASE, "signin"), data={name: f.hidden()[name], "username": NEW_USER,
                                                     "password": NEW_PASSWORD}, timeout=W.TIMEOUT, allow_redirects=False)
    C.eq(r.status_code, 403, "POST /signin with a token but without the browser's cookie: 403")
    # Signed-in forms.
    r = b.get("/account/sessions")
    so = form_at(r, "/signout")
    name = csrf_field_name(so)
    r = b.submit(so, drop=(name,))
    C.eq(r.status_code, 403, "POST /signout without the CSRF token: 403")
    C.ok(signed_in(b), "  ... and the session is still there")
    r = b.get("/account/password")
    pf = form_at(r, "/account/password")
    r = b.submit(pf, {"current": NEW_PASSWORD, "new": "Changed-pw-123456", "confirm": "Changed-pw-123456"},
                 drop=(csrf_field_name(pf),))
    C.eq(r.status_code, 403, "POST /account/password without the CSRF token: 403")
    C.eq(post_signin(browser(), NEW_USER, NEW_PASSWORD).status_code, 303, "  ... and the password is unchanged")
    # Another session's token does not work here.
    other = browser("madang-conformance-other")
    post_signin(other, NEW_USER, NEW_PASSWORD)
    r = other.get("/account/sessions")
    other_token = form_at(r, "/signout").hidden()[name]
    r = b.get("/account/sessions")
    mine = form_at(r, "/signout")
    r = b.submit(mine, {name: other_token})
    C.eq(r.status_code, 403, "POST /signout with another session's CSRF token: 403")
    C.ok(signed_in(b), "  ... still signed in")


def totp():
    b = S["carol"]
    r, _ = b.open("/account/totp")
    r = b.submit(form_at(r, "/account/totp", action="start"))
    r, _ = b.follow(r)
    C.eq(r.status_code, 200, "TOTP enrolment page")
    m = re.search(r'otpauth://totp/[^"\'<\s]+', r.text)
    C.ok(m is not None, "the page shows an otpauth:// URI")
    C.ok(re.search(r'<img[^>]+src="data:image/(svg\+xml|png)', r.text) is not None, "the page shows a QR code image")
    uri = m.group(0).replace("&amp;", "&")
    totp = pyotp.parse_uri(uri)
    C.ok(isinstance(totp, pyotp.TOTP) and totp.digits == 6 and totp.interval == 30, "otpauth URI: TOTP, 6 digits, 30 s",
         uri)
    C.ok("issuer=" in uri, "otpauth URI names the issuer", uri)
    confirm = form_at(r, "/account/totp", action="confirm")
    C.ok(confirm.has("password"), "the confirm form asks for the password again (issue 19)", repr(confirm))
    wrong = f"{(int(totp.now()) + 1) % 1000000:06d}"
    r = b.submit(confirm, {"code": wrong, "password": NEW_PASSWORD})
    r, _ = b.follow(r)
    C.ok("otpauth://" in r.text and "codes" not in r.text, "a wrong code does not turn TOTP on")
    # A session alone (a stolen cookie) is not enough: the right code with a wrong password is refused.
    confirm = form_at(r, "/account/totp", action="confirm")
    r = b.submit(confirm, {"code": totp.now(), "password": "not-" + NEW_PASSWORD})
    r, _ = b.follow(r)
    C.ok("otpauth://" in r.text and "codes" not in r.text and "password is wrong" in r.text,
         "the right code with a wrong password does not turn TOTP on", W.page_text(r.text)[:200])
    confirm = form_at(r, "/account/totp", action="confirm")
    used_at = time.time()
    r = b.submit(confirm, {"code": totp.now(), "password": NEW_PASSWORD})
    r, _ = b.follow(r)
    codes = re.findall(r"<li>([a-z0-9]{5}-[a-z0-9]{5})</li>", r.text)
    if len(codes) != 10:
        codes = re.findall(r"\b[a-z0-9]{4,8}-[a-z0-9]{4,8}\b", W.page_text(r.text))
    C.eq(len(set(codes)), 10, "TOTP on: ten recovery codes shown")
    S["totp"] = totp
    S["codes"] = codes
    S["enrolled_at"] = used_at
    # Sign-in now needs the code.
    nb = browser("madang-conformance-totp")
    r = nb.get("/signin")
    r = nb.submit(W.signin_form(r), {"username": NEW_USER, "password": NEW_PASSWORD})
    C.eq(r.status_code, 303, "password accepted: 303 to the code page")
    C.ok(not signed_in_shallow(nb), "  ... but no session yet")
    r, _ = nb.follow(r)
    of = W.otp_form(r)
    C.ok(of is not None, "the code form is shown")
    # Wait for a fresh time step so the enrolment code's step is not reused.
    wait_next_step(used_at)
    code = totp.now()
    r = nb.submit(of, {W.otp_field(of): code})
    C.eq(r.status_code, 303, "sign-in with password + TOTP code: 303")
    C.ok(signed_in(nb), "  ... signed in")
    # The same code again (same time step): refused.
    nb2 = browser("madang-conformance-totp-replay")
    r, _ = nb2.follow(nb2.submit(W.signin_form(nb2.get("/signin")), {"username": NEW_USER, "password": NEW_PASSWORD}))
    of = W.otp_form(r)
    r = nb2.submit(of, {W.otp_field(of): code})
    C.ok(r.status_code != 303 and not signed_in(nb2), "the same TOTP code a second time is refused (RFC 6238 §5.2)",
         f"{r.status_code}")
    # A recovery code works once.
    of = W.otp_form(r) or W.otp_form(nb2.get("/signin/totp"))
    r = nb2.submit(of, {W.otp_field(of): codes[0]})
    C.eq(r.status_code, 303, "sign-in with a recovery code: 303")
    C.ok(signed_in(nb2), "  ... signed in")
    nb3 = browser("madang-conformance-recovery-replay")
    r, _ = nb3.follow(nb3.submit(W.signin_form(nb3.get("/signin")), {"username": NEW_USER, "password": NEW_PASSWORD}))
    of = W.otp_form(r)
    r = nb3.submit(of, {W.otp_field(of): codes[0]})
    C.ok(r.status_code != 303 and not signed_in(nb3), "a used recovery code is refused", f"{r.status_code}")
    S["carol_totp_browser"] = nb


def signed_in_shallow(b):
    r = b.get("/account")
    return r.status_code == 200 and W.signin_form(r) is None


def wait_next_step(after):
    step_end = (int(after) // 30 + 1) * 30
    delay = step_end - time.time() + 0.3
    if delay > 0:
        print(f"     (waiting {delay:.1f} s for the next TOTP time step)", flush=True)
        time.sleep(delay)


def dav_with_totp():
    dav = urljoin(BASE, "dav/")
    body = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>'
    h = {"Depth": "0", "Content-Type": "application/xml"}
    r = requests.request("PROPFIND", dav, data=body, headers=h, auth=(NEW_USER, NEW_PASSWORD), timeout=W.TIMEOUT)
    C.eq(r.status_code, 401, "TOTP on: the account password is refused over Basic on DAV")
    b = S["carol_totp_browser"]
    r = b.get("/account/app-passwords")
    r = b.submit(form_at(r, "/account/app-passwords", action="create"), {"label": "phone"})
    r, _ = b.follow(r)
    m = re.search(r'<span class="secret">([^<]+)</span>', r.text)
    C.ok(m is not None, "app password created on the web page and shown once")
    if m:
        r = requests.request("PROPFIND", dav, data=body, headers=h, auth=(NEW_USER, m.group(1).strip()),
                             timeout=W.TIMEOUT)
        C.eq(r.status_code, 207, "  ... and it works for DAV")


def oidc_amr():
    """An id_token for a session that used TOTP says so: amr has otp (issue 5)."""
    rp = "http://127.0.0.1:9/amr-cb"
    secret = W.add_oidc_client(CLI, "web-amr", [rp])
    md = requests.get(urljoin(BASE, ".well-known/openid-configuration"), timeout=W.TIMEOUT).json()
    verifier = sec.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    q = {"client_id": "web-amr", "response_type": "code", "redirect_uri": rp, "scope": "openid",
         "state": "s1", "code_challenge": challenge, "code_challenge_method": "S256"}
    url = md["authorization_endpoint"] + "?" + requests.compat.urlencode(q)
    cb, resp, _ = W.authorize(S["carol_totp_browser"], url, rp)
    C.ok(cb is not None, "authorization with the TOTP session comes back with a code", f"{resp.status_code} {resp.url}")
    if cb is None:
        return
    r = requests.post(md["token_endpoint"], auth=("web-amr", secret), timeout=W.TIMEOUT,
                      data={"grant_type": "authorization_code", "code": W.query_of(cb)["code"], "redirect_uri": rp,
                            "code_verifier": verifier})
    C.eq(r.status_code, 200, "code exchanged")
    payload = r.json().get("id_token", "..").split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    amr = claims.get("amr") or []
    C.ok("pwd" in amr and "otp" in amr, "id_token amr has pwd and otp after a TOTP sign-in", repr(amr))


def sessions():
    a = S["carol_totp_browser"]
    other = browser("ct-browser-B")
    r, _ = other.follow(other.submit(W.signin_form(other.get("/signin")),
                                     {"username": NEW_USER, "password": NEW_PASSWORD}))
    of = W.otp_form(r)
    r = other.submit(of, {W.otp_field(of): S["codes"][1]})  # a recovery code: no wait for a fresh TOTP step
    C.ok(signed_in(other), "second browser signed in")
    r = a.get("/account/sessions")
    C.eq(r.status_code, 200, "GET /account/sessions")
    target = None
    for f in W.forms_of(r):
        if f.path() == "/account/sessions" and f.hidden().get("action") == "revoke" and "ct-browser-B" in f.context:
            target = f
    C.ok(target is not None, "the sessions page lists the other browser (by its User-Agent) with a revoke button")
    if target is None:
        return
    r = a.submit(target)
    C.eq(r.status_code, 303, "revoke the other session: 303")
    C.ok(not signed_in(other), "the revoked browser is signed out")
    r = other.get("/account")
    C.ok(W.is_redirect(r) and r.headers["Location"].startswith("/signin"), "  ... /account sends it to /signin",
         f"{r.status_code} {r.headers.get('Location')}")
    C.ok(signed_in(a), "the revoking browser is still signed in")
    # Sign-out ends the session on the server: the old cookie is worthless.
    jar = requests.utils.dict_from_cookiejar(a.s.cookies)
    r = a.get("/account/sessions")
    r = a.submit(form_at(r, "/signout"))
    C.eq(r.status_code, 303, "sign-out: 303")
    C.ok(not signed_in(a), "signed out")
    replay = browser("ct-replay")
    for k, v in jar.items():
        replay.s.cookies.set(k, v)
    C.ok(not signed_in(replay), "the cookie from before sign-out no longer works")


def disabled_account():
    b = browser("ct-disable")
    r = post_signin(b, BF_USER, BF_PASSWORD)
    C.eq(r.status_code, 303, "dave signs in")
    r = W.admin_api(BASE, "POST", f"users/{BF_USER}/disable")
    C.ok(r.status_code in (200, 204), "admin disables dave", f"{r.status_code} {r.text[:150]}")
    C.ok(not signed_in(b), "a disabled account's web session no longer works")
    r = post_signin(browser(), BF_USER, BF_PASSWORD)
    C.eq(r.status_code, 403, "a disabled account cannot sign in (403 with a message)")
    r = W.admin_api(BASE, "POST", f"users/{BF_USER}/enable")
    C.ok(r.status_code in (200, 204), "admin enables dave again", f"{r.status_code}")
    C.eq(post_signin(browser(), BF_USER, BF_PASSWORD).status_code, 303, "  ... and he can sign in")


def reset():
    out = W.run_cli(CLI, "user", "reset-link", BF_USER)
    m = re.search(r"\S*reset/confirm\?token=\S+", out)
    C.ok(m is not None, "madang user reset-link prints a link", out.strip())
    if not m:
        return
    u = urlparse(m.group(0))
    link = urljoin(BASE, u.path.lstrip("/") + "?" + u.query)
    b = browser()
    r = b.get(link)
    C.eq(r.status_code, 200, "the reset link opens a form")
    f = form_at(r, "/reset/confirm")
    global BF_PASSWORD
    new = "dave-New-pw-2345"
    r = b.submit(f, {"new": new, "confirm": new})
    C.ok(r.status_code in (200, 303), "new password set", f"{r.status_code}")
    C.eq(post_signin(browser(), BF_USER, new).status_code, 303, "sign-in with the new password")
    BF_PASSWORD = new
    r = browser().get(link)
    C.ok(r.status_code in (404, 410, 400) or W.forms_of(r) == [] or not any(
        f.path() == "/reset/confirm" for f in W.forms_of(r)), "the reset link works once", f"{r.status_code}")


def audit():
    r = W.admin_api(BASE, "GET", "audit", params={"limit": 1000})
    C.eq(r.status_code, 200, "GET /api/v1/admin/audit")
    actions = {e.get("action") for e in (r.json() if r.status_code == 200 else [])}
    for a in ("signup.request", "signin.success", "signin.failure", "totp.enable", "reauth.failure",
              "recovery_code.used", "session.revoke", "signout", "app_password.create"):
        C.ok(a in actions, f"audit log has {a}", repr(sorted(actions)))
    entries = r.json() if r.status_code == 200 else []
    ok = [e for e in entries if e.get("action") == "signin.success" and e.get("address")]
    C.ok(bool(ok), "audit records carry the client address")


def brute_force():
    b = browser("ct-brute-force")
    codes = []
    for i in range(12):
        r = post_signin(b, BF_USER, f"wrong-{i}")
        codes.append(r.status_code)
        if r.status_code == 429:
            break
    C.ok(codes and codes[-1] == 429, "wrong passwords for one account end in 429", repr(codes))
    C.ok(len(codes) <= 8, "  ... within the configured allowance (5 free failures)", repr(codes))
    if codes[-1] == 429:
        C.ok(r.headers.get("Retry-After", "").isdigit(), "429 has Retry-After", repr(r.headers.get("Retry-After")))
        r = post_signin(b, BF_USER, BF_PASSWORD)
        C.eq(r.status_code, 429, "while throttled even the right password gets 429")


def main():
    C.step("set-up", setup)
    C.step("sign-in page", signin_page)
    C.step("sign-up, pending, approval, sign-in", signup_pending_approve)
    if "carol" not in S:
        return C.finish() or 1
    C.step("CSRF", csrf)
    C.step("TOTP enrolment and sign-in", totp)
    if "carol_totp_browser" in S:
        C.step("TOTP on: DAV needs an app password", dav_with_totp)
        C.step("OIDC: amr after a TOTP sign-in", oidc_amr)
        C.step("sessions: revoke and sign-out", sessions)
    C.step("disabled account", disabled_account)
    C.step("password reset link", reset)
    C.step("audit log", audit)
    C.step("brute force", brute_force)
    return C.finish()


if __name__ == "__main__":
    sys.exit(main())
