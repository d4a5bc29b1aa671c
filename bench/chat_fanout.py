#!/usr/bin/env python3
"""The chat fan-out benchmark of issue 13: Madang on SQLite (one process), Madang on PostgreSQL
(two processes behind nginx) and the seed's design (bench/reference/chat_ws_redis.py: Python,
WebSocket, Redis pub/sub), the same workload against each in one run, one table with ratios.

    python3 bench/chat_fanout.py                     # 1,000 clients, 50 channels, 500 msg/s, 60 s
    python3 bench/chat_fanout.py --quick             # 200 clients, 10 channels, 100 msg/s, 10 s
    python3 bench/chat_fanout.py --help

It builds Madang and the driver (target/release/chat-fanout) in release mode, creates
bench/.venv from bench/requirements.txt, starts every server itself on free 127.0.0.1 ports with a
fresh store (a temp data dir; a PostgreSQL database created for the run and dropped after it;
Redis keys under a per-run prefix, deleted after it), stops each by PID (also on Ctrl-C), prints
the table and writes the driver's figures to bench/results/chat_fanout-<timestamp>.json.
bench/README.md explains the figures.
"""
import argparse
import base64
import concurrent.futures
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from run import BENCH, PG, VENV, binary, build, ensure_venv, free_port, log, psql

ALL_TARGETS = ["madang-sqlite", "madang-postgres2", "reference"]
LABELS = {"madang-sqlite": "Madang SQLite", "madang-postgres2": "Madang PostgreSQL ×2", "reference": "reference"}
ADMIN, ADMIN_PASSWORD = "fanadmin", "fan-admin-secret-pw"
REDIS_URL = "redis://127.0.0.1:6379/0"


def wait_port(port, proc, path="/healthz", timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pid {proc.pid} exited with {proc.returncode} before answering on {port}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                if r.status < 500:
                    return
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for 127.0.0.1:{port}")


def stop(proc, name):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            log(f"{name} pid {proc.pid} ignored SIGTERM; killing it")
            proc.kill()
            proc.wait()


def clean_env():
    # A MADANG_* variable or a ./madang.toml of the caller's must not redirect the storage.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADANG_")}
    env["NO_COLOR"] = "1"
    return env


class Setup:
    """Servers of one target, started fresh and stopped by PID; cleanup also on errors."""

    def __init__(self, name, bins, args):
        self.name, self.bins, self.args = name, bins, args
        self.tmp = tempfile.mkdtemp(prefix=f"madang-fanout-{name}-")
        self.procs = []  # (name, Popen)
        self.db = None
        self.server_pids, self.proxy_pids, self.store_cmd = [], [], None

    def spawn(self, label, argv, env=None, cwd=None):
        logf = open(os.path.join(self.tmp, f"{label}.log"), "ab")
        p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                             cwd=cwd or self.tmp)
        self.procs.append((label, p))
        log(f"  started {label} pid {p.pid}")
        return p

    def cleanup(self):
        for label, p in reversed(self.procs):
            stop(p, label)
        self.procs = []
        if self.db:
            psql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
            self.db = None
        if self.args.keep_logs:
            log(f"  logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


class MadangSetup(Setup):
    def __init__(self, name, bins, args, processes, postgres):
        super().__init__(name, bins, args)
        self.processes = processes
        if postgres:
            self.db = f"madang_fanout_{os.getpid()}_{random.randrange(1 << 30)}"
            psql(f'CREATE DATABASE "{self.db}"')
            self.storage = ["--database-url", f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{self.db}"]
            self.store_cmd = (f"psql -h {PG['host']} -p {PG['port']} -U {PG['user']} -d postgres -Atc "
                              f"\"SELECT pid FROM pg_stat_activity WHERE datname = '{self.db}'\"")
        else:
            self.storage = ["--data-dir", os.path.join(self.tmp, "data")]

    def cli(self, *argv, stdin=None):
        r = subprocess.run([self.bins["madang"], *self.storage, *argv], input=stdin, env=self.env(), cwd=self.tmp,
                           capture_output=True, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"madang {' '.join(argv)}: {r.stderr.decode(errors='replace').strip()}")
        return r.stdout.decode().strip()

    def env(self):
        # Default settings throughout: the workload's one message every 2 s per user stays under
        # the default `chat.messages_per_minute`; a faster one shows up as send errors (429).
        return clean_env()

    def users(self):
        """Creates the clients' users (no account password) with one app password each, through
        the CLI, several at a time: `name secret` lines for the driver."""
        n = self.args.clients

        def one(i):
            name = f"fan{i}"
            self.cli("user", "add", name, "--email", f"{name}@example.com", "--no-password")
            return f"{name} {self.cli('app-password', 'add', name, 'chat-fanout')}"

        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            lines = list(pool.map(one, range(n)))
        path = os.path.join(self.tmp, "users.txt")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        log(f"  {n} users with app passwords in {time.time() - t0:.0f} s")
        return path

    def start(self):
        self.cli("migrate")
        self.cli("user", "add", ADMIN, "--email", f"{ADMIN}@example.com", "--admin", stdin=f"{ADMIN_PASSWORD}\n".encode())
        self.users_file = self.users()
        ports = []
        for i in range(self.processes):
            port = free_port()
            p = self.spawn(f"madang{i + 1}", [self.bins["madang"], *self.storage, "serve", "--listen",
                                              f"127.0.0.1:{port}"], env=self.env())
            wait_port(port, p)
            ports.append(port)
            self.server_pids.append(p.pid)
        self.port = ports[0] if len(ports) == 1 else self.nginx(ports)
        self.enable_chat()
        return f"http://127.0.0.1:{self.port}"

    def enable_chat(self):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/v1/admin/modules", method="PUT",
                                     data=json.dumps({"chat": True}).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": "Basic " +
                                              base64.b64encode(f"{ADMIN}:{ADMIN_PASSWORD}".encode()).decode()})
        with urllib.request.urlopen(req, timeout=30) as r:
            states = json.load(r)
        if not states.get("chat"):
            raise RuntimeError(f"chat module still off: {states}")
        # Every process re-reads the module states at most a second later.
        time.sleep(1.2)

    def nginx(self, ports):
        """Debian's nginx in front of the processes, round robin, as an operator would run it."""
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.access(exe, os.X_OK):
            raise RuntimeError("nginx not found (apt-get install nginx-light)")
        port = free_port()
        d = os.path.join(self.tmp, "nginx")
        os.makedirs(d)
        servers = "".join(f"    server 127.0.0.1:{p};\n" for p in ports)
        temps = "".join(f"  {k}_temp_path {d}/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"""# Generated by bench/chat_fanout.py for one run.
daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
{temps}  upstream madang {{
{servers}    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://madang;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      # Server-Sent Events: pass every byte on at once, and keep idle streams open.
      proxy_buffering off;
      proxy_read_timeout 1h;
    }}
  }}
}}
""")
        p = self.spawn("nginx", [exe, "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e", os.path.join(d, "error.log")])
        wait_port(port, p)
        children = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
        self.proxy_pids = [p.pid, *map(int, children)]
        return port


class ReferenceSetup(Setup):
    def start(self):
        port = free_port()
        prefix = f"madang-fanout-{os.getpid()}-{random.randrange(1 << 30)}:"
        py = os.path.join(VENV, "bin", "python")
        p = self.spawn("reference", [py, os.path.join(BENCH, "reference", "chat_ws_redis.py"), "--listen",
                                     f"127.0.0.1:{port}", "--redis", REDIS_URL, "--prefix", prefix])
        wait_port(port, p, path="/")
        self.server_pids.append(p.pid)
        self.store_cmd = "redis-cli -u " + REDIS_URL + " info server | sed -n 's/^process_id:\\([0-9]*\\).*/\\1/p'"
        return f"ws://127.0.0.1:{port}"


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run_target(name, bins, args):
    if name == "reference":
        s = ReferenceSetup(name, bins, args)
    else:
        s = MadangSetup(name, bins, args, processes=2 if name == "madang-postgres2" else 1,
                        postgres=name == "madang-postgres2")
    try:
        base = s.start()
        argv = [bins["chat-fanout"], "--target", "reference" if name == "reference" else "madang", "--base", base,
                "--clients", str(args.clients), "--channels", str(args.channels), "--rate", str(args.rate),
                "--duration", str(args.duration), "--grace", str(args.grace), "--threads", str(args.threads),
                "--channel-prefix", f"fanout-{random.randrange(1 << 20)}",
                "--server-pids", ",".join(map(str, s.server_pids))]
        if name != "reference":
            argv += ["--users", s.users_file]
        if s.proxy_pids:
            argv += ["--proxy-pids", ",".join(map(str, s.proxy_pids))]
        if s.store_cmd:
            argv += ["--store-pids-cmd", s.store_cmd]
        log(f"  driver: {args.clients} clients, {args.channels} channels, {args.rate:g} msg/s for {args.duration:g} s")
        load_before = loadavg()
        out = subprocess.run(argv, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"driver failed: {out.stderr.strip()[-2000:]}")
        r = json.loads(out.stdout)
        r["loadavg"] = [load_before, loadavg()]
        for label, p in s.procs:
            if p.poll() is not None:
                r.setdefault("errors", []).append(f"{label} exited with {p.returncode} during the run")
        lat = r["latency"]
        log(f"  {name}: p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, lost {r['lost']}, dup {r['duplicates']}, "
            f"server CPU {r['server_cpu_pct']:.0f} %, driver CPU {r['driver_cpu_pct']:.0f} %")
        return r
    finally:
        s.cleanup()


# --------------------------------------------------------------------------- report

def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, int):
        return f"{v:,}"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


ROWS = [  # label, getter, lower is better (None: no ratio)
    ("messages sent / acknowledged", lambda r: f"{r['sent']:,} / {r['acked']:,}", None),
    ("send rate achieved, msg/s", lambda r: r["achieved_rate"], None),
    ("send answer p50 / p99, ms", lambda r: f"{fmt(r['ack']['p50_ms'], 2)} / {fmt(r['ack']['p99_ms'], 2)}", None),
    ("latency p50, ms", lambda r: r["latency"]["p50_ms"], True),
    ("latency p90, ms", lambda r: r["latency"]["p90_ms"], True),
    ("latency p99, ms", lambda r: r["latency"]["p99_ms"], True),
    ("latency p99.9, ms", lambda r: r["latency"]["p999_ms"], True),
    ("seconds with a receipt > 20 ms", lambda r: slow_seconds(r), True),
    ("latency max, ms", lambda r: r["latency"]["max_ms"], True),
    ("receipts expected", lambda r: r["expected"], None),
    ("lost", lambda r: r["lost"], True),
    ("duplicated", lambda r: r["duplicates"], True),
    ("out of order", lambda r: r["out_of_order"], True),
    ("reconnects, send errors", lambda r: f"{r['reconnects']}, {r['send_errors']}", None),
    ("server CPU, s (% of a core)", lambda r: (r["server_cpu_s"], r["server_cpu_pct"]), True),
    ("server RSS at end / peak, MiB", lambda r: (r["server_rss_mib"], r["server_hwm_mib"]), True),
    ("storage CPU, s (PG backends / Redis)", lambda r: r["store_cpu_s"] if r["store_processes"] else None, True),
    ("nginx CPU, s", lambda r: r["proxy_cpu_s"] if r.get("proxy_rss_mib") else None, None),
    ("driver CPU, % of a core", lambda r: r["driver_cpu_pct"], None),
    ("load average 1 min, before → after", lambda r: f"{r['loadavg'][0]:.1f} → {r['loadavg'][1]:.1f}", None),
]


def value_of(v):
    """The number a ratio is taken of."""
    return v[0] if isinstance(v, tuple) else v


def text_of(label, v):
    if isinstance(v, str) or v is None:
        return v if v is not None else "-"
    if isinstance(v, tuple):
        if "RSS" in label:
            return f"{fmt(v[0])} / {fmt(v[1])}"
        return f"{fmt(v[0])} ({fmt(v[1], 0)} %)"
    if isinstance(v, float) and "ms" in label:
        return fmt(v, 2)
    return fmt(v)


def slow_seconds(r):
    """How many seconds of the send schedule had a receipt over 20 ms (driver's `timeline`)."""
    t = r.get("timeline")
    return None if t is None else sum(1 for s in t if s["max_ms"] > 20)


def timelines(results):
    """The slowest receipt per second of the schedule, one line per target: bursts or spread."""
    out = []
    for n, r in results["runs"].items():
        if "timeline" in r:
            out.append(f"{LABELS.get(n, n)} slowest receipt per second, ms: "
                       + " ".join(f"{s['max_ms']:.0f}" for s in r["timeline"]))
    return out


def table(results):
    meta = results["meta"]
    runs = results["runs"]
    names = [n for n in meta["targets"] if n in runs]
    madangs = [n for n in names if n.startswith("madang")]
    ref = "reference" if "reference" in runs and "error" not in runs["reference"] else None
    lines = [f"\nChat fan-out: {meta['clients']:,} clients in {meta['channels']} channels "
             f"({meta['clients'] // meta['channels']} members each), {meta['rate']:g} msg/s for {meta['duration']:g} s, "
             f"grace {meta['grace']:g} s; {meta['cpus']} CPUs."]
    if ref and madangs:
        lines.append("vs reference = reference ÷ Madang (how many times lower Madang's figure is; > 1 is better).")
    header = ["metric"] + [LABELS[n] for n in names] + ([f"vs reference: {LABELS[m]}" for m in madangs] if ref else [])
    rows = []
    for label, get, lower in ROWS:
        row, vals = [label], {}
        for n in names:
            r = runs[n]
            if "error" in r:
                row.append("FAILED" if label == ROWS[0][0] else "")
                continue
            v = get(r)
            vals[n] = v
            text = text_of(label, v)
            if n == "madang-sqlite" and label == "latency p99, ms" and v is not None:
                text += " ✓" if v <= 20 else " ✗"  # issue 13: p99 ≤ 20 ms on one process
            row.append(text)
        if ref:
            for m in madangs:
                a, b = value_of(vals.get(m)), value_of(vals.get(ref))
                if lower is None or a is None or b is None or isinstance(a, str):
                    row.append("")
                elif a == 0 and b == 0:
                    row.append("both 0")
                elif a == 0:
                    row.append(f"0 vs {fmt(b)}")
                else:
                    row.append(f"{b / a:.1f}×")
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines.append(" | ".join(h.ljust(w) for h, w in zip(header, widths)))
    lines.append("-+-".join("-" * w for w in widths))
    for row in rows:
        lines.append(" | ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    lines.append("✓/✗: issue 13's goal, p99 ≤ 20 ms on one process. Driver CPU near 100 % would mean the driver, "
                 "not the server, bounds the figures.")
    lines.extend(timelines(results))
    for n in names:
        r = runs[n]
        if "error" in r:
            lines.append(f"{LABELS[n]} FAILED: {r['error']}")
        elif r.get("errors"):
            lines.append(f"{LABELS[n]} errors (first {len(r['errors'])}): " + " | ".join(r["errors"][:3]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default=",".join(ALL_TARGETS), help="default: " + ",".join(ALL_TARGETS))
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--channels", type=int, default=50)
    ap.add_argument("--rate", type=float, default=500, help="messages per second over all channels")
    ap.add_argument("--duration", type=float, default=60, help="seconds of sending")
    ap.add_argument("--grace", type=float, default=5, help="seconds to wait for late receipts")
    ap.add_argument("--threads", type=int, default=1, help="the driver's runtime threads")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: defaults become --clients 200 --channels 10 --rate 100 --duration 10")
    ap.add_argument("--no-build", action="store_true", help="use the binaries already in target/release")
    ap.add_argument("--keep-logs", action="store_true", help="keep the servers' temp dirs and logs")
    ap.add_argument("--report", metavar="JSON", help="print the table of an earlier run's results and exit")
    if "--quick" in sys.argv[1:]:
        ap.set_defaults(clients=200, channels=10, rate=100, duration=10)
    args = ap.parse_args()
    if args.report:
        with open(args.report) as f:
            print(table(json.load(f)))
        return
    targets = [t for t in args.targets.split(",") if t]
    for t in targets:
        if t not in ALL_TARGETS:
            sys.exit(f"unknown target {t!r}; known: {', '.join(ALL_TARGETS)}")
    if args.clients % args.channels:
        sys.exit("--clients must be a multiple of --channels")

    # Shared with run.py, which also re-executes this script inside bench/.venv.
    ensure_venv(__file__)
    if not args.no_build:
        build()
    bins = {"chat-fanout": binary("chat-fanout")}
    if any(t.startswith("madang") for t in targets):
        bins["madang"] = binary("madang")
    results = {"meta": {"started": dt.datetime.now().isoformat(timespec="seconds"), "targets": targets,
                        "clients": args.clients, "channels": args.channels, "rate": args.rate,
                        "duration": args.duration, "grace": args.grace, "cpus": os.cpu_count(),
                        "argv": sys.argv[1:]}, "runs": {}}
    os.makedirs(os.path.join(BENCH, "results"), exist_ok=True)
    out_path = os.path.join(BENCH, "results", time.strftime("chat_fanout-%Y%m%dT%H%M%S") + ".json")
    for t in targets:
        log(f"{t}")
        try:
            results["runs"][t] = run_target(t, bins, args)
        except (RuntimeError, subprocess.CalledProcessError, OSError, ValueError) as e:
            results["runs"][t] = {"error": str(e)[:1000]}
            log(f"  {t} FAILED: {e}")
        with open(out_path, "w") as f:
            json.dump(results, f, indent=1)
    print(table(results))
    print(f"\nraw results: {os.path.relpath(out_path)}")


if __name__ == "__main__":
    main()
