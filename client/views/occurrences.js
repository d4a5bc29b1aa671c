// Changing one occurrence of a recurring event, or it and the ones after it (RFC 5545 §3.8.5,
// §3.8.4.4): what the calendar view's "this occurrence" / "this and following" choices do.
//
// They call the JSON API's occurrence routes (docs/api.md, "Occurrences of a recurring item"):
// `PUT|DELETE …/events/{uid}/occurrences/{recurrence_id}?scope=this|following`, with the
// series' ETag in If-Match. The server writes the override, the EXDATE or the split (new UID,
// RELATED-TO, COUNT carried over) the way native clients do.
//
// A server without those routes (older than issue 12) answers the router's 404: then the
// deletions and "this and following" fall back to writing the series itself (an EXDATE, an
// UNTIL, a new series), which the JSON model can do; a single occurrence cannot be changed
// there, and the user is told so.

import { ApiError } from '../api.js';
import { addDays, viewerZone, wallOf } from './time.js';

const base = (/** @type {string} */ calId, /** @type {string} */ uid) =>
  `/api/v1/calendars/${encodeURIComponent(calId)}/events/${encodeURIComponent(uid)}`;

function writable(/** @type {any} */ event) {
  const copy = { ...event };
  for (const k of ['etag', 'dav_url', 'overrides', 'sequence', 'last_modified']) delete copy[k];
  return copy;
}

/**
 * The occurrence `recurrenceId` (UTC, as /instances gives it) as a `When` of the same form as
 * the series' DTSTART (RFC 5545 §3.8.5.1: EXDATE matches DTSTART's value type and zone).
 */
export function occurrenceWhen(/** @type {any} */ event, /** @type {string} */ recurrenceId) {
  const at = new Date(recurrenceId);
  const start = event.start || {};
  if (start.date) return { date: dayOf(recurrenceId) };
  if (start.time_zone) return { date_time: wallOf(at, start.time_zone), time_zone: start.time_zone };
  return { date_time: wallOf(at, viewerZone()) };
}

/** The day of an all-day occurrence: its id is that date, or (older servers) its UTC start. */
function dayOf(/** @type {string} */ recurrenceId) {
  return /^\d{4}-\d{2}-\d{2}$/.test(recurrenceId) ? recurrenceId : wallOf(new Date(recurrenceId), viewerZone()).slice(0, 10);
}

/** The series' RRULE ended just before the occurrence `recurrenceId` (COUNT gives way to UNTIL). */
export function ruleEndingBefore(/** @type {any} */ event, /** @type {string} */ recurrenceId) {
  const rule = (event.recurrence && event.recurrence.rrule) || '';
  const parts = rule.split(';').filter((p) => p && !/^(UNTIL|COUNT)=/i.test(p));
  const before = new Date(new Date(recurrenceId).getTime() - 1000);
  const start = event.start || {};
  let until;
  if (start.date) {
    until = addDays(dayOf(recurrenceId), -1).replaceAll('-', '');
  } else if (start.time_zone) {
    until = `${before.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
  } else {
    until = wallOf(before, viewerZone()).replace(/[-:]/g, '');
  }
  return [...parts, `UNTIL=${until}`].join(';');
}

/** Whether `recurrenceId` is the series' first occurrence (then "following" means all). */
function isFirst(/** @type {any} */ event, /** @type {string} */ recurrenceId) {
  const first = occurrenceWhen(event, recurrenceId);
  return JSON.stringify(first) === JSON.stringify({ ...event.start });
}

/** The router's own 404 (no such route), as opposed to the route's "no such occurrence". */
function noRoute(/** @type {any} */ e) {
  return e instanceof ApiError && e.status === 404 && (e.message === 'no such resource' || e.code === 'http_404');
}

/**
 * Applies `op` to the occurrence `recurrenceId` of `event` (read with `etag`) in `calId`.
 *
 * @param {(method: string, path: string, body?: any, options?: any) => Promise<any>} api
 * @param {'edit-this'|'edit-following'|'delete-this'|'delete-following'} op
 * @param {{calId: string, event: any, etag: string, recurrenceId: string, fields?: any}} args
 */
export async function occurrence(api, op, args) {
  const { calId, event, etag, recurrenceId, fields } = args;
  const [verb, scope] = op.split('-');
  const route = `${base(calId, event.uid)}/occurrences/${encodeURIComponent(recurrenceId)}?scope=${scope === 'this' ? 'this' : 'following'}`;
  let body = null;
  if (verb === 'edit') {
    body = writable({ ...event, ...fields });
    // One occurrence has no rule of its own; "following" sends the rule it keeps.
    if (scope === 'this') delete body.recurrence;
    delete body.uid;
  }
  try {
    return await api(verb === 'edit' ? 'PUT' : 'DELETE', route, body, { ifMatch: etag });
  } catch (e) {
    if (!noRoute(e)) throw e;
    return withoutRoutes(api, op, args);
  }
}

/** The same, for a server without the occurrence routes: by rewriting the series. */
async function withoutRoutes(api, op, { calId, event, etag, recurrenceId, fields }) {
  const url = base(calId, event.uid);
  const recurrence = event.recurrence || {};
  switch (op) {
    case 'delete-this': {
      const exdates = [...(recurrence.exdates || []), occurrenceWhen(event, recurrenceId)];
      return api('PUT', url, { ...writable(event), recurrence: { ...recurrence, exdates } }, { ifMatch: etag });
    }
    case 'delete-following': {
      if (isFirst(event, recurrenceId)) return api('DELETE', url, null, { ifMatch: etag });
      const rrule = ruleEndingBefore(event, recurrenceId);
      return api('PUT', url, { ...writable(event), recurrence: { ...recurrence, rrule } }, { ifMatch: etag });
    }
    case 'edit-following': {
      if (isFirst(event, recurrenceId)) {
        return api('PUT', url, { ...writable(event), ...fields }, { ifMatch: etag });
      }
      // The new series first: if it cannot be written, the old one is left whole.
      const next = { ...writable(event), ...fields };
      delete next.uid;
      if (next.recurrence) next.recurrence = { ...next.recurrence, exdates: [] };
      const created = await api('POST', `/api/v1/calendars/${encodeURIComponent(calId)}/events`, next);
      try {
        const rrule = ruleEndingBefore(event, recurrenceId);
        await api('PUT', url, { ...writable(event), recurrence: { ...recurrence, rrule } }, { ifMatch: etag });
      } catch (e) {
        await api('DELETE', base(calId, created.body.uid)).catch(() => {});
        throw e;
      }
      return created;
    }
    default:
      throw new ApiError(501, 'unsupported', 'this server cannot change a single occurrence; choose "all" or "this and following"');
  }
}
