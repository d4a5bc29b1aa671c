#!/usr/bin/env python3
"""Soak and durability harness for Madang's CalDAV server (issue 6).

Starts a fresh `madang serve` on SQLite and/or PostgreSQL, drives it with many
concurrent CalDAV clients (several users, several devices per user sharing the
same calendars) for a fixed time, optionally `kill -9`s the server in the middle
of the load and restarts it on the same storage, then checks that:

  * no request got a 5xx, no response or server log line says "database is
    locked", no panic was logged and no request hung past the client timeout;
  * every acknowledged write (a 2xx PUT with an ETag, a 2xx DELETE) is reflected
    in the final state unless a later acknowledged write superseded it. Every
    write is conditional (If-None-Match: * / If-Match), so the writes to one
    resource form a chain; the harness looks for a history that uses every
    acknowledged write, any subset of the uncertain ones (those whose response
    never arrived because the server died), and ends in the state the server
    shows. Every remaining resource is read back with GET and must be exactly
    the bytes of the write that produced it;
  * every client's sync-collection chain (a local href->ETag map fed only by
    sync deltas) equals the server's PROPFIND listing after a final
    incremental sync; after a crash the old token must still work or be
    refused with valid-sync-token (then the client resyncs from scratch).

It prints a summary per backend and mode, writes JSON to
bench/results/soak-<timestamp>.json, and exits 1 if any check failed (2 if the
harness could not set up). See "Soak and durability" in bench/README.md.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import dataclasses
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

try:
    import requests
    import urllib3
except ImportError:
    # bench/run.py keeps bench/.venv (bench/requirements.txt) up to date;
    # borrow it rather than asking for a second environment.
    venv = REPO / "bench" / ".venv"
    venv_python = venv / "bin" / "python"
    if venv_python.exists() and Path(sys.prefix).resolve() != venv.resolve():
        os.execv(str(venv_python), [str(venv_python), *sys.argv])
    sys.exit("soak.py needs `requests`: run it with bench/.venv/bin/python (python3 bench/run.py creates it) "
             "or pip install requests")
RESULTS = REPO / "bench" / "results"
NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav"}
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
# A request that has not answered after this long counts as stuck: Madang's
# own request timeout is 60 s, and nothing in this workload should take 1 s.
READ_TIMEOUT = 30.0
LOCKED = "database is locked"

# Operation mix of one device, in relative weights. Writes are about a third
# of the requests, which is far more write-heavy than real clients (they mostly
# poll), on purpose: writers contending on one collection is what we soak.
MIX = {
    "create": 12,
    "update": 12,
    "update_shared": 8,
    "delete": 7,
    "get": 14,
    "propfind": 7,
    "query": 12,
    "multiget": 10,
    "sync": 18,
}
OWN_CAP = 40  # per device and calendar, so PROPFIND depth 1 stays a realistic size


class SetupError(Exception):
    """The harness could not prepare a run (no PostgreSQL, no binary, ...)."""


def etag_of(body: bytes) -> str:
    # Madang's ETag is a hash of the stored bytes (src/dav/object.rs). The
    # harness needs it to name the state an *uncertain* PUT would have
    # produced; acknowledged PUTs are checked against it, so a change of
    # formula shows up as a mismatch instead of a silent wrong verdict.
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def href_path(href: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(href).path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


# --------------------------------------------------------------------------
# The server under test


class Server:
    """One Madang instance on one fresh storage; survives kill -9 + restart."""

    def __init__(self, backend: str, binary: Path, log_level: str):
        self.backend = backend
        self.binary = binary
        self.log_level = log_level
        self.tmp = Path(tempfile.mkdtemp(prefix=f"madang-soak-{backend}-"))
        self.log_path = self.tmp / "server.log"
        self.db = None
        self.proc: subprocess.Popen | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MADANG_")}
        self.env["NO_COLOR"] = "1"
        self.env["MADANG_LOG_LEVEL"] = log_level
        if backend == "postgres":
            db = f"madang_soak_{os.getpid()}_{random.randrange(10**6)}"
            try:
                self._psql(f'CREATE DATABASE "{db}"')
            except SetupError:
                shutil.rmtree(self.tmp, ignore_errors=True)
                raise
            self.db = db
            self.storage = ["--database-url", f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{self.db}"]
        else:
            (self.tmp / "data").mkdir()
            self.storage = ["--data-dir", str(self.tmp / "data")]

    def _psql(self, sql: str) -> None:
        cmd = ["psql", "-h", PG["host"], "-p", str(PG["port"]), "-U", PG["user"], "-d", "postgres",
               "-q", "-v", "ON_ERROR_STOP=1", "-c", sql]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except FileNotFoundError as e:
            raise SetupError("psql is not installed") from e
        if r.returncode != 0:
            raise SetupError(f"psql {sql!r} failed: {r.stderr.strip()}")

    def cli(self, *args: str, stdin: str | None = None) -> str:
        r = subprocess.run([str(self.binary), *self.storage, *args], input=stdin, capture_output=True, text=True,
                           cwd=self.tmp, env=self.env, timeout=120)
        with open(self.log_path, "a") as log:
            log.write(f"$ madang {' '.join(args)}\n{r.stderr}")
        if r.returncode != 0:
            raise SetupError(f"madang {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
        return r.stdout

    def start(self) -> float:
        """Starts `madang serve` and waits for /healthz; returns the seconds it took."""
        t0 = time.monotonic()
        log = open(self.log_path, "a")
        log.write(f"----- harness: starting server at {time.strftime('%H:%M:%S')} -----\n")
        log.flush()
        self.proc = subprocess.Popen([str(self.binary), *self.storage, "serve", "--listen", f"127.0.0.1:{self.port}"],
                                     stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp, env=self.env)
        log.close()
        while time.monotonic() - t0 < 60:
            if self.proc.poll() is not None:
                raise SetupError(f"madang serve exited with {self.proc.returncode}; log: {self.log_path}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return time.monotonic() - t0
            except requests.exceptions.ConnectionError:
                pass
            time.sleep(0.1)
        raise SetupError(f"madang did not answer /healthz within 60 s; log: {self.log_path}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        with open(self.log_path, "a") as log:
            log.write(f"----- harness: kill -9 at {time.strftime('%H:%M:%S')} -----\n")

    def stop(self) -> int | None:
        """SIGTERM and wait; returns the exit status (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def cleanup(self, keep_log_as: Path | None) -> None:
        self.stop()
        if keep_log_as is not None and self.log_path.exists():
            shutil.copy(self.log_path, keep_log_as)
        if self.db:
            try:
                self._psql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
            except SetupError as e:
                print(f"warning: {e}", file=sys.stderr)
        shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# What the clients record


@dataclasses.dataclass
class Op:
    """One conditional write to one href, and what the client learnt of it."""
    opid: str
    client: str
    seq: int  # the client's own counter: one client's writes are applied in this order
    href: str
    kind: str  # create | update | delete
    cond: str | None  # the If-Match ETag, or None for If-None-Match: * (the href must not exist)
    result: str | None  # the ETag this write leaves (None: the href is gone)
    outcome: str  # ack | rejected | uncertain | unsent (connection refused: never reached the server)
    status: int | None = None
    body: bytes | None = None


class Run:
    """State shared by the clients of one run: epochs, the outage flag, problems."""

    def __init__(self):
        self.epoch = 0  # bumped at each server restart
        # True from the kill until the clients have had time to reconnect:
        # connection errors are expected then, and a finding at any other time
        self.outage = False
        self.up = threading.Event()
        self.up.set()
        self.lock = threading.Lock()
        self.problems: list[str] = []
        self.problem_counts: collections.Counter = collections.Counter()

    def problem(self, kind: str, detail: str) -> None:
        with self.lock:
            self.problem_counts[kind] += 1
            # keep a few examples of each kind, not thousands
            if self.problem_counts[kind] <= 5:
                self.problems.append(f"{kind}: {detail}")


SYNC_BODY = ('<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
             '<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>'
             '<D:prop><D:getetag/></D:prop></D:sync-collection>')
PROPFIND_BODY = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:">'
                 '<D:prop><D:getetag/><D:resourcetype/></D:prop></D:propfind>')
QUERY_BODY = ('<?xml version="1.0" encoding="utf-8"?>'
              '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
              '<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
              '<C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/></C:comp-filter>'
              '</C:comp-filter></C:filter></C:calendar-query>')
MULTIGET_BODY = ('<?xml version="1.0" encoding="utf-8"?>'
                 '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                 '<D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>')
MKCALENDAR_BODY = ('<?xml version="1.0" encoding="utf-8"?>'
                   '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
                   '<D:displayname>Work</D:displayname><C:supported-calendar-component-set>'
                   '<C:comp name="VEVENT"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>')


def event(uid: str, opid: str, rnd: random.Random) -> bytes:
    day = rnd.randrange(0, 365)
    hour = rnd.randrange(7, 19)
    start = time.strftime("%Y%m%d", time.gmtime(1767225600 + day * 86400)) + f"T{hour:02d}0000Z"
    end = start[:9] + f"{hour + 1:02d}0000Z"
    rrule = "RRULE:FREQ=WEEKLY;COUNT=10\r\n" if rnd.random() < 0.2 else ""
    # X-SOAK-OP makes every write's bytes (and so its ETag) unique and lets a
    # GET name the write whose content it returns.
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//madang soak//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
            f"DTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n{rrule}SUMMARY:soak {opid}\r\n"
            f"X-SOAK-OP:{opid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()


def parse_multistatus(text: str) -> tuple[dict[str, str | None], str | None, bool]:
    """href -> getetag (None for a 404 member), the sync-token, whether truncated (507 on the collection)."""
    root = ET.fromstring(text)
    members: dict[str, str | None] = {}
    truncated = False
    for resp in root.findall("D:response", NS):
        href = href_path(resp.findtext("D:href", "", NS))
        status = resp.findtext("D:status", "", NS)
        if " 507 " in status:
            truncated = True
            continue
        if " 404 " in status:
            members[href] = None
            continue
        etag = None
        for ps in resp.findall("D:propstat", NS):
            if " 200 " in ps.findtext("D:status", "", NS):
                etag = ps.findtext("D:prop/D:getetag", None, NS) or etag
        members[href] = etag
    return members, root.findtext("D:sync-token", None, NS), truncated


class Client(threading.Thread):
    """One device: its own HTTP connection and credentials, its own sync state."""

    def __init__(self, run: Run, server: Server, name: str, user: str, password: str,
                 calendars: list[str], shared: dict[str, list[str]], seed: int, deadline: float):
        super().__init__(name=name, daemon=True)
        self.run_ = run
        self.base = server.url
        self.cname = name
        self.calendars = calendars  # collection paths, ending in /
        self.shared = shared  # calendar path -> shared hrefs every device of the user writes
        self.shared_set = {h for hrefs in shared.values() for h in hrefs}
        self.rnd = random.Random(seed)
        self.deadline = deadline
        self.session = requests.Session()
        self.session.auth = (user, password)
        self.seq = 0
        self.ops: list[Op] = []
        # href -> the ETag this device last wrote ("?" after an uncertain write: GET it first)
        self.own: dict[str, dict[str, str]] = {c: {} for c in calendars}
        self.known_shared: dict[str, str | None] = {}
        self.sync_token = {c: "" for c in calendars}
        self.sync_epoch = {c: 0 for c in calendars}
        self.local: dict[str, dict[str, str]] = {c: {} for c in calendars}
        self.status: collections.Counter = collections.Counter()  # (label, status)
        self.latency: dict[str, list[float]] = collections.defaultdict(list)
        self.conn_errors = 0
        self.last_refused = False
        self.timeouts = 0
        self.crash_token = collections.Counter()  # what happened to a pre-crash sync token

    # -- HTTP ----------------------------------------------------------------

    def req(self, label: str, method: str, path: str, body: bytes | str | None = None,
            headers: dict | None = None) -> requests.Response | None:
        """Sends one request; None when no response arrived (the server died or hung)."""
        t0 = time.monotonic()
        self.last_refused = False
        try:
            r = self.session.request(method, self.base + urllib.parse.quote(path), data=body, headers=headers,
                                     timeout=(5, READ_TIMEOUT))
        except requests.exceptions.ReadTimeout:
            self.timeouts += 1
            self.status[(label, "timeout")] += 1
            self.run_.problem("stuck request", f"{method} {path} ({label}) had no answer after {READ_TIMEOUT:.0f} s")
            return None
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
            self.conn_errors += 1
            reason = getattr(e.args[0], "reason", None) if e.args else None
            # A refused connection carried nothing to the server; anything
            # else (reset, EOF mid-answer) may have been applied.
            self.last_refused = isinstance(reason, urllib3.exceptions.NewConnectionError)
            self.status[(label, "refused" if self.last_refused else "conn-error")] += 1
            if not self.run_.outage:
                # the server is supposed to be up: a dropped connection is a finding
                self.run_.problem("connection error while the server was up", f"{method} {path}: {e}")
            # back off while the server restarts instead of spinning
            time.sleep(0.2)
            return None
        dt = time.monotonic() - t0
        self.latency[label].append(dt)
        self.status[(label, r.status_code)] += 1
        if r.status_code >= 500:
            self.run_.problem("5xx", f"{method} {path} ({label}) -> {r.status_code} "
                                     f"x-request-id={r.headers.get('x-request-id')} body={r.text[:300]!r}")
        if LOCKED in r.text:
            self.run_.problem("database is locked (response)", f"{method} {path} -> {r.status_code} {r.text[:300]!r}")
        return r

    # -- writes ----------------------------------------------------------------

    def write(self, kind: str, href: str, cond: str | None, body: bytes | None) -> Op:
        self.seq += 1
        opid = f"{self.cname}-{self.seq}"
        headers = {"If-None-Match": "*"} if cond is None else {"If-Match": cond}
        if body is not None:
            headers["Content-Type"] = "text/calendar; charset=utf-8"
        label = {"create": "PUT create", "update": "PUT update", "delete": "DELETE"}[kind]
        if href in self.shared_set:
            label += " (shared)"
        op = Op(opid, self.cname, self.seq, href, kind, cond, etag_of(body) if body is not None else None,
                "uncertain", body=body)
        r = self.req(label, "DELETE" if kind == "delete" else "PUT", href, body, headers)
        if r is None and self.last_refused:
            op.outcome = "unsent"
        elif r is not None:
            op.status = r.status_code
            if 200 <= r.status_code < 300:
                op.outcome = "ack"
                if body is not None:
                    etag = r.headers.get("ETag")
                    if etag is None:
                        self.run_.problem("2xx PUT without ETag", f"PUT {href} -> {r.status_code}")
                    elif etag != op.result:
                        self.run_.problem("ETag is not the hash of the body",
                                          f"PUT {href}: got {etag}, expected {op.result}")
                        op.result = etag
            else:
                op.outcome = "rejected"
        self.ops.append(op)
        return op

    def pick_calendar(self) -> str:
        return self.rnd.choice(self.calendars)

    def current(self, href: str) -> tuple[bool, str | None]:
        """GETs href to learn its state after an uncertain write: (answered, etag or None if absent)."""
        r = self.req("GET", "GET", href)
        if r is None:
            return False, None
        if r.status_code == 404:
            return True, None
        if r.status_code == 200:
            return True, r.headers.get("ETag")
        self.run_.problem("unexpected GET status", f"GET {href} -> {r.status_code}")
        return False, None

    def do_create(self) -> None:
        cal = self.pick_calendar()
        if len(self.own[cal]) >= OWN_CAP:
            return self.do_delete(cal)
        name = f"{self.cname}-{self.seq + 1}"
        href = f"{cal}{name}.ics"
        op = self.write("create", href, None, event(name, f"{self.cname}-{self.seq + 1}", self.rnd))
        if op.outcome == "ack":
            self.own[cal][href] = op.result
        elif op.outcome == "uncertain":
            self.own[cal][href] = "?"
        elif op.outcome == "rejected":
            self.run_.problem("create of a fresh href rejected", f"PUT {href} -> {op.status}")

    def own_href(self, cal: str) -> tuple[str, str | None] | None:
        """An own href and its state, looking it up first if an uncertain write left it unknown."""
        if not self.own[cal]:
            return None
        href = self.rnd.choice(list(self.own[cal]))
        etag = self.own[cal][href]
        if etag == "?":
            answered, etag = self.current(href)
            if not answered:
                return None
            if etag is None:
                del self.own[cal][href]
                return None
            self.own[cal][href] = etag
        return href, etag

    def do_update(self) -> None:
        cal = self.pick_calendar()
        picked = self.own_href(cal)
        if picked is None:
            return self.do_create()
        href, etag = picked
        uid = href.rsplit("/", 1)[1][:-4]
        op = self.write("update", href, etag, event(uid, f"{self.cname}-{self.seq + 1}", self.rnd))
        if op.outcome == "ack":
            self.own[cal][href] = op.result
        elif op.outcome == "uncertain":
            self.own[cal][href] = "?"
        elif op.outcome == "rejected":
            # nobody else writes this href: a refusal means the server lost track of it
            self.run_.problem("update of an own href rejected", f"PUT If-Match {etag} {href} -> {op.status}")
            self.own[cal][href] = "?"

    def do_delete(self, cal: str | None = None) -> None:
        cal = cal or self.pick_calendar()
        picked = self.own_href(cal)
        if picked is None:
            return
        href, etag = picked
        op = self.write("delete", href, etag, None)
        if op.outcome == "ack":
            del self.own[cal][href]
        elif op.outcome == "uncertain":
            self.own[cal][href] = "?"
        elif op.outcome == "rejected":
            self.run_.problem("delete of an own href rejected", f"DELETE If-Match {etag} {href} -> {op.status}")
            self.own[cal][href] = "?"

    def do_update_shared(self) -> None:
        cal = self.pick_calendar()
        href = self.rnd.choice(self.shared[cal])
        # Devices learn a shared event's ETag the way real ones do: from their
        # sync state, else from a GET; a stale one gets 412 and a re-read.
        etag = self.known_shared.get(href) or self.local[cal].get(href)
        for _attempt in range(2):
            if etag is None:
                answered, etag = self.current(href)
                if not answered or etag is None:
                    if answered:
                        self.run_.problem("shared href missing", f"GET {href} -> 404 (nobody deletes it)")
                    return
            uid = href.rsplit("/", 1)[1][:-4]
            op = self.write("update", href, etag, event(uid, f"{self.cname}-{self.seq + 1}", self.rnd))
            if op.outcome == "ack":
                self.known_shared[href] = op.result
                return
            self.known_shared[href] = None
            if op.outcome in ("uncertain", "unsent") or op.status != 412:
                if op.outcome == "rejected":
                    self.run_.problem("shared update refused with other than 412", f"PUT {href} -> {op.status}")
                return
            etag = None

    # -- reads -----------------------------------------------------------------

    def do_get(self) -> None:
        cal = self.pick_calendar()
        pool = list(self.local[cal]) or list(self.own[cal]) or self.shared[cal]
        href = self.rnd.choice(pool)
        r = self.req("GET", "GET", href)
        if r is not None and r.status_code not in (200, 404):
            self.run_.problem("unexpected GET status", f"GET {href} -> {r.status_code}")

    def do_propfind(self) -> None:
        cal = self.pick_calendar()
        r = self.req("PROPFIND depth 1", "PROPFIND", cal, PROPFIND_BODY,
                     {"Depth": "1", "Content-Type": "application/xml"})
        if r is not None and r.status_code != 207:
            self.run_.problem("unexpected PROPFIND status", f"PROPFIND {cal} -> {r.status_code}")

    def do_query(self) -> None:
        cal = self.pick_calendar()
        day = self.rnd.randrange(0, 358)
        start = time.strftime("%Y%m%dT000000Z", time.gmtime(1767225600 + day * 86400))
        end = time.strftime("%Y%m%dT000000Z", time.gmtime(1767225600 + (day + 7) * 86400))
        r = self.req("REPORT calendar-query", "REPORT", cal, QUERY_BODY.format(start=start, end=end),
                     {"Depth": "1", "Content-Type": "application/xml"})
        if r is not None and r.status_code != 207:
            self.run_.problem("unexpected calendar-query status", f"REPORT {cal} -> {r.status_code} {r.text[:200]!r}")

    def do_multiget(self) -> None:
        cal = self.pick_calendar()
        pool = list(self.local[cal]) + self.shared[cal]
        hrefs = self.rnd.sample(pool, min(len(pool), 10))
        body = MULTIGET_BODY.format(hrefs="".join(f"<D:href>{urllib.parse.quote(h)}</D:href>" for h in hrefs))
        r = self.req("REPORT calendar-multiget", "REPORT", cal, body, {"Depth": "1", "Content-Type": "application/xml"})
        if r is not None and r.status_code != 207:
            self.run_.problem("unexpected multiget status", f"REPORT {cal} -> {r.status_code} {r.text[:200]!r}")

    def sync(self, cal: str) -> bool:
        """One sync-collection round (following truncation); True if it completed."""
        while True:
            token = self.sync_token[cal]
            r = self.req("REPORT sync-collection", "REPORT", cal, SYNC_BODY.format(token=token),
                         {"Depth": "1", "Content-Type": "application/xml"})
            if r is None:
                return False
            pre_crash = token and self.sync_epoch[cal] < self.run_.epoch
            if r.status_code in (403, 409) and "valid-sync-token" in r.text and token:
                if pre_crash:
                    self.crash_token["refused (valid-sync-token), full resync"] += 1
                else:
                    self.run_.problem("sync token refused without a crash", f"{cal} token {token} -> {r.status_code}")
                self.sync_token[cal] = ""
                self.sync_epoch[cal] = self.run_.epoch
                continue
            if r.status_code != 207:
                self.run_.problem("unexpected sync-collection status",
                                  f"REPORT {cal} token={token!r} -> {r.status_code} {r.text[:300]!r}")
                return False
            members, new_token, truncated = parse_multistatus(r.text)
            if pre_crash:
                self.crash_token["accepted"] += 1
            if not token:
                # An initial sync lists the whole collection: it replaces what we knew.
                self.local[cal] = {}
            for href, etag in members.items():
                if href == cal:
                    continue
                if etag is None:
                    self.local[cal].pop(href, None)
                else:
                    self.local[cal][href] = etag
            if not new_token:
                self.run_.problem("sync-collection without a token", f"REPORT {cal}")
                return False
            self.sync_token[cal] = new_token
            self.sync_epoch[cal] = self.run_.epoch
            if not truncated:
                return True

    def do_sync(self) -> None:
        self.sync(self.pick_calendar())

    # -- main loop -------------------------------------------------------------

    def run(self) -> None:
        actions = {name: getattr(self, f"do_{name}") for name in MIX}
        names = list(MIX)
        weights = [MIX[n] for n in names]
        for cal in self.calendars:
            self.sync(cal)
        while time.monotonic() < self.deadline:
            if not self.run_.up.is_set():
                # a real device would retry later; polling a dead port teaches nothing
                self.run_.up.wait(timeout=0.5)
                continue
            actions[self.rnd.choices(names, weights)[0]]()


# --------------------------------------------------------------------------
# Verification


def explain(ops: list[Op], final: str | None) -> tuple[list[Op] | None, str]:
    """Finds a history of conditional writes that uses every acknowledged write,
    any of the uncertain ones, respects each client's own order and ends in
    `final`. Returns (history, "") or (None, why not)."""
    ops = [o for o in ops if o.outcome in ("ack", "uncertain")]
    acked = frozenset(i for i, o in enumerate(ops) if o.outcome == "ack")
    by_cond = collections.defaultdict(list)
    for i, o in enumerate(ops):
        by_cond[o.cond].append(i)
    earlier_acked = {i: {j for j, p in enumerate(ops) if p.client == o.client and p.seq < o.seq and j in acked}
                     for i, o in enumerate(ops)}
    later = {i: {j for j, p in enumerate(ops) if p.client == o.client and p.seq > o.seq} for i, o in enumerate(ops)}
    seen = set()
    budget = [200_000]  # bounded search: an exotic failure must not hang the report

    def go(state, used, path):
        if state == final and acked <= used:
            return path
        if (state, used) in seen or budget[0] <= 0:
            return None
        seen.add((state, used))
        budget[0] -= 1
        for i in by_cond.get(state, ()):
            if i in used or later[i] & used or not earlier_acked[i] <= used:
                continue
            found = go(ops[i].result, used | {i}, path + [i])
            if found is not None:
                return found
        return None

    found = go(None, frozenset(), [])
    if found is not None:
        return [ops[i] for i in found], ""
    # Name the likely cause for the report.
    dup = [c for c, idx in by_cond.items() if c is not None and sum(1 for i in idx if i in acked) > 1]
    if dup:
        return None, f"two acknowledged writes both had If-Match {dup[0]} (lost update)"
    tail = [f"{o.opid} {o.kind} If-{'Match ' + o.cond if o.cond else 'None-Match *'} -> {o.result} ({o.outcome})"
            for o in ops[-4:]]
    gave_up = " (search budget exhausted)" if budget[0] <= 0 else ""
    return None, (f"final state {final} is not reachable{gave_up} from {len(acked)} acknowledged and "
                  f"{len(ops) - len(acked)} uncertain writes; the last ones: {'; '.join(tail)}")


def propfind_state(session: requests.Session, base: str, cal: str) -> dict[str, str]:
    r = session.request("PROPFIND", base + cal, data=PROPFIND_BODY, headers={"Depth": "1"}, timeout=120)
    if r.status_code != 207:
        raise RuntimeError(f"final PROPFIND {cal} -> {r.status_code}: {r.text[:300]}")
    members, _, truncated = parse_multistatus(r.text)
    if truncated:
        raise RuntimeError(f"final PROPFIND {cal} was truncated")
    return {h: e for h, e in members.items() if h != cal and e is not None}


def verify(run: Run, server: Server, clients: list[Client], users: dict, setup_ops: list[Op]) -> dict:
    checks = {}
    # Final state, as PROPFIND shows it.
    server_state: dict[str, dict[str, str]] = {}
    sessions = {}
    for user, info in users.items():
        s = requests.Session()
        s.auth = (user, info["password"])
        sessions[user] = s
        for cal in info["calendars"]:
            server_state[cal] = propfind_state(s, server.url, cal)
    everything = {h: e for st in server_state.values() for h, e in st.items()}

    # 1. Every write chain explains the final state.
    ops_by_href = collections.defaultdict(list)
    for op in setup_ops + [op for c in clients for op in c.ops]:
        ops_by_href[op.href].append(op)
    acked = sum(1 for ops in ops_by_href.values() for o in ops if o.outcome == "ack")
    uncertain = sum(1 for ops in ops_by_href.values() for o in ops if o.outcome == "uncertain")
    unsent = sum(1 for ops in ops_by_href.values() for o in ops if o.outcome == "unsent")
    applied_uncertain = 0
    bad_chains = []
    bad_hrefs = set()
    producer: dict[str, Op] = {}
    for href, ops in ops_by_href.items():
        history, why = explain(ops, everything.get(href))
        if history is None:
            bad_chains.append(f"{href}: {why}")
            bad_hrefs.add(href)
            continue
        applied_uncertain += sum(1 for o in history if o.outcome == "uncertain")
        if history and history[-1].result is not None:
            producer[href] = history[-1]
    strangers = sorted(set(everything) - set(ops_by_href))
    for h in strangers:
        bad_chains.append(f"{h}: on the server but never written by any client")
    checks["acknowledged writes survive"] = {
        "ok": not bad_chains,
        "acknowledged_writes": acked,
        "acknowledged_writes_verified": acked - sum(
            1 for h in bad_hrefs for o in ops_by_href[h] if o.outcome == "ack"),
        "uncertain_writes": uncertain,
        "uncertain_writes_applied": applied_uncertain,
        "writes_refused_connection": unsent,
        "hrefs": len(ops_by_href),
        "failures": bad_chains[:20],
        "failure_count": len(bad_chains),
    }

    # 2. Every resource reads back with its ETag and the exact bytes written.
    def read_back(item):
        href, etag = item
        user = href.split("/")[3]
        r = sessions[user].get(server.url + urllib.parse.quote(href), timeout=60)
        if r.status_code != 200:
            return f"GET {href} -> {r.status_code}"
        if r.headers.get("ETag") != etag:
            return f"GET {href}: ETag {r.headers.get('ETag')} but PROPFIND said {etag}"
        op = producer.get(href)
        if op is not None and r.content != op.body:
            return f"GET {href}: body differs from the write {op.opid} that produced ETag {etag}"
        return None

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        misreads = [m for m in pool.map(read_back, everything.items()) if m]
    checks["every resource reads back"] = {"ok": not misreads, "resources": len(everything),
                                           "failures": misreads[:20], "failure_count": len(misreads)}

    # 3. Sync chains: one more incremental sync, then the local map must be the server's.
    mismatches = []
    syncs_ok = 0
    for c in clients:
        for cal in c.calendars:
            if not c.sync(cal):
                mismatches.append(f"{c.cname} {cal}: final sync did not complete")
                continue
            local, remote = c.local[cal], server_state[cal]
            if local != remote:
                missing = sorted(set(remote) - set(local))
                extra = sorted(set(local) - set(remote))
                stale = sorted(h for h in set(local) & set(remote) if local[h] != remote[h])
                mismatches.append(f"{c.cname} {cal}: {len(missing)} missing (e.g. {missing[:2]}), "
                                  f"{len(extra)} extra (e.g. {extra[:2]}), {len(stale)} stale (e.g. {stale[:2]})")
            else:
                syncs_ok += 1
    crash_token = collections.Counter()
    for c in clients:
        crash_token.update(c.crash_token)
    checks["sync chains consistent"] = {"ok": not mismatches, "chains": syncs_ok + len(mismatches),
                                        "consistent": syncs_ok, "failures": mismatches[:20],
                                        "pre_crash_tokens": dict(crash_token)}

    # 4. Protocol-level problems seen during the load.
    statuses = collections.Counter()
    for c in clients:
        statuses.update(c.status)
    fivexx = sum(n for (label, st), n in statuses.items() if isinstance(st, int) and st >= 500)
    checks["no 5xx"] = {"ok": fivexx == 0, "count": fivexx}
    checks["no stuck requests"] = {"ok": sum(c.timeouts for c in clients) == 0,
                                   "count": sum(c.timeouts for c in clients)}
    other = {k: v for k, v in run.problem_counts.items()
             if k not in ("5xx", "stuck request", "database is locked (response)")}
    checks["no other protocol surprises"] = {"ok": not other, "counts": other}
    return checks


def server_latency(url: str) -> dict:
    """Per-method request time as the server measured it (its /metrics histogram).

    The clients' own figures include waiting for Python's GIL among 50
    threads on a 2-core machine; the server's say how long Madang took."""
    buckets = collections.defaultdict(lambda: collections.defaultdict(float))
    sums = collections.Counter()
    counts = collections.Counter()
    text = requests.get(f"{url}/metrics", timeout=30).text
    for line in text.splitlines():
        m = re.match(r'madang_http_request_duration_seconds_(bucket|sum|count)\{(.*)\} (\S+)$', line)
        if not m or 'route="/dav/' not in m.group(2):
            continue
        method = re.search(r'method="([^"]+)"', m.group(2)).group(1)
        value = float(m.group(3))
        if m.group(1) == "bucket":
            le = re.search(r'le="([^"]+)"', m.group(2)).group(1)
            buckets[method][float("inf") if le == "+Inf" else float(le)] += value
        elif m.group(1) == "sum":
            sums[method] += value
        else:
            counts[method] += value

    def quantile(b: dict, q: float) -> float:
        total = max(b.values(), default=0)
        for le in sorted(b):
            if b[le] >= q * total:
                return le
        return float("inf")

    return {m: {"n": int(counts[m]), "mean_ms": round(sums[m] / counts[m] * 1000, 1),
                "p50_le_ms": quantile(buckets[m], 0.5) * 1000, "p99_le_ms": quantile(buckets[m], 0.99) * 1000}
            for m in sorted(counts) if counts[m]}


def scan_log(path: Path) -> dict:
    locked, panics, errors, warns = [], [], [], []
    with open(path, errors="replace") as f:
        for line in f:
            if LOCKED in line:
                locked.append(line.strip())
            if "panicked" in line:
                panics.append(line.strip())
            if re.search(r"\bERROR\b", line):
                errors.append(line.strip())
            elif re.search(r"\bWARN\b", line):
                warns.append(line.strip())
    return {"database_is_locked": locked[:10], "database_is_locked_count": len(locked),
            "panics": panics[:10], "error_lines": errors[:10], "error_count": len(errors),
            "warn_lines": warns[:10], "warn_count": len(warns)}


# --------------------------------------------------------------------------
# One run


def one_run(args, backend: str, kill: bool, stamp: str) -> dict:
    label = f"{backend}{' + kill -9' if kill else ''}"
    print(f"\n=== {label}: {args.clients} clients, {args.duration:.0f} s ===", flush=True)
    rnd = random.Random(args.seed + (1 if kill else 0) + (2 if backend == "postgres" else 0))
    run = Run()
    result: dict = {"backend": backend, "kill": kill, "clients": args.clients, "duration_s": args.duration}
    keep_log = None
    server = None
    try:
        server = Server(backend, args.binary, args.log_level)
        # Several users, several devices each: devices of one user share its
        # calendars, so their writes contend on the same collections.
        n_users = max(1, args.clients // args.devices)
        users = {f"soak{u}": {"password": f"pw-soak{u}-{rnd.randrange(10**9)}", "devices": []} for u in range(n_users)}
        for user, info in users.items():
            admin = ["--admin"] if user == "soak0" else []
            server.cli("user", "add", user, "--email", f"{user}@example.com", *admin, stdin=f"{info['password']}\n")
        for i in range(args.clients):
            user = f"soak{i % n_users}"
            device = f"dev{i}"
            # each device signs in with its own app password, as phones and laptops do
            secret = server.cli("app-password", "add", user, f"soak {device}").strip()
            users[user]["devices"].append((device, secret))
        result["startup_s"] = round(server.start(), 2)

        # First contact: every device of a user at once, which races the
        # provisioning of the default calendars.
        first = collections.Counter()

        def first_contact(arg):
            user, secret = arg
            r = requests.request("PROPFIND", f"{server.url}/dav/calendars/{user}/", auth=(user, secret),
                                 data=PROPFIND_BODY, headers={"Depth": "1"}, timeout=60)
            return r.status_code

        with concurrent.futures.ThreadPoolExecutor(len(users) * args.devices) as pool:
            first.update(pool.map(first_contact, [(u, s) for u, i in users.items() for _, s in i["devices"]]))
        result["first_contact_statuses"] = dict(first)

        setup_ops: list[Op] = []
        mkcal = collections.Counter()
        for user, info in users.items():
            s = requests.Session()
            s.auth = (user, info["password"])
            default = f"/dav/calendars/{user}/default/"
            r = s.request("PROPFIND", server.url + default, data=PROPFIND_BODY, headers={"Depth": "0"}, timeout=60)
            if r.status_code != 207:
                raise SetupError(f"default calendar {default} not there: PROPFIND -> {r.status_code}")
            work = f"/dav/calendars/{user}/work/"
            r = s.request("MKCALENDAR", server.url + work, data=MKCALENDAR_BODY,
                          headers={"Content-Type": "application/xml"}, timeout=60)
            mkcal[r.status_code] += 1
            info["calendars"] = [default, work] if r.status_code == 201 else [default]
            info["shared"] = {}
            for cal in info["calendars"]:
                info["shared"][cal] = []
                for k in range(args.shared):
                    href = f"{cal}shared-{k}.ics"
                    opid = f"setup-{user}-{len(setup_ops)}"
                    body = event(f"shared-{k}", opid, rnd)
                    r = s.put(server.url + href, data=body, timeout=60,
                              headers={"If-None-Match": "*", "Content-Type": "text/calendar"})
                    if r.status_code != 201:
                        raise SetupError(f"PUT {href} -> {r.status_code}: {r.text[:200]}")
                    setup_ops.append(Op(opid, "setup", len(setup_ops), href, "create", None,
                                        r.headers.get("ETag"), "ack", r.status_code, body))
                    info["shared"][cal].append(href)
        result["mkcalendar_statuses"] = dict(mkcal)

        start = time.monotonic()
        deadline = start + args.duration
        clients = []
        for i in range(args.clients):
            user = f"soak{i % n_users}"
            info = users[user]
            device, secret = info["devices"][i // n_users]
            clients.append(Client(run, server, device, user, secret, info["calendars"], info["shared"],
                                  rnd.randrange(2**32), deadline))
        for c in clients:
            c.start()

        outage = None
        if kill:
            at = start + args.duration * rnd.uniform(0.35, 0.6)
            time.sleep(max(0.0, at - time.monotonic()))
            run.outage = True
            run.up.clear()
            t_kill = time.monotonic()
            server.kill9()
            # a moment of refused connections, as after a real crash
            time.sleep(0.5)
            restart_s = server.start()
            run.epoch += 1
            run.up.set()
            outage = {"killed_at_s": round(t_kill - start, 1), "down_s": round(time.monotonic() - t_kill, 2),
                      "restart_to_healthy_s": round(restart_s, 2)}
            # connection errors are expected from here until the clients have reconnected
            time.sleep(1.0)
            run.outage = False
        for c in clients:
            c.join(timeout=args.duration + READ_TIMEOUT * 3)
        stuck = [c.cname for c in clients if c.is_alive()]
        if stuck:
            run.problem("stuck request", f"clients still running long after the deadline: {stuck}")
        elapsed = time.monotonic() - start

        # before verify() adds its own requests to the histogram
        server_side = server_latency(server.url)
        checks = verify(run, server, [c for c in clients if not c.is_alive()], users, setup_ops)
        exit_status = server.stop()
        log = scan_log(server.log_path)
        checks["no 'database is locked'"] = {
            "ok": log["database_is_locked_count"] == 0 and run.problem_counts["database is locked (response)"] == 0,
            "in_log": log["database_is_locked_count"], "in_responses": run.problem_counts["database is locked (response)"]}
        checks["no panics in the server log"] = {"ok": not log["panics"], "lines": log["panics"]}
        checks["clean shutdown (SIGTERM)"] = {"ok": exit_status == 0, "exit_status": exit_status}
        checks["first contact (provisioning race)"] = {"ok": set(first) == {207}, "statuses": dict(first)}

        statuses = collections.Counter()
        latency = collections.defaultdict(list)
        for c in clients:
            statuses.update(c.status)
            for k, v in c.latency.items():
                latency[k].extend(v)
        per_label = collections.defaultdict(dict)
        for (lbl, st), n in sorted(statuses.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            per_label[lbl][str(st)] = n
        answered = sum(len(v) for v in latency.values())
        result.update({
            "label": label,
            "elapsed_s": round(elapsed, 1),
            "requests_answered": answered,
            "throughput_rps": round(answered / elapsed, 1),
            "connection_errors": sum(c.conn_errors for c in clients),
            "statuses": per_label,
            "latency_ms": {k: {"n": len(v), "p50": round(pct(v, 50) * 1000, 1), "p90": round(pct(v, 90) * 1000, 1),
                               "p99": round(pct(v, 99) * 1000, 1), "max": round(max(v) * 1000, 1)}
                           for k, v in sorted(latency.items())},
            "server_latency": server_side,
            "outage": outage,
            "checks": checks,
            "problems": run.problems,
            "server_log": {k: v for k, v in log.items() if k != "database_is_locked"},
            "ok": all(ch["ok"] for ch in checks.values()),
        })
        if not result["ok"] or args.keep_logs:
            keep_log = RESULTS / f"soak-{stamp}-{backend}{'-kill' if kill else ''}.log"
            result["server_log_copy"] = str(keep_log)
    except (SetupError, RuntimeError, requests.RequestException) as e:
        # RuntimeError / RequestException: the final PROPFIND or /metrics
        # failed, so the run cannot be judged; a failure of the run (exit 1),
        # where SetupError is the harness's (exit 2).
        key = "setup_error" if isinstance(e, SetupError) else "error"
        result.update({"label": label, "ok": False, key: f"{type(e).__name__}: {e}"})
        if server is not None:
            keep_log = RESULTS / f"soak-{stamp}-{backend}{'-kill' if kill else ''}.log"
            result["server_log_copy"] = str(keep_log)
    finally:
        if server is not None:
            server.cleanup(keep_log)
    print_run(result)
    return result


def print_run(r: dict) -> None:
    print(f"--- {r['label']}: {'PASS' if r['ok'] else 'FAIL'}")
    if "setup_error" in r or "error" in r:
        print(f"  {'setup error' if 'setup_error' in r else 'error'}: {r.get('setup_error') or r.get('error')}")
        if "server_log_copy" in r:
            print(f"  server log kept at {r['server_log_copy']}")
        return
    print(f"  {r['requests_answered']} requests answered in {r['elapsed_s']} s = {r['throughput_rps']} req/s; "
          f"{r['connection_errors']} connection errors; server up in {r['startup_s']} s")
    if r["outage"]:
        o = r["outage"]
        print(f"  kill -9 at {o['killed_at_s']} s, down {o['down_s']} s (restart to healthy {o['restart_to_healthy_s']} s)")
    print(f"  first contact statuses {r['first_contact_statuses']}, MKCALENDAR statuses {r['mkcalendar_statuses']}")
    print(f"  {'request':<32}{'statuses':<44}{'p50 ms':>8}{'p90':>8}{'p99':>8}{'max':>9}")
    for lbl, sts in r["statuses"].items():
        lat = r["latency_ms"].get(lbl, {"p50": 0, "p90": 0, "p99": 0, "max": 0})
        st = " ".join(f"{k}:{v}" for k, v in sts.items())
        print(f"  {lbl:<32}{st:<44}{lat['p50']:>8}{lat['p90']:>8}{lat['p99']:>8}{lat['max']:>9}")
    since = " (since the restart)" if r["outage"] else ""
    print(f"  server-side time per method{since} (/metrics; p50/p99 are histogram bucket bounds):")
    print("    " + "; ".join(f"{m} n={v['n']} mean {v['mean_ms']} ms p50<={v['p50_le_ms']:g} p99<={v['p99_le_ms']:g}"
                            for m, v in r["server_latency"].items()))
    for name, ch in r["checks"].items():
        detail = {k: v for k, v in ch.items() if k not in ("ok", "failures") and v not in ([], {}, None)}
        print(f"  [{'ok' if ch['ok'] else 'FAIL'}] {name}: {json.dumps(detail)}")
        for f in ch.get("failures", [])[:5]:
            print(f"         {f}")
    if r["problems"]:
        print("  problems (first examples of each kind):")
        for p in r["problems"][:15]:
            print(f"    {p}")
    lg = r["server_log"]
    print(f"  server log: {lg['error_count']} ERROR, {lg['warn_count']} WARN lines")
    for line in (lg["error_lines"] + lg["warn_lines"])[:5]:
        print(f"    {line[:240]}")
    if "server_log_copy" in r:
        print(f"  server log kept at {r['server_log_copy']}")


def git_head() -> str | None:
    """The commit the run was made from, with "+dirty" when the tree has changes (figures depend on it)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True)
    except FileNotFoundError:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if head.returncode == 0 else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--clients", type=int, default=50, help="concurrent devices (default 50)")
    p.add_argument("--devices", type=int, default=5, help="devices per user sharing its calendars (default 5)")
    p.add_argument("--shared", type=int, default=3, help="events per calendar every device of the user edits")
    p.add_argument("--duration", type=float, default=60, help="seconds of load per run (default 60)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--kill", action="store_true", help="only runs with a kill -9 in the middle")
    mode.add_argument("--no-kill", action="store_true", help="only runs without kill -9")
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--log-level", default="info", help="server log.level (default info)")
    p.add_argument("--keep-logs", action="store_true", help="copy server logs to bench/results even on success")
    p.add_argument("--binary", type=Path, default=REPO / "target" / "release" / "madang")
    args = p.parse_args()
    if not args.binary.exists():
        print(f"{args.binary} not found: cargo build --release --bin madang", file=sys.stderr)
        return 2
    sys.setrecursionlimit(20_000)  # explain() recurses once per write of one href
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    modes = [True] if args.kill else [False] if args.no_kill else [False, True]
    t0 = time.monotonic()
    print(f"soak: seed {args.seed}, binary {args.binary} (built "
          f"{time.strftime('%H:%M:%S', time.localtime(args.binary.stat().st_mtime))})")
    results = [one_run(args, b, k, stamp) for b in backends for k in modes]
    total = time.monotonic() - t0
    out = RESULTS / f"soak-{stamp}.json"
    binary = {"path": str(args.binary),
              "modified": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(args.binary.stat().st_mtime))}
    out.write_text(json.dumps({"seed": args.seed, "args": {k: str(v) for k, v in vars(args).items()},
                               "binary": binary, "git_head": git_head(),
                               "total_s": round(total, 1), "runs": results}, indent=2))
    print("\n=== summary ===")
    for r in results:
        print(f"  {r['label']:<22} {'PASS' if r['ok'] else 'FAIL'}"
              + (f"  {r['throughput_rps']} req/s, "
                 f"{r['checks']['acknowledged writes survive']['acknowledged_writes_verified']} acknowledged writes "
                 f"verified, {r['checks']['sync chains consistent']['consistent']} sync chains consistent"
                 if "checks" in r else f"  {r.get('setup_error') or r.get('error')}"))
    print(f"  total {total:.0f} s; JSON: {out}")
    if any("setup_error" in r for r in results):
        return 2
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
