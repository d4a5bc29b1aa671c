// One chat message as a list item: author, time, "edited", the rebuilt body (sanitize.js) or
// a tombstone, files (image thumbnails, download buttons), reactions with their counts and
// who, the thread's reply count, and the actions (react, reply, edit, delete, pin, mark
// unread). Pending and failed sends show their state and a retry.

import { h } from '../../ui.js';
import { download, imageDataUrl } from './files.js';
import { formatSize } from './model.js';
import { renderMessageHtml } from './sanitize.js';

/** The largest thumbnail shown inline, in CSS pixels. */
const THUMB = 240;

/**
 * @param {any} msg
 * @param {{
 *   t: (key: string, vars?: any) => string, me: string, lang: string,
 *   canModerate: boolean, inThread: boolean, editing: boolean,
 *   actions: Record<string, (msg: any, extra?: any) => void>,
 * }} ctx
 */
export function messageItem(msg, ctx) {
  const { t, me, actions } = ctx;
  const pending = msg.id === undefined || msg.id === null;
  const mine = !!(msg.author && msg.author.name === me);
  const classes = ['chat-msg'];
  if (pending) classes.push('chat-msg-pending');
  if (msg.failed) classes.push('chat-msg-failed');
  if (msg.deleted) classes.push('chat-msg-deleted');
  if (mine) classes.push('chat-msg-mine');
  if (msg.pinned) classes.push('chat-msg-pinned');
  const who = msg.bot ? msg.bot.name : msg.author ? msg.author.display_name || msg.author.name : t('chat.unknown_author');
  const li = h('li', {
    class: classes.join(' '),
    id: pending ? `chat-pending-${msg.client_id}` : `chat-msg-${msg.id}`,
    'data-id': pending ? null : String(msg.id),
    'data-seq': pending ? null : String(msg.seq),
    tabindex: '-1',
  });

  const when = new Date(msg.created_at || Date.now());
  const time = h('time', {
    datetime: when.toISOString(),
    title: when.toLocaleString(ctx.lang, { dateStyle: 'full', timeStyle: 'short' }),
  }, when.toLocaleTimeString(ctx.lang, { hour: '2-digit', minute: '2-digit' }));
  const head = h('div', { class: 'chat-msg-head' },
    h('span', { class: 'chat-author' }, who),
    msg.bot ? h('span', { class: 'chat-bot' }, t('chat.bot')) : null,
    time,
    msg.edited_at && !msg.deleted ? h('span', { class: 'chat-edited', title: new Date(msg.edited_at).toLocaleString(ctx.lang) }, t('chat.edited')) : null,
    msg.pinned ? h('span', { class: 'chat-pin-mark' }, t('chat.pinned')) : null);
  li.append(head);

  if (msg.deleted) {
    li.append(h('p', { class: 'chat-tombstone' }, t('chat.deleted')));
    return li;
  }

  if (ctx.editing) {
    li.append(editForm(msg, ctx));
  } else {
    const body = h('div', { class: 'chat-text' });
    const nodes = msg.html !== undefined && msg.html !== null && !pending
      ? renderMessageHtml(msg.html, { h, me })
      : [h('p', null, msg.text || '')];
    body.append(...nodes.map((n) => (typeof n === 'string' ? document.createTextNode(n) : n)));
    li.append(body);
  }

  if (msg.files && msg.files.length) li.append(fileList(msg.files, t));

  if (pending) {
    if (msg.failed) {
      const retry = h('button', { type: 'button', class: 'secondary v-small' }, t('chat.retry'));
      retry.addEventListener('click', () => actions.retry(msg));
      const discard = h('button', { type: 'button', class: 'secondary v-small' }, t('chat.discard'));
      discard.addEventListener('click', () => actions.discard(msg));
      li.append(h('p', { class: 'chat-send-error', role: 'alert' }, msg.failed), h('div', { class: 'chat-msg-actions-inline' }, retry, discard));
    } else {
      li.append(h('p', { class: 'chat-sending v-muted' }, t('chat.sending')));
    }
    return li;
  }

  if (msg.reactions && msg.reactions.length) {
    const list = h('div', { class: 'chat-reactions', role: 'group', 'aria-label': t('chat.reactions') });
    for (const r of msg.reactions) {
      const users = r.users || [];
      const minePressed = users.includes(me);
      const b = h('button', {
        type: 'button', class: `chat-reaction${minePressed ? ' chat-reaction-mine' : ''}`,
        'aria-pressed': minePressed ? 'true' : 'false',
        title: users.join(', '),
        'aria-label': t('chat.reaction_label', { emoji: r.emoji, count: r.count, users: users.join(', ') }),
        'data-emoji': r.emoji,
        'data-focus-key': `r:${msg.id}:${r.emoji}`,
      }, h('span', { 'aria-hidden': 'true' }, `${r.emoji} ${r.count}`));
      b.addEventListener('click', () => actions.toggleReaction(msg, r.emoji));
      list.append(b);
    }
    li.append(list);
  }

  if (!ctx.inThread && !msg.thread && msg.reply_count > 0) {
    const b = h('button', { type: 'button', class: 'v-linklike chat-replies', 'data-focus-key': `t:${msg.id}` },
      t(msg.reply_count === 1 ? 'chat.replies.one' : 'chat.replies.many', { count: msg.reply_count }));
    b.addEventListener('click', () => actions.openThread(msg));
    li.append(b);
  }

  li.append(actionBar(msg, ctx, mine));
  return li;
}

function actionBar(msg, ctx, mine) {
  const { t, actions } = ctx;
  const bar = h('div', { class: 'chat-msg-actions', role: 'toolbar', 'aria-label': t('chat.actions') });
  const add = (label, name, extra = {}) => {
    const b = h('button', { type: 'button', class: 'secondary v-small', 'data-focus-key': `a:${msg.id}:${name}`, ...extra }, label);
    b.addEventListener('click', () => actions[name](msg, b));
    bar.append(b);
  };
  add(t('chat.action.react'), 'react', { 'aria-haspopup': 'dialog' });
  if (!ctx.inThread && !msg.thread) add(t('chat.action.reply'), 'openThread');
  if (mine) add(t('chat.action.edit'), 'edit');
  if (mine || ctx.canModerate) add(t('chat.action.delete'), 'remove');
  add(msg.pinned ? t('chat.action.unpin') : t('chat.action.pin'), 'pin');
  if (!ctx.inThread && !msg.thread) add(t('chat.action.unread'), 'markUnread');
  return bar;
}

function editForm(msg, ctx) {
  const { t, actions } = ctx;
  const area = /** @type {HTMLTextAreaElement} */ (h('textarea', { class: 'chat-input', rows: '3', 'aria-label': t('chat.edit_label') }));
  area.value = msg.text || '';
  const save = h('button', { type: 'submit', class: 'v-small' }, t('views.save'));
  const cancel = h('button', { type: 'button', class: 'secondary v-small' }, t('views.cancel'));
  const form = h('form', { class: 'chat-edit' }, area, h('div', { class: 'chat-msg-actions-inline' }, cancel, save),
    h('p', { class: 'v-hint' }, t('chat.edit_hint')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    actions.saveEdit(msg, area.value);
  });
  cancel.addEventListener('click', () => actions.cancelEdit(msg));
  area.addEventListener('keydown', (e) => {
    if (e.isComposing || e.keyCode === 229) return;
    if (e.key === 'Escape') {
      e.preventDefault();
      actions.cancelEdit(msg);
    } else if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      actions.saveEdit(msg, area.value);
    }
  });
  // Focus once the item is in the document.
  setTimeout(() => {
    if (area.isConnected) {
      area.focus();
      area.setSelectionRange(area.value.length, area.value.length);
    }
  }, 0);
  return form;
}

function fileList(files, t) {
  const list = h('ul', { class: 'chat-files', 'aria-label': t('chat.files') });
  for (const f of files) {
    // An image the server could read (it measured it or made a thumbnail) is shown inline.
    const image = /^image\//.test(f.content_type || '') && ((f.width && f.height) || f.thumbnail_url);
    const label = `${f.name} (${formatSize(f.size)})`;
    if (image) {
      // The box is sized before the bytes arrive, so the list does not jump when they do.
      const scale = f.width && f.height ? Math.min(1, THUMB / Math.max(f.width, f.height)) : 0;
      const img = /** @type {HTMLImageElement} */ (h('img', {
        alt: f.name, class: 'chat-thumb', decoding: 'async',
        width: scale ? String(Math.max(1, Math.round(f.width * scale))) : null,
        height: scale ? String(Math.max(1, Math.round(f.height * scale))) : null,
      }));
      imageDataUrl(f.thumbnail_url || f.url).catch(() => imageDataUrl(f.url)).then((src) => { img.src = src; }, () => {
        img.replaceWith(h('span', { class: 'v-muted' }, t('chat.file_unavailable')));
      });
      const open = h('button', { type: 'button', class: 'chat-thumb-button', 'aria-label': t('chat.download_named', { name: label }) }, img);
      open.addEventListener('click', () => download(f.url, f.name).catch(() => {}));
      list.append(h('li', { class: 'chat-file chat-file-image' }, open));
    } else {
      const b = h('button', { type: 'button', class: 'v-linklike chat-file-link', 'aria-label': t('chat.download_named', { name: label }) },
        h('span', { 'aria-hidden': 'true' }, '📎 '), label);
      b.addEventListener('click', () => download(f.url, f.name).catch(() => {}));
      list.append(h('li', { class: 'chat-file' }, b));
    }
  }
  return list;
}
