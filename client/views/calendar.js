// The Calendar view: FullCalendar's month, week, day and agenda views over the JSON API.
// Each visible calendar's occurrences come from GET /api/v1/calendars/{id}/instances for the
// range on screen (cached per calendar and range, so showing or hiding a calendar costs no
// request); events are created, edited, moved and resized through the events routes with
// If-Match, so a change made meanwhile elsewhere is never overwritten silently; push events
// refetch the calendar they name. Each calendar in the list has a menu to publish it at a secret
// URL (`publish.js`); a subscribed calendar's menu shows its feed's state instead, and a button
// under the list subscribes to a new one (`subscribe.js`).
//
// Times: the grid shows the viewer's zone (the browser's). An event keeps its own zone
// (`time_zone` of its start), chosen in the editor; wall-clock times are converted with Intl,
// so no time zone library is needed.

import { choose, clear, h, labelled, openDialog, toast, uid } from '../ui.js';
import { lang } from '../i18n.js';
import { occurrence } from './occurrences.js';
import { openPublishDialog } from './publish.js';
import { openSubscribeDialog, openSubscriptionDialog } from './subscribe.js';
import {
  addDays, addWall, durationMs, instantOf, viewerZone, wallOf, wallToInstant,
} from './time.js';

const PREF = 'madang.calendar.';
const VIEWS = ['dayGridMonth', 'timeGridWeek', 'timeGridDay', 'listWeek'];
/** Alarm triggers offered in the editor (relative to the start, RFC 5545 §3.8.6.3). */
const ALARM_PRESETS = ['PT0S', '-PT5M', '-PT10M', '-PT15M', '-PT30M', '-PT1H', '-PT2H', '-P1D', '-P2D', '-P1W'];
const FREQS = ['DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY'];

/** @type {Promise<any>|null} */
let fullCalendar = null;

/** Loads the vendored FullCalendar bundle (a classic script) once, by its hashed URL. */
export function loadFullCalendar() {
  const w = /** @type {any} */ (window);
  if (w.FullCalendar) return Promise.resolve(w.FullCalendar);
  if (!fullCalendar) {
    fullCalendar = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = import.meta.resolve('fullcalendar');
      script.onload = () => resolve(w.FullCalendar);
      script.onerror = () => { fullCalendar = null; reject(new Error('FullCalendar did not load')); };
      document.head.appendChild(script);
    });
  }
  return fullCalendar;
}

function pref(name, fallback) {
  try { return localStorage.getItem(PREF + name) ?? fallback; } catch { return fallback; }
}

function savePref(name, value) {
  try { localStorage.setItem(PREF + name, value); } catch { /* private mode: not remembered */ }
}

/** Black or white, whichever reads better on `color` (WCAG relative luminance). */
export function textOn(color) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(color || '');
  if (!m) return '#ffffff';
  const lin = (/** @type {string} */ x) => {
    const c = parseInt(x, 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const l = 0.2126 * lin(m[1]) + 0.7152 * lin(m[2]) + 0.0722 * lin(m[3]);
  return l > 0.179 ? '#000000' : '#ffffff';
}

/** The calendar's colour without alpha (`#3366ffff` → `#3366ff`), or the default. */
function colourOf(cal) {
  const c = (cal.color || '').trim();
  return /^#[0-9a-f]{6}/i.test(c) ? c.slice(0, 7) : '#3a6ea5';
}

/** The FullCalendar event for one API instance. */
export function toEvent(cal, inst, t) {
  const colour = colourOf(cal);
  const date = (/** @type {string} */ s) => s.slice(0, 10);
  return {
    id: `${cal.id}/${inst.uid}/${inst.recurrence_id || ''}`,
    title: inst.summary || t('cal.untitled'),
    start: inst.all_day ? date(inst.start_local || inst.start) : inst.start,
    end: inst.all_day ? date(inst.end_local || inst.end) : inst.end,
    allDay: inst.all_day,
    backgroundColor: colour,
    borderColor: colour,
    textColor: textOn(colour),
    extendedProps: { calendarId: cal.id, uid: inst.uid, recurrenceId: inst.recurrence_id || null },
    // A read-only calendar's events (the birthday calendar) cannot be dragged or resized.
    editable: !cal.read_only,
    // The instant range, for serving a smaller window from the cache.
    startMs: Date.parse(inst.start),
    endMs: Math.max(Date.parse(inst.end), Date.parse(inst.start) + 1),
  };
}

/** Parses the parts of an RRULE the editor shows; the rest is kept as it is. */
export function parseRule(rule) {
  const parts = new Map();
  for (const p of (rule || '').split(';')) {
    const [k, v] = p.split('=');
    if (k && v !== undefined) parts.set(k.trim().toUpperCase(), v.trim());
  }
  const freq = parts.get('FREQ') || '';
  return {
    freq: FREQS.includes(freq) ? freq : (freq ? 'custom' : ''),
    interval: Number(parts.get('INTERVAL') || 1) || 1,
    until: parts.get('UNTIL') || '',
    count: parts.get('COUNT') ? Number(parts.get('COUNT')) : null,
    rest: [...parts].filter(([k]) => !['FREQ', 'INTERVAL', 'UNTIL', 'COUNT'].includes(k)).map(([k, v]) => `${k}=${v}`),
    raw: rule || '',
  };
}

/**
 * The RRULE for the editor's choices. UNTIL follows RFC 5545 §3.3.10: a DATE for an all-day
 * series, UTC for a zoned one (the end of `untilDate` in the event's zone), local for a
 * floating one.
 */
export function buildRule({ freq, interval, ends, untilDate, count, rest }, { allDay, zone }) {
  if (!freq) return null;
  const parts = [`FREQ=${freq}`];
  if (interval > 1) parts.push(`INTERVAL=${interval}`);
  if (ends === 'until' && untilDate) {
    const compact = untilDate.replaceAll('-', '');
    if (allDay) parts.push(`UNTIL=${compact}`);
    else if (!zone) parts.push(`UNTIL=${compact}T235959`);
    else {
      const end = wallToInstant(`${untilDate}T23:59:59`, zone);
      parts.push(`UNTIL=${end.toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')}`);
    }
  } else if (ends === 'count' && count > 0) {
    parts.push(`COUNT=${count}`);
  }
  return parts.concat(rest || []).join(';');
}

/** Whether two RRULEs have the same parts, in whatever order. */
export function sameRule(a, b) {
  const norm = (/** @type {string|null} */ r) => (r || '').toUpperCase().split(';').filter(Boolean).sort().join(';');
  return norm(a) === norm(b);
}

/** The event's fields as the API takes them back: what was read, minus what it computes. */
function writable(event) {
  const copy = { ...event };
  for (const k of ['etag', 'dav_url', 'overrides', 'sequence', 'last_modified']) delete copy[k];
  return copy;
}

export function mount(root, ctx) {
  const { api, t, onPush } = ctx;
  const zone = viewerZone();
  /** @type {any[]} */
  let calendars = [];
  /** Ids of the calendars that are subscriptions to external feeds. */
  let subscribed = new Set();
  const hidden = new Set(JSON.parse(pref('hidden', '[]') || '[]'));
  /** Instances by calendar, for one range: `{key, events}`. */
  const cache = new Map();
  /** @type {any} */
  let calendar = null;
  let alive = true;
  const unsubscribe = [];

  const heading = h('h1', { class: 'visually-hidden', id: uid('cal-h'), tabindex: '-1' }, t('nav.calendar'));
  const list = h('ul', { class: 'cal-list' });
  const newButton = h('button', { type: 'button', class: 'primary' }, t('cal.new_event'));
  const subscribeButton = h('button', { type: 'button' }, t('cal.subscribe.button'));
  const sidebar = h('aside', { class: 'cal-sidebar', 'aria-label': t('cal.calendars') },
    newButton,
    h('h2', { class: 'cal-list-title' }, t('cal.calendars')),
    list,
    subscribeButton,
    h('p', { class: 'hint' }, t('cal.viewer_zone', { zone })));
  const grid = h('div', { class: 'cal-grid' });
  root.append(h('section', { class: 'cal', 'aria-labelledby': heading.id }, heading,
    h('div', { class: 'cal-layout' }, sidebar, h('div', { class: 'cal-main' }, grid))));

  const path = (calId, uidValue) => {
    const base = `/api/v1/calendars/${encodeURIComponent(calId)}/events`;
    return uidValue === undefined ? base : `${base}/${encodeURIComponent(uidValue)}`;
  };

  function failed(e) {
    const status = e && e.status;
    if (status === 412 || status === 409) {
      toast(t('cal.error.stale'), { kind: 'error' });
      cache.clear();
      refetch();
    } else if (status === 403) toast(t('cal.error.forbidden'), { kind: 'error' });
    else toast(t('cal.error.generic', { message: (e && e.message) || String(e) }), { kind: 'error' });
  }

  // ----- Calendars and their visibility -----

  function eventCalendars() {
    return calendars.filter((c) => !c.components || c.components.includes('VEVENT'));
  }

  /** The event calendars new events may go into: not the read-only ones (birthdays, subscriptions). */
  function writableCalendars() {
    return eventCalendars().filter((c) => !c.read_only);
  }

  function renderList() {
    clear(list);
    for (const cal of eventCalendars()) {
      const box = h('input', { type: 'checkbox', id: uid('cal-show'), checked: !hidden.has(cal.id) });
      const swatch = h('span', { class: 'swatch', 'aria-hidden': 'true' });
      swatch.style.backgroundColor = colourOf(cal);
      box.addEventListener('change', () => {
        if (/** @type {HTMLInputElement} */ (box).checked) hidden.delete(cal.id);
        else hidden.add(cal.id);
        savePref('hidden', JSON.stringify([...hidden]));
        calendar?.refetchEvents();
      });
      // Publishing at a secret URL (`publish.js`): the calendar's own menu of sharing outward;
      // for a subscription, its feed's state (`subscribe.js`).
      const isSubscription = subscribed.has(cal.id);
      const share = h('button', {
        type: 'button', class: 'cal-publish icon',
        title: isSubscription ? t('cal.subscription.title', { name: cal.name || cal.id }) : t('cal.publish.button'),
        'aria-label': t(isSubscription ? 'cal.subscription.button_for' : 'cal.publish.button_for', { name: cal.name || cal.id }),
      }, '⋯');
      share.addEventListener('click', () => {
        if (isSubscription) openSubscriptionDialog(ctx, cal, reloadCalendars);
        else openPublishDialog(ctx, cal);
      });
      list.append(h('li', null, box, h('label', { for: box.id }, swatch, cal.name || cal.id), share));
    }
  }

  async function loadCalendars() {
    const [r, subs] = await Promise.all([
      api('GET', '/api/v1/calendars'),
      api('GET', '/api/v1/subscriptions').catch(() => ({ body: [] })),
    ]);
    if (!alive) return;
    calendars = r.body || [];
    subscribed = new Set((subs.body || []).map((/** @type {any} */ x) => x.id));
    renderList();
  }

  /** After subscribing, refreshing or unsubscribing: the list and the events again. */
  function reloadCalendars() {
    cache.clear();
    loadCalendars().then(() => calendar?.refetchEvents(), failed);
  }
  subscribeButton.addEventListener('click', () => openSubscribeDialog(ctx, reloadCalendars));

  // ----- Occurrences on screen -----

  /**
   * The calendar's occurrences overlapping [start, end) (ISO strings). A range inside the one
   * fetched last is served from it (the day and week inside a month shown before).
   */
  async function instancesOf(cal, start, end) {
    const hit = cache.get(cal.id);
    if (hit && hit.start <= start && end <= hit.end) {
      if (hit.start === start && hit.end === end) return hit.events;
      const [s, e] = [Date.parse(start), Date.parse(end)];
      return hit.events.filter((/** @type {any} */ ev) => ev.startMs < e && ev.endMs > s);
    }
    const q = new URLSearchParams({ start, end, tz: zone });
    const r = await api('GET', `/api/v1/calendars/${encodeURIComponent(cal.id)}/instances?${q}`);
    const events = (r.body.instances || []).filter((i) => i.kind === 'event').map((i) => toEvent(cal, i, t));
    cache.set(cal.id, { start, end, events });
    return events;
  }

  /** FullCalendar's event source: every visible calendar's occurrences in the range, at once. */
  async function fetchEvents(info, success, failure) {
    const start = info.start.toISOString();
    const end = info.end.toISOString();
    try {
      const visible = eventCalendars().filter((c) => !hidden.has(c.id));
      const lists = await Promise.all(visible.map((c) => instancesOf(c, start, end).catch((e) => {
        failed(e);
        return [];
      })));
      let events = lists.flat();
      // A month cell shows a few events; FullCalendar still builds (and measures) an element for
      // every event it is given, about 0.4 ms each, so a month of 1,000 would take 400 ms.
      // Each day therefore gets the events that fit plus one "+N more" item that opens the day.
      if (calendar && calendar.view.type === 'dayGridMonth') events = capPerDay(events, perDay(), t);
      // The render time is measured from here: FullCalendar renders synchronously inside
      // `success`, and reading offsetHeight forces the layout (bench/web_client.js reads it).
      performance.mark('madang:calendar-render-start');
      const t0 = performance.now();
      success(events);
      void grid.offsetHeight;
      const ms = performance.now() - t0;
      performance.mark('madang:calendar-render-end');
      performance.measure('madang:calendar-render', 'madang:calendar-render-start', 'madang:calendar-render-end');
      grid.dataset.renderMs = ms.toFixed(1);
      grid.dataset.events = String(events.length);
    } catch (e) {
      failure(e);
      failed(e);
    }
  }

  /** How many events fit in a month cell, from the grid's height (six weeks a month). */
  function perDay() {
    // A row is about 24 px and the day number takes the first 28; one row is left for the
    // "+N more" item, so that FullCalendar never has to hide it behind its own link.
    const cell = (grid.clientHeight - 90) / 6;
    return Math.max(1, Math.min(8, Math.floor((cell - 28) / 24) - 1));
  }

  /** The toolbar's arrow icons are `role=img` without a name; their buttons have one. */
  function quietIcons() {
    for (const icon of grid.querySelectorAll('.fc-icon')) {
      icon.removeAttribute('role');
      icon.setAttribute('aria-hidden', 'true');
    }
  }

  const refetch = debounce(() => calendar?.refetchEvents(), 150);

  // ----- Reading and writing one event -----

  async function read(calId, uidValue) {
    const r = await api('GET', path(calId, uidValue));
    return { event: r.body, etag: r.etag || r.body.etag };
  }

  async function put(calId, event, etag) {
    await api('PUT', path(calId, event.uid), writable(event), { ifMatch: etag });
    cache.delete(calId);
    refetch();
  }

  /** The event's own zone: its start's `time_zone` (`''` for floating, `UTC` for UTC). */
  function zoneOf(event) {
    return (event.start && event.start.time_zone) || '';
  }

  /** The start/end of the event (or of one occurrence) as editor values in its own zone. */
  function editorTimes(event, occ) {
    const evZone = zoneOf(event) || zone;
    const allDay = Boolean(event.start && event.start.date);
    if (occ) {
      if (allDay) {
        return { allDay, start: occ.startStr.slice(0, 10), end: addDays(occ.endStr ? occ.endStr.slice(0, 10) : occ.startStr.slice(0, 10), occ.endStr ? -1 : 0) };
      }
      const s = wallOf(occ.start, evZone);
      const e = wallOf(occ.end || new Date(occ.start.getTime() + 3600e3), evZone);
      return { allDay, start: s, end: e };
    }
    if (allDay) {
      const s = event.start.date;
      let e = event.end && event.end.date ? addDays(event.end.date, -1) : s;
      if (!event.end && event.duration) e = addDays(s, Math.max(0, Math.round(durationMs(event.duration) / 86400e3) - 1));
      return { allDay, start: s, end: e < s ? s : e };
    }
    const s = event.start.date_time;
    let e = event.end && event.end.date_time;
    if (event.end && event.end.date_time && event.end.time_zone && event.end.time_zone !== zoneOf(event) && zoneOf(event)) {
      e = wallOf(instantOf(event.end, zone), zoneOf(event));
    }
    if (!e) e = addWall(s, event.duration ? durationMs(event.duration) : 3600e3);
    return { allDay, start: s, end: e };
  }

  // ----- The editor -----

  /**
   * Opens the editor for a new event (`calId`, `times`) or an existing one (`existing`:
   * `{calId, event, etag, occ}` where `occ` is the clicked FullCalendar occurrence).
   */
  function openEditor({ calId, times, existing }) {
    const event = existing ? existing.event : { kind: 'event', alarms: [], attendees: [] };
    // An existing event shows its own calendar (the picker is then disabled); a new one is
    // offered only the calendars it can be saved in.
    const cals = existing ? eventCalendars() : writableCalendars();
    const t0 = existing ? editorTimes(event, existing.occ) : times;
    const rule = parseRule(event.recurrence && event.recurrence.rrule);
    const recurring = Boolean(existing && event.recurrence && (event.recurrence.rrule || (event.recurrence.rdates || []).length));

    const title = h('input', { type: 'text', autocomplete: 'off', value: event.summary || '' });
    const calPick = h('select', { disabled: Boolean(existing) },
      cals.map((c) => h('option', { value: c.id, selected: c.id === (existing ? existing.calId : calId) }, c.name || c.id)));
    const allDay = h('input', { type: 'checkbox', checked: t0.allDay });
    const startDate = h('input', { type: 'date', required: true, value: t0.start.slice(0, 10) });
    const startTime = h('input', { type: 'time', value: t0.allDay ? '09:00' : t0.start.slice(11, 16) });
    const endDate = h('input', { type: 'date', required: true, value: t0.end.slice(0, 10) });
    const endTime = h('input', { type: 'time', value: t0.allDay ? '10:00' : t0.end.slice(11, 16) });
    const evZone = existing ? zoneOf(event) : zone;
    const zonePick = zoneSelect(evZone, t);
    const where = h('input', { type: 'text', autocomplete: 'off', value: event.location || '' });
    const notes = h('textarea', { rows: '3' }, event.description || '');

    const freq = h('select', null,
      h('option', { value: '' }, t('cal.repeat.none')),
      FREQS.map((f) => h('option', { value: f }, t(`cal.repeat.${f.toLowerCase()}`))),
      rule.freq === 'custom' ? h('option', { value: 'custom' }, t('cal.repeat.custom', { rule: rule.raw })) : null);
    /** @type {HTMLSelectElement} */ (freq).value = rule.freq;
    const interval = h('input', { type: 'number', min: '1', max: '999', value: String(rule.interval) });
    const ends = h('select', null,
      h('option', { value: 'never' }, t('cal.ends.never')),
      h('option', { value: 'until' }, t('cal.ends.until')),
      h('option', { value: 'count' }, t('cal.ends.count')));
    /** @type {HTMLSelectElement} */ (ends).value = rule.until ? 'until' : rule.count ? 'count' : 'never';
    const untilDate = h('input', { type: 'date', value: rule.until ? `${rule.until.slice(0, 4)}-${rule.until.slice(4, 6)}-${rule.until.slice(6, 8)}` : '' });
    const count = h('input', { type: 'number', min: '1', max: '9999', value: String(rule.count || 10) });

    const alarmList = h('ul', { class: 'alarms' });
    const alarms = (event.alarms || []).map((a) => ({ ...a }));
    const renderAlarms = () => {
      clear(alarmList);
      alarms.forEach((a, i) => {
        const pick = h('select', { 'aria-label': t('cal.alarm_n', { n: i + 1 }) },
          ALARM_PRESETS.map((p) => h('option', { value: p }, alarmLabel(p, t))),
          ALARM_PRESETS.includes(a.trigger) ? null : h('option', { value: a.trigger }, alarmLabel(a.trigger, t)));
        /** @type {HTMLSelectElement} */ (pick).value = a.trigger;
        pick.addEventListener('change', () => { a.trigger = /** @type {HTMLSelectElement} */ (pick).value; });
        const remove = h('button', { type: 'button', class: 'secondary small', 'aria-label': t('cal.alarm_remove_n', { n: i + 1 }) }, t('cal.remove'));
        remove.addEventListener('click', () => { alarms.splice(i, 1); renderAlarms(); addAlarm.focus(); });
        alarmList.append(h('li', null, pick, remove));
      });
    };
    const addAlarm = h('button', { type: 'button', class: 'secondary small' }, t('cal.alarm_add'));
    addAlarm.addEventListener('click', () => {
      alarms.push({ trigger: '-PT15M', action: 'display' });
      renderAlarms();
      /** @type {HTMLElement|null} */ (alarmList.querySelector('li:last-child select'))?.focus();
    });
    renderAlarms();

    const attendees = (event.attendees || []);
    const people = attendees.length || event.organizer
      ? h('section', { class: 'attendees', 'aria-label': t('cal.attendees') },
        h('h3', null, t('cal.attendees')),
        h('ul', null,
          event.organizer ? h('li', null, personLabel(event.organizer), ' — ', t('cal.organizer')) : null,
          attendees.map((a) => h('li', null, personLabel(a), ' — ', t(`cal.partstat.${a.partstat || 'needs-action'}`)))))
      : null;

    const error = h('p', { class: 'error', role: 'alert' });
    const timeRow = h('div', { class: 'row' }, labelled(t('cal.start_date'), startDate), labelled(t('cal.start_time'), startTime));
    const endRow = h('div', { class: 'row' }, labelled(t('cal.end_date'), endDate), labelled(t('cal.end_time'), endTime));
    const zoneField = labelled(t('cal.time_zone'), zonePick);
    const intervalField = labelled(t('cal.repeat.interval'), interval);
    const endsField = labelled(t('cal.ends'), ends);
    const untilField = labelled(t('cal.ends.until_date'), untilDate);
    const countField = labelled(t('cal.ends.count_n'), count);
    const sync = () => {
      const day = /** @type {HTMLInputElement} */ (allDay).checked;
      for (const el of [startTime, endTime]) el.closest('.field')?.toggleAttribute('hidden', day);
      zoneField.hidden = day;
      const f = /** @type {HTMLSelectElement} */ (freq).value;
      intervalField.hidden = !f || f === 'custom';
      endsField.hidden = !f || f === 'custom';
      const e = /** @type {HTMLSelectElement} */ (ends).value;
      untilField.hidden = endsField.hidden || e !== 'until';
      countField.hidden = endsField.hidden || e !== 'count';
    };
    for (const el of [allDay, freq, ends]) el.addEventListener('change', sync);

    const body = [
      labelled(t('cal.title'), title),
      labelled(t('cal.calendar'), calPick),
      h('div', { class: 'field check' }, allDay, h('label', { for: (allDay.id = uid('f')) }, t('cal.all_day'))),
      timeRow, endRow, zoneField,
      labelled(t('cal.location'), where),
      labelled(t('cal.description'), notes),
      h('fieldset', null, h('legend', null, t('cal.repeat')),
        labelled(t('cal.repeat.frequency'), freq), intervalField, endsField, untilField, countField),
      h('fieldset', null, h('legend', null, t('cal.alarms')), alarmList, addAlarm),
      people,
      error,
    ];
    sync();
    const actions = [{ label: t('cal.save'), value: 'save', kind: 'primary', submit: true }];
    if (existing) actions.push({ label: t('cal.delete'), value: 'delete', kind: 'danger', submit: true });
    actions.push({ label: t('cal.cancel'), value: 'cancel', kind: 'secondary' });

    /** The fields the form describes, on top of what was read. */
    const collect = () => {
      const day = /** @type {HTMLInputElement} */ (allDay).checked;
      const z = /** @type {HTMLSelectElement} */ (zonePick).value;
      const sd = /** @type {HTMLInputElement} */ (startDate).value;
      const ed = /** @type {HTMLInputElement} */ (endDate).value;
      const st = /** @type {HTMLInputElement} */ (startTime).value || '00:00';
      const et = /** @type {HTMLInputElement} */ (endTime).value || '00:00';
      if (!sd || !ed) return { problem: t('cal.error.dates') };
      let start; let end;
      if (day) {
        if (ed < sd) return { problem: t('cal.error.end_before_start') };
        start = { date: sd };
        end = { date: addDays(ed, 1) };
      } else {
        const s = `${sd}T${st}:00`;
        const e = `${ed}T${et}:00`;
        if (e < s) return { problem: t('cal.error.end_before_start') };
        start = z ? { date_time: s, time_zone: z } : { date_time: s };
        end = z ? { date_time: e, time_zone: z } : { date_time: e };
      }
      const f = /** @type {HTMLSelectElement} */ (freq).value;
      let rrule = null;
      if (f === 'custom') rrule = rule.raw;
      else if (f) {
        rrule = buildRule({
          freq: f,
          interval: Number(/** @type {HTMLInputElement} */ (interval).value) || 1,
          ends: /** @type {HTMLSelectElement} */ (ends).value,
          untilDate: /** @type {HTMLInputElement} */ (untilDate).value,
          count: Number(/** @type {HTMLInputElement} */ (count).value) || 0,
          rest: f === rule.freq ? rule.rest : [],
        }, { allDay: day, zone: z });
        // Unchanged choices keep the stored rule as it was written (the server then knows it
        // is "the same rule", e.g. when a series is split).
        if (sameRule(rrule, rule.raw)) rrule = rule.raw;
      }
      const old = event.recurrence || {};
      const recurrence = rrule || (old.rdates || []).length
        ? { rrule, rdates: old.rdates || [], exdates: rrule || (old.rdates || []).length ? (old.exdates || []) : [] }
        : null;
      const summary = /** @type {HTMLInputElement} */ (title).value.trim();
      return {
        fields: {
          summary,
          location: /** @type {HTMLInputElement} */ (where).value.trim() || null,
          description: /** @type {HTMLTextAreaElement} */ (notes).value || null,
          start,
          end,
          duration: null,
          recurrence,
          alarms: alarms.map((a) => ({ ...a, description: a.description || summary || t('cal.untitled') })),
        },
      };
    };

    const dlg = openDialog({
      title: existing ? t('cal.edit_event') : t('cal.new_event'),
      body,
      actions,
      className: 'event-editor',
      onSubmit: async (value) => {
        error.textContent = '';
        try {
          if (value === 'delete') return await remove(existing);
          const c = collect();
          if (c.problem) {
            error.textContent = c.problem;
            return false;
          }
          if (!existing) {
            const target = /** @type {HTMLSelectElement} */ (calPick).value;
            await api('POST', path(target), { kind: 'event', ...c.fields });
            cache.delete(target);
            refetch();
            toast(t('cal.created', { title: c.fields.summary || t('cal.untitled') }));
            return true;
          }
          return await save(existing, c.fields, recurring);
        } catch (e) {
          failed(e);
          return false;
        }
      },
    });
    /** @type {HTMLElement} */ (title).focus();
    return dlg;
  }

  /** Saves an edited event; for an occurrence of a series, asks which occurrences change. */
  async function save(existing, fields, recurring) {
    const { calId, event, etag, occ } = existing;
    if (!recurring || !occ) {
      await put(calId, { ...event, ...fields }, etag);
      toast(t('cal.saved'));
      return true;
    }
    const scope = await askScope('edit');
    if (!scope) return false;
    if (scope === 'all') {
      // The form shows this occurrence's times: move the series by as much as it moved.
      const before = editorTimes(event, occ);
      const moved = shiftSeries(event, before, fields);
      await put(calId, { ...event, ...fields, ...moved }, etag);
    } else {
      await occurrence(api, scope === 'this' ? 'edit-this' : 'edit-following', {
        calId, event, etag, recurrenceId: occ.extendedProps.recurrenceId, fields,
      });
      cache.delete(calId);
      refetch();
    }
    toast(t('cal.saved'));
    return true;
  }

  /** New start/end of a series whose occurrence moved from `before` to `fields`' times. */
  function shiftSeries(event, before, fields) {
    const wall = (/** @type {any} */ w) => w.date ? `${w.date}T00:00:00` : w.date_time;
    const startDelta = Date.parse(`${wall(fields.start)}Z`) - Date.parse(`${before.allDay ? `${before.start}T00:00:00` : before.start}Z`);
    const length = Date.parse(`${wall(fields.end)}Z`) - Date.parse(`${wall(fields.start)}Z`);
    if (fields.start.date) {
      const s = addDays(event.start.date || event.start.date_time.slice(0, 10), Math.round(startDelta / 86400e3));
      return { start: { date: s }, end: { date: addDays(s, Math.round(length / 86400e3)) } };
    }
    const base = event.start.date ? `${event.start.date}T${fields.start.date_time.slice(11)}` : event.start.date_time;
    const s = event.start.date ? base : addWall(base, startDelta);
    const z = fields.start.time_zone;
    return {
      start: z ? { date_time: s, time_zone: z } : { date_time: s },
      end: z ? { date_time: addWall(s, length), time_zone: z } : { date_time: addWall(s, length) },
    };
  }

  async function askScope(kind) {
    return choose(t(`cal.scope.${kind}_title`), t(`cal.scope.${kind}_question`), [
      { label: t('cal.scope.this'), value: 'this' },
      { label: t('cal.scope.following'), value: 'following' },
      { label: t('cal.scope.all'), value: 'all' },
      { label: t('cal.cancel'), value: '', kind: 'secondary' },
    ]);
  }

  /** Deletes the event, or for an occurrence of a series what the user chooses. */
  async function remove(existing) {
    const { calId, event, etag, occ } = existing;
    const recurring = Boolean(event.recurrence && event.recurrence.rrule);
    let scope = 'all';
    if (recurring && occ) {
      scope = await askScope('delete');
      if (!scope) return false;
    } else {
      const sure = await choose(t('cal.delete_title'), t('cal.delete_question', { title: event.summary || t('cal.untitled') }), [
        { label: t('cal.delete'), value: 'yes', kind: 'danger' },
        { label: t('cal.cancel'), value: '', kind: 'secondary' },
      ]);
      if (!sure) return false;
    }
    if (scope === 'all') {
      await api('DELETE', path(calId, event.uid), null, { ifMatch: etag });
    } else {
      await occurrence(api, scope === 'this' ? 'delete-this' : 'delete-following', {
        calId, event, etag, recurrenceId: occ.extendedProps.recurrenceId,
      });
    }
    cache.delete(calId);
    refetch();
    toast(t('cal.deleted'));
    return true;
  }

  // ----- Direct manipulation: click, select, drag, resize -----

  async function onEventClick(info) {
    info.jsEvent.preventDefault();
    if (info.event.extendedProps.more) {
      calendar.changeView('timeGridDay', info.event.extendedProps.more);
      return;
    }
    const { calendarId, uid: u } = info.event.extendedProps;
    try {
      const { event, etag } = await read(calendarId, u);
      openEditor({ existing: { calId: calendarId, event, etag, occ: info.event } });
    } catch (e) {
      failed(e);
    }
  }

  function defaultCalendar() {
    const visible = writableCalendars().filter((c) => !hidden.has(c.id));
    const last = pref('last', '');
    return (visible.find((c) => c.id === last) || visible[0] || writableCalendars()[0] || {}).id;
  }

  function onSelect(info) {
    calendar.unselect();
    const calId = defaultCalendar();
    if (!calId) return;
    if (info.allDay) {
      openEditor({ calId, times: { allDay: true, start: info.startStr.slice(0, 10), end: addDays(info.endStr.slice(0, 10), -1) } });
    } else {
      openEditor({ calId, times: { allDay: false, start: wallOf(info.start, zone), end: wallOf(info.end, zone) } });
    }
  }

  function newEvent() {
    const calId = defaultCalendar();
    if (!calId) {
      toast(t('cal.error.no_calendar'), { kind: 'error' });
      return;
    }
    // The next full hour on the day shown (today when it is on screen).
    const now = new Date();
    const shown = calendar ? calendar.getDate() : now;
    const day = wallOf(shown, zone).slice(0, 10);
    const hour = Math.min(22, now.getHours() + 1);
    const start = `${day}T${String(hour).padStart(2, '0')}:00:00`;
    openEditor({ calId, times: { allDay: false, start, end: addWall(start, 3600e3) } });
  }
  newButton.addEventListener('click', newEvent);

  /** A drag or resize: the new times, written with If-Match; reverted when that fails. */
  async function onMove(info) {
    const { calendarId, uid: u } = info.event.extendedProps;
    try {
      const { event, etag } = await read(calendarId, u);
      const recurring = Boolean(event.recurrence && event.recurrence.rrule);
      const fields = movedFields(event, info);
      let scope = 'all';
      if (recurring) {
        scope = await askScope('move');
        if (!scope) {
          info.revert();
          return;
        }
      }
      if (scope === 'all' && recurring) {
        const before = editorTimes(event, info.oldEvent);
        await put(calendarId, { ...event, ...shiftSeries(event, before, fields) }, etag);
      } else if (scope === 'all') {
        await put(calendarId, { ...event, ...fields, duration: null }, etag);
      } else {
        await occurrence(api, scope === 'this' ? 'edit-this' : 'edit-following', {
          calId: calendarId, event, etag, recurrenceId: info.event.extendedProps.recurrenceId, fields,
        });
        cache.delete(calendarId);
        refetch();
      }
      toast(t('cal.moved', { title: event.summary || t('cal.untitled') }));
    } catch (e) {
      info.revert();
      failed(e);
    }
  }

  /** The start and end an occurrence has after a drag or resize, in the event's zone. */
  function movedFields(event, info) {
    const ev = info.event;
    if (ev.allDay) {
      const s = ev.startStr.slice(0, 10);
      const e = ev.endStr ? ev.endStr.slice(0, 10) : addDays(s, 1);
      return { start: { date: s }, end: { date: e } };
    }
    const z = zoneOf(event) || (event.start && event.start.date ? zone : '');
    const wz = z || zone;
    const end = ev.end || new Date(ev.start.getTime() + 3600e3);
    const s = wallOf(ev.start, wz);
    const e = wallOf(end, wz);
    return {
      start: z ? { date_time: s, time_zone: z } : { date_time: s },
      end: z ? { date_time: e, time_zone: z } : { date_time: e },
    };
  }

  // ----- Set-up -----

  async function start() {
    try {
      const [FullCalendar] = await Promise.all([loadFullCalendar(), loadCalendars()]);
      if (!alive) return;
      const narrow = window.matchMedia('(max-width: 40rem)').matches;
      const saved = pref('view', '');
      calendar = new FullCalendar.Calendar(grid, {
        initialView: VIEWS.includes(saved) ? saved : (narrow ? 'listWeek' : 'dayGridMonth'),
        headerToolbar: { left: 'prev,next today', center: 'title', right: VIEWS.join(',') },
        locale: lang(),
        timeZone: 'local',
        height: '100%',
        buttonText: {
          today: t('cal.today'), month: t('cal.month'), week: t('cal.week'), day: t('cal.day'), list: t('cal.agenda'),
        },
        buttonHints: {
          prev: t('cal.hint.prev'), next: t('cal.hint.next'), today: t('cal.hint.today'),
        },
        viewHint: t('cal.hint.view'),
        navLinkHint: t('cal.hint.day'),
        moreLinkHint: t('cal.hint.more'),
        closeHint: t('cal.close'),
        timeHint: t('cal.hint.time'),
        eventHint: t('cal.hint.event'),
        allDayText: t('cal.all_day'),
        noEventsText: t('cal.no_events'),
        weekText: t('cal.week_short'),
        moreLinkText: (/** @type {number} */ n) => t('cal.more', { count: n }),
        editable: true,
        selectable: true,
        selectMirror: true,
        dayMaxEvents: true,
        nowIndicator: true,
        navLinks: true,
        eventInteractive: true,
        scrollTime: '08:00:00',
        events: fetchEvents,
        // Every change of dates or view asks `fetchEvents` (served from the cache when it can):
        // the month's list is capped per day, so the week or day inside it must not reuse it.
        lazyFetching: false,
        eventClick: onEventClick,
        eventContent: (/** @type {any} */ arg) => (arg.event.extendedProps.more
          ? { domNodes: [h('span', { class: 'more-events' }, arg.event.title)] } : true),
        select: onSelect,
        eventDrop: onMove,
        eventResize: onMove,
        datesSet: (/** @type {any} */ info) => {
          savePref('view', info.view.type);
          quietIcons();
        },
        // A day cell is labelled by its date link, but holds the day's events too, so its name
        // would not contain its text (axe: label-content-name-mismatch); the link and the events
        // carry their own names.
        dayCellDidMount: (/** @type {any} */ arg) => arg.el.removeAttribute('aria-labelledby'),
        loading: (/** @type {boolean} */ busy) => grid.setAttribute('aria-busy', String(busy)),
      });
      calendar.render();
      quietIcons();
    } catch (e) {
      failed(e);
    }
  }

  // Live updates: a change to a calendar (from a phone, Thunderbird, another tab) refetches
  // it; a change to the calendar list reloads that; `resync` refetches everything.
  const onChange = (/** @type {any} */ data, /** @type {string} */ type) => {
    if (type === 'calendar.object' && data.calendar) {
      cache.delete(data.calendar);
      refetch();
    } else {
      cache.clear();
      loadCalendars().then(refetch, failed);
    }
  };
  unsubscribe.push(onPush('calendar.object', onChange));
  unsubscribe.push(onPush('calendar.collection', onChange));

  start();
  return {
    unmount() {
      alive = false;
      unsubscribe.forEach((u) => u());
      refetch.cancel();
      if (calendar) calendar.destroy();
    },
    /** For tests and the bench: the FullCalendar instance. */
    get calendar() { return calendar; },
  };
}

/**
 * `events` with at most `keep` single-day events per day (by start), the rest of each day
 * replaced by one "+N more" item at the end of the day. Events spanning days stay.
 */
export function capPerDay(events, keep, t) {
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
  const dayOf = (/** @type {any} */ e) => {
    if (e.allDay) return e.start.slice(0, 10);
    const d = new Date(e.start);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  };
  const spans = (/** @type {any} */ e) => (e.allDay
    ? Boolean(e.end) && e.end.slice(0, 10) > addDays(e.start.slice(0, 10), 1)
    : Boolean(e.end) && dayOf({ start: e.end }) !== dayOf(e) && new Date(e.end).getTime() - new Date(e.start).getTime() > 0
      && !(new Date(e.end).getHours() === 0 && new Date(e.end).getMinutes() === 0 && new Date(e.end).getTime() - new Date(e.start).getTime() <= 86400e3));
  /** @type {Map<string, any[]>} */
  const byDay = new Map();
  const out = [];
  for (const e of events) {
    if (spans(e)) {
      out.push(e);
      continue;
    }
    const day = dayOf(e);
    if (!byDay.has(day)) byDay.set(day, []);
    byDay.get(day)?.push(e);
  }
  for (const [day, list] of byDay) {
    if (list.length <= keep + 1) {
      out.push(...list);
      continue;
    }
    list.sort((a, b) => (a.allDay === b.allDay ? 0 : a.allDay ? -1 : 1) || String(a.start).localeCompare(String(b.start)) || new Date(a.start).getTime() - new Date(b.start).getTime());
    out.push(...list.slice(0, keep));
    const hidden = list.length - keep;
    const end = new Date(`${day}T23:59:00`);
    out.push({
      id: `more/${day}`,
      title: t('cal.more', { count: hidden }),
      start: end.toISOString(),
      end: new Date(end.getTime() + 60e3).toISOString(),
      allDay: false,
      editable: false,
      classNames: ['more-events-item'],
      extendedProps: { more: day },
    });
  }
  return out;
}

/** A select of IANA zones, `value` chosen; `''` is floating (the same wall time everywhere). */
function zoneSelect(value, t) {
  /** @type {string[]} */
  let zones = [];
  try { zones = /** @type {any} */ (Intl).supportedValuesOf('timeZone'); } catch { zones = []; }
  const all = new Set(zones);
  for (const z of ['UTC', viewerZone(), value]) if (z) all.add(z);
  const sorted = [...all].sort();
  const select = h('select', null,
    h('option', { value: '' }, t('cal.floating')),
    sorted.map((z) => h('option', { value: z }, z)));
  /** @type {HTMLSelectElement} */ (select).value = value || '';
  return select;
}

/** `-PT15M` → "15 minutes before" (catalogue texts), other triggers as they are. */
export function alarmLabel(trigger, t) {
  const m = /^(-)?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(trigger || '');
  if (!m) return trigger;
  const [, minus, w, d, hh, mm, ss] = m;
  const total = ((+w || 0) * 7 * 1440) + ((+d || 0) * 1440) + ((+hh || 0) * 60) + (+mm || 0) + ((+ss || 0) / 60);
  if (total === 0) return t('cal.alarm.at_start');
  const unit = total % 10080 === 0 ? ['week', total / 10080] : total % 1440 === 0 ? ['day', total / 1440]
    : total % 60 === 0 ? ['hour', total / 60] : ['minute', total];
  return t(minus ? `cal.alarm.${unit[0]}s_before` : `cal.alarm.${unit[0]}s_after`, { n: unit[1] });
}

function personLabel(p) {
  return p.name ? `${p.name} <${p.email}>` : p.email;
}

/** `fn` once, `ms` after the last call; `.cancel()` drops a pending run. */
function debounce(fn, ms) {
  let timer = /** @type {any} */ (null);
  const run = () => {
    clearTimeout(timer);
    timer = setTimeout(() => { timer = null; fn(); }, ms);
  };
  run.cancel = () => clearTimeout(timer);
  return run;
}

