// The rich-text composer's pure parts (views/mail/compose.js uses them): the plain-text rendering
// that goes beside the HTML in a multipart/alternative message, and the paste cleaner that keeps
// only the formatting the composer itself makes. Both walk DOM nodes and never parse markup into
// the page: a paste is parsed by DOMParser into an inert document (no scripts run, nothing is
// loaded) and rebuilt element by element.

/** What the composer makes and a paste may keep: element → the name it is rebuilt as. */
const KEPT = new Map([
  ['B', 'b'], ['STRONG', 'b'], ['I', 'i'], ['EM', 'i'], ['U', 'u'],
  ['UL', 'ul'], ['OL', 'ol'], ['LI', 'li'], ['BLOCKQUOTE', 'blockquote'], ['A', 'a'],
  ['P', 'div'], ['DIV', 'div'], ['H1', 'div'], ['H2', 'div'], ['H3', 'div'], ['H4', 'div'],
  ['H5', 'div'], ['H6', 'div'], ['TR', 'div'], ['BR', 'br'],
]);

/** Dropped with everything inside: code, styles, embedded things, metadata. */
const DROPPED = new Set(['SCRIPT', 'STYLE', 'TEMPLATE', 'NOSCRIPT', 'IFRAME', 'OBJECT', 'EMBED',
  'IMG', 'PICTURE', 'VIDEO', 'AUDIO', 'SVG', 'MATH', 'HEAD', 'TITLE', 'META', 'LINK', 'BASE',
  'FORM', 'INPUT', 'BUTTON', 'SELECT', 'TEXTAREA', 'CANVAS']);

const BLOCKS = new Set(['P', 'DIV', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'TR', 'TABLE', 'SECTION',
  'ARTICLE', 'HEADER', 'FOOTER', 'PRE', 'HR']);

/** Nesting deeper than this is flattened: a paste cannot make the walk unbounded. */
const MAX_DEPTH = 32;

/** `href` if it is a link a recipient may follow (http, https, mailto), else null. */
export function safeHref(href) {
  const value = String(href || '').trim();
  return /^(https?:\/\/|mailto:)/i.test(value) ? value : null;
}

/**
 * The text of the editor's content `root` for the text/plain part: one line per block, list
 * items as "- " or "1. ", a link as "text <url>" (its address alone when that is its text),
 * quoted blocks with "> " per level, a paragraph followed by an empty line.
 *
 * @param {Node} root
 * @returns {string}
 */
export function toPlainText(root) {
  /** @type {string[]} */
  const out = [];
  let line = /** @type {string|null} */ (null);
  let lead = '';
  const at = { quote: 0, pad: '', marker: '' };
  const begin = () => {
    if (line !== null) return;
    const quote = '> '.repeat(at.quote);
    // A list item's first line carries its marker; the lines after it line up with its text.
    lead = at.marker ? quote + at.pad.slice(0, at.pad.length - at.marker.length) + at.marker : quote + at.pad;
    at.marker = '';
    line = '';
  };
  const end = () => {
    if (line === null) return;
    out.push((lead + line).trimEnd());
    line = null;
  };
  const walk = (/** @type {Node} */ node, depth) => {
    for (const child of Array.from(node.childNodes)) {
      if (child.nodeType === 3) {
        const text = (child.nodeValue || '').replace(/\u00a0/g, ' ').replace(/[\r\n\t]+/g, ' ');
        // Whitespace between blocks is the source's layout, not text.
        if (line === null && !text.trim()) continue;
        begin();
        line += line === '' ? text.trimStart() : text;
        continue;
      }
      if (child.nodeType !== 1) continue;
      const name = child.nodeName.toUpperCase();
      if (DROPPED.has(name)) continue;
      const el = /** @type {Element} */ (child);
      if (depth > MAX_DEPTH) { walk(el, depth); continue; }
      if (name === 'BR') {
        begin();
        end();
      } else if (name === 'UL' || name === 'OL') {
        end();
        const saved = { ...at };
        let n = 0;
        for (const item of Array.from(el.children)) {
          n += 1;
          at.marker = name === 'OL' ? `${n}. ` : '- ';
          at.pad = saved.pad + ' '.repeat(at.marker.length);
          walk(item, depth + 1);
          end();
        }
        Object.assign(at, saved);
      } else if (name === 'BLOCKQUOTE') {
        end();
        at.quote += 1;
        walk(el, depth + 1);
        end();
        at.quote -= 1;
      } else if (name === 'A') {
        walk(el, depth + 1);
        const href = safeHref(el.getAttribute('href'));
        const label = (el.textContent || '').trim();
        if (href && href !== label && href !== `mailto:${label}`) {
          begin();
          line += label ? ` <${href}>` : href;
        }
      } else if (BLOCKS.has(name)) {
        end();
        walk(el, depth + 1);
        end();
        if (name === 'P' && out.length && out[out.length - 1].replace(/^(> )*/, '').trim()) out.push('> '.repeat(at.quote).trimEnd());
      } else {
        walk(el, depth + 1);
      }
    }
  };
  walk(root, 0);
  end();
  while (out.length && !out[0].replace(/^[> ]*/, '')) out.shift();
  while (out.length && !out[out.length - 1].replace(/^[> ]*/, '')) out.pop();
  return out.join('\n');
}

/**
 * Pasted HTML rebuilt in `doc` from the elements the composer makes (bold, italic, underline,
 * lists, quotes, links to http/https/mailto, line breaks), with no attribute but a link's
 * `href`: scripts, styles, pictures (trackers) and event handlers stay behind. Other elements
 * give up their text only.
 *
 * @param {string} html
 * @param {Document} doc the editor's document
 * @param {DOMParser} parser
 * @returns {DocumentFragment}
 */
export function cleanPaste(html, doc, parser) {
  const source = parser.parseFromString(html, 'text/html');
  const fragment = doc.createDocumentFragment();
  const copy = (/** @type {Node} */ from, /** @type {Node} */ to, depth) => {
    for (const child of Array.from(from.childNodes)) {
      if (child.nodeType === 3) {
        to.appendChild(doc.createTextNode(child.nodeValue || ''));
        continue;
      }
      if (child.nodeType !== 1) continue;
      const name = child.nodeName.toUpperCase();
      if (DROPPED.has(name)) continue;
      const kept = depth < MAX_DEPTH ? KEPT.get(name) : undefined;
      if (!kept) { copy(child, to, depth + 1); continue; }
      const el = doc.createElement(kept);
      if (kept === 'a') {
        const href = safeHref(/** @type {Element} */ (child).getAttribute('href'));
        if (!href) { copy(child, to, depth + 1); continue; }
        el.setAttribute('href', href);
      }
      if (kept !== 'br') copy(child, el, depth + 1);
      to.appendChild(el);
    }
  };
  copy(source.body, fragment, 0);
  return fragment;
}
