// A Server-Sent Events client over a streaming fetch, for the push tests and the benchmark: unlike
// the browser's EventSource it can send Basic auth and a chosen Last-Event-ID, and it never
// reconnects on its own, so a test sees exactly what one connection delivered.
// Parsing follows the HTML standard's "event stream interpretation" (§9.2.6).
'use strict';

class PushStream {
  constructor() {
    this.events = []; // every dispatched event, in order: { type, data, id, json, at }
    this.comments = 0; // comment lines (heartbeats are comments or named events)
    this.retry = null;
    this.status = null;
    this.headers = null;
    this.closed = false;
    this.error = null;
    this._read = 0; // index of the next event handed out by next()
    this._waiters = [];
    this._abort = new AbortController();
  }

  /**
   * Opens `url` (GET, Accept: text/event-stream). Options: `authorization` (header value),
   * `lastEventId`, `headers`. Resolves once the response headers are in (check `.status`).
   */
  static async open(url, { authorization, lastEventId, headers = {} } = {}) {
    const s = new PushStream();
    const h = { Accept: 'text/event-stream', 'Cache-Control': 'no-cache', ...headers };
    if (authorization) h.Authorization = authorization;
    if (lastEventId !== undefined && lastEventId !== null) h['Last-Event-ID'] = String(lastEventId);
    const res = await fetch(url, { headers: h, signal: s._abort.signal });
    s.status = res.status;
    s.headers = res.headers;
    if (res.status !== 200 || !(res.headers.get('content-type') || '').startsWith('text/event-stream')) {
      s.body = await res.text().catch(() => '');
      s.closed = true;
      return s;
    }
    s._pump(res.body);
    return s;
  }

  async _pump(body) {
    const decoder = new TextDecoder('utf-8');
    let buf = '';
    let first = true;
    let data = '';
    let type = '';
    let lastId = '';
    const dispatch = () => {
      if (data === '') { type = ''; return; }
      if (data.endsWith('\n')) data = data.slice(0, -1);
      const ev = { type: type || 'message', data, id: lastId, json: undefined, at: performance.timeOrigin + performance.now() };
      try { ev.json = JSON.parse(data); } catch { ev.json = undefined; }
      data = '';
      type = '';
      this.events.push(ev);
      this._wake();
    };
    const line = (l) => {
      if (l === '') { dispatch(); return; }
      if (l.startsWith(':')) { this.comments += 1; return; }
      const i = l.indexOf(':');
      const field = i < 0 ? l : l.slice(0, i);
      let value = i < 0 ? '' : l.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data += `${value}\n`;
      else if (field === 'id') { if (!value.includes('\0')) lastId = value; }
      else if (field === 'retry') { if (/^\d+$/.test(value)) this.retry = Number(value); }
    };
    try {
      const reader = body.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        if (first && buf.length > 0) { if (buf.charCodeAt(0) === 0xfeff) buf = buf.slice(1); first = false; }
        // Lines end with CRLF, LF or CR; a CR at the very end may be the first half of a CRLF.
        for (;;) {
          const m = /\r\n|\n|\r/.exec(buf);
          if (!m) break;
          if (m[0] === '\r' && m.index === buf.length - 1) break;
          line(buf.slice(0, m.index));
          buf = buf.slice(m.index + m[0].length);
        }
      }
    } catch (e) {
      if (!this._abort.signal.aborted) this.error = e;
    }
    this.closed = true;
    this._wake();
  }

  _wake() {
    const w = this._waiters;
    this._waiters = [];
    for (const f of w) f();
  }

  /** The id of the last event received ('' before any). */
  get lastEventId() {
    for (let i = this.events.length - 1; i >= 0; i -= 1) if (this.events[i].id !== '') return this.events[i].id;
    return '';
  }

  /** Resolves to the next event not yet handed out, or null after `timeoutMs` or when the stream ended. */
  async next(timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    while (this._read >= this.events.length) {
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this._waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    const ev = this.events[this._read];
    this._read += 1;
    return ev;
  }

  /**
   * Resolves to the next `n` events whose type passes `filter` (default: all but heartbeats, i.e.
   * all but type 'heartbeat'/'ping'); fewer if `timeoutMs` passes first.
   */
  async take(n, timeoutMs = 10_000, filter = (e) => e.type !== 'heartbeat' && e.type !== 'ping') {
    const out = [];
    const deadline = Date.now() + timeoutMs;
    while (out.length < n) {
      const ev = await this.next(Math.max(0, deadline - Date.now()));
      if (!ev) break;
      if (filter(ev)) out.push(ev);
    }
    return out;
  }

  /** Waits `ms` and resolves to every event that came in meanwhile (not yet handed out). */
  async drain(ms = 500, filter = (e) => e.type !== 'heartbeat' && e.type !== 'ping') {
    await new Promise((r) => setTimeout(r, ms));
    const out = this.events.slice(this._read).filter(filter);
    this._read = this.events.length;
    return out;
  }

  /** Closes the connection (client side). */
  close() {
    this._abort.abort();
    this.closed = true;
    this._wake();
  }
}

module.exports = { PushStream };
