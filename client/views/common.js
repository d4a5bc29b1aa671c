// What the Tasks and Contacts views share: dialogs that give focus back, a polite live region,
// debouncing, error sentences, and reading the API's dates. Nothing here touches innerHTML:
// every node is built with `h` from ui.js, so data never becomes markup.

import { h } from '../ui.js';

/** `fn` runs once, `ms` after the last call; `.cancel()` drops a pending run. */
export function debounce(fn, ms) {
  let timer = null;
  const run = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => { timer = null; fn(...args); }, ms);
  };
  run.cancel = () => { clearTimeout(timer); timer = null; };
  return run;
}

/** A live region: screen readers hear what changed ("Task saved") without moving focus. */
export function liveRegion() {
  const node = h('p', { class: 'v-status', role: 'status', 'aria-live': 'polite' });
  let clear = null;
  return {
    node,
    say(text, { error = false } = {}) {
      node.textContent = text;
      node.classList.toggle('v-status-error', error);
      clearTimeout(clear);
      clear = setTimeout(() => { node.textContent = ''; }, 8000);
    },
  };
}

/**
 * A modal `<dialog>` titled `title`, holding `content`. Escape closes it (the browser's
 * `cancel`); when it closes, by any path, it is removed and focus goes back to what had it
 * before (or to `returnTo()` when that is gone, e.g. a deleted row), as WAI-ARIA's dialog
 * pattern asks.
 */
export function openDialog({ title, content, onClose, returnTo, className = '' }) {
  const opener = document.activeElement;
  const openerKey = opener?.dataset?.focusKey;
  const id = `v-dlg-${Math.random().toString(36).slice(2)}`;
  const heading = h('h2', { id, class: 'v-dialog-title' }, title);
  const dialog = h('dialog', { class: `v-dialog ${className}`.trim(), 'aria-labelledby': id }, heading, content);
  let focusNext = null;
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (onClose) onClose(dialog.returnValue);
    const chosen = focusNext && focusNext();
    // A re-render while the dialog was open replaces the opener: its twin has the same key.
    const twin = !opener?.isConnected && openerKey
      ? document.querySelector(`[data-focus-key="${CSS.escape(openerKey)}"]`) : null;
    const live = opener && opener.isConnected && opener !== document.body ? opener : twin;
    const back = chosen || live || (returnTo && returnTo());
    if (back && typeof back.focus === 'function') back.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  const first = dialog.querySelector('[autofocus]') ||
    dialog.querySelector('input:not([type=hidden]), select, textarea, button');
  if (first) first.focus();
  // `close(value, focus)`: `focus()` names where focus goes instead of the opener (asked when
  // the dialog has closed, which the browser reports a moment later, after re-rendering).
  return {
    dialog,
    close: (value = '', focus = null) => {
      focusNext = focus;
      if (dialog.open) dialog.close(value);
    },
  };
}

/** Ask a yes/no question in a dialog; resolves true when confirmed. */
export function confirmDialog(t, { title, message, confirmLabel }) {
  return new Promise((resolve) => {
    let answer = false;
    const yes = h('button', { type: 'button', class: 'v-danger' }, confirmLabel);
    const no = h('button', { type: 'button', class: 'secondary', autofocus: true }, t('views.cancel'));
    const d = openDialog({
      title,
      content: h('div', {}, h('p', {}, message), h('div', { class: 'v-actions' }, no, yes)),
      onClose: () => resolve(answer),
    });
    yes.addEventListener('click', () => { answer = true; d.close('yes'); });
    no.addEventListener('click', () => d.close('no'));
  });
}

/** A sentence for an API error: the 412 "changed elsewhere" case gets its own. */
export function errorText(t, err) {
  if (err && err.status === 412) return t('views.error.changed');
  if (err && err.status === 409) return t('views.error.conflict');
  if (err && err.message) return t('views.error.with', { message: err.message });
  return t('views.error.generic');
}

/** A labelled control: `<div class=v-field><label for=id>text</label>control hint?</div>`. */
export function field(labelText, control, hint) {
  if (!control.id) control.id = `v-f-${Math.random().toString(36).slice(2)}`;
  const parts = [h('label', { for: control.id }, labelText), control];
  if (hint) {
    const hintId = `${control.id}-hint`;
    control.setAttribute('aria-describedby', hintId);
    parts.push(h('p', { class: 'v-hint', id: hintId }, hint));
  }
  return h('div', { class: 'v-field' }, ...parts);
}

/** A `<select>` with `[value, label]` options and `value` selected. */
export function select(options, value, attrs = {}) {
  const s = h('select', attrs, ...options.map(([v, label]) => h('option', { value: String(v) }, label)));
  s.value = String(value ?? '');
  return s;
}

/** The viewer's IANA zone ("Asia/Seoul"). */
export function viewerZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; }
}

/** The language of the page (`<html lang>`), for Intl formatting. */
export function lang() {
  return document.documentElement.lang || 'en';
}

/**
 * The instant (ms since the epoch) of an API time `{date}` / `{date_time, time_zone}`.
 * A date is its local midnight; a floating time is read in the viewer's zone; a zoned wall
 * time is converted with Intl (the offset at that moment, found by two refinements).
 */
export function whenInstant(when) {
  if (!when) return null;
  if (when.date) {
    const [y, m, d] = when.date.split('-').map(Number);
    return new Date(y, m - 1, d).getTime();
  }
  if (!when.date_time) return null;
  const wall = when.date_time.replace(/Z$/, '');
  const zone = when.time_zone;
  if (!zone) return new Date(wall).getTime();
  if (zone === 'UTC') return Date.parse(`${wall}Z`);
  const asUtc = Date.parse(`${wall}Z`);
  if (Number.isNaN(asUtc)) return null;
  let guess = asUtc;
  for (let i = 0; i < 2; i += 1) guess = asUtc - zoneOffset(zone, guess);
  return guess;
}

/** The offset (ms) of `zone` at `instant`. */
function zoneOffset(zone, instant) {
  try {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    }).formatToParts(new Date(instant));
    const n = (type) => Number(parts.find((p) => p.type === type)?.value);
    const wall = Date.UTC(n('year'), n('month') - 1, n('day'), n('hour') % 24, n('minute'), n('second'));
    return wall - Math.floor(instant / 1000) * 1000;
  } catch {
    return 0;
  }
}

/** A short human label for an API time, in the viewer's language and zone. */
export function whenLabel(when) {
  if (!when) return '';
  if (when.date) {
    const [y, m, d] = when.date.split('-').map(Number);
    return new Intl.DateTimeFormat(lang(), { dateStyle: 'medium' }).format(new Date(y, m - 1, d));
  }
  const at = whenInstant(when);
  if (at === null || Number.isNaN(at)) return when.date_time || '';
  return new Intl.DateTimeFormat(lang(), { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(at));
}

/** `YYYY-MM-DD` of a local Date. */
export function isoDate(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/**
 * Keeps keyboard focus across a re-render: elements that can hold focus carry
 * `data-focus-key`; `save()` before replacing the DOM, `restore(container)` after.
 */
export function focusKeeper() {
  let key = null;
  return {
    save() { key = document.activeElement?.dataset?.focusKey ?? null; },
    restore(container) {
      if (!key) return;
      const el = container.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
      if (el) el.focus();
      key = null;
    },
  };
}
