/**
 * The one HTTP client of the portal. `api` talks to the tenant portal API (/portal/api), `consoleApi`
 * to the operator console API (/console/api); the two realms never share a cookie or a session.
 *
 * - credentials are included (the session cookie is httpOnly; JavaScript never sees it);
 * - every non-GET request carries `X-CSRF-Token`, taken from the last session answer
 *   (GET /session sets it through `setCsrfToken`);
 * - any non-2xx answer becomes an `ApiError { status, code, message, issues? }`, parsed from the
 *   API's `{ error, message, issues? }` body, so pages can show what happened and how to fix it.
 */

export interface ApiIssue {
  /** The field's path; the portal API sends it dotted (`guard.maxShare`), the client splits it. */
  path: (string | number)[];
  message: string;
  code?: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly issues: ApiIssue[];
  /** Seconds, from a Retry-After header (lockouts, rate limits). */
  readonly retryAfter: number | undefined;
  readonly body: unknown;

  constructor(status: number, code: string, message: string, opts: { issues?: ApiIssue[]; retryAfter?: number; body?: unknown } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.issues = opts.issues ?? [];
    this.retryAfter = opts.retryAfter;
    this.body = opts.body;
  }
}

export function isApiError(err: unknown, code?: string): err is ApiError {
  return err instanceof ApiError && (code === undefined || err.code === code);
}

/** A readable sentence for any error a request can end in (network failures included). */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 403 && err.code === 'forbidden') return 'Your role does not allow this. Ask an admin of your organisation if you need it.';
    if (err.status === 403 && err.code === 'csrf') return 'Your session could not be verified. Reload the page and try again.';
    if (err.status === 401 && err.code === 'unauthenticated') return 'Your session has ended. Sign in again.';
    if (err.retryAfter) return `${err.message} Try again in ${formatWait(err.retryAfter)}.`;
    return err.message;
  }
  if (err instanceof TypeError) return 'Roster could not be reached. Check your connection and try again.';
  return err instanceof Error ? err.message : String(err);
}

function formatWait(seconds: number): string {
  if (seconds < 90) return `${seconds} seconds`;
  return `${Math.ceil(seconds / 60)} minutes`;
}

type Query = Record<string, string | number | boolean | null | undefined>;

/** `?a=1&b=x` from an object, skipping null/undefined/'' values. */
export function toQuery(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

export interface ApiClient {
  readonly base: string;
  get<T>(path: string, query?: Query, init?: { signal?: AbortSignal }): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  put<T>(path: string, body?: unknown): Promise<T>;
  patch<T>(path: string, body?: unknown): Promise<T>;
  del<T = void>(path: string, body?: unknown): Promise<T>;
  /** A raw fetch (same cookie + CSRF rules) for downloads and streams. */
  raw(method: string, path: string, init?: { body?: unknown; signal?: AbortSignal }): Promise<Response>;
  /** Absolute URL of an API path (for links such as export downloads). */
  url(path: string, query?: Query): string;
  setCsrfToken(token: string | null): void;
  /** Called with the request's path on any 401 `unauthenticated` answer (the app re-checks its session). */
  onUnauthenticated(listener: (path: string) => void): () => void;
}

export function createApiClient(base: string): ApiClient {
  let csrf: string | null = null;
  const listeners = new Set<(path: string) => void>();

  const raw = async (method: string, path: string, init: { body?: unknown; signal?: AbortSignal } = {}): Promise<Response> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && method !== 'HEAD' && csrf) headers['x-csrf-token'] = csrf;
    return fetch(`${base}${path}`, {
      method,
      headers,
      credentials: 'include',
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: init.signal,
    });
  };

  const request = async <T>(method: string, path: string, init: { body?: unknown; signal?: AbortSignal } = {}): Promise<T> => {
    const res = await raw(method, path, init);
    const text = await res.text();
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    if (!res.ok) {
      const record = (typeof body === 'object' && body !== null ? body : {}) as { error?: unknown; message?: unknown; issues?: unknown };
      const code = typeof record.error === 'string' ? record.error : `http_${res.status}`;
      const message = typeof record.message === 'string' ? record.message : `The request failed (HTTP ${res.status}).`;
      const retry = Number(res.headers.get('retry-after'));
      const err = new ApiError(res.status, code, message, {
        issues: Array.isArray(record.issues) ? (record.issues as { path?: unknown; message: string; code?: string }[]).map(toIssue) : [],
        retryAfter: Number.isFinite(retry) && retry > 0 ? retry : undefined,
        body,
      });
      if (res.status === 401 && code === 'unauthenticated') for (const listener of listeners) listener(path.split('?')[0] ?? path);
      throw err;
    }
    return body as T;
  };

  return {
    base,
    get: (path, query, init) => request('GET', `${path}${toQuery(query)}`, { signal: init?.signal }),
    post: (path, body) => request('POST', path, { body: body ?? {} }),
    put: (path, body) => request('PUT', path, { body: body ?? {} }),
    patch: (path, body) => request('PATCH', path, { body: body ?? {} }),
    del: (path, body) => request('DELETE', path, { body }),
    raw,
    url: (path, query) => `${base}${path}${toQuery(query)}`,
    setCsrfToken: (token) => {
      csrf = token;
    },
    onUnauthenticated: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** The tenant portal API. */
export const api = createApiClient('/portal/api');
/** The operator console API. */
export const consoleApi = createApiClient('/console/api');

/** The API sends an issue's path as a dotted string; forms key fields by its segments. */
function toIssue(issue: { path?: unknown; message: string; code?: string }): ApiIssue {
  const path = Array.isArray(issue.path) ? (issue.path as (string | number)[]) : typeof issue.path === 'string' && issue.path ? issue.path.split('.') : [];
  return { ...issue, path };
}
