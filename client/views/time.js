// Wall-clock times and time zones for the calendar, with Intl only: a wall-clock time is a
// string `YYYY-MM-DDTHH:MM:SS` (as the JSON API's `date_time`), an instant is a Date.

/** The viewer's IANA zone, as the browser knows it. */
export function viewerZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** @type {Map<string, Intl.DateTimeFormat>} */
const formats = new Map();

function formatter(/** @type {string} */ zone) {
  let f = formats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    formats.set(zone, f);
  }
  return f;
}

/** The wall-clock time of `date` in `zone`. */
export function wallOf(/** @type {Date} */ date, /** @type {string} */ zone) {
  /** @type {Record<string, string>} */
  const p = {};
  for (const part of formatter(zone).formatToParts(date)) p[part.type] = part.value;
  const year = p.year.padStart(4, '0');
  return `${year}-${p.month}-${p.day}T${p.hour === '24' ? '00' : p.hour}:${p.minute}:${p.second}`;
}

/** Milliseconds of a wall-clock string read as if it were UTC (for naive arithmetic). */
function naive(/** @type {string} */ wall) {
  return Date.parse(`${wall.length === 10 ? `${wall}T00:00:00` : wall}Z`);
}

function fromNaive(/** @type {number} */ ms) {
  return new Date(ms).toISOString().slice(0, 19);
}

/**
 * The instant at which `zone`'s clocks show `wall`. In a gap (spring forward) the time after
 * the gap; in an overlap (fall back) the earlier instant.
 */
export function wallToInstant(/** @type {string} */ wall, /** @type {string} */ zone) {
  const target = naive(wall);
  let guess = target;
  for (let i = 0; i < 3; i += 1) {
    const offset = naive(wallOf(new Date(guess), zone)) - guess;
    const next = target - offset;
    if (next === guess) break;
    guess = next;
  }
  return new Date(guess);
}

/** `wall` plus `ms` on the wall clock (a day later is the same time of day, DST or not). */
export function addWall(/** @type {string} */ wall, /** @type {number} */ ms) {
  return fromNaive(naive(wall) + ms);
}

/** The date `n` days after `date` (`YYYY-MM-DD`). */
export function addDays(/** @type {string} */ date, /** @type {number} */ n) {
  return fromNaive(naive(date.slice(0, 10)) + n * 86400e3).slice(0, 10);
}

/** Milliseconds of an ISO 8601 / RFC 5545 duration (`PT1H30M`, `P1D`, `-P2W`); 0 if unreadable. */
export function durationMs(/** @type {string} */ text) {
  const m = /^([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec((text || '').trim());
  if (!m) return 0;
  const [, sign, w, d, hh, mm, ss] = m;
  const ms = ((+w || 0) * 7 * 86400 + (+d || 0) * 86400 + (+hh || 0) * 3600 + (+mm || 0) * 60 + (+ss || 0)) * 1000;
  return sign === '-' ? -ms : ms;
}

/**
 * The instant of an API `When`: a date is midnight in `fallbackZone`, a floating date-time is
 * read in `fallbackZone`, `UTC` and IANA zones as they say.
 *
 * @param {{date?: string, date_time?: string, time_zone?: string}} when
 * @param {string} fallbackZone
 */
export function instantOf(when, fallbackZone) {
  if (when.date) return wallToInstant(`${when.date}T00:00:00`, fallbackZone);
  const wall = when.date_time || '';
  return wallToInstant(wall, when.time_zone || fallbackZone);
}
