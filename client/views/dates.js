// Reading the JSON API's times (`{date}`, `{date_time, time_zone}`) in the browser: their
// instant, for sorting and "overdue", and a short label in the viewer's language and zone.
// No DOM beyond <html lang>, so node's test runner can load it.

/** The viewer's IANA zone ("Asia/Seoul"). */
export function viewerZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; }
}

/** The language of the page (`<html lang>`), for Intl formatting. */
export function lang() {
  return (typeof document !== 'undefined' && document.documentElement.lang) || 'en';
}

/**
 * The instant (ms since the epoch) of an API time `{date}` / `{date_time, time_zone}`.
 * A date is its local midnight; a floating time is read in the viewer's zone; a zoned wall
 * time is converted with Intl (the offset at that moment, found by two refinements).
 */
export function whenInstant(when) {
  if (!when) return null;
  if (when.date) {
    const [y, m, d] = when.date.split('-').map(Number);
    return new Date(y, m - 1, d).getTime();
  }
  if (!when.date_time) return null;
  const wall = when.date_time.replace(/Z$/, '');
  const zone = when.time_zone;
  if (!zone) return new Date(wall).getTime();
  if (zone === 'UTC') return Date.parse(`${wall}Z`);
  const asUtc = Date.parse(`${wall}Z`);
  if (Number.isNaN(asUtc)) return null;
  let guess = asUtc;
  for (let i = 0; i < 2; i += 1) guess = asUtc - zoneOffset(zone, guess);
  return guess;
}

/** The offset (ms) of `zone` at `instant`. */
function zoneOffset(zone, instant) {
  try {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    }).formatToParts(new Date(instant));
    const n = (type) => Number(parts.find((p) => p.type === type)?.value);
    const wall = Date.UTC(n('year'), n('month') - 1, n('day'), n('hour') % 24, n('minute'), n('second'));
    return wall - Math.floor(instant / 1000) * 1000;
  } catch {
    return 0;
  }
}

/** A short human label for an API time, in the viewer's language and zone. */
export function whenLabel(when) {
  if (!when) return '';
  if (when.date) {
    const [y, m, d] = when.date.split('-').map(Number);
    return new Intl.DateTimeFormat(lang(), { dateStyle: 'medium' }).format(new Date(y, m - 1, d));
  }
  const at = whenInstant(when);
  if (at === null || Number.isNaN(at)) return when.date_time || '';
  return new Intl.DateTimeFormat(lang(), { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(at));
}

/** `YYYY-MM-DD` of a local Date. */
export function isoDate(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

