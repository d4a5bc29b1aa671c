"""Real IMAP clients through Madang's IMAP listener (issue 15) to a real Dovecot.

Set-up through the CLI and the JSON API: an administrator turns the mail module on, alice links
a Dovecot mailbox of her own (dovecot.sh adduser) and makes an app password. Then:

- curl over implicit TLS and over STARTTLS: LIST, FETCH by UID, SEARCH;
- mbsync (Debian isync): a full two-way sync of several folders: mail and folders created
  upstream appear locally, mail created locally appears upstream, flags go both ways; checked
  on the Dovecot side directly, not through Madang;
- Python imaplib: IDLE through the relay (a message delivered upstream is announced), and
  AUTHENTICATE OAUTHBEARER with a Madang token that has the `mail` scope (code flow through the
  sign-in page), refused for a token without it.

run.sh starts Dovecot (or uses the harness's) and the server with MADANG_MAILPROXY_* set; this
script reads CT_IMAP_PORT, CT_IMAPS_PORT and MADANG_TEST_DOVECOT_*.
"""

import base64
import hashlib
import imaplib
import os
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import requests

sys.path.insert(0, os.path.dirname(__file__))
import ct_web  # noqa: E402

HERE = Path(__file__).resolve().parent
URL = os.environ["CT_URL"]
USER = os.environ.get("CT_USER", "alice")
PASSWORD = os.environ.get("CT_PASSWORD", "alice-secret-pw")
CLI = os.environ.get("CT_MADANG_CLI")
DV_DIR = os.environ["MADANG_TEST_DOVECOT_DIR"]
DV_IMAPS = int(os.environ["MADANG_TEST_DOVECOT_IMAPS"])
DV_SUBMISSION = int(os.environ["MADANG_TEST_DOVECOT_SUBMISSION"])
CA = os.environ["MADANG_TEST_DOVECOT_CA"]
IMAP = int(os.environ["CT_IMAP_PORT"])
IMAPS = int(os.environ["CT_IMAPS_PORT"])
T = 20

C = ct_web.Checks()
MAILBOX = f"ct{secrets.token_hex(4)}@example.test"
MAILBOX_PW = "ct-box-" + secrets.token_hex(6)


def dovecot(*args):
    subprocess.run(["bash", str(HERE / "dovecot.sh"), *args], check=True, timeout=60)


def deliver(subject, body="hello"):
    with tempfile.NamedTemporaryFile("w", delete=False, suffix=".eml") as f:
        f.write(f"From: ct@example.test\r\nTo: {MAILBOX}\r\nSubject: {subject}\r\n"
                f"Message-ID: <{secrets.token_hex(8)}@example.test>\r\n\r\n{body}\r\n")
    dovecot("deliver", DV_DIR, MAILBOX, f.name)
    os.unlink(f.name)


def tls_context():
    ctx = ssl.create_default_context(cafile=CA)
    return ctx


def upstream():
    """Dovecot itself, not through Madang: what the checks compare against."""
    m = imaplib.IMAP4_SSL("localhost", DV_IMAPS, ssl_context=tls_context(), timeout=T)
    m.login(MAILBOX, MAILBOX_PW)
    return m


def proxied(port=IMAPS):
    return imaplib.IMAP4_SSL("localhost", port, ssl_context=tls_context(), timeout=T)


def set_up():
    ct_web.add_user(CLI, ct_web.ADMIN_USER, ct_web.ADMIN_PASSWORD, admin=True)
    r = ct_web.admin_api(URL, "PUT", "modules", json={"mail": True})
    C.eq(r.status_code, 200, "the mail module is turned on")
    # The module setting is cached for up to a second per process (src/modules.rs).
    for _ in range(50):
        me = requests.get(URL + "api/v1/me", auth=(USER, PASSWORD), timeout=T)
        if '"mail":true' in me.text.replace(" ", ""):
            break
        time.sleep(0.1)
    dovecot("adduser", DV_DIR, MAILBOX, MAILBOX_PW)
    deliver("first message", "the first one")
    deliver("second hello", "the second one")
    link = {
        "email": MAILBOX, "display_name": "CT", "username": MAILBOX, "password": MAILBOX_PW,
        "imap_host": "localhost", "imap_port": DV_IMAPS, "imap_security": "tls",
        "smtp_host": "localhost", "smtp_port": DV_SUBMISSION, "smtp_security": "starttls",
    }
    r = requests.post(URL + "api/v1/mail/accounts", json=link, auth=(USER, PASSWORD), timeout=60)
    C.eq(r.status_code, 201, "alice links her Dovecot mailbox")
    r = requests.post(URL + "api/v1/me/app-passwords", json={"label": "mail apps"}, auth=(USER, PASSWORD), timeout=T)
    C.eq(r.status_code, 201, "alice makes an app password")
    return r.json()["password"]


def curl(url, app_password, *extra):
    cmd = ["curl", "-sS", "--max-time", str(T), "--cacert", CA, "-u", f"{USER}:{app_password}", *extra, url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=T + 5, check=False)
    return p.returncode, p.stdout, p.stderr


def curl_checks(app_password):
    rc, out, err = curl(f"imaps://localhost:{IMAPS}/", app_password)
    C.ok(rc == 0 and "INBOX" in out, "curl imaps: LIST shows INBOX", f"{rc} {out!r} {err!r}")
    rc, out, err = curl(f"imaps://localhost:{IMAPS}/INBOX;UID=1", app_password)
    C.ok(rc == 0 and "Subject: first message" in out and "the first one" in out, "curl imaps: FETCH UID 1",
         f"{rc} {out[:300]!r} {err!r}")
    rc, out, err = curl(f"imaps://localhost:{IMAPS}/INBOX?SUBJECT%20hello", app_password)
    C.ok(rc == 0 and out.strip() == "* SEARCH 2", "curl imaps: SEARCH SUBJECT hello", f"{rc} {out!r} {err!r}")
    rc, out, err = curl(f"imap://localhost:{IMAP}/INBOX;UID=2", app_password, "--ssl-reqd")
    C.ok(rc == 0 and "Subject: second hello" in out, "curl imap + STARTTLS: FETCH UID 2", f"{rc} {out[:300]!r} {err!r}")
    rc, out, err = curl(f"imaps://localhost:{IMAPS}/", "wrong-password")
    C.ok(rc != 0 and "INBOX" not in out, "curl imaps: a wrong password is refused", f"{rc} {out!r}")


def mbsync_checks(app_password):
    up = upstream()
    for folder in ("Work", "Archive"):
        up.create(folder)
    up.append("Work", None, None, b"From: ct@example.test\r\nSubject: work item\r\n\r\nwork\r\n")
    up.logout()
    # Not the results directory: the configuration holds the app password.
    with tempfile.TemporaryDirectory(prefix="ct-mbsync-") as work:
        mbsync_in(work, app_password)


def mbsync_in(work, app_password):
    local = Path(work) / "mbsync-mail"
    local.mkdir()
    config = Path(work) / "mbsyncrc"
    config.write_text(f"""IMAPAccount madang
Host localhost
Port {IMAPS}
User {USER}
Pass {app_password}
SSLType IMAPS
CertificateFile {CA}
Timeout {T}

IMAPStore remote
Account madang

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
Sync All
""")

    def run():
        p = subprocess.run(["mbsync", "-c", str(config), "-a"], capture_output=True, text=True, timeout=120,
                           check=False)
        if p.returncode != 0:
            print(p.stdout, p.stderr)
        return p.returncode

    def files(folder):
        d = local / folder
        return sorted((d / "cur").glob("*")) + sorted((d / "new").glob("*"))

    C.eq(run(), 0, "mbsync: first full sync")
    inbox = files("INBOX")
    C.eq(len(inbox), 2, "mbsync: INBOX's two messages are local")
    C.ok(any(b"work item" in f.read_bytes() for f in files("Work")), "mbsync: a message appended upstream to Work is local")
    C.ok((local / "Archive").is_dir(), "mbsync: the folder Archive made upstream exists locally")

    # Local changes: a new message in Archive, a new folder, a flag on the first INBOX message.
    (local / "Archive" / "new").mkdir(parents=True, exist_ok=True)
    (local / "Archive" / "new" / f"{int(time.time())}.ct.local").write_bytes(
        b"From: ct@example.test\r\nSubject: made locally\r\n\r\nlocal\r\n")
    for sub in ("cur", "new", "tmp"):
        (local / "Local" / sub).mkdir(parents=True, exist_ok=True)
    (local / "Local" / "new" / f"{int(time.time())}.ct2.local").write_bytes(
        b"From: ct@example.test\r\nSubject: in a local folder\r\n\r\nlocal\r\n")
    first = inbox[0]
    flagged = first.parent.parent / "cur" / (first.name.split(":2,")[0] + ":2,F")
    first.rename(flagged)
    # Upstream changes: a new message and \Seen on the second.
    deliver("arrived later", "later")
    up = upstream()
    up.select("INBOX")
    up.store("2", "+FLAGS", "\\Seen")
    up.logout()

    C.eq(run(), 0, "mbsync: second sync")
    up = upstream()
    up.select("Archive", readonly=True)
    typ, data = up.search(None, "SUBJECT", '"made locally"')
    C.ok(typ == "OK" and data[0].split(), "mbsync: a message made locally in Archive is upstream", repr(data))
    typ, data = up.list()
    C.ok(any(b'"Local"' in line or line.endswith(b" Local") for line in data), "mbsync: a folder made locally exists upstream",
         repr(data))
    up.select("INBOX", readonly=True)
    typ, data = up.search(None, "FLAGGED")
    C.ok(typ == "OK" and data[0].split() == [b"1"], "mbsync: a flag set locally is set upstream", repr(data))
    up.logout()
    C.ok(any(b"arrived later" in f.read_bytes() for f in files("INBOX")), "mbsync: mail delivered upstream arrives")
    seen = [f for f in files("INBOX") if b"second hello" in f.read_bytes()]
    C.ok(seen and "S" in seen[0].name.split(":2,")[-1], "mbsync: a flag set upstream is set locally",
         repr([f.name for f in files("INBOX")]))


def idle_check(app_password):
    m = proxied()
    m.login(USER, app_password)
    m.select("INBOX")
    tag = m._new_tag().decode()
    m.send(f"{tag} IDLE\r\n".encode())
    C.ok(m.readline().startswith(b"+"), "imaplib: IDLE through the relay")
    deliver("while idling")
    announced = False
    deadline = time.time() + T
    while time.time() < deadline:
        line = m.readline()
        if line.endswith(b"EXISTS\r\n"):
            announced = True
            break
    C.ok(announced, "imaplib: a message delivered upstream is announced during IDLE")
    m.send(b"DONE\r\n")
    while True:
        line = m.readline()
        if line.startswith(tag.encode()):
            C.ok(b" OK" in line, "imaplib: DONE ends IDLE", repr(line))
            break
    m.logout()


def madang_token(scope):
    """A Madang access token for alice with `scope`, by the code flow through the sign-in page."""
    client_id = "ct-mail-" + secrets.token_hex(3)
    redirect = "http://127.0.0.1:9/cb"
    secret = ct_web.add_oidc_client(CLI, client_id, [redirect], extra=["--scope", scope])
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect, "scope": scope,
                       "state": "st", "code_challenge": challenge, "code_challenge_method": "S256"})
    browser = ct_web.Browser(URL)
    callback, resp, _ = ct_web.authorize(browser, URL + "oauth2/authorize?" + query, redirect, USER, PASSWORD)
    if not callback:
        raise RuntimeError(f"no code: {resp.status_code} {resp.text[:300]}")
    code = ct_web.query_of(callback)["code"]
    r = requests.post(URL + "oauth2/token", auth=(client_id, secret), timeout=T, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "code_verifier": verifier})
    r.raise_for_status()
    return r.json()["access_token"]


def oauthbearer_checks():
    token = madang_token("openid mail")
    m = proxied()
    m.authenticate("OAUTHBEARER", lambda _: f"n,a={USER},\x01host=localhost\x01port={IMAPS}\x01auth=Bearer {token}\x01\x01")
    typ, data = m.select("INBOX", readonly=True)
    C.ok(typ == "OK" and int(data[0]) >= 2, "imaplib: AUTHENTICATE OAUTHBEARER with a mail-scope token", repr(data))
    m.logout()
    other = madang_token("openid api")
    m = proxied()
    answers = []

    def respond(challenge):
        answers.append(challenge)
        return f"n,a={USER},\x01auth=Bearer {other}\x01\x01" if len(answers) == 1 else "\x01"

    try:
        m.authenticate("OAUTHBEARER", respond)
        C.ok(False, "imaplib: a token without the mail scope is refused")
    except imaplib.IMAP4.error as e:
        C.ok("AUTHENTICATIONFAILED" in str(e), "imaplib: a token without the mail scope is refused", str(e))
    m.logout()


def main():
    app_password = C.step("set-up", set_up)
    if not app_password:
        return C.finish()
    C.step("curl", curl_checks, app_password)
    C.step("mbsync", mbsync_checks, app_password)
    C.step("IDLE", idle_check, app_password)
    C.step("OAUTHBEARER", oauthbearer_checks)
    return C.finish()


if __name__ == "__main__":
    socket.setdefaulttimeout(T)
    sys.exit(main())
