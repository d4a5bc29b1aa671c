// The JSON API client: every call of the web client to /api/v1 goes through `api()`, which
// sends the session cookie and the CSRF header the server requires for cookie-authenticated
// calls, and turns the API's error shape into an `ApiError`.

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
  if (!response.ok) {
    const body = parsed && typeof parsed === 'object' ? parsed : {};
    // The API's shape is flat (`error` is the code); a nested `{error: {code, …}}` is read too.
    const e = typeof body.error === 'object' && body.error !== null ? body.error : { ...body, code: body.error };
    throw new ApiError(response.status, e.code || `http_${response.status}`, e.message || response.statusText, e.details);
  }
  return { status: response.status, etag, body: parsed };
}
