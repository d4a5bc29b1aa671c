// Small DOM helpers for the web client: `h()` builds elements without ever parsing markup
// (data becomes text nodes and attribute values, never HTML), native modal dialogs that give
// focus back, toasts in a live region, and focus handling.

/** Properties set after the children exist (a <select>'s value needs its options). */
const PROPERTIES = new Set(['value', 'checked', 'selected', 'indeterminate']);

/**
 * Creates `<tag>` with `attrs` and `children`. Attributes: `class`, `for`, `aria-*`,
 * `data-*` and the rest as they are; `true` sets a boolean attribute, `false`/`null`/
 * `undefined` leaves it out; a function under `on<event>` (`onclick`) becomes a listener;
 * `value`, `checked`, `selected` are set as properties. Children: nodes, strings (as text),
 * numbers, arrays of those; `null`/`false` are skipped. No inline `style`: the CSP forbids
 * it, set `el.style.x` instead.
 *
 * @param {string} tag
 * @param {Record<string, any>|null} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  /** @type {[string, any][]} */
  const later = [];
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (PROPERTIES.has(name)) {
      later.push([name, value]);
    } else if (name === 'style') {
      throw new Error('h(): no inline style attribute (CSP); set el.style instead');
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  for (const [name, value] of later) /** @type {any} */ (el)[name] = value;
  return el;
}

/** Appends children as `h()` takes them. */
export function append(/** @type {Node} */ parent, /** @type {any[]} */ children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Removes every child of `el`. */
export function clear(/** @type {Element} */ el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** A process-unique id for label/aria references. */
let counter = 0;
export function uid(prefix = 'm') {
  counter += 1;
  return `${prefix}-${counter}`;
}

/**
 * A labelled form field: `<div class="field"><label for=id>label</label>control hint</div>`.
 *
 * @param {string} label
 * @param {HTMLElement} control
 * @param {string} [hint]
 */
export function labelled(label, control, hint) {
  if (!control.id) control.id = uid('f');
  let hintEl = null;
  if (hint) {
    hintEl = h('small', { id: `${control.id}-hint`, class: 'hint' }, hint);
    control.setAttribute('aria-describedby', hintEl.id);
  }
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}

/**
 * Opens a modal `<dialog>` (focus is trapped by the browser, Escape closes it) with a heading
 * `title` and `body`; `actions` are the buttons at the end. Resolves, when it closes, to the
 * `value` of the action pressed (`''` for Escape). Focus goes back to what had it before.
 *
 * @param {{title: string, body: any, actions?: {label: string, value: string, kind?: string, submit?: boolean}[], form?: boolean, className?: string, onSubmit?: (value: string, dialog: HTMLDialogElement) => Promise<boolean>|boolean}} options
 * @returns {{dialog: HTMLDialogElement, result: Promise<string>, close: (value?: string) => void}}
 */
export function openDialog({ title, body, actions = [], className = '', onSubmit }) {
  const opener = /** @type {HTMLElement|null} */ (document.activeElement);
  const headingId = uid('dlg');
  const buttons = actions.map((a) => h('button', {
    type: a.submit ? 'submit' : 'button',
    value: a.value,
    class: a.kind || null,
  }, a.label));
  const form = h('form', { method: 'dialog', class: 'dialog-form' },
    h('h2', { id: headingId }, title),
    h('div', { class: 'dialog-body' }, body),
    h('div', { class: 'dialog-actions' }, buttons));
  const dialog = /** @type {HTMLDialogElement} */ (h('dialog', { class: `dialog ${className}`.trim(), 'aria-labelledby': headingId }, form));
  let resolve = (/** @type {string} */ _v) => {};
  const result = new Promise((r) => { resolve = r; });
  const close = (value = '') => { if (dialog.open) dialog.close(value); };
  for (const b of buttons) {
    if (b.getAttribute('type') === 'button') b.addEventListener('click', () => close(b.getAttribute('value') || ''));
  }
  form.addEventListener('submit', async (event) => {
    const submitter = /** @type {HTMLButtonElement|null} */ (/** @type {SubmitEvent} */ (event).submitter);
    const value = submitter?.value || 'ok';
    if (!onSubmit) return; // method=dialog closes with the button's value
    event.preventDefault();
    buttons.forEach((b) => { b.disabled = true; });
    try {
      if (await onSubmit(value, dialog)) close(value);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
  dialog.addEventListener('close', () => {
    dialog.remove();
    resolve(dialog.returnValue || '');
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
  });
  document.body.appendChild(dialog);
  dialog.showModal();
  const first = dialog.querySelector('[autofocus]') || dialog.querySelector('input, select, textarea, button');
  if (first instanceof HTMLElement) first.focus();
  return { dialog, result, close };
}

/**
 * Asks a question with one button per choice; resolves to the chosen `value`, `''` when
 * dismissed.
 *
 * @param {string} title
 * @param {string} message
 * @param {{label: string, value: string, kind?: string}[]} choices
 */
export function choose(title, message, choices) {
  return openDialog({ title, body: h('p', null, message), actions: choices }).result;
}

let region = /** @type {HTMLElement|null} */ (null);

/**
 * Shows `message` for a few seconds in a live region (`role=status`, or `role=alert` for
 * errors), which screen readers read without moving focus.
 *
 * @param {string} message
 * @param {{kind?: 'info'|'error', timeout?: number}} [options]
 */
export function toast(message, { kind = 'info', timeout = 6000 } = {}) {
  if (!region || !region.isConnected) {
    region = h('div', { class: 'toasts' });
    document.body.appendChild(region);
  }
  const item = h('p', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  region.appendChild(item);
  setTimeout(() => item.remove(), timeout);
  return item;
}

/** Moves focus to `el` (making it focusable if it is not) without scrolling oddly. */
export function focus(/** @type {HTMLElement|null} */ el) {
  if (!el) return;
  if (!el.hasAttribute('tabindex') && el.tabIndex < 0) el.setAttribute('tabindex', '-1');
  el.focus({ preventScroll: false });
}
