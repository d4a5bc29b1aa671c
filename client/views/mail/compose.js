// The mail composer (views/mail.js opens it for Write, Reply, Reply all, Forward, and to go on
// with a draft from the Drafts folder, its attachments with it): plain text
// or rich text (a contenteditable editor with a small toolbar making only semantic elements —
// b, i, u, lists, links, blockquote — sent as HTML beside a plain rendering, so the message is
// multipart/alternative), attachments read with per-file progress and refused past the server's
// limit before any upload, the send's own upload progress, and the draft (attachments included)
// saved three seconds after typing stops or the files change. The last choice of plain or rich
// is remembered in this browser.

import { apiWithProgress } from '../../api.js';
import { fetchBlob } from '../chat/files.js';
import { h } from '../../ui.js';
import { debounce, openDialog } from '../common.js';
import { cleanPaste, safeHref, toPlainText } from './richtext.js';

const FORMAT_KEY = 'madang.mail.format';

const addressText = (people) => people.map((p) => (p.name ? `${p.name} <${p.email}>` : p.email)).join(', ');
/** `Kim <kim@x>, lee@y` → [{name, email}] (commas inside quotes are not expected here). */
const parseAddresses = (text) => text.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
  const m = s.match(/^(.*)<([^>]+)>$/);
  return m ? { name: m[1].trim().replace(/^"|"$/g, ''), email: m[2].trim() } : { name: '', email: s };
});

/** `n` bytes as people read them. */
export function sizeText(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.ceil(n / 1024)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * How many bytes of attachments one message may carry here: `mail.max_message_size`, and the
 * request (the files in base64, 4 bytes for 3, plus the text) within `server.max_body_size`.
 * Null when the server did not say (it refuses with 413 then).
 */
export function attachmentBudget(limits) {
  if (!limits || !limits.max_body_size || !limits.mail_max_message_size) return null;
  return Math.max(0, Math.min(limits.mail_max_message_size, Math.floor((limits.max_body_size - 256 * 1024) * 3 / 4)));
}

const remembered = () => {
  try { return localStorage.getItem(FORMAT_KEY) === 'rich' ? 'rich' : 'plain'; } catch { return 'plain'; }
};
const remember = (format) => { try { localStorage.setItem(FORMAT_KEY, format); } catch { /* private mode */ } };

/**
 * Writing a new message (`m` null), a reply (`reply`, `all`) or forward of `m`, or going on
 * with the draft `m` (`draft`).
 *
 * @param {{api: Function, t: Function, accounts: any[], say: (text: string) => void, limits?: any}} ctx
 * @param {'new'|'reply'|'all'|'forward'|'draft'} mode
 * @param {any} m
 */
export function composeDialog({ api, t, accounts, say, limits }, mode, m) {
  const ctx = { api, t, accounts, say, limits };
  return mode === 'draft' ? compose(ctx, 'new', null, m) : compose(ctx, mode, m, null);
}

/** The composer itself; `draftMessage` is a draft (as the reader has it) to go on with. */
function compose({ api, t, accounts, say, limits }, mode, m, draftMessage) {
  const account = draftMessage ? draftMessage.account : m ? m.account : (accounts.find((a) => a.default) || accounts[0] || {}).id;
  if (!account) return;
  const own = (accounts.find((a) => a.id === account) || {}).email;
  const replying = m && mode !== 'forward';
  const attribution = m ? t('mail.wrote', { who: m.from.name || m.from.email }) : '';
  const quote = replying ? `\n\n${attribution}\n${m.text.split('\n').map((l) => `> ${l}`).join('\n')}` : '';
  const to = draftMessage ? draftMessage.to : !m || mode === 'forward' ? [] : [m.reply_to.length ? m.reply_to[0] : m.from];
  const cc = draftMessage ? draftMessage.cc
    : mode === 'all' ? [...m.to, ...m.cc].filter((p) => p.email !== own && !to.some((x) => x.email === p.email)) : [];
  const subject = draftMessage ? draftMessage.subject
    : !m ? '' : mode === 'forward' ? `Fwd: ${m.subject}` : (/^re:/i.test(m.subject) ? m.subject : `Re: ${m.subject}`);
  const budget = attachmentBudget(limits);

  const result = h('p', { class: 'v-status-error', role: 'alert' });
  const draftStatus = h('p', { class: 'mail-draft-status', role: 'status' });
  const textarea = h('textarea', { id: 'mail-f-text', name: 'text', rows: '12' }, draftMessage ? draftMessage.text : quote);
  const plainBox = h('p', {}, h('label', { for: 'mail-f-text' }, t('mail.body')), textarea);
  const editor = richEditor(t);
  const bodyBox = h('div', { class: 'mail-body' });

  // Plain text or rich text: a radio pair, remembered for the next message (a draft keeps its own).
  let format = draftMessage ? (draftMessage.html ? 'rich' : 'plain') : remembered();
  const radio = (value, label) => h('label', { class: 'mail-format-choice' },
    h('input', { type: 'radio', name: 'format', value, checked: format === value }), ` ${label}`);
  const formatChoice = h('fieldset', { class: 'mail-format' }, h('legend', {}, t('mail.format')),
    radio('plain', t('mail.format_plain')), radio('rich', t('mail.format_rich')));

  if (draftMessage && draftMessage.html) {
    // The draft's HTML (sanitised by the server) through the paste filter: only what this
    // editor itself makes (b, i, u, lists, links, quotes) comes back into it.
    editor.content.append(cleanPaste(draftMessage.html, document, new DOMParser()));
  }
  if (replying) {
    // The original quoted as a blockquote, under a line to write above.
    editor.content.append(h('div', {}, h('br')), h('div', {}, attribution),
      h('blockquote', {}, ...m.text.split('\n').map((l) => h('div', {}, l || h('br')))));
  }
  const show = (next, convert) => {
    if (convert && next === 'rich') editor.setText(textarea.value);
    if (convert && next === 'plain') {
      const hadFormatting = editor.content.querySelector('b, i, u, ul, ol, a, blockquote');
      textarea.value = toPlainText(editor.content);
      if (hadFormatting) draftStatus.textContent = t('mail.format_dropped');
    }
    format = next;
    bodyBox.replaceChildren(next === 'rich' ? editor.element : plainBox);
  };
  show(format, false);
  formatChoice.addEventListener('change', (event) => {
    const value = /** @type {HTMLInputElement} */ (event.target).value;
    remember(value);
    show(value, true);
    (value === 'rich' ? editor.content : textarea).focus();
    autosave();
  });

  // Attachments: read (with progress) as soon as they are chosen, refused past the budget.
  const fileInput = h('input', { id: 'mail-f-files', name: 'files', type: 'file', multiple: '' });
  const fileList = h('ul', { class: 'mail-files', 'aria-label': t('mail.attached') });
  /** @type {{file: File, data: string|null, reading: Promise<void>, li: HTMLElement}[]} */
  const files = [];
  const addFiles = (chosen) => {
    result.textContent = '';
    for (const file of Array.from(chosen)) {
      const total = files.reduce((n, f) => n + f.file.size, 0) + file.size;
      if (budget !== null && total > budget) {
        result.textContent = t('mail.attachment_too_large', { name: file.name, limit: sizeText(budget) });
        continue;
      }
      files.push(attachment(file));
    }
  };
  const attachment = (file) => {
    const bar = h('progress', { max: '1', value: 0, 'aria-label': t('mail.attachment_reading', { name: file.name }) });
    const state = h('span', { class: 'mail-file-state' }, '0%');
    const remove = h('button', { type: 'button', class: 'secondary', 'aria-label': t('mail.attachment_remove', { name: file.name }) }, '×');
    const li = h('li', { class: 'mail-file' }, h('span', { class: 'mail-file-name' }, file.name), ` (${sizeText(file.size)}) `, bar, state, remove);
    fileList.append(li);
    const item = { file, data: /** @type {string|null} */ (null), reading: Promise.resolve(), li };
    item.reading = new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onprogress = (e) => {
        if (!e.lengthComputable || !e.total) return;
        bar.value = e.loaded / e.total;
        state.textContent = `${Math.floor((e.loaded / e.total) * 100)}%`;
      };
      reader.onload = () => {
        item.data = String(reader.result).replace(/^data:[^,]*,/, '');
        bar.value = 1;
        state.textContent = t('mail.attachment_ready');
        li.classList.add('done');
        resolve();
      };
      reader.onerror = () => { state.textContent = t('mail.failed', { message: String(reader.error) }); reject(reader.error); };
      reader.readAsDataURL(file);
    });
    item.reading.catch(() => {});
    remove.addEventListener('click', () => {
      files.splice(files.indexOf(item), 1);
      li.remove();
      fileInput.focus();
      autosave();
    });
    return item;
  };
  fileInput.addEventListener('change', () => {
    addFiles(fileInput.files || []);
    autosave();
    // The same file may be chosen again after removing it.
    fileInput.value = '';
  });
  editor.onFiles = addFiles;

  const sendBar = h('progress', { max: '1', value: 0, 'aria-label': t('mail.send_progress') });
  const sendState = h('span', {}, '');
  const sending = h('p', { class: 'mail-send-progress', hidden: true }, sendBar, sendState);

  const form = h('form', { class: 'mail-link mail-compose' },
    field('to', t('mail.to'), { type: 'text', value: addressText(to) }),
    field('cc', t('mail.cc'), { type: 'text', value: addressText(cc) }),
    field('subject', t('mail.subject'), { type: 'text', value: subject }),
    formatChoice,
    bodyBox,
    h('p', {}, h('label', { for: 'mail-f-files' }, t('mail.attach')), fileInput,
      budget !== null ? h('small', { class: 'mail-hint' }, t('mail.attachment_limit', { limit: sizeText(budget) })) : null),
    fileList,
    draftStatus,
    sending,
    result,
    h('p', { class: 'v-dialog-actions' }, h('button', { type: 'submit' }, t('mail.send'))));
  const el = (n) => /** @type {any} */ (form.elements.namedItem(n));
  /** The draft saved so far (its index id), replaced by each save and deleted by sending. */
  let draft = draftMessage ? draftMessage.id : null;
  let busy = false;
  const fields = (attachments) => {
    const rich = format === 'rich';
    return {
      to: parseAddresses(el('to').value), cc: parseAddresses(el('cc').value), subject: el('subject').value,
      text: rich ? toPlainText(editor.content) : textarea.value,
      html: rich ? editor.content.innerHTML : null,
      attachments,
      reply_to: replying ? m.id : null, forward: m && mode === 'forward' ? m.id : null,
      replaces: draft,
    };
  };
  /** The draft's own attachments, while they are fetched back (below). */
  let kept = Promise.resolve();
  /** The attachments as the API takes them, once every file is read. */
  const attachmentsOf = async () => {
    await kept;
    await Promise.all(files.map((f) => f.reading));
    return files.map((f) => ({ name: f.file.name, content_type: f.file.type || 'application/octet-stream', data: f.data }));
  };
  // Drafts are saved to the account's Drafts folder a few seconds after typing stops or the
  // files change, attachments included (as Roundcube and Thunderbird keep them), so a draft
  // opened again, here or in another mail program, has everything.
  /** The save under way: sending waits for it, so it replaces the draft that save leaves. */
  let saving = Promise.resolve();
  const autosave = debounce(() => {
    if (busy || !form.isConnected) return;
    saving = (async () => {
      try {
        const attachments = await attachmentsOf();
        if (busy || !form.isConnected) return;
        draft = (await api('POST', `/api/v1/mail/accounts/${account}/drafts`, fields(attachments))).body.id;
        draftStatus.textContent = t('mail.draft_saved');
      } catch (e) {
        draftStatus.textContent = e.message;
      }
    })();
  }, 3000);
  form.addEventListener('input', (event) => {
    if (event.target !== fileInput) autosave();
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    autosave.cancel();
    busy = true;
    const button = /** @type {HTMLButtonElement} */ (form.querySelector('button[type=submit]'));
    button.disabled = true;
    result.textContent = '';
    try {
      await saving;
      const attachments = await attachmentsOf();
      sending.hidden = false;
      sendState.textContent = t('mail.sending');
      await apiWithProgress('POST', `/api/v1/mail/accounts/${account}/send`, fields(attachments), {
        onProgress: (fraction) => {
          sendBar.value = fraction;
          sendState.textContent = `${t('mail.sending')} ${Math.floor(fraction * 100)}%`;
        },
      });
      dialog.close();
      say(t('mail.sent'));
    } catch (e) {
      sending.hidden = true;
      result.textContent = e.message || String(e);
      button.disabled = false;
      busy = false;
    }
  });
  const dialog = openDialog({
    title: t(draftMessage ? 'mail.edit_draft' : mode === 'forward' ? 'mail.forward' : m ? 'mail.reply' : 'mail.compose'),
    content: form, className: 'mail-dialog', onClose: () => editor.unmount(),
  });
  if (format === 'rich' && replying) editor.caretToStart();
  if (draftMessage) {
    // The draft's attachments come back as files, as if chosen again: saved and sent with it.
    kept = Promise.all(draftMessage.attachments.filter((a) => !a.inline).map(async (a) => {
      const blob = await fetchBlob(a.url).catch(() => { throw new Error(t('mail.attachment_unavailable', { name: a.name })); });
      return new File([blob], a.name, { type: a.content_type });
    })).then((chosen) => addFiles(chosen), (e) => {
      // Said, and not in the way: the user can attach it again, and saving goes on without it.
      result.textContent = e.message;
    });
  }
}

function field(name, label, attrs = {}) {
  const id = `mail-f-${name}`;
  return h('p', {}, h('label', { for: id }, label), h('input', { id, name, ...attrs }));
}

/**
 * The rich-text editor: a toolbar (one tab stop, arrows between its buttons, as WAI-ARIA's
 * toolbar pattern has it) over a contenteditable box. `execCommand` is what browsers offer for
 * editing a contenteditable; `styleWithCSS` off makes it write <b>, <i>, <u> rather than inline
 * styles (which the CSP would not let the reader show anyway).
 */
function richEditor(t) {
  const labelId = 'mail-f-rich-label';
  const content = h('div', {
    id: 'mail-f-rich', class: 'mail-editor', contenteditable: 'true', role: 'textbox',
    'aria-multiline': 'true', 'aria-labelledby': labelId, spellcheck: 'true',
  });
  /** The selection inside the editor when it last had one: toolbar buttons act on it. */
  let saved = /** @type {Range|null} */ (null);
  const keep = () => {
    const sel = document.getSelection();
    if (sel && sel.rangeCount && content.contains(sel.getRangeAt(0).commonAncestorContainer)) saved = sel.getRangeAt(0).cloneRange();
  };
  const restore = () => {
    content.focus({ preventScroll: true });
    const sel = document.getSelection();
    if (saved && sel) { sel.removeAllRanges(); sel.addRange(saved); }
  };
  const inQuote = () => {
    const sel = document.getSelection();
    const node = sel && sel.rangeCount ? sel.getRangeAt(0).startContainer : null;
    const el = node && (node.nodeType === 1 ? /** @type {Element} */ (node) : node.parentElement);
    return Boolean(el && content.contains(el) && el.closest('blockquote'));
  };

  const buttons = [];
  const tool = (key, label, glyph, run, shortcut, pressed) => {
    // The name is the words (hidden but read); the glyph is only what the eye sees.
    const b = h('button', {
      type: 'button', class: `secondary mail-tool mail-tool-${key}`, title: shortcut ? `${label} (${shortcut})` : label,
      'aria-pressed': pressed ? 'false' : null, 'aria-keyshortcuts': shortcut ? shortcut.replace('Ctrl', 'Control') : null,
      tabindex: buttons.length ? '-1' : '0',
    }, h('span', { 'aria-hidden': 'true' }, glyph), h('span', { class: 'visually-hidden' }, label));
    // The editor keeps its selection when a toolbar button is pressed with the mouse.
    b.addEventListener('mousedown', (event) => event.preventDefault());
    b.addEventListener('click', () => { restore(); run(); keep(); update(); });
    b.pressed = pressed;
    buttons.push(b);
    return b;
  };
  const exec = (command, value) => document.execCommand(command, false, value);
  const toolbar = h('div', { class: 'mail-toolbar', role: 'toolbar', 'aria-label': t('mail.formatting'), 'aria-controls': content.id },
    tool('bold', t('mail.bold'), 'B', () => exec('bold'), 'Ctrl+B', () => document.queryCommandState('bold')),
    tool('italic', t('mail.italic'), 'I', () => exec('italic'), 'Ctrl+I', () => document.queryCommandState('italic')),
    tool('underline', t('mail.underline'), 'U', () => exec('underline'), 'Ctrl+U', () => document.queryCommandState('underline')),
    tool('bullets', t('mail.bullets'), '•', () => exec('insertUnorderedList'), null, () => document.queryCommandState('insertUnorderedList')),
    tool('numbers', t('mail.numbers'), '1.', () => exec('insertOrderedList'), null, () => document.queryCommandState('insertOrderedList')),
    tool('quote', t('mail.quote'), '❝', () => exec('formatBlock', inQuote() ? 'div' : 'blockquote'), null, inQuote),
    tool('link', t('mail.link_insert'), '↗', () => openLink(), null, null));
  toolbar.addEventListener('keydown', (event) => {
    const at = buttons.indexOf(/** @type {any} */ (event.target));
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: buttons.length - 1 }[event.key];
    if (at < 0 || to === undefined) return;
    event.preventDefault();
    const next = buttons[(to + buttons.length) % buttons.length];
    for (const b of buttons) b.setAttribute('tabindex', b === next ? '0' : '-1');
    next.focus();
  });
  const update = () => {
    for (const b of buttons) if (b.pressed) b.setAttribute('aria-pressed', String(Boolean(b.pressed())));
  };

  // A link: its address asked for in a row under the toolbar (the selection kept meanwhile);
  // with nothing selected, the address itself is inserted as the link's text.
  const url = h('input', { id: 'mail-f-link', type: 'url', placeholder: 'https://' });
  const linkProblem = h('span', { class: 'v-status-error', role: 'alert' });
  const apply = h('button', { type: 'button' }, t('mail.link_apply'));
  const cancel = h('button', { type: 'button', class: 'secondary' }, t('mail.cancel'));
  const linkBar = h('p', { class: 'mail-linkbar', hidden: true },
    h('label', { for: 'mail-f-link' }, t('mail.link_url')), url, apply, cancel, linkProblem);
  const openLink = () => {
    linkBar.hidden = false;
    linkProblem.textContent = '';
    url.value = '';
    url.focus();
  };
  const closeLink = () => { linkBar.hidden = true; restore(); };
  const insertLink = () => {
    const raw = url.value.trim();
    const href = safeHref(/^[a-z][a-z0-9+.-]*:/i.test(raw) ? raw : `https://${raw}`);
    if (!raw || !href) { linkProblem.textContent = t('mail.link_bad'); return; }
    linkBar.hidden = true;
    restore();
    const sel = document.getSelection();
    if (sel && sel.isCollapsed) exec('insertText', href);
    if (sel && sel.isCollapsed && sel.anchorNode) {
      // Select what was just typed, so it becomes the link.
      sel.extend(sel.anchorNode, Math.max(0, sel.anchorOffset - href.length));
    }
    exec('createLink', href);
    const after = document.getSelection();
    if (after) after.collapseToEnd();
    keep();
  };
  apply.addEventListener('click', insertLink);
  cancel.addEventListener('click', closeLink);
  url.addEventListener('keydown', (event) => {
    // Enter adds the link instead of sending the message; Escape leaves the row, not the dialog.
    if (event.key === 'Enter') { event.preventDefault(); insertLink(); }
    if (event.key === 'Escape') { event.preventDefault(); event.stopPropagation(); closeLink(); }
  });

  content.addEventListener('keydown', (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.altKey) return;
    const command = { b: 'bold', i: 'italic', u: 'underline' }[event.key.toLowerCase()];
    if (!command) return;
    event.preventDefault();
    exec(command);
    update();
  });
  // A paste keeps only the composer's own formatting (richtext.js), never the source's markup.
  content.addEventListener('paste', (event) => {
    const data = event.clipboardData;
    if (!data) return;
    event.preventDefault();
    if (data.files && data.files.length) { api.onFiles(data.files); return; }
    const html = data.getData('text/html');
    if (!html) { exec('insertText', data.getData('text/plain')); return; }
    const fragment = cleanPaste(html, document, new DOMParser());
    const sel = document.getSelection();
    if (!sel || !sel.rangeCount) return;
    const range = sel.getRangeAt(0);
    range.deleteContents();
    const last = fragment.lastChild;
    range.insertNode(fragment);
    if (last) { range.setStartAfter(last); range.collapse(true); sel.removeAllRanges(); sel.addRange(range); }
    // insertNode is not an edit the browser reports: the draft is saved all the same.
    content.dispatchEvent(new Event('input', { bubbles: true }));
  });
  // Files dropped on the text are attached; dropped text comes in plain.
  content.addEventListener('drop', (event) => {
    const data = event.dataTransfer;
    if (!data) return;
    event.preventDefault();
    if (data.files && data.files.length) { api.onFiles(data.files); return; }
    exec('insertText', data.getData('text/plain'));
  });
  const onSelection = () => { keep(); if (content.contains(document.activeElement) || content === document.activeElement) update(); };
  document.addEventListener('selectionchange', onSelection);

  const api = {
    element: h('div', { class: 'mail-rich' },
      h('span', { id: labelId, class: 'mail-rich-label' }, t('mail.body')), toolbar, linkBar, content),
    content,
    /** Called with files pasted or dropped into the text. */
    onFiles: (/** @type {FileList} */ _files) => {},
    /** Plain text in: a line per block, runs of "> " lines as a quote. */
    setText(text) {
      const lines = text.split('\n');
      const nodes = [];
      let quote = null;
      for (const line of lines) {
        const quoted = line.match(/^> ?(.*)$/);
        if (quoted) {
          if (!quote) { quote = h('blockquote'); nodes.push(quote); }
          quote.append(h('div', {}, quoted[1] || h('br')));
        } else {
          quote = null;
          nodes.push(h('div', {}, line || h('br')));
        }
      }
      content.replaceChildren(...nodes);
    },
    caretToStart() {
      const sel = document.getSelection();
      content.focus();
      if (sel) sel.collapse(content.firstChild || content, 0);
      keep();
    },
    unmount() { document.removeEventListener('selectionchange', onSelection); },
  };
  // The browser's default, said anyway: formatting as elements, never style attributes.
  try { document.execCommand('styleWithCSS', false, 'false'); } catch { /* not supported */ }
  return api;
}
