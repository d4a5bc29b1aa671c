// Subscribing to an external calendar feed (`/api/v1/subscriptions`): the server fetches the
// feed into a read-only calendar of the user's, so it also reaches every CalDAV device. One
// dialog subscribes; another shows a subscribed calendar's fetch state (last success, last
// error), refreshes it now or unsubscribes.

import { clear, h, openDialog, toast, uid } from '../ui.js';
import { actionButton } from './publish.js';

/**
 * Opens the "Subscribe to a calendar" dialog; `done()` is called after a subscription is made.
 *
 * @param {{api: Function, t: Function}} ctx
 * @param {() => void} done
 */
export function openSubscribeDialog({ api, t }, done) {
  const urlId = uid('sub-url');
  const nameId = uid('sub-name');
  const url = /** @type {HTMLInputElement} */ (h('input', {
    id: urlId, type: 'url', required: true, placeholder: 'webcal://…', spellcheck: 'false', class: 'publish-url',
  }));
  const name = /** @type {HTMLInputElement} */ (h('input', { id: nameId, type: 'text', maxlength: '200' }));
  const body = h('div', { class: 'publish' },
    h('p', null, t('cal.subscribe.explain')),
    h('label', { for: urlId }, t('cal.subscribe.url_label')), url,
    h('label', { for: nameId }, t('cal.subscribe.name_label')), name);
  openDialog({
    title: t('cal.subscribe.title'),
    body,
    className: 'publish-dialog',
    actions: [
      { label: t('cal.subscribe.cancel'), value: 'cancel' },
      { label: t('cal.subscribe.subscribe'), value: 'ok', submit: true, kind: 'primary' },
    ],
    onSubmit: async () => {
      try {
        const r = await api('POST', '/api/v1/subscriptions', { url: url.value, name: name.value.trim() || null });
        const s = r.body || {};
        if (s.last_error) toast(t('cal.subscribe.made_with_error', { name: s.name || s.id, error: s.last_error }), { kind: 'error' });
        else toast(t('cal.subscribe.made', { name: s.name || s.id }));
        done();
        return true;
      } catch (e) {
        toast(t('cal.error.generic', { message: (e && e.message) || String(e) }), { kind: 'error' });
        return false;
      }
    },
  });
  url.focus();
}

/**
 * Opens a subscribed calendar's dialog: its feed's host, last success and error, "refresh now"
 * and "unsubscribe"; `changed()` after either.
 *
 * @param {{api: Function, t: Function}} ctx
 * @param {{id: string, name?: string}} cal
 * @param {() => void} changed
 */
export function openSubscriptionDialog({ api, t }, cal, changed) {
  const name = cal.name || cal.id;
  const path = `/api/v1/subscriptions/${encodeURIComponent(cal.id)}`;
  const body = h('div', { class: 'publish', 'aria-live': 'polite' }, h('p', null, t('cal.publish.loading')));
  const { close } = openDialog({
    title: t('cal.subscription.title', { name }),
    body,
    actions: [{ label: t('cal.close'), value: 'close' }],
    className: 'publish-dialog',
  });
  const fail = (/** @type {any} */ e) => toast(t('cal.error.generic', { message: (e && e.message) || String(e) }), { kind: 'error' });
  const when = (/** @type {string|null} */ at) => (at ? new Date(at).toLocaleString() : t('cal.subscription.never'));

  const button = (label, onClick, kind) => actionButton(label, onClick, kind, fail);

  function show(/** @type {any} */ s) {
    clear(body);
    body.append(
      h('p', null, t('cal.subscription.from', { host: s.host })),
      h('p', { class: 'hint' }, t('cal.subscription.read_only')),
      h('p', null, t('cal.subscription.last_success', { date: when(s.last_success_at) })),
      s.last_error ? h('p', { class: 'publish-state', role: 'alert' }, t('cal.subscription.last_error', { error: s.last_error })) : '',
      h('div', { class: 'publish-actions' },
        button(t('cal.subscription.refresh'), async () => {
          const r = await api('POST', `${path}/refresh`);
          show(r.body);
          changed();
        }, 'primary'),
        button(t('cal.subscription.unsubscribe'), async () => {
          await api('DELETE', path);
          toast(t('cal.subscription.unsubscribed', { name }));
          close();
          changed();
        }, 'danger')),
    );
  }

  api('GET', path).then((/** @type {any} */ r) => show(r.body), (/** @type {any} */ e) => {
    fail(e);
    close();
  });
}
