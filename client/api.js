// The JSON API client: every call of the web client to /api/v1 goes through `api()` (or
// `apiWithProgress()` for a large body whose upload the user watches), which sends the session
// cookie and the CSRF header the server requires for cookie-authenticated calls, and turns the
// API's error shape into an `ApiError`.

/** A non-2xx answer: `{"error": "code", "message", "details"?}` from the server (docs/api.md, Errors). */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {unknown} [details]
   */
  constructor(status, code, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/**
 * Calls the API at `path` (`/api/v1/…`). `body` is sent as JSON, or as it is when it is a
 * string, Blob or FormData (give its Content-Type in `headers`). Resolves to
 * `{status, etag, body}` (body parsed when the answer is JSON, text otherwise, null for 204);
 * rejects with `ApiError` for a non-2xx answer. A 401 (the session ended) goes to sign-in.
 *
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {{ifMatch?: string|null, headers?: Record<string, string>, signal?: AbortSignal}} [options]
 * @returns {Promise<{status: number, etag: string|null, body: any}>}
 */
export async function api(method, path, body, { ifMatch, headers, signal } = {}) {
  /** @type {Record<string, string>} */
  const h = { 'X-Madang-CSRF': '1', Accept: 'application/json', ...(headers || {}) };
  /** @type {RequestInit} */
  const init = { method, credentials: 'same-origin', headers: h, signal };
  if (body !== undefined && body !== null) {
    if (typeof body === 'string' || body instanceof Blob || body instanceof FormData) {
      init.body = body;
    } else {
      h['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  if (ifMatch) h['If-Match'] = ifMatch;
  const response = await fetch(path, init);
  if (response.status === 401) {
    // The session expired or was revoked: sign in again and come back to the client.
    location.assign('/signin?next=/');
    throw new ApiError(401, 'unauthorized', 'signed out');
  }
  const etag = response.headers.get('ETag');
  const type = response.headers.get('Content-Type') || '';
  let parsed = null;
  if (response.status !== 204 && response.status !== 304) {
    if (type.includes('json')) {
      parsed = await response.json().catch(() => null);
    } else {
      parsed = await response.text();
    }
  }
  if (!response.ok) throw errorOf(response.status, parsed, response.statusText);
  return { status: response.status, etag, body: parsed };
}

/** The `ApiError` for a non-2xx answer with the (parsed) `body`. */
function errorOf(status, body, statusText) {
  const b = body && typeof body === 'object' ? body : {};
  // The API's shape is flat (`error` is the code); a nested `{error: {code, …}}` is read too.
  const e = typeof b.error === 'object' && b.error !== null ? b.error : { ...b, code: b.error };
  return new ApiError(status, e.code || `http_${status}`, e.message || statusText, e.details);
}

/**
 * `api()` for a large JSON body whose upload the user watches: sent by XMLHttpRequest, because
 * fetch reports no upload progress. `onProgress(fraction)` is called as the body goes out.
 * Resolves to `{status, body}`; rejects with `ApiError` as `api()` does.
 *
 * @param {string} method
 * @param {string} path
 * @param {unknown} body
 * @param {{onProgress?: (fraction: number) => void}} [options]
 * @returns {Promise<{status: number, body: any}>}
 */
export function apiWithProgress(method, path, body, { onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    xhr.setRequestHeader('X-Madang-CSRF', '1');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('Content-Type', 'application/json');
    if (onProgress) {
      xhr.upload.addEventListener('progress', (e) => { if (e.lengthComputable && e.total) onProgress(e.loaded / e.total); });
    }
    xhr.addEventListener('load', () => {
      let parsed = null;
      try { parsed = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { parsed = xhr.responseText; }
      if (xhr.status === 401) {
        location.assign('/signin?next=/');
        reject(new ApiError(401, 'unauthorized', 'signed out'));
      } else if (xhr.status >= 200 && xhr.status < 300) {
        if (onProgress) onProgress(1);
        resolve({ status: xhr.status, body: parsed });
      } else {
        reject(errorOf(xhr.status, parsed, xhr.statusText));
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network', 'network error')));
    xhr.send(JSON.stringify(body));
  });
}
