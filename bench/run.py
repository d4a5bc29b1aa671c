#!/usr/bin/env python3
"""The benchmark harness of issue 6: Madang (SQLite and PostgreSQL) against Radicale and Xandikos,
on loopback, with the same seeded workload, interleaved repetitions, one table of medians.

    python3 bench/run.py                   # full run: N = 1,000 and 10,000, 3 reps, all servers
    python3 bench/run.py --quick           # smoke run in about two minutes
    python3 bench/run.py --help

It builds Madang in release mode, creates bench/.venv from bench/requirements.txt (Radicale,
Xandikos, requests, icalendar, recurring_ical_events), starts every server itself on a free
127.0.0.1 port with a fresh store, stops each by PID (also on Ctrl-C), prints the table and writes
every repetition to bench/results/<timestamp>.json. bench/README.md explains the figures.
"""
import argparse
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
VENV = os.path.join(BENCH, ".venv")
REQUIREMENTS = os.path.join(BENCH, "requirements.txt")
ALL_SERVERS = ["madang-sqlite", "madang-postgres", "radicale", "xandikos"]
USER, PASSWORD = "bench", "bench-secret-pw"
PG = {"host": "127.0.0.1", "port": "5432", "user": "postgres"}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- bootstrap


def ensure_venv(script=__file__):
    """Re-executes `script` (this one, or another bench script that shares bench/.venv) inside
    bench/.venv, creating or refreshing it when the pins change."""
    if os.environ.get("MADANG_BENCH_IN_VENV") == "1":
        return
    with open(REQUIREMENTS, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(VENV, ".requirements.sha256")
    py = os.path.join(VENV, "bin", "python")
    current = open(stamp).read().strip() if os.path.exists(stamp) else ""
    if current != digest or not os.path.exists(py):
        log(f"creating {VENV} from {REQUIREMENTS}")
        if not os.path.exists(py):
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", REQUIREMENTS], check=True)
        with open(stamp, "w") as f:
            f.write(digest + "\n")
    os.environ["MADANG_BENCH_IN_VENV"] = "1"
    os.execv(py, [py, os.path.abspath(script), *sys.argv[1:]])


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")


def build():
    # Two invocations, not one: built together, Cargo unifies features and gives Madang's hyper
    # the load generator's "client" feature, which makes a different (and freshly linked) madang
    # from the one `cargo build --release` builds; apart, both builds stay cached.
    for pkg in ("madang", "madang-bench"):
        log(f"cargo build --release -p {pkg}")
        subprocess.run(["cargo", "build", "--release", "-p", pkg], cwd=REPO, check=True)


def binary(name):
    path = os.path.join(target_dir(), "release", name)
    if not os.access(path, os.X_OK):
        sys.exit(f"{path} not found: run without --no-build")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, proc, ok=(200, 207, 301, 302, 401), timeout=30):
    import requests

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            if requests.get(url, timeout=2).status_code in ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {url}")


# --------------------------------------------------------------------------- data

BERLIN = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
    "TZNAME:CEST\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
)
WEEKS = {  # calendar-query windows (UTC): an ordinary week, and the one with the October DST change
    "query_week": ("20260413T000000Z", "20260420T000000Z"),
    "query_dst": ("20261019T000000Z", "20261026T000000Z"),
}


def events(n, seed=42):
    """80% single events over 2026 in UTC, 20% weekly in Europe/Berlin with their first date
    excluded; seeded, so every server gets the same bytes. Returns [(name, ics)]."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        uid = f"bench-{i}-{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        day, hour = rng.randrange(0, 365), rng.randrange(7, 19)
        start = time.strftime("%Y%m%d", time.gmtime(1767225600 + day * 86400)) + f"T{hour:02d}0000"
        end = start[:9] + f"{hour + 1:02d}0000"
        if i % 5 == 0:
            body = (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:{start}\r\n"
                    f"DTEND;TZID=Europe/Berlin:{end}\r\nRRULE:FREQ=WEEKLY\r\nEXDATE;TZID=Europe/Berlin:{start}\r\n"
                    f"SUMMARY:Weekly {i}\r\nEND:VEVENT\r\n")
            ics = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n{BERLIN}{body}END:VCALENDAR\r\n"
        else:
            body = (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}Z\r\nDTEND:{end}Z\r\n"
                    f"SUMMARY:Event {i}\r\nEND:VEVENT\r\n")
            ics = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n{body}END:VCALENDAR\r\n"
        out.append((f"{uid}.ics", ics))
    return out


FIRST = ["Anna", "Jürgen", "Zoë", "Min-jun", "Olivia", "Mateo", "Aiko", "Lars", "Fatima", "Noah"]
LAST = ["Müller", "Kim", "Smith", "Østergaard", "Rossi", "Nguyen", "García", "Ivanova", "Park", "Cohen"]


def cards(n, seed=7):
    """vCards, a third 4.0 and the rest 3.0, each with a unique e-mail. Returns [(name, vcf)]."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        uid = f"bench-{i}-{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        first, last = rng.choice(FIRST), rng.choice(LAST)
        lines = ["BEGIN:VCARD", f"VERSION:{'4.0' if i % 3 == 0 else '3.0'}", f"UID:{uid}", f"FN:{first} {last} {i}",
                 f"N:{last};{first};;;", f"EMAIL;TYPE=WORK:person{i}@example{i % 50}.com",
                 f"TEL;TYPE=CELL:+49 170 {i:07d}", f"ORG:Company {i % 200}", "END:VCARD"]
        out.append((f"{uid}.vcf", "\r\n".join(lines) + "\r\n"))
    return out


def expected_matches(items):
    """Which events each query window must return, computed independently of every server
    with icalendar + recurring_ical_events: {week: [bool per event]}."""
    import icalendar
    import recurring_ical_events

    windows = {k: (dt.datetime.strptime(a, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc),
                   dt.datetime.strptime(b, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc))
               for k, (a, b) in WEEKS.items()}
    out = {k: [] for k in WEEKS}
    for _, ics in items:
        cal = icalendar.Calendar.from_ical(ics)
        for k, (a, b) in windows.items():
            out[k].append(bool(recurring_ical_events.of(cal).between(a, b)))
    return out


# --------------------------------------------------------------------------- servers


class Server:
    """One server under test, started fresh for one run and stopped by PID."""

    kind = ""
    auth = (USER, PASSWORD)

    def __init__(self, name, bins):
        self.name, self.bins = name, bins
        self.proc = None
        self.tmp = tempfile.mkdtemp(prefix=f"madang-bench-{name}-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(self.tmp, "server.log"), "ab")

    def spawn(self, argv, env=None, cwd=None):
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=cwd or self.tmp,
                                     stdin=subprocess.DEVNULL)
        log(f"started {self.name} pid {self.proc.pid} on {self.base}")

    def usage(self):
        """Peak RSS (VmHWM, MiB) and CPU seconds (utime+stime) of the server process so far."""
        pid = self.proc.pid
        with open(f"/proc/{pid}/status") as f:
            hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return hwm, cpu

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                log(f"{self.name} pid {self.proc.pid} ignored SIGTERM; killing it")
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.log.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def create_collections(self, run):
        """Makes self.cal, self.cal8 and self.book exist (MKCALENDAR cal8 is common to all)."""
        run.expect(201, "MKCALENDAR", self.cal8)

    def seed(self, collection, items, run):
        """Makes the collection hold items after a PUT phase ran out of budget; False where impossible."""
        return False


class Madang(Server):
    kind = "madang"

    def __init__(self, name, bins, backend):
        super().__init__(name, bins)
        self.db = None
        if backend == "postgres":
            self.db = f"madang_bench_{os.getpid()}_{random.randrange(1 << 30)}"
            psql(f'CREATE DATABASE "{self.db}"')
            self.storage = ["--database-url", f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{self.db}"]
        else:
            self.storage = ["--data-dir", os.path.join(self.tmp, "data")]
        self.cal = "/dav/calendars/bench/default/"
        self.cal8 = "/dav/calendars/bench/bench-c8/"
        self.book = "/dav/addressbooks/bench/default/"

    def env(self):
        # A MADANG_* variable or a ./madang.toml of the caller's must not redirect the storage.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MADANG_")}
        env["NO_COLOR"] = "1"
        return env

    def start(self):
        exe = self.bins["madang"]
        subprocess.run([exe, *self.storage, "migrate"], env=self.env(), cwd=self.tmp, stdout=self.log,
                       stderr=subprocess.STDOUT, check=True)
        subprocess.run([exe, *self.storage, "user", "add", USER, "--email", f"{USER}@example.com"],
                       input=f"{PASSWORD}\n".encode(), env=self.env(), cwd=self.tmp, stdout=self.log,
                       stderr=subprocess.STDOUT, check=True)
        self.spawn([exe, *self.storage, "serve", "--listen", f"127.0.0.1:{self.port}"], env=self.env())
        wait_http(self.base + "/healthz", self.proc, ok=(200,))

    def seed(self, collection, items, run):
        # Madang takes the rest over HTTP, untimed: fast enough, and no way around its write path.
        r = run.put_items(collection, items, "text/calendar; charset=utf-8" if items[0][0].endswith(".ics")
                          else "text/vcard; charset=utf-8", concurrency=8, budget=600)
        return r["done"] == len(items)

    def create_collections(self, run):
        # The first DAV request provisions the default collections; keep it out of the timings.
        run.expect(207, "PROPFIND", self.cal, PROPFIND, {"Depth": "0", **XML})
        run.expect(207, "PROPFIND", self.book, PROPFIND, {"Depth": "0", **XML})
        super().create_collections(run)

    def cleanup(self):
        super().cleanup()
        if self.db:
            psql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')


def psql(sql):
    subprocess.run(["psql", "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d", "postgres", "-q",
                    "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, stdout=subprocess.DEVNULL)


class Radicale(Server):
    kind = "radicale"

    def __init__(self, name, bins):
        super().__init__(name, bins)
        self.cal, self.cal8, self.book = f"/{USER}/default/", f"/{USER}/bench-c8/", f"/{USER}/contacts/"
        self.storage = os.path.join(self.tmp, "storage")

    def start(self):
        with open(os.path.join(self.tmp, "users"), "w") as f:
            f.write(f"{USER}:{PASSWORD}\n")
        with open(os.path.join(self.tmp, "config"), "w") as f:
            f.write(f"[server]\nhosts = 127.0.0.1:{self.port}\n[auth]\ntype = htpasswd\n"
                    f"htpasswd_filename = {self.tmp}/users\nhtpasswd_encryption = plain\n"
                    f"[storage]\nfilesystem_folder = {self.storage}\n[rights]\ntype = owner_only\n"
                    "[logging]\nlevel = warning\n")
        self.spawn([os.path.join(VENV, "bin", "radicale"), "--config", os.path.join(self.tmp, "config")])
        wait_http(self.base + "/", self.proc)

    def create_collections(self, run):
        run.expect(201, "MKCALENDAR", self.cal)
        body = ('<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set>'
                "<D:prop><D:resourcetype><D:collection/><C:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>")
        run.expect(201, "MKCOL", self.book, body, XML)
        super().create_collections(run)

    def seed(self, collection, items, run):
        folder = os.path.join(self.storage, "collection-root", collection.strip("/"))
        for name, body in items:
            with open(os.path.join(folder, name), "w", newline="") as f:
                f.write(body)
        return True


class Xandikos(Server):
    kind = "xandikos"
    auth = None  # serves without authentication; it has no plain-HTTP Basic auth of its own

    def __init__(self, name, bins):
        super().__init__(name, bins)
        self.cal, self.cal8, self.book = "/user/calendars/calendar/", "/user/calendars/bench-c8/", "/user/contacts/addressbook/"
        self.data = os.path.join(self.tmp, "data")

    def start(self):
        self.spawn([os.path.join(VENV, "bin", "xandikos"), "serve", "-d", self.data, "--defaults",
                    "-l", "127.0.0.1", "-p", str(self.port)])
        wait_http(self.base + "/", self.proc)

    def seed(self, collection, items, run):
        # Each collection is a git repository with a work tree; Xandikos serves what HEAD holds.
        folder = os.path.join(self.data, collection.strip("/"))
        for name, body in items:
            with open(os.path.join(folder, name), "w", newline="") as f:
                f.write(body)
        git = ["git", "-C", folder, "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
        subprocess.run([*git, "add", "-A"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*git, "commit", "-q", "-m", "bench seed"], check=True, stdout=subprocess.DEVNULL)
        return True


def make_server(name, bins):
    if name == "madang-sqlite":
        return Madang(name, bins, "sqlite")
    if name == "madang-postgres":
        return Madang(name, bins, "postgres")
    if name == "radicale":
        return Radicale(name, bins)
    if name == "xandikos":
        return Xandikos(name, bins)
    raise SystemExit(f"unknown server {name!r}; known: {', '.join(ALL_SERVERS)}")


# --------------------------------------------------------------------------- workload

NS = {"d": "DAV:"}
PROPFIND = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>'
QUERY = """<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">
<c:time-range start="%s" end="%s"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"""
SYNC = """<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>%s</d:sync-token>
<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"""
MULTIGET = """<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><d:getetag/><c:calendar-data/></d:prop>%s</c:calendar-multiget>"""
CARD_QUERY = """<?xml version="1.0"?><C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
<D:prop><D:getetag/><C:address-data/></D:prop><C:filter><C:prop-filter name="EMAIL">
<C:text-match collation="i;unicode-casemap" match-type="equals">%s</C:text-match>
</C:prop-filter></C:filter></C:addressbook-query>"""
XML = {"Content-Type": "application/xml; charset=utf-8"}


def responses(resp):
    """(hrefs as unquoted paths, the multistatus root) of a 207 answer."""
    if resp.status_code != 207:
        raise RuntimeError(f"HTTP {resp.status_code}: {resp.text[:300]}")
    root = ET.fromstring(resp.content)
    hrefs = [urllib.parse.unquote(urllib.parse.urlparse(r.findtext("d:href", "", NS)).path)
             for r in root.findall("d:response", NS)]
    return hrefs, root


def errs(r):
    return f", {r['errors']} errors" if r["errors"] else ""


def timed(fn, max_reps, max_secs):
    """Median wall time (ms) over up to max_reps calls, fewer once max_secs is spent; last result."""
    times, out, spent = [], None, 0.0
    for _ in range(max_reps):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
        spent += times[-1] / 1000
        if spent > max_secs:
            break
    return statistics.median(times), len(times), out


class Run:
    """One workload against one freshly started server; fills self.m with the run's figures."""

    def __init__(self, server, args, data, bins, work):
        import requests

        self.s, self.args, self.data, self.bins, self.work = server, args, data, bins, work
        self.n = len(data["events"])
        self.http = requests.Session()
        self.http.auth = server.auth
        self.m = {}

    def req(self, method, path, body=None, headers=None):
        return self.http.request(method, self.s.base + path, data=body.encode() if isinstance(body, str) else body,
                                 headers=headers, timeout=600)

    def expect(self, status, method, path, body=None, headers=None):
        r = self.req(method, path, body, headers)
        if r.status_code != status:
            raise RuntimeError(f"{method} {path}: {r.status_code} (expected {status}) {r.text[:200]}")
        return r

    def load(self, mode, extra):
        cmd = [self.bins["bench-load"], mode, "--base", self.s.base, *extra]
        if self.s.auth:
            cmd += ["--user", self.s.auth[0], "--password", self.s.auth[1]]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

    def put_items(self, collection, items, content_type, concurrency, budget):
        path = os.path.join(self.work, f"{self.s.name}-put.jsonl")
        with open(path, "w") as f:
            for name, body in items:
                f.write(json.dumps({"path": collection + name, "body": body}) + "\n")
        r = self.load("put", ["--jsonl", path, "--concurrency", str(concurrency), "--budget-secs", str(budget),
                              "--block", str(self.args.block), "--content-type", content_type])
        os.unlink(path)
        return r

    def put_phase(self, key, collection, items, concurrency, content_type):
        r = self.put_items(collection, items, content_type, concurrency, self.args.budget)
        failed = set(r["failed_indices"])
        stored = [i for i in range(r["attempted"]) if i not in failed]
        self.m[key] = {"rate": r["rate"], "done": r["done"], "total": r["total"], "elapsed": r["elapsed"],
                       "errors": r["errors"], "statuses": r["statuses"], "out_of_time": r["out_of_time"],
                       "blocks": r["blocks"], "p50_ms": r["p50_ms"], "p95_ms": r["p95_ms"],
                       "error_samples": r["error_samples"]}
        log(f"  {self.s.name} {key}: {r['done']}/{r['total']} in {r['elapsed']:.1f} s = {r['rate']:.0f}/s"
            f"{' (budget reached)' if r['out_of_time'] else ''}{errs(r)}")
        return stored

    def complete(self, key, collection, items, stored):
        """Makes the collection hold every item even if the PUT phase ran out of budget."""
        missing = sorted(set(range(len(items))) - set(stored))
        if not missing:
            return list(range(len(items)))
        if self.s.seed(collection, [items[i] for i in missing], self):
            self.m[key]["seeded"] = len(missing)
            log(f"  {self.s.name}: seeded the {len(missing)} missing items into {collection}, untimed")
            # Seeding bypassed the server's write path and so whatever cache it fills; one untimed
            # listing lets it catch up, as it would have while taking the PUTs.
            self.req("PROPFIND", collection, PROPFIND, {"Depth": "1", **XML})
            return list(range(len(items)))
        self.m[key]["partial"] = len(stored)
        return stored

    def query(self, key, fn, check):
        try:
            ms, reps, result = timed(fn, self.args.query_reps, self.args.query_secs)
            ok, note = check(result)
        except Exception as e:  # a failed query is a result, not a reason to lose the run
            ms, reps, ok, note = None, 0, False, f"error: {e}"[:300]
        self.m[key] = {"ms": ms, "reps": reps, "ok": ok, "note": note}
        log(f"  {self.s.name} {key}: {'-' if ms is None else f'{ms:.1f} ms'} {'ok' if ok else 'WRONG ' + note}")

    def go(self):
        s, n = self.s, self.n
        evs, exp = self.data["events"], self.data["expected"]
        s.create_collections(self)
        stored = self.put_phase("put_c1", s.cal, evs, 1, "text/calendar; charset=utf-8")
        stored = self.complete("put_c1", s.cal, evs, stored)
        self.put_phase("put_c8", s.cal8, evs, 8, "text/calendar; charset=utf-8")
        k = len(stored)
        member = {s.cal + evs[i][0] for i in stored}

        def propfind_check(res):
            hrefs, _ = responses(res)
            got = len([h for h in hrefs if h in member])
            extra = len(hrefs) - got
            return got == k and extra <= 1, f"{got} of {k} members (+{extra} others)"

        self.query("propfind", lambda: self.req("PROPFIND", s.cal, PROPFIND, {"Depth": "1", **XML}), propfind_check)
        for key, (a, b) in WEEKS.items():
            want = {s.cal + evs[i][0] for i in stored if exp[key][i]}

            def check(res, want=want):
                hrefs = set(responses(res)[0])
                return hrefs == want, f"{len(hrefs)} hrefs, {len(hrefs & want)} of the {len(want)} expected"

            self.query(key, lambda a=a, b=b: self.req("REPORT", s.cal, QUERY % (a, b), {"Depth": "1", **XML}), check)
            self.m[key]["expected"] = len(want)

        def sync_token(res):
            return responses(res)[1].findtext("d:sync-token", "", NS)

        self.query("sync_initial", lambda: self.req("REPORT", s.cal, SYNC % "", XML),
                   lambda res: (len(set(responses(res)[0]) & member) == k, f"{len(responses(res)[0])} hrefs"))
        token = sync_token(self.req("REPORT", s.cal, SYNC % "", XML))
        rng = random.Random(n)
        changed = rng.sample(stored, 10)
        for i in changed:
            name, ics = evs[i]
            r = self.req("PUT", s.cal + name, ics.replace("SUMMARY:", "SUMMARY:changed "),
                         {"Content-Type": "text/calendar; charset=utf-8"})
            if r.status_code not in (200, 201, 204):
                raise RuntimeError(f"PUT (change) {r.status_code}")
        want = {s.cal + evs[i][0] for i in changed}

        def delta_check(res):
            hrefs = set(responses(res)[0])
            return hrefs == want, f"{len(hrefs)} hrefs, {len(hrefs & want)} of the 10 changed"

        self.query("sync_delta", lambda: self.req("REPORT", s.cal, SYNC % token, XML), delta_check)
        picks = [s.cal + evs[i][0] for i in rng.sample(stored, min(100, k))]
        body = MULTIGET % "".join(f"<d:href>{urllib.parse.quote(p)}</d:href>" for p in picks)

        def multiget_check(res):
            hrefs, root = responses(res)
            data = [e for e in root.iter("{urn:ietf:params:xml:ns:caldav}calendar-data") if (e.text or "").strip()]
            return set(hrefs) == set(picks) and len(data) == len(picks), f"{len(hrefs)} hrefs, {len(data)} bodies"

        self.query("multiget", lambda: self.req("REPORT", s.cal, body, {"Depth": "1", **XML}), multiget_check)

        paths = os.path.join(self.work, f"{s.name}-paths.txt")
        with open(paths, "w") as f:
            f.write("\n".join(s.cal + evs[i][0] for i in stored) + "\n")
        g = self.load("get", ["--paths-file", paths, "--concurrency", "8", "--duration", str(self.args.get_secs)])
        self.m["get"] = {k2: g[k2] for k2 in ("requests", "errors", "statuses", "rps", "ok_rps", "p50_ms", "p95_ms",
                                              "p99_ms", "error_samples")}
        log(f"  {s.name} get: {g['ok_rps']:.0f}/s p50 {g['p50_ms']:.2f} ms p95 {g['p95_ms']:.2f} ms"
            f"{errs(g)}")

        if self.data.get("cards"):
            cds = self.data["cards"]
            cstored = self.put_phase("card_put_c8", s.book, cds, 8, "text/vcard; charset=utf-8")
            cstored = self.complete("card_put_c8", s.book, cds, cstored)
            t = cstored[len(cstored) // 2]
            target = f"person{t}@example{t % 50}.com"
            want = {s.book + cds[t][0]}

            def card_check(res):
                hrefs = set(responses(res)[0])
                return hrefs == want, f"{len(hrefs)} hrefs, want 1"

            self.query("card_query", lambda: self.req("REPORT", s.book, CARD_QUERY % target, {"Depth": "1", **XML}),
                       card_check)
        rss, cpu = s.usage()
        self.m["rss_mib"], self.m["cpu_s"] = rss, cpu
        log(f"  {s.name}: peak RSS {rss:.1f} MiB, CPU {cpu:.1f} s")


def hello_ceiling(bins, args):
    port = free_port()
    proc = subprocess.Popen([bins["bench-hello"], "--listen", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc, ok=(200,))
        out = subprocess.run([bins["bench-load"], "get", "--base", f"http://127.0.0.1:{port}", "--concurrency", "8",
                              "--duration", str(args.get_secs), "/"], check=True, capture_output=True, text=True)
        g = json.loads(out.stdout)
        log(f"  bare hyper hello: {g['ok_rps']:.0f}/s p50 {g['p50_ms']:.3f} ms")
        return g
    finally:
        proc.terminate()
        proc.wait(10)


# --------------------------------------------------------------------------- report

TARGETS = {  # issue 6: what Madang must reach; (comparison, bound)
    "put_c8": (">=", 2000), "propfind": ("<=", 50), "query_week": ("<=", 15), "query_dst": ("<=", 15),
    "sync_initial": ("<=", 150), "sync_delta": ("<=", 3), "multiget": ("<=", 5), "get_p50": ("<=", 1),
    "rss_mib": ("<=", 40), "get_vs_hello": (">=", 0.5),
}
ROWS = [  # key, label, higher is better
    ("put_c1", "PUT c1, events/s (1st→last block)", True),
    ("put_c8", "PUT c8, events/s (1st→last block)", True),
    ("propfind", "PROPFIND depth 1, ms", False),
    ("query_week", "calendar-query week, ms", False),
    ("query_dst", "calendar-query DST week, ms", False),
    ("sync_initial", "sync-collection initial, ms", False),
    ("sync_delta", "sync-collection 10 changes, ms", False),
    ("multiget", "calendar-multiget 100, ms", False),
    ("get_rps", "GET c8, requests/s", True),
    ("get_p50", "GET p50, ms", False),
    ("get_p95", "GET p95, ms", False),
    ("card_put_c8", "vCard PUT c8, cards/s", True),
    ("card_query", "addressbook-query e-mail, ms", False),
    ("rss_mib", "peak RSS, MiB", False),
    ("cpu_s", "CPU, s (whole run)", False),
    ("get_vs_hello", "GET ÷ bare hyper GET", True),
]


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cell(runs, key, hello):
    """(median value or None, text) for one metric over the repetitions of one server."""
    vals, notes, partial, short = [], [], [], []
    for m in runs:
        if key in ("put_c1", "put_c8", "card_put_c8"):
            p = m.get(key)
            if not p:
                continue
            if p["out_of_time"] or p["done"] < p["total"]:
                short.append(f"{p['done']}/{p['total']} in {p['elapsed']:.0f} s")
            if p["errors"]:
                notes.append(f"{p['errors']} errors")
            vals.append((p["rate"], p["blocks"][0]["rate"] if p["blocks"] else None,
                         p["blocks"][-1]["rate"] if p["blocks"] else None))
        elif key.startswith("get_"):
            g = m.get("get")
            if not g:
                continue
            if g["errors"]:
                notes.append(f"{g['errors']} errors")
            if key == "get_vs_hello":
                vals.append(g["ok_rps"] / hello if hello else None)
            else:
                vals.append({"get_rps": g["ok_rps"], "get_p50": g["p50_ms"], "get_p95": g["p95_ms"]}[key])
        elif key in ("rss_mib", "cpu_s"):
            if key in m:
                vals.append(m[key])
        else:
            q = m.get(key)
            if not q:
                continue
            if not q["ok"]:
                notes.append(f"WRONG: {q['note']}")
            elif key != "card_query" and (m.get("put_c1") or {}).get("partial") is not None:
                partial.append(m["put_c1"]["partial"])
            elif key == "card_query" and (m.get("card_put_c8") or {}).get("partial") is not None:
                partial.append(m["card_put_c8"]["partial"])
            if q["ms"] is not None:
                vals.append(q["ms"])
    if short:  # budget misses: the repetition that got furthest, and how many missed
        best = max(short, key=lambda x: int(x.split("/")[0]))
        notes.insert(0, best + (f" (best of {len(short)} reps)" if len(short) > 1 else "")
                     + (f"; {len(runs) - len(short)} reps finished" if len(short) < len(runs) else ""))
    if partial:
        what = "address book" if key == "card_query" else "calendar"
        k = f"{min(partial)}" if len(set(partial)) == 1 else f"{min(partial)}–{max(partial)}"
        notes.append(f"partial {what} ({k} items) in {len(partial)}/{len(runs)} reps")
    vals = [v for v in vals if v is not None]
    if not vals and not notes:
        return None, "-"
    if vals and isinstance(vals[0], tuple):
        med = statistics.median(v[0] for v in vals)
        first = statistics.median(v[1] for v in vals if v[1] is not None) if any(v[1] for v in vals) else None
        last = statistics.median(v[2] for v in vals if v[2] is not None) if any(v[2] for v in vals) else None
        text = f"{fmt(med)} ({fmt(first)}→{fmt(last)})"
        value = (med, first, last)
    elif vals:
        value = statistics.median(vals)
        text = f"{value:.1%}" if key == "get_vs_hello" else fmt(value)
    else:
        value, text = None, ""
    if notes:
        uniq = list(dict.fromkeys(notes))
        text = (text + " " if text else "") + "[" + "; ".join(uniq[:2]) + "]"
    return value, text


def target_mark(key, value):
    if key not in TARGETS or value is None:
        return ""
    op, bound = TARGETS[key]
    if isinstance(value, tuple):  # PUT: every block must reach the target, so the rate stays flat
        value = min(v for v in value if v is not None)
    return " ✓" if (value >= bound if op == ">=" else value <= bound) else " ✗"


def block_series(runs, servers, block):
    """The PUT rate of every block (median over reps), so a slowdown with size shows in full."""
    out = []
    for key in ("put_c1", "put_c8", "card_put_c8"):
        for s in servers:
            series = [[b["rate"] for b in r["metrics"][key]["blocks"]] for r in runs
                      if r["server"] == s and key in r["metrics"]]
            if not series or max(len(x) for x in series) < 2:
                continue
            width = max(len(x) for x in series)
            meds = [statistics.median(x[i] for x in series if i < len(x)) for i in range(width)]
            out.append(f"  {key} per block of {block:,}, {s}: " + " ".join(f"{v:.0f}" for v in meds))
    if out:
        out.insert(0, "PUT rate per block (/s, median over reps; the last may be a partial block):")
    return out


def table(results, servers):
    lines = []
    madangs = [s for s in servers if s.startswith("madang")]
    peers = [s for s in servers if not s.startswith("madang")]
    for n in results["meta"]["n"]:
        runs = [r for r in results["runs"] if r["n"] == n]
        hellos = [h["ok_rps"] for h in results["hello"] if h["n"] == n]
        hello = statistics.median(hellos) if hellos else None
        reps = len({r["rep"] for r in runs})
        lines.append(f"\nN = {n:,} events, median of {reps} rep(s); bare hyper hello: "
                     f"{fmt(hello)} req/s. ✓/✗ = issue-6 target (Madang only); "
                     + (f"ratios = how many times faster {'/'.join(madangs)} is." if madangs and peers else ""))
        if not madangs:
            peers = []
        header = ["metric", "target"] + servers + [f"vs {p}" for p in peers]
        rows = []
        for key, label, higher in ROWS:
            row = [label, "" if key not in TARGETS else f"{TARGETS[key][0]} {TARGETS[key][1]:g}"]
            values, texts = {}, []
            for s in servers:
                value, text = cell([r["metrics"] for r in runs if r["server"] == s], key, hello)
                # A wrong answer has no speed worth comparing: it fails its target and has no ratio.
                texts.append(text)
                wrong = "WRONG" in text
                values[s] = None if wrong else value
                row.append(text + ((" ✗" if wrong else target_mark(key, value)) if s.startswith("madang") else ""))
            if all(t == "-" for t in texts):  # e.g. the CardDAV rows of an N without the CardDAV phase
                continue
            if key in ("cpu_s", "rss_mib", "get_vs_hello"):
                row += [""] * len(peers)
            else:
                for p in peers:
                    ratios = []
                    for mname in madangs:
                        a, b = values.get(mname), values.get(p)
                        a = a[0] if isinstance(a, tuple) else a
                        b = b[0] if isinstance(b, tuple) else b
                        if not a or not b:
                            ratios.append("-")
                        else:
                            ratios.append(f"{(a / b if higher else b / a):.1f}×")
                    row.append("/".join(ratios))
            rows.append(row)
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
        lines.append(" | ".join(h.ljust(w) for h, w in zip(header, widths)))
        lines.append("-+-".join("-" * w for w in widths))
        for row in rows:
            lines.append(" | ".join(str(c).ljust(w) for c, w in zip(row, widths)))
        lines.extend(block_series(runs, servers, results["meta"].get("block", 1000)))
    failures = [r for r in results["runs"] if r.get("error")]
    for r in failures:
        lines.append(f"RUN FAILED: {r['server']} N={r['n']} rep {r['rep']}: {r['error']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="1000,10000", help="calendar sizes, comma-separated (default 1000,10000)")
    ap.add_argument("--reps", type=int, default=3, help="repetitions, interleaved across servers (default 3)")
    ap.add_argument("--servers", default=",".join(ALL_SERVERS), help="default: " + ",".join(ALL_SERVERS))
    ap.add_argument("--budget", type=float, default=30, help="seconds allowed per PUT phase (default 30)")
    ap.add_argument("--cards", type=int, default=10000, help="vCards PUT in the runs of the largest N (default 10000)")
    ap.add_argument("--get-secs", type=float, default=5, help="duration of the GET phase (default 5)")
    ap.add_argument("--query-reps", type=int, default=5, help="timings per query; the median is kept (default 5)")
    ap.add_argument("--query-secs", type=float, default=5,
                    help="stop repeating a query once this many seconds are spent on it (default 5)")
    ap.add_argument("--block", type=int, default=1000, help="PUT throughput is reported per block of this many")
    ap.add_argument("--quick", action="store_true", help="smoke run: defaults become --n 500 --reps 1 --budget 15 --cards 500 --get-secs 2 --block 100 --query-reps 3")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already in target/release")
    ap.add_argument("--report", metavar="JSON", help="print the table of an earlier run's results and exit")
    if "--quick" in sys.argv[1:]:  # smaller defaults; options given explicitly still win
        ap.set_defaults(n="500", reps=1, budget=15, cards=500, get_secs=2, block=100, query_reps=3)
    args = ap.parse_args()
    if args.report:
        with open(args.report) as f:
            results = json.load(f)
        print(table(results, results["meta"]["servers"]))
        return
    ns = [int(x) for x in args.n.split(",") if x]
    servers = [s for s in args.servers.split(",") if s]
    for s in servers:
        if s not in ALL_SERVERS:
            sys.exit(f"unknown server {s!r}; known: {', '.join(ALL_SERVERS)}")

    ensure_venv()
    started = time.time()
    if not args.no_build:
        build()
    needed = ["bench-load", "bench-hello"] + (["madang"] if any(s.startswith("madang") for s in servers) else [])
    bins = {b: binary(b) for b in needed}
    results = {"meta": {"started": dt.datetime.now().isoformat(timespec="seconds"), "n": ns, "reps": args.reps,
                        "servers": servers, "budget": args.budget, "block": args.block, "cards": args.cards,
                        "get_secs": args.get_secs, "argv": sys.argv[1:], "host": {"cpus": os.cpu_count()}},
               "runs": [], "hello": []}
    os.makedirs(os.path.join(BENCH, "results"), exist_ok=True)
    out_path = os.path.join(BENCH, "results", time.strftime("%Y%m%dT%H%M%S") + ".json")
    work = tempfile.mkdtemp(prefix="madang-bench-work-")
    current = None
    try:
        for n in ns:
            log(f"N = {n}: generating events and the expected query answers")
            evs = events(n)
            data = {"events": evs, "expected": expected_matches(evs),
                    "cards": cards(args.cards) if n == max(ns) and args.cards else None}
            for rep in range(1, args.reps + 1):
                log(f"N = {n}, rep {rep}/{args.reps}")
                h = hello_ceiling(bins, args)
                results["hello"].append({"n": n, "rep": rep, **h})
                for name in servers:
                    t0 = time.time()
                    record = {"n": n, "rep": rep, "server": name, "metrics": {}}
                    results["runs"].append(record)
                    current = make_server(name, bins)
                    try:
                        current.start()
                        run = Run(current, args, data, bins, work)
                        record["metrics"] = run.m
                        run.go()
                    except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
                        record["error"] = str(e)[:500]
                        log(f"  {name} FAILED: {e}")
                    finally:
                        current.cleanup()
                        current = None
                    record["secs"] = time.time() - t0
                    # Saved after every server so an interrupted run still leaves what it measured.
                    with open(out_path, "w") as f:
                        json.dump(results, f, indent=1)
    finally:
        if current is not None:
            current.cleanup()
        shutil.rmtree(work, ignore_errors=True)
        results["meta"]["secs"] = time.time() - started
        with open(out_path, "w") as f:
            json.dump(results, f, indent=1)
    print(table(results, servers))
    print(f"\nraw results: {os.path.relpath(out_path)}; total {results['meta']['secs'] / 60:.1f} min")


if __name__ == "__main__":
    main()
