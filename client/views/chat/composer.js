// The chat composer, used for a channel and for a thread: a textarea where Enter sends and
// Shift+Enter starts a new line (never while an input method is composing: Korean is typed
// through one), a Markdown preview rendered by the server (`POST /chat/preview`), `@`
// autocomplete (`GET /chat/users?q=`, plus @channel and @here) as a WAI-ARIA combobox,
// attachments by button or drag-and-drop uploaded at once with a progress bar, and the typing
// signal. What a send does is the view's business (`onSend`).

import { h, uid } from '../../ui.js';
import { errorText } from '../common.js';
import { uploadFile } from './files.js';
import { formatSize, insertMention, mentionQuery, throttle } from './model.js';
import { renderMessageHtml } from './sanitize.js';

const BROAD = ['channel', 'here'];

/**
 * @param {{
 *   t: (key: string, vars?: any) => string,
 *   api: Function,
 *   me: string,
 *   label: string,
 *   channelId: () => any,
 *   onSend: (text: string, files: any[]) => Promise<boolean>|boolean,
 *   onEditLast?: () => boolean,
 *   onTyping?: () => void,
 *   compact?: boolean,
 * }} options
 */
export function createComposer({ t, api, me, label, channelId, onSend, onEditLast, onTyping, compact = false }) {
  const id = uid('chat-composer');
  const listId = `${id}-list`;
  const text = /** @type {HTMLTextAreaElement} */ (h('textarea', {
    id, rows: compact ? '2' : '3', class: 'chat-input', 'aria-label': label,
    role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': listId,
    'aria-describedby': `${id}-hint`, autocomplete: 'off', spellcheck: 'true',
  }));
  const hint = h('p', { id: `${id}-hint`, class: 'chat-hint visually-hidden' }, t('chat.composer.hint'));
  const suggestions = h('ul', { id: listId, role: 'listbox', class: 'chat-suggest', hidden: true, 'aria-label': t('chat.composer.people') });
  const preview = h('div', { class: 'chat-preview chat-text', hidden: true, 'aria-live': 'polite', 'aria-label': t('chat.composer.preview') });
  const previewButton = h('button', { type: 'button', class: 'secondary v-small', 'aria-pressed': 'false' }, t('chat.composer.preview'));
  const fileInput = /** @type {HTMLInputElement} */ (h('input', { type: 'file', multiple: true, class: 'visually-hidden', tabindex: '-1', id: `${id}-file`, 'aria-hidden': 'true' }));
  const attachButton = h('button', { type: 'button', class: 'secondary v-small' }, t('chat.composer.attach'));
  const sendButton = h('button', { type: 'submit', class: 'v-small' }, t('chat.composer.send'));
  const uploads = h('ul', { class: 'chat-uploads', 'aria-label': t('chat.composer.attachments') });
  const error = h('p', { class: 'v-error', role: 'alert' });
  const form = h('form', { class: `chat-composer${compact ? ' chat-composer-compact' : ''}` },
    uploads, preview,
    h('div', { class: 'chat-composer-row' }, text, suggestions),
    h('div', { class: 'chat-composer-tools' }, attachButton, previewButton, fileInput, h('span', { class: 'chat-spacer' }), sendButton),
    hint, error);

  /** Attachments: `{file, progress: <progress>, item, result?: File, failed?: string, abort}` */
  let attached = [];
  const typing = throttle(3000);
  let options = /** @type {{name: string, label: string}[]} */ ([]);
  let active = -1;
  let at = /** @type {{start: number, query: string}|null} */ (null);
  let lookup = 0;
  let lookupTimer = /** @type {any} */ (null);

  // ----- Sending -----
  async function submit() {
    error.textContent = '';
    if (attached.some((a) => !a.result && !a.failed)) {
      error.textContent = t('chat.composer.wait_uploads');
      return;
    }
    const body = text.value;
    const files = attached.filter((a) => a.result).map((a) => a.result);
    if (!body.trim() && files.length === 0) return;
    const ok = await onSend(body, files);
    if (ok === false) return;
    text.value = '';
    clearAttachments();
    closeSuggestions();
    if (!preview.hidden) togglePreview();
    typing.reset();
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });

  text.addEventListener('keydown', (e) => {
    // An input method (Korean, Japanese, …) uses Enter to commit its text: not a send.
    if (e.isComposing || e.keyCode === 229) return;
    if (!suggestions.hidden && options.length) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        const n = options.length;
        setActive(e.key === 'ArrowDown' ? (active + 1) % n : (active - 1 + n) % n);
        return;
      }
      if ((e.key === 'Enter' && !e.shiftKey) || e.key === 'Tab') {
        if (active >= 0) {
          e.preventDefault();
          choose(options[active].name);
          return;
        }
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        closeSuggestions();
        return;
      }
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      submit();
      return;
    }
    if (e.key === 'ArrowUp' && !e.altKey && !text.value && onEditLast) {
      if (onEditLast()) e.preventDefault();
    }
  });

  text.addEventListener('input', () => {
    if (text.value.trim() && onTyping && typing.due(Date.now())) onTyping();
    updateSuggestions();
  });
  text.addEventListener('blur', () => setTimeout(closeSuggestions, 150));

  // ----- @ autocomplete -----
  function updateSuggestions() {
    at = mentionQuery(text.value, text.selectionStart ?? text.value.length);
    clearTimeout(lookupTimer);
    if (!at) {
      closeSuggestions();
      return;
    }
    const query = at.query;
    const mine = ++lookup;
    lookupTimer = setTimeout(async () => {
      let people = [];
      try {
        const r = await api('GET', `/api/v1/chat/users?q=${encodeURIComponent(query)}`);
        people = Array.isArray(r.body) ? r.body : (r.body && r.body.users) || [];
      } catch {
        people = [];
      }
      if (mine !== lookup) return;
      const q = query.toLowerCase();
      const broad = BROAD.filter((b) => b.startsWith(q)).map((b) => ({ name: b, label: `@${b} — ${t(`chat.composer.${b}`)}` }));
      const found = people.filter((p) => p.name !== me).slice(0, 8).map((p) => ({
        name: p.name,
        label: p.display_name && p.display_name !== p.name ? `@${p.name} — ${p.display_name}` : `@${p.name}`,
      }));
      showSuggestions([...found, ...broad]);
    }, 120);
  }

  function showSuggestions(list) {
    options = list;
    active = list.length ? 0 : -1;
    suggestions.replaceChildren(...list.map((o, i) => {
      const li = h('li', { id: `${listId}-${i}`, role: 'option', 'aria-selected': i === active ? 'true' : 'false', class: 'chat-suggest-item' }, o.label);
      li.addEventListener('mousedown', (e) => { e.preventDefault(); choose(o.name); });
      return li;
    }));
    suggestions.hidden = list.length === 0;
    text.setAttribute('aria-expanded', list.length ? 'true' : 'false');
    if (active >= 0) text.setAttribute('aria-activedescendant', `${listId}-${active}`);
    else text.removeAttribute('aria-activedescendant');
  }

  function setActive(i) {
    active = i;
    for (const [k, li] of Array.from(suggestions.children).entries()) li.setAttribute('aria-selected', k === i ? 'true' : 'false');
    text.setAttribute('aria-activedescendant', `${listId}-${i}`);
  }

  function closeSuggestions() {
    options = [];
    active = -1;
    suggestions.hidden = true;
    suggestions.replaceChildren();
    text.setAttribute('aria-expanded', 'false');
    text.removeAttribute('aria-activedescendant');
  }

  function choose(name) {
    if (!at) return;
    const next = insertMention(text.value, at, name);
    text.value = next.text;
    text.setSelectionRange(next.caret, next.caret);
    closeSuggestions();
    text.focus();
  }

  // ----- Preview -----
  async function togglePreview() {
    const on = preview.hidden;
    previewButton.setAttribute('aria-pressed', on ? 'true' : 'false');
    if (!on) {
      preview.hidden = true;
      preview.replaceChildren();
      return;
    }
    preview.hidden = false;
    preview.replaceChildren(h('p', { class: 'v-muted' }, t('views.loading')));
    try {
      const r = await api('POST', '/api/v1/chat/preview', { text: text.value });
      preview.replaceChildren(...renderMessageHtml((r.body && r.body.html) || '', { h, me }));
      if (!preview.firstChild) preview.replaceChildren(h('p', { class: 'v-muted' }, t('chat.composer.preview_empty')));
    } catch (err) {
      preview.replaceChildren(h('p', { class: 'v-error' }, errorText(t, err)));
    }
  }
  previewButton.addEventListener('click', togglePreview);

  // ----- Files -----
  attachButton.addEventListener('click', () => fileInput.click());
  fileInput.addEventListener('change', () => {
    addFiles(fileInput.files);
    fileInput.value = '';
  });

  function addFiles(/** @type {FileList|File[]|null} */ list) {
    const cid = channelId();
    if (!list || cid === null || cid === undefined) return;
    for (const file of Array.from(list)) {
      const progress = /** @type {HTMLProgressElement} */ (h('progress', { max: '100', value: '0', 'aria-label': t('chat.upload.progress', { name: file.name }) }));
      const status = h('span', { class: 'chat-upload-status' }, t('chat.upload.uploading'));
      const remove = h('button', { type: 'button', class: 'secondary v-small', 'aria-label': t('chat.upload.remove', { name: file.name }) }, '×');
      const item = h('li', { class: 'chat-upload' }, h('span', { class: 'chat-upload-name' }, `${file.name} (${formatSize(file.size)})`), progress, status, remove);
      const controller = new AbortController();
      const entry = { file, progress, item, result: null, failed: null, abort: () => controller.abort() };
      remove.addEventListener('click', () => {
        entry.abort();
        attached = attached.filter((a) => a !== entry);
        item.remove();
        text.focus();
      });
      attached.push(entry);
      uploads.append(item);
      uploadFile(cid, file, {
        signal: controller.signal,
        onProgress: (loaded, total) => { progress.value = total ? Math.round((loaded / total) * 100) : 0; },
      }).then((result) => {
        entry.result = result;
        progress.value = 100;
        status.textContent = t('chat.upload.done');
        item.classList.add('chat-upload-done');
      }, (err) => {
        if (err && err.code === 'aborted') return;
        entry.failed = err.status === 413 ? t('chat.error.file_too_large') : errorText(t, err);
        status.textContent = entry.failed;
        item.classList.add('chat-upload-failed');
      });
    }
  }

  function clearAttachments() {
    attached = [];
    uploads.replaceChildren();
  }

  // Dropping files anywhere on the composer attaches them.
  for (const type of ['dragenter', 'dragover']) {
    form.addEventListener(type, (e) => {
      if (!Array.from(/** @type {DragEvent} */ (e).dataTransfer?.types || []).includes('Files')) return;
      e.preventDefault();
      form.classList.add('chat-drop');
    });
  }
  form.addEventListener('dragleave', () => form.classList.remove('chat-drop'));
  form.addEventListener('drop', (e) => {
    const files = /** @type {DragEvent} */ (e).dataTransfer?.files;
    form.classList.remove('chat-drop');
    if (!files || !files.length) return;
    e.preventDefault();
    addFiles(files);
  });

  return {
    node: form,
    input: text,
    focus() { text.focus(); },
    addFiles,
    setLabel(l) { text.setAttribute('aria-label', l); },
    setDisabled(disabled, reason = '') {
      text.disabled = disabled;
      sendButton.disabled = disabled;
      attachButton.disabled = disabled;
      text.placeholder = disabled ? reason : '';
    },
    reset() {
      text.value = '';
      error.textContent = '';
      clearAttachments();
      closeSuggestions();
      if (!preview.hidden) togglePreview();
    },
  };
}
