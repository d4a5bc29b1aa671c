// Chat files in the browser: uploads with progress (XMLHttpRequest, because fetch reports no
// upload progress), and reading files back. The session cookie alone does not open the API
// (`X-Madang-CSRF` must go along, see src/http/auth.rs), so an <img src> or a plain link to
// `/api/v1/chat/files/…` cannot be used: images are fetched and shown as `data:` URLs (the
// CSP's img-src allows `self` and `data:` only) and downloads go through a Blob.

import { ApiError } from '../../api.js';

/**
 * Uploads `file` into channel `channelId` as a raw body (`POST /channels/{id}/files?name=`),
 * calling `onProgress(loaded, total)` as it goes. Resolves to the File object of the answer;
 * rejects with `ApiError` (e.g. 413 past `chat.max_file_size`). `signal` aborts.
 *
 * @param {number|string} channelId
 * @param {File} file
 * @param {{onProgress?: (loaded: number, total: number) => void, signal?: AbortSignal}} [options]
 * @returns {Promise<any>}
 */
export function uploadFile(channelId, file, { onProgress, signal } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const url = `/api/v1/chat/channels/${encodeURIComponent(channelId)}/files?name=${encodeURIComponent(file.name)}`;
    xhr.open('POST', url);
    xhr.setRequestHeader('X-Madang-CSRF', '1');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    xhr.responseType = 'text';
    if (onProgress) {
      xhr.upload.addEventListener('progress', (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size));
    }
    xhr.addEventListener('load', () => {
      let body = null;
      try { body = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { body = null; }
      if (xhr.status >= 200 && xhr.status < 300) {
        if (onProgress) onProgress(file.size, file.size);
        resolve(body);
        return;
      }
      if (xhr.status === 401) location.assign('/signin?next=/');
      const b = body && typeof body === 'object' ? body : {};
      const e = typeof b.error === 'object' && b.error !== null ? b.error : { ...b, code: b.error };
      reject(new ApiError(xhr.status, e.code || `http_${xhr.status}`, e.message || xhr.statusText, e.details));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', 'network error')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'aborted')));
    if (signal) signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}

/** The bytes at `url` (an API path) as a Blob, with the client's header. */
export async function fetchBlob(url) {
  const r = await fetch(url, { credentials: 'same-origin', headers: { 'X-Madang-CSRF': '1' } });
  if (!r.ok) throw new ApiError(r.status, `http_${r.status}`, r.statusText);
  return r.blob();
}

/** Thumbnails already read, by URL: scrolling back and forth does not fetch them again. */
const dataUrls = new Map();
const MAX_CACHED = 200;

/** `url` (an image the API serves) as a `data:` URL. */
export async function imageDataUrl(url) {
  const known = dataUrls.get(url);
  if (known) return known;
  const blob = await fetchBlob(url);
  const data = await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
  if (dataUrls.size >= MAX_CACHED) dataUrls.delete(dataUrls.keys().next().value);
  dataUrls.set(url, data);
  return data;
}

/** Downloads the file at `url` under `name` (a Blob URL, revoked once the browser has it). */
export async function download(url, name) {
  const blob = await fetchBlob(url);
  const href = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = href;
  a.download = name || 'download';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}
