// Live updates: one EventSource on /api/v1/push for the whole page. Views subscribe by event
// type with `onPush(type, handler)`; `'*'` gets every event, and `'resync'` (the server lost
// track of what this page has seen) goes to every subscriber, whatever its type, so each
// view refetches what it shows.

/** Event types the server sends today; a handler for another type registers it on demand. */
const KNOWN = [
  'calendar.object', 'calendar.collection', 'addressbook.object', 'addressbook.collection',
  'chat.message', 'chat.channel', 'chat.read', 'chat.follow', 'chat.typing', 'chat.presence', 'mail.changed', 'resync',
];

/** @type {EventSource|null} */
let source = null;
/** @type {Map<string, Set<(data: any, type: string) => void>>} */
const handlers = new Map();
const listening = new Set();

function dispatch(/** @type {MessageEvent} */ event) {
  let data = {};
  try {
    data = event.data ? JSON.parse(event.data) : {};
  } catch {
    data = {};
  }
  const type = event.type;
  const targets = new Set();
  if (type === 'resync') {
    for (const set of handlers.values()) for (const fn of set) targets.add(fn);
  } else {
    for (const fn of handlers.get(type) || []) targets.add(fn);
    for (const fn of handlers.get('*') || []) targets.add(fn);
  }
  for (const fn of targets) {
    try {
      fn(data, type);
    } catch (e) {
      console.warn('push handler failed', e);
    }
  }
}

function listen(type) {
  if (!source || listening.has(type) || type === '*') return;
  source.addEventListener(type, dispatch);
  listening.add(type);
}

function ensure() {
  if (source || typeof EventSource === 'undefined') return;
  // Same origin: the session cookie goes along; the browser reconnects by itself and sends
  // Last-Event-ID, so the server replays what was missed.
  source = new EventSource('/api/v1/push');
  for (const type of KNOWN) listen(type);
  for (const type of handlers.keys()) listen(type);
}

/**
 * Calls `handler(data, type)` for each push event of `type` (`'*'`: all). Returns the
 * function that unsubscribes.
 *
 * @param {string} type
 * @param {(data: any, type: string) => void} handler
 * @returns {() => void}
 */
export function onPush(type, handler) {
  if (!handlers.has(type)) handlers.set(type, new Set());
  handlers.get(type)?.add(handler);
  ensure();
  listen(type);
  return () => {
    handlers.get(type)?.delete(handler);
  };
}
