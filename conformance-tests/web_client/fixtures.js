// Fixtures and helpers shared by every web client spec: a fresh user per test, sign-in through the
// real /signin page, Basic-auth API and DAV calls, CSP/console guard, axe-core, screenshots, and the
// python `caldav` cross-check. README.md documents each; keep their signatures stable.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { execFile, spawn } = require('node:child_process');
const base = require('@playwright/test');

const { expect } = base;

// --- configuration (environment) -------------------------------------------------------------------

/** The server under test, always ending with `/`. */
const MADANG_URL = (() => {
  const u = process.env.MADANG_URL || process.env.CT_URL;
  if (!u) return '';
  return u.endsWith('/') ? u : `${u}/`;
})();
/** A command running `madang` on the server's storage (lib.sh writes one per server: CT_MADANG_CLI). */
const MADANG_CLI = process.env.MADANG_CLI || process.env.CT_MADANG_CLI || '';
const BACKEND = process.env.MADANG_BACKEND || process.env.CT_BACKEND || 'server';
const SCREENSHOTS = process.env.MADANG_WC_SCREENSHOTS || path.join(__dirname, 'screenshots');
const PYTHON = process.env.MADANG_PYTHON || path.join(__dirname, '..', '.venv', 'bin', 'python');

function requireServer() {
  if (!MADANG_URL) throw new Error('MADANG_URL is not set (the base URL of a running `madang serve`)');
}

/** Absolute URL on the server under test for a path like `/api/v1/me` (absolute URLs pass through). */
function urlOf(p) {
  requireServer();
  return new URL(p, MADANG_URL).toString();
}

// --- processes ------------------------------------------------------------------------------------

/** Runs the madang CLI on the server's storage; resolves to stdout. `input` goes to stdin. */
function madangCli(args, { input, timeoutMs = 60_000 } = {}) {
  if (!MADANG_CLI) {
    return Promise.reject(new Error('MADANG_CLI (or CT_MADANG_CLI) is not set: a command running `madang` on the server\'s storage'));
  }
  return new Promise((resolve, reject) => {
    const child = execFile(MADANG_CLI, args, { timeout: timeoutMs, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`madang ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
    child.stdin.end(input ?? '');
  });
}

/** A free TCP port on 127.0.0.1 (the kernel's choice, as lib.sh does). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts another `madang serve` on the same storage as the server under test (through MADANG_CLI),
 * e.g. a second process on one PostgreSQL database, or a restart. Resolves to
 * `{ url, pid, log, stop() }` once /healthz answers; `stop()` sends SIGTERM to that PID and waits.
 */
async function startServer({ port, extraArgs = [], env = {} } = {}) {
  if (!MADANG_CLI) throw new Error('startServer needs MADANG_CLI (or CT_MADANG_CLI)');
  const p = port || (await freePort());
  const logLines = [];
  const child = spawn(MADANG_CLI, ['serve', '--listen', `127.0.0.1:${p}`, ...extraArgs], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk) => {
    logLines.push(chunk.toString());
    if (logLines.length > 2000) logLines.splice(0, logLines.length - 2000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exitedP = new Promise((resolve) => child.on('exit', (code, signal) => { exited = { code, signal }; resolve(exited); }));
  const url = `http://127.0.0.1:${p}/`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`madang serve exited early (${JSON.stringify(exited)}):\n${logLines.join('')}`);
    try {
      const r = await fetch(`${url}healthz`);
      if (r.status === 200) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`madang serve on ${url} did not become healthy:\n${logLines.join('')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pid: child.pid,
    log: () => logLines.join(''),
    async stop() {
      if (exited) return exited;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const r = await exitedP;
      clearTimeout(t);
      return r;
    },
  };
}

// --- users ------------------------------------------------------------------------------------------

let userCounter = 0;

/**
 * Creates a fresh active user through the CLI (`madang user add`, as the other suites do) and an app
 * password for DAV through the API. Resolves to:
 *   { name, password, email, appPassword,
 *     calendarHome, calendarUrl (default), tasksUrl, addressbookHome, addressbookUrl (default) }
 * Options: `prefix` (default "wc"), `admin` (an administrator).
 */
async function createUser({ prefix = 'wc', admin = false } = {}) {
  requireServer();
  userCounter += 1;
  const name = `${prefix}-${process.pid.toString(36)}-${userCounter}-${crypto.randomBytes(3).toString('hex')}`;
  const password = `pw-${crypto.randomBytes(12).toString('base64url')}`;
  const email = `${name}@example.com`;
  await madangCli(['user', 'add', name, '--email', email, ...(admin ? ['--admin'] : [])], { input: `${password}\n` });
  const user = {
    name,
    password,
    email,
    appPassword: null,
    calendarHome: urlOf(`/dav/calendars/${name}/`),
    calendarUrl: urlOf(`/dav/calendars/${name}/default/`),
    tasksUrl: urlOf(`/dav/calendars/${name}/tasks/`),
    addressbookHome: urlOf(`/dav/addressbooks/${name}/`),
    addressbookUrl: urlOf(`/dav/addressbooks/${name}/default/`),
  };
  const r = await apiAs(user)('POST', '/api/v1/me/app-passwords', { label: 'web client tests' });
  if (r.status !== 201 || !r.body || !r.body.password) {
    throw new Error(`creating an app password for ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  user.appPassword = r.body.password;
  return user;
}

function basic(name, secret) {
  return `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}`;
}

/**
 * A Basic-auth JSON client for `user` (account password; `{ appPassword: true }` for the app password):
 *   const api = apiAs(user);
 *   const { status, etag, headers, body, text } = await api('POST', '/api/v1/calendars', {...}, { ifMatch, headers });
 * `body` is parsed JSON when the answer is JSON, else null (`text` always has the raw answer).
 * Never throws for an HTTP status; the caller asserts.
 */
function apiAs(user, { appPassword = false, baseUrl } = {}) {
  const auth = basic(user.name, appPassword ? user.appPassword : user.password);
  return async function api(method, p, body, { ifMatch, ifNoneMatch, headers = {} } = {}) {
    const h = { Authorization: auth, Accept: 'application/json', ...headers };
    if (ifMatch) h['If-Match'] = ifMatch;
    if (ifNoneMatch) h['If-None-Match'] = ifNoneMatch;
    let payload;
    if (body !== undefined && body !== null) {
      if (typeof body === 'string' || body instanceof Uint8Array) payload = body;
      else {
        payload = JSON.stringify(body);
        if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
      }
    }
    const r = await fetch(baseUrl ? new URL(p, baseUrl).toString() : urlOf(p), { method, headers: h, body: payload });
    const text = await r.text();
    let parsed = null;
    if ((r.headers.get('content-type') || '').includes('json') && text) {
      try { parsed = JSON.parse(text); } catch { parsed = null; }
    }
    return { status: r.status, etag: r.headers.get('etag'), headers: r.headers, body: parsed, text };
  };
}

/**
 * A DAV request as `user` with the app password (as a phone or Thunderbird would):
 *   await davRequest(user, 'PROPFIND', url, { body, contentType, headers: { Depth: '1' } })
 * Resolves to { status, etag, headers, text }.
 */
async function davRequest(user, method, url, { body, contentType, headers = {}, ifMatch, ifNoneMatch } = {}) {
  const h = { Authorization: basic(user.name, user.appPassword || user.password), ...headers };
  if (contentType) h['Content-Type'] = contentType;
  if (ifMatch) h['If-Match'] = ifMatch;
  if (ifNoneMatch) h['If-None-Match'] = ifNoneMatch;
  const r = await fetch(urlOf(url), { method, headers: h, body });
  return { status: r.status, etag: r.headers.get('etag'), headers: r.headers, text: await r.text() };
}

/**
 * PUT a calendar object or vCard over DAV (app password). `url` is the resource's URL (absolute or a
 * path); `contentType` e.g. 'text/calendar; charset=utf-8' or 'text/vcard; charset=utf-8'.
 * Throws unless the answer is 2xx; resolves to { status, etag, headers, text }.
 */
async function davPut(user, url, body, contentType, opts = {}) {
  const r = await davRequest(user, 'PUT', url, { ...opts, body, contentType });
  if (r.status < 200 || r.status > 299) throw new Error(`PUT ${url}: ${r.status} ${r.text.slice(0, 500)}`);
  return r;
}

/** GET a DAV resource (app password); resolves to { status, etag, headers, text }. */
function davGet(user, url, { headers } = {}) {
  return davRequest(user, 'GET', url, { headers });
}

const BERLIN_VTIMEZONE = [
  'BEGIN:VTIMEZONE', 'TZID:Europe/Berlin',
  'BEGIN:DAYLIGHT', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0200', 'TZNAME:CEST', 'DTSTART:19700329T020000',
  'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU', 'END:DAYLIGHT',
  'BEGIN:STANDARD', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100', 'TZNAME:CET', 'DTSTART:19701025T030000',
  'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU', 'END:STANDARD',
  'END:VTIMEZONE',
];

/**
 * A one-event iCalendar object (CRLF lines), as a CalDAV client would PUT it.
 * `start`/`end`: 'YYYYMMDDTHHMMSS' (local to `tzid`), 'YYYYMMDDTHHMMSSZ' (UTC) or 'YYYYMMDD' (all-day).
 * `tzid` 'Europe/Berlin' adds its VTIMEZONE. `extra`: more property lines for the VEVENT.
 */
function icsEvent({ uid, summary = 'Event', start = '20260302T090000Z', end, tzid, rrule, extra = [] }) {
  const allDay = /^\d{8}$/.test(start);
  const when = (name, v) => (allDay ? `${name};VALUE=DATE:${v}` : tzid ? `${name};TZID=${tzid}:${v}` : `${name}:${v}`);
  if (tzid && tzid !== 'Europe/Berlin') throw new Error('icsEvent knows the VTIMEZONE of Europe/Berlin only');
  return [
    'BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Madang web client tests//EN',
    ...(tzid ? BERLIN_VTIMEZONE : []),
    'BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20260101T000000Z', when('DTSTART', start),
    ...(end ? [when('DTEND', end)] : []),
    ...(rrule ? [`RRULE:${rrule}`] : []),
    `SUMMARY:${summary}`, ...extra,
    'END:VEVENT', 'END:VCALENDAR', '',
  ].join('\r\n');
}

// --- browser --------------------------------------------------------------------------------------

/**
 * Signs `user` in through the real /signin form (user name and password typed, the form submitted)
 * and waits until the browser has left /signin. `next` is where to land (default `/`).
 */
async function signIn(page, user, { next = '/' } = {}) {
  requireServer();
  await page.goto(urlOf(`/signin?next=${encodeURIComponent(next)}`));
  // By name, not label: the page may be in Korean.
  await page.locator('form[action="/signin"] input[name="username"]').fill(user.name);
  await page.locator('form[action="/signin"] input[name="password"]').fill(user.password);
  await Promise.all([
    page.waitForURL((u) => !u.pathname.startsWith('/signin'), { timeout: 15_000 }),
    page.locator('form[action="/signin"] [type="submit"]').click(),
  ]);
}

// Guards of the running test: every page handed to collectCspViolations is checked when it ends.
let activeGuards = [];

/**
 * Watches `page` for CSP violations (`securitypolicyviolation` events, in every document it loads),
 * console errors and uncaught exceptions; the test fails at its end if any was seen.
 * Returns `{ list, allow(regex) }`: `list` is what was seen so far; `allow` ignores matching
 * console messages (for a test that provokes an error on purpose). Idempotent per page.
 */
async function collectCspViolations(page) {
  const existing = activeGuards.find((g) => g.page === page);
  if (existing) return existing;
  const guard = { page, list: [], allowed: [], allow(re) { this.allowed.push(re); return this; } };
  const add = (msg) => {
    if (!guard.allowed.some((re) => re.test(msg))) guard.list.push(msg);
  };
  activeGuards.push(guard);
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const loc = m.location();
    // Chromium asks for /favicon.ico by itself when a page names no icon; that 404 is not the
    // page's doing (the pages that name an icon get it checked like any resource).
    if (loc && loc.url && new URL(loc.url).pathname === '/favicon.ico') return;
    add(`console error: ${m.text()}${loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`);
  });
  page.on('pageerror', (e) => add(`uncaught exception: ${e.message}`));
  await page.exposeBinding('__madangCspViolation', (_src, v) => {
    add(`CSP violation: ${v.directive} blocked ${v.blocked || '(inline)'} in ${v.document}` +
      `${v.source ? ` at ${v.source}:${v.line}` : ''}${v.sample ? ` sample ${JSON.stringify(v.sample)}` : ''}`);
  });
  const listen = () => {
    // Runs in the page (an init script is not subject to the page's CSP).
    document.addEventListener('securitypolicyviolation', (e) => {
      // eslint-disable-next-line no-undef
      window.__madangCspViolation({
        directive: e.violatedDirective, blocked: e.blockedURI, document: e.documentURI,
        source: e.sourceFile, line: e.lineNumber, sample: e.sample,
      });
    }, true);
  };
  await page.addInitScript(listen);
  // The document already loaded (if any) gets the listener too.
  if (page.url() !== 'about:blank') await page.evaluate(listen).catch(() => {});
  return guard;
}

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe-core on the page (or `include`, a CSS selector) and fails unless there is no serious
 * or critical violation. Options: `exclude` (selectors), `disableRules` (rule ids, each needing a
 * reason in the spec), `name` (used for the attached report). Resolves to axe's results.
 */
async function checkA11y(page, { include, exclude = [], disableRules = [], name = 'axe' } = {}) {
  // Evaluated through the DevTools protocol, so the page's CSP (no eval, no inline) does not apply.
  await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(async ({ include, exclude, disableRules }) => {
    const context = include || exclude.length ? { include: include ? [include] : [document], exclude: exclude.map((s) => [s]) } : document;
    const rules = Object.fromEntries(disableRules.map((r) => [r, { enabled: false }]));
    // eslint-disable-next-line no-undef
    const r = await axe.run(context, { resultTypes: ['violations'], rules });
    return { violations: r.violations, url: r.url };
  }, { include, exclude, disableRules });
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const info = base.test.info();
  await info.attach(`${name}.json`, { body: JSON.stringify(results, null, 1), contentType: 'application/json' });
  const report = bad.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.helpUrl})\n` +
    v.nodes.slice(0, 5).map((n) => `    ${n.target.join(' ')}: ${n.failureSummary.replace(/\n/g, ' ')}`).join('\n')).join('\n');
  expect(bad, `axe-core found serious or critical violations on ${results.url}:\n${report}`).toEqual([]);
  return results;
}

function slug(s) {
  return String(s).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80);
}

/**
 * Saves a full-page screenshot as screenshots/<backend>/<spec>-<name>.png (kept as a CI artefact,
 * never compared) and attaches it to the test's report. Resolves to the file's path.
 */
async function shot(page, name) {
  const info = base.test.info();
  const spec = path.basename(info.file, '.spec.js');
  const dir = path.join(SCREENSHOTS, slug(BACKEND));
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${slug(spec)}-${slug(name)}.png`);
  await page.screenshot({ path: file, fullPage: true });
  await info.attach(name, { path: file, contentType: 'image/png' });
  return file;
}

/**
 * The calendar at `calendarUrl` as python `caldav` sees it (caldav_check.py), logged in as `user`
 * with the app password. Options: `uid` (one object), `expand: [start, end]` (ISO; expanded
 * instances in `.expanded`). Resolves to the parsed JSON (see caldav_check.py).
 */
function caldavObjects(user, calendarUrl, { uid, expand } = {}) {
  const args = [path.join(__dirname, 'caldav_check.py'), '--url', urlOf(calendarUrl), '--user', user.name,
    '--password', user.appPassword || user.password];
  if (uid) args.push('--uid', uid);
  if (expand) args.push('--expand', expand[0], expand[1]);
  return new Promise((resolve, reject) => {
    execFile(PYTHON, args, { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`caldav_check.py failed: ${err.message}\n${stderr}`));
      else {
        try { resolve(JSON.parse(stdout)); } catch (e) { reject(new Error(`caldav_check.py printed no JSON: ${e.message}\n${stdout.slice(0, 1000)}`)); }
      }
    });
  });
}

// --- the extended `test` ----------------------------------------------------------------------------

const test = base.test.extend({
  /** Set `test.use({ cspGuard: false })` to leave `page` unguarded (never needed by the views). */
  cspGuard: [true, { option: true }],

  // Runs around every test: fails it if a guarded page saw a CSP violation or a console error.
  _pageGuards: [async ({}, use) => {
    activeGuards = [];
    await use();
    const seen = activeGuards.flatMap((g) => g.list);
    activeGuards = [];
    expect(seen, `CSP violations or console errors:\n${seen.join('\n')}`).toEqual([]);
  }, { auto: true }],

  /** Every `page` is guarded by collectCspViolations unless cspGuard is false. */
  page: async ({ page, cspGuard, _pageGuards }, use) => { // eslint-disable-line no-unused-vars
    if (cspGuard) await collectCspViolations(page);
    await use(page);
  },

  /** { url, cli, backend } of the server under test. */
  madang: [async ({}, use) => {
    requireServer();
    await use({ url: MADANG_URL, cli: MADANG_CLI, backend: BACKEND });
  }, { scope: 'worker' }],

  /** A fresh user for this test (see createUser). */
  user: async ({}, use) => {
    await use(await createUser());
  },

  /** `page`, signed in as `user` through /signin, on `/`. */
  signedInPage: async ({ page, user }, use) => {
    await signIn(page, user);
    await use(page);
  },

  /** apiAs(user): Basic-auth JSON calls as this test's user. */
  api: async ({ user }, use) => {
    await use(apiAs(user));
  },

  /** davPut(url, body, contentType, opts) as this test's user (app password). */
  davPut: async ({ user }, use) => {
    await use((url, body, contentType, opts) => davPut(user, url, body, contentType, opts));
  },
});

module.exports = {
  test,
  expect,
  MADANG_URL,
  BACKEND,
  urlOf,
  madangCli,
  startServer,
  freePort,
  createUser,
  apiAs,
  davRequest,
  davPut,
  davGet,
  signIn,
  collectCspViolations,
  checkA11y,
  shot,
  caldavObjects,
  icsEvent,
};
