// Links that carry a one-time token in the address's fragment (docs/protocol.md,
// "HTTP API"): `#setup=TOKEN` (the first admin), `#invite=TOKEN` (an invite an
// admin made) and `#reset=TOKEN` (a password-reset link). The token is read
// once, when the page loads, and taken out of the address bar at once, so it
// does not linger in the history, in a bookmark or on a shared screen. A
// fragment never reaches the server in a request; the token goes only in the
// body of the one request that uses it.

const LINK_PATTERN = /^#(setup|invite|reset)=([A-Za-z0-9_%.~-]+)$/;

/** Whether an address fragment is one of these links. */
export function isLinkFragment(hash) {
  return LINK_PATTERN.test(hash);
}

/**
 * Reads the link in the address, if there is one, and removes it from the
 * address bar (and from this history entry). Returns `{kind, token}` or null;
 * any other fragment (`#c12`, a channel) is left where it is.
 */
export function takeLink() {
  const match = LINK_PATTERN.exec(location.hash);
  if (!match) return null;
  history.replaceState(history.state, '', `${location.pathname}${location.search}`);
  let token;
  try {
    token = decodeURIComponent(match[2]);
  } catch {
    token = match[2]; // A stray "%": the server judges the token as it is.
  }
  return { kind: match[1], token };
}

/** The address of a link to hand to someone: this server's, with the token in the fragment. */
export function linkAddress(kind, token) {
  return `${location.origin}/#${kind}=${token}`;
}
