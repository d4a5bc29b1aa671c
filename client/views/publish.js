// Publishing a calendar at a secret, read-only URL (`/api/v1/calendars/{id}/publication`), for
// Google Calendar, Outlook or a web site. The server keeps only a hash of the URL's token, so
// the URL is shown once, right after it is made; later the dialog can only say since when the
// calendar is published, make a new URL (the old one stops working) or stop publishing.

import { clear, h, openDialog, toast, uid } from '../ui.js';

/**
 * A dialog's action button: disabled while `onClick` runs, its failure handed to `fail`.
 * Shared with the subscription dialog (`subscribe.js`).
 *
 * @param {string} label
 * @param {() => Promise<void>} onClick
 * @param {string|undefined} kind
 * @param {(e: any) => void} fail
 */
export function actionButton(label, onClick, kind, fail) {
  const b = h('button', { type: 'button', class: kind || null }, label);
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await onClick();
    } catch (e) {
      fail(e);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

/**
 * Opens the publishing dialog for `cal` (`{id, name}`).
 *
 * @param {{api: Function, t: Function}} ctx
 * @param {{id: string, name?: string}} cal
 */
export function openPublishDialog({ api, t }, cal) {
  const name = cal.name || cal.id;
  const path = `/api/v1/calendars/${encodeURIComponent(cal.id)}/publication`;
  const body = h('div', { class: 'publish', 'aria-live': 'polite' }, h('p', null, t('cal.publish.loading')));
  const { close } = openDialog({
    title: t('cal.publish.title', { name }),
    body,
    actions: [{ label: t('cal.close'), value: 'close' }],
    className: 'publish-dialog',
  });

  const fail = (/** @type {any} */ e) => toast(t('cal.error.generic', { message: (e && e.message) || String(e) }), { kind: 'error' });

  const button = (label, onClick, kind) => actionButton(label, onClick, kind, fail);

  async function publish() {
    const r = await api('POST', path);
    showUrl(r.body);
  }

  async function stop() {
    await api('DELETE', path);
    toast(t('cal.publish.stopped', { name }));
    showUnpublished();
  }

  function showUnpublished() {
    clear(body);
    body.append(
      h('p', null, t('cal.publish.explain')),
      h('div', { class: 'publish-actions' }, button(t('cal.publish.publish'), publish, 'primary')),
    );
  }

  function showPublished(since) {
    clear(body);
    const date = new Date(since).toLocaleString();
    body.append(
      h('p', { class: 'publish-state' }, t('cal.publish.published_since', { date })),
      h('p', { class: 'hint' }, t('cal.publish.url_hidden')),
      h('div', { class: 'publish-actions' },
        button(t('cal.publish.regenerate'), publish),
        button(t('cal.publish.stop'), stop, 'danger')),
    );
  }

  function showUrl(/** @type {any} */ created) {
    clear(body);
    const fieldId = uid('pub-url');
    const field = /** @type {HTMLInputElement} */ (h('input', {
      id: fieldId, type: 'text', readonly: true, value: created.url, class: 'publish-url', spellcheck: 'false',
    }));
    field.addEventListener('focus', () => field.select());
    const copy = button(t('cal.publish.copy'), async () => {
      try {
        await navigator.clipboard.writeText(created.url);
      } catch {
        // Without clipboard permission the field stays selected for the user to copy.
        field.focus();
        field.select();
        return;
      }
      toast(t('cal.publish.copied'));
    }, 'primary');
    body.append(
      h('p', { class: 'publish-state' }, t('cal.publish.published_now')),
      h('label', { for: fieldId }, t('cal.publish.url_label')),
      h('div', { class: 'publish-url-row' }, field, copy),
      h('p', { class: 'hint' }, t('cal.publish.shown_once')),
      h('div', { class: 'publish-actions' },
        h('a', { href: created.webcal_url, class: 'button' }, t('cal.publish.open_app')),
        button(t('cal.publish.stop'), stop, 'danger')),
    );
    field.focus();
    field.select();
  }

  api('GET', path).then((/** @type {any} */ r) => {
    if (r.body && r.body.published) showPublished(r.body.published_at);
    else showUnpublished();
  }, (/** @type {any} */ e) => {
    fail(e);
    close();
  });
}
