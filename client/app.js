// The web client's boot: reads who is signed in (/api/v1/me), loads the catalogues, hides
// the modules that are off, and mounts one view at a time by `location.hash`
// (#/calendar, #/tasks, #/contacts, #/chat/<channel>, #/mail/<folder>). The header and navigation are the server's (they work
// without JavaScript); this only marks the current view and swaps `<main>`'s content.

import { api, ApiError } from './api.js';
import { loadCatalogues, t } from './i18n.js';
import { onPush } from './push.js';
import { clear, focus, h } from './ui.js';

/** Each view, the module that must be on for it, and its code (loaded when first shown). */
const VIEWS = {
  calendar: { module: 'calendar', title: 'nav.calendar', load: () => import('./views/calendar.js') },
  tasks: { module: 'calendar', title: 'nav.tasks', load: () => import('./views/tasks.js') },
  contacts: { module: 'contacts', title: 'nav.contacts', load: () => import('./views/contacts.js') },
  chat: { module: 'chat', title: 'nav.chat', load: () => import('./views/chat.js') },
  mail: { module: 'mail', title: 'nav.mail', load: () => import('./views/mail.js') },
};

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const product = document.title;
/** @type {{unmount: () => void, navigate?: (hash: string) => void}|null} */
let current = null;
let currentName = '';
let mountSeq = 0;
let firstRoute = true;

/** @param {Record<string, boolean>} modules */
function enabledViews(modules) {
  return Object.keys(VIEWS).filter((name) => modules[VIEWS[/** @type {keyof VIEWS} */ (name)].module] !== false);
}

/** Hides the navigation entries of modules that are off. */
function applyModules(/** @type {Record<string, boolean>} */ modules) {
  for (const link of document.querySelectorAll('nav.primary a[data-module]')) {
    const on = modules[/** @type {HTMLElement} */ (link).dataset.module || ''] !== false;
    const item = link.closest('li');
    if (item) item.hidden = !on;
  }
}

function markCurrent(/** @type {string} */ name) {
  for (const link of document.querySelectorAll('nav.primary a[data-view]')) {
    if (/** @type {HTMLElement} */ (link).dataset.view === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function showMessage(/** @type {string} */ text, role = 'status') {
  clear(main);
  main.appendChild(h('p', { class: 'message', role }, text));
}

async function route(/** @type {any} */ me) {
  const modules = me.modules || {};
  const enabled = enabledViews(modules);
  const asked = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || '';
  if (!asked || !(asked in VIEWS)) {
    if (enabled.length) {
      location.replace(`#/${enabled[0]}`);
    } else {
      showMessage(t('app.nothing_enabled'));
    }
    return;
  }
  const name = /** @type {keyof VIEWS} */ (asked);
  // A view that keeps state in the rest of the hash (`#/chat/7`) is told, not remounted.
  if (current && currentName === name && typeof current.navigate === 'function') {
    current.navigate(location.hash);
    return;
  }
  const seq = ++mountSeq;
  if (current) {
    try { current.unmount(); } catch (e) { console.warn('unmount failed', e); }
    current = null;
    currentName = '';
  }
  markCurrent(name);
  document.title = `${t(VIEWS[name].title)} · ${product}`;
  if (!enabled.includes(name)) {
    showMessage(t('app.module_off'));
    return;
  }
  clear(main);
  const root = h('div', { class: `view view-${name}` });
  main.appendChild(root);
  try {
    const view = await VIEWS[name].load();
    if (seq !== mountSeq) return; // another route won meanwhile
    current = view.mount(root, { api, t, onPush, me });
    currentName = name;
  } catch (e) {
    console.error(e);
    showMessage(t('app.view_failed'), 'alert');
  }
  // Moving between views moves focus to the new content (a screen reader announces it);
  // the first load leaves focus where the browser put it.
  if (!firstRoute) focus(/** @type {HTMLElement} */ (main.querySelector('h1') || main));
  firstRoute = false;
}

async function boot() {
  await loadCatalogues();
  let me;
  try {
    me = (await api('GET', '/api/v1/me')).body;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;
    showMessage(t('app.load_failed'), 'alert');
    return;
  }
  applyModules(me.modules || {});
  window.addEventListener('hashchange', () => { route(me); });
  await route(me);
  performance.mark('madang:ready');
}

boot();
