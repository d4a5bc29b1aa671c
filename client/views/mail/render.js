// Turns an opened message's `html` (already sanitised by the server with ammonia, docs/mail.md)
// into DOM nodes without trusting it, as chat's sanitize.js does: parsed by an inert DOMParser,
// rebuilt from an allow-list with `h()`, inside a shadow root so the message's styles and the
// page's never meet. Inline styles go through the CSSOM (which the page's CSP allows, unlike
// style attributes in markup), minus anything that could place or load: `position`, `url(`.
// Pictures load only from Madang: the message's own parts, and remote images the user chose to
// show, which the server rewrote to its signed image proxy (both through `loadPart`, as data:
// URLs, because an <img> cannot send the API's CSRF header). A remote URL never loads here.

import { h } from '../../ui.js';
import { safeHref } from '../chat/sanitize.js';

const ALLOWED = new Set([
  'p', 'br', 'div', 'span', 'table', 'thead', 'tbody', 'tfoot', 'tr', 'td', 'th', 'caption', 'col', 'colgroup',
  'a', 'img', 'b', 'i', 'u', 's', 'strong', 'em', 'small', 'big', 'sub', 'sup', 'h1', 'h2', 'h3', 'h4', 'h5',
  'h6', 'ul', 'ol', 'li', 'dl', 'dt', 'dd', 'blockquote', 'pre', 'code', 'hr', 'center', 'font', 'abbr', 'cite',
  'q', 'del', 'ins', 'mark', 'figure', 'figcaption', 'section', 'article', 'header', 'footer',
]);
const DROPPED = new Set(['script', 'style', 'template', 'noscript', 'iframe', 'object', 'embed', 'svg', 'math',
  'head', 'title', 'textarea', 'select', 'form', 'input', 'button', 'video', 'audio', 'picture', 'source']);
const ATTRIBUTES = ['align', 'valign', 'width', 'height', 'colspan', 'rowspan', 'alt', 'title', 'dir', 'bgcolor',
  'color', 'border', 'cellpadding', 'cellspacing'];
const UNSAFE_STYLE = /url\(|expression|@import|behavior|javascript:/i;
const PART = /^\/api\/v1\/mail\/messages\/\d+\/parts\/\d+$/;
// The image proxy's URLs as the server writes them (`u` %-encoded, `s` base64url).
const PROXY = /^\/api\/v1\/mail\/image\?u=[A-Za-z0-9%._~-]+&s=[A-Za-z0-9_-]+$/;
const ours = (/** @type {string} */ src) => PART.test(src) || PROXY.test(src);
const MAX_DEPTH = 64;

function copyStyle(/** @type {Element} */ from, /** @type {HTMLElement} */ to) {
  const css = from.getAttribute('style');
  if (!css || UNSAFE_STYLE.test(css)) return;
  to.style.cssText = css;
  for (const p of ['position', 'z-index', 'top', 'left', 'right', 'bottom', 'behavior']) to.style.removeProperty(p);
}

/**
 * Renders `html` into a new element (the caller places it); `loadPart(url)` resolves a part
 * or image proxy URL to a data: URL for pictures.
 *
 * @param {string} html
 * @param {(url: string) => Promise<string|null>} loadPart
 * @returns {HTMLElement}
 */
export function renderMessageHtml(html, loadPart) {
  const host = h('div', { class: 'mail-html' });
  const root = host.attachShadow({ mode: 'open' });
  const doc = new DOMParser().parseFromString(html, 'text/html');
  const frame = h('div', { class: 'mail-html-body' });
  frame.style.cssText = 'font: inherit; overflow-wrap: anywhere; max-width: 100%;';
  const walk = (/** @type {Node} */ from, /** @type {Node} */ to, /** @type {number} */ depth) => {
    for (const node of Array.from(from.childNodes)) {
      if (node.nodeType === Node.TEXT_NODE) {
        to.appendChild(document.createTextNode(node.textContent || ''));
        continue;
      }
      if (node.nodeType !== Node.ELEMENT_NODE) continue;
      const el = /** @type {Element} */ (node);
      const tag = el.localName;
      if (DROPPED.has(tag)) continue;
      if (!ALLOWED.has(tag) || depth > MAX_DEPTH) {
        walk(el, to, depth + 1);
        continue;
      }
      /** @type {Record<string, string>} */
      const attrs = {};
      for (const a of ATTRIBUTES) {
        const v = el.getAttribute(a);
        if (v !== null) attrs[a] = v;
      }
      if (tag === 'a') {
        const href = safeHref(el.getAttribute('href'));
        if (href) Object.assign(attrs, { href, target: '_blank', rel: 'noopener noreferrer nofollow' });
      }
      if (tag === 'img') {
        // A picture that will not load (remote: blocked) is left out; one without a text
        // alternative is marked decorative, as most pictures in mail are.
        const src = el.getAttribute('src') || '';
        if (!ours(src) && !/^data:image\/(png|gif|jpeg|webp);/i.test(src)) continue;
        if (attrs.alt === undefined) attrs.alt = '';
      }
      const out = h(tag, attrs);
      copyStyle(el, out);
      if (tag === 'img') {
        out.style.maxWidth = '100%';
        const src = el.getAttribute('src') || '';
        if (ours(src)) {
          out.dataset.src = src;
          loadPart(src).then((data) => { if (data) /** @type {HTMLImageElement} */ (out).src = data; });
        } else if (/^data:image\/(png|gif|jpeg|webp);/i.test(src)) {
          /** @type {HTMLImageElement} */ (out).src = src;
        }
      } else {
        walk(el, out, depth + 1);
      }
      to.appendChild(out);
    }
  };
  walk(doc.body, frame, 0);
  root.appendChild(frame);
  return host;
}
