/**
 * Setup links carry their token in the URL fragment (`/setup#token=…`), so it never reaches a
 * server log. Read it once, then drop it from the address bar (the value is kept for this page
 * load, so React's double-invoked initialisers in development still see it).
 */
let taken: string | null = null;

export function takeTokenFromHash(): string | null {
  const hash = window.location.hash.replace(/^#/, '');
  const token = new URLSearchParams(hash).get('token');
  if (token) {
    taken = token;
    window.history.replaceState(window.history.state, '', window.location.pathname + window.location.search);
  }
  return token ?? taken;
}
