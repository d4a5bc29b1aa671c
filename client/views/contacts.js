// The Contacts view: address books, search as you type, one contact's card, an editor for the
// common vCard fields (RFC 6350: names, organisation, e-mails, phones, addresses, birthday,
// notes, photo), groups (RFC 6350 KIND:group cards and their MEMBERs; CATEGORIES as tags), and
// .vcf import and export. Writes send back the whole
// contact read from the API with If-Match, so what the model does not show (a phone's X-
// properties, the card's vCard version) stays as the server stored it.

import { h } from '../ui.js';
import {
  confirmDialog, debounce, errorText, field, focusKeeper, liveRegion, openDialog, select, setOptions,
} from './common.js';

const PREF = 'madang.contacts.';
const PAGE = 200;
const EMAIL_TYPES = ['home', 'work', 'other'];
const PHONE_TYPES = ['cell', 'home', 'work', 'fax', 'other'];
const ADDRESS_TYPES = ['home', 'work', 'other'];
const PHOTO_MAX = 256;
const DATE_RE = /^(\d{4}-\d{2}-\d{2}|--\d{2}-\d{2})$/;

const CJK = /[\u1100-\u11FF\u3040-\u30FF\u3130-\u318F\u3400-\u9FFF\uAC00-\uD7AF]/;

/**
 * A structured name as people write it: Korean, Japanese and Chinese names family name first
 * and without a space (김민지), others "Prefix Given Middle Family Suffix".
 */
export function composeName(n) {
  if (!n) return '';
  const part = (x) => (x || '').trim();
  if (CJK.test(part(n.family) + part(n.given))) {
    return [part(n.prefix), `${part(n.family)}${part(n.given)}${part(n.additional)}`, part(n.suffix)].filter(Boolean).join(' ');
  }
  return [n.prefix, n.given, n.additional, n.family, n.suffix].map(part).filter(Boolean).join(' ');
}

/** The name to show: FN, else the structured name, else organisation or e-mail. */
export function displayName(c, t) {
  if (c.full_name && c.full_name.trim()) return c.full_name.trim();
  return composeName(c.name) || c.organization || (c.emails && c.emails[0] && c.emails[0].value) || t('contacts.unnamed');
}

/** A contact's tags: CATEGORIES. */
export function tagsOf(c) {
  return (c.categories || []).filter((g) => typeof g === 'string' && g.trim());
}

/** Whether contact `c` is in group card `g`: the group's MEMBERs, or the contact's `groups`. */
export function inGroup(c, g) {
  return (g.members || []).includes(c.uid) || (c.groups || []).some((x) => x && x.uid === g.uid);
}

/** The type shown for a typed value: its first TYPE other than `pref`/`internet`/`voice`. */
function mainType(types, known) {
  const ts = (types || []).map((x) => String(x).toLowerCase()).filter((x) => !['pref', 'internet', 'voice'].includes(x));
  return ts.find((x) => known.includes(x)) || (ts.length ? ts[0] : 'other');
}

function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => [...w][0]).join('').toUpperCase();
}

/** Only web links become links; `javascript:` and friends stay text. */
function safeUrl(value) {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

/** A picked image, scaled to at most 256 px and re-encoded as a JPEG data: URL. */
function photoDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onerror = () => reject(reader.error);
    reader.onload = async () => {
      try {
        const img = new Image();
        img.src = String(reader.result);
        await img.decode();
        const scale = Math.min(1, PHOTO_MAX / Math.max(img.naturalWidth, img.naturalHeight));
        const canvas = document.createElement('canvas');
        canvas.width = Math.max(1, Math.round(img.naturalWidth * scale));
        canvas.height = Math.max(1, Math.round(img.naturalHeight * scale));
        canvas.getContext('2d').drawImage(img, 0, 0, canvas.width, canvas.height);
        resolve(canvas.toDataURL('image/jpeg', 0.85));
      } catch (e) {
        reject(e);
      }
    };
    reader.readAsDataURL(file);
  });
}

function storedPref(name, fallback) {
  try { return localStorage.getItem(PREF + name) ?? fallback; } catch { return fallback; }
}

function savePref(name, value) {
  try { localStorage.setItem(PREF + name, String(value)); } catch { /* private mode: not kept */ }
}

export function mount(root, ctx) {
  const { api, t, onPush } = ctx;
  const collator = new Intl.Collator(document.documentElement.lang || undefined, { sensitivity: 'base', numeric: true });
  const state = {
    books: [],
    bookId: storedPref('book', null),
    contacts: [],
    groups: [],
    total: 0,
    cursor: null,
    query: '',
    group: '',
    selected: null,
    loaded: false,
    failed: null,
  };
  const status = liveRegion();
  const keeper = focusKeeper();
  const dialogs = new Set();
  let alive = true;
  let searchSeq = 0;

  const bookPath = (rest = '') => `/api/v1/addressbooks/${encodeURIComponent(state.bookId)}${rest}`;
  const contactPath = (uid) => bookPath(`/contacts/${encodeURIComponent(uid)}`);

  // ----- The fixed frame. -----
  const heading = h('h1', { class: 'v-title', id: 'contacts-heading', tabindex: '-1' }, t('contacts.title'));
  const bookPicker = h('select', { id: 'contacts-book' });
  bookPicker.addEventListener('change', () => {
    state.bookId = bookPicker.value;
    savePref('book', state.bookId);
    state.selected = null;
    state.group = '';
    loadGroups().catch(() => {}).then(reload);
  });
  const searchBox = h('input', { type: 'search', id: 'contacts-search', autocomplete: 'off', spellcheck: 'false' });
  const runSearch = debounce(() => {
    state.query = searchBox.value.trim();
    reload();
  }, 250);
  searchBox.addEventListener('input', runSearch);
  searchBox.addEventListener('keydown', (e) => {
    // Enter searches at once instead of waiting for the pause.
    if (e.key === 'Enter') { e.preventDefault(); runSearch.cancel(); state.query = searchBox.value.trim(); reload(); }
  });
  const groupPicker = h('select', { id: 'contacts-group' });
  groupPicker.addEventListener('change', () => { state.group = groupPicker.value; render(); });

  const newButton = h('button', { type: 'button' }, t('contacts.new'));
  newButton.addEventListener('click', () => editContact(null));
  const importInput = h('input', { type: 'file', id: 'contacts-import', accept: '.vcf,.vcard,text/vcard,text/x-vcard' });
  importInput.addEventListener('change', () => {
    const file = importInput.files && importInput.files[0];
    if (file) importFile(file).finally(() => { importInput.value = ''; });
  });
  const exportButton = h('button', { type: 'button', class: 'secondary' }, t('contacts.export'));
  exportButton.addEventListener('click', exportBook);

  const toolbar = h('div', { class: 'v-toolbar', role: 'search', 'aria-label': t('contacts.search_region') },
    field(t('contacts.book'), bookPicker),
    field(t('contacts.search'), searchBox, t('contacts.search_hint')),
    field(t('contacts.group'), groupPicker));
  const actions = h('div', { class: 'v-head-actions' },
    newButton, exportButton, h('div', { class: 'v-field v-file' }, h('label', { for: 'contacts-import' }, t('contacts.import')), importInput));

  const listPane = h('div', { class: 'v-contacts-list' });
  const detailPane = h('section', { class: 'v-contact-detail', 'aria-label': t('contacts.detail') });
  const split = h('div', { class: 'v-split' }, listPane, detailPane);
  const frame = h('section', { class: 'v-view v-contacts', 'aria-labelledby': 'contacts-heading' },
    h('div', { class: 'v-head' }, heading, actions),
    toolbar,
    status.node,
    split);
  root.replaceChildren(frame);

  // ----- Rendering. -----
  /** The filter: `g:<uid>` a group card, `t:<name>` a tag (CATEGORIES), '' everyone. */
  function shownContacts() {
    if (state.group.startsWith('g:')) {
      const g = state.groups.find((x) => x.uid === state.group.slice(2));
      return g ? state.contacts.filter((c) => inGroup(c, g)) : [];
    }
    if (state.group.startsWith('t:')) {
      const tag = state.group.slice(2);
      return state.contacts.filter((c) => tagsOf(c).includes(tag));
    }
    return state.contacts;
  }

  function groupName(g) {
    return (g.full_name || '').trim() || t('contacts.unnamed_group');
  }

  function sortedGroups() {
    return [...state.groups].sort((a, b) => collator.compare(groupName(a), groupName(b)));
  }

  function allTags() {
    const set = new Set();
    for (const c of state.contacts) for (const g of tagsOf(c)) set.add(g);
    if (state.group.startsWith('t:')) set.add(state.group.slice(2));
    return [...set].sort((a, b) => collator.compare(a, b));
  }

  /** Whether the chosen address book is one Madang writes itself (the company directory). */
  function readOnly() {
    return Boolean((state.books.find((b) => b.id === state.bookId) || {}).read_only);
  }

  function render() {
    if (!alive) return;
    keeper.save();
    setOptions(bookPicker, state.books.map((b) => [b.id, b.name || b.id]), state.bookId);
    const off = !state.bookId;
    for (const el of [bookPicker, searchBox, groupPicker, newButton, exportButton, importInput]) el.disabled = off;
    // The company directory is read-only: nothing in it can be added, changed or deleted here.
    for (const el of [newButton, importInput]) el.disabled = off || readOnly();
    setOptions(groupPicker, [
      ['', t('contacts.group_all')],
      ...sortedGroups().map((g) => [`g:${g.uid}`, groupName(g)]),
      ...allTags().map((tag) => [`t:${tag}`, t('contacts.tag_option', { tag })]),
    ], state.group);
    split.classList.toggle('v-has-selection', Boolean(state.selected));
    renderList();
    renderDetail();
    keeper.restore(frame);
  }

  function renderList() {
    if (state.failed) {
      const retry = h('button', { type: 'button', 'data-focus-key': 'retry' }, t('views.retry'));
      retry.addEventListener('click', () => { state.failed = null; start(); });
      listPane.replaceChildren(h('p', { class: 'v-error', role: 'alert' }, state.failed), retry);
      return;
    }
    if (!state.loaded) { listPane.replaceChildren(h('p', { class: 'v-muted' }, t('views.loading'))); return; }
    if (!state.bookId) { listPane.replaceChildren(h('p', { class: 'v-empty' }, t('contacts.no_books'))); return; }
    const shown = shownContacts();
    const count = h('p', { class: 'v-muted v-count', 'aria-live': 'polite' },
      state.query ? t('contacts.count_search', { count: state.total, query: state.query }) : t('contacts.count', { count: state.total }));
    if (shown.length === 0) {
      const group = state.group.startsWith('g:') && state.groups.find((x) => x.uid === state.group.slice(2));
      const del = group && h('button', { type: 'button', class: 'secondary v-small v-danger-text', 'data-focus-key': 'del-group' },
        t('contacts.delete_group', { name: groupName(group) }));
      if (del) del.addEventListener('click', () => removeGroup(group));
      if (del && readOnly()) del.hidden = true;
      listPane.replaceChildren(count, h('p', { class: 'v-empty' }, state.query || state.group ? t('contacts.no_match') : t('contacts.empty')), del || '');
      return;
    }
    const items = shown.map((c) => {
      const name = displayName(c, t);
      const sub = [c.organization, c.emails && c.emails[0] && c.emails[0].value].filter(Boolean).join(' · ');
      const selected = state.selected === c.uid;
      const b = h('button', {
        type: 'button', class: 'v-contact-item', 'data-focus-key': `c:${c.uid}`,
        'aria-current': selected ? 'true' : 'false',
      }, avatar(c, name, 'v-avatar-small'), h('span', { class: 'v-contact-text' },
        h('span', { class: 'v-contact-name' }, name), sub ? h('span', { class: 'v-muted v-contact-sub' }, sub) : null));
      b.addEventListener('click', () => selectContact(c.uid));
      return h('li', {}, b);
    });
    const parts = [count];
    const group = state.group.startsWith('g:') && state.groups.find((x) => x.uid === state.group.slice(2));
    if (group) {
      const del = h('button', { type: 'button', class: 'secondary v-small v-danger-text', 'data-focus-key': 'del-group' },
        t('contacts.delete_group', { name: groupName(group) }));
      del.addEventListener('click', () => removeGroup(group));
      del.hidden = readOnly();
      parts.push(del);
    }
    parts.push(h('ul', { class: 'v-contactlist', 'aria-label': t('contacts.list_label') }, ...items));
    if (state.cursor) {
      const more = h('button', { type: 'button', class: 'secondary', 'data-focus-key': 'more' }, t('contacts.more'));
      more.addEventListener('click', loadMore);
      parts.push(more);
    }
    listPane.replaceChildren(...parts);
  }

  function avatar(c, name, cls) {
    if (c.photo && (c.photo.startsWith('data:image/') || safeUrl(c.photo))) {
      const img = h('img', { class: `v-avatar ${cls}`, src: c.photo, alt: '' });
      return img;
    }
    return h('span', { class: `v-avatar v-avatar-initials ${cls}`, 'aria-hidden': 'true' }, initials(name) || '?');
  }

  function current() {
    return state.contacts.find((c) => c.uid === state.selected) || null;
  }

  function renderDetail() {
    const c = current();
    if (!c) {
      detailPane.replaceChildren(h('p', { class: 'v-muted v-detail-empty' }, state.contacts.length ? t('contacts.pick') : ''));
      return;
    }
    const name = displayName(c, t);
    const back = h('button', { type: 'button', class: 'secondary v-back', 'data-focus-key': 'back' }, t('contacts.back'));
    back.addEventListener('click', () => {
      const uid = state.selected;
      state.selected = null;
      render();
      const item = listPane.querySelector(`[data-focus-key="${CSS.escape(`c:${uid}`)}"]`);
      (item || searchBox).focus();
    });
    const headId = 'contact-detail-name';
    const photo = c.photo ? h('img', { class: 'v-avatar v-avatar-large', src: c.photo, alt: t('contacts.photo_of', { name }) })
      : avatar(c, name, 'v-avatar-large');
    const role = [c.title, [c.organization, c.department].filter(Boolean).join(' — ')].filter(Boolean).join(', ');
    const edit = h('button', { type: 'button', 'data-focus-key': 'edit' }, t('contacts.edit'));
    edit.addEventListener('click', () => editContact(c));
    const del = h('button', { type: 'button', class: 'secondary v-danger-text', 'data-focus-key': 'delete' }, t('views.delete'));
    del.addEventListener('click', () => removeContact(c));

    const rows = [];
    const row = (label, ...values) => {
      if (!values.length) return;
      rows.push(h('dt', {}, label), ...values.map((v) => h('dd', {}, v)));
    };
    const typeLabel = (types, known) => {
      const ty = mainType(types, known);
      const label = [...EMAIL_TYPES, ...PHONE_TYPES].includes(ty) ? t(`contacts.type.${ty}`) : ty;
      return h('span', { class: 'v-muted v-type' }, ` (${label})`);
    };
    row(t('contacts.field.nicknames'), ...(c.nicknames || []).filter(Boolean).length ? [c.nicknames.join(', ')] : []);
    row(t('contacts.field.emails'), ...(c.emails || []).map((e) =>
      h('span', {}, h('a', { href: `mailto:${e.value}` }, e.value), typeLabel(e.types, EMAIL_TYPES))));
    row(t('contacts.field.phones'), ...(c.phones || []).map((p) =>
      h('span', {}, h('a', { href: `tel:${p.value.replace(/[^\d+*#]/g, '')}` }, p.value), typeLabel(p.types, PHONE_TYPES))));
    row(t('contacts.field.addresses'), ...(c.addresses || []).map((a) => h('address', { class: 'v-address' },
      ...[a.po_box, a.extended, a.street, [a.postal_code, a.locality].filter(Boolean).join(' '), a.region, a.country]
        .filter((x) => x && x.trim()).map((line) => h('span', { class: 'v-line' }, line)),
      typeLabel(a.types, ADDRESS_TYPES))));
    if (c.birthday) row(t('contacts.field.birthday'), c.birthday);
    if (c.anniversary) row(t('contacts.field.anniversary'), c.anniversary);
    row(t('contacts.field.urls'), ...(c.urls || []).map((u) => {
      const href = safeUrl(u.value);
      return href ? h('a', { href, rel: 'noopener noreferrer', target: '_blank' }, u.value) : u.value;
    }));
    const groups = new Map(sortedGroups().filter((g) => inGroup(c, g)).map((g) => [g.uid, groupName(g)]));
    for (const g of c.groups || []) if (g && g.uid && !groups.has(g.uid)) groups.set(g.uid, g.name || t('contacts.unnamed_group'));
    if (groups.size) row(t('contacts.field.groups'), h('ul', { class: 'v-chips', 'aria-label': t('contacts.field.groups') }, ...[...groups.values()].map((g) => h('li', {}, g))));
    const tags = tagsOf(c);
    if (tags.length) row(t('contacts.field.categories'), h('ul', { class: 'v-chips', 'aria-label': t('contacts.field.categories') }, ...tags.map((g) => h('li', {}, g))));
    if (c.notes) row(t('contacts.field.notes'), h('p', { class: 'v-notes' }, c.notes));

    detailPane.replaceChildren(
      back,
      h('div', { class: 'v-card-head' }, photo, h('div', {},
        h('h2', { id: headId, tabindex: '-1', 'data-focus-key': 'detail-head' }, name),
        role ? h('p', { class: 'v-muted' }, role) : null)),
      rows.length ? h('dl', { class: 'v-fields' }, ...rows) : h('p', { class: 'v-muted' }, t('contacts.no_details')),
      readOnly() ? '' : h('div', { class: 'v-actions' }, edit, del));
    detailPane.setAttribute('aria-labelledby', headId);
  }

  function selectContact(uid) {
    state.selected = uid;
    render();
    const head = detailPane.querySelector('h2');
    if (head) head.focus();
  }

  // ----- Loading. -----
  async function loadBooks() {
    const r = await api('GET', '/api/v1/addressbooks');
    state.books = Array.isArray(r.body) ? r.body : [];
    if (!state.books.some((b) => b.id === state.bookId)) state.bookId = state.books.length ? state.books[0].id : null;
  }

  async function fetchPage(cursor) {
    // People only: group cards are listed in the group picker, not among the contacts.
    const q = new URLSearchParams({ limit: String(PAGE), kind: 'individual' });
    if (state.query) q.set('q', state.query);
    if (cursor) q.set('cursor', cursor);
    const r = await api('GET', `${bookPath('/contacts')}?${q}`);
    return r.body || {};
  }

  /** The address book's group cards (RFC 6350 KIND:group; Apple's X-ADDRESSBOOKSERVER-KIND). */
  async function loadGroups() {
    if (!state.bookId) { state.groups = []; return; }
    const groups = [];
    let cursor = null;
    for (let page = 0; page < 20; page += 1) {
      const q = new URLSearchParams({ limit: '500', kind: 'group' });
      if (cursor) q.set('cursor', cursor);
      const r = await api('GET', `${bookPath('/contacts')}?${q}`);
      // A server without groups ignores `kind` and answers with everyone: keep only groups.
      groups.push(...((r.body && r.body.contacts) || []).filter((c) => c.kind === 'group'));
      cursor = r.body && r.body.next_cursor;
      if (!cursor) break;
    }
    state.groups = groups;
  }

  /** The first page for the current book and query; stale answers (typed over) are dropped. */
  async function reload() {
    const seq = ++searchSeq;
    if (!state.bookId) { state.contacts = []; state.total = 0; state.loaded = true; render(); return; }
    try {
      const body = await fetchPage(null);
      if (seq !== searchSeq || !alive) return;
      state.contacts = body.contacts || [];
      state.total = body.total ?? state.contacts.length;
      state.cursor = body.next_cursor || null;
      state.loaded = true;
      state.failed = null;
      render();
    } catch (err) {
      if (seq !== searchSeq || !alive) return;
      status.say(errorText(t, err), { error: true });
    }
  }

  async function loadMore() {
    const seq = searchSeq;
    try {
      const body = await fetchPage(state.cursor);
      if (seq !== searchSeq || !alive) return;
      const have = new Set(state.contacts.map((c) => c.uid));
      const fresh = (body.contacts || []).filter((c) => !have.has(c.uid));
      state.contacts.push(...fresh);
      state.cursor = body.next_cursor || null;
      render();
      const first = fresh[0] && listPane.querySelector(`[data-focus-key="${CSS.escape(`c:${fresh[0].uid}`)}"]`);
      if (first) first.focus();
    } catch (err) {
      status.say(errorText(t, err), { error: true });
    }
  }

  async function start() {
    try {
      await loadBooks();
      await loadGroups();
      await reload();
    } catch (err) {
      if (!alive) return;
      state.failed = errorText(t, err);
      state.loaded = true;
      render();
    }
  }

  /** The selected contact as stored now (after a push about it), kept in the list. */
  async function refreshSelected(uid) {
    try {
      const r = await api('GET', contactPath(uid));
      const i = state.contacts.findIndex((c) => c.uid === uid);
      if (i >= 0) state.contacts[i] = r.body;
      render();
    } catch (err) {
      if (err && err.status === 404) {
        state.contacts = state.contacts.filter((c) => c.uid !== uid);
        if (state.selected === uid) { state.selected = null; status.say(t('contacts.gone')); }
        render();
      }
    }
  }

  const refetchBook = debounce(async () => {
    await loadGroups().catch(() => {});
    await reload();
    if (state.selected) refreshSelected(state.selected);
  }, 300);
  const refetchAll = debounce(() => { start(); }, 300);

  // ----- Writing. -----
  function upsertLocal(c) {
    const i = state.contacts.findIndex((x) => x.uid === c.uid);
    if (i >= 0) state.contacts[i] = c; else { state.contacts.unshift(c); state.total += 1; }
  }

  /**
   * Group membership after the contact is saved: one member route call per box that changed
   * (If-Match with the group's ETag; the answer is the group as now stored), and a new group
   * card per name typed, with this contact as its first member.
   */
  async function saveMembership(uid, boxes, newNames) {
    for (const b of boxes) {
      const want = b.box.checked;
      if (want === b.was) continue;
      const g = state.groups.find((x) => x.uid === b.g.uid) || b.g;
      const r = await api(want ? 'PUT' : 'DELETE', bookPath(`/groups/${encodeURIComponent(g.uid)}/members/${encodeURIComponent(uid)}`),
        undefined, { ifMatch: g.etag });
      if (r.body && r.body.uid) state.groups = state.groups.map((x) => (x.uid === g.uid ? r.body : x));
    }
    const existing = new Map(state.groups.map((g) => [groupName(g).toLocaleLowerCase(), g]));
    for (const name of new Set(newNames.split(',').map((x) => x.trim()).filter(Boolean))) {
      const same = existing.get(name.toLocaleLowerCase());
      if (same) {
        if (!inGroup({ uid }, same)) {
          const r = await api('PUT', bookPath(`/groups/${encodeURIComponent(same.uid)}/members/${encodeURIComponent(uid)}`),
            undefined, { ifMatch: same.etag });
          if (r.body && r.body.uid) state.groups = state.groups.map((x) => (x.uid === same.uid ? r.body : x));
        }
        continue;
      }
      const r = await api('POST', bookPath('/contacts'), { kind: 'group', full_name: name, members: [uid] });
      if (r.body && r.body.uid) state.groups.push(r.body);
    }
    // The contact's read-only `groups` changed with the groups: read it again.
    try {
      const r = await api('GET', contactPath(uid));
      if (r.body && r.body.uid) upsertLocal(r.body);
    } catch { /* the list refetch on the next push shows it */ }
  }

  async function removeGroup(g) {
    const name = groupName(g);
    const ok = await confirmDialog(t, {
      title: t('contacts.delete_group_title'),
      message: t('contacts.delete_group_confirm', { name }),
      confirmLabel: t('views.delete'),
    });
    if (!ok) return;
    try {
      await api('DELETE', contactPath(g.uid), undefined, { ifMatch: g.etag });
      state.groups = state.groups.filter((x) => x.uid !== g.uid);
      state.group = '';
      render();
      status.say(t('contacts.group_deleted', { name }));
      groupPicker.focus();
    } catch (err) {
      status.say(errorText(t, err), { error: true });
      refetchBook();
    }
  }

  async function removeContact(c) {
    const name = displayName(c, t);
    const ok = await confirmDialog(t, {
      title: t('contacts.delete_title'),
      message: t('contacts.delete_confirm', { name }),
      confirmLabel: t('views.delete'),
    });
    if (!ok) return;
    try {
      await api('DELETE', contactPath(c.uid), undefined, { ifMatch: c.etag });
      state.contacts = state.contacts.filter((x) => x.uid !== c.uid);
      state.total = Math.max(0, state.total - 1);
      state.selected = null;
      render();
      status.say(t('contacts.deleted', { name }));
      searchBox.focus();
    } catch (err) {
      status.say(errorText(t, err), { error: true });
      refetchBook();
    }
  }

  async function importFile(file) {
    try {
      const text = await file.text();
      const r = await api('POST', bookPath('/import'), text, { headers: { 'Content-Type': 'text/vcard' } });
      const report = r.body || {};
      const rejected = report.rejected || [];
      status.say(t(rejected.length ? 'contacts.imported_some' : 'contacts.imported',
        { accepted: report.accepted || 0, rejected: rejected.length }), { error: rejected.length > 0 });
      if (rejected.length) {
        const list = h('ul', {}, ...rejected.map((x) => h('li', {}, t('contacts.rejected_item', { index: x.index + 1, reason: x.reason }))));
        const ok = h('button', { type: 'button', autofocus: true }, t('views.close'));
        const d = openDialog({ title: t('contacts.import_report'), content: h('div', {}, list, h('div', { class: 'v-actions' }, ok)) });
        ok.addEventListener('click', () => d.close());
      }
      await reload();
    } catch (err) {
      status.say(errorText(t, err), { error: true });
    }
  }

  async function exportBook() {
    try {
      const r = await api('GET', bookPath('/export'), undefined, { headers: { Accept: 'text/vcard' } });
      const text = typeof r.body === 'string' ? r.body : '';
      const blob = new Blob([text], { type: 'text/vcard;charset=utf-8' });
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: `${state.bookId}.vcf`, class: 'v-hidden' });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      status.say(t('contacts.exported'));
    } catch (err) {
      status.say(errorText(t, err), { error: true });
    }
  }

  // ----- The editor. -----
  /** Repeatable rows (e-mails, phones, addresses): each row builds its controls and reads them back. */
  function repeatable({ legend, addLabel, items, makeRow, blank }) {
    const list = h('ul', { class: 'v-rows' });
    const rows = [];
    const add = (item, focus) => {
      const r = makeRow(item);
      const remove = h('button', { type: 'button', class: 'secondary v-small', 'aria-label': t('contacts.remove_row', { what: legend, n: rows.length + 1 }) }, t('contacts.remove'));
      const li = h('li', { class: 'v-rowitem' }, r.node, remove);
      const entry = { li, read: r.read };
      remove.addEventListener('click', () => {
        const i = rows.indexOf(entry);
        rows.splice(i, 1);
        li.remove();
        addButton.focus();
      });
      rows.push(entry);
      list.append(li);
      if (focus) r.first.focus();
    };
    const addButton = h('button', { type: 'button', class: 'secondary v-small' }, addLabel);
    addButton.addEventListener('click', () => add(blank(), true));
    for (const item of items) add(item, false);
    return {
      node: h('fieldset', { class: 'v-fieldset' }, h('legend', {}, legend), list, addButton),
      read: () => rows.map((r) => r.read()).filter(Boolean),
    };
  }

  /** A value + type row: keeps the original TYPE list unless the type was changed. */
  function typedRow(labelText, inputType, known, item) {
    const value = h('input', { type: inputType, autocomplete: 'off' });
    value.value = item.value || '';
    const initial = mainType(item.types, known);
    const opts = known.map((k) => [k, t(`contacts.type.${k}`)]);
    if (!known.includes(initial)) opts.push([initial, initial]);
    const type = select(opts, initial);
    return {
      first: value,
      node: h('div', { class: 'v-row' }, field(labelText, value), field(t('contacts.field.type'), type)),
      read: () => {
        const v = value.value.trim();
        if (!v) return null;
        const types = type.value === initial ? (item.types || []) : type.value === 'other' ? [] : [type.value];
        return { value: v, types, pref: Boolean(item.pref) };
      },
    };
  }

  function addressRow(item) {
    const mk = (key, label, auto) => {
      const input = h('input', { type: 'text', autocomplete: auto || 'off' });
      input.value = item[key] || '';
      return { key, input, node: field(label, input) };
    };
    const parts = [
      mk('street', t('contacts.field.street'), 'off'),
      mk('extended', t('contacts.field.extended')),
      mk('locality', t('contacts.field.locality')),
      mk('region', t('contacts.field.region')),
      mk('postal_code', t('contacts.field.postal_code')),
      mk('country', t('contacts.field.country')),
    ];
    const initial = mainType(item.types, ADDRESS_TYPES);
    const opts = ADDRESS_TYPES.map((k) => [k, t(`contacts.type.${k}`)]);
    if (!ADDRESS_TYPES.includes(initial)) opts.push([initial, initial]);
    const type = select(opts, initial);
    return {
      first: parts[0].input,
      node: h('div', { class: 'v-address-edit' }, field(t('contacts.field.type'), type), ...parts.map((p) => p.node)),
      read: () => {
        const out = {
          types: type.value === initial ? (item.types || []) : type.value === 'other' ? [] : [type.value],
          pref: Boolean(item.pref),
          po_box: item.po_box || '',
          extended: '', street: '', locality: '', region: '', postal_code: '', country: '',
        };
        for (const p of parts) out[p.key] = p.input.value.trim();
        const empty = ['po_box', 'extended', 'street', 'locality', 'region', 'postal_code', 'country'].every((k) => !out[k]);
        return empty ? null : out;
      },
    };
  }

  function editContact(contact) {
    const c = contact || {};
    const text = (value, attrs = {}) => {
      const input = h('input', { type: 'text', autocomplete: 'off', ...attrs });
      input.value = value || '';
      return input;
    };
    const n = c.name || {};
    const fullName = text(c.full_name, { autofocus: true });
    const prefix = text(n.prefix);
    const given = text(n.given);
    const additional = text(n.additional);
    const family = text(n.family);
    const suffix = text(n.suffix);
    const nick = text((c.nicknames || []).join(', '));
    const org = text(c.organization);
    const dept = text(c.department);
    const title = text(c.title);
    const birthday = text(c.birthday, { inputmode: 'numeric', placeholder: 'YYYY-MM-DD' });
    const notes = h('textarea', { rows: '4' });
    notes.value = c.notes || '';

    const emails = repeatable({
      legend: t('contacts.field.emails'), addLabel: t('contacts.add_email'), items: c.emails || [],
      blank: () => ({ value: '', types: ['home'], pref: false }),
      makeRow: (item) => typedRow(t('contacts.field.email'), 'email', EMAIL_TYPES, item),
    });
    const phones = repeatable({
      legend: t('contacts.field.phones'), addLabel: t('contacts.add_phone'), items: c.phones || [],
      blank: () => ({ value: '', types: ['cell'], pref: false }),
      makeRow: (item) => typedRow(t('contacts.field.phone'), 'tel', PHONE_TYPES, item),
    });
    const addresses = repeatable({
      legend: t('contacts.field.addresses'), addLabel: t('contacts.add_address'), items: c.addresses || [],
      blank: () => ({ types: ['home'], pref: false }),
      makeRow: addressRow,
    });

    // Groups: a box per group card of the book, a field for new groups; tags (CATEGORIES) apart.
    const boxes = sortedGroups().map((g) => {
      const box = h('input', { type: 'checkbox', id: `v-g-${Math.random().toString(36).slice(2)}` });
      box.checked = Boolean(contact) && inGroup(c, g);
      return { g, box, was: box.checked, node: h('div', { class: 'v-check' }, box, h('label', { for: box.id }, groupName(g))) };
    });
    const newGroups = text('');
    const tagsInput = text(tagsOf(c).join(', '));
    const groupSet = h('fieldset', { class: 'v-fieldset' }, h('legend', {}, t('contacts.field.groups')),
      boxes.length ? h('div', { class: 'v-checks' }, ...boxes.map((b) => b.node)) : null,
      field(t('contacts.field.new_groups'), newGroups, t('contacts.new_groups_hint')),
      field(t('contacts.field.categories'), tagsInput, t('contacts.categories_hint')));

    // Photo: the current one, a picker that scales the image, and removal.
    let photo = c.photo || null;
    const preview = h('span', { class: 'v-photo-preview' });
    const showPhoto = () => {
      preview.replaceChildren(photo ? h('img', { class: 'v-avatar v-avatar-large', src: photo, alt: t('contacts.photo_current') })
        : h('span', { class: 'v-muted' }, t('contacts.no_photo')));
      removePhoto.disabled = !photo;
    };
    const photoInput = h('input', { type: 'file', accept: 'image/*' });
    const removePhoto = h('button', { type: 'button', class: 'secondary v-small' }, t('contacts.remove_photo'));
    removePhoto.addEventListener('click', () => { photo = null; showPhoto(); photoInput.focus(); });
    photoInput.addEventListener('change', async () => {
      const file = photoInput.files && photoInput.files[0];
      if (!file) return;
      try {
        photo = await photoDataUrl(file);
        showPhoto();
      } catch {
        err.textContent = t('contacts.error.photo');
      }
    });
    const photoSet = h('fieldset', { class: 'v-fieldset' }, h('legend', {}, t('contacts.field.photo')),
      preview, field(t('contacts.choose_photo'), photoInput), removePhoto);
    showPhoto();

    const err = h('p', { class: 'v-error', role: 'alert' });
    const saveBtn = h('button', { type: 'submit' }, t('views.save'));
    const cancel = h('button', { type: 'button', class: 'secondary' }, t('views.cancel'));
    const form = h('form', { class: 'v-form', novalidate: true },
      field(t('contacts.field.full_name'), fullName, t('contacts.full_name_hint')),
      h('fieldset', { class: 'v-fieldset' }, h('legend', {}, t('contacts.field.name')),
        h('div', { class: 'v-row' }, field(t('contacts.field.prefix'), prefix), field(t('contacts.field.given'), given),
          field(t('contacts.field.additional'), additional)),
        h('div', { class: 'v-row' }, field(t('contacts.field.family'), family), field(t('contacts.field.suffix'), suffix))),
      field(t('contacts.field.nicknames'), nick, t('contacts.comma_hint')),
      h('div', { class: 'v-row' }, field(t('contacts.field.organization'), org), field(t('contacts.field.department'), dept),
        field(t('contacts.field.title'), title)),
      emails.node, phones.node, addresses.node,
      field(t('contacts.field.birthday'), birthday, t('contacts.birthday_hint')),
      groupSet, photoSet,
      field(t('contacts.field.notes'), notes),
      err,
      h('div', { class: 'v-actions' }, cancel, saveBtn));

    const d = openDialog({
      title: contact ? t('contacts.edit_title', { name: displayName(c, t) }) : t('contacts.new_title'),
      content: form,
      className: 'v-dialog-wide',
      returnTo: () => detailPane.querySelector('h2') || searchBox,
    });
    dialogs.add(d);
    d.dialog.addEventListener('close', () => dialogs.delete(d));
    cancel.addEventListener('click', () => d.close('cancel'));

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      const bday = birthday.value.trim();
      if (bday && !DATE_RE.test(bday)) { err.textContent = t('contacts.error.birthday'); birthday.focus(); return; }
      const badMail = form.querySelector('input[type=email]:invalid');
      if (badMail) { err.textContent = t('contacts.error.email'); badMail.focus(); return; }
      const nameParts = { prefix: prefix.value.trim(), given: given.value.trim(), additional: additional.value.trim(), family: family.value.trim(), suffix: suffix.value.trim() };
      const anyName = Object.values(nameParts).some(Boolean);
      const categories = tagsInput.value.split(',').map((x) => x.trim()).filter(Boolean);
      const fields = {
        // FN is what every client shows; made here so that a Korean name reads 김민지.
        full_name: fullName.value.trim() || composeName(nameParts) || null,
        // vCard 3.0 requires N (RFC 2426 §3.1.2): a card that had one keeps one, even empty.
        name: anyName || contact?.name ? nameParts : null,
        nicknames: nick.value.split(',').map((s) => s.trim()).filter(Boolean),
        organization: org.value.trim() || null,
        department: dept.value.trim() || null,
        title: title.value.trim() || null,
        emails: emails.read(),
        phones: phones.read(),
        addresses: addresses.read(),
        birthday: bday || null,
        notes: notes.value.trim() || null,
        categories: [...new Set(categories)],
        photo,
      };
      if (!fields.full_name && !anyName && !fields.organization && !fields.emails.length) {
        err.textContent = t('contacts.error.name'); fullName.focus(); return;
      }
      saveBtn.disabled = true;
      try {
        let r;
        if (contact) {
          // The contact as read, our fields on top: what the model holds but the form does not
          // show (anniversary, URLs, new fields) goes back unchanged.
          r = await api('PUT', contactPath(contact.uid), { ...contact, ...fields }, { ifMatch: contact.etag });
        } else {
          r = await api('POST', bookPath('/contacts'), fields);
        }
        const saved = r.body;
        if (saved && saved.uid) {
          upsertLocal(saved);
          state.selected = saved.uid;
          await saveMembership(saved.uid, boxes, newGroups.value);
        }
        status.say(t(contact ? 'contacts.saved' : 'contacts.created', { name: displayName(saved || fields, t) }));
        render();
        d.close('saved', () => detailPane.querySelector('h2'));
      } catch (ex) {
        err.textContent = errorText(t, ex);
        if (ex && ex.status === 412) refetchBook();
      } finally {
        saveBtn.disabled = false;
      }
    });
  }

  // ----- Live updates. -----
  const unsubscribe = [
    onPush('addressbook.object', (data) => {
      if (!data || !data.addressbook) refetchAll();
      else if (data.addressbook === state.bookId) refetchBook();
    }),
    onPush('addressbook.collection', () => refetchAll()),
    onPush('resync', () => refetchAll()),
  ];

  render();
  start();

  return {
    unmount() {
      alive = false;
      runSearch.cancel();
      refetchBook.cancel();
      refetchAll.cancel();
      for (const u of unsubscribe) if (typeof u === 'function') u();
      for (const d of dialogs) d.close('unmount');
      root.replaceChildren();
    },
  };
}
