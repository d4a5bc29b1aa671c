#!/usr/bin/env python3
"""Chat history and search on 100,000 messages (issue 13): median and p95 per query, on SQLite and PostgreSQL.

Loads realistic messages (mixed Korean and English, a few hundred users, 50 channels) straight
into a fresh Madang database with SQL — the search index is maintained by the database itself
(SQLite triggers, a PostgreSQL expression index), so loading through SQL indexes exactly as the
API's writes do — then starts `madang serve` and times, through HTTP on one keep-alive
connection, pages of 50 older messages (`GET /api/v1/chat/channels/{id}/messages?before=`) and
searches (`GET /api/v1/chat/search`). Targets: search <= 100 ms, history page <= 5 ms. Nothing is
asserted: the figures go into the notes.

    python3 bench/chat_search.py                       # both backends, target/release/madang
    python3 bench/chat_search.py --backends sqlite --messages 20000 --binary target/debug/madang

Needs only the Python standard library, plus `psql` and a PostgreSQL on 127.0.0.1:5432 that
lets user `postgres` in without a password for the PostgreSQL run (as bench/run.py).
"""

import argparse
import base64
import datetime
import http.client
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

USER, PASSWORD = "bench", "bench-password-123"
PG = "postgres://postgres@127.0.0.1:5432"

KO = ("회의 일정 공유 회의록 프로젝트 배포 서버 확인 내일 오늘 점심 리뷰 코드 문서 테스트 버그 수정 완료 진행 요청 검토 "
      "자료 발표 고객 계약 예산 보고서 디자인 개발 운영 장애 대응 정리 준비 결과 논의 의견 질문 답변 공지 휴가 출장 보안 "
      "데이터 분석 계획 목표 성과 팀장 담당 업무 시간 주간 월간 오후 오전 다음 지난").split()
PARTICLES = ["", "", "을", "를", "이", "가", "은", "는", "에서", "으로", "도", "만", "에", "의"]
EN = ("the meeting deploy review server please check tomorrow today lunch code docs test bug fix done progress "
      "request build release customer contract budget report design api database latency cache queue metrics "
      "dashboard alert incident postmortem sprint ticket branch merge pull ok thanks sure great sounds good let me "
      "know when can we").split()
ENDINGS = ["입니다.", "했어요.", "할게요.", "부탁드립니다.", "어떠세요?", "좋아요!", "됐습니다.", ""]


def message(rng):
    """One chat line: 60 % mostly Korean (nouns with particles), the rest mostly English."""
    korean = rng.random() < 0.6
    words = []
    for _ in range(rng.randint(3, 14)):
        if (korean and rng.random() < 0.8) or (not korean and rng.random() < 0.15):
            words.append(rng.choice(KO) + rng.choice(PARTICLES))
        else:
            words.append(rng.choice(EN))
    if korean:
        words.append(rng.choice(ENDINGS))
    text = " ".join(w for w in words if w)
    # Rare words: about 10, 10 and 20 in 100,000 messages.
    x = rng.random()
    if x < 0.0001:
        text += " zeppelin"
    elif x < 0.0002:
        text += " 해바라기가"
    elif x < 0.0004:
        text = "정산 " + text
    return text


def dataset(n_messages, n_users, n_channels, seed=13):
    """(users, channels, members, messages) rows; user 1 is the bench user, in every channel."""
    rng = random.Random(seed)
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    ts = lambda t: t.isoformat()
    users = [(i, USER if i == 1 else f"u{i}", f"User {i}" if i > 1 else "Bench") for i in range(1, n_users + 1)]
    channels = [(c, f"c{c}") for c in range(1, n_channels + 1)]
    members = {c: {1} | set(rng.sample(range(2, n_users + 1), min(n_users - 1, 60))) for c, _ in channels}
    seq = {c: 0 for c, _ in channels}
    messages = []
    step = 90 * 86400 / n_messages
    for i in range(1, n_messages + 1):
        c = rng.randint(1, n_channels)
        seq[c] += 1
        author = rng.choice(sorted(members[c]))
        messages.append((i, c, seq[c], author, message(rng), ts(start + datetime.timedelta(seconds=i * step))))
    return users, channels, members, messages, seq, ts(start)


def load_sqlite(path, data):
    users, channels, members, messages, seq, t0 = data
    db = sqlite3.connect(path)
    with db:
        db.executemany("INSERT INTO users (id, username, email, display_name, role, state, created_at, updated_at, subject) "
                       "VALUES (?, ?, ?, ?, 'member', 'active', ?, ?, ?) ON CONFLICT (username) DO NOTHING",
                       [(i, n, f"{n}@example.com", d, t0, t0, f"bench-{n}") for i, n, d in users if n != USER])
        bench_id = db.execute("SELECT id FROM users WHERE username = ?", (USER,)).fetchone()[0]
        remap = lambda u: bench_id if u == 1 else u
        db.executemany("INSERT INTO chat_channels (id, kind, name, created_at, last_seq) VALUES (?, 'public', ?, ?, ?)",
                       [(c, n, t0, seq[c]) for c, n in channels])
        db.executemany("INSERT INTO chat_members (channel_id, user_id, joined_at) VALUES (?, ?, ?)",
                       [(c, remap(u), t0) for c, us in members.items() for u in us])
        db.executemany("INSERT INTO chat_messages (id, channel_id, seq, author_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                       [(i, c, s, remap(a), b, t) for i, c, s, a, b, t in messages])
        db.execute("INSERT INTO instance_settings (name, value, updated_at) VALUES ('module.chat', 'on', ?) "
                   "ON CONFLICT (name) DO UPDATE SET value = 'on'", (t0,))
    db.execute("ANALYZE")
    db.close()


def psql(url, sql=None, file=None):
    cmd = ["psql", "-q", "-v", "ON_ERROR_STOP=1", url]
    cmd += ["-c", sql] if sql is not None else ["-f", file]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def load_postgres(url, data, tmp):
    users, channels, members, messages, seq, t0 = data
    esc = lambda s: s.replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")
    files = {}

    def tsv(name, rows):
        path = os.path.join(tmp, name + ".tsv")
        with open(path, "w") as f:
            for row in rows:
                f.write("\t".join(esc(str(v)) for v in row) + "\n")
        files[name] = path

    tsv("users", [(i + 1000, n, f"{n}@example.com", d, "member", "active", t0, t0, f"bench-{n}")
                  for i, n, d in users if n != USER])
    tsv("channels", [(c, "public", n, t0, seq[c]) for c, n in channels])
    # The bench user's id is looked up in SQL; others are offset past it.
    tsv("members", [(c, u + 1000 if u != 1 else -1, t0) for c, us in members.items() for u in us])
    tsv("messages", [(i, c, s, a + 1000 if a != 1 else -1, b, t) for i, c, s, a, b, t in messages])
    script = os.path.join(tmp, "load.sql")
    with open(script, "w") as f:
        f.write(f"""
\\copy users (id, username, email, display_name, role, state, created_at, updated_at, subject) from '{files['users']}'
\\copy chat_channels (id, kind, name, created_at, last_seq) from '{files['channels']}'
CREATE TEMP TABLE m (channel_id BIGINT, user_id BIGINT, joined_at TIMESTAMPTZ);
\\copy m from '{files['members']}'
INSERT INTO chat_members (channel_id, user_id, joined_at)
  SELECT channel_id, CASE WHEN user_id = -1 THEN (SELECT id FROM users WHERE username = '{USER}') ELSE user_id END, joined_at FROM m;
CREATE TEMP TABLE msg (id BIGINT, channel_id BIGINT, seq BIGINT, author_id BIGINT, body TEXT, created_at TIMESTAMPTZ);
\\copy msg from '{files['messages']}'
INSERT INTO chat_messages (id, channel_id, seq, author_id, body, created_at)
  SELECT id, channel_id, seq, CASE WHEN author_id = -1 THEN (SELECT id FROM users WHERE username = '{USER}') ELSE author_id END, body, created_at FROM msg;
SELECT setval(pg_get_serial_sequence('chat_messages', 'id'), (SELECT max(id) FROM chat_messages));
SELECT setval(pg_get_serial_sequence('chat_channels', 'id'), (SELECT max(id) FROM chat_channels));
SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users));
INSERT INTO instance_settings (name, value, updated_at) VALUES ('module.chat', 'on', now())
  ON CONFLICT (name) DO UPDATE SET value = 'on';
VACUUM ANALYZE;
""")
    psql(url, file=script)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}

    def get(self, path):
        t = time.perf_counter()
        self.conn.request("GET", path, headers=self.headers)
        r = self.conn.getresponse()
        body = r.read()
        return r.status, body, time.perf_counter() - t


def time_it(client, path, reps):
    status, body, _ = client.get(path)  # warm-up, also the answer shown
    times = []
    for _ in range(reps):
        s, _, dt = client.get(path)
        times.append(dt * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return status, body, statistics.median(times), p95


def run_backend(backend, args, data):
    tmp = tempfile.mkdtemp(prefix="madang-chatbench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADANG_")}
    env.update({"NO_COLOR": "1", "MADANG_LOG_LEVEL": "warn"})
    db_name = None
    if backend == "postgres":
        db_name = f"madang_chatbench_{os.getpid()}_{random.randrange(1 << 30)}"
        psql(f"{PG}/postgres", f'CREATE DATABASE "{db_name}"')
        storage = ["--database-url", f"{PG}/{db_name}"]
    else:
        storage = ["--data-dir", os.path.join(tmp, "data")]
    server = None
    try:
        exe = os.path.abspath(args.binary)
        subprocess.run([exe, *storage, "migrate"], env=env, cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([exe, *storage, "user", "add", USER, "--email", f"{USER}@example.com"], env=env, cwd=tmp,
                       input=f"{PASSWORD}\n".encode(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t = time.time()
        if backend == "postgres":
            load_postgres(f"{PG}/{db_name}", data, tmp)
        else:
            load_sqlite(os.path.join(tmp, "data", "madang.db"), data)
        load_secs = time.time() - t
        port = free_port()
        server = subprocess.Popen([exe, *storage, "serve", "--listen", f"127.0.0.1:{port}"], env=env, cwd=tmp)
        for _ in range(200):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.05)
        client = Client(port)
        seq = data[4]
        busiest = max(seq, key=seq.get)
        rows = []
        for label, path in [
            ("history: 50 before the newest", f"/api/v1/chat/channels/{busiest}/messages?before={seq[busiest]}&limit=50"),
            ("history: 50 before the middle", f"/api/v1/chat/channels/{busiest}/messages?before={seq[busiest] // 2}&limit=50"),
        ]:
            rows.append(("history", label, *time_it(client, path, args.reps)))
        for label, q in [
            ("common English word", "deploy"),
            ("common Korean 2 syllables", "회의"),
            ("Korean 3 syllables", "회의록"),
            ("rare English word", "zeppelin"),
            ("rare Korean 4 syllables", "해바라기"),
            ("rare Korean 2 syllables", "정산"),
            ("absent Korean 2 syllables", "없음"),
            ("two words", "배포 review"),
            ("phrase", '"let me know"'),
            ("word in:#c7", "회의 in:#c7"),
            ("word from:@u12", "deploy from:@u12"),
            ("word during:2026-02", "일정 during:2026-02"),
            ("filters only (from + in)", "from:@u12 in:#c3"),
        ]:
            path = "/api/v1/chat/search?" + urllib.parse.urlencode({"q": q, "limit": 20})
            rows.append(("search", f"{label}: {q}", *time_it(client, path, args.reps)))
        print(f"\n## {backend}: {len(data[3]):,} messages, {len(data[0])} users, {len(data[1])} channels "
              f"(loaded in {load_secs:.0f} s); {args.reps} timed requests each, one keep-alive connection\n")
        print("| kind | query | status | results | median ms | p95 ms | target |")
        print("|---|---|---|---|---|---|---|")
        for kind, label, status, body, med, p95 in rows:
            try:
                answer = json.loads(body)
                n = len(answer.get("results", answer.get("messages", [])))
            except ValueError:
                n = "-"
            target = 100 if kind == "search" else 5
            ok = "ok" if status == 200 and p95 <= target else ("MISSED" if status == 200 else "n/a")
            print(f"| {kind} | {label} | {status} | {n} | {med:.2f} | {p95:.2f} | ≤ {target} ms {ok} |")
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)
        if db_name:
            psql(f"{PG}/postgres", f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "madang"))
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--users", type=int, default=300)
    p.add_argument("--channels", type=int, default=50)
    p.add_argument("--reps", type=int, default=30)
    args = p.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found: cargo build --release -p madang (or pass --binary)")
    data = dataset(args.messages, args.users, args.channels)
    for backend in args.backends.split(","):
        run_backend(backend.strip(), args, data)


if __name__ == "__main__":
    main()
