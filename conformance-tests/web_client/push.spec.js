// The push channel (GET /api/v1/push, Server-Sent Events) from the outside: resume with
// Last-Event-ID gets exactly what was missed, in order, without duplicates (also from another
// process on one PostgreSQL database, and after a restart); unknown, malformed or future ids get a
// `resync` event, never a replay; a CalDAV PUT reaches a browser's EventSource within a second.
'use strict';
const { test, expect, icsEvent, davPut, startServer, urlOf, BACKEND } = require('./fixtures');
const { PushStream } = require('./sse');

const CHANGES = 50;
const PUSH = '/api/v1/push';

function basicOf(user) {
  return `Basic ${Buffer.from(`${user.name}:${user.password}`).toString('base64')}`;
}

async function openPush(user, { baseUrl, lastEventId } = {}) {
  const url = baseUrl ? new URL(PUSH, baseUrl).toString() : urlOf(PUSH);
  const s = await PushStream.open(url, { authorization: basicOf(user), lastEventId });
  expect(s.status, `GET ${PUSH}: ${s.status} ${s.body || ''}`).toBe(200);
  expect(s.headers.get('content-type')).toMatch(/^text\/event-stream/);
  return s;
}

/** PUTs `n` new events over CalDAV (through `baseUrl`'s server when given); resolves to their names. */
async function makeChanges(user, n, tag, { baseUrl } = {}) {
  const names = [];
  for (let i = 0; i < n; i += 1) {
    const uid = `${tag}-${i}@push.test`;
    const name = `${tag}-${i}.ics`;
    const url = baseUrl ? new URL(new URL(`${user.calendarUrl}${name}`).pathname, baseUrl).toString() : `${user.calendarUrl}${name}`;
    await davPut(user, url, icsEvent({ uid, summary: `push ${i}` }), 'text/calendar; charset=utf-8');
    names.push(name);
  }
  return names;
}

// The stream's first event is `ready`, whose id is where it starts (the user's head, or the
// client's own last id on resume); changes follow; `resync` replaces what cannot be resumed.
const change = (e) => e.type !== 'ready' && e.type !== 'heartbeat';

/** The user's current head: the id of a fresh stream's `ready` event. */
async function currentId(user, opts = {}) {
  const s = await openPush(user, opts);
  const ev = await s.next(5000);
  s.close();
  expect(ev && ev.type, 'a new stream starts with a ready event').toBe('ready');
  expect(ev.id).toMatch(/^\d+$/);
  return ev.id;
}

/** Checks that `evs` are exactly the calendar.object events of `names`, in order, ids consecutive after `after`. */
function expectExactly(evs, names, after) {
  const got = evs.map((e) => `${e.type} ${e.json && e.json.name}`);
  expect(got).toEqual(names.map((n) => `calendar.object ${n}`));
  const ids = evs.map((e) => Number(e.id));
  expect(new Set(ids).size, 'no duplicate ids').toBe(ids.length);
  ids.forEach((id, i) => expect(id, `event ${i}'s id`).toBe(Number(after) + 1 + i));
  for (const e of evs) {
    expect(e.json.calendar).toBe('default');
    expect(e.json.deleted).toBe(false);
    expect(typeof e.json.uid).toBe('string');
  }
}

async function resumeAndCheck(user, last, names, opts = {}) {
  const s = await openPush(user, { ...opts, lastEventId: last });
  const evs = await s.take(names.length, 10_000, change);
  // Anything beyond the missed events (a duplicate, a resync, a replay) shows up within a second.
  const more = await s.drain(1000, change);
  s.close();
  expectExactly(evs, names, last);
  expect(more.map((e) => `${e.type} ${e.data}`), 'nothing after the missed events').toEqual([]);
}

test('reconnecting with Last-Event-ID gets exactly the 50 missed changes, in order', async ({ user }) => {
  const last = await currentId(user);
  const names = await makeChanges(user, CHANGES, 'missed');
  await resumeAndCheck(user, last, names);
});

test('a live connection gets each CalDAV change', async ({ user }) => {
  const s = await openPush(user);
  const names = await makeChanges(user, 5, 'live');
  const evs = await s.take(5, 5000, change);
  s.close();
  expect(evs.map((e) => e.json && e.json.name)).toEqual(names);
  const ids = evs.map((e) => Number(e.id));
  ids.slice(1).forEach((id, i) => expect(id).toBe(ids[i] + 1));
});

for (const [what, value] of [
  ['garbage', 'garbage'],
  ['negative', '-1'],
  ['fractional', '1.5'],
  ['future', '999999999'],
  ['overflowing', '99999999999999999999999999'],
]) {
  test(`a ${what} Last-Event-ID gets a resync event, not a replay`, async ({ user }) => {
    await makeChanges(user, 3, `before-${what}`); // something a replay would repeat
    const last = await currentId(user);
    const s = await openPush(user, { lastEventId: value });
    const [first] = await s.take(1, 5000, (e) => e.type !== 'ready');
    const after = await s.drain(1000, change);
    s.close();
    expect(first && first.type, `first event for Last-Event-ID ${value}`).toBe('resync');
    expect(typeof first.json).toBe('object');
    // The stream goes on from the head: the client resumes from there after refetching.
    expect(first.id).toBe(last);
    expect(after.map((e) => e.type), 'no replay after the resync').toEqual([]);
    // The next connection from the last real id works normally.
    const names = await makeChanges(user, 2, `after-${what}`);
    await resumeAndCheck(user, last, names);
  });
}

test('the web session\'s EventSource gets a CalDAV PUT within 1 s, without reload', async ({ signedInPage: page, user }) => {
  await page.evaluate((url) => {
    window.__push = [];
    window.__pushOpen = false;
    const es = new EventSource(url);
    es.onopen = () => { window.__pushOpen = true; };
    es.addEventListener('calendar.object', (e) => {
      window.__push.push({ id: e.lastEventId, data: JSON.parse(e.data), at: performance.timeOrigin + performance.now() });
    });
  }, PUSH);
  await page.waitForFunction(() => window.__pushOpen === true, null, { timeout: 5000 });
  const sent = performance.timeOrigin + performance.now();
  const [name] = await makeChanges(user, 1, 'browser');
  const got = await page.waitForFunction((n) => window.__push.find((e) => e.data.name === n), name, { timeout: 1000 });
  const ev = await got.jsonValue();
  expect(ev.at - sent).toBeLessThan(1000);
});

test('resume works from another process on the same database (PostgreSQL)', async ({ user }) => {
  test.skip(BACKEND !== 'postgres', 'two processes share a database on PostgreSQL only');
  const other = await startServer();
  try {
    // Live: PUT to the suite's server, listen on the other process.
    const s = await openPush(user, { baseUrl: other.url });
    const [name] = await makeChanges(user, 1, 'cross-live');
    const [ev] = await s.take(1, 5000, change);
    s.close();
    expect(ev && ev.json && ev.json.name, 'a change on one process reaches a client of the other').toBe(name);
    // Resume: disconnected from the other process, 50 changes here, then reconnect there.
    const names = await makeChanges(user, CHANGES, 'cross-missed');
    await resumeAndCheck(user, ev.id, names, { baseUrl: other.url });
  } finally {
    await other.stop();
  }
});

test('resume works after a restart of the server the client was connected to', async ({ user }) => {
  // A second `madang serve` on the same storage is the server that restarts; the suite's server
  // takes the changes while it is down.
  let server = await startServer();
  const port = Number(new URL(server.url).port);
  try {
    const last = await currentId(user, { baseUrl: server.url });
    const stopped = await server.stop();
    expect(stopped.code, `clean shutdown: ${JSON.stringify(stopped)}`).toBe(0);
    const names = await makeChanges(user, CHANGES, 'restart');
    server = await startServer({ port });
    await resumeAndCheck(user, last, names, { baseUrl: server.url });
  } finally {
    await server.stop();
  }
});

test('a session cookie sent by another site cannot open the stream; Basic and the same site can', async ({ signedInPage: page }) => {
  const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  const origin = new URL(urlOf('/')).origin;
  const open = (headers) => PushStream.open(urlOf(PUSH), { headers: { Cookie: cookie, ...headers } });
  for (const headers of [{ Origin: 'http://evil.example' }, { 'Sec-Fetch-Site': 'cross-site' }, { 'Sec-Fetch-Site': 'same-site' }]) {
    const s = await open(headers);
    s.close();
    expect(s.status, `cookie + ${JSON.stringify(headers)}`).toBe(403);
  }
  const same = await open({ Origin: origin, 'Sec-Fetch-Site': 'same-origin' });
  const ev = await same.next(5000);
  same.close();
  expect(same.status).toBe(200);
  expect(ev && ev.type).toBe('ready');
  const none = await PushStream.open(urlOf(PUSH));
  expect(none.status, 'no credentials').toBe(401);
});

test('streams per user are capped (push.max_connections_per_user, 10 by default): the next gets 429', async ({ user }) => {
  const open = [];
  try {
    for (let i = 0; i < 10; i += 1) open.push(await openPush(user));
    const extra = await PushStream.open(urlOf(PUSH), { authorization: basicOf(user) });
    extra.close();
    expect(extra.status).toBe(429);
    const err = JSON.parse(extra.body).error; // {"error": code, "message"} (src/http/error.rs)
    expect(err.code ?? err).toBe('too_many_connections');
    // A closed stream frees its place.
    open.pop().close();
    await expect.poll(async () => {
      const s = await PushStream.open(urlOf(PUSH), { authorization: basicOf(user) });
      s.close();
      return s.status;
    }, { timeout: 5000 }).toBe(200);
  } finally {
    open.forEach((s) => s.close());
  }
});

test('an idle stream gets heartbeats (push.heartbeat) and a closed event when the server stops', async ({ user }) => {
  const server = await startServer({ env: { MADANG_PUSH_HEARTBEAT: '1s' } });
  try {
    const s = await openPush(user, { baseUrl: server.url });
    await s.drain(2600, () => false);
    expect(s.comments, 'heartbeat comments in 2.6 s at 1 s').toBeGreaterThanOrEqual(2);
    const stopping = server.stop();
    const [ev] = await s.take(1, 10_000, (e) => e.type === 'closed');
    expect(ev && ev.type, 'a closed event on shutdown').toBe('closed');
    await stopping;
    s.close();
  } finally {
    await server.stop();
  }
});
