// The chat view's dialogs: browse and join public channels, create a channel, start a direct
// message (people picked through `GET /chat/users?q=`), the reaction picker (common emoji plus
// free input) and the channel's pins. Every one is a native modal <dialog> (common.js), so
// focus is trapped and goes back where it was.

import { h } from '../../ui.js';
import { debounce, errorText, field, openDialog } from '../common.js';
import { renderMessageHtml } from './sanitize.js';

export const COMMON_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀', '✅', '🚀'];

/** Browse public channels; `onOpen(channel)` when one is opened or joined. */
export function browseChannels({ t, api, me, onOpen }) {
  const q = h('input', { type: 'search', autocomplete: 'off' });
  const list = h('ul', { class: 'chat-browse', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'secondary v-small', hidden: true }, t('chat.more'));
  const err = h('p', { class: 'v-error', role: 'alert' });
  const close = h('button', { type: 'button', class: 'secondary' }, t('views.close'));
  let cursor = null;
  let seq = 0;

  async function load(append) {
    const mine = ++seq;
    err.textContent = '';
    try {
      const params = new URLSearchParams({ q: q.value.trim() });
      if (append && cursor) params.set('cursor', cursor);
      const r = await api('GET', `/api/v1/chat/channels/browse?${params}`);
      if (mine !== seq) return;
      const body = r.body || {};
      const channels = Array.isArray(body) ? body : body.channels || [];
      cursor = Array.isArray(body) ? null : body.cursor || body.next_cursor || null;
      more.hidden = !cursor;
      const items = channels.map((c) => {
        const action = h('button', { type: 'button', class: c.member ? 'secondary v-small' : 'v-small' },
          c.member ? t('chat.open') : t('chat.join'));
        action.addEventListener('click', async () => {
          try {
            if (!c.member) await api('PUT', `/api/v1/chat/channels/${c.id}/members/${encodeURIComponent(me)}`, {});
            d.close('open');
            onOpen(c);
          } catch (e) {
            err.textContent = errorText(t, e);
          }
        });
        return h('li', { class: 'chat-browse-item' },
          h('div', null, h('strong', null, `#${c.name}`), ' ',
            h('span', { class: 'v-muted' }, t('chat.member_count', { count: c.member_count ?? 0 })),
            c.topic ? h('p', { class: 'v-hint' }, c.topic) : null),
          action);
      });
      if (append) list.append(...items);
      else list.replaceChildren(...(items.length ? items : [h('li', { class: 'v-muted' }, t('chat.browse_none'))]));
    } catch (e) {
      err.textContent = errorText(t, e);
    }
  }
  const search = debounce(() => load(false), 200);
  q.addEventListener('input', search);
  more.addEventListener('click', () => load(true));
  const d = openDialog({
    title: t('chat.browse'),
    content: h('div', { class: 'v-form' }, field(t('chat.browse_search'), q), err, list, more, h('div', { class: 'v-actions' }, close)),
    onClose: () => search.cancel(),
  });
  close.addEventListener('click', () => d.close('close'));
  load(false);
}

/** Create a channel; `onCreated(channel)` with the server's answer. */
export function createChannel({ t, api, onCreated }) {
  const name = h('input', { type: 'text', required: true, maxlength: '80', autocomplete: 'off', autofocus: true });
  const topic = h('input', { type: 'text', maxlength: '250', autocomplete: 'off' });
  const pub = h('input', { type: 'radio', name: 'chat-kind', value: 'public', id: 'chat-kind-public', checked: true });
  const priv = h('input', { type: 'radio', name: 'chat-kind', value: 'private', id: 'chat-kind-private' });
  const kinds = h('fieldset', { class: 'chat-kinds' }, h('legend', null, t('chat.kind')),
    h('div', { class: 'v-check' }, pub, h('label', { for: 'chat-kind-public' }, t('chat.kind.public'))),
    h('div', { class: 'v-check' }, priv, h('label', { for: 'chat-kind-private' }, t('chat.kind.private'))));
  const err = h('p', { class: 'v-error', role: 'alert' });
  const save = h('button', { type: 'submit' }, t('chat.create'));
  const cancel = h('button', { type: 'button', class: 'secondary' }, t('views.cancel'));
  const form = h('form', { class: 'v-form', novalidate: true },
    field(t('chat.channel_name'), name, t('chat.channel_name_hint')), kinds, field(t('chat.topic'), topic),
    err, h('div', { class: 'v-actions' }, cancel, save));
  const d = openDialog({ title: t('chat.new_channel'), content: form });
  cancel.addEventListener('click', () => d.close('cancel'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const n = /** @type {HTMLInputElement} */ (name).value.trim().replace(/^#/, '');
    if (!n) {
      err.textContent = t('chat.error.name');
      name.focus();
      return;
    }
    save.disabled = true;
    try {
      const body = { name: n, kind: /** @type {HTMLInputElement} */ (priv).checked ? 'private' : 'public' };
      const tp = /** @type {HTMLInputElement} */ (topic).value.trim();
      if (tp) body.topic = tp;
      const r = await api('POST', '/api/v1/chat/channels', body);
      d.close('created');
      onCreated(r.body);
    } catch (e2) {
      err.textContent = errorText(t, e2);
    } finally {
      save.disabled = false;
    }
  });
}

/** Pick people and open the DM with them; `onOpened(channel)`. */
export function startDm({ t, api, me, onOpened }) {
  const q = h('input', { type: 'search', autocomplete: 'off', autofocus: true });
  const found = h('ul', { class: 'chat-people', 'aria-label': t('chat.dm_found') });
  const chosenList = h('ul', { class: 'chat-chosen', 'aria-label': t('chat.dm_chosen'), 'aria-live': 'polite' });
  const err = h('p', { class: 'v-error', role: 'alert' });
  const start = h('button', { type: 'submit', disabled: true }, t('chat.dm_start'));
  const cancel = h('button', { type: 'button', class: 'secondary' }, t('views.cancel'));
  /** @type {Map<string, string>} */
  const chosen = new Map();
  let seq = 0;

  function renderChosen() {
    chosenList.replaceChildren(...[...chosen].map(([name, label]) => {
      const rm = h('button', { type: 'button', class: 'secondary v-small', 'aria-label': t('chat.dm_remove', { name: label }) }, '×');
      rm.addEventListener('click', () => { chosen.delete(name); renderChosen(); q.focus(); });
      return h('li', { class: 'chat-chip' }, label, ' ', rm);
    }));
    start.disabled = chosen.size === 0;
  }
  const search = debounce(async () => {
    const mine = ++seq;
    try {
      const r = await api('GET', `/api/v1/chat/users?q=${encodeURIComponent(/** @type {HTMLInputElement} */ (q).value.trim())}`);
      if (mine !== seq) return;
      const people = (Array.isArray(r.body) ? r.body : (r.body && r.body.users) || []).filter((p) => p.name !== me);
      found.replaceChildren(...people.slice(0, 20).map((p) => {
        const label = p.display_name && p.display_name !== p.name ? `${p.display_name} (@${p.name})` : `@${p.name}`;
        const add = h('button', { type: 'button', class: 'secondary v-small', 'aria-label': t('chat.dm_add', { name: label }) }, t('chat.add'));
        add.addEventListener('click', () => { chosen.set(p.name, label); renderChosen(); q.focus(); });
        return h('li', { class: 'chat-person' }, h('span', { class: `chat-presence chat-presence-${p.presence || 'offline'}`, 'aria-hidden': 'true' }), label, ' ', add);
      }));
    } catch (e) {
      err.textContent = errorText(t, e);
    }
  }, 150);
  q.addEventListener('input', search);
  const form = h('form', { class: 'v-form' }, field(t('chat.dm_search'), q), found,
    h('h3', { class: 'chat-subhead' }, t('chat.dm_chosen')), chosenList, err, h('div', { class: 'v-actions' }, cancel, start));
  const d = openDialog({ title: t('chat.new_dm'), content: form, onClose: () => search.cancel() });
  cancel.addEventListener('click', () => d.close('cancel'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!chosen.size) return;
    try {
      const r = await api('POST', '/api/v1/chat/dms', { users: [...chosen.keys()] });
      d.close('open');
      onOpened(r.body);
    } catch (e2) {
      err.textContent = errorText(t, e2);
    }
  });
  search();
}

/** The reaction picker; `onPick(emoji)`. */
export function pickReaction({ t, onPick }) {
  const free = h('input', { type: 'text', maxlength: '32', autocomplete: 'off', class: 'chat-emoji-free' });
  const err = h('p', { class: 'v-error', role: 'alert' });
  const grid = h('div', { class: 'chat-emoji-grid', role: 'group', 'aria-label': t('chat.emoji_common') },
    ...COMMON_EMOJI.map((e) => {
      const b = h('button', { type: 'button', class: 'secondary chat-emoji', 'aria-label': t('chat.react_with', { emoji: e }) }, e);
      b.addEventListener('click', () => { d.close('pick'); onPick(e); });
      return b;
    }));
  const add = h('button', { type: 'submit', class: 'v-small' }, t('chat.add'));
  const cancel = h('button', { type: 'button', class: 'secondary' }, t('views.cancel'));
  const form = h('form', { class: 'v-form' }, grid, h('div', { class: 'chat-emoji-row' }, field(t('chat.emoji_other'), free), add), err,
    h('div', { class: 'v-actions' }, cancel));
  const d = openDialog({ title: t('chat.react'), content: form, className: 'chat-emoji-dialog' });
  cancel.addEventListener('click', () => d.close('cancel'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = /** @type {HTMLInputElement} */ (free).value.trim();
    if (!v || /\s/.test(v)) {
      err.textContent = t('chat.error.emoji');
      return;
    }
    d.close('pick');
    onPick(v);
  });
}

/** The channel's pinned messages; `onJump(message)` to go to one. */
export async function showPins({ t, api, me, channel, label, onJump }) {
  const list = h('ol', { class: 'chat-pins' }, h('li', { class: 'v-muted' }, t('views.loading')));
  const close = h('button', { type: 'button', class: 'secondary' }, t('views.close'));
  const d = openDialog({ title: t('chat.pins_of', { channel: label }), content: h('div', null, list, h('div', { class: 'v-actions' }, close)) });
  close.addEventListener('click', () => d.close('close'));
  try {
    const r = await api('GET', `/api/v1/chat/channels/${channel.id}/pins`);
    const pins = Array.isArray(r.body) ? r.body : (r.body && r.body.messages) || [];
    list.replaceChildren(...(pins.length ? pins.map((m) => {
      const go = h('button', { type: 'button', class: 'secondary v-small' }, t('chat.jump'));
      go.addEventListener('click', () => { d.close('jump'); onJump(m); });
      return h('li', { class: 'chat-pin' },
        h('strong', null, m.author ? m.author.display_name || m.author.name : m.bot ? m.bot.name : ''), ' ',
        h('div', { class: 'chat-text' }, renderMessageHtml(m.html || '', { h, me })), go);
    }) : [h('li', { class: 'v-muted' }, t('chat.pins_none'))]));
  } catch (e) {
    list.replaceChildren(h('li', { class: 'v-error' }, errorText(t, e)));
  }
}
