// Desktop notifications for mentions and direct messages while the tab is hidden (the
// Notification API). Permission is asked once, from a click (browsers refuse a request
// without a user gesture), and the answer is remembered so the question never comes back.

const ASKED = 'madang.chat.notify_asked';

/** True when the browser has notifications at all. */
export function supported() {
  return typeof window !== 'undefined' && typeof window.Notification === 'function';
}

/** True while the user could be asked: never asked here, and the browser has not decided. */
export function shouldOffer() {
  if (!supported() || window.Notification.permission !== 'default') return false;
  try { return localStorage.getItem(ASKED) !== 'yes'; } catch { return true; }
}

/** Asks for permission (call from a click); resolves to the browser's answer. */
export async function ask() {
  try { localStorage.setItem(ASKED, 'yes'); } catch { /* private mode: asked again next time */ }
  if (!supported()) return 'denied';
  try {
    return await window.Notification.requestPermission();
  } catch {
    return window.Notification.permission;
  }
}

/** True when the page is not being looked at: hidden, or another window has focus. */
export function away() {
  return document.visibilityState !== 'visible' || !document.hasFocus();
}

/**
 * Shows a notification `title`/`body` when permitted; `onClick` runs when it is clicked
 * (the window is focused first). `tag` replaces an earlier one with the same tag.
 *
 * @param {{title: string, body: string, tag: string, onClick?: () => void}} options
 */
export function show({ title, body, tag, onClick }) {
  if (!supported() || window.Notification.permission !== 'granted') return null;
  try {
    const n = new window.Notification(title, { body, tag });
    n.onclick = () => {
      window.focus();
      if (onClick) onClick();
      n.close();
    };
    return n;
  } catch {
    return null; // e.g. Android Chrome allows only service-worker notifications
  }
}
