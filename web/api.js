// The HTTP half of the protocol: accounts, the session cookie and one's avatar.
// The server sets and clears the HttpOnly `natter_session` cookie itself, so this
// module never sees or stores a token; it only turns responses into values or
// ApiError. File uploads are uploads.js's: they need XMLHttpRequest's progress.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

/** `body`: a value sent as JSON, or a Blob sent as its raw bytes (`application/octet-stream`). */
async function call(method, path, body) {
  const raw = typeof Blob !== 'undefined' && body instanceof Blob;
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'Content-Type': raw ? 'application/octet-stream' : 'application/json' },
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server.');
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    // Not JSON (a proxy page, an empty body): judged by the status alone below.
  }
  if (!response.ok) {
    const error = data && data.error ? data.error : {};
    throw new ApiError(response.status, error.code || `http_${response.status}`, error.message);
  }
  return data;
}

/**
 * Who is signed in: `{user, admin}` (`admin`: may administer the workspace),
 * or null when the cookie is missing, expired or revoked. Login and register
 * answer with the user alone, so this is where the UI learns about `admin`.
 */
export async function currentUser() {
  try {
    const data = await call('GET', '/api/me');
    return { user: data.user, admin: data.admin === true };
  } catch (error) {
    if (error.status === 401) return null;
    throw error;
  }
}

/** Signs up; `invite` is the token of an invite or setup link, where there is one. */
export async function register(username, password, invite) {
  const body = invite ? { username, password, invite } : { username, password };
  return (await call('POST', '/api/register', body)).user;
}

export async function login(username, password) {
  return (await call('POST', '/api/login', { username, password })).user;
}

export async function logout() {
  await call('POST', '/api/logout');
}

/**
 * Sets the password of the account a reset link names, and signs this browser
 * in as it (every earlier session of the account ends). Resolves with the user.
 */
export async function resetPassword(token, password) {
  return (await call('POST', '/api/reset', { token, password })).user;
}

/** Changes my password; `endOtherSessions` signs out every other session of mine. */
export async function changePassword(current, password, endOtherSessions) {
  await call('POST', '/api/password', { current, password, end_other_sessions: endOtherSessions });
}

/** My sessions, most recently used first (`current`: the one this browser holds). */
export async function listSessions() {
  return (await call('GET', '/api/sessions')).sessions;
}

/** Ends one of my sessions (its connections close). */
export async function endSession(id) {
  await call('POST', '/api/sessions/end', { id });
}

/** Makes `picture` (a PNG, JPEG, GIF or WebP Blob) my avatar; the server stores it as a 256 px PNG. */
export async function uploadAvatar(picture) {
  await call('POST', '/api/avatar', picture);
}

/** Removes my avatar: my initials show again. */
export async function removeAvatar() {
  await call('DELETE', '/api/avatar');
}
