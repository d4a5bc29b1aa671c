// Turns a chat message's server-rendered `html` into DOM nodes without trusting it: the markup
// is parsed by an inert parser (DOMParser: no scripts run, nothing loads) and only an
// allow-list of elements and attributes is rebuilt with `h()`, which never parses markup. This
// is the client's half of docs/chat.md "Rendering": even if the server's renderer had a hole,
// nothing from a message becomes a script, a style, an event handler or a non-http(s)/mailto link.

/** Elements rebuilt as they are (with no attributes unless named in `attributesOf`). */
const ALLOWED = new Set(['p', 'br', 'strong', 'em', 'del', 'code', 'pre', 'a', 'ul', 'ol', 'li', 'blockquote', 'span']);

/** Elements dropped with everything inside: their text is not message text. */
const DROPPED = new Set([
  'script', 'style', 'template', 'noscript', 'iframe', 'frame', 'frameset', 'object', 'embed', 'svg', 'math',
  'head', 'title', 'textarea', 'select', 'option', 'xmp', 'noembed', 'noframes', 'plaintext',
]);

/** Deeper nesting is flattened to its text: no message needs it, and it bounds the recursion. */
const MAX_DEPTH = 32;

/**
 * The link target `raw` as an absolute http, https or mailto URL, or null. Relative URLs are
 * refused too: a message has no base to be relative to.
 *
 * @param {string|null|undefined} raw
 * @returns {string|null}
 */
export function safeHref(raw) {
  const text = String(raw ?? '').trim();
  if (!text) return null;
  let url;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:' && url.protocol !== 'mailto:') return null;
  return url.href;
}

/**
 * Rebuilds the children of `source` (a parsed DOM node) with `h`, keeping only allowed
 * elements; a disallowed element is replaced by its (rebuilt) children, so its text stays
 * visible as text. `me` (a user name) marks mentions of the viewer.
 *
 * @param {Node} source
 * @param {(tag: string, attrs?: Record<string, any>|null, ...children: any[]) => HTMLElement} h
 * @param {{me?: string}} [options]
 * @param {number} [depth]
 * @returns {(Node|string)[]}
 */
export function rebuildChildren(source, h, options = {}, depth = 0) {
  /** @type {(Node|string)[]} */
  const out = [];
  for (const child of Array.from(source.childNodes)) {
    if (child.nodeType === 3) {
      out.push(child.nodeValue || '');
      continue;
    }
    if (child.nodeType !== 1) continue; // comments, processing instructions, doctypes
    const el = /** @type {Element} */ (child);
    const tag = (el.localName || '').toLowerCase();
    if (DROPPED.has(tag)) continue;
    if (depth >= MAX_DEPTH) {
      out.push(el.textContent || '');
      continue;
    }
    const inner = rebuildChildren(el, h, options, depth + 1);
    // Only HTML elements count: an <svg:a> or <math:span> is not what the allow-list means.
    const html = !el.namespaceURI || el.namespaceURI === 'http://www.w3.org/1999/xhtml';
    if (!html || !ALLOWED.has(tag)) {
      out.push(...inner);
      continue;
    }
    if (tag === 'a') {
      const href = safeHref(el.getAttribute('href'));
      if (!href) {
        out.push(...inner);
        continue;
      }
      // Our own rel and target, whatever the source said: a link never gets the opener.
      out.push(h('a', { href, rel: 'noopener noreferrer nofollow', target: '_blank' }, inner));
      continue;
    }
    if (tag === 'span') {
      const classes = (el.getAttribute('class') || '').split(/\s+/);
      if (!classes.includes('mention')) {
        out.push(...inner);
        continue;
      }
      const text = el.textContent || '';
      const mine = options.me && text.toLowerCase() === `@${options.me}`.toLowerCase();
      const broad = text === '@channel' || text === '@here';
      out.push(h('span', { class: `mention${mine || broad ? ' mention-me' : ''}` }, inner));
      continue;
    }
    out.push(h(tag, null, inner));
  }
  return out;
}

/**
 * Parses `html` with `parse` (the browser's `DOMParser`, inert) and rebuilds its body.
 *
 * @param {string} html
 * @param {{h: Function, parse?: (html: string) => Document, me?: string}} options
 * @returns {(Node|string)[]}
 */
export function renderMessageHtml(html, { h, parse, me }) {
  const parser = parse || ((s) => new DOMParser().parseFromString(s, 'text/html'));
  const doc = parser(String(html ?? ''));
  if (!doc || !doc.body) return [];
  return rebuildChildren(doc.body, /** @type {any} */ (h), { me });
}
