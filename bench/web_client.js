#!/usr/bin/env node
// The web client's figures (issue 12), in Debian's headless Chromium driven by playwright-core:
//   (a) first load of the client: every asset, compressed bytes and time on loopback, cold and warm
//       cache (warm: the immutable assets must not be fetched again);
//   (b) the month view with 1,000 events: render time measured in the browser;
//   (c) push latency from a CalDAV PUT to the browser's EventSource, p50/p99 over 200 changes, on
//       SQLite (one process), PostgreSQL (one process) and PostgreSQL with two processes on one
//       database (PUT to one, browser on the other).
//
//   node bench/web_client.js                      # builds the release binary, both backends
//   node bench/web_client.js --no-build --backends sqlite --changes 50
//
// Nothing is asserted; the tables go into the notes (bench/README.md explains them). Every server is
// started here on a free 127.0.0.1 port with a fresh store and stopped by PID.
'use strict';

const { execFileSync, spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const BENCH = __dirname;
const REPO = path.dirname(BENCH);
const WC = path.join(REPO, 'conformance-tests', 'web_client');
const USER = 'bench';
const PASSWORD = 'bench-secret-pw';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-domain-reliability',
  '--metrics-recording-only', '--no-pings'];
// Marks the client emits around the calendar grid's render (client/views/calendar.js); when absent,
// the bench falls back to timing the DOM from the navigation to the last mutation (fetch included).
const MARK_START = 'madang:calendar-render-start';
const MARK_END = 'madang:calendar-render-end';
const MARK_READY = 'madang:ready';

function log(msg) {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function parseArgs(argv) {
  const a = { build: true, backends: ['sqlite', 'postgres'], events: 1000, changes: 200, reps: 3, binary: null, chromium: '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; i += 1) {
    const k = argv[i];
    const v = () => { i += 1; if (i >= argv.length) throw new Error(`${k} needs a value`); return argv[i]; };
    if (k === '--no-build') a.build = false;
    else if (k === '--backends') a.backends = v().split(',');
    else if (k === '--events') a.events = Number(v());
    else if (k === '--changes') a.changes = Number(v());
    else if (k === '--reps') a.reps = Number(v());
    else if (k === '--binary') a.binary = v();
    else if (k === '--chromium') a.chromium = v();
    else if (k === '-h' || k === '--help') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('\n').filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n') +
        '\n\noptions: --no-build --backends sqlite,postgres --events 1000 --changes 200 --reps 3 --binary PATH --chromium PATH\n');
      process.exit(0);
    } else throw new Error(`unknown option ${k}`);
  }
  return a;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();
const basic = (u, p) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

function quantile(xs, q) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i];
}
const median = (xs) => quantile(xs, 0.5);

// --- servers ---------------------------------------------------------------------------------------

class Storage {
  constructor(backend, tmp) {
    this.backend = backend;
    this.dataDir = path.join(tmp, `data-${backend}`);
    fs.mkdirSync(this.dataDir, { recursive: true });
    this.db = null;
    if (backend === 'postgres') {
      this.db = `madang_wc_bench_${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
      execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-qc', `CREATE DATABASE "${this.db}"`]);
    }
  }

  env(extra = {}) {
    const e = { PATH: process.env.PATH, HOME: process.env.HOME || os.tmpdir(), NO_COLOR: '1', MADANG_CONFIG: '', MADANG_DATA_DIR: this.dataDir, MADANG_LOG_LEVEL: 'warn', ...extra };
    if (this.db) e.MADANG_DATABASE_URL = `postgres://postgres@127.0.0.1:5432/${this.db}`;
    return e;
  }

  drop() {
    if (this.db) spawnSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-qc', `DROP DATABASE IF EXISTS "${this.db}" WITH (FORCE)`]);
  }
}

const RUNNING = new Set();

class Server {
  static async start(binary, storage, tmp, name) {
    const s = new Server();
    s.port = await freePort();
    s.url = `http://127.0.0.1:${s.port}/`;
    s.logFile = path.join(tmp, `${name}.log`);
    const out = fs.openSync(s.logFile, 'a');
    s.proc = spawn(binary, ['serve'], {
      env: storage.env({ MADANG_LISTEN: `127.0.0.1:${s.port}`, MADANG_SERVER_PUBLIC_URL: s.url }),
      stdio: ['ignore', out, out],
    });
    RUNNING.add(s);
    s.exited = new Promise((r) => s.proc.on('exit', (code, signal) => { RUNNING.delete(s); r({ code, signal }); }));
    const deadline = Date.now() + 60_000;
    for (;;) {
      try { if ((await fetch(`${s.url}readyz`)).status === 200) break; } catch { /* not yet */ }
      if (s.proc.exitCode !== null || Date.now() > deadline) {
        s.stop();
        throw new Error(`${name}: server did not become ready (see ${s.logFile})`);
      }
      await sleep(100);
    }
    return s;
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
      await this.exited;
      clearTimeout(t);
    }
  }
}

function cli(binary, storage, args, input = '') {
  const r = spawnSync(binary, args, { env: storage.env(), input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`madang ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

// --- data ------------------------------------------------------------------------------------------

function eventIcs(uid, summary, start, end) {
  return ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Madang bench//EN', 'BEGIN:VEVENT', `UID:${uid}`,
    'DTSTAMP:20260101T000000Z', `DTSTART:${start}`, `DTEND:${end}`, `SUMMARY:${summary}`, 'END:VEVENT',
    'END:VCALENDAR', ''].join('\r\n');
}

const ical = (d) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

async function put(baseUrl, appPassword, name, body) {
  const r = await fetch(new URL(`/dav/calendars/${USER}/default/${name}`, baseUrl), {
    method: 'PUT', headers: { Authorization: basic(USER, appPassword), 'Content-Type': 'text/calendar; charset=utf-8' }, body,
  });
  await r.arrayBuffer();
  if (r.status < 200 || r.status > 299) throw new Error(`PUT ${name}: ${r.status}`);
}

/** `n` one-hour events spread over the current month (UTC), 8 PUTs in flight. */
async function seedMonth(baseUrl, appPassword, n) {
  const t = new Date();
  const first = Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1);
  const days = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + 1, 0)).getUTCDate();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next;
      next += 1;
      const start = new Date(first + (i % days) * 86_400_000 + (7 + (i % 12)) * 3_600_000 + (i % 4) * 900_000);
      const end = new Date(start.getTime() + 3_600_000);
      await put(baseUrl, appPassword, `month-${i}.ics`, eventIcs(`month-${i}@bench`, `Event ${i}`, ical(start), ical(end)));
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

// --- browser ---------------------------------------------------------------------------------------

async function signIn(page, baseUrl, next = '/') {
  await page.goto(new URL(`/signin?next=${encodeURIComponent(next)}`, baseUrl).toString());
  await page.locator('form[action="/signin"] input[name="username"]').fill(USER);
  await page.locator('form[action="/signin"] input[name="password"]').fill(PASSWORD);
  await Promise.all([
    page.waitForURL((u) => !u.pathname.startsWith('/signin'), { timeout: 15_000 }),
    page.locator('form[action="/signin"] [type="submit"]').click(),
  ]);
}

/** Waits until no new resource entry appeared for `quietMs` (the push stream never ends, so no networkidle). */
async function settle(page, quietMs = 700, maxMs = 15_000) {
  const t0 = Date.now();
  let last = -1;
  let since = Date.now();
  while (Date.now() - t0 < maxMs) {
    const n = await page.evaluate(() => performance.getEntriesByType('resource').length);
    if (n !== last) { last = n; since = Date.now(); }
    if (Date.now() - since >= quietMs) return;
    await sleep(100);
  }
}

/** One load of `/` in `page`: every same-origin resource with its sizes, and the times. */
async function measureLoad(page, baseUrl) {
  const responses = new Map();
  const onResponse = async (resp) => {
    const u = resp.url();
    if (!u.startsWith(baseUrl)) return;
    responses.set(u, { status: resp.status(), encoding: resp.headers()['content-encoding'] || '', cacheControl: resp.headers()['cache-control'] || '' });
  };
  page.on('response', onResponse);
  await page.goto(new URL('/', baseUrl).toString(), { waitUntil: 'load' });
  await settle(page);
  page.off('response', onResponse);
  const timing = await page.evaluate((markReady) => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource')
      .filter((r) => !r.name.includes('/api/v1/push'))
      .map((r) => ({ name: r.name, type: r.initiatorType, transfer: r.transferSize, encoded: r.encodedBodySize, decoded: r.decodedBodySize, end: r.responseEnd, delivery: r.deliveryType || '' }));
    const ready = performance.getEntriesByName(markReady)[0];
    return {
      nav: { transfer: nav.transferSize, encoded: nav.encodedBodySize, decoded: nav.decodedBodySize, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, end: nav.responseEnd },
      res,
      ready: ready ? ready.startTime : null,
    };
  }, MARK_READY);
  const all = [{ name: new URL('/', baseUrl).toString(), type: 'document', transfer: timing.nav.transfer, encoded: timing.nav.encoded, decoded: timing.nav.decoded, end: timing.nav.end, delivery: '' }, ...timing.res];
  for (const r of all) Object.assign(r, responses.get(r.name) || {});
  const assets = all.filter((r) => new URL(r.name).pathname.startsWith('/assets/'));
  return {
    requests: all.length,
    fromNetwork: all.filter((r) => r.transfer > 0).length,
    assetsFromNetwork: assets.filter((r) => r.transfer > 0).length,
    assets: assets.length,
    transfer: all.reduce((s, r) => s + r.transfer, 0),
    encoded: all.reduce((s, r) => s + r.encoded, 0),
    decoded: all.reduce((s, r) => s + r.decoded, 0),
    compressed: assets.filter((r) => r.encoding).length,
    immutable: assets.filter((r) => /immutable/.test(r.cacheControl || '')).length,
    dcl: timing.nav.dcl,
    load: timing.nav.load,
    lastByte: Math.max(timing.nav.end, ...timing.res.map((r) => r.end)),
    ready: timing.ready,
    list: all,
  };
}

async function firstLoad(browser, server, reps) {
  const cold = [];
  const warm = [];
  for (let i = 0; i < reps; i += 1) {
    const ctx = await browser.newContext({ locale: 'en-US' });
    const page = await ctx.newPage();
    await signIn(page, server.url, '/account');
    cold.push(await measureLoad(page, server.url));
    await page.goto('about:blank');
    warm.push(await measureLoad(page, server.url));
    await ctx.close();
  }
  return { cold, warm };
}

/** Month view render: the client's marks when it emits them, else navigation-to-last-DOM-mutation. */
async function monthRender(browser, server, reps) {
  const out = [];
  for (let i = 0; i < reps; i += 1) {
    const ctx = await browser.newContext({ locale: 'en-US' });
    const page = await ctx.newPage();
    await signIn(page, server.url, '/account');
    await page.addInitScript(() => {
      window.__lastMutation = 0;
      new MutationObserver(() => { window.__lastMutation = performance.now(); })
        .observe(document, { subtree: true, childList: true, attributes: true });
    });
    await page.goto(new URL('/#/calendar', server.url).toString(), { waitUntil: 'load' });
    await settle(page, 1000);
    const r = await page.evaluate(([s, e]) => {
      const measures = performance.getEntriesByType('measure').filter((m) => m.name === 'madang:calendar-render');
      const starts = performance.getEntriesByName(s);
      const ends = performance.getEntriesByName(e);
      const marked = measures.length ? measures.map((m) => m.duration)
        : ends.length && starts.length ? ends.map((end, k) => end.startTime - (starts[k] || starts[starts.length - 1]).startTime) : [];
      return {
        marked,
        // When the last render ended, to compare with the last DOM change: a grid that kept
        // changing long after the end mark would mean the marks miss part of the render.
        endAt: ends.length ? ends[ends.length - 1].startTime : null,
        domDone: window.__lastMutation,
        events: document.querySelectorAll('.fc-event, [data-event-id]').length,
      };
    }, [MARK_START, MARK_END]);
    out.push(r);
    await ctx.close();
  }
  return out;
}

/** Push latency: a browser page on `listen` keeps an EventSource; PUTs go to `write`, one at a time. */
async function pushLatency(browser, listen, write, appPassword, changes, tag) {
  const ctx = await browser.newContext({ locale: 'en-US' });
  const page = await ctx.newPage();
  await signIn(page, listen.url, '/account');
  await page.goto(new URL('/', listen.url).toString());
  await page.evaluate(() => {
    window.__arrived = {};
    window.__open = false;
    const es = new EventSource('/api/v1/push');
    es.onopen = () => { window.__open = true; };
    es.addEventListener('calendar.object', (e) => {
      const t = performance.timeOrigin + performance.now();
      try { window.__arrived[JSON.parse(e.data).name] = t; } catch { /* not ours */ }
    });
  });
  await page.waitForFunction(() => window.__open === true, null, { timeout: 10_000 });
  const lat = [];
  let missed = 0;
  for (let i = 0; i < changes; i += 1) {
    const name = `${tag}-${i}.ics`;
    const body = eventIcs(`${tag}-${i}@bench`, `push ${i}`, '20260302T090000Z', '20260302T100000Z');
    const sent = now();
    await put(write.url, appPassword, name, body);
    try {
      const h = await page.waitForFunction((n) => window.__arrived[n], name, { timeout: 5000, polling: 5 });
      lat.push((await h.jsonValue()) - sent);
    } catch {
      missed += 1;
    }
  }
  await ctx.close();
  return { p50: median(lat), p99: quantile(lat, 0.99), max: Math.max(...lat), n: lat.length, missed };
}

/** A phase that could not run is reported as such, and the other phases go on. */
function failed(e) {
  log(`  failed: ${e.message.split('\n')[0]}`);
  return { error: e.message.split('\n')[0], p50: NaN, p99: NaN, max: NaN, n: 0, missed: NaN };
}

// --- report ----------------------------------------------------------------------------------------

const kb = (b) => `${(b / 1024).toFixed(1)} KiB`;
const ms = (x) => (x === null || x === undefined || Number.isNaN(x) ? '-' : `${x.toFixed(1)} ms`);

function table(title, header, rows) {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => `  ${r.map((c, i) => String(c).padEnd(w[i])).join('  ')}`;
  process.stdout.write(`\n${title}\n${line(header)}\n${line(w.map((n) => '-'.repeat(n)))}\n${rows.map(line).join('\n')}\n`);
}

function report(results, args) {
  const backends = Object.keys(results);
  const loadRows = [];
  for (const b of backends) {
    const { cold, warm } = results[b].load;
    const m = (xs, f) => median(xs.map(f));
    loadRows.push([b, 'cold', m(cold, (x) => x.requests), m(cold, (x) => x.fromNetwork), `${m(cold, (x) => x.assets)} (${m(cold, (x) => x.compressed)} br/gzip, ${m(cold, (x) => x.immutable)} immutable)`,
      kb(m(cold, (x) => x.transfer)), kb(m(cold, (x) => x.decoded)), ms(m(cold, (x) => x.dcl)), ms(m(cold, (x) => x.lastByte)), ms(m(cold, (x) => x.ready ?? NaN))]);
    loadRows.push([b, 'warm', m(warm, (x) => x.requests), m(warm, (x) => x.fromNetwork), `${m(warm, (x) => x.assetsFromNetwork)} of ${m(warm, (x) => x.assets)} refetched`,
      kb(m(warm, (x) => x.transfer)), kb(m(warm, (x) => x.decoded)), ms(m(warm, (x) => x.dcl)), ms(m(warm, (x) => x.lastByte)), ms(m(warm, (x) => x.ready ?? NaN))]);
  }
  table(`(a) first load of / (median of ${args.reps}; times from navigation start, loopback)`,
    ['backend', 'cache', 'requests', 'from network', 'assets', 'transferred', 'decoded', 'DOMContentLoaded', 'last byte', MARK_READY], loadRows);
  const coldWarm = backends.map((b) => {
    const c = median(results[b].load.cold.map((x) => x.lastByte));
    const w = median(results[b].load.warm.map((x) => x.lastByte));
    const ct = median(results[b].load.cold.map((x) => x.transfer));
    const wt = median(results[b].load.warm.map((x) => x.transfer));
    return [b, `${(c / w).toFixed(1)}×`, `${(ct / Math.max(1, wt)).toFixed(1)}×`];
  });
  table('    cold ÷ warm', ['backend', 'time to last byte', 'bytes transferred'], coldWarm);

  const renderRows = backends.map((b) => {
    const r = results[b].render;
    const marked = r.flatMap((x) => x.marked);
    const gaps = r.filter((x) => x.endAt !== null).map((x) => x.domDone - x.endAt);
    return [b, args.events, median(r.map((x) => x.events)), marked.length ? ms(median(marked)) : '- (no marks)', marked.length ? ms(Math.max(...marked)) : '-',
      ms(median(r.map((x) => x.domDone))), gaps.length ? ms(median(gaps)) : '-', marked.length ? (median(marked) <= 100 ? '✓ ≤ 100 ms' : '✗ > 100 ms') : '?'];
  });
  table(`(b) month view with ${args.events} events (median of ${args.reps} page loads; render = every render of the page, so also re-renders)`,
    ['backend', 'events', 'event elements', `render (${MARK_START}→end)`, 'worst', 'navigation → last DOM change', 'last DOM change − end mark', 'target'], renderRows);

  const pushRows = [];
  const base = results.sqlite && results.sqlite.push.single;
  for (const b of backends) {
    for (const [k, label] of [['single', 'one process'], ['two', 'two processes (PUT on A, browser on B)']]) {
      const p = results[b].push[k];
      if (!p) continue;
      pushRows.push([b, label, p.n, p.error ? `(failed: ${p.error.slice(0, 60)})` : p.missed, ms(p.p50), ms(p.p99), ms(p.max),
        base && !base.error && !p.error ? `${(p.p50 / base.p50).toFixed(2)}×` : '-']);
    }
  }
  table(`(c) push latency, CalDAV PUT → browser EventSource (${args.changes} sequential changes)`,
    ['backend', 'processes', 'received', 'missed', 'p50', 'p99', 'max', 'p50 ÷ sqlite'], pushRows);
}

// --- main ------------------------------------------------------------------------------------------

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.build) {
    log('cargo build --release --bin madang');
    execFileSync('cargo', ['build', '--release', '--bin', 'madang'], { cwd: REPO, stdio: 'inherit' });
  }
  const binary = args.binary || path.join(process.env.CARGO_TARGET_DIR || path.join(REPO, 'target'), 'release', 'madang');
  if (!fs.existsSync(binary)) throw new Error(`${binary} not found: run without --no-build`);
  execFileSync('bash', [path.join(WC, 'setup.sh')], { stdio: 'inherit' });
  const { chromium } = require(path.join(WC, 'node_modules', 'playwright-core'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'madang-wc-bench-'));
  const storages = [];
  const results = {};
  const browser = await chromium.launch({ executablePath: args.chromium, headless: true, args: CHROMIUM_ARGS });
  const cleanup = async () => {
    await Promise.all([...RUNNING].map((s) => s.stop()));
    storages.forEach((s) => s.drop());
    fs.rmSync(tmp, { recursive: true, force: true });
  };
  process.on('SIGINT', () => { cleanup().finally(() => process.exit(130)); });
  try {
    for (const backend of args.backends) {
      log(`${backend}: fresh server`);
      const storage = new Storage(backend, tmp);
      storages.push(storage);
      cli(binary, storage, ['migrate']);
      cli(binary, storage, ['user', 'add', USER, '--email', 'bench@example.com'], `${PASSWORD}\n`);
      const appPassword = cli(binary, storage, ['app-password', 'add', USER, 'bench']).trim();
      const a = await Server.start(binary, storage, tmp, `${backend}-a`);
      const r = { push: {} };
      log(`${backend}: (a) first load`);
      r.load = await firstLoad(browser, a, args.reps);
      log(`${backend}: (c) push latency, one process`);
      r.push.single = await pushLatency(browser, a, a, appPassword, args.changes, `single-${backend}`).catch(failed);
      if (backend === 'postgres') {
        const b = await Server.start(binary, storage, tmp, `${backend}-b`);
        log(`${backend}: (c) push latency, two processes`);
        r.push.two = await pushLatency(browser, b, a, appPassword, args.changes, `two-${backend}`).catch(failed);
        await b.stop();
      }
      log(`${backend}: (b) seeding ${args.events} events, month view`);
      await seedMonth(a.url, appPassword, args.events);
      r.render = await monthRender(browser, a, args.reps);
      await a.stop();
      results[backend] = r;
    }
  } finally {
    await browser.close();
    await cleanup();
  }
  report(results, args);
  const dir = path.join(BENCH, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `web_client-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  let commit = '';
  try { commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim(); } catch { /* not a checkout */ }
  fs.writeFileSync(file, JSON.stringify({ args, commit, results }, null, 1));
  process.stdout.write(`\nall figures: ${path.relative(REPO, file)}\n`);
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
