// Unit tests of the Chat view's pure parts: the message-HTML sanitizer (client/views/chat/
// sanitize.js) fed the usual XSS payloads through a spec-compliant HTML parser (jsdom's parse5,
// as a browser's DOMParser parses), and the list bookkeeping of client/views/chat/model.js.
//   node --experimental-detect-module --test conformance-tests/web_client/chat_unit.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JSDOM } from 'jsdom';

// ui.js's h() builds with the page's `document` and tests `instanceof Node`: give it jsdom's.
const dom = new JSDOM('<!DOCTYPE html><html><body></body></html>');
globalThis.document = dom.window.document;
globalThis.Node = dom.window.Node;

const { h } = await import('../../client/ui.js');
const { renderMessageHtml, safeHref } = await import('../../client/views/chat/sanitize.js');
const model = await import('../../client/views/chat/model.js');

const parse = (s) => new dom.window.DOMParser().parseFromString(s, 'text/html');

/** The rebuilt markup of `html` as a string (serialised by jsdom, only to inspect it). */
function rebuilt(html, me = 'bob') {
  const box = h('div', null, renderMessageHtml(html, { h, parse, me }));
  return box;
}

/** Every element and attribute in `root`: what the sanitizer let through. */
function inventory(root) {
  const tags = new Set();
  const attrs = new Set();
  for (const el of root.querySelectorAll('*')) {
    tags.add(el.localName);
    for (const a of el.attributes) attrs.add(`${el.localName}[${a.name}]`);
  }
  return { tags, attrs };
}

const ALLOWED_TAGS = new Set(['p', 'br', 'strong', 'em', 'del', 'code', 'pre', 'a', 'ul', 'ol', 'li', 'blockquote', 'span']);
const ALLOWED_ATTRS = new Set(['a[href]', 'a[rel]', 'a[target]', 'span[class]']);

const PAYLOADS = [
  '<img src=x onerror=alert(1)>',
  '<script>alert(1)</script>',
  '<p onclick="alert(1)">click</p>',
  '<a href="javascript:alert(1)">x</a>',
  '<a href="  JaVaScRiPt:alert(1)">x</a>',
  '<a href="java&#x09;script:alert(1)">x</a>',
  '<a href="data:text/html,<script>alert(1)</script>">x</a>',
  '<a href="vbscript:msgbox(1)">x</a>',
  '<a href="/relative">x</a>',
  '<svg><a href="javascript:alert(1)"><text>x</text></a></svg>',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
  '<iframe src="https://evil.example"></iframe>',
  '<style>body{display:none}</style>',
  '<p style="position:fixed">x</p>',
  '<span class="mention" onmouseover="alert(1)">@bob</span>',
  '<form action="https://evil.example"><input name=a><button>go</button></form>',
  '<object data="x"></object><embed src="x">',
  '<template><img src=x onerror=alert(1)></template>',
  '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
  '<a href="https://ok.example" onclick="alert(1)" target="_self">ok</a>',
  '<details open ontoggle=alert(1)>',
  '<!--<img src=x onerror=alert(1)>-->',
  '<base href="javascript:alert(1)//">',
  '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
  '<div id="x" data-x="y"><b>bold</b></div>',
];

test('XSS payloads: only allowed elements and attributes survive, links are http(s)/mailto', () => {
  for (const payload of PAYLOADS) {
    const box = rebuilt(payload);
    const { tags, attrs } = inventory(box);
    tags.delete('div'); // the test's own container
    for (const tag of tags) assert.ok(ALLOWED_TAGS.has(tag), `${payload}: <${tag}> survived`);
    for (const a of attrs) {
      if (a === 'div[id]' || a === 'div[data-x]') assert.fail(`${payload}: ${a} survived`);
      if (!a.startsWith('div[')) assert.ok(ALLOWED_ATTRS.has(a), `${payload}: ${a} survived`);
    }
    for (const a of box.querySelectorAll('a')) {
      assert.match(a.getAttribute('href'), /^(https?:|mailto:)/, `${payload}: href ${a.getAttribute('href')}`);
      assert.equal(a.getAttribute('rel'), 'noopener noreferrer nofollow');
      assert.equal(a.getAttribute('target'), '_blank');
    }
    for (const span of box.querySelectorAll('span')) {
      assert.match(span.getAttribute('class'), /^mention( mention-me)?$/, payload);
    }
  }
});

test('a refused link keeps its text; script and style text is dropped', () => {
  assert.equal(rebuilt('<p><a href="javascript:alert(1)">click me</a></p>').innerHTML, '<p>click me</p>');
  assert.equal(rebuilt('<p>a<script>alert(1)</script>b</p>').innerHTML, '<p>ab</p>');
  assert.equal(rebuilt('<p>a<style>*{}</style>b</p>').innerHTML, '<p>ab</p>');
  // Text that looks like markup stays text (escaped when serialised).
  assert.equal(rebuilt('<p>&lt;img src=x onerror=alert(1)&gt;</p>').innerHTML, '<p>&lt;img src=x onerror=alert(1)&gt;</p>');
  assert.equal(rebuilt('<div><b>bold</b></div>').innerHTML, 'bold');
});

test('the server\'s Markdown output is kept as it is', () => {
  const html = '<p><strong>hi</strong> <em>there</em> <del>old</del> <code>x &lt; y</code> <span class="mention">@bob</span> '
    + '<a href="https://example.com/a?b=1&amp;c=2">link</a><br>next</p><pre><code>fn main() {}\n</code></pre>'
    + '<ul><li>one</li></ul><ol><li>two</li></ol><blockquote><p>quote</p></blockquote>';
  const out = rebuilt(html, 'bob').innerHTML;
  assert.equal(out, '<p><strong>hi</strong> <em>there</em> <del>old</del> <code>x &lt; y</code> '
    + '<span class="mention mention-me">@bob</span> '
    + '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer nofollow" target="_blank">link</a><br>next</p>'
    + '<pre><code>fn main() {}\n</code></pre><ul><li>one</li></ul><ol><li>two</li></ol><blockquote><p>quote</p></blockquote>');
  // Someone else's mention is not marked as the viewer's; @channel is everyone's.
  assert.equal(rebuilt('<span class="mention">@alice</span>', 'bob').innerHTML, '<span class="mention">@alice</span>');
  assert.equal(rebuilt('<span class="mention">@channel</span>', 'bob').innerHTML, '<span class="mention mention-me">@channel</span>');
});

test('deep nesting is flattened, not recursed without bound', () => {
  const deep = `${'<blockquote>'.repeat(500)}deep${'</blockquote>'.repeat(500)}`;
  const box = rebuilt(deep);
  assert.equal(box.textContent, 'deep');
  assert.ok(box.querySelectorAll('blockquote').length <= 32);
});

test('safeHref: absolute http, https and mailto only', () => {
  assert.equal(safeHref('https://example.com/x'), 'https://example.com/x');
  assert.equal(safeHref('mailto:a@example.com'), 'mailto:a@example.com');
  assert.equal(safeHref(' http://example.com '), 'http://example.com/');
  for (const bad of ['javascript:alert(1)', 'JAVASCRIPT:alert(1)', 'java\tscript:alert(1)', 'data:text/html,x', '/x', '//evil.example', 'ftp://x', '', null]) {
    assert.equal(safeHref(bad), null, String(bad));
  }
});

test('mergeMessages: by seq, replaces by id, a server copy replaces its pending send', () => {
  const a = { id: 1, seq: 1 };
  const b = { id: 2, seq: 5 };
  const pending = { client_id: 'c1', text: 'hi' };
  let list = model.mergeMessages([], [b, a]);
  assert.deepEqual(list.map((m) => m.seq), [1, 5]);
  list = model.mergeMessages(list, [pending]);
  assert.equal(list.at(-1), pending);
  const stored = { id: 3, seq: 7, client_id: 'c1', text: 'hi' };
  list = model.mergeMessages(list, [{ id: 2, seq: 5, edited: true }, stored]);
  assert.deepEqual(list.map((m) => m.id), [1, 2, 3]);
  assert.equal(list[1].edited, true);
  assert.equal(model.newestStored([...list, { client_id: 'x' }]).id, 3);
  assert.equal(model.oldestStored(list).id, 1);
  // Older pages go in front.
  list = model.mergeMessages(list, [{ id: 0, seq: 0 }]);
  assert.deepEqual(list.map((m) => m.id), [0, 1, 2, 3]);
});

test('countArrival: unread counts top-level messages by others, mentions count replies too', () => {
  const ch = { id: 7, unread: 0, mentions: 0, last_read_seq: 10, last_seq: 10 };
  const by = (name, extra = {}) => ({ seq: 11, author: { name }, mentions: [], ...extra });
  assert.deepEqual([model.countArrival(ch, by('me'), 'me').unread, model.countArrival(ch, by('me'), 'me').last_seq], [0, 11]);
  assert.equal(model.countArrival(ch, by('alice'), 'me').unread, 1);
  const reply = model.countArrival(ch, by('alice', { thread: 3, mentions: ['me'] }), 'me');
  assert.deepEqual([reply.unread, reply.mentions], [0, 1]);
  assert.equal(model.countArrival(ch, by('alice', { mention_channel: true }), 'me').mentions, 1);
  // @here counts only while the user is online (this page visible), as the server decides.
  assert.equal(model.countArrival(ch, by('alice', { mention_here: true }), 'me', true).mentions, 1);
  assert.equal(model.countArrival(ch, by('alice', { mention_here: true }), 'me', false).mentions, 0);
  assert.equal(model.countArrival(ch, by('alice', { seq: 9 }), 'me').unread, 0, 'already read');
});

test('mentionQuery and insertMention: the @ word at the caret, not e-mail addresses', () => {
  assert.deepEqual(model.mentionQuery('hi @al', 6), { start: 3, query: 'al' });
  assert.deepEqual(model.mentionQuery('@', 1), { start: 0, query: '' });
  assert.deepEqual(model.mentionQuery('안녕 @김', 5), { start: 3, query: '김' });
  assert.equal(model.mentionQuery('mail a@b', 8), null);
  assert.equal(model.mentionQuery('hi @al ', 7), null);
  assert.deepEqual(model.insertMention('hi @al there', { start: 3, query: 'al' }, 'alice'), { text: 'hi @alice  there', caret: 10 });
});

test('sidebar order, labels, typing sentences, sizes, the page around a message, throttle', () => {
  const collator = new Intl.Collator('en', { sensitivity: 'base' });
  const chans = [
    { id: 1, kind: 'public', name: 'zeta' }, { id: 2, kind: 'private', name: 'Alpha' },
    { id: 3, kind: 'public', name: 'beta', archived: true },
    { id: 4, kind: 'dm', members: ['me', 'bob'], last_message_at: '2026-01-01T00:00:00Z' },
    { id: 5, kind: 'dm', members: ['me', 'amy', 'cy'], last_message_at: '2026-02-01T00:00:00Z' },
  ];
  const o = model.sidebarOrder(chans, 'me', collator);
  assert.deepEqual(o.channels.map((c) => c.id), [2, 1, 3]);
  assert.deepEqual(o.dms.map((c) => c.id), [5, 4]);
  assert.equal(model.channelLabel(chans[4], 'me'), 'amy, cy');
  assert.equal(model.channelLabel({ kind: 'dm', members: ['me'] }, 'me'), 'me');
  const t = (k, v) => `${k}:${JSON.stringify(v || {})}`;
  assert.equal(model.typingText(t, []), '');
  assert.equal(model.typingText(t, ['a']), 'chat.typing.one:{"name":"a"}');
  assert.equal(model.typingText(t, ['a', 'b', 'c']), 'chat.typing.many:{}');
  assert.equal(model.formatSize(48213), '47 KB');
  assert.equal(model.formatSize(512), '512 B');
  assert.equal(model.formatSize(5 * 1024 * 1024), '5.0 MB');
  assert.equal(model.aroundAfter(100, 50), 74);
  assert.equal(model.aroundAfter(3, 50), 0);
  const th = model.throttle(3000);
  assert.deepEqual([th.due(0), th.due(2999), th.due(3000), th.due(4000)], [true, false, true, false]);
});
