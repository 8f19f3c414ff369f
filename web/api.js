// The HTTP half of the protocol: accounts and the session cookie. The server sets
// and clears the HttpOnly `natter_session` cookie itself, so this module never sees
// or stores a token; it only turns responses into values or ApiError.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
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

/** The signed-in user, or null when the cookie is missing, expired or revoked. */
export async function currentUser() {
  try {
    const data = await call('GET', '/api/me');
    return data.user;
  } catch (error) {
    if (error.status === 401) return null;
    throw error;
  }
}

export async function register(username, password) {
  return (await call('POST', '/api/register', { username, password })).user;
}

export async function login(username, password) {
  return (await call('POST', '/api/login', { username, password })).user;
}

export async function logout() {
  await call('POST', '/api/logout');
}
