// What the Tasks and Contacts views share: dialogs that give focus back, a polite live region,
// debouncing, error sentences, labelled fields. Nothing here touches innerHTML:
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

/**
 * Sets a `<select>`'s options to `[value, label]` pairs, only when they changed: rebuilding
 * the options of a focused select under a keyboard user (on every push) would lose their place.
 */
export function setOptions(sel, options, value) {
  const sig = JSON.stringify(options);
  if (sel.dataset.sig !== sig) {
    sel.replaceChildren(...options.map(([v, label]) => h('option', { value: String(v) }, label)));
    sel.dataset.sig = sig;
  }
  if (value !== undefined && value !== null) sel.value = String(value);
}
