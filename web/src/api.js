import { API_URL } from './config.js';
import { ApiError } from './errors.js';

export { ApiError };

const fallbackMessages = {
  400: 'The request was not understood.',
  401: 'Not authenticated.',
  403: 'Not authorized!',
  404: 'Not found.',
  413: 'The image is too large.',
  422: 'Validation failed.',
  500: 'The server failed to answer. Please try again.',
};

let unauthorized = () => {};

// onUnauthorized registers what happens when an authenticated request gets
// 401 (an expired or revoked token): the session ends.
export function onUnauthorized(fn) {
  unauthorized = fn;
  return () => {
    if (unauthorized === fn) unauthorized = () => {};
  };
}

// api sends one request to the feed API and returns its JSON body, or throws
// an ApiError. json sends a JSON body, form a multipart one.
export async function api(path, { method = 'GET', token, json, form, signal } = {}) {
  const headers = {};
  let body;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  let res;
  try {
    res = await fetch(`${API_URL}${path}`, { method, headers, body, signal });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'Could not reach the server. Check your connection and try again.');
  }
  let payload = null;
  const text = await res.text();
  if (text) {
    try {
      payload = JSON.parse(text);
    } catch {
      payload = null;
    }
  }
  if (!res.ok) {
    const message =
      (payload && typeof payload.message === 'string' && payload.message) ||
      fallbackMessages[res.status] ||
      `The server answered ${res.status}.`;
    const data = payload && Array.isArray(payload.data) ? payload.data : [];
    if (res.status === 401 && token) unauthorized(message);
    throw new ApiError(res.status, message, data);
  }
  return payload;
}
