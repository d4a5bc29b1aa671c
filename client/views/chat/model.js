// The chat view's pure parts (no DOM, no network), unit-tested in
// conformance-tests/web_client/chat_unit.test.mjs: merging message pages and push events by
// `seq`, pending sends, channel labels and order, unread bookkeeping, the `@` token under
// the caret, and the sentences for typing.

/**
 * Merges `incoming` messages into `list` (both sorted by `seq`): a message with a known `id`
 * replaces the old copy, a server message replaces the pending one with its `client_id`.
 * Pending messages (no `id` yet) stay at the end in the order they were sent.
 *
 * @param {any[]} list
 * @param {any[]} incoming
 * @returns {any[]}
 */
export function mergeMessages(list, incoming) {
  const byId = new Map();
  const pending = [];
  for (const m of list) {
    if (m.id === undefined || m.id === null) pending.push(m);
    else byId.set(m.id, m);
  }
  const arrived = new Set();
  for (const m of incoming) {
    if (m.id === undefined || m.id === null) {
      pending.push(m);
      continue;
    }
    byId.set(m.id, m);
    if (m.client_id) arrived.add(m.client_id);
  }
  const stored = [...byId.values()].sort((a, b) => a.seq - b.seq);
  return [...stored, ...pending.filter((p) => !arrived.has(p.client_id))];
}

/** `list` without the message `id` (a reply moved away, a channel left). */
export function withoutMessage(list, id) {
  return list.filter((m) => m.id !== id);
}

/** The newest stored (not pending) message of `list`, or null. */
export function newestStored(list) {
  for (let i = list.length - 1; i >= 0; i -= 1) if (list[i].id !== undefined && list[i].id !== null) return list[i];
  return null;
}

/** The oldest stored message of `list`, or null. */
export function oldestStored(list) {
  return list.find((m) => m.id !== undefined && m.id !== null) || null;
}

/**
 * The name shown for a channel: `#name` for channels, the other people's names for a DM
 * (yourself alone: your own name).
 *
 * @param {any} channel
 * @param {string} me
 */
export function channelLabel(channel, me) {
  if (!channel) return '';
  if (channel.kind === 'dm') {
    const others = (channel.members || []).filter((n) => n !== me);
    return (others.length ? others : [me]).join(', ');
  }
  return channel.name || '';
}

/**
 * The sidebar's two lists: channels by name, DMs newest activity first; archived channels
 * after the others.
 *
 * @param {any[]} channels
 * @param {string} me
 * @param {Intl.Collator} collator
 * @returns {{channels: any[], dms: any[]}}
 */
export function sidebarOrder(channels, me, collator) {
  const rooms = channels.filter((c) => c.kind !== 'dm')
    .sort((a, b) => (Number(!!a.archived) - Number(!!b.archived)) || collator.compare(a.name || '', b.name || ''));
  const dms = channels.filter((c) => c.kind === 'dm')
    .sort((a, b) => String(b.last_message_at || '').localeCompare(String(a.last_message_at || ''))
      || collator.compare(channelLabel(a, me), channelLabel(b, me)));
  return { channels: rooms, dms };
}

/**
 * True when `message` mentions `me`: by name, by @channel, or by @here when `here` (the user
 * counted as online when it came; the server decides that at send time, docs/chat.md).
 *
 * @param {any} message
 * @param {string} me
 * @param {boolean} [here]
 */
export function mentionsMe(message, me, here = false) {
  if (!message) return false;
  if (message.mention_channel) return true;
  if (message.mention_here && here) return true;
  return (message.mentions || []).some((n) => String(n).toLowerCase() === String(me).toLowerCase());
}

/**
 * The channel's counters after a new message arrived that the user has not read: `unread`
 * counts top-level messages by others, `mentions` every message that mentions the user
 * (docs/chat.md, Read state). The server's numbers replace these at the next `chat.read`.
 *
 * @param {any} channel
 * @param {any} message
 * @param {string} me
 * @param {boolean} [here] whether an @here counts (see `mentionsMe`)
 */
export function countArrival(channel, message, me, here = false) {
  const next = { ...channel };
  next.last_seq = Math.max(channel.last_seq || 0, message.seq || 0);
  next.last_message_at = message.created_at || channel.last_message_at;
  const mine = message.author && message.author.name === me;
  if (mine || message.deleted) return next;
  if ((message.seq || 0) <= (channel.last_read_seq || 0)) return next;
  if (!message.thread) next.unread = (channel.unread || 0) + 1;
  if (mentionsMe(message, me, here)) next.mentions = (channel.mentions || 0) + 1;
  return next;
}

/**
 * The `@` word the caret is at the end of, for autocomplete: `{start, query}` where `start`
 * is the index of the `@`, or null. The `@` must start the text or follow a space or an
 * opening bracket, so an e-mail address does not open the list.
 *
 * @param {string} text
 * @param {number} caret
 */
export function mentionQuery(text, caret) {
  const before = text.slice(0, caret);
  const m = /(^|[\s(])@([\p{L}\p{N}._-]{0,40})$/u.exec(before);
  if (!m) return null;
  return { start: before.length - m[2].length - 1, query: m[2] };
}

/**
 * `text` with the `@query` at `start` replaced by `@name ` ; the new caret position too.
 *
 * @param {string} text
 * @param {{start: number, query: string}} at
 * @param {string} name
 */
export function insertMention(text, at, name) {
  const end = at.start + 1 + at.query.length;
  const inserted = `@${name} `;
  return { text: text.slice(0, at.start) + inserted + text.slice(end), caret: at.start + inserted.length };
}

/**
 * The typing sentence for `names` (others typing in the channel shown), through `t`.
 *
 * @param {(key: string, vars?: Record<string, any>) => string} t
 * @param {string[]} names
 */
export function typingText(t, names) {
  if (names.length === 0) return '';
  if (names.length === 1) return t('chat.typing.one', { name: names[0] });
  if (names.length === 2) return t('chat.typing.two', { a: names[0], b: names[1] });
  return t('chat.typing.many');
}

/** `48213` → `47 KB` (1024-based, as file managers show). */
export function formatSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** The local calendar day of an ISO time, `YYYY-MM-DD`, for day separators. */
export function localDay(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/**
 * Where to start a page that shows message `seq` in its middle: the `after=` of a page of
 * `size` messages.
 */
export function aroundAfter(seq, size = 50) {
  return Math.max(0, Number(seq) - Math.floor(size / 2) - 1);
}

/**
 * A send-rate throttle: `due(now)` is true at most once per `ms` (typing indicators: at most
 * one POST every 3 s while typing).
 */
export function throttle(ms) {
  let last = -Infinity;
  return {
    due(now) {
      if (now - last < ms) return false;
      last = now;
      return true;
    },
    reset() { last = -Infinity; },
  };
}
