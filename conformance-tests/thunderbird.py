#!/usr/bin/env python3
"""Thunderbird itself (Debian's ESR, headless, driven through Marionette) sets up a mail account
from an e-mail address and a Madang app password alone, then reads, moves and sends mail through
Madang's IMAP and SMTP listeners (issue 15's moonshot client).

Run by run.sh against a fresh `madang serve` whose mail listeners run.sh configured
(`suite_server_env thunderbird`: implicit-TLS IMAP and submission on CT_IMAPS_PORT and
CT_SUBMISSIONS_PORT, host name `localhost`, Dovecot's throw-away certificate), with the harness's
Dovecot (MADANG_TEST_DOVECOT_*) as the linked mailbox.

What Thunderbird does here is what its new-account wizard does (mail/components/accountcreation:
views/email.mjs): `FindConfig.parallelAutoDiscovery` (autoconfig from the address's domain:
`http://autoconfig.<domain>/mail/config-v1.1.xml` and `/.well-known/autoconfig/...`, reached
through an HTTP proxy setting that points at Madang, since the test domain is not in DNS),
`AccountConfig.replaceVariables`, `ConfigVerifier.verifyConfig` (logs in to IMAP and SMTP with the
password), `CreateInBackend.createAccountInBackend`; then its own IMAP code downloads INBOX,
creates a folder and moves a message there, and its SMTP code sends a message. The checks read
the upstream Dovecot directly: the folder and the moved message are there, the sent message
reached the submission sink with the linked address as envelope sender.
"""
import imaplib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

from marionette_driver.marionette import Marionette

HERE = os.path.dirname(os.path.abspath(__file__))
DOVECOT = os.path.join(HERE, "dovecot.sh")
URL = os.environ["CT_URL"]
CLI = os.environ["CT_MADANG_CLI"]
DIR = os.environ.get("MADANG_TEST_DOVECOT_DIR")
BOX_PASSWORD = "tb-box-pw"

DRIVE = r"""
const [email, password, resolve] = arguments;
(async () => {
  const out = {};
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  try {
    const { FindConfig } = ChromeUtils.importESModule("resource:///modules/accountcreation/FindConfig.sys.mjs");
    const { AccountConfig } = ChromeUtils.importESModule("resource:///modules/accountcreation/AccountConfig.sys.mjs");
    const { ConfigVerifier } = ChromeUtils.importESModule("resource:///modules/accountcreation/ConfigVerifier.sys.mjs");
    const { CreateInBackend } = ChromeUtils.importESModule("resource:///modules/accountcreation/CreateInBackend.sys.mjs");
    const { MailServices } = ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
    const win = Services.wm.getMostRecentWindow("mail:3pane");
    const domain = email.split("@")[1];
    const found = (await FindConfig.parallelAutoDiscovery(domain, email, new AbortController().signal, password).next()).value;
    out.found = { source: found.source, imap: [found.incoming.hostname, found.incoming.port, found.incoming.socketType],
                  smtp: [found.outgoing.hostname, found.outgoing.port, found.outgoing.socketType] };
    AccountConfig.replaceVariables(found, "Thunderbird Tester", email, password);
    out.username = found.incoming.username;
    const verified = await new ConfigVerifier(win.msgWindow, new AbortController().signal).verifyConfig(found, false);
    out.verified = true;
    const account = await CreateInBackend.createAccountInBackend(found);
    const server = account.incomingServer;
    const inbox = server.rootFolder.getFolderWithFlags(Ci.nsMsgFolderFlags.Inbox);
    await new Promise((res, rej) => inbox.QueryInterface(Ci.nsIMsgImapMailFolder).updateFolderWithListener(win.msgWindow, {
      OnStartRunningUrl() {}, OnStopRunningUrl(url, status) { status == 0 ? res() : rej(new Error("INBOX update: " + status)); },
    }));
    let headers = [];
    for (let i = 0; i < 150 && headers.length == 0; i++) {
      await sleep(200);
      headers = [...inbox.msgDatabase.enumerateMessages()];
    }
    out.subjects = headers.map(h => h.mime2DecodedSubject);
    // A folder of its own, then the message moved into it (CREATE, then MOVE or COPY+EXPUNGE).
    server.rootFolder.createSubfolder("Thunderbird Moved", win.msgWindow);
    let dest = null;
    for (let i = 0; i < 150 && !dest; i++) {
      await sleep(200);
      try { dest = server.rootFolder.getChildNamed("Thunderbird Moved"); } catch (e) {}
    }
    if (!dest) throw new Error("the folder was not created");
    await new Promise((res, rej) => MailServices.copy.copyMessages(inbox, headers.slice(0, 1), dest, true, {
      onStartCopy() {}, onProgress() {}, setMessageKey() {}, getMessageId() { return null; },
      onStopCopy(status) { status == 0 ? res() : rej(new Error("move: " + status)); },
    }, win.msgWindow, false));
    out.moved = true;
    // Sending: the account's outgoing server, as the composer's send does.
    const identity = account.defaultIdentity;
    const smtp = MailServices.outgoingServer.getServerByIdentity(identity);
    const file = Services.dirsvc.get("TmpD", Ci.nsIFile);
    file.append("madang-thunderbird-" + Date.now() + ".eml");
    await IOUtils.writeUTF8(file.path, "From: Thunderbird Tester <" + email + ">\r\nTo: Bob <bob@example.test>\r\n" +
      "Subject: Sent by Thunderbird through Madang\r\nMessage-ID: <tb-" + Date.now() + "@example.test>\r\n" +
      "Date: " + new Date().toUTCString().replace("GMT", "+0000") + "\r\n\r\nHello Bob, from Thunderbird.\r\n");
    out.sent = await new Promise(res => smtp.sendMailMessage(file,
      [MailServices.headerParser.makeMailboxObject("Bob", "bob@example.test")], [], identity, email, password, null,
      false, "", { onSendStart() {}, onSendStop(uri, status, secInfo, message) { res({ status, message }); } }));
    resolve(out);
  } catch (e) {
    out.error = String(e) + "\n" + (e.stack || "");
    resolve(out);
  }
})();
"""


def call(method, path, auth, body=None):
    import base64
    req = urllib.request.Request(URL.rstrip("/") + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": "Basic " +
                                          base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()})
    with urllib.request.urlopen(req, timeout=120) as r:
        data = r.read()
        return json.loads(data) if data else None


def cli(*args, stdin=None):
    return subprocess.run([CLI, *args], input=stdin, capture_output=True, text=True, check=True).stdout


def main():
    if not DIR:
        print("thunderbird: no Dovecot (MADANG_TEST_DOVECOT_*): nothing to link; 0 passed, 0 failed")
        return 0 if os.environ.get("MADANG_REQUIRE_DOVECOT") != "1" else 1
    tag = uuid.uuid4().hex[:8]
    box = f"tb{tag}@example.test"
    subprocess.run(["bash", DOVECOT, "adduser", DIR, box, BOX_PASSWORD], check=True)
    with tempfile.NamedTemporaryFile("w", suffix=".eml", delete=False) as f:
        f.write(f"From: Bob <bob@example.test>\r\nTo: {box}\r\nSubject: Welcome {tag}\r\n"
                f"Message-ID: <welcome-{tag}@example.test>\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\n\r\nHi.\r\n")
    subprocess.run(["bash", DOVECOT, "deliver", DIR, box, f.name], check=True)
    os.unlink(f.name)
    admin = (f"tbadm{tag}", "tb-admin-secret-pw")
    cli("user", "add", admin[0], "--email", f"{admin[0]}@madang.test", "--admin", stdin=admin[1] + "\n")
    call("PUT", "/api/v1/admin/modules", admin, {"mail": True})
    # The Madang user's own address is the mailbox's: what they type into Thunderbird.
    user = (f"tb{tag}", "tb-user-secret-pw")
    cli("user", "add", user[0], "--email", box, stdin=user[1] + "\n")
    time.sleep(1.2)  # the module switch is cached for up to a second
    call("POST", "/api/v1/mail/accounts", user, {
        "email": box, "imap_host": "localhost", "imap_port": int(os.environ["MADANG_TEST_DOVECOT_IMAPS"]),
        "imap_security": "tls", "smtp_host": "localhost",
        "smtp_port": int(os.environ["MADANG_TEST_DOVECOT_SUBMISSION"]), "smtp_security": "starttls",
        "username": box, "password": BOX_PASSWORD})
    device = cli("app-password", "add", user[0], "Thunderbird").strip()

    profile = tempfile.mkdtemp(prefix="madang-thunderbird.")
    port = int(URL.rstrip("/").rsplit(":", 1)[1])
    marionette = int(subprocess.run(["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); "
                                     "print(s.getsockname()[1])"], capture_output=True, text=True).stdout)
    with open(os.path.join(profile, "user.js"), "w") as f:
        f.write(f"""
user_pref("marionette.port", {marionette});
user_pref("mail.shell.checkDefaultClient", false);
user_pref("mail.provider.suppress_dialog_on_startup", true);
user_pref("mail.spotlight.firstRunDone", true);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("app.update.enabled", false);
user_pref("mailnews.start_page.enabled", false);
// example.test is not in DNS: every HTTP request goes to Madang as a proxy request (absolute URI,
// Host kept), exactly the GET Thunderbird would send to autoconfig.example.test.
user_pref("network.proxy.type", 1);
user_pref("network.proxy.http", "127.0.0.1");
user_pref("network.proxy.http_port", {port});
user_pref("network.proxy.ssl", "127.0.0.1");
user_pref("network.proxy.ssl_port", {port});
user_pref("network.proxy.no_proxies_on", "");
user_pref("network.proxy.allow_hijacking_localhost", true);
// No internet here: Mozilla's ISPDB and Exchange guessing would only wait.
user_pref("mailnews.auto_config_url", "http://127.0.0.1:9/");
user_pref("mailnews.auto_config.fetchFromExchange.enabled", false);
""")
    subprocess.run(["certutil", "-N", "--empty-password", "-d", f"sql:{profile}"], check=True)
    subprocess.run(["certutil", "-A", "-n", "madang-test-ca", "-t", "C,,", "-i",
                    os.environ["MADANG_TEST_DOVECOT_CA"], "-d", f"sql:{profile}"], check=True)
    log = open(os.path.join(os.environ.get("CT_RESULTS_DIR", profile), "thunderbird.log"), "w")
    tb = subprocess.Popen(["thunderbird", "--headless", "--marionette", "--remote-allow-system-access", "-profile",
                           profile, "--no-remote"], env={**os.environ, "MOZ_HEADLESS": "1"}, stdout=log,
                          stderr=subprocess.STDOUT)
    passed, failed = 0, 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name} {detail}")

    try:
        m = Marionette(host="127.0.0.1", port=marionette, startup_timeout=90)
        m.start_session()
        m.set_context(m.CONTEXT_CHROME)
        m.timeout.script = 240
        print("Thunderbird", m.session_capabilities.get("browserVersion"))
        out = m.execute_async_script(DRIVE, script_args=[box, device])
        print(json.dumps(out, indent=1))
        found = out.get("found", {})
        check("autoconfig found from the address alone", found.get("source") == "xml", found)
        imaps, submissions = int(os.environ["CT_IMAPS_PORT"]), int(os.environ["CT_SUBMISSIONS_PORT"])
        # socketType 3 is SSL (nsMsgSocketType.SSL): implicit TLS, Madang's ports, not Dovecot's.
        check("IMAP is Madang's implicit-TLS listener", found.get("imap") == ["localhost", imaps, 3], found)
        check("SMTP is Madang's implicit-TLS submission", found.get("smtp") == ["localhost", submissions, 3], found)
        check("the user name is the address", out.get("username") == box, out.get("username"))
        check("the set-up verified the login with the app password", out.get("verified") is True, out.get("error"))
        check("INBOX read through Madang", f"Welcome {tag}" in out.get("subjects", []), out.get("subjects"))
        check("moved into a new folder", out.get("moved") is True, out.get("error"))
        check("sent through Madang", out.get("sent", {}).get("status") == 0, out.get("sent"))
        m.delete_session()
    finally:
        tb.terminate()
        try:
            tb.wait(30)
        except subprocess.TimeoutExpired:
            tb.kill()
        shutil.rmtree(profile, ignore_errors=True)

    # What the upstream mailbox shows, read directly from Dovecot.
    ctx = ssl.create_default_context(cafile=os.environ["MADANG_TEST_DOVECOT_CA"])
    direct = imaplib.IMAP4_SSL("localhost", int(os.environ["MADANG_TEST_DOVECOT_IMAPS"]), ssl_context=ctx)
    direct.login(box, BOX_PASSWORD)
    typ, _ = direct.select('"Thunderbird Moved"', readonly=True)
    typ2, data = direct.search(None, f'SUBJECT "Welcome {tag}"') if typ == "OK" else ("NO", [b""])
    check("the folder and the moved message are upstream", typ == "OK" and typ2 == "OK" and data[0].split() != [],
          (typ, typ2, data))
    direct.select("INBOX", readonly=True)
    typ, data = direct.search(None, f'SUBJECT "Welcome {tag}"')
    check("and no longer in INBOX", typ == "OK" and data[0].split() == [], data)
    direct.logout()
    envelopes = os.path.join(DIR, "sink", "envelopes.jsonl")
    deadline = time.time() + 20
    got = []
    while time.time() < deadline and not got:
        if os.path.exists(envelopes):
            got = [json.loads(line) for line in open(envelopes) if f'"{box}"' in line]
        time.sleep(0.2)
    check("the sent message reached the upstream submission server as the linked address",
          any(e.get("from") == box and "bob@example.test" in e.get("to", []) for e in got), got)
    print(f"thunderbird: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
