// Smoke test of the harness itself: a fresh user signs in through /signin and `/` answers; the
// API and DAV helpers work for that user; axe-core and screenshots run.
'use strict';
const { test, expect, apiAs, davRequest, checkA11y, shot, caldavObjects, icsEvent } = require('./fixtures');

test('signed out, / sends the browser to /signin and back', async ({ page, user }) => {
  const r = await page.request.get('/', { maxRedirects: 0 });
  expect(r.status()).toBe(303);
  expect(r.headers().location).toMatch(/^\/signin/);
  await page.goto('/');
  expect(new URL(page.url()).pathname).toBe('/signin');
  await page.locator('input[name="username"]').fill(user.name);
  await page.locator('input[name="password"]').fill(user.password);
  await page.locator('form[action="/signin"] [type="submit"]').click();
  await page.waitForURL((u) => u.pathname === '/');
});

test('a fresh user signs in through /signin and gets the client shell at /', async ({ signedInPage: page, user }) => {
  const r = await page.goto('/');
  expect(r.status()).toBe(200);
  const csp = r.headers()['content-security-policy'] || '';
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toMatch(/script-src 'self' 'sha256-/);
  expect(csp).not.toContain('unsafe-inline');
  expect(await page.locator('html').getAttribute('lang')).toBe('en');
  const nav = page.getByRole('navigation').first();
  for (const name of ['Calendar', 'Tasks', 'Contacts', 'Account']) {
    await expect(nav.getByRole('link', { name, exact: true })).toBeVisible();
  }
  await expect(page.getByRole('main')).toBeVisible();
  // app.js marks when its first view is mounted (bench/web_client.js reads the same mark).
  await page.waitForFunction(() => performance.getEntriesByName('madang:ready').length > 0, null, { timeout: 10_000 });
  await shot(page, 'shell');

  const me = await apiAs(user)('GET', '/api/v1/me');
  expect(me.status).toBe(200);
  expect(me.body.username ?? me.body.name).toBe(user.name);
});

test('the shell\'s assets are content-hashed, immutable and compressed', async ({ signedInPage: page }) => {
  const html = await (await page.request.get('/')).text();
  const urls = [...html.matchAll(/(?:href|src)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  expect(urls.length).toBeGreaterThan(0);
  for (const u of urls) {
    const br = await page.request.get(u, { headers: { 'Accept-Encoding': 'br' } });
    expect(br.status(), u).toBe(200);
    expect(br.headers()['cache-control'], u).toMatch(/immutable/);
    expect(br.headers().vary || '', u).toMatch(/accept-encoding/i);
  }
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
