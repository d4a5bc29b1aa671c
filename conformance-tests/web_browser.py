#!/usr/bin/env python3
"""A real headless Chromium signs in through Madang to Apache mod_auth_openidc (Selenium + chromedriver).

Usage: web_browser.py   (env: CT_URL, CT_PASSWORD, CT_MADANG_CLI, CT_RESULTS_DIR; optional CT_USER,
                         CT_OIDC_ISSUER, CT_CHROMIUM_BIN default /usr/bin/chromium, CT_CHROMEDRIVER_BIN
                         default /usr/bin/chromedriver, CT_APACHE_BIN)

Why a real browser: Chromium applies the CSP `form-action` directive not only to a form's action but
to every redirect that follows the submission (POST /signin -> 303 /oauth2/authorize -> 302 to the
relying party), and blocks the navigation when the relying party's origin is not allowed. Scripted
clients (requests, Authlib, goth) never notice; a person's browser stops on an error page.

Set-up: a confidential client `apache-browser` registered with `madang oidc client add`; Apache with
mod_auth_openidc (ct_apache.py, shared with oidc_apache.py) protecting /protected on its own
127.0.0.1 port, the claims page /protected/claims?view=html showing REMOTE_USER and the OIDC_CLAIM_*
environment; a user `carol` (CLI) who turns TOTP on in Chromium on /account/totp (pyotp codes).
Every browser is Debian's Chromium, headless, with a fresh profile, driven through /usr/bin/chromedriver
(Selenium Manager is never used); its console (goog:loggingPrefs browser) and its network events
(performance log) are read after every step.

Checks:
  - canary: on the relying party, a page with `form-action 'self'` whose form posts to a URL that
    answers 303 to Madang's origin is blocked by Chromium and the violation shows in the log (so
    this Chromium enforces form-action on redirects and the suite sees violations);
  1. alice, first visit: protected page -> Madang's sign-in form (filled, submitted) -> consent page
     (allowed) -> the protected page with her claims (REMOTE_USER, email, iss, amr pwd);
     and in a fresh browser (consent remembered): POST /signin -> 303 /oauth2/authorize -> 302 to the
     relying party's redirect URI -> the protected page;
  2. carol turns TOTP on in Chromium (the code and her password again; recovery codes shown), allows
     the client once while signed in, then in a fresh browser: sign-in form -> /signin/totp (code) ->
     POST /signin/totp -> 303 /oauth2/authorize -> 302 to the relying party -> the protected page, amr with otp;
  3. a second visit while signed in to Madang (the module's session cookie deleted, so the module
     asks Madang again) goes straight through: /oauth2/authorize -> 302 back, no sign-in form, no
     code, no consent; with the module's session the page is served without Madang.
Each flow fails unless Chromium ends on exactly the expected page, the pages shown along the way are
exactly the expected ones, the network chain contains the expected hops, and the console has no
"Content Security Policy" message. The URL chain of every flow is printed and saved (chains.json,
console.json, screenshots of failures, chromedriver logs, Apache's logs and config).

Prints ok/FAIL lines, then "N passed, N failed"; exits non-zero on any failure.
"""

import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from types import SimpleNamespace
from urllib.parse import urljoin, urlparse

import pyotp
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ct_apache  # noqa: E402
import ct_web as W  # noqa: E402

BASE = os.environ["CT_URL"]
ISSUER = os.environ.get("CT_OIDC_ISSUER", BASE)
USER = os.environ.get("CT_USER", "alice")
PASSWORD = os.environ["CT_PASSWORD"]
CLI = os.environ.get("CT_MADANG_CLI", "")
OUT = os.environ.get("CT_RESULTS_DIR", "")
CHROMIUM = os.environ.get("CT_CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CT_CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
CLIENT_ID = "apache-browser"
TOTP_USER = "carol"
TOTP_PASSWORD = "carol-Secret-pw-1"
WAIT = 15  # seconds for one navigation
MODULE_COOKIE = "mod_auth_openidc_session"
MADANG_ORIGIN = f"{urlparse(BASE).scheme}://{urlparse(BASE).netloc}"

C = W.Checks()
BROWSERS = []
CHAINS = {}
CONSOLE = {}

CANARY_PAGE = """<!doctype html><html lang=en>
<meta http-equiv="Content-Security-Policy" content="form-action POLICY">
<title>canary</title>
<form method="post" action="/canary/redirect"><button id="go" type="submit">go</button></form>
"""
CANARY_CGI = """#!/usr/bin/python3
import sys
sys.stdin.read()
print("Status: 303 See Other")
print("Location: {target}")
print()
"""


# --- one Chromium ---------------------------------------------------------------------------------


class Chromium:
    """A headless Chromium with its own profile, driven by chromedriver; keeps its console and the
    document requests (every redirect hop) from the performance log."""

    def __init__(self, name):
        self.name = name
        self.closed = False
        # HOME, XDG dirs and the profile in one temp dir: Chromium writes nothing elsewhere, and every
        # process it starts (crashpad too, which leaves the session) names that dir on its command line.
        self.home = tempfile.mkdtemp(prefix=f"ct-chromium-{name}.")
        self.profile = os.path.join(self.home, "profile")
        o = webdriver.ChromeOptions()
        o.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-domain-reliability",
                  "--disable-client-side-phishing-detection", "--metrics-recording-only", "--no-pings",
                  "--password-store=basic", "--lang=en-US", "--window-size=1024,900",
                  f"--user-data-dir={self.profile}"):
            o.add_argument(a)
        o.add_experimental_option("prefs", {"intl.accept_languages": "en-US,en",
                                            "credentials_enable_service": False,
                                            "profile.password_manager_enabled": False})
        o.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        o.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
        log = os.path.join(OUT, f"chromedriver-{name}.log") if OUT else os.devnull
        # An explicit driver path: Selenium Manager (which would download drivers) is skipped. Its own
        # session: `timeout` signals its whole process group, and chromedriver dying first would leave
        # Chromium behind; our SIGTERM handler closes the browsers in order instead.
        env = dict(os.environ, HOME=self.home, XDG_CONFIG_HOME=f"{self.home}/.config",
                   XDG_CACHE_HOME=f"{self.home}/.cache")
        self.service = Service(executable_path=CHROMEDRIVER, log_output=log, env=env,
                               popen_kw={"start_new_session": True})
        self.d, self.console = None, []
        BROWSERS.append(self)
        self.d = webdriver.Chrome(service=self.service, options=o)
        self.d.set_page_load_timeout(WAIT)
        self.console = []
        self.hops = []  # dicts: id, method, url, status, location
        self.csp = []
        self.failed_loads = []

    def drain(self):
        """Moves the browser's new console and network entries into self.console / self.hops."""
        try:
            for e in self.d.get_log("browser"):
                self.console.append(e)
                if "Content Security Policy" in e.get("message", ""):
                    self.csp.append(e["message"].strip())
            perf = self.d.get_log("performance")
        except WebDriverException as e:
            self.console.append({"level": "HARNESS", "message": f"could not read the logs: {e}"})
            return
        for e in perf:
            try:
                m = json.loads(e["message"])["message"]
            except (KeyError, ValueError):
                continue
            p = m.get("params", {})
            if m.get("method") == "Network.requestWillBeSent" and p.get("type") == "Document":
                rr = p.get("redirectResponse")
                if rr:
                    self._set(p["requestId"], rr.get("status"), rr.get("headers", {}))
                req = p.get("request", {})
                if not req.get("url", "").startswith(("http:", "https:")):
                    continue  # the initial chrome:// tab
                self.hops.append({"id": p["requestId"], "method": req.get("method"), "url": req.get("url"),
                                  "status": None, "location": None})
            elif m.get("method") == "Network.responseReceived" and p.get("type") == "Document":
                r = p.get("response", {})
                self._set(p["requestId"], r.get("status"), r.get("headers", {}))
            elif m.get("method") == "Network.loadingFailed" and p.get("type") == "Document":
                why = p.get("blockedReason") or p.get("errorText") or "failed"
                self._set(p["requestId"], f"blocked:{why}", {})
                self.failed_loads.append(why)

    def _set(self, rid, status, headers):
        for h in reversed(self.hops):
            if h["id"] == rid and h["status"] is None:
                h["status"] = status
                h["location"] = {k.lower(): v for k, v in headers.items()}.get("location")
                return

    def reset(self):
        """Starts a new flow: drains and forgets what came before."""
        self.drain()
        self.hops, self.csp, self.failed_loads = [], [], []
        self.flow_console_start = len(self.console)

    def get(self, url):
        try:
            self.d.get(url)
        except TimeoutException:
            pass  # reported by the caller's page check
        self.drain()

    def page(self):
        """The current page as ct_web's parsers want it (url, text)."""
        try:
            return SimpleNamespace(url=self.d.current_url, text=self.d.page_source, status_code=200)
        except WebDriverException as e:
            return SimpleNamespace(url=f"(unreadable: {e})", text="", status_code=0)

    def form_element(self, form):
        """The <form> element of the page that posts where `form` (a ct_web.Form) does."""
        for el in self.d.find_elements(By.TAG_NAME, "form"):
            action = urljoin(self.d.current_url, el.get_attribute("action") or "")
            if urlparse(action).path == form.path() and (el.get_attribute("method") or "get").lower() == form.method:
                hidden = {i.get_attribute("name"): i.get_attribute("value")
                          for i in el.find_elements(By.CSS_SELECTOR, "input[type=hidden]")}
                if all(hidden.get(k) == v for k, v in form.hidden().items() if k == "action"):
                    return el
        raise RuntimeError(f"no <form> posting to {form.path()} on {self.d.current_url}")

    def submit(self, form_el, fields=None, button=None, wait=WAIT):
        """Types `fields` into the form, clicks its submit button (or `button`), waits for the new page."""
        for name, value in (fields or {}).items():
            inp = form_el.find_element(By.NAME, name)
            inp.clear()
            inp.send_keys(value)
        if button is None:
            button = form_el.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit], button:not([type])")
        old = self.d.find_element(By.TAG_NAME, "html")
        seen_csp = len(self.csp)
        button.click()
        # Wait for the next document, or stop early when Chromium reports a CSP violation (a blocked
        # navigation never replaces the page).
        deadline = time.time() + wait
        while time.time() < deadline:
            try:
                old.is_enabled()
            except WebDriverException:  # StaleElementReferenceException: the page was replaced
                break
            self.drain()
            if len(self.csp) > seen_csp:
                break
            time.sleep(0.1)
        try:
            WebDriverWait(self.d, max(1.0, deadline - time.time())).until(
                lambda d: d.execute_script("return document.readyState") == "complete")
        except (TimeoutException, WebDriverException):
            pass  # reported by the caller's page check
        self.drain()

    def delete_cookie(self, name):
        self.d.delete_cookie(name)

    def cookie_names(self):
        return sorted(c["name"] for c in self.d.get_cookies())

    def screenshot(self, label):
        if OUT:
            try:
                self.d.save_screenshot(os.path.join(OUT, f"{self.name}-{label}.png"))
            except WebDriverException:
                pass

    def quit(self):
        if self.closed:
            return
        self.closed = True
        CONSOLE[self.name] = self.console
        try:
            if self.d is not None:
                self.drain()
                self.d.quit()  # closes Chromium and stops chromedriver
            else:
                self.service.stop()
        except Exception:  # noqa: BLE001 - stop the processes below anyway
            pass
        p = self.service.process
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except Exception:  # noqa: BLE001
                p.kill()
        # Chromium's helpers outlive it for a moment: wait for them, then stop what is left by PID.
        deadline = time.time() + 5
        while time.time() < deadline and self._left(p):
            time.sleep(0.1)
        for pid in self._left(p):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.home, ignore_errors=True)

    def _left(self, driver):
        """PIDs of this browser's live processes: chromedriver's session (it has its own) and any
        process naming this browser's temp dir on its command line (crashpad starts its own session)."""
        out, home = [], self.home.encode()
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[-1].split()
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if fields[0] == "Z":
                continue
            if (driver is not None and int(fields[3]) == driver.pid) or home in cmd:
                out.append(int(name))
        return out


# --- chains ---------------------------------------------------------------------------------------


RP_ORIGIN = [""]  # the relying party's origin, once Apache runs


def who(url):
    """'madang', 'rp' or the URL's origin."""
    u = urlparse(url or "")
    origin = f"{u.scheme}://{u.netloc}"
    return "madang" if origin == MADANG_ORIGIN else "rp" if origin == RP_ORIGIN[0] else origin


def label(url, ap=None):
    """'madang/path?query' or 'rp/path?query', short."""
    u = urlparse(url or "")
    w = who(url)
    q = ("?" + u.query) if u.query else ""
    if len(q) > 50:
        q = q[:47] + "..."
    return f"{w}{u.path}{q}" if w in ("madang", "rp") else (url or "")[:120]


def hop_str(h, ap):
    return f"{h['method']} {label(h['url'], ap)} {h['status']}"


def chain_str(hops, ap):
    return " -> ".join(hop_str(h, ap) for h in hops) or "(no document request)"


def has_run(hops, want):
    """True when `want` ("METHOD who/path STATUS", STATUS may be 3xx) is a contiguous run of hops."""
    got = [(h["method"], f"{who(h['url'])}{urlparse(h['url'] or '').path}", str(h["status"])) for h in hops]

    def match(g, w):
        m, p, s = w.split(" ")
        return g[0] == m and g[1] == p and (g[2] == s or (s.endswith("xx") and g[2].startswith(s[0])))

    for i in range(len(got) - len(want) + 1):
        if all(match(got[i + j], want[j]) for j in range(len(want))):
            return True
    return False


# --- pages ----------------------------------------------------------------------------------------


def classify(page, expect):
    if page.url == expect:
        return "target"
    if W.signin_form(page) is not None:
        return "signin"
    if W.otp_form(page) is not None and urlparse(page.url).path.startswith("/signin"):
        return "totp"
    if W.consent_form(page) is not None:
        return "consent"
    return "other"


def drive(b, start, expect, user, password, otp=None, before_code=None):
    """Opens `start` and goes through Madang's pages as a person would, until `expect` or a page it
    does not know. Returns the pages shown."""
    b.get(start)
    shown = []
    for _ in range(6):
        page = b.page()
        kind = classify(page, expect)
        if kind in ("target", "other") or kind in shown:
            break
        shown.append(kind)
        if kind == "signin":
            f = W.signin_form(page)
            b.submit(b.form_element(f), {W.username_field(f): user, W.password_field(f): password})
        elif kind == "totp":
            if otp is None:
                break
            if before_code:
                before_code()
            f = W.otp_form(page)
            b.submit(b.form_element(f), {W.otp_field(f): otp.now()})
        elif kind == "consent":
            f = W.consent_form(page)
            el = b.form_element(f)
            buttons = el.find_elements(By.CSS_SELECTOR, "button[value=allow], input[type=submit][value=allow]")
            if not buttons:
                button = W.pick_button(f, W.ALLOW_WORDS)
                buttons = [x for x in el.find_elements(By.CSS_SELECTOR, "button, input[type=submit]")
                           if button and x.get_attribute("value") == button.get("value")]
            if not buttons:
                raise RuntimeError(f"no allow button in the consent form: {f.buttons}")
            b.submit(el, button=buttons[0])
    return shown


def claims_of(b):
    try:
        return json.loads(b.d.find_element(By.ID, "claims").text)
    except (WebDriverException, ValueError):
        return {}


def flow(name, b, ap, user, password, pages, runs, otp=None, before_code=None, amr=None, no_madang=False):
    """One flow in browser `b`: open the protected page, go through what Madang shows, and check
    where Chromium ends, what it showed, the redirect chain and the console."""
    start = ap.url + "/protected/claims?view=html"
    expect = start  # where Chromium must end
    b.reset()
    t0 = time.time()
    failed_before = C.failed
    shown = drive(b, start, expect, user, password, otp, before_code)
    b.drain()
    page = b.page()
    chain = chain_str(b.hops, ap)
    CHAINS[name] = {"chain": chain, "hops": b.hops, "pages": shown, "final_url": page.url,
                    "csp": list(b.csp), "seconds": round(time.time() - t0, 2)}
    print(f"     chain: {chain}", flush=True)
    C.ok(page.url == expect, f"{name}: Chromium ends on the protected page {label(expect, ap)}",
              f"ended on {page.url} ({W.page_text(page.text)[:200]!r}); chain: {chain}; "
              f"failed loads: {b.failed_loads}; CSP: {b.csp}")
    C.eq(shown, pages, f"{name}: Madang's pages shown on the way: {', '.join(pages) or 'none'}")
    C.ok(not b.csp, f"{name}: no Content Security Policy violation in Chromium's console", "; ".join(b.csp))
    for run in runs:
        C.ok(has_run(b.hops, run), f"{name}: chain has {' -> '.join(run)}", chain)
    if no_madang:
        C.ok(not any(urlparse(h["url"] or "").netloc == urlparse(BASE).netloc for h in b.hops),
             f"{name}: no request to Madang", chain)
    env = claims_of(b)
    C.eq(env.get("REMOTE_USER"), user, f"{name}: the page shows REMOTE_USER = {user}")
    C.eq(env.get("OIDC_CLAIM_email"), f"{user}@example.com", f"{name}: ... and the email claim")
    C.eq(env.get("OIDC_CLAIM_iss"), ISSUER, f"{name}: ... and iss = the issuer")
    if amr:
        got = (env.get("OIDC_CLAIM_amr") or "").split(",")
        C.ok(all(m in got for m in amr), f"{name}: ... and amr has {', '.join(amr)}", repr(got))
    if C.failed > failed_before:
        b.screenshot(re.sub(r"\W+", "-", name))
    return env


# --- scenarios ------------------------------------------------------------------------------------


def canary(ap):
    """The same form POST -> 303 to Madang's origin, once with form-action 'self' (Chromium must block
    the redirect and log it) and once with Madang's origin added (it must get through)."""
    b = Chromium("canary")
    try:
        for page, allowed in (("canary-allowed.html", True), ("canary.html", False)):
            b.reset()
            b.get(f"{ap.url}/{page}")
            C.eq(b.d.title, "canary", f"canary: the relying party's test page {page} opens")
            t0 = time.time()
            b.submit(b.d.find_element(By.TAG_NAME, "form"), wait=5)
            if not allowed:
                time.sleep(0.3)  # let Apache write its access log line
            url = b.d.current_url
            chain = chain_str(b.hops, ap)
            print(f"     chain: {chain} ({time.time() - t0:.1f} s)", flush=True)
            print(f"     CSP messages: {b.csp}", flush=True)
            CHAINS[page] = {"chain": chain, "hops": b.hops, "final_url": url, "csp": list(b.csp)}
            if allowed:
                C.eq(url, BASE + "healthz", "canary: with Madang's origin in form-action the POST -> 303 to Madang "
                                            "gets through")
                C.ok(not b.csp, "  ... and logs no CSP violation", "; ".join(b.csp))
            else:
                blocked = [h for h in b.hops if h["method"] == "POST" and h["url"].endswith("/canary/redirect")
                           and str(h["status"]).startswith("blocked:")]
                C.ok(not url.startswith(MADANG_ORIGIN) and not any(h["url"].startswith(MADANG_ORIGIN) for h in b.hops)
                     and bool(blocked), "canary: with form-action 'self' Chromium blocks the 303 to Madang's origin "
                                        "after the POST", f"ended on {url}; chain {chain}")
                # Apache answered the POST (303): what Chromium blocked is the redirect, not the submission.
                answered = False
                try:
                    with open(f"{ap.root}/logs/access.log") as f:
                        answered = '"POST /canary/redirect HTTP/1.1" 303' in f.read().splitlines()[-1]
                except (OSError, IndexError):
                    pass
                C.ok(answered, "  ... after the relying party answered that POST with 303 (Apache's access log)")
                C.ok(any("form-action" in m for m in b.csp), "  ... and the violation is in the console log "
                                                             "(so the suite sees CSP violations)", repr(b.console[-5:]))
    finally:
        b.quit()


def enrol_totp():
    W.add_user(CLI, TOTP_USER, TOTP_PASSWORD)
    b = Chromium("carol-enrol")
    b.reset()
    b.get(BASE + "account/totp")
    page = b.page()
    C.ok(W.signin_form(page) is not None, "TOTP enrolment: /account/totp asks for the sign-in first", page.url)
    f = W.signin_form(page)
    b.submit(b.form_element(f), {W.username_field(f): TOTP_USER, W.password_field(f): TOTP_PASSWORD})
    C.eq(urlparse(b.d.current_url).path, "/account/totp", "  ... and comes back to /account/totp after it")
    start = b.d.find_element(By.CSS_SELECTOR, "form input[name=action][value=start]").find_element(By.XPATH, "./..")
    b.submit(start)
    links = b.d.find_elements(By.CSS_SELECTOR, "a[href^='otpauth://']")
    C.ok(bool(links), "TOTP enrolment: the page shows an otpauth:// link", b.d.current_url)
    totp = pyotp.parse_uri(links[0].get_attribute("href"))
    qr = b.d.find_elements(By.CSS_SELECTOR, "img[src^='data:image/']")
    C.ok(bool(qr) and b.d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", qr[0]),
         "  ... and the QR code image is displayed (img-src data: allowed)")
    confirm = b.d.find_element(By.CSS_SELECTOR, "form input[name=action][value=confirm]").find_element(By.XPATH, "./..")
    used_at = time.time()
    # The account password again (issue 19): a session alone does not turn TOTP on.
    b.submit(confirm, {"code": totp.now(), "password": TOTP_PASSWORD})
    codes = re.findall(r"\b[a-z0-9]{5}-[a-z0-9]{5}\b", W.page_text(b.d.page_source))
    C.eq(len(set(codes)), 10, "TOTP on: ten recovery codes shown")
    C.ok(not b.csp, "TOTP enrolment: no Content Security Policy violation in Chromium's console", "; ".join(b.csp))
    return b, totp, used_at


def wait_next_step(after):
    step_end = (int(after) // 30 + 1) * 30
    delay = step_end - time.time() + 0.3
    if delay > 0:
        print(f"     (waiting {delay:.1f} s for the next TOTP time step)", flush=True)
        time.sleep(delay)


def scenarios(ap):
    RP_ORIGIN[0] = ap.url
    rp_hops = ["GET rp/protected/redirect_uri 3xx", "GET rp/protected/claims 200"]
    C.step("canary: Chromium enforces form-action on redirects", canary, ap)

    # carol turns TOTP on first, so the next time step has come by the time she signs in with a code.
    enrolled = C.step("carol turns TOTP on in Chromium", enrol_totp)

    a = Chromium("alice")
    C.step("1. alice: sign-in form, consent, protected page", flow, "1 first visit", a, ap, USER, PASSWORD,
           ["signin", "consent"],
           [["POST madang/signin 3xx", "GET madang/oauth2/authorize 3xx", "GET madang/oauth2/consent 200"],
            ["POST madang/oauth2/consent 3xx"] + rp_hops], amr=["pwd"])
    C.step("3. alice again, the module's session", flow, "3 module session", a, ap, USER, PASSWORD, [],
           [["GET rp/protected/claims 200"]], no_madang=True)
    a.delete_cookie(MODULE_COOKIE)
    C.ok(MODULE_COOKIE not in a.cookie_names(), "3: the module's session cookie is deleted, Madang's kept",
         repr(a.cookie_names()))
    C.step("3. alice again, signed in to Madang", flow, "3 signed in", a, ap, USER, PASSWORD, [],
           [["GET rp/protected/claims 3xx", "GET madang/oauth2/authorize 3xx"] + rp_hops])
    a.quit()
    a2 = Chromium("alice-fresh")
    C.step("1b. alice in a fresh browser, consent remembered", flow, "1b fresh browser", a2, ap, USER, PASSWORD,
           ["signin"], [["POST madang/signin 3xx", "GET madang/oauth2/authorize 3xx"] + rp_hops], amr=["pwd"])
    a2.quit()

    if not enrolled:
        return
    cb, totp, used_at = enrolled
    # Signed in to Madang from the enrolment: no sign-in form, the consent page once.
    C.step("2a. carol, signed in, allows the client", flow, "2a signed in, consent", cb, ap, TOTP_USER, TOTP_PASSWORD,
           ["consent"], [["POST madang/oauth2/consent 3xx"] + rp_hops])
    cb.quit()
    c = Chromium("carol-fresh")
    C.step("2. carol with TOTP in a fresh browser", flow, "2 TOTP", c, ap, TOTP_USER, TOTP_PASSWORD,
           ["signin", "totp"],
           [["POST madang/signin 3xx", "GET madang/signin/totp 200"],
            ["POST madang/signin/totp 3xx", "GET madang/oauth2/authorize 3xx"] + rp_hops],
           otp=totp, before_code=lambda: wait_next_step(used_at), amr=["otp", "pwd"])
    c.delete_cookie(MODULE_COOKIE)
    C.step("3. carol again, signed in to Madang", flow, "3 TOTP signed in", c, ap, TOTP_USER, TOTP_PASSWORD, [],
           [["GET rp/protected/claims 3xx", "GET madang/oauth2/authorize 3xx"] + rp_hops])
    c.quit()


def main():
    # `timeout` (run.sh) sends SIGTERM: unwind so the finally below stops Chromium and Apache by PID.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.time()
    for what, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)):
        if not os.access(path, os.X_OK):
            print(f"FAIL {what} missing at {path}: run setup.sh (Debian chromium, chromium-driver)")
            return 1
    missing = ct_apache.available()
    if missing:
        print(f"FAIL {missing}")
        return 1
    port = ct_apache.free_port()
    rp = f"http://127.0.0.1:{port}"
    secret = C.step("register client", W.add_oidc_client, CLI, CLIENT_ID, [rp + "/protected/redirect_uri"],
                    extra=["--name", "Apache (Chromium)"])
    C.ok(bool(secret), f"client '{CLIENT_ID}' registered")
    if not secret:
        return C.finish() or 1
    root = tempfile.mkdtemp(prefix="ct-apache-browser.")
    ap = None
    files = {"htdocs/canary.html": (CANARY_PAGE.replace("POLICY", "'self'"), 0o644),
             "htdocs/canary-allowed.html": (CANARY_PAGE.replace("POLICY", f"'self' {MADANG_ORIGIN}"), 0o644),
             "canary.cgi": (CANARY_CGI.format(target=BASE + "healthz"), 0o755)}
    extra = f"""ScriptAlias /canary/redirect "{root}/canary.cgi"
<Directory "{root}">
    <Files "canary.cgi">
        Require all granted
    </Files>
</Directory>"""
    try:
        ap = C.step("start apache2 with mod_auth_openidc", ct_apache.Apache, root, port, provider=BASE,
                    client_id=CLIENT_ID, secret=secret, out_dir=OUT, files=files, extra_conf=extra,
                    written_by="conformance-tests/web_browser.py")
        if ap is not None:
            C.ok(True, f"apache2 (pid {ap.p.pid}) serves {ap.url}")
            scenarios(ap)
            if C.failed:
                print("--- apache error log (tail) ---")
                print(ap.log_tail(40))
    finally:
        for b in BROWSERS:
            b.quit()
        if ap is not None:
            ap.stop()
        shutil.rmtree(root, ignore_errors=True)
        if OUT:
            with open(os.path.join(OUT, "chains.json"), "w") as f:
                json.dump(CHAINS, f, indent=2)
            with open(os.path.join(OUT, "console.json"), "w") as f:
                json.dump(CONSOLE, f, indent=2)
        print(f"web_browser took {time.time() - t0:.1f} s", flush=True)
    return C.finish()


if __name__ == "__main__":
    sys.exit(main())
