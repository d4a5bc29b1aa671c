// Changing one occurrence of a recurring event, or it and the ones after it (RFC 5545 §3.8.5,
// §3.8.4.4): what the calendar view's "this occurrence" / "this and following" choices do.
//
// They call the JSON API's occurrence routes (docs/api.md, "Occurrences of a recurring item"):
// `PUT|DELETE …/events/{uid}/occurrences/{recurrence_id}?scope=this|following`, with the
// series' ETag in If-Match. The server writes the override, the EXDATE or the split (new UID,
// RELATED-TO, COUNT carried over) the way native clients do. The client is embedded in the
// same binary as those routes, so there is no server without them to fall back for.

const base = (/** @type {string} */ calId, /** @type {string} */ uid) =>
  `/api/v1/calendars/${encodeURIComponent(calId)}/events/${encodeURIComponent(uid)}`;

function writable(/** @type {any} */ event) {
  const copy = { ...event };
  for (const k of ['etag', 'dav_url', 'overrides', 'sequence', 'last_modified']) delete copy[k];
  return copy;
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
  return api(verb === 'edit' ? 'PUT' : 'DELETE', route, body, { ifMatch: etag });
}
