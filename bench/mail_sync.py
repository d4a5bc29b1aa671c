#!/usr/bin/env python3
"""The mail index benchmark of issue 14: a real Dovecot INBOX of N messages (10,000 and 50,000 by
default, seeded by this script straight into a Maildir), and three ways to show it, in one run:

- Madang (release build, SQLite): link the account, sync into the index, read pages from it;
- the seed's approach: Python imaplib, connect + login + select + fetch one page per request;
- the physical floor: one imaplib connection doing the same UID FETCH Madang's sync does
  (flags, INTERNALDATE, size, BODYSTRUCTURE, the header fields, the text's first 2 KiB) for the
  whole folder, nothing stored.

    python3 bench/mail_sync.py                  # 10,000 and 50,000 messages
    python3 bench/mail_sync.py --sizes 2000     # a quick run
    python3 bench/mail_sync.py --no-build       # use target/release/madang as it is

And opening a large message (issue 14's "BODYSTRUCTURE, then only the parts needed"): five
messages of a short text and a --large-mib attachment, each opened once (cold) through Madang, the
seed's way (imaplib: connect, fetch the whole message, parse it with Python's email package), and
the floor (one open connection fetching only the text part); then the attachment downloaded
through Madang (streamed from the server in pieces) and its peak RSS after.

Figures: time to the first page after linking (the sync runs, a client polls the index), the full
initial sync, an incremental sync after 10 changes (5 new messages, 5 flag changes), a page from
the index (first and deep, median of 20), the seed's page per request (median of 5), the floor's
full fetch, and Madang's peak RSS. Dovecot is warmed with one full fetch before anything is timed,
so no contender pays for Dovecot building its own index and cache. Everything listens on 127.0.0.1
and is stopped by PID at the end; bench/README.md explains the figures.
"""
import argparse
import base64
import email.utils
import imaplib
import json
import os
import random
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from run import binary, free_port, log

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOVECOT = os.path.join(REPO, "conformance-tests", "dovecot.sh")
ADMIN, ADMIN_PASSWORD = "mailadmin", "mail-admin-secret-pw"
BOX_PASSWORD = "bench-box-pw"
FETCH = ("(UID MODSEQ FLAGS INTERNALDATE RFC822.SIZE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (DATE FROM TO CC SUBJECT "
         "MESSAGE-ID IN-REPLY-TO REFERENCES MIME-VERSION CONTENT-TYPE CONTENT-TRANSFER-ENCODING)] "
         "BODY.PEEK[TEXT]<0.2048>)")
WORDS = ("budget meeting report schedule review draft invoice travel lunch project 회의 자료 일정 보고서 "
         "검토 출장 점심 프로젝트").split()


def message(n, rng):
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8)))
    thread = n // 4
    refs = "" if n % 4 == 0 else f"In-Reply-To: <t{thread}.0@bench.test>\r\nReferences: <t{thread}.0@bench.test>\r\n"
    subject = ("Re: " if n % 4 else "") + f"Topic {thread} {words[:30]}"
    date = email.utils.formatdate(1_764_000_000 + n * 60, localtime=False)
    body = "\r\n".join(f"Line {i} of message {n}: {words}" for i in range(rng.randint(5, 40)))
    if n % 10 == 0:
        return (f"From: Sender {n % 97} <s{n % 97}@bench.test>\r\nTo: box@bench.test\r\nSubject: {subject}\r\n"
                f"Message-ID: <t{thread}.{n % 4}@bench.test>\r\n{refs}Date: {date}\r\nMIME-Version: 1.0\r\n"
                f"Content-Type: multipart/mixed; boundary=\"b{n}\"\r\n\r\n--b{n}\r\n"
                f"Content-Type: text/html; charset=utf-8\r\n\r\n<p>{body}</p>\r\n--b{n}\r\n"
                f"Content-Type: application/pdf; name=\"r{n}.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                f"{base64.b64encode(os.urandom(3000)).decode()}\r\n--b{n}--\r\n")
    return (f"From: Sender {n % 97} <s{n % 97}@bench.test>\r\nTo: box@bench.test\r\nSubject: {subject}\r\n"
            f"Message-ID: <t{thread}.{n % 4}@bench.test>\r\n{refs}Date: {date}\r\n\r\n{body}\r\n")


class Dovecot:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="madang-bench-dovecot.")
        out = subprocess.run(["bash", DOVECOT, "start", self.dir, "--mdbox"], check=True, capture_output=True,
                             text=True).stdout
        self.env = dict(line.split("=", 1) for line in out.split())
        self.imaps = int(self.env["MADANG_TEST_DOVECOT_IMAPS"])
        self.submission = int(self.env["MADANG_TEST_DOVECOT_SUBMISSION"])
        self.ca = self.env["MADANG_TEST_DOVECOT_CA"]

    def add_box(self, user, n):
        """A mailbox of n messages: written as a Maildir, then imported into the user's mdbox by
        `doveadm import` (Dovecot files them as a delivery would)."""
        subprocess.run(["bash", DOVECOT, "adduser", self.dir, user, BOX_PASSWORD], check=True)
        root = os.path.join(self.dir, "mail")
        st = os.stat(root)
        src = os.path.join(self.dir, "seed", user)
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(src, sub), exist_ok=True)
        rng = random.Random(n)
        t0 = time.time()
        for i in range(n):
            path = os.path.join(src, "cur", f"{1_764_000_000 + i}.{i}.bench:2,{'S' if i % 3 else ''}")
            with open(path, "w") as f:
                f.write(message(i, rng))
            os.utime(path, (1_764_000_000 + i * 60, 1_764_000_000 + i * 60))
        subprocess.run(["chown", "-R", f"{st.st_uid}:{st.st_gid}", os.path.join(self.dir, "seed")], check=True)
        subprocess.run(["doveadm", "-c", os.path.join(self.dir, "dovecot.conf"), "import", "-u", user,
                        f"maildir:{src}", "", "all"], check=True)
        log(f"  seeded {n} messages in {time.time() - t0:.1f} s")

    def imap(self, user):
        ctx = ssl.create_default_context(cafile=self.ca)
        m = imaplib.IMAP4_SSL("localhost", self.imaps, ssl_context=ctx)
        m.login(user, BOX_PASSWORD)
        return m

    def stop(self):
        subprocess.run(["bash", DOVECOT, "stop", self.dir], check=False)


class Madang:
    def __init__(self, dovecot, extra_env=None):
        self.tmp = tempfile.mkdtemp(prefix="madang-bench-mail.")
        self.bin = binary("madang")
        self.data = ["--data-dir", os.path.join(self.tmp, "data")]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MADANG_")}
        self.env.update({"MADANG_MAIL_ALLOWED_NETWORKS": "127.0.0.1", "MADANG_MAIL_CA_FILE": dovecot.ca,
                         "MADANG_LOG_LEVEL": os.environ.get("BENCH_MADANG_LOG", "warn"), "MADANG_MAIL_CONNECT_TIMEOUT": "120s"})
        self.env.update(extra_env or {})
        subprocess.run([self.bin, *self.data, "migrate"], env=self.env, check=True, capture_output=True)
        subprocess.run([self.bin, *self.data, "user", "add", ADMIN, "--email", "a@bench.test", "--admin"],
                       input=f"{ADMIN_PASSWORD}\n".encode(), env=self.env, check=True, capture_output=True)
        self.port = free_port()
        self.proc = subprocess.Popen([self.bin, *self.data, "serve", "--listen", f"127.0.0.1:{self.port}"],
                                     env=self.env, stdout=subprocess.DEVNULL, stderr=open(os.environ.get("BENCH_MADANG_LOG_FILE", os.path.join(self.tmp, "log")), "w"))
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("madang did not start")
                time.sleep(0.1)
        self.call("PUT", "/api/v1/admin/modules", {"mail": True})
        time.sleep(1.2)

    def call(self, method, path, body=None, timeout=3600):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": "Basic " +
                                              base64.b64encode(f"{ADMIN}:{ADMIN_PASSWORD}".encode()).decode()})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            data = r.read()
            return json.loads(data) if data else None

    def rss(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def median_ms(f, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def seed_page(dovecot, user, page):
    """The seed's way: a connection per request, then the newest page by sequence number."""
    m = dovecot.imap(user)
    typ, data = m.select("INBOX", readonly=True)
    total = int(data[0])
    lo = max(1, total - 50 * page - 49)
    hi = max(1, total - 50 * page)
    m.fetch(f"{lo}:{hi}", "(UID FLAGS ENVELOPE RFC822.SIZE)")
    m.logout()


def run_size(n, dovecot, madang):
    user = f"bench{n}@bench.test"
    dovecot.add_box(user, n)
    # Warm Dovecot: its own index, modseqs (CONDSTORE enabled once, as any modern client
    # does) and cache for exactly the fields everyone fetches.
    m = dovecot.imap(user)
    m._simple_command("SELECT", "INBOX", "(CONDSTORE)")
    m.state = "SELECTED"
    t0 = time.perf_counter()
    typ, data = m.uid("FETCH", "1:*", FETCH)
    fetched = sum(1 for d in data if isinstance(d, tuple)) // 2
    log(f"  Dovecot warmed in {time.perf_counter() - t0:.1f} s ({fetched} messages)")
    # The floor: the same fetch again, one connection, warm.
    t0 = time.perf_counter()
    m.uid("FETCH", "1:*", FETCH)
    floor = time.perf_counter() - t0
    m.logout()
    r = {"n": n, "floor_full_fetch_s": floor}
    # Madang: link, then sync while a client polls for the first page.
    account = madang.call("POST", "/api/v1/mail/accounts", {
        "email": user, "imap_host": "localhost", "imap_port": dovecot.imaps, "imap_security": "tls",
        "smtp_host": "localhost", "smtp_port": dovecot.submission, "smtp_security": "starttls",
        "username": user, "password": BOX_PASSWORD})["id"]
    done = {}

    def sync():
        t = time.perf_counter()
        done["report"] = madang.call("POST", f"/api/v1/mail/accounts/{account}/sync")
        done["seconds"] = time.perf_counter() - t

    t0 = time.perf_counter()
    th = threading.Thread(target=sync)
    th.start()
    first = None
    while first is None and th.is_alive():
        page = madang.call("GET", "/api/v1/mail/messages?limit=50")
        if len(page["messages"]) == 50:
            first = time.perf_counter() - t0
        else:
            time.sleep(0.005)
    th.join()
    r["first_page_s"] = first if first is not None else done["seconds"]
    r["initial_sync_s"] = done["seconds"]
    r["added"] = done["report"]["added"]
    inbox = next(f["id"] for f in done["report"]["folders"] if f["role"] == "inbox")
    # Pages from the index: the first, and one 40 pages deep (keyset cursor).
    r["page_ms"] = median_ms(lambda: madang.call("GET", f"/api/v1/mail/messages?folder={inbox}&limit=50"), 20)
    cursor = None
    for _ in range(min(40, n // 50 - 1)):
        q = f"/api/v1/mail/messages?folder={inbox}&limit=50" + (f"&before={cursor}" if cursor else "")
        cursor = madang.call("GET", q)["next"]
    deep = f"/api/v1/mail/messages?folder={inbox}&limit=50&before={cursor}"
    r["deep_page_ms"] = median_ms(lambda: madang.call("GET", deep), 20)
    # Ten changes by another mail app: five new messages (APPEND), five flags (STORE).
    rng = random.Random(7)
    other = dovecot.imap(user)
    other.select("INBOX")
    for uid in rng.sample(range(1, n + 1), 5):
        other.uid("STORE", str(uid), "+FLAGS", "(\\Flagged)")
    for i in range(5):
        other.append("INBOX", None, None, message(n + i, rng).encode())
    other.logout()
    t = time.perf_counter()
    rep = madang.call("POST", f"/api/v1/mail/accounts/{account}/sync")
    r["incremental_s"] = time.perf_counter() - t
    r["incremental"] = {k: rep[k] for k in ("added", "updated", "removed")}
    r["seed_page_ms"] = median_ms(lambda: seed_page(dovecot, user, 0), 5)
    r["seed_deep_page_ms"] = median_ms(lambda: seed_page(dovecot, user, 40), 5)
    r["rss_peak_mib"], r["rss_now_mib"] = madang.rss()
    madang.call("DELETE", f"/api/v1/mail/accounts/{account}")
    return r


def large_message(n, mib, rng):
    """A short text and one attachment of `mib` MiB (base64, as mail programs send it)."""
    blob = base64.encodebytes(rng.randbytes(mib << 20)).decode().replace("\n", "\r\n")
    return (f"From: Kim <kim@bench.test>\r\nTo: box@bench.test\r\nSubject: Large {n}\r\n"
            f"Message-ID: <large{n}@bench.test>\r\nDate: {email.utils.formatdate(1_764_000_000 + n)}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe video from the offsite is attached.\r\n"
            "--b\r\nContent-Type: video/mp4; name=\"offsite.mp4\"\r\nContent-Disposition: attachment; "
            f"filename=\"offsite.mp4\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{blob}--b--\r\n")


def run_large(dovecot, madang, mib):
    """Opening a message with a large attachment, three ways; then its download through Madang."""
    import email as email_pkg
    user = "large@bench.test"
    subprocess.run(["bash", DOVECOT, "adduser", dovecot.dir, user, BOX_PASSWORD], check=True)
    rng = random.Random(mib)
    m = dovecot.imap(user)
    for i in range(5):
        m.append("INBOX", None, None, large_message(i, mib, rng).encode())
    m.select("INBOX", readonly=True)
    m.uid("FETCH", "1:*", "(BODYSTRUCTURE BODY.PEEK[])")  # warm Dovecot's cache, for everyone
    floor = median_ms(lambda: m.uid("FETCH", "1", "(BODY.PEEK[1])"), 5)
    m.logout()
    account = madang.call("POST", "/api/v1/mail/accounts", {
        "email": user, "imap_host": "localhost", "imap_port": dovecot.imaps, "imap_security": "tls",
        "smtp_host": "localhost", "smtp_port": dovecot.submission, "smtp_security": "starttls",
        "username": user, "password": BOX_PASSWORD})["id"]
    report = madang.call("POST", f"/api/v1/mail/accounts/{account}/sync")
    inbox = next(f["id"] for f in report["folders"] if f["role"] == "inbox")
    ids = [x["id"] for x in madang.call("GET", f"/api/v1/mail/messages?folder={inbox}&limit=5")["messages"]]
    opened = []
    for i in ids:  # each once: a cold open, not the body cache
        t0 = time.perf_counter()
        detail = madang.call("GET", f"/api/v1/mail/messages/{i}")
        opened.append((time.perf_counter() - t0) * 1000)
    url = next(a["url"] for a in detail["attachments"] if a["name"] == "offsite.mp4")

    def seed_open():
        s = dovecot.imap(user)
        s.select("INBOX", readonly=True)
        typ, data = s.uid("FETCH", "1", "(RFC822)")
        email_pkg.message_from_bytes(data[0][1]).get_payload(0).get_payload(decode=True)
        s.logout()
    seed = median_ms(seed_open, 5)
    req = urllib.request.Request(f"http://127.0.0.1:{madang.port}{url}", headers={
        "Authorization": "Basic " + base64.b64encode(f"{ADMIN}:{ADMIN_PASSWORD}".encode()).decode()})
    t0 = time.perf_counter()
    first_byte = None
    size = 0
    with urllib.request.urlopen(req, timeout=600) as r:
        while chunk := r.read(1 << 16):
            first_byte = first_byte or (time.perf_counter() - t0) * 1000
            size += len(chunk)
    download = (time.perf_counter() - t0) * 1000
    peak, _ = madang.rss()
    madang.call("DELETE", f"/api/v1/mail/accounts/{account}")
    return {"mib": mib, "open_ms": statistics.median(opened), "seed_open_ms": seed, "floor_text_ms": floor,
            "download_first_byte_ms": first_byte, "download_ms": download, "download_bytes": size,
            "rss_peak_mib": peak}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,50000")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--large-mib", type=int, default=20, help="the large message's attachment, MiB (0: skip)")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "madang"], cwd=REPO, check=True)
    dovecot = Dovecot()
    madang = None
    results = []
    try:
        madang = Madang(dovecot)
        for n in [int(s) for s in args.sizes.split(",")]:
            log(f"{n} messages")
            results.append(run_size(n, dovecot, madang))
            log(json.dumps(results[-1]))
        large = run_large(dovecot, madang, args.large_mib) if args.large_mib else None
        if large:
            log(json.dumps(large))
    finally:
        if madang:
            madang.stop()
        dovecot.stop()
    print()
    print("| messages | first page after linking | full initial sync | floor: one raw UID FETCH | sync ÷ floor | "
          "incremental (10 changes) | index page (first / 40 deep) | seed page per request (first / 40 deep) | "
          "seed ÷ index | Madang peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['n']:,} | {r['first_page_s'] * 1000:.0f} ms | {r['initial_sync_s']:.2f} s | "
              f"{r['floor_full_fetch_s']:.2f} s | {r['initial_sync_s'] / r['floor_full_fetch_s']:.1f}× | "
              f"{r['incremental_s'] * 1000:.0f} ms {r['incremental']} | {r['page_ms']:.1f} / {r['deep_page_ms']:.1f} ms | "
              f"{r['seed_page_ms']:.0f} / {r['seed_deep_page_ms']:.0f} ms | "
              f"{r['seed_page_ms'] / r['page_ms']:.0f}× | {r['rss_peak_mib']:.0f} MiB |")
    if large:
        print()
        print("| attachment | Madang: open (by parts, cold) | seed: open (whole fetch + parse) | floor: the text part alone | "
              "seed ÷ Madang | Madang download: first byte / all | Madang peak RSS after |")
        print("|---|---|---|---|---|---|---|")
        print(f"| {large['mib']} MiB | {large['open_ms']:.1f} ms | {large['seed_open_ms']:.0f} ms | "
              f"{large['floor_text_ms']:.1f} ms | {large['seed_open_ms'] / large['open_ms']:.0f}× | "
              f"{large['download_first_byte_ms']:.0f} ms / {large['download_ms']:.0f} ms | {large['rss_peak_mib']:.0f} MiB |")
        results.append({"large": large})
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    out = os.path.join(REPO, "bench", "results", f"mail_sync-{time.strftime('%Y%m%dT%H%M%S')}.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\n(raw figures: {out})")


if __name__ == "__main__":
    sys.exit(main())
