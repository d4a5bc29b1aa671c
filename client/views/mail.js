// The mail view (#/mail, #/mail/<folder id>): linked accounts and their folders with unread
// counts, the folder's messages from Madang's index (pages of 50 loaded as the list scrolls,
// drawn by mail/list.js, which keeps only the rows in view in the DOM), the composer
// (mail/compose.js), and the reading pane (the conversation, the message rendered by mail/render.js, attachments).
// New mail arrives as `mail.changed` push events (the server's IDLE watcher), and the folder
// shown is refreshed in place. Folders are created, renamed, moved and deleted on the server
// from the sidebar; a message can be moved or copied to another folder; search looks in the
// index, or with "Search message text" in the folder's whole messages on the mail server.
// Everything is built with `h()`: no markup from data.

import { append, h, clear } from '../ui.js';
import { confirmDialog, openDialog } from './common.js';
import { download, imageDataUrl } from './chat/files.js';
import { renderMessageHtml } from './mail/render.js';
import { composeDialog as openComposer } from './mail/compose.js';
import { messageList } from './mail/list.js';

const PAGE = 50;

export function mount(root, { api, t, onPush, me }) {
  const state = {
    accounts: /** @type {any[]} */ ([]),
    folders: /** @type {Map<number, any[]>} */ (new Map()),
    folder: /** @type {number|null} */ (null), // null: the unified inbox
    filter: '',
    q: '',
    body: false, // search the message text on the server (needs a folder)
    messages: /** @type {any[]} */ ([]),
    next: /** @type {string|null} */ (null),
    open: /** @type {number|null} */ (null),
    loading: false,
  };
  const status = h('p', { class: 'mail-status', role: 'status', 'aria-live': 'polite' });
  const sidebar = h('nav', { class: 'mail-folders', 'aria-label': t('mail.title') });
  const filters = h('div', { class: 'mail-filters', role: 'group' });
  const column = h('section', { class: 'mail-column' }, filters);
  const list = messageList({
    scroller: column, label: t('mail.title'), empty: t('mail.empty'), loading: t('mail.more'),
    row: (m) => [
      h('span', { class: 'mail-from' }, m.from.name || m.from.email),
      h('time', { datetime: m.received_at }, when(m.received_at)),
      h('span', { class: 'mail-subject' }, m.subject || t('mail.no_subject')),
      h('span', { class: 'mail-preview' }, m.preview),
      m.flagged ? h('span', { class: 'mail-flag', 'aria-label': t('mail.flagged') }, '⚑') : null,
      m.has_attachments ? h('span', { class: 'mail-clip' }, t('mail.attachment_badge')) : null,
    ],
    onOpen: (id) => openMessage(id),
    onNearEnd: () => more(),
  });
  column.append(list.element);
  const reader = h('article', { class: 'mail-reader', 'aria-live': 'polite' }, h('p', { class: 'mail-hint' }, t('mail.select')));
  root.append(
    h('h1', { class: 'visually-hidden' }, t('mail.title')),
    status,
    h('div', { class: 'mail-layout' }, sidebar, column, reader),
  );
  const say = (text) => { status.textContent = text; };
  const fail = (e) => say(t('mail.failed', { message: e.message || String(e) }));

  const search = h('input', { type: 'search', 'aria-label': t('mail.search'), placeholder: t('mail.search') });
  search.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter') return;
    state.q = search.value.trim();
    reload();
  });
  search.addEventListener('search', () => { if (!search.value) { state.q = ''; reload(); } });
  // The index knows headers and the first lines; the server knows whole messages (one folder).
  const bodySearch = h('button', { type: 'button', class: 'secondary', 'aria-pressed': 'false', title: t('mail.search_body_hint') }, t('mail.search_body'));
  bodySearch.addEventListener('click', () => {
    state.body = !state.body;
    bodySearch.setAttribute('aria-pressed', String(state.body));
    state.q = search.value.trim();
    if (state.q) reload();
  });
  filters.append(search, bodySearch);
  for (const [key, label] of [['unread', 'mail.unread'], ['flagged', 'mail.flagged'], ['attachments', 'mail.attachments']]) {
    const button = h('button', { type: 'button', class: 'secondary', 'aria-pressed': 'false', 'data-filter': key }, t(label));
    button.addEventListener('click', () => {
      state.filter = state.filter === key ? '' : key;
      for (const b of filters.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.filter === state.filter));
      reload();
    });
    filters.append(button);
  }

  async function loadAccounts() {
    state.accounts = (await api('GET', '/api/v1/mail/accounts')).body;
    await Promise.all(state.accounts.map(async (a) => {
      state.folders.set(a.id, (await api('GET', `/api/v1/mail/accounts/${a.id}/folders`)).body);
    }));
    renderSidebar();
  }

  function folderLink(id, label, unseen, folder = null) {
    const current = state.folder === id;
    // Folders of the user's own (no role): rename, move and delete are offered.
    let actions = null;
    if (folder && !folder.role) {
      actions = h('button', { type: 'button', class: 'secondary mail-folder-actions', 'aria-label': `${t('mail.folder_actions')}: ${label}`, 'data-focus-key': `folder-${id}` }, '⋯');
      actions.addEventListener('click', () => folderDialog(folder));
    }
    return h('li', { class: 'mail-folder-item' },
      h('a', { href: id === null ? '#/mail' : `#/mail/${id}`, 'aria-current': current ? 'page' : null, class: 'mail-folder' },
        h('span', {}, label),
        unseen ? h('span', { class: 'mail-count', 'aria-label': `${unseen} ${t('mail.unread')}` }, String(unseen)) : null),
      actions);
  }

  /** The account's folders as parents to choose from (`except` and what lies under it left out). */
  function parentChoices(accountId, except) {
    const all = state.folders.get(accountId) || [];
    const under = (f) => except && f.delimiter && f.imap_name.startsWith(`${except.imap_name}${f.delimiter}`);
    return all.filter((f) => f.role !== 'inbox' && (!except || (f.id !== except.id && !under(f))));
  }

  /** The parent a folder sits in now (by its server name), or null at the top level. */
  function parentOf(folder) {
    const cut = folder.delimiter ? folder.imap_name.lastIndexOf(folder.delimiter) : -1;
    if (cut < 0) return null;
    const name = folder.imap_name.slice(0, cut);
    return [...state.folders.values()].flat().find((f) => f.imap_name === name) || null;
  }

  const leafOf = (folder) => {
    const parent = parentOf(folder);
    return parent && folder.name.startsWith(`${parent.name}${folder.delimiter}`) ? folder.name.slice(parent.name.length + 1) : folder.name;
  };

  /** New folder (`folder` null, in `accountId`), or rename / move / delete of `folder`. */
  function folderDialog(folder, accountId = folder ? accountOf(folder.id) : null) {
    const result = h('p', { class: 'v-status-error', role: 'alert' });
    const parents = parentChoices(accountId, folder);
    const current = folder ? parentOf(folder) : null;
    const parent = h('select', { id: 'mail-f-parent', name: 'parent' },
      h('option', { value: '' }, t('mail.folder_top')), ...parents.map((f) => h('option', { value: String(f.id) }, f.name)));
    parent.value = current ? String(current.id) : '';
    const form = h('form', { class: 'mail-link mail-folder-form' },
      field('name', t('mail.folder_name'), { type: 'text', required: '', value: folder ? leafOf(folder) : '', autocomplete: 'off' }),
      h('p', {}, h('label', { for: 'mail-f-parent' }, t('mail.folder_parent')), parent),
      result,
      h('p', { class: 'v-dialog-actions' },
        folder ? h('button', { type: 'button', class: 'v-danger', 'data-act': 'delete' }, t('mail.folder_delete')) : null,
        h('button', { type: 'submit' }, t(folder ? 'mail.save_folder' : 'mail.create_folder'))));
    const name = /** @type {HTMLInputElement} */ (form.elements.namedItem('name'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const chosen = parent.value ? Number(parent.value) : null;
      try {
        if (folder) {
          await api('PATCH', `/api/v1/mail/folders/${folder.id}`, { name: name.value, parent: chosen });
        } else {
          await api('POST', `/api/v1/mail/accounts/${accountId}/folders`, { name: name.value, parent: chosen });
        }
        dialog.close();
        say(t(folder ? 'mail.folder_saved' : 'mail.folder_created', { name: name.value.trim() }));
        await refreshFolders(accountId);
      } catch (e) {
        result.textContent = e.message;
      }
    });
    const remove = form.querySelector('[data-act=delete]');
    if (remove) {
      remove.addEventListener('click', async () => {
        const ok = await confirmDialog(t, {
          title: t('mail.folder_delete'),
          message: t('mail.folder_delete_confirm', { name: folder.name }),
          confirmLabel: t('mail.folder_delete'),
        });
        if (!ok) return;
        try {
          await api('DELETE', `/api/v1/mail/folders/${folder.id}`);
          dialog.close();
          say(t('mail.folder_deleted', { name: folder.name }));
          if (state.folder === folder.id) location.hash = '#/mail';
          await refreshFolders(accountId);
        } catch (e) {
          result.textContent = e.message;
        }
      });
    }
    const dialog = openDialog({ title: folder ? `${t('mail.folder_actions')}: ${folder.name}` : t('mail.new_folder'), content: form, className: 'mail-dialog' });
  }

  function accountOf(folderId) {
    for (const [account, folders] of state.folders) if (folders.some((f) => f.id === folderId)) return account;
    return null;
  }

  async function refreshFolders(accountId) {
    state.folders.set(accountId, (await api('GET', `/api/v1/mail/accounts/${accountId}/folders`)).body);
    renderSidebar();
  }

  function renderSidebar() {
    clear(sidebar);
    const link = h('button', { type: 'button', class: 'secondary' }, t('mail.link'));
    link.addEventListener('click', linkDialog);
    const write = h('button', { type: 'button' }, t('mail.compose'));
    write.addEventListener('click', () => composeDialog('new', null));
    if (!state.accounts.length) {
      sidebar.append(h('p', { class: 'mail-hint' }, t('mail.none')), link);
      return;
    }
    const inboxUnseen = [...state.folders.values()].flat().filter((f) => f.role === 'inbox').reduce((n, f) => n + f.unseen, 0);
    sidebar.append(write, h('ul', {}, folderLink(null, t('mail.unified'), inboxUnseen)));
    for (const account of state.accounts) {
      const sync = h('button', { type: 'button', class: 'secondary mail-sync', 'aria-label': `${t('mail.sync')}: ${account.email}` }, '↻');
      sync.addEventListener('click', () => syncAccount(account.id));
      const add = h('button', { type: 'button', class: 'secondary mail-sync', 'aria-label': `${t('mail.new_folder')}: ${account.email}`, 'data-focus-key': `new-folder-${account.id}` }, '+');
      add.addEventListener('click', () => folderDialog(null, account.id));
      const folders = (state.folders.get(account.id) || []).filter((f) => f.selectable);
      sidebar.append(h('h2', { class: 'mail-account' }, h('span', {}, account.email), h('span', { class: 'mail-account-actions' }, add, sync)));
      if (account.problem === 'consent') sidebar.append(consentNotice(account));
      sidebar.append(h('ul', {}, ...folders.map((f) => folderLink(f.id, f.name, f.unseen, f))));
    }
    sidebar.append(link);
  }

  /** An OAuth account whose provider refused the refresh: only its user can renew it. */
  function consentNotice(account) {
    const again = h('button', { type: 'button' }, t('mail.sign_in_again'));
    again.addEventListener('click', () => startOAuth({ provider: account.oauth_provider, account: account.id }).catch(fail));
    return h('div', { class: 'mail-problem', role: 'alert' }, h('p', {}, t('mail.consent_needed', { email: account.email })), again);
  }

  /** Off to the provider (POST /oauth/start); it sends the browser back to /mail/oauth/callback. */
  async function startOAuth(request) {
    const started = (await api('POST', '/api/v1/mail/oauth/start', request)).body;
    location.assign(started.authorize_url);
  }

  /** What the OAuth callback put in the fragment (#/mail?linked=… or ?oauth_error=…). */
  function oauthOutcome(hash) {
    const q = hash.match(/^#\/mail\?(.*)$/);
    if (!q) return;
    const params = new URLSearchParams(q[1]);
    history.replaceState(null, '', '#/mail');
    if (params.get('linked')) {
      const id = Number(params.get('linked'));
      loadAccounts().then(() => syncAccount(id)).catch(fail);
    } else if (params.get('oauth_error')) {
      say(t('mail.oauth_failed', { message: params.get('oauth_error') }));
    }
  }

  async function syncAccount(id) {
    say(t('mail.syncing'));
    try {
      await api('POST', `/api/v1/mail/accounts/${id}/sync`);
      say(t('mail.synced'));
      await loadAccounts();
      await reload();
    } catch (e) {
      // The account now waits for its user: show why, with "Sign in again".
      if (e.code === 'consent_required') { say(e.message); await loadAccounts().catch(() => {}); return; }
      fail(e);
    }
  }

  function query(before) {
    const p = new URLSearchParams({ limit: String(PAGE) });
    if (state.folder !== null) p.set('folder', String(state.folder));
    if (state.filter) p.set(state.filter, 'true');
    if (state.q) p.set('q', state.q);
    // The server's search needs one folder; in "All inboxes" the index's search stands.
    if (state.q && state.body && state.folder !== null) p.set('body', 'true');
    if (before) p.set('before', before);
    return `/api/v1/mail/messages?${p}`;
  }

  /** The first page again; `fromTop` for another folder, filter or search (a push keeps the place). */
  async function reload(fromTop = true) {
    try {
      const page = (await api('GET', query(null))).body;
      if (fromTop) list.top();
      state.messages = page.messages;
      state.next = page.next;
      renderList();
    } catch (e) {
      fail(e);
    }
  }

  async function more() {
    if (state.loading || !state.next) return;
    state.loading = true;
    try {
      const page = (await api('GET', query(state.next))).body;
      const known = new Set(state.messages.map((m) => m.id));
      state.messages.push(...page.messages.filter((m) => !known.has(m.id)));
      state.next = page.next;
      renderList();
    } catch (e) {
      fail(e);
    } finally {
      state.loading = false;
    }
  }

  const when = (iso) => {
    const d = new Date(iso);
    const today = new Date();
    return d.toDateString() === today.toDateString()
      ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
      : d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  };

  /** The list shows `state.messages` (only the rows in view are drawn: mail/list.js). */
  function renderList() {
    list.set(state.messages, { openId: state.open, more: Boolean(state.next) });
  }

  function addressLine(label, people) {
    if (!people || !people.length) return null;
    return h('p', { class: 'mail-address' }, h('span', { class: 'mail-label' }, `${label}: `),
      people.map((p) => (p.name ? `${p.name} <${p.email}>` : p.email)).join(', '));
  }

  async function setFlags(id, change) {
    try {
      const summary = (await api('PATCH', `/api/v1/mail/messages/${id}`, change)).body;
      state.messages = state.messages.map((m) => (m.id === id ? summary : m));
      renderList();
      return summary;
    } catch (e) {
      fail(e);
      return null;
    }
  }

  /** The message left the folder shown (moved, deleted): out of the list and the reader. */
  function afterRemoval(id) {
    state.messages = state.messages.filter((x) => x.id !== id);
    state.open = null;
    renderList();
    clear(reader);
    reader.append(h('p', { class: 'mail-hint' }, t('mail.select')));
  }

  /** Opens message `id`; `images: true` shows its remote images this time (through the proxy). */
  async function openMessage(id, { images = false } = {}) {
    state.open = id;
    renderList();
    clear(reader);
    let m;
    try {
      m = (await api('GET', `/api/v1/mail/messages/${id}${images ? '?images=show' : ''}`)).body;
    } catch (e) {
      fail(e);
      return;
    }
    if (state.open !== id) return;
    if (!m.seen) {
      const s = await setFlags(id, { seen: true });
      if (s) Object.assign(m, s);
    }
    const seen = h('button', { type: 'button', class: 'secondary' }, t(m.seen ? 'mail.mark_unread' : 'mail.mark_read'));
    seen.addEventListener('click', async () => { const s = await setFlags(id, { seen: !m.seen }); if (s) { m.seen = s.seen; seen.textContent = t(m.seen ? 'mail.mark_unread' : 'mail.mark_read'); } });
    const flag = h('button', { type: 'button', class: 'secondary' }, t(m.flagged ? 'mail.unflag' : 'mail.flag'));
    flag.addEventListener('click', async () => { const s = await setFlags(id, { flagged: !m.flagged }); if (s) { m.flagged = s.flagged; flag.textContent = t(m.flagged ? 'mail.unflag' : 'mail.flag'); } });
    const body = m.html
      ? renderMessageHtml(m.html, (url) => imageDataUrl(url).catch(() => null))
      : h('pre', { class: 'mail-text' }, m.text);
    const sender = (m.from && m.from.email) || '';
    /** Adds or removes the sender from the list of senders whose images are always shown, then re-reads. */
    const trustSender = async (trust) => {
      try {
        if (trust) await api('POST', '/api/v1/mail/image-senders', { address: sender });
        else await api('DELETE', `/api/v1/mail/image-senders/${encodeURIComponent(sender)}`);
        openMessage(id);
      } catch (e) { fail(e); }
    };
    let imagesBar = null;
    if (m.images_blocked) {
      // Remote images tell the sender when and where the message was read: shown only when
      // the user asks, and then loaded by Madang (the proxy), never by this browser directly.
      const show = h('button', { type: 'button', class: 'secondary' }, t('mail.show_images'));
      show.addEventListener('click', () => openMessage(id, { images: true }));
      const always = sender
        ? h('button', { type: 'button', class: 'secondary' }, t('mail.always_show_images', { sender }))
        : null;
      if (always) always.addEventListener('click', () => trustSender(true));
      imagesBar = h('div', { class: 'mail-notice mail-images', role: 'status' },
        h('span', {}, t('mail.remote_images')), ' ', show, ' ', always);
    } else if (m.remote_images && m.sender_trusted) {
      const stop = h('button', { type: 'button', class: 'secondary' }, t('mail.stop_showing_images'));
      stop.addEventListener('click', () => trustSender(false));
      imagesBar = h('div', { class: 'mail-notice mail-images' },
        h('span', {}, t('mail.images_always_shown', { sender })), ' ', stop);
    }
    const files = m.attachments.filter((a) => !a.inline).map((a) => {
      const b = h('button', { type: 'button', class: 'secondary mail-attachment' }, `${t('mail.download')} ${a.name} (${Math.ceil(a.size / 1024)} KB)`);
      b.addEventListener('click', () => download(a.url, a.name).catch(fail));
      return h('li', {}, b);
    });
    const replyButton = (label, mode) => {
      const b = h('button', { type: 'button' }, t(label));
      b.addEventListener('click', () => composeDialog(mode, m));
      return b;
    };
    const remove = h('button', { type: 'button', class: 'secondary' }, t('mail.delete'));
    remove.addEventListener('click', async () => {
      try {
        await api('DELETE', `/api/v1/mail/messages/${id}`);
        afterRemoval(id);
      } catch (e) { fail(e); }
    });
    const targets = (state.folders.get(m.account) || []).filter((f) => f.selectable && f.id !== m.folder);
    const move = h('select', { 'aria-label': t('mail.move') },
      h('option', { value: '' }, t('mail.move')), ...targets.map((f) => h('option', { value: String(f.id) }, f.name)));
    move.addEventListener('change', async () => {
      if (!move.value) return;
      try {
        await api('POST', `/api/v1/mail/messages/${id}/move`, { folder: Number(move.value) });
        afterRemoval(id);
      } catch (e) { fail(e); }
    });
    const copyTargets = (state.folders.get(m.account) || []).filter((f) => f.selectable);
    const copy = h('select', { 'aria-label': t('mail.copy') },
      h('option', { value: '' }, t('mail.copy')), ...copyTargets.map((f) => h('option', { value: String(f.id) }, f.name)));
    copy.addEventListener('change', async () => {
      if (!copy.value) return;
      const target = copyTargets.find((f) => f.id === Number(copy.value));
      try {
        await api('POST', `/api/v1/mail/messages/${id}/copy`, { folder: Number(copy.value) });
        say(t('mail.copied', { folder: target ? target.name : '' }));
      } catch (e) { fail(e); }
      copy.value = '';
    });
    // A draft is for going on with, not for answering.
    const inDrafts = ((state.folders.get(m.account) || []).find((f) => f.id === m.folder) || {}).role === 'drafts';
    const actions = inDrafts ? [replyButton('mail.edit_draft', 'draft')]
      : [replyButton('mail.reply', 'reply'), replyButton('mail.reply_all', 'all'), replyButton('mail.forward', 'forward')];
    append(reader, [
      h('h2', { class: 'mail-title' }, m.subject || t('mail.no_subject')),
      h('div', { class: 'mail-actions' }, ...actions, seen, flag, remove, move, copy),
      addressLine(t('mail.from'), [m.from]),
      addressLine(t('mail.to'), m.to),
      addressLine(t('mail.cc'), m.cc),
      h('p', { class: 'mail-address' }, h('span', { class: 'mail-label' }, `${t('mail.date')}: `), new Date(m.sent_at || m.received_at).toLocaleString()),
      imagesBar,
      body,
      files.length ? h('ul', { class: 'mail-attachments' }, ...files) : null,
    ]);
    try {
      const thread = (await api('GET', `/api/v1/mail/accounts/${m.account}/threads/${m.thread}`)).body;
      if (thread.length > 1 && state.open === id) {
        reader.append(h('section', { class: 'mail-thread', 'aria-label': t('mail.conversation') },
          h('h3', {}, t('mail.conversation')),
          h('ol', {}, ...thread.map((x) => {
            const b = h('button', { type: 'button', class: 'mail-thread-item', 'aria-current': x.id === id ? 'true' : null },
              `${x.from.name || x.from.email} — ${when(x.received_at)} — ${x.preview}`);
            b.addEventListener('click', () => openMessage(x.id));
            return h('li', {}, b);
          }))));
      }
    } catch { /* the conversation is a bonus */ }
  }

  /** Writing a new message, a reply (`reply`, `all`) or forward of `m`, or going on with the
   * draft `m` (`draft`): mail/compose.js. */
  function composeDialog(mode, m) {
    openComposer({ api, t, accounts: state.accounts, say, limits: me && me.limits }, mode, m);
  }

  function field(name, label, attrs = {}) {
    const id = `mail-f-${name}`;
    return h('p', {}, h('label', { for: id }, label), h('input', { id, name, ...attrs }));
  }

  function linkDialog() {
    const security = (name, value) => {
      const select = h('select', { id: `mail-f-${name}`, name }, ...['tls', 'starttls', 'plain'].map((v) => h('option', { value: v }, v)));
      select.value = value;
      return h('p', {}, h('label', { for: `mail-f-${name}` }, t('mail.f.security')), select);
    };
    const result = h('div', { class: 'mail-test-result', role: 'status' });
    // "Sign in with …" for the OAuth providers this server has that serve these servers (a
    // provider without hosts, the company's own, serves any): no password then.
    const oauthBox = h('div', { class: 'mail-oauth' });
    let oauthProviders = /** @type {any[]} */ ([]);
    const showOAuth = () => {
      clear(oauthBox);
      const host = value('imap_host').trim().toLowerCase();
      const usable = oauthProviders.filter((p) => !p.imap_hosts.length || p.imap_hosts.includes(host));
      if (!usable.length) return;
      oauthBox.append(h('p', { class: 'mail-hint' }, t('mail.oauth_hint')));
      for (const p of usable) {
        const button = h('button', { type: 'button', class: 'secondary' }, t('mail.oauth_sign_in', { name: p.name }));
        button.addEventListener('click', async () => {
          clear(result);
          if (!value('email')) { result.textContent = t('mail.oauth_email_first'); return; }
          const settings = body();
          delete settings.password;
          try { await startOAuth({ provider: p.id, settings }); } catch (e) { result.textContent = e.message; }
        });
        oauthBox.append(button);
      }
    };
    api('GET', '/api/v1/mail/oauth/providers').then((r) => { oauthProviders = r.body; showOAuth(); }).catch(() => {});
    // Where the suggested settings came from (table, DNS SRV/MX, guess) and what to know first.
    const origin = h('div', { class: 'mail-hint', role: 'status' });
    const form = h('form', { class: 'mail-link' },
      field('email', t('mail.f.email'), { type: 'email', required: '', autocomplete: 'email' }),
      origin,
      field('password', t('mail.f.password'), { type: 'password', required: '', autocomplete: 'off' }),
      field('display_name', t('mail.f.name'), { type: 'text' }),
      field('username', t('mail.f.username'), { type: 'text', required: '' }),
      field('imap_host', t('mail.f.imap_host'), { type: 'text', required: '' }),
      field('imap_port', t('mail.f.imap_port'), { type: 'number', value: '993', min: '1', max: '65535' }),
      security('imap_security', 'tls'),
      field('smtp_host', t('mail.f.smtp_host'), { type: 'text', required: '' }),
      field('smtp_port', t('mail.f.smtp_port'), { type: 'number', value: '587', min: '1', max: '65535' }),
      security('smtp_security', 'starttls'),
      result,
      h('p', { class: 'v-dialog-actions' },
        h('button', { type: 'button', class: 'secondary', 'data-act': 'suggest' }, t('mail.suggest')),
        h('button', { type: 'button', class: 'secondary', 'data-act': 'test' }, t('mail.test')),
        h('button', { type: 'submit' }, t('mail.save'))),
      oauthBox);
    const value = (n) => /** @type {HTMLInputElement} */ (form.elements.namedItem(n)).value;
    const set = (n, v) => { /** @type {HTMLInputElement} */ (form.elements.namedItem(n)).value = String(v); };
    const body = () => ({
      email: value('email'), password: value('password'), display_name: value('display_name'),
      username: value('username') || value('email'),
      imap_host: value('imap_host'), imap_port: Number(value('imap_port')), imap_security: value('imap_security'),
      smtp_host: value('smtp_host'), smtp_port: Number(value('smtp_port')), smtp_security: value('smtp_security'),
    });
    const report = (r) => {
      clear(result);
      if (r.ok) { result.append(h('p', {}, t('mail.test_ok'))); return; }
      for (const [server, part] of [['IMAP', r.imap], ['SMTP', r.smtp]]) {
        if (part && part.failure) {
          result.append(h('p', { class: 'v-status-error' }, t('mail.test_failed',
            { server, step: t(`mail.step.${part.failure.step}`), message: part.failure.message })));
        }
      }
    };
    // Leaving the address field asks once per address, and fills only the servers (IMAP, SMTP)
    // the user has not started typing in (the answer may take a DNS look-up, up to 2 s, while
    // they go on): host, port and security go together, so a port the user typed never gets a
    // suggested security that does not match it. The button asks again on purpose and fills all.
    const servers = ['imap_host', 'imap_port', 'imap_security', 'smtp_host', 'smtp_port', 'smtp_security'];
    const touched = new Set();
    for (const k of servers) form.elements.namedItem(k).addEventListener('input', () => touched.add(k));
    // The user name is filled only while nobody is at it: an answer landing between a keystroke's
    // focus and its text would put the caret after the suggestion and double the name (seen in CI,
    // Playwright's fill racing the look-up).
    const usernameField = /** @type {HTMLInputElement} */ (form.elements.namedItem('username'));
    usernameField.addEventListener('input', () => touched.add('username'));
    const usernameFree = () => !usernameField.value && !touched.has('username') && !usernameField.matches(':focus');
    // A well-known port typed in brings its security (RFC 8314: 993 and 465 are TLS from the
    // first byte, 143 and 587 start plain and upgrade), as mail apps' set-up does.
    const known = { 993: 'tls', 143: 'starttls', 465: 'tls', 587: 'starttls' };
    for (const side of ['imap', 'smtp']) {
      form.elements.namedItem(`${side}_port`).addEventListener('input', () => {
        const security = known[Number(value(`${side}_port`))];
        if (security) set(`${side}_security`, security);
      });
    }
    let suggested = '';
    const suggest = async (again) => {
      const email = value('email').trim();
      if (!email.includes('@') || (!again && email === suggested)) return;
      suggested = email;
      try {
        const s = (await api('GET', `/api/v1/mail/providers?email=${encodeURIComponent(email)}`)).body;
        if (again) touched.clear();
        const sideTouched = (k) => [...touched].some((x) => x.split('_')[0] === k.split('_')[0]);
        for (const k of servers) if (s[k] !== undefined && !sideTouched(k)) set(k, s[k]);
        if (usernameFree()) set('username', s.username_is_address === false ? email.split('@')[0] : email);
        clear(origin);
        origin.append(h('p', {}, t(`mail.source.${s.source}`, { provider: s.provider || '' })));
        if (s.note) origin.append(h('p', {}, s.note));
        showOAuth();
      } catch (e) { if (again) fail(e); }
    };
    form.elements.namedItem('email').addEventListener('change', () => suggest(false));
    form.querySelector('[data-act=suggest]').addEventListener('click', () => suggest(true));
    form.querySelector('[data-act=test]').addEventListener('click', async () => {
      clear(result);
      try { report((await api('POST', '/api/v1/mail/accounts/test', body())).body); } catch (e) { result.textContent = e.message; }
    });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clear(result);
      try {
        const account = (await api('POST', '/api/v1/mail/accounts', body())).body;
        dialog.close();
        await loadAccounts();
        syncAccount(account.id);
      } catch (e) {
        if (e.details && e.details.imap) report(e.details); else result.textContent = e.message;
      }
    });
    const dialog = openDialog({ title: t('mail.link'), content: form, className: 'mail-dialog' });
  }

  function navigate(hash) {
    oauthOutcome(hash);
    const m = hash.match(/^#\/mail\/(\d+)/);
    state.folder = m ? Number(m[1]) : null;
    state.open = null;
    clear(reader);
    reader.append(h('p', { class: 'mail-hint' }, t('mail.select')));
    renderSidebar();
    reload();
  }

  // New mail, flags or expunges in a folder: refresh the counts, and the list when it shows it.
  // A folder created, renamed or deleted (here or in another tab) arrives the same way.
  const off = onPush('mail.changed', async (data) => {
    try {
      const folders = (await api('GET', `/api/v1/mail/accounts/${data.account}/folders`)).body;
      state.folders.set(data.account, folders);
      if (data.op === 'deleted' && state.folder === data.folder) { location.hash = '#/mail'; return; }
      renderSidebar();
      const shown = state.folder === null ? folders.some((f) => f.id === data.folder && f.role === 'inbox') : state.folder === data.folder;
      if (shown) await reload(false);
    } catch { /* the next event or a reload catches up */ }
  });
  const offResync = onPush('resync', () => { loadAccounts().then(reload).catch(fail); });

  loadAccounts().then(() => navigate(location.hash)).catch(fail);
  return {
    navigate,
    unmount() {
      list.unmount();
      if (typeof off === 'function') off();
      if (typeof offResync === 'function') offResync();
    },
  };
}
