// The Chat view (docs/chat.md is its contract): channels and DMs with unread and mention
// badges, the message list (newest at the bottom, older pages of 50 on scrolling up, day
// separators), the composer, the thread panel, search, files, read state, typing and presence,
// and desktop notifications for mentions and DMs. Everything comes from /api/v1/chat and the
// push channel; message bodies are rebuilt from an allow-list (chat/sanitize.js), never
// inserted as markup. `#/chat/<id>` names the channel shown.

import { h } from '../ui.js';
import { confirmDialog, debounce, errorText, focusKeeper, liveRegion } from './common.js';
import { createComposer } from './chat/composer.js';
import { browseChannels, createChannel, pickReaction, showPins, startDm } from './chat/dialogs.js';
import { messageItem } from './chat/message_view.js';
import {
  aroundAfter, channelLabel, countArrival, localDay, mentionsMe, mergeMessages, newestStored, oldestStored,
  sidebarOrder, typingText,
} from './chat/model.js';
import * as notify from './chat/notify.js';
import { renderMessageHtml } from './chat/sanitize.js';

const PAGE = 50;
const LAST = 'madang.chat.channel';
/** How long a typing signal shows without a new one (the sender repeats it every 3 s). */
const TYPING_MS = 6000;

function stored(key) {
  try { return localStorage.getItem(key); } catch { return null; }
}
function store(key, value) {
  try { localStorage.setItem(key, String(value)); } catch { /* private mode */ }
}

/** The channel id in `#/chat/<id>`, or null. */
function hashChannel(hash) {
  const m = /^#\/chat\/(\d+)/.exec(hash || '');
  return m ? Number(m[1]) : null;
}

export function mount(root, ctx) {
  const { api, t, onPush } = ctx;
  const me = ctx.me.username;
  const siteAdmin = ctx.me.role === 'admin';
  const lang = document.documentElement.lang || 'en';
  const collator = new Intl.Collator(lang, { sensitivity: 'base', numeric: true });
  const dayFormat = new Intl.DateTimeFormat(lang, { dateStyle: 'full' });
  // app.js titled the page ("Chat · Product") just before mounting; the count goes in front.
  const baseTitle = document.title;

  const state = {
    /** @type {Map<number, any>} */
    channels: new Map(),
    loaded: false,
    failed: /** @type {string|null} */ (null),
    current: /** @type {number|null} */ (null),
    /** Stored top-level messages of the current channel, by seq. */
    messages: /** @type {any[]} */ ([]),
    hasOlder: false,
    hasNewer: false,
    loadingHistory: false,
    editing: /** @type {number|null} */ (null),
    /** After "mark unread", reading does not move the marker again until the channel changes. */
    suppressRead: false,
    /** @type {{root: any, replies: any[], following: boolean, last_read_seq: number}|null} */
    thread: null,
    /** @type {{q: string, results: any[], cursor: string|null, loading: boolean, error: string|null}|null} */
    search: null,
    /** client_id → pending send `{client_id, channel, thread, text, files, failed}` */
    pending: new Map(),
    /** channel id → Map(user → expiry) */
    typing: new Map(),
    /** user → online | away | offline */
    presence: new Map(),
    /** channel id → unsent text */
    drafts: new Map(),
  };
  let alive = true;
  let historySeq = 0;
  let readInFlight = 0;
  let windowBlurred = false;
  const status = liveRegion();
  const keeper = focusKeeper();
  const timers = new Set();

  // ----- The frame -----
  const heading = h('h1', { class: 'visually-hidden', id: 'chat-heading', tabindex: '-1' }, t('chat.title'));
  const searchInput = h('input', { type: 'search', id: 'chat-search', autocomplete: 'off', 'aria-describedby': 'chat-search-hint', placeholder: t('chat.search') });
  const searchForm = h('form', { class: 'chat-search-form', role: 'search', 'aria-label': t('chat.search') },
    h('label', { for: 'chat-search', class: 'visually-hidden' }, t('chat.search')), searchInput,
    h('p', { id: 'chat-search-hint', class: 'visually-hidden' }, t('chat.search_hint')));
  searchForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = /** @type {HTMLInputElement} */ (searchInput).value.trim();
    if (q) runSearch(q);
  });

  const browseButton = h('button', { type: 'button', class: 'secondary v-small' }, t('chat.browse'));
  browseButton.addEventListener('click', () => browseChannels({ t, api, me, onOpen: (c) => { refetchChannels(); selectChannel(c.id); } }));
  const newChannelButton = h('button', { type: 'button', class: 'secondary v-small', 'aria-label': t('chat.new_channel') }, '+');
  newChannelButton.addEventListener('click', () => createChannel({ t, api, onCreated: (c) => { upsertChannel(c); selectChannel(c.id); } }));
  const newDmButton = h('button', { type: 'button', class: 'secondary v-small', 'aria-label': t('chat.new_dm') }, '+');
  newDmButton.addEventListener('click', () => startDm({ t, api, me, onOpened: (c) => { upsertChannel(c); selectChannel(c.id); } }));
  const channelList = h('ul', { class: 'chat-channel-list', 'aria-labelledby': 'chat-channels-heading' });
  const dmList = h('ul', { class: 'chat-channel-list', 'aria-labelledby': 'chat-dms-heading' });
  const notifyOffer = h('div', { class: 'chat-notify-offer', hidden: true });
  const sidebar = h('nav', { class: 'chat-sidebar', 'aria-label': t('chat.sidebar') },
    searchForm,
    h('div', { class: 'chat-side-head' }, h('h2', { id: 'chat-channels-heading' }, t('chat.channels')), newChannelButton),
    channelList, browseButton,
    h('div', { class: 'chat-side-head' }, h('h2', { id: 'chat-dms-heading' }, t('chat.dms')), newDmButton),
    dmList, notifyOffer);

  const channelTitle = h('h2', { class: 'chat-channel-title', id: 'chat-channel-title', tabindex: '-1' });
  const channelTopic = h('p', { class: 'chat-topic' });
  const pinsButton = h('button', { type: 'button', class: 'secondary v-small' }, t('chat.pins'));
  pinsButton.addEventListener('click', () => {
    const ch = currentChannel();
    if (ch) showPins({ t, api, me, channel: ch, label: labelOf(ch), onJump: (m) => jumpTo(m) });
  });
  const leaveButton = h('button', { type: 'button', class: 'secondary v-small' }, t('chat.leave'));
  leaveButton.addEventListener('click', leaveChannel);
  const channelHead = h('header', { class: 'chat-channel-head' },
    h('div', { class: 'chat-channel-names' }, channelTitle, channelTopic),
    h('div', { class: 'chat-channel-tools' }, pinsButton, leaveButton));

  const olderStatus = h('p', { class: 'chat-older v-muted', 'aria-live': 'polite' });
  const messageList = h('ol', { class: 'chat-messages' });
  const scroller = h('div', { class: 'chat-scroll', role: 'log', 'aria-labelledby': 'chat-channel-title', tabindex: '0' }, olderStatus, messageList);
  const typingLine = h('p', { class: 'chat-typing', 'aria-live': 'polite' });
  const composer = createComposer({
    t, api, me, label: t('chat.composer.label'),
    channelId: () => state.current,
    onSend: (text, files) => send(state.current, null, text, files),
    onEditLast: () => editLast(state.messages, state.current, null),
    onTyping: () => sendTyping(state.current),
  });
  const channelPane = h('section', { class: 'chat-main', 'aria-labelledby': 'chat-channel-title' },
    channelHead, scroller, typingLine, composer.node);
  const searchPane = h('section', { class: 'chat-main chat-search-pane', hidden: true, 'aria-labelledby': 'chat-search-title' });

  const threadPane = h('aside', { class: 'chat-thread', hidden: true, 'aria-labelledby': 'chat-thread-title' });
  const threadList = h('ol', { class: 'chat-messages chat-thread-messages' });
  const followButton = h('button', { type: 'button', class: 'secondary v-small', 'aria-pressed': 'false' }, t('chat.follow'));
  followButton.addEventListener('click', toggleFollow);
  const closeThreadButton = h('button', { type: 'button', class: 'secondary v-small', 'aria-label': t('chat.thread_close') }, '×');
  closeThreadButton.addEventListener('click', closeThread);
  const threadComposer = createComposer({
    t, api, me, label: t('chat.composer.reply_label'), compact: true,
    channelId: () => (state.thread ? state.thread.root.channel : null),
    onSend: (text, files) => (state.thread ? send(state.thread.root.channel, state.thread.root.id, text, files) : false),
    onEditLast: () => (state.thread ? editLast(state.thread.replies, state.thread.root.channel, state.thread.root.id) : false),
    onTyping: () => state.thread && sendTyping(state.thread.root.channel),
  });
  threadPane.append(
    h('header', { class: 'chat-thread-head' }, h('h2', { id: 'chat-thread-title', tabindex: '-1' }, t('chat.thread')), followButton, closeThreadButton),
    h('div', { class: 'chat-scroll chat-thread-scroll' }, threadList),
    threadComposer.node);

  const layout = h('div', { class: 'chat-layout' }, sidebar, channelPane, searchPane, threadPane);
  const frame = h('section', { class: 'v-view chat', 'aria-labelledby': 'chat-heading' }, heading, status.node, layout);
  root.replaceChildren(frame);

  // ----- Channels -----
  function labelOf(ch) {
    const l = channelLabel(ch, me);
    return ch && ch.kind !== 'dm' ? `#${l}` : l;
  }
  function currentChannel() {
    return state.current === null ? null : state.channels.get(state.current) || null;
  }
  function upsertChannel(c) {
    if (!c || c.id === undefined) return;
    const old = state.channels.get(c.id) || {};
    state.channels.set(c.id, { ...old, ...c });
    renderSidebar();
  }
  function ordered() {
    const { channels, dms } = sidebarOrder([...state.channels.values()], me, collator);
    return { channels, dms, all: [...channels, ...dms] };
  }

  function renderSidebar() {
    if (!alive) return;
    const { channels, dms } = ordered();
    const item = (c) => {
      const unread = (c.unread || 0) > 0;
      const mentions = c.mentions || 0;
      const isDm = c.kind === 'dm';
      const others = isDm ? (c.members || []).filter((n) => n !== me) : [];
      const presence = isDm && others.length === 1 ? state.presence.get(others[0]) || 'offline' : null;
      const a = h('a', {
        href: `#/chat/${c.id}`, class: `chat-channel${unread ? ' chat-unread' : ''}${c.archived ? ' chat-archived' : ''}`,
        'data-channel': String(c.id), 'aria-current': c.id === state.current ? 'page' : null,
      },
      presence ? h('span', { class: `chat-presence chat-presence-${presence}`, title: t(`chat.presence.${presence}`) },
        h('span', { class: 'visually-hidden' }, t(`chat.presence.${presence}`))) : null,
      h('span', { class: 'chat-channel-name' }, isDm ? channelLabel(c, me) : `${c.kind === 'private' ? '🔒' : '#'} ${c.name}`),
      unread && !mentions ? h('span', { class: 'visually-hidden' }, `, ${t('chat.unread')}`) : null,
      mentions ? h('span', { class: 'chat-badge', 'aria-label': t('chat.mentions_n', { count: mentions }) }, String(mentions)) : null);
      return h('li', null, a);
    };
    channelList.replaceChildren(...(channels.length ? channels.map(item) : [h('li', { class: 'v-muted chat-none' }, t('chat.no_channels'))]));
    dmList.replaceChildren(...(dms.length ? dms.map(item) : [h('li', { class: 'v-muted chat-none' }, t('chat.no_dms'))]));
    // The tab's title counts what waits elsewhere.
    const waiting = [...state.channels.values()].reduce((n, c) => n + (c.mentions || 0), 0);
    document.title = `${waiting ? `(${waiting}) ` : ''}${baseTitle}`;
  }

  function renderHead() {
    const ch = currentChannel();
    channelTitle.textContent = ch ? labelOf(ch) : t('chat.title');
    channelTopic.textContent = ch ? ch.topic || '' : '';
    channelTopic.hidden = !(ch && ch.topic);
    pinsButton.hidden = !ch;
    leaveButton.hidden = !ch || ch.kind === 'dm';
    const label = ch ? t('chat.composer.label_in', { channel: labelOf(ch) }) : t('chat.composer.label');
    composer.setLabel(label);
    if (!ch) composer.setDisabled(true, t('chat.pick_channel'));
    else if (ch.archived) composer.setDisabled(true, t('chat.archived'));
    else composer.setDisabled(false);
  }

  async function loadChannels() {
    const r = await api('GET', '/api/v1/chat/channels');
    const list = Array.isArray(r.body) ? r.body : (r.body && r.body.channels) || [];
    state.channels = new Map(list.map((c) => [c.id, c]));
    state.loaded = true;
    state.failed = null;
    loadPresence();
  }
  const refetchChannels = debounce(() => {
    loadChannels().then(() => { renderSidebar(); renderHead(); }, () => {});
  }, 300);

  async function start() {
    try {
      await loadChannels();
    } catch (err) {
      state.failed = errorText(t, err);
      channelPane.replaceChildren(h('p', { class: 'v-error', role: 'alert' }, state.failed));
      return;
    }
    renderSidebar();
    const wanted = hashChannel(location.hash) ?? Number(stored(LAST));
    const first = state.channels.has(wanted) ? wanted : (ordered().all[0] || {}).id;
    if (first !== undefined) await selectChannel(first, { replaceHash: true });
    else renderHead();
  }

  /**
   * Shows channel `id`: its newest page, or the page around `aroundSeq` (a search hit, a
   * pin), with `highlight` (a message id) scrolled into view and focused.
   */
  async function selectChannel(id, { aroundSeq = null, highlight = null, replaceHash = false } = {}) {
    if (!alive || id === null || id === undefined) return;
    if (!state.channels.has(id)) {
      try {
        const r = await api('GET', `/api/v1/chat/channels/${id}`);
        upsertChannel(r.body);
      } catch (err) {
        status.say(errorText(t, err), { error: true });
        return;
      }
    }
    const changed = id !== state.current;
    if (changed) {
      if (state.current !== null) state.drafts.set(state.current, composer.input.value);
      state.current = id;
      state.messages = [];
      state.editing = null;
      state.suppressRead = false;
      state.hasOlder = false;
      state.hasNewer = false;
      composer.reset();
      composer.input.value = state.drafts.get(id) || '';
      store(LAST, id);
      nodeCache.clear();
    }
    const hash = `#/chat/${id}`;
    if (location.hash !== hash) {
      if (replaceHash) history.replaceState(null, '', hash);
      else history.pushState(null, '', hash);
    }
    closeSearchPane();
    renderSidebar();
    renderHead();
    renderTyping();
    if (aroundSeq !== null) await loadAround(aroundSeq);
    else if (changed || !state.messages.length) await loadLatest();
    if (highlight !== null) flash(highlight);
  }

  // ----- History -----
  async function fetchPage(params) {
    const q = new URLSearchParams({ limit: String(PAGE), ...params });
    const r = await api('GET', `/api/v1/chat/channels/${state.current}/messages?${q}`);
    const body = r.body || {};
    return { messages: Array.isArray(body) ? body : body.messages || [], hasMore: !!body.has_more };
  }

  async function loadLatest() {
    const seq = ++historySeq;
    const channel = state.current;
    state.loadingHistory = true;
    messageList.setAttribute('aria-busy', 'true');
    try {
      const page = await fetchPage({});
      if (seq !== historySeq || channel !== state.current) return;
      state.messages = mergeMessages([], page.messages);
      state.hasOlder = page.hasMore;
      state.hasNewer = false;
      renderMessages({ toBottom: true });
    } catch (err) {
      if (seq === historySeq) status.say(errorText(t, err), { error: true });
    } finally {
      if (seq === historySeq) {
        state.loadingHistory = false;
        messageList.removeAttribute('aria-busy');
      }
    }
    fillUp();
  }

  async function loadAround(aroundSeq) {
    const seq = ++historySeq;
    const channel = state.current;
    state.loadingHistory = true;
    try {
      const after = aroundAfter(aroundSeq, PAGE);
      const page = await fetchPage({ after: String(after) });
      if (seq !== historySeq || channel !== state.current) return;
      state.messages = mergeMessages([], page.messages);
      state.hasOlder = after > 0;
      state.hasNewer = page.hasMore;
      nodeCache.clear();
      renderMessages({ toBottom: false });
    } catch (err) {
      status.say(errorText(t, err), { error: true });
    } finally {
      if (seq === historySeq) state.loadingHistory = false;
    }
  }

  /** The next older page, keeping what is on screen where it is. */
  async function loadOlder() {
    if (!state.hasOlder || state.loadingHistory) return;
    const oldest = oldestStored(state.messages);
    if (!oldest) return;
    const seq = ++historySeq;
    const channel = state.current;
    state.loadingHistory = true;
    olderStatus.textContent = t('chat.loading_older');
    try {
      const page = await fetchPage({ before: String(oldest.seq) });
      if (seq !== historySeq || channel !== state.current) return;
      state.messages = mergeMessages(state.messages, page.messages);
      state.hasOlder = page.hasMore;
      renderMessages({ toBottom: false });
      olderStatus.textContent = state.hasOlder ? '' : t('chat.beginning');
    } catch (err) {
      olderStatus.textContent = errorText(t, err);
    } finally {
      if (seq === historySeq) state.loadingHistory = false;
    }
  }

  /** The next newer page after a jump back in history. */
  async function loadNewer() {
    if (!state.hasNewer || state.loadingHistory) return;
    const newest = newestStored(state.messages);
    if (!newest) return;
    const seq = ++historySeq;
    const channel = state.current;
    state.loadingHistory = true;
    try {
      const page = await fetchPage({ after: String(newest.seq) });
      if (seq !== historySeq || channel !== state.current) return;
      state.messages = mergeMessages(state.messages, page.messages);
      state.hasNewer = page.hasMore;
      renderMessages({ toBottom: false });
    } catch (err) {
      status.say(errorText(t, err), { error: true });
    } finally {
      if (seq === historySeq) state.loadingHistory = false;
    }
    maybeMarkRead();
  }

  /** Loads older pages until the list can scroll (a short first page leaves no way to ask). */
  async function fillUp() {
    for (let i = 0; i < 5 && alive && state.hasOlder && scroller.scrollHeight <= scroller.clientHeight + 10; i += 1) {
      await loadOlder();
    }
    maybeMarkRead();
  }

  scroller.addEventListener('scroll', () => {
    if (scroller.scrollTop < 200) loadOlder();
    if (state.hasNewer && atBottom()) loadNewer();
    maybeMarkRead();
  }, { passive: true });

  function atBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  }

  // ----- Rendering the message list -----
  /** key → {sig, node}: a message's element is rebuilt only when the message changed. */
  const nodeCache = new Map();

  function canModerate() {
    const ch = currentChannel();
    return siteAdmin || !!(ch && ch.role === 'admin');
  }

  const messageActions = {
    react: (m) => pickReaction({ t, onPick: (emoji) => setReaction(m, emoji, true) }),
    toggleReaction: (m, emoji) => {
      const r = (m.reactions || []).find((x) => x.emoji === emoji);
      setReaction(m, emoji, !(r && (r.users || []).includes(me)));
    },
    openThread: (m) => openThread(m),
    edit: (m) => { state.editing = m.id; rerenderAll(); },
    cancelEdit: () => { state.editing = null; rerenderAll(); (state.thread ? threadComposer : composer).focus(); },
    saveEdit: (m, text) => saveEdit(m, text),
    remove: (m) => removeMessage(m),
    pin: (m) => setPin(m, !m.pinned),
    markUnread: (m) => markUnread(m),
    retry: (p) => post(p),
    discard: (p) => { state.pending.delete(p.client_id); rerenderAll(); },
  };

  function nodeFor(m, inThread) {
    const key = m.id !== undefined && m.id !== null ? `${inThread ? 't' : 'c'}${m.id}` : `p${m.client_id}`;
    const editing = m.id !== undefined && m.id === state.editing;
    const mod = canModerate();
    const sig = JSON.stringify([m, editing, mod, m.failed || null]);
    const hit = nodeCache.get(key);
    if (hit && hit.sig === sig) return hit.node;
    const node = messageItem(m, { t, me, lang, canModerate: mod, inThread, editing, actions: messageActions });
    nodeCache.set(key, { sig, node });
    return node;
  }

  /** Puts `nodes` into `parent` in order, moving only what is out of place (focus stays). */
  function reconcile(parent, nodes) {
    let cur = parent.firstChild;
    for (const n of nodes) {
      if (n === cur) {
        cur = cur.nextSibling;
        continue;
      }
      parent.insertBefore(n, cur);
    }
    while (cur) {
      const next = cur.nextSibling;
      parent.removeChild(cur);
      cur = next;
    }
  }

  const separators = new Map();
  function separator(day, iso) {
    if (!separators.has(day)) {
      separators.set(day, h('li', { class: 'chat-day' }, h('span', null, dayFormat.format(new Date(iso)))));
    }
    return separators.get(day);
  }

  function withDays(list, inThread) {
    const nodes = [];
    let last = '';
    for (const m of list) {
      const day = localDay(m.created_at || new Date().toISOString());
      if (day && day !== last) {
        nodes.push(separator(`${inThread ? 't' : 'c'}${day}`, m.created_at || new Date().toISOString()));
        last = day;
      }
      nodes.push(nodeFor(m, inThread));
    }
    return nodes;
  }

  function pendingFor(channel, thread) {
    return [...state.pending.values()].filter((p) => p.channel === channel && (p.thread || null) === (thread || null));
  }

  function renderMessages({ toBottom = false } = {}) {
    if (!alive) return;
    const stick = toBottom || atBottom();
    // Keep the first visible message where it is when older ones are added above it.
    let anchor = null;
    let offset = 0;
    if (!stick) {
      for (const el of messageList.children) {
        const e = /** @type {HTMLElement} */ (el);
        if (e.offsetTop + e.offsetHeight > scroller.scrollTop) {
          anchor = e;
          offset = e.offsetTop - scroller.scrollTop;
          break;
        }
      }
    }
    const list = state.hasNewer ? state.messages : [...state.messages, ...pendingFor(state.current, null)];
    const nodes = withDays(list, false);
    if (!nodes.length && !state.loadingHistory) {
      nodes.push(h('li', { class: 'chat-empty v-muted' }, t('chat.empty')));
    }
    keeper.save();
    reconcile(messageList, nodes);
    keeper.restore(messageList);
    if (stick) scroller.scrollTop = scroller.scrollHeight;
    else if (anchor && anchor.isConnected) scroller.scrollTop = anchor.offsetTop - offset;
  }

  function rerenderAll() {
    renderMessages();
    renderThread();
  }

  function flash(id) {
    const el = /** @type {HTMLElement|null} */ (root.querySelector(`#chat-msg-${id}`));
    if (!el) return;
    el.scrollIntoView({ block: 'center' });
    el.classList.add('chat-flash');
    el.focus({ preventScroll: true });
    const timer = setTimeout(() => el.classList.remove('chat-flash'), 3000);
    timers.add(timer);
  }

  // ----- Receiving a message (a send's answer or a push event) -----
  function receive(m, op = 'edit') {
    if (!m || m.id === undefined) return;
    if (m.client_id && state.pending.has(m.client_id)) state.pending.delete(m.client_id);
    const inList = state.messages.some((x) => x.id === m.id);
    if (m.channel === state.current && !m.thread) {
      const oldest = oldestStored(state.messages);
      const inWindow = !oldest || m.seq >= oldest.seq || !state.hasOlder;
      if (inList || (op === 'new' && !state.hasNewer) || (op !== 'new' && inWindow && !state.hasNewer)) {
        state.messages = mergeMessages(state.messages, [m]);
        renderMessages();
      }
    }
    if (state.thread) {
      if (m.id === state.thread.root.id) state.thread.root = m;
      else if (m.thread === state.thread.root.id) state.thread.replies = mergeMessages(state.thread.replies, [m]);
      // Replying follows the thread again, and no `chat.follow` says so (docs/chat.md): the
      // user's own new reply, from this device or another, is the word.
      if (op === 'new' && m.thread === state.thread.root.id && m.author && m.author.name === me) state.thread.following = true;
      renderThread();
    }
  }

  // ----- Sending -----
  function sendError(err) {
    if (err && err.status === 413) return t('chat.error.too_long');
    if (err && err.status === 429) return t('chat.error.rate', { message: err.message || '' });
    if (err && err.status === 422) return t('chat.error.refused', { message: err.message || '' });
    if (err && err.status === 0) return t('chat.error.offline');
    return errorText(t, err);
  }

  function send(channel, thread, text, files) {
    if (channel === null || channel === undefined) return false;
    const p = {
      client_id: crypto.randomUUID(), channel, thread: thread || null, text, files: files || [],
      author: { name: me, display_name: ctx.me.display_name || me }, created_at: new Date().toISOString(),
      reactions: [], failed: null,
    };
    state.pending.set(p.client_id, p);
    if (thread) renderThread(true);
    else renderMessages({ toBottom: true });
    post(p);
    return true;
  }

  /** Posts a pending send; a retry reuses its client_id, so the server stores it once. */
  async function post(p) {
    p.failed = null;
    rerenderAll();
    try {
      const body = { text: p.text, client_id: p.client_id };
      if (p.thread) body.thread = p.thread;
      if (p.files.length) body.files = p.files.map((f) => f.id);
      const r = await api('POST', `/api/v1/chat/channels/${p.channel}/messages`, body);
      state.pending.delete(p.client_id);
      receive(r.body, 'new');
      rerenderAll();
    } catch (err) {
      if (!state.pending.has(p.client_id)) return;
      p.failed = sendError(err);
      rerenderAll();
    }
  }

  function sendTyping(channel) {
    if (channel === null || channel === undefined) return;
    api('POST', `/api/v1/chat/channels/${channel}/typing`, {}).catch(() => {});
  }

  // ----- Message actions -----
  function editLast(list, channel, thread) {
    const last = [...list].reverse().find((m) => m.id !== undefined && m.author && m.author.name === me && !m.deleted);
    if (!last) return false;
    state.editing = last.id;
    if (thread) renderThread(); else renderMessages();
    return true;
  }

  async function saveEdit(m, text) {
    if (text === m.text) {
      messageActions.cancelEdit();
      return;
    }
    try {
      const r = await api('PATCH', `/api/v1/chat/messages/${m.id}`, { text });
      state.editing = null;
      receive(r.body && r.body.id ? r.body : { ...m, text, edited_at: new Date().toISOString() });
      rerenderAll();
      (state.thread && m.thread ? threadComposer : composer).focus();
    } catch (err) {
      status.say(sendError(err), { error: true });
    }
  }

  async function removeMessage(m) {
    const ok = await confirmDialog(t, { title: t('chat.delete_title'), message: t('chat.delete_confirm'), confirmLabel: t('views.delete') });
    if (!ok) return;
    try {
      const r = await api('DELETE', `/api/v1/chat/messages/${m.id}`);
      receive(r.body && r.body.id ? r.body : { ...m, deleted: true, text: '', html: '', files: [], reactions: [] });
      status.say(t('chat.deleted_msg'));
    } catch (err) {
      status.say(errorText(t, err), { error: true });
    }
  }

  async function setReaction(m, emoji, on) {
    // Shown at once; the server's copy (answer or push) replaces it.
    const reactions = (m.reactions || []).map((r) => ({ ...r, users: [...(r.users || [])] }));
    let r = reactions.find((x) => x.emoji === emoji);
    if (on && !(r && r.users.includes(me))) {
      if (!r) { r = { emoji, count: 0, users: [] }; reactions.push(r); }
      r.users.push(me);
      r.count += 1;
    } else if (!on && r && r.users.includes(me)) {
      r.users = r.users.filter((u) => u !== me);
      r.count -= 1;
    }
    receive({ ...m, reactions: reactions.filter((x) => x.count > 0) });
    try {
      const res = await api(on ? 'PUT' : 'DELETE', `/api/v1/chat/messages/${m.id}/reactions/${encodeURIComponent(emoji)}`);
      if (res.body && res.body.id) receive(res.body);
    } catch (err) {
      receive(m);
      status.say(errorText(t, err), { error: true });
    }
  }

  async function setPin(m, on) {
    try {
      const r = await api(on ? 'PUT' : 'DELETE', `/api/v1/chat/messages/${m.id}/pin`);
      receive(r.body && r.body.id ? r.body : { ...m, pinned: on });
      status.say(t(on ? 'chat.pinned_msg' : 'chat.unpinned_msg'));
    } catch (err) {
      status.say(errorText(t, err), { error: true });
    }
  }

  async function markUnread(m) {
    const ch = state.channels.get(m.channel);
    if (!ch) return;
    const seq = Math.max(0, m.seq - 1);
    state.suppressRead = true;
    try {
      await api('POST', `/api/v1/chat/channels/${m.channel}/read`, { seq });
      upsertChannel({ ...ch, last_read_seq: seq });
      status.say(t('chat.marked_unread'));
    } catch (err) {
      status.say(errorText(t, err), { error: true });
    }
  }

  async function leaveChannel() {
    const ch = currentChannel();
    if (!ch) return;
    const ok = await confirmDialog(t, { title: t('chat.leave'), message: t('chat.leave_confirm', { channel: labelOf(ch) }), confirmLabel: t('chat.leave') });
    if (!ok) return;
    try {
      await api('DELETE', `/api/v1/chat/channels/${ch.id}/members/${encodeURIComponent(me)}`);
      dropChannel(ch.id);
    } catch (err) {
      status.say(errorText(t, err), { error: true });
    }
  }

  function dropChannel(id) {
    state.channels.delete(id);
    if (state.thread && state.thread.root.channel === id) closeThread();
    if (state.current === id) {
      state.current = null;
      state.messages = [];
      nodeCache.clear();
      renderMessages();
      const next = ordered().all[0];
      if (next) selectChannel(next.id, { replaceHash: true });
      else renderHead();
    }
    renderSidebar();
  }

  // ----- Threads -----
  async function openThread(m) {
    const rootId = m.thread || m.id;
    try {
      const r = await api('GET', `/api/v1/chat/messages/${rootId}/thread`);
      const b = r.body || {};
      state.thread = { root: b.root, replies: mergeMessages([], b.replies || []), following: !!b.following, last_read_seq: b.last_read_seq || 0 };
    } catch (err) {
      status.say(errorText(t, err), { error: true });
      return;
    }
    threadPane.hidden = false;
    layout.classList.add('chat-with-thread');
    renderThread(true);
    if (m.thread) flash(m.id);
    threadComposer.focus();
    markThreadRead();
  }

  function closeThread() {
    state.thread = null;
    threadPane.hidden = true;
    layout.classList.remove('chat-with-thread');
    threadComposer.reset();
    composer.focus();
  }

  function renderThread(toBottom = false) {
    if (!state.thread || !alive) return;
    const th = state.thread;
    followButton.setAttribute('aria-pressed', th.following ? 'true' : 'false');
    followButton.textContent = th.following ? t('chat.following') : t('chat.follow');
    const box = /** @type {HTMLElement} */ (threadList.parentElement);
    const stick = toBottom || box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const list = [th.root, ...th.replies, ...pendingFor(th.root.channel, th.root.id)];
    keeper.save();
    reconcile(threadList, withDays(list, true));
    keeper.restore(threadList);
    if (stick) box.scrollTop = box.scrollHeight;
    markThreadRead();
  }

  async function toggleFollow() {
    if (!state.thread) return;
    const th = state.thread;
    const on = !th.following;
    try {
      await api(on ? 'PUT' : 'DELETE', `/api/v1/chat/messages/${th.root.id}/follow`);
      th.following = on;
      renderThread();
    } catch (err) {
      status.say(errorText(t, err), { error: true });
    }
  }

  function markThreadRead() {
    const th = state.thread;
    if (!th || !looking()) return;
    const newest = newestStored(th.replies) || th.root;
    if (!newest || newest.seq <= th.last_read_seq) return;
    th.last_read_seq = newest.seq;
    api('POST', `/api/v1/chat/messages/${th.root.id}/read`, { seq: newest.seq }).catch(() => {});
  }

  // ----- Read state -----
  /** The user is looking at this page: visible, and no other window took the focus. */
  function looking() {
    return document.visibilityState === 'visible' && !windowBlurred;
  }

  function maybeMarkRead() {
    const ch = currentChannel();
    if (!ch || state.suppressRead || state.hasNewer || !looking() || !atBottom() || !searchPane.hidden) return;
    const newest = newestStored(state.messages);
    const seq = Math.max(ch.last_seq || 0, newest ? newest.seq : 0);
    if (seq <= (ch.last_read_seq || 0) && !ch.unread && !ch.mentions) return;
    if (readInFlight === seq) return;
    readInFlight = seq;
    upsertChannel({ ...ch, last_read_seq: seq, unread: 0, mentions: 0 });
    api('POST', `/api/v1/chat/channels/${ch.id}/read`, { seq }).catch(() => {}).finally(() => {
      if (readInFlight === seq) readInFlight = 0;
    });
  }

  const onVisibility = () => {
    setPresence(document.visibilityState === 'visible' ? 'online' : 'away');
    maybeMarkRead();
    markThreadRead();
  };
  const onFocus = () => { windowBlurred = false; maybeMarkRead(); markThreadRead(); };
  const onBlur = () => { windowBlurred = true; };
  document.addEventListener('visibilitychange', onVisibility);
  window.addEventListener('focus', onFocus);
  window.addEventListener('blur', onBlur);

  // ----- Typing and presence -----
  function renderTyping() {
    const now = Date.now();
    const map = state.typing.get(state.current) || new Map();
    for (const [user, until] of map) if (until <= now) map.delete(user);
    typingLine.textContent = typingText(t, [...map.keys()]);
  }

  /**
   * Whether an @here counts for this user now: online, which this page tells the server
   * while it is visible (away while hidden).
   */
  function hereNow() {
    return document.visibilityState === 'visible';
  }

  function setPresence(statusValue) {
    api('PUT', '/api/v1/chat/presence', { status: statusValue }).catch(() => {});
  }

  async function loadPresence() {
    const people = new Set();
    for (const c of state.channels.values()) if (c.kind === 'dm') for (const n of c.members || []) if (n !== me) people.add(n);
    if (!people.size) return;
    try {
      const r = await api('GET', `/api/v1/chat/presence?users=${encodeURIComponent([...people].slice(0, 100).join(','))}`);
      const b = r.body || {};
      const list = Array.isArray(b) ? b : b.users || Object.entries(b).map(([user, s]) => ({ user, status: s }));
      for (const p of list) if (p && (p.user || p.name)) state.presence.set(p.user || p.name, p.status);
      renderSidebar();
    } catch { /* presence is a nicety */ }
  }

  // ----- Search -----
  async function runSearch(q, more = false) {
    if (!more) state.search = { q, results: [], cursor: null, loading: true, error: null };
    const s = state.search;
    if (!s) return;
    s.loading = true;
    renderSearch();
    try {
      const params = new URLSearchParams({ q });
      if (more && s.cursor) params.set('cursor', s.cursor);
      const r = await api('GET', `/api/v1/chat/search?${params}`);
      if (state.search !== s) return;
      const b = r.body || {};
      const found = Array.isArray(b) ? b : b.messages || b.results || [];
      s.results = [...s.results, ...found];
      s.cursor = Array.isArray(b) ? null : b.cursor || b.next_cursor || null;
      s.error = null;
    } catch (err) {
      s.error = errorText(t, err);
    }
    s.loading = false;
    renderSearch();
  }

  function renderSearch() {
    const s = state.search;
    if (!s) return;
    channelPane.hidden = true;
    searchPane.hidden = false;
    const close = h('button', { type: 'button', class: 'secondary v-small' }, t('chat.search_close'));
    close.addEventListener('click', () => { closeSearchPane(); composer.focus(); });
    const items = s.results.map((m) => {
      // A result is `{message, channel}` (what the search door answers); a bare Message is read too.
      const msg = m.message || m;
      const ch = state.channels.get(msg.channel) || (m.channel && typeof m.channel === 'object' ? m.channel : null);
      const where = ch ? labelOf(ch) : '';
      const who = msg.author ? msg.author.display_name || msg.author.name : msg.bot ? msg.bot.name : '';
      const go = h('button', { type: 'button', class: 'v-linklike chat-result-open' }, t('chat.result_open', { channel: where }));
      go.addEventListener('click', () => jumpTo(msg));
      return h('li', { class: 'chat-result' },
        h('div', { class: 'chat-msg-head' }, h('span', { class: 'chat-result-channel' }, where), h('span', { class: 'chat-author' }, who),
          h('time', { datetime: msg.created_at }, new Date(msg.created_at).toLocaleString(lang, { dateStyle: 'medium', timeStyle: 'short' }))),
        // Results may carry only the Markdown source: it is shown as text then.
        h('div', { class: 'chat-text' }, msg.html ? renderMessageHtml(msg.html, { h, me }) : h('p', null, msg.text || '')), go);
    });
    const more = h('button', { type: 'button', class: 'secondary v-small' }, t('chat.more'));
    more.addEventListener('click', () => runSearch(s.q, true));
    const count = s.results.length;
    // replaceChildren() would turn a null into the text "null": only nodes go in.
    searchPane.replaceChildren(...[
      h('header', { class: 'chat-channel-head' }, h('h2', { id: 'chat-search-title', tabindex: '-1' }, t('chat.results_for', { q: s.q })), close),
      s.error ? h('p', { class: 'v-error', role: 'alert' }, s.error) : null,
      h('p', { class: 'v-muted', role: 'status' }, s.loading ? t('views.loading') : t(count === 1 ? 'chat.results_one' : 'chat.results_n', { count })),
      h('ol', { class: 'chat-results' }, items),
      s.cursor && !s.loading ? more : null,
    ].filter(Boolean));
  }

  function closeSearchPane() {
    state.search = null;
    searchPane.hidden = true;
    searchPane.replaceChildren();
    channelPane.hidden = false;
  }

  /** Goes to message `m`: its channel, the page around it (or its thread), highlighted. */
  async function jumpTo(m) {
    if (m.thread) {
      await selectChannel(m.channel);
      await openThread(m);
      return;
    }
    await selectChannel(m.channel, { aroundSeq: m.seq, highlight: m.id });
  }

  // ----- Notifications -----
  function renderNotifyOffer() {
    if (!notify.shouldOffer()) {
      notifyOffer.hidden = true;
      return;
    }
    const yes = h('button', { type: 'button', class: 'secondary v-small' }, t('chat.notify_on'));
    yes.addEventListener('click', async () => {
      const answer = await notify.ask();
      notifyOffer.hidden = true;
      status.say(t(answer === 'granted' ? 'chat.notify_granted' : 'chat.notify_denied'));
    });
    notifyOffer.replaceChildren(h('p', { class: 'v-hint' }, t('chat.notify_offer')), yes);
    notifyOffer.hidden = false;
  }

  function maybeNotify(m) {
    const ch = state.channels.get(m.channel);
    if (!ch || !m.author || m.author.name === me || m.deleted) return;
    if (ch.kind !== 'dm' && !mentionsMe(m, me, hereNow())) return;
    if (!notify.away()) return;
    const who = m.author.display_name || m.author.name;
    notify.show({
      title: ch.kind === 'dm' ? who : t('chat.notify_title', { who, channel: labelOf(ch) }),
      body: String(m.text || '').slice(0, 200),
      tag: `madang-chat-${m.id}`,
      onClick: () => jumpTo(m),
    });
  }

  // ----- Push -----
  function onMessage(data) {
    if (!data || !data.message) return;
    const m = data.message;
    const op = data.op || 'new';
    if (!state.channels.has(m.channel)) {
      refetchChannels();
      return;
    }
    if (op === 'new') {
      const ch = state.channels.get(m.channel);
      const typers = state.typing.get(m.channel);
      if (typers && m.author) typers.delete(m.author.name);
      renderTyping();
      upsertChannel(countArrival(ch, m, me, hereNow()));
      maybeNotify(m);
    }
    receive(m, op);
    // A new reply changes its root's count and participants: fetch the root unless the
    // server's own update of it (op "thread") comes along.
    if (op === 'new' && m.thread && m.channel === state.current && state.messages.some((x) => x.id === m.thread)) {
      refreshRoot(m.thread);
    }
    if (op === 'new' && m.channel === state.current) maybeMarkRead();
  }

  const rootsDue = new Set();
  const refreshRoots = debounce(async () => {
    const ids = [...rootsDue];
    rootsDue.clear();
    for (const id of ids) {
      try {
        const r = await api('GET', `/api/v1/chat/messages/${id}`);
        if (r.body && r.body.id) receive(r.body);
      } catch { /* the next event or a resync brings it */ }
    }
  }, 250);
  function refreshRoot(id) {
    rootsDue.add(id);
    refreshRoots();
  }

  function onChannel(data) {
    if (!data || !data.channel) return;
    const c = data.channel;
    if (data.op === 'left' || data.op === 'removed') dropChannel(c.id);
    else {
      upsertChannel(c);
      if (c.id === state.current) renderHead();
    }
  }

  function onRead(data) {
    if (!data) return;
    if (data.thread) {
      if (state.thread && state.thread.root.id === data.thread) state.thread.last_read_seq = data.last_read_seq;
      return;
    }
    const ch = state.channels.get(data.channel);
    if (!ch) return;
    upsertChannel({ ...ch, last_read_seq: data.last_read_seq, unread: data.unread ?? 0, mentions: data.mentions ?? 0 });
  }

  function onTypingEvent(data) {
    if (!data || data.user === me) return;
    if (!state.typing.has(data.channel)) state.typing.set(data.channel, new Map());
    state.typing.get(data.channel).set(data.user, Date.now() + TYPING_MS);
    if (data.channel === state.current) renderTyping();
    const timer = setTimeout(() => { timers.delete(timer); renderTyping(); }, TYPING_MS + 50);
    timers.add(timer);
  }

  /** The user followed or unfollowed a thread, here or on another device. */
  function onFollow(data) {
    if (!data || !state.thread || state.thread.root.id !== data.thread) return;
    state.thread.following = !!data.following;
    renderThread();
  }

  function onPresence(data) {
    if (!data || !data.user) return;
    state.presence.set(data.user, data.status);
    renderSidebar();
  }

  /** The server lost track of what this page saw: fetch again what is shown. */
  const onResync = debounce(async () => {
    try {
      await loadChannels();
    } catch {
      return;
    }
    renderSidebar();
    renderHead();
    if (state.current !== null && !state.channels.has(state.current)) dropChannel(state.current);
    else if (state.current !== null) {
      nodeCache.clear();
      await loadLatest();
    }
    if (state.thread) openThread(state.thread.root);
  }, 300);

  // A stream's `ready` (first connection, or a reconnect) starts from a head read after the
  // history this view fetched on mount: a message committed between the two is in neither, so
  // catch up once from the newest message shown (merged, never a reload of the list).
  const onReady = debounce(async () => {
    if (state.current === null || state.hasNewer) return;
    const channel = state.current;
    const newest = newestStored(state.messages);
    try {
      const page = await fetchPage(newest ? { after: String(newest.seq) } : {});
      if (!alive || channel !== state.current) return;
      for (const m of page.messages) receive(m, 'new');
    } catch { /* the next event or a resync brings it */ }
    maybeMarkRead();
  }, 300);

  const unsubscribe = [
    onPush('ready', () => onReady()),
    onPush('chat.message', onMessage),
    onPush('chat.channel', onChannel),
    onPush('chat.read', onRead),
    onPush('chat.follow', onFollow),
    onPush('chat.typing', onTypingEvent),
    onPush('chat.presence', onPresence),
    onPush('resync', () => onResync()),
  ];

  // ----- Keyboard and navigation -----
  frame.addEventListener('keydown', (e) => {
    if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
      const all = ordered().all;
      if (!all.length) return;
      e.preventDefault();
      const i = all.findIndex((c) => c.id === state.current);
      const next = all[(i + (e.key === 'ArrowDown' ? 1 : -1) + all.length) % all.length];
      selectChannel(next.id).then(() => status.say(labelOf(next)));
    } else if (e.key === 'Escape' && state.thread && threadPane.contains(/** @type {Node} */ (e.target))) {
      closeThread();
    }
  });
  sidebar.addEventListener('click', (e) => {
    const a = /** @type {HTMLElement} */ (e.target).closest('a[data-channel]');
    if (!a) return;
    e.preventDefault();
    selectChannel(Number(a.getAttribute('data-channel'))).then(() => composer.focus());
  });

  renderHead();
  renderNotifyOffer();
  setPresence('online');
  start();

  return {
    /** The hash changed while this view stays (app.js): `#/chat/<id>` names another channel. */
    navigate(hash) {
      const id = hashChannel(hash);
      if (id !== null && id !== state.current) selectChannel(id, { replaceHash: true });
    },
    unmount() {
      alive = false;
      for (const u of unsubscribe) u();
      for (const timer of timers) clearTimeout(timer);
      refetchChannels.cancel();
      refreshRoots.cancel();
      onResync.cancel();
      onReady.cancel();
      document.removeEventListener('visibilitychange', onVisibility);
      window.removeEventListener('focus', onFocus);
      window.removeEventListener('blur', onBlur);
      for (const d of document.querySelectorAll('dialog.v-dialog')) /** @type {HTMLDialogElement} */ (d).close();
      root.replaceChildren();
    },
  };
}
