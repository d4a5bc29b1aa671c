// Unit tests of the Mail view's pure parts, node's runner (jsdom for the DOM walks):
//   node --experimental-detect-module --test conformance-tests/web_client/mail_unit.test.mjs
// richtext.js (the plain rendering sent beside rich text, the paste cleaner), list.js (which rows
// the virtual list draws) and compose.js (the attachment budget from the server's limits).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JSDOM } from 'jsdom';

import { cleanPaste, toPlainText } from '../../client/views/mail/richtext.js';
import { windowOf } from '../../client/views/mail/list.js';
import { attachmentBudget, sizeText } from '../../client/views/mail/compose.js';

const { window } = new JSDOM('<!doctype html><body></body>');
const doc = window.document;
/** A detached element holding `html` (the test's own markup, parsed by jsdom). */
const tree = (html) => {
  const div = doc.createElement('div');
  div.innerHTML = html;
  return div;
};

test('rich text renders as plain text: lines, lists, links, quotes', () => {
  const editor = tree('<div><b>Important</b> news</div><ul><li>one</li><li>two <i>too</i></li></ul>' +
    '<ol><li>first</li><li>second</li></ol><div><a href="https://example.org/">our site</a> and ' +
    '<a href="https://example.org/x">https://example.org/x</a></div><div><br></div><div>Kim wrote:</div>' +
    '<blockquote><div>hello</div><div><br></div><div>there</div></blockquote>');
  assert.equal(toPlainText(editor), [
    'Important news', '- one', '- two too', '1. first', '2. second',
    'our site <https://example.org/> and https://example.org/x', '', 'Kim wrote:', '> hello', '>', '> there',
  ].join('\n'));
});

test('nested lists indent, a list item keeps its continuation lines aligned, paragraphs get a blank line', () => {
  const editor = tree('<ul><li>top<ul><li>inner</li></ul></li></ul><ol><li>a<br>b</li></ol><p>one</p><p>two</p>');
  assert.equal(toPlainText(editor), '- top\n  - inner\n1. a\n   b\none\n\ntwo');
});

test('a link without a safe address is its text only', () => {
  assert.equal(toPlainText(tree('<a href="javascript:alert(1)">click</a>')), 'click');
  assert.equal(toPlainText(tree('<a href="mailto:kim@example.test">kim@example.test</a>')), 'kim@example.test');
});

test('a paste keeps the composer\'s formatting and nothing else', () => {
  const fragment = cleanPaste('<meta charset="utf-8"><style>b{color:red}</style><p style="color:red" onclick="x()">' +
    '<strong>Big</strong> <span class="c">plain</span> <em>it</em></p><script>alert(1)</script>' +
    '<img src="https://tracker.example/p.gif"><ul><li>one</li></ul><a href="javascript:alert(1)">bad</a> ' +
    '<a href="https://example.org/" target="_blank" onmouseover="x()">good</a><iframe src="https://x.example"></iframe>',
  doc, new window.DOMParser());
  const out = doc.createElement('div');
  out.append(fragment);
  assert.equal(out.innerHTML, '<div><b>Big</b> plain <i>it</i></div><ul><li>one</li></ul>bad ' +
    '<a href="https://example.org/">good</a>');
});

test('the virtual window covers the view and a buffer, clamped to the rows loaded', () => {
  assert.deepEqual(windowOf({ top: 0, height: 400, rowHeight: 80, count: 1000, buffer: 5 }), { start: 0, end: 11 });
  assert.deepEqual(windowOf({ top: 8000, height: 400, rowHeight: 80, count: 1000, buffer: 5 }), { start: 95, end: 111 });
  assert.deepEqual(windowOf({ top: 79_600, height: 400, rowHeight: 80, count: 1000, buffer: 5 }), { start: 990, end: 1000 });
  // The list starts below the view's top (filters above it): fewer of its rows are in view.
  assert.deepEqual(windowOf({ top: -200, height: 400, rowHeight: 80, count: 1000, buffer: 0 }), { start: 0, end: 4 });
  assert.deepEqual(windowOf({ top: 0, height: 400, rowHeight: 80, count: 0 }), { start: 0, end: 0 });
  assert.deepEqual(windowOf({ top: 1e9, height: 400, rowHeight: 80, count: 30, buffer: 5 }), { start: 30, end: 30 });
  // Thousands of rows: the window stays the view's size.
  const { start, end } = windowOf({ top: 3_000_000, height: 900, rowHeight: 80, count: 50_000 });
  assert.ok(end - start < 40, `${start}..${end}`);
});

test('attachments may fill the message limit, in base64 within the request limit', () => {
  assert.equal(attachmentBudget(null), null);
  assert.equal(attachmentBudget({ max_body_size: 16 << 20, mail_max_message_size: 50 << 20 }), Math.floor(((16 << 20) - (256 << 10)) * 3 / 4));
  assert.equal(attachmentBudget({ max_body_size: 1 << 30, mail_max_message_size: 50 << 20 }), 50 << 20);
  assert.equal(sizeText(500), '500 B');
  assert.equal(sizeText(2048), '2 KB');
  assert.equal(sizeText(12 << 20), '12.0 MB');
});
