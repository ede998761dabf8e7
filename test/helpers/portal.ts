import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { issueSetupLink } from '../../core/portal-auth/service.js';
import { createOperator } from '../../core/portal-auth/operator-service.js';
import type { PortalRole } from '../../core/portal-auth/schema.js';
import type { TestStack } from './stack.js';

/**
 * Signed-in clients of the portal (/portal/api) and the console (/console/api) over real HTTP:
 * the person is created through the service, chooses a password through their setup link, and
 * the client keeps the session cookie and sends the CSRF token on every write.
 */

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
}

export interface ApiClient {
  /** Path relative to the API base (`/members`). */
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  /** The raw session cookie value (for browsers and for cross-realm tests). */
  cookie: string;
  csrfToken: string;
}

export interface PortalTestClient extends ApiClient {
  userId: string;
  email: string;
  password: string;
  tenant: { id: string; slug: string };
  roles: PortalRole[];
}

export interface ConsoleTestClient extends ApiClient {
  operatorId: string;
  email: string;
  password: string;
}

export const TEST_PASSWORD_PREFIX = 'Correct-Horse-Battery-';

export function strongPassword(): string {
  return `${TEST_PASSWORD_PREFIX}${randomBytes(6).toString('hex')}`;
}

/** One request with an optional cookie; JSON in and out. */
export async function apiFetch(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  const res = await fetch(`${base}${path}`, {
    method: method.toUpperCase(),
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    redirect: 'manual',
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** The value of `name` in a response's Set-Cookie headers. */
export function cookieFrom(res: ApiResponse, name: string): string | undefined {
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const eq = pair!.indexOf('=');
    if (pair!.slice(0, eq).trim() === name) return decodeURIComponent(pair!.slice(eq + 1));
  }
  return undefined;
}

export function clientFor(base: string, cookieName: string, cookie: string, csrfToken: string): ApiClient {
  return {
    cookie,
    csrfToken,
    request: (method, path, body, headers = {}) =>
      apiFetch(base, method, path, body, {
        cookie: `${cookieName}=${cookie}`,
        ...(method.toUpperCase() !== 'GET' ? { 'x-csrf-token': csrfToken } : {}),
        ...headers,
      }),
  };
}

export const portalBase = (stack: Pick<TestStack, 'url'>): string => `${stack.url}/portal/api`;
export const consoleBase = (stack: Pick<TestStack, 'url'>): string => `${stack.url}/console/api`;

/** The token in a setup URL (`…/setup#token=…`). */
export function setupToken(url: string): string {
  const token = new URL(url).hash.replace(/^#token=/, '');
  if (!token) throw new Error(`no token in ${url}`);
  return token;
}

/**
 * A portal user of `tenant` with `roles`, signed in over HTTP. The e-mail defaults to a fresh one.
 */
export async function portalClient(
  stack: TestStack,
  tenant: { id: string; slug: string },
  options: { roles: PortalRole[]; email?: string; password?: string },
): Promise<PortalTestClient> {
  const email = options.email ?? `p-${randomBytes(5).toString('hex')}@example.com`;
  const password = options.password ?? strongPassword();
  const link = await issueSetupLink(stack.app, {
    tenantId: tenant.id,
    email,
    roles: options.roles,
    createdBy: { type: 'operator', id: 'test' },
    publicUrl: stack.url,
  });
  const res = await apiFetch(portalBase(stack), 'POST', '/setup/complete', { token: setupToken(link.url), password });
  if (res.status !== 200) throw new Error(`portal setup for ${email} failed: ${res.status} ${JSON.stringify(res.body)}`);
  const cookie = cookieFrom(res, 'roster_portal');
  if (!cookie) throw new Error('setup/complete set no roster_portal cookie');
  return {
    ...clientFor(portalBase(stack), 'roster_portal', cookie, res.body.csrfToken),
    userId: res.body.user.id,
    email,
    password,
    tenant: { id: tenant.id, slug: tenant.slug },
    roles: options.roles,
  };
}

/** Signs an existing portal user in again (a second session). */
export async function portalSignIn(stack: TestStack, tenantSlug: string, email: string, password: string, code?: string): Promise<ApiClient & { response: ApiResponse }> {
  const res = await apiFetch(portalBase(stack), 'POST', '/sign-in', { tenant: tenantSlug, email, password, ...(code ? { code } : {}) });
  const cookie = cookieFrom(res, 'roster_portal') ?? '';
  return { ...clientFor(portalBase(stack), 'roster_portal', cookie, res.body?.csrfToken ?? ''), response: res };
}

/** An operator, signed in to the console over HTTP. */
export async function consoleClient(stack: TestStack, options: { email?: string; password?: string } = {}): Promise<ConsoleTestClient> {
  const email = options.email ?? `op-${randomBytes(5).toString('hex')}@vendor.example`;
  const password = options.password ?? strongPassword();
  const link = await createOperator(stack.app, { email, createdBy: 'test', publicUrl: stack.url, ttlSeconds: 3600 });
  const res = await apiFetch(consoleBase(stack), 'POST', '/setup/complete', { token: setupToken(link.url), password });
  if (res.status !== 200) throw new Error(`operator setup for ${email} failed: ${res.status} ${JSON.stringify(res.body)}`);
  const cookie = cookieFrom(res, 'roster_console');
  if (!cookie) throw new Error('setup/complete set no roster_console cookie');
  return { ...clientFor(consoleBase(stack), 'roster_console', cookie, res.body.csrfToken), operatorId: link.operatorId, email, password };
}

async function addSessionCookie(page: Page, stack: TestStack, name: string, path: string, value: string): Promise<void> {
  const url = new URL(stack.url);
  await page.context().addCookies([{ name, value, domain: url.hostname, path, httpOnly: true, sameSite: 'Lax', secure: false }]);
}

/** Signs a new portal user in over HTTP and hands the session cookie to the browser context. */
export async function browserSignIn(page: Page, stack: TestStack, tenant: { id: string; slug: string }, options: { roles: PortalRole[]; email?: string }): Promise<PortalTestClient> {
  const client = await portalClient(stack, tenant, options);
  await addSessionCookie(page, stack, 'roster_portal', '/portal/api', client.cookie);
  return client;
}

/** The same for an operator and the console. */
export async function browserConsoleSignIn(page: Page, stack: TestStack, options: { email?: string } = {}): Promise<ConsoleTestClient> {
  const client = await consoleClient(stack, options);
  await addSessionCookie(page, stack, 'roster_console', '/console/api', client.cookie);
  return client;
}
