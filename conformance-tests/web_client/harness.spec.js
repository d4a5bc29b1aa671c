// Tests of the harness's own pieces, so a green view spec means something: the CSP/console guard
// sees a violation, and the SSE parser reads the event stream format as the HTML standard says.
'use strict';
const http = require('node:http');
const { test, expect, collectCspViolations } = require('./fixtures');
const { PushStream } = require('./sse');

test('the CSP guard sees an inline script blocked by the page\'s CSP', async ({ page }) => {
  const guard = await collectCspViolations(page); // the same guard `page` already has
  await page.goto('/signin');
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__ran = true';
    document.body.append(s);
  });
  await expect.poll(() => guard.list.join('\n')).toContain('CSP violation: script-src');
  expect(await page.evaluate(() => window.__ran === true)).toBe(false);
  guard.list.length = 0; // seen on purpose: the test must not fail for it
});

test('the SSE parser follows the event stream format', async () => {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    // BOM, CRLF and CR line ends, a comment, multi-line data, id kept across events, retry.
    res.write('\uFEFF: hello\r\nretry: 1500\r\n');
    res.write(`id: 7\nevent: calendar.object\ndata: {"a":\ndata: 1}\n\n`);
    res.write('data: plain\r\r');
    res.write(`id\nevent: resync\ndata: {}\n\n`);
    res.write(`event: empty\n\n`); // no data: not dispatched
    res.end(`id: 9\ndata: last\n\nid: 10\ndata: unterminated`);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const s = await PushStream.open(`http://127.0.0.1:${server.address().port}/`, { lastEventId: 3 });
    expect(s.status).toBe(200);
    const evs = await s.take(10, 3000);
    expect(evs.map((e) => [e.type, e.id, e.data])).toEqual([
      ['calendar.object', '7', '{"a":\n1}'],
      ['message', '7', 'plain'],
      ['resync', '', '{}'],
      ['message', '9', 'last'],
    ]);
    expect(evs[0].json).toEqual({ a: 1 });
    expect(s.comments).toBe(1);
    expect(s.retry).toBe(1500);
    expect(s.closed).toBe(true);
    s.close();
  } finally {
    server.close();
  }
});
