"""A scripted browser for Madang's server-rendered pages (shared by the identity suites).

`Browser` is a `requests.Session` that follows redirects by hand (so a suite
sees every hop and can stop at a relying party's redirect URI), parses HTML
forms with the standard library's html.parser and submits them the way a
browser does: every hidden input, the fields the caller fills in, and the
name/value of the submit button that was "clicked".

`Checks` collects ok/FAIL lines and prints "N passed, N failed" at the end.
Nothing here waits without a timeout.
"""

import html
import os
import re
import subprocess
import sys
import traceback
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import requests

TIMEOUT = float(os.environ.get("CT_HTTP_TIMEOUT", "15"))
MAX_HOPS = 15


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.notes = []

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print(f"ok   {what}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {what}" + (f": {detail}" if detail else ""), flush=True)
        return bool(cond)

    def eq(self, got, want, what):
        return self.ok(got == want, what, f"got {got!r}, want {want!r}")

    def note(self, what):
        self.notes.append(what)
        print(f"note {what}", flush=True)

    def step(self, name, fn, *args, **kwargs):
        """Runs one scenario; an exception is one failure, and the run goes on."""
        print(f"--- {name}", flush=True)
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - every error is a reported failure
            self.failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(file=sys.stdout)
            return None

    def finish(self):
        print(f"\n{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed or not self.passed else 0


class Form:
    def __init__(self, action, method, base_url):
        self.action = urljoin(base_url, html.unescape(action or "")) if action is not None else base_url
        self.method = (method or "get").lower()
        self.inputs = []  # dicts: name, type, value, checked
        self.buttons = []  # dicts: name, value, text
        self.context = ""  # text between the previous form and this one

    def hidden(self):
        return {i["name"]: i["value"] for i in self.inputs if i["type"] == "hidden" and i["name"]}

    def names(self):
        return [i["name"] for i in self.inputs if i["name"]]

    def field(self, *types):
        return [i for i in self.inputs if i["type"] in types and i["name"]]

    def has(self, name):
        return any(i["name"] == name for i in self.inputs)

    def path(self):
        return urlparse(self.action).path

    def __repr__(self):
        return f"<form {self.method} {self.action} inputs={[(i['name'], i['type']) for i in self.inputs]} buttons={self.buttons}>"


class _FormParser(HTMLParser):
    def __init__(self, base_url):
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.forms = []
        self.cur = None
        self.text = []
        self.button = None
        self.textarea = None
        self.select = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self.cur = Form(a.get("action"), a.get("method"), self.base_url)
            self.cur.context = " ".join(" ".join(self.text).split())
            self.text = []
            self.forms.append(self.cur)
        elif self.cur is None:
            return
        elif tag == "input":
            t = a.get("type", "text").lower()
            if t in ("submit", "image"):
                self.cur.buttons.append({"name": a.get("name", ""), "value": a.get("value", ""), "text": a.get("value", "")})
            else:
                self.cur.inputs.append(
                    {"name": a.get("name", ""), "type": t, "value": a.get("value", ""), "checked": "checked" in a}
                )
        elif tag == "button":
            t = a.get("type", "submit").lower()
            if t == "submit":
                self.button = {"name": a.get("name", ""), "value": a.get("value", ""), "text": ""}
                self.cur.buttons.append(self.button)
        elif tag == "textarea":
            self.textarea = {"name": a.get("name", ""), "type": "textarea", "value": "", "checked": False}
            self.cur.inputs.append(self.textarea)
        elif tag == "select":
            self.select = {"name": a.get("name", ""), "type": "select", "value": None, "checked": False}
            self.cur.inputs.append(self.select)
        elif tag == "option" and self.select is not None:
            if self.select["value"] is None or "selected" in a:
                self.select["value"] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.cur = None
        elif tag == "button":
            self.button = None
        elif tag == "textarea":
            self.textarea = None
        elif tag == "select":
            if self.select is not None and self.select["value"] is None:
                self.select["value"] = ""
            self.select = None

    def handle_data(self, data):
        if self.button is not None:
            self.button["text"] += data
        if self.textarea is not None:
            self.textarea["value"] += data
        self.text.append(data)


class _TextParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def page_text(body):
    p = _TextParser()
    p.feed(body or "")
    return " ".join(" ".join(p.parts).split())


def forms_of(resp):
    p = _FormParser(resp.url)
    p.feed(resp.text or "")
    return p.forms


def query_of(url):
    return {k: v[0] for k, v in parse_qs(urlparse(url).query, keep_blank_values=True).items()}


def is_redirect(resp):
    return resp.status_code in (301, 302, 303, 307, 308) and "Location" in resp.headers


class Browser:
    """A cookie-keeping HTTP client that follows redirects itself."""

    def __init__(self, base_url, user_agent="madang-conformance-browser"):
        self.base = base_url
        self.s = requests.Session()
        self.s.headers["User-Agent"] = user_agent
        self.s.headers["Accept"] = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"
        self.s.headers["Accept-Language"] = "en"
        self.history = []  # (method, url, status, location)

    def url(self, path):
        return urljoin(self.base, path)

    def request(self, method, url, **kw):
        kw.setdefault("timeout", TIMEOUT)
        kw.setdefault("allow_redirects", False)
        r = self.s.request(method, self.url(url), **kw)
        self.history.append((method, r.url, r.status_code, r.headers.get("Location")))
        return r

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def post(self, url, **kw):
        return self.request("POST", url, **kw)

    def follow(self, resp, stop=()):
        """Follows redirects from resp; stops before fetching a URL that starts with one of `stop`
        (returns (resp, stopped_url)) or at the first non-redirect (returns (resp, None))."""
        for _ in range(MAX_HOPS):
            if not is_redirect(resp):
                return resp, None
            nxt = urljoin(resp.url, resp.headers["Location"])
            if any(nxt.startswith(p) for p in stop):
                return resp, nxt
            method = "GET"
            if resp.status_code in (307, 308) and resp.request.method == "POST":
                raise RuntimeError(f"refusing to replay a POST body on {resp.status_code} to {nxt}")
            resp = self.request(method, nxt)
        raise RuntimeError(f"more than {MAX_HOPS} redirects; last {resp.url}")

    def open(self, url, stop=()):
        return self.follow(self.get(url), stop)

    def submit(self, form, fields=None, button=None, drop=(), stop=None):
        """Submits `form` like a browser: hidden inputs + checked boxes + `fields`, minus `drop`;
        `button` picks a submit button (a dict from form.buttons, or None for the first).
        With stop=None the response is returned as is; else redirects are followed (see follow)."""
        data = []
        filled = dict(fields or {})
        for i in form.inputs:
            if not i["name"] or i["name"] in drop:
                continue
            if i["name"] in filled:
                continue
            if i["type"] in ("checkbox", "radio"):
                if i["checked"]:
                    data.append((i["name"], i["value"] or "on"))
            elif i["type"] not in ("file",):
                data.append((i["name"], i["value"] or ""))
        for k, v in filled.items():
            if k not in drop:
                data.append((k, v))
        if button is None and form.buttons:
            button = form.buttons[0]
        if button and button.get("name"):
            data.append((button["name"], button.get("value", "")))
        if form.method == "post":
            # A browser sends the form's content type even when nothing is filled in.
            body = urlencode(data)
            r = self.post(form.action, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
        else:
            r = self.get(form.action, params=data)
        if stop is None:
            return r
        return self.follow(r, stop)

    def cookies_for(self, name):
        return [c for c in self.s.cookies if c.name == name]


# --- Madang's sign-in, second factor and consent pages -------------------------------------------


def find_form(resp, pred):
    for f in forms_of(resp):
        if pred(f):
            return f
    return None


def signin_form(resp):
    """The password form: posts to /signin and has a password input."""
    return find_form(resp, lambda f: f.method == "post" and f.field("password") and f.path().startswith("/signin"))


def username_field(form):
    for name in ("username", "user", "name", "login", "email"):
        if form.has(name):
            return name
    cands = form.field("text", "email")
    if cands:
        return cands[0]["name"]
    raise RuntimeError(f"no user name field in {form!r}")


def password_field(form):
    p = form.field("password")
    if not p:
        raise RuntimeError(f"no password field in {form!r}")
    return p[0]["name"]


OTP_NAMES = ("code", "totp", "otp", "totp_code", "one_time_code", "token", "recovery_code")


def otp_form(resp):
    """A second-factor form: a text/number field whose name looks like a code, no password field."""

    def pred(f):
        if f.method != "post" or f.field("password"):
            return False
        return any(i["name"].lower() in OTP_NAMES or "code" in i["name"].lower() for i in f.field("text", "number", "tel"))

    return find_form(resp, pred)


def otp_field(form):
    for i in form.field("text", "number", "tel"):
        if i["name"].lower() in OTP_NAMES or "code" in i["name"].lower():
            return i["name"]
    raise RuntimeError(f"no code field in {form!r}")


def consent_form(resp):
    return find_form(resp, lambda f: f.method == "post" and "consent" in f.path())


ALLOW_WORDS = ("allow", "approve", "accept", "yes", "consent", "authorize", "authorise", "grant", "continue", "허용", "동의")
DENY_WORDS = ("deny", "reject", "cancel", "no", "decline", "거부")


def pick_button(form, words):
    for b in form.buttons:
        hay = " ".join([b.get("name", ""), b.get("value", ""), b.get("text", "")]).lower()
        if any(re.search(rf"\b{re.escape(w)}\b", hay) or (not w.isascii() and w in hay) for w in words):
            return b
    return None


def _password_then_code(browser, resp, user, password, otp, stop, info=None):
    """Submits the sign-in form on `resp`, follows redirects (Madang answers 303 to /signin/totp when
    TOTP is on), and, when the code form shows up and `otp` is given (a str or a callable), submits it."""
    form = signin_form(resp)
    if form is None:
        raise RuntimeError(f"no sign-in form on {resp.url} (status {resp.status_code}): {page_text(resp.text)[:300]}")
    r = browser.submit(form, {username_field(form): user, password_field(form): password})
    r, stopped = browser.follow(r, stop)
    if stopped is None and otp is not None and r.status_code == 200:
        of = otp_form(r)
        if of is not None:
            if info is not None:
                info["otp"] = True
            r = browser.submit(of, {otp_field(of): otp() if callable(otp) else otp})
            r, stopped = browser.follow(r, stop)
    return r, stopped


def sign_in(browser, resp, user, password, otp=None, stop=()):
    """On a page with the sign-in form: signs in (with the second factor `otp` when asked).
    Returns (final response, stopped_url) after following redirects."""
    return _password_then_code(browser, resp, user, password, otp, stop)


def authorize(browser, auth_url, redirect_prefix, user=None, password=None, otp=None, consent="allow"):
    """Runs an authorization request through sign-in and consent as a user would.
    Returns (callback_url or None, last response, info) where info records what was shown."""
    info = {"signin": False, "consent": False, "otp": False}
    stop = (redirect_prefix,)
    r, stopped = browser.open(auth_url, stop=stop)
    for _ in range(6):
        if stopped:
            return stopped, r, info
        if r.status_code != 200:
            return None, r, info
        if signin_form(r) is not None and user is not None:
            info["signin"] = True
            r, stopped = _password_then_code(browser, r, user, password, otp, stop, info)
            user = None  # sign in once
            continue
        cf = consent_form(r)
        if cf is not None and consent:
            info["consent"] = True
            words = ALLOW_WORDS if consent == "allow" else DENY_WORDS
            button = pick_button(cf, words)
            if button is None and len(cf.buttons) > 1:
                raise RuntimeError(f"cannot tell the consent buttons apart: {cf.buttons}")
            r, stopped = browser.submit(cf, button=button, stop=stop)
            consent = None
            continue
        return None, r, info
    return None, r, info


def run_cli(cmd_prefix, *args, stdin=None):
    """Runs the madang CLI (CT_MADANG_CLI, a command that adds the server's storage flags)."""
    if not cmd_prefix:
        raise RuntimeError("CT_MADANG_CLI is not set (lib.sh ct_start_server exports it)")
    p = subprocess.run(
        [cmd_prefix, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    if p.returncode != 0:
        raise RuntimeError(f"madang {' '.join(args)} failed ({p.returncode}): {p.stderr.strip()} {p.stdout.strip()}")
    return p.stdout


def add_oidc_client(cli, client_id, redirect_uris, post_logout=(), public=False, pkce=None, extra=()):
    args = ["oidc", "client", "add", client_id]
    for u in redirect_uris:
        args += ["--redirect-uri", u]
    for u in post_logout:
        args += ["--post-logout-redirect-uri", u]
    if public:
        args.append("--public")
    if pkce:
        args += ["--pkce", pkce]
    args += list(extra)
    out = run_cli(cli, *args)
    m = re.search(r"^client_secret:\s*(\S+)\s*$", out, re.M)
    if public:
        return None
    if not m:
        raise RuntimeError(f"no 'client_secret: ...' line in the output of madang oidc client add: {out!r}")
    return m.group(1)


# --- set-up through the CLI and the admin JSON API ------------------------------------------------

ADMIN_USER = os.environ.get("CT_ADMIN_USER", "ct-admin")
ADMIN_PASSWORD = os.environ.get("CT_ADMIN_PASSWORD", "ct-admin-secret-pw")


def add_user(cli, name, password, email=None, admin=False):
    args = ["user", "add", name, "--email", email or f"{name}@example.com"]
    if admin:
        args.append("--admin")
    return run_cli(cli, *args, stdin=password + "\n")


def admin_api(base, method, path, **kw):
    """A call to /api/v1/admin/... as the administrator (Basic, account password)."""
    kw.setdefault("timeout", TIMEOUT)
    return requests.request(method, urljoin(base, "api/v1/admin/" + path.lstrip("/")),
                            auth=(ADMIN_USER, ADMIN_PASSWORD), **kw)


def ensure_group_member(base, group, user):
    """Creates `group` (if missing) and puts `user` in it, through the admin API."""
    r = admin_api(base, "POST", "groups", json={"name": group, "description": "conformance"})
    if r.status_code not in (200, 201, 409):
        raise RuntimeError(f"POST /api/v1/admin/groups answered {r.status_code}: {r.text[:200]}")
    r = admin_api(base, "PUT", f"groups/{group}/members/{user}")
    if r.status_code not in (200, 201, 204):
        raise RuntimeError(f"PUT /api/v1/admin/groups/{group}/members/{user} answered {r.status_code}: {r.text[:200]}")
