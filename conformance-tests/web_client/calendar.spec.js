// The Calendar view in a real browser against a real server: an event made in the browser is
// what the JSON API and python caldav see (RRULE, TZID); dragging it moves the series; a CalDAV
// PUT shows up live; the keyboard alone creates an event; a month of 1,000 events renders
// (its render time is recorded, not asserted: bench/web_client.js owns the figure); a calendar
// is published at a secret link and stopped; a feed is subscribed to from the calendar list
// (its state shown, refreshed, unsubscribed); Korean UI.
// Every page is guarded against CSP violations and console errors (fixtures.js).
'use strict';
const {
  test, expect, apiAs, checkA11y, shot, caldavObjects, collectCspViolations, icsEvent, signIn, urlOf,
} = require('./fixtures');

// The viewer is in Seoul, the events in Berlin: the two zones differ all year, so a mix-up of
// the viewer's and the event's zone shows.
test.use({ timezoneId: 'Asia/Seoul' });

/** Today's month's `day` as `YYYY-MM-DD` in the viewer's zone (always inside the month grid). */
function dayOfThisMonth(day) {
  const now = new Date(Date.now() + 9 * 3600e3); // Seoul, UTC+9, no DST
  return `${now.toISOString().slice(0, 7)}-${String(day).padStart(2, '0')}`;
}

/**
 * Signs `user` in and opens the calendar; waits until FullCalendar has rendered the events
 * (`events` of them at least).
 */
async function openCalendar(page, user, { events = 0 } = {}) {
  const guard = await collectCspViolations(page);
  await signIn(page, user, { next: '/' });
  await page.goto('/#/calendar');
  await expect(page.locator('.fc-daygrid-body, .fc-timegrid-body, .fc-list').first()).toBeVisible();
  await page.waitForFunction((n) => Number(document.querySelector('.cal-grid')?.dataset.events ?? -1) >= n, events);
  return guard;
}

/**
 * Where `locator` is on the page, once it is: right after a write the grid re-renders (it
 * refetches on the push event), and an element caught between renders has no box (seen on
 * PostgreSQL under load: the box was null).
 */
async function boxOf(locator) {
  let box = null;
  await expect.poll(async () => {
    box = await locator.boundingBox();
    return box !== null;
  }, { timeout: 10_000 }).toBe(true);
  return box;
}

/** Drags `from` onto `to` with the mouse, in steps (FullCalendar waits for a few pixels of movement). */
async function drag(page, from, to) {
  const a = await boxOf(from);
  const b = await boxOf(to);
  await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
  await page.mouse.down();
  await page.mouse.move(a.x + a.width / 2 + 15, a.y + a.height / 2 + 5, { steps: 4 });
  await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 12 });
  await page.mouse.up();
}

async function eventsNamed(user, summary) {
  const r = await apiAs(user)('GET', '/api/v1/calendars/default/events');
  expect(r.status).toBe(200);
  return r.body.events.filter((e) => e.summary === summary);
}

test('a weekly event in Europe/Berlin made in the browser is in the API and CalDAV; dragging moves all, one, or this and following', async ({ page, user }) => {
  await openCalendar(page, user);
  const day = dayOfThisMonth(10);
  const next = dayOfThisMonth(11);
  const title = `Standup ${Date.now() % 100000}`;

  await page.getByRole('button', { name: 'New event' }).click();
  const dialog = page.getByRole('dialog', { name: 'New event' });
  await dialog.getByLabel('Title').fill(title);
  await dialog.getByLabel('Start date').fill(day);
  await dialog.getByLabel('Start time').fill('09:30');
  await dialog.getByLabel('End date').fill(day);
  await dialog.getByLabel('End time').fill('10:15');
  await dialog.getByLabel('Time zone').selectOption('Europe/Berlin');
  await dialog.getByLabel('Location').fill('Room 4');
  await dialog.getByLabel('Repeats').selectOption('WEEKLY');
  await dialog.getByLabel('Ends').selectOption('count');
  await dialog.getByLabel('Number of times').fill('6');
  await dialog.getByRole('button', { name: 'Add reminder' }).click();
  await checkA11y(page, { include: ['dialog'], name: 'event-dialog' });
  await shot(page, 'event-dialog');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByRole('status').filter({ hasText: 'was created' })).toBeVisible();

  // The JSON API: the zone and the rule as chosen.
  let [ev] = await eventsNamed(user, title);
  expect(ev, 'the new event in the API').toBeTruthy();
  expect(ev.start).toEqual({ date_time: `${day}T09:30:00`, time_zone: 'Europe/Berlin' });
  expect(ev.end).toEqual({ date_time: `${day}T10:15:00`, time_zone: 'Europe/Berlin' });
  expect(ev.recurrence.rrule).toBe('FREQ=WEEKLY;COUNT=6');
  expect(ev.location).toBe('Room 4');
  expect(ev.alarms).toEqual([expect.objectContaining({ trigger: '-PT15M', action: 'display' })]);

  // python caldav's view of the calendar: RRULE and TZID as a CalDAV client reads them.
  const cal = await caldavObjects(user, user.calendarUrl, { uid: ev.uid });
  const comp = cal.objects.flatMap((o) => o.components).find((c) => c.uid === ev.uid);
  expect(comp.rrule).toBe('FREQ=WEEKLY;COUNT=6');
  expect(comp.dtstart.params.TZID).toBe('Europe/Berlin');
  expect(comp.dtstart.value).toContain(`${day.replaceAll('-', '')}T093000`);

  // FullCalendar's styles are in place under the strict CSP: its one empty <style> element
  // (allowed by the hash of the empty string) filled through the CSSOM.
  const rules = await page.evaluate(() => document.querySelector('style[data-fullcalendar]')?.sheet?.cssRules.length ?? 0);
  expect(rules, 'FullCalendar injected its CSS').toBeGreaterThan(100);

  // 09:30 in Berlin is evening in Seoul, the same day: the first occurrence is on `day`.
  const cell = page.locator(`td[data-date="${day}"]`);
  const chip = cell.locator('.fc-event', { hasText: title });
  await expect(chip).toBeVisible();
  await checkA11y(page, { name: 'calendar-month' });
  await shot(page, 'calendar-month');

  // Drag the first occurrence one day later, for the whole series.
  await drag(page, chip, page.locator(`td[data-date="${next}"]`));
  const scope = page.getByRole('dialog', { name: 'Move a repeating event' });
  await scope.getByRole('button', { name: 'All occurrences' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'was moved' })).toBeVisible();
  [ev] = await eventsNamed(user, title);
  expect(ev.start).toEqual({ date_time: `${next}T09:30:00`, time_zone: 'Europe/Berlin' });
  expect(ev.end).toEqual({ date_time: `${next}T10:15:00`, time_zone: 'Europe/Berlin' });
  expect(ev.recurrence.rrule).toBe('FREQ=WEEKLY;COUNT=6');
  await expect(page.locator(`td[data-date="${next}"] .fc-event`, { hasText: title })).toBeVisible();

  // Drag the second occurrence (a week later) one more day, for this occurrence only: the
  // series stays, an override (RECURRENCE-ID) holds the moved one.
  const second = dayOfThisMonth(18);
  const third = dayOfThisMonth(19);
  await drag(page, page.locator(`td[data-date="${second}"] .fc-event`, { hasText: title }), page.locator(`td[data-date="${third}"]`));
  await page.getByRole('dialog', { name: 'Move a repeating event' }).getByRole('button', { name: 'This occurrence' }).click();
  // Polled: the first move's "was moved" toast may still be showing, so it cannot tell that
  // this write has landed (seen in CI under load).
  await expect.poll(async () => (await eventsNamed(user, title))[0]?.overrides).toEqual([
    { date_time: `${second}T09:30:00`, time_zone: 'Europe/Berlin' },
  ]);
  [ev] = await eventsNamed(user, title);
  expect(ev.start).toEqual({ date_time: `${next}T09:30:00`, time_zone: 'Europe/Berlin' });
  await expect(page.locator(`td[data-date="${third}"] .fc-event`, { hasText: title })).toBeVisible();
  await expect(page.locator(`td[data-date="${second}"] .fc-event`, { hasText: title })).toHaveCount(0);

  // Drag the occurrence of the 25th to the 26th "this and following": the series splits. A
  // CalDAV client (python caldav) then sees the old series end before the 25th (UNTIL, no
  // COUNT) and a new one from the 26th, same zone, linked to the old by RELATED-TO.
  const fourth = dayOfThisMonth(25);
  const fifth = dayOfThisMonth(26);
  await drag(page, page.locator(`td[data-date="${fourth}"] .fc-event`, { hasText: title }), page.locator(`td[data-date="${fifth}"]`));
  await page.getByRole('dialog', { name: 'Move a repeating event' }).getByRole('button', { name: 'This and following' }).click();
  await expect.poll(async () => (await eventsNamed(user, title)).length, 'the series and its second half').toBe(2);
  const split = await caldavObjects(user, user.calendarUrl);
  const masters = split.objects
    .flatMap((o) => o.components)
    .filter((c) => c.type === 'VEVENT' && c.summary === title && !c.recurrence_id);
  const old = masters.find((c) => c.uid === ev.uid);
  const later = masters.find((c) => c.uid !== ev.uid);
  expect(old.rrule).toContain('UNTIL=');
  expect(old.rrule).not.toContain('COUNT=');
  expect(later.rrule).toMatch(/^FREQ=WEEKLY/);
  expect(later.dtstart.params.TZID).toBe('Europe/Berlin');
  expect(later.dtstart.value).toContain(`${fifth.replaceAll('-', '')}T093000`);
  expect(later.related_to.map((r) => r.value)).toContain(ev.uid);
  await expect(page.locator(`td[data-date="${fifth}"] .fc-event`, { hasText: title })).toBeVisible();
  await expect(page.locator(`td[data-date="${fourth}"] .fc-event`, { hasText: title })).toHaveCount(0);

  // Week and agenda views render the same event.
  await page.getByRole('button', { name: 'Agenda', exact: true }).click();
  await shot(page, 'calendar-agenda');
  await page.getByRole('button', { name: 'Week', exact: true }).click();
  await shot(page, 'calendar-week');
});

test('an event PUT over CalDAV appears in the open calendar without a reload', async ({ page, user, davPut }) => {
  await openCalendar(page, user);
  const day = dayOfThisMonth(12).replaceAll('-', '');
  const uid = `live-${Date.now()}@example.com`;
  const ics = icsEvent({ uid, summary: 'Pushed from CalDAV', tzid: 'Europe/Berlin', start: `${day}T080000`, end: `${day}T090000` });
  const shown = page.locator('.fc-event', { hasText: 'Pushed from CalDAV' });
  await expect(shown).toHaveCount(0);
  const put = await davPut(`${user.calendarUrl}${uid}.ics`, ics, 'text/calendar; charset=utf-8');
  expect([201, 204]).toContain(put.status);
  const t0 = Date.now();
  await expect(shown).toBeVisible({ timeout: 5000 });
  const ms = Date.now() - t0;
  test.info().annotations.push({ type: 'caldav-put-to-screen-ms', description: String(ms) });
  expect(ms, 'shown within 1 s of the PUT').toBeLessThan(1000);
});

test('a calendar is published at a secret link that works signed out, shown once, until it is stopped', async ({ page, user }) => {
  await openCalendar(page, user);
  const menu = page.getByRole('button', { name: 'Publish Calendar…' });
  await menu.click();
  const dialog = page.getByRole('dialog', { name: 'Publish “Calendar”' });
  await dialog.getByRole('button', { name: 'Publish', exact: true }).click();
  const field = dialog.getByLabel('Secret link');
  await expect(field).toBeFocused();
  const url = await field.inputValue();
  expect(url).toMatch(/\/feeds\/[A-Za-z0-9_-]{43}\.ics$/);
  await expect(dialog.getByRole('link', { name: 'Open in calendar app' })).toHaveAttribute('href', /^webcal:\/\//);
  await checkA11y(page);
  await shot(page, 'calendar-published');
  // The link works without an account: fetched with no cookie and no credentials.
  const feed = urlOf(new URL(url).pathname);
  const anonymous = await fetch(feed);
  expect(anonymous.status).toBe(200);
  expect(await anonymous.text()).toContain('BEGIN:VCALENDAR');
  await dialog.getByRole('button', { name: 'Close' }).click();
  await expect(dialog).toBeHidden();
  await expect(menu).toBeFocused();

  // Opened again, it says since when, and the link is not shown again (only its hash is kept).
  await menu.click();
  await expect(dialog.getByText(/^Published since/)).toBeVisible();
  await expect(dialog.getByLabel('Secret link')).toHaveCount(0);
  await dialog.getByRole('button', { name: 'Stop publishing' }).click();
  await expect(dialog.getByRole('button', { name: 'Publish', exact: true })).toBeVisible();
  expect((await fetch(feed)).status).toBe(404);
});

test('a calendar feed is subscribed to from the calendar list, shown read-only with its state, and unsubscribed', async ({ page, user }) => {
  // The feed: the user's own calendar published by this server (run.sh lets subscriptions reach
  // 127.0.0.1 for this suite), with one event in it.
  const api = apiAs(user);
  const put = await api('POST', '/api/v1/calendars/default/import', `${icsEvent({ uid: 'feed-ev', summary: 'From the feed' })}`,
    { headers: { 'Content-Type': 'text/calendar' } });
  expect(put.status).toBe(200);
  const published = await api('POST', '/api/v1/calendars/default/publication');
  expect(published.status).toBe(201);
  const feedUrl = urlOf(new URL(published.body.url).pathname);

  await openCalendar(page, user);
  await page.getByRole('button', { name: 'Subscribe to a calendar…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Subscribe to a calendar' });
  await expect(dialog.getByLabel('Feed address')).toBeFocused();
  await dialog.getByLabel('Feed address').fill(feedUrl);
  await dialog.getByLabel('Name (optional)').fill('Mirror');
  await checkA11y(page);
  await dialog.getByRole('button', { name: 'Subscribe', exact: true }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByText('Subscribed to “Mirror”.')).toBeVisible();
  await expect(page.locator('.cal-list').getByText('Mirror')).toBeVisible();

  const menu = page.getByRole('button', { name: 'Subscription Mirror…' });
  await menu.click();
  const state = page.getByRole('dialog', { name: 'Subscription “Mirror”' });
  await expect(state.getByText('Fetched from 127.0.0.1.')).toBeVisible();
  await expect(state.getByText(/^Last updated: /)).toBeVisible();
  await state.getByRole('button', { name: 'Update now' }).click();
  await expect(state.getByText(/^Last updated: /)).toBeVisible();
  await shot(page, 'calendar-subscription');
  await state.getByRole('button', { name: 'Unsubscribe' }).click();
  await expect(state).toBeHidden();
  await expect(page.locator('.cal-list').getByText('Mirror')).toHaveCount(0);
  expect((await api('GET', '/api/v1/subscriptions')).body).toEqual([]);
});

test('the keyboard alone creates an event, and focus comes back', async ({ page, user }) => {
  await openCalendar(page, user);
  const button = page.getByRole('button', { name: 'New event' });
  await button.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'New event' });
  await expect(dialog.getByLabel('Title')).toBeFocused();
  await page.keyboard.type('Typed only');
  await page.keyboard.press('Enter'); // implicit submission: the form's first button, Save
  await expect(dialog).toBeHidden();
  await expect(button).toBeFocused();
  expect(await eventsNamed(user, 'Typed only')).toHaveLength(1);
  // Escape closes the editor without saving.
  await page.keyboard.press('Enter');
  await expect(dialog).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(button).toBeFocused();
});

test('a month with 1,000 events renders a capped grid; the render time is recorded', async ({ page, user }) => {
  // One import of 1,000 one-hour events spread over the viewer's current month.
  const month = dayOfThisMonth(1).slice(0, 7).replace('-', '');
  const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//madang tests//EN'];
  for (let i = 0; i < 1000; i += 1) {
    const d = String(1 + (i % 28)).padStart(2, '0');
    const h = String(8 + (i % 10)).padStart(2, '0');
    lines.push('BEGIN:VEVENT', `UID:month-${i}@tests`, 'DTSTAMP:20260101T000000Z',
      `DTSTART;TZID=Europe/Berlin:${month}${d}T${h}0000`, `DURATION:PT1H`, `SUMMARY:Busy ${i}`, 'END:VEVENT');
  }
  lines.push('END:VCALENDAR');
  const r = await apiAs(user)('POST', '/api/v1/calendars/default/import', `${lines.join('\r\n')}\r\n`,
    { headers: { 'Content-Type': 'text/calendar' } });
  expect(r.status).toBe(200);
  expect(r.body.accepted).toBe(1000);

  await openCalendar(page, user, { events: 1 });
  const figures = await page.evaluate(() => {
    const grid = document.querySelector('.cal-grid');
    return {
      renderMs: Number(grid.dataset.renderMs),
      given: Number(grid.dataset.events),
      elements: document.querySelectorAll('.fc-event').length,
      more: document.querySelectorAll('.more-events').length,
    };
  });
  test.info().annotations.push({ type: 'month-1000-render-ms', description: JSON.stringify(figures) });
  console.log(`month with 1,000 events: ${JSON.stringify(figures)}`);
  // Each day shows what fits and one "+N more" item: far fewer elements than events.
  expect(figures.more).toBeGreaterThanOrEqual(28);
  expect(figures.elements).toBeLessThan(400);
  await shot(page, 'calendar-month-1000');
  // "+N more" opens that day, with all its events.
  await page.locator('.more-events').locator('visible=true').first().click();
  await expect(page.locator('.fc-timeGridDay-view')).toBeVisible();
  await expect.poll(() => page.locator('.fc-timegrid-event').count()).toBeGreaterThanOrEqual(20);
});

test.describe('in Korean', () => {
  test.use({ locale: 'ko-KR' });

  test('the calendar speaks Korean', async ({ page, user }) => {
    await openCalendar(page, user);
    await expect(page.locator('html')).toHaveAttribute('lang', 'ko');
    await expect(page.getByRole('navigation').getByRole('link', { name: '캘린더' })).toHaveAttribute('aria-current', 'page');
    await page.getByRole('button', { name: '새 일정' }).click();
    const dialog = page.getByRole('dialog', { name: '새 일정' });
    await expect(dialog.getByLabel('제목')).toBeFocused();
    await expect(dialog.getByLabel('시간대')).toBeVisible();
    await shot(page, 'calendar-ko-dialog');
    await dialog.getByRole('button', { name: '취소' }).click();
    await expect(page.getByRole('button', { name: '오늘' })).toBeVisible();
    await checkA11y(page, { name: 'calendar-ko' });
  });
});

test.describe('on a phone-sized screen', () => {
  test.use({ viewport: { width: 390, height: 844 } });

  test('the calendar fits and starts in the agenda', async ({ page, user }) => {
    await openCalendar(page, user);
    await expect(page.locator('.fc-list, .fc-listWeek-view').first()).toBeVisible();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, 'no horizontal scrolling').toBeLessThanOrEqual(1);
    await shot(page, 'calendar-phone');
  });
});

test('signed out, / goes to sign-in', async ({ page }) => {
  const r = await page.goto(urlOf('/'));
  expect(new URL(page.url()).pathname).toBe('/signin');
  expect(r.status()).toBe(200);
});
