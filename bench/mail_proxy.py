#!/usr/bin/env python3
"""The IMAP passthrough benchmark of issue 15: the same IMAP client against a real Dovecot
directly and through Madang's IMAP listener (implicit TLS on both sides), in one run.

    python3 bench/mail_proxy.py                 # 10,000 messages, 500 idle connections
    python3 bench/mail_proxy.py --messages 2000 --idle 100 --no-build

Figures (each the median of --repeat runs (5), warm):
- `UID FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE)` over the whole mailbox: seconds and bytes/s;
- full-body fetches, `UID FETCH 1:N BODY.PEEK[]`: seconds and bytes/s;
- the round trip of one command (`NOOP`), median over --pings: what the proxy adds per command;
- --idle connections held open through the proxy (logged in, INBOX selected, in IDLE), with
  Madang's RSS before and after, per connection.
The goal the issue sets: proxy throughput ≥ 0.9× direct, ≤ 0.2 ms added per round trip.
Dovecot is warmed (one full fetch) before anything is timed. Everything listens on 127.0.0.1 and
is stopped by PID at the end.
"""
import argparse
import json
import os
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import time

from mail_sync import ADMIN, ADMIN_PASSWORD, BOX_PASSWORD, REPO, Dovecot, Madang
from run import free_port, log

ENVELOPE = "(FLAGS ENVELOPE BODYSTRUCTURE)"


class Imap:
    """A minimal IMAP client over one socket: sends a command, reads to its tagged answer, counts
    bytes. No parsing beyond literals, so the client costs the same on both paths."""

    def __init__(self, port, ca):
        ctx = ssl.create_default_context(cafile=ca)
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.buf = b""
        self.n = 0
        self.line()  # greeting

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def skip(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        self.buf = self.buf[n:]

    def command(self, text):
        self.n += 1
        tag = f"b{self.n}".encode()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        total = 0
        while True:
            line = self.line()
            total += len(line) + 2
            if line.endswith(b"}") and b"{" in line:
                size = int(line[line.rindex(b"{") + 1:-1].rstrip(b"+"))
                self.skip(size)
                total += size
                continue
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].startswith(b"OK"):
                    raise RuntimeError(line.decode(errors="replace"))
                return total

    def login(self, user, password):
        self.command(f'LOGIN "{user}" "{password}"')

    def close(self):
        try:
            self.command("LOGOUT")
        except (OSError, RuntimeError, ConnectionError):
            pass
        self.sock.close()


def timed(f, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def measure(port, ca, user, password, args):
    c = Imap(port, ca)
    c.login(user, password)
    c.command("EXAMINE INBOX")
    r = {}
    r["envelope_s"], r["envelope_bytes"] = timed(lambda: c.command(f"UID FETCH 1:* {ENVELOPE}"), args.repeat)
    r["bodies_s"], r["bodies_bytes"] = timed(lambda: c.command(f"UID FETCH 1:{args.bodies} BODY.PEEK[]"), args.repeat)
    pings = []
    for _ in range(args.pings):
        t0 = time.perf_counter()
        c.command("NOOP")
        pings.append(time.perf_counter() - t0)
    r["noop_ms"] = statistics.median(pings) * 1000
    c.close()
    return r


def hold_idle(port, ca, user, password, n):
    held = []
    for _ in range(n):
        c = Imap(port, ca)
        c.login(user, password)
        c.command("SELECT INBOX")
        c.n += 1
        c.sock.sendall(f"b{c.n} IDLE\r\n".encode())
        if not c.line().startswith(b"+"):
            raise RuntimeError("no IDLE continuation")
        held.append(c)
    return held


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--bodies", type=int, default=10000, help="messages in the full-body fetch")
    ap.add_argument("--idle", type=int, default=500, help="idle connections held through the proxy")
    ap.add_argument("--pings", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    # 500 clients and their 500 upstream sessions, in this process, Madang and Dovecot.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "madang"], cwd=REPO, check=True)
    dovecot = Dovecot()
    madang = None
    try:
        # One user holding many sessions: Dovecot's own per-user-and-address cap (10) is lifted
        # for the idle figure, as a proxy in front of it would be configured.
        with open(os.path.join(dovecot.dir, "dovecot.conf"), "a") as f:
            # Dovecot's login processes also carry TLS after login: one per connection in its
            # default mode, 100 at most. High-performance mode serves them all from a few.
            f.write("\nprotocol imap {\n  mail_max_userip_connections = 10000\n}\n"
                    "service imap {\n  process_limit = 10000\n}\n"
                    "service imap-login {\n  service_count = 0\n  client_limit = 4000\n  process_min_avail = 2\n}\n")
        subprocess.run(["doveadm", "-c", os.path.join(dovecot.dir, "dovecot.conf"), "reload"], check=True)
        time.sleep(1)
        user = "proxy@bench.test"
        dovecot.add_box(user, args.messages)
        imaps = free_port()
        madang = Madang(dovecot, extra_env={
            "MADANG_MAILPROXY_IMAPS_LISTEN": f"127.0.0.1:{imaps}",
            "MADANG_MAILPROXY_TLS_CERT": os.path.join(dovecot.dir, "cert.pem"),
            "MADANG_MAILPROXY_TLS_KEY": os.path.join(dovecot.dir, "key.pem"),
            "MADANG_MAILPROXY_MAX_CONNECTIONS_PER_USER": str(args.idle + 20),
            "MADANG_MAILPROXY_MAX_CONNECTIONS_PER_ADDRESS": str(args.idle + 50),
            "MADANG_MAIL_MAX_CONNECTIONS": str(args.idle + 100),
        })
        madang.call("POST", "/api/v1/mail/accounts", {
            "email": user, "imap_host": "localhost", "imap_port": dovecot.imaps, "imap_security": "tls",
            "smtp_host": "localhost", "smtp_port": dovecot.submission, "smtp_security": "starttls",
            "username": user, "password": BOX_PASSWORD})
        warm = Imap(dovecot.imaps, dovecot.ca)
        warm.login(user, BOX_PASSWORD)
        warm.command("EXAMINE INBOX")
        warm.command(f"UID FETCH 1:* {ENVELOPE}")
        warm.command(f"UID FETCH 1:{args.bodies} BODY.PEEK[]")
        warm.close()
        log("direct")
        direct = measure(dovecot.imaps, dovecot.ca, user, BOX_PASSWORD, args)
        log(json.dumps(direct))
        log("through Madang")
        proxied = measure(imaps, dovecot.ca, ADMIN, ADMIN_PASSWORD, args)
        log(json.dumps(proxied))
        _, rss_before = madang.rss()
        t0 = time.perf_counter()
        held = hold_idle(imaps, dovecot.ca, ADMIN, ADMIN_PASSWORD, args.idle)
        opened_s = time.perf_counter() - t0
        time.sleep(2)
        _, rss_idle = madang.rss()
        for c in held:
            c.sock.close()
    finally:
        if madang:
            madang.stop()
        dovecot.stop()
    env_ratio = direct["envelope_s"] / proxied["envelope_s"]
    body_ratio = direct["bodies_s"] / proxied["bodies_s"]
    added = proxied["noop_ms"] - direct["noop_ms"]
    print()
    print(f"IMAP passthrough, {args.messages:,} messages, release build, TLS on both legs, median of {args.repeat}")
    print()
    print("| measure | direct to Dovecot | through Madang | proxy ÷ direct throughput |")
    print("|---|---|---|---|")
    print(f"| UID FETCH 1:* {ENVELOPE} | {direct['envelope_s'] * 1000:.0f} ms "
          f"({direct['envelope_bytes'] / direct['envelope_s'] / 1e6:.1f} MB/s) | {proxied['envelope_s'] * 1000:.0f} ms "
          f"({proxied['envelope_bytes'] / proxied['envelope_s'] / 1e6:.1f} MB/s) | {env_ratio:.2f}× |")
    print(f"| UID FETCH 1:{args.bodies} BODY.PEEK[] | {direct['bodies_s'] * 1000:.0f} ms "
          f"({direct['bodies_bytes'] / direct['bodies_s'] / 1e6:.1f} MB/s) | {proxied['bodies_s'] * 1000:.0f} ms "
          f"({proxied['bodies_bytes'] / proxied['bodies_s'] / 1e6:.1f} MB/s) | {body_ratio:.2f}× |")
    print(f"| NOOP round trip (median of {args.pings}) | {direct['noop_ms']:.3f} ms | {proxied['noop_ms']:.3f} ms | "
          f"+{added:.3f} ms added |")
    print()
    print(f"{args.idle} idle connections through Madang (logged in, INBOX selected, IDLE): opened in {opened_s:.1f} s; "
          f"Madang RSS {rss_before:.0f} → {rss_idle:.0f} MiB "
          f"({(rss_idle - rss_before) * 1024 / max(args.idle, 1):.0f} KiB per connection)")
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    out = os.path.join(REPO, "bench", "results", f"mail_proxy-{time.strftime('%Y%m%dT%H%M%S')}.json")
    with open(out, "w") as f:
        json.dump({"direct": direct, "proxied": proxied, "idle": args.idle, "rss_before_mib": rss_before,
                   "rss_idle_mib": rss_idle, "idle_open_s": opened_s}, f, indent=1)
    print(f"\n(raw figures: {out})")


if __name__ == "__main__":
    sys.exit(main())
