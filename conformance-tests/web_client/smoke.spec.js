// Smoke test of the harness itself: a fresh user signs in through /signin and `/` answers; the
// API and DAV helpers work for that user; axe-core and screenshots run.
'use strict';
const { test, expect, apiAs, davRequest, checkA11y, shot, caldavObjects, icsEvent } = require('./fixtures');

test('a fresh user signs in through /signin and / answers', async ({ signedInPage: page, user }) => {
  const r = await page.goto('/');
  expect(r.status()).toBeLessThan(400);
  expect(new URL(page.url()).pathname).toBe('/');
  const cookies = await page.context().cookies();
  expect(cookies.length, 'a session cookie after sign-in').toBeGreaterThan(0);
  await shot(page, 'home');

  const me = await apiAs(user)('GET', '/api/v1/me');
  expect(me.status).toBe(200);
  expect(me.body.username ?? me.body.name).toBe(user.name);
});

test('the app password opens DAV and python caldav reads what was PUT', async ({ user, davPut }) => {
  const uid = `smoke-${Date.now()}@example.com`;
  const ics = icsEvent({ uid, summary: 'Smoke weekly', tzid: 'Europe/Berlin', start: '20260302T090000',
    end: '20260302T100000', rrule: 'FREQ=WEEKLY;COUNT=4' });
  const put = await davPut(`${user.calendarUrl}${uid}.ics`, ics, 'text/calendar; charset=utf-8');
  expect([201, 204]).toContain(put.status);

  const cal = await caldavObjects(user, user.calendarUrl, { expand: ['2026-03-01', '2026-04-01'] });
  const ev = cal.objects.flatMap((o) => o.components).find((c) => c.uid === uid);
  expect(ev, 'the event in caldav\'s view').toBeTruthy();
  expect(ev.rrule).toBe('FREQ=WEEKLY;COUNT=4');
  expect(ev.dtstart.params.TZID).toBe('Europe/Berlin');
  expect(cal.expanded.filter((i) => i.uid === uid)).toHaveLength(4);

  const wrong = await davRequest({ ...user, appPassword: 'wrong' }, 'PROPFIND', user.calendarUrl, { headers: { Depth: '0' } });
  expect(wrong.status).toBe(401);
});

test('the sign-in page has no serious accessibility violation', async ({ page }) => {
  await page.goto('/signin');
  await checkA11y(page, { name: 'signin' });
  await shot(page, 'signin');
});
