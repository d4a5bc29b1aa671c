// The mail view's message list, virtualised: every loaded message keeps its place (rows of one
// fixed height, the list padded above and below for the rows not drawn), but only the rows in
// view and a buffer either side are in the DOM, so thousands of loaded messages scroll as
// smoothly as fifty. Rows are kept by message id across redraws, so the row holding keyboard
// focus is never replaced while it is drawn; ArrowUp/ArrowDown/Home/End move between rows,
// drawing them as they come. Each row says its place (aria-posinset of aria-setsize, the
// messages loaded) because a screen reader cannot count rows that are not there.

import { h } from '../../ui.js';

/** Rows drawn beyond each edge of the view. */
export const BUFFER = 8;
/** Ask for the next page when the drawn rows come this close to the last loaded one. */
export const AHEAD = 20;

/**
 * Which rows to draw: `[start, end)` of `count` rows of `rowHeight` pixels when `height` pixels
 * of the list are in view from `top` (the list's own scroll offset, negative above it).
 *
 * @param {{top: number, height: number, rowHeight: number, count: number, buffer?: number}} view
 * @returns {{start: number, end: number}}
 */
export function windowOf({ top, height, rowHeight, count, buffer = BUFFER }) {
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0 };
  const first = Math.floor(Math.max(0, top) / rowHeight);
  const shown = Math.ceil(Math.max(0, height + Math.min(0, top)) / rowHeight) + 1;
  const start = Math.min(count, Math.max(0, first - buffer));
  const end = Math.min(count, first + shown + buffer);
  return { start: Math.min(start, end), end };
}

/**
 * The list inside `scroller` (the element that scrolls). `row(m)` fills a row's button for
 * message `m`; `onOpen(id)` opens one; `onNearEnd()` loads the next page.
 *
 * @param {{scroller: HTMLElement, label: string, empty: string, loading: string,
 *   row: (m: any) => any[], onOpen: (id: number) => void, onNearEnd: () => void}} options
 */
export function messageList({ scroller, label, empty, loading, row, onOpen, onNearEnd }) {
  const list = h('ul', { class: 'mail-list', 'aria-label': label });
  const hint = h('p', { class: 'mail-hint' }, empty);
  const more = h('p', { class: 'mail-more', role: 'status' });
  let messages = /** @type {any[]} */ ([]);
  let open = /** @type {number|null} */ (null);
  let hasMore = false;
  /** Rows drawn now, by message id. */
  const drawn = new Map();
  let rowHeight = 0;
  let frame = 0;

  const fill = (li, m, index) => {
    li.className = `mail-row${m.seen ? '' : ' unread'}${open === m.id ? ' open' : ''}`;
    li.setAttribute('aria-posinset', String(index + 1));
    li.setAttribute('aria-setsize', String(messages.length));
    const button = li.firstChild;
    if (open === m.id) button.setAttribute('aria-current', 'true'); else button.removeAttribute('aria-current');
    // Only when the message changed: the button (which may have focus) stays the same element.
    if (li.message !== m) {
      button.replaceChildren(...row(m).filter(Boolean));
      li.message = m;
    }
  };

  const make = (m) => {
    const button = h('button', { type: 'button', class: 'mail-row-button' });
    button.addEventListener('click', () => onOpen(m.id));
    const li = h('li', { 'data-id': String(m.id) }, button);
    return li;
  };

  /** The list's top within the scroller's content, so the window follows whatever sits above. */
  const offset = () => list.getBoundingClientRect().top - scroller.getBoundingClientRect().top + scroller.scrollTop;

  function draw() {
    frame = 0;
    hint.hidden = messages.length > 0;
    more.textContent = hasMore ? loading : '';
    if (!messages.length) {
      drawn.clear();
      list.replaceChildren();
      list.style.paddingTop = '0px';
      list.style.paddingBottom = '0px';
      return;
    }
    if (!rowHeight) {
      // One row measured once: the CSS fixes every row's height, the font decides its pixels.
      const probe = make(messages[0]);
      fill(probe, messages[0], 0);
      list.append(probe);
      // Not laid out yet (hidden): a guess now, measured again on the next draw.
      rowHeight = probe.getBoundingClientRect().height;
      probe.remove();
    }
    const rh = rowHeight || 80;
    const { start, end } = windowOf({
      top: scroller.scrollTop - offset(), height: scroller.clientHeight || window.innerHeight, rowHeight: rh, count: messages.length,
    });
    const wanted = new Set();
    for (let i = start; i < end; i++) wanted.add(messages[i].id);
    for (const [id, li] of drawn) if (!wanted.has(id)) { li.remove(); drawn.delete(id); }
    // Rows already drawn and in order are left in place (moving a node would drop its focus).
    let cursor = list.firstChild;
    for (let i = start; i < end; i++) {
      const m = messages[i];
      let li = drawn.get(m.id);
      if (!li) { li = make(m); drawn.set(m.id, li); }
      fill(li, m, i);
      if (cursor === li) { cursor = li.nextSibling; continue; }
      list.insertBefore(li, cursor);
    }
    list.style.paddingTop = `${start * rh}px`;
    list.style.paddingBottom = `${(messages.length - end) * rh}px`;
    if (hasMore && end >= messages.length - AHEAD) onNearEnd();
  }

  const schedule = () => { if (!frame) frame = requestAnimationFrame(draw); };
  scroller.addEventListener('scroll', schedule, { passive: true });
  window.addEventListener('resize', schedule);

  /** Keyboard: the arrows walk the rows (drawing them), Home and End jump to either end. */
  list.addEventListener('keydown', (event) => {
    const li = /** @type {HTMLElement|null} */ (/** @type {HTMLElement} */ (event.target).closest('li[data-id]'));
    if (!li) return;
    const index = messages.findIndex((m) => String(m.id) === li.dataset.id);
    const to = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: messages.length - 1 }[event.key];
    if (to === undefined || index < 0 || to < 0 || to >= messages.length) return;
    event.preventDefault();
    focusRow(to);
  });

  function focusRow(index) {
    const rh = rowHeight || 80;
    const top = offset() + index * rh;
    if (top < scroller.scrollTop) scroller.scrollTop = top;
    else if (top + rh > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = top + rh - scroller.clientHeight;
    draw();
    const li = drawn.get(messages[index].id);
    if (li) li.firstChild.focus({ preventScroll: true });
  }

  return {
    element: h('div', { class: 'mail-list-box' }, list, hint, more),
    /** The loaded messages (the array is the list's from now on), the open one, and whether more can be loaded. */
    set(next, { openId = open, more: moreToLoad = hasMore } = {}) {
      messages = next;
      open = openId;
      hasMore = moreToLoad;
      draw();
    },
    /** Back to the first row (another folder, search or filter). */
    top() { scroller.scrollTop = 0; },
    unmount() {
      if (frame) cancelAnimationFrame(frame);
      scroller.removeEventListener('scroll', schedule);
      window.removeEventListener('resize', schedule);
    },
  };
}
