import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleApi } from '../../api/console/router.js';
import { createPortalApi } from '../../api/portal/router.js';
import type { DeclaredRoute } from '../../api/portal/route.js';
import { PORTAL_ROLES, type PortalRole } from '../../core/portal-auth/schema.js';
import { loadSecretsKey } from '../../core/secret-box.js';
import {
  type ApiClient,
  apiFetch,
  clientFor,
  consoleBase,
  consoleClient,
  cookieFrom,
  portalBase,
  portalClient,
  portalSignIn,
  type ConsoleTestClient,
  type PortalTestClient,
} from '../helpers/portal.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * Every route of the portal and console registries (other features' routes included once they are
 * registered in featureRouters) × no session, each portal role, the other realm's session, and a
 * user of another tenant. Authorisation is the API's: a role that may not call a route gets 403
 * before its handler runs; a role that may gets anything but 401/403 (400 for an empty body is fine).
 */

let stack: TestStack;
let tenantA: TestTenant;
let tenantB: TestTenant;
let portalRoutes: readonly DeclaredRoute[];
let consoleRoutes: readonly DeclaredRoute[];
const byRole = new Map<PortalRole, PortalTestClient>();
let operator: ConsoleTestClient;
let aMember: PortalTestClient;
let bEveryRole: PortalTestClient;

beforeAll(async () => {
  stack = await startStack();
  [tenantA, tenantB] = await Promise.all([stack.createTenant(), stack.createTenant()]);
  const deps = { db: stack.app, config: stack.config, secretKey: loadSecretsKey(stack.config), publicUrl: stack.url };
  portalRoutes = createPortalApi(deps).routes;
  consoleRoutes = createConsoleApi(deps).routes;
  for (const role of PORTAL_ROLES) byRole.set(role, await portalClient(stack, tenantA, { roles: [role] }));
  operator = await consoleClient(stack);
  aMember = await portalClient(stack, tenantA, { roles: ['auditor'] });
  bEveryRole = await portalClient(stack, tenantB, { roles: [...PORTAL_ROLES] });
});
afterAll(async () => stack?.close());

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

function concretePath(route: DeclaredRoute, id = UNKNOWN_ID): string {
  return route.path.replace(/:[A-Za-z0-9_]+/g, id);
}

const body = (route: DeclaredRoute) => (route.method === 'get' ? undefined : {});

/** A fresh session of the same person: a route may end the session it is called with (sign-out). */
async function freshPortalSession(client: PortalTestClient): Promise<ApiClient> {
  const s = await portalSignIn(stack, client.tenant.slug, client.email, client.password);
  if (s.response.status !== 200) throw new Error(`sign-in failed: ${s.response.status}`);
  return s;
}

async function freshConsoleSession(): Promise<ApiClient> {
  const res = await apiFetch(consoleBase(stack), 'POST', '/sign-in', { email: operator.email, password: operator.password });
  return clientFor(consoleBase(stack), 'roster_console', cookieFrom(res, 'roster_console')!, res.body.csrfToken);
}

interface Cell {
  who: string;
  status: number;
  ok: boolean;
}

function render(rows: { route: string; cells: Cell[] }[]): string {
  const lines = rows.map((r) => `${r.route.padEnd(40)} ${r.cells.map((c) => `${c.who}=${c.status}${c.ok ? '' : '✗'}`).join('  ')}`);
  return `\n${lines.join('\n')}\n(✗ = unexpected)`;
}

describe('authorisation matrix', () => {
  it('the registries hold the routes (sanity: the matrix is not empty)', () => {
    expect(portalRoutes.filter((r) => r.access !== 'public').length).toBeGreaterThanOrEqual(9);
    expect(consoleRoutes.filter((r) => r.access === 'operator').length).toBeGreaterThanOrEqual(2);
    expect(portalRoutes.map((r) => `${r.method} ${r.path}`)).toEqual(expect.arrayContaining(['get /members', 'patch /members/:id', 'post /sign-in']));
  });

  it('/openapi.json describes every declared route, with its access in the description', async () => {
    const doc = await (await fetch(`${stack.url}/openapi.json`)).json();
    for (const [base, routes] of [['/portal/api', portalRoutes], ['/console/api', consoleRoutes]] as const) {
      for (const route of routes) {
        const path = `${base}${route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`;
        const op = doc.paths[path]?.[route.method];
        expect(op, `${route.method} ${path}`).toBeDefined();
        if (Array.isArray(route.access)) expect(op.description).toContain(`Roles: ${route.access.join(', ')}`);
        expect(op.security !== undefined, path).toBe(route.access !== 'public');
      }
    }
  });

  it('portal routes: no session → 401, a console session → 401, each role → 403 unless allowed', async () => {
    const rows: { route: string; cells: Cell[] }[] = [];
    for (const route of portalRoutes) {
      if (route.access === 'public' || route.access === 'operator') continue;
      const allowed = route.access;
      const path = concretePath(route);
      const cells: Cell[] = [];
      const anon = await apiFetch(portalBase(stack), route.method, path, body(route));
      cells.push({ who: 'none', status: anon.status, ok: anon.status === 401 && anon.body?.error === 'unauthenticated' });
      const op = await apiFetch(portalBase(stack), route.method, path, body(route), {
        cookie: `roster_console=${operator.cookie}; roster_portal=${operator.cookie}`,
        'x-csrf-token': operator.csrfToken,
      });
      cells.push({ who: 'console', status: op.status, ok: op.status === 401 });
      for (const role of PORTAL_ROLES) {
        const client = byRole.get(role)!;
        if (allowed.includes(role)) {
          const res = await (await freshPortalSession(client)).request(route.method, path, body(route));
          cells.push({ who: role, status: res.status, ok: res.status !== 401 && res.status !== 403 && res.status < 500 });
        } else {
          const res = await client.request(route.method, path, body(route));
          cells.push({ who: role, status: res.status, ok: res.status === 403 && res.body?.error === 'forbidden' });
        }
      }
      rows.push({ route: `${route.method.toUpperCase()} ${route.path}`, cells });
    }
    expect(rows.length).toBeGreaterThan(0);
    const bad = rows.filter((r) => r.cells.some((c) => !c.ok));
    expect(bad, render(rows)).toEqual([]);
  });

  it('console routes: no session → 401, a portal session → 401, an operator → allowed', async () => {
    const admin = byRole.get('admin')!;
    const rows: { route: string; cells: Cell[] }[] = [];
    for (const route of consoleRoutes) {
      if (route.access === 'public') continue;
      const path = concretePath(route);
      const cells: Cell[] = [];
      const anon = await apiFetch(consoleBase(stack), route.method, path, body(route));
      cells.push({ who: 'none', status: anon.status, ok: anon.status === 401 });
      const portal = await apiFetch(consoleBase(stack), route.method, path, body(route), {
        cookie: `roster_portal=${admin.cookie}; roster_console=${admin.cookie}`,
        'x-csrf-token': admin.csrfToken,
      });
      cells.push({ who: 'portal-admin', status: portal.status, ok: portal.status === 401 });
      const res = await (await freshConsoleSession()).request(route.method, path, body(route));
      cells.push({ who: 'operator', status: res.status, ok: res.status !== 401 && res.status !== 403 && res.status < 500 });
      rows.push({ route: `${route.method.toUpperCase()} ${route.path}`, cells });
    }
    const bad = rows.filter((r) => r.cells.some((c) => !c.ok));
    expect(bad, render(rows)).toEqual([]);
  });

  it("a user of another tenant (holding every role) gets 404 for tenant A's member ids", async () => {
    const rows: { route: string; cells: Cell[] }[] = [];
    const memberRoutes = portalRoutes.filter((r) => r.access !== 'public' && /^\/members\/:/.test(r.path));
    expect(memberRoutes.length).toBeGreaterThanOrEqual(2);
    for (const route of memberRoutes) {
      const res = await (await freshPortalSession(bEveryRole)).request(route.method, concretePath(route, aMember.userId), route.method === 'patch' ? { roles: ['auditor'] } : body(route));
      rows.push({ route: `${route.method.toUpperCase()} ${route.path}`, cells: [{ who: 'tenantB', status: res.status, ok: res.status === 404 }] });
    }
    const bad = rows.filter((r) => r.cells.some((c) => !c.ok));
    expect(bad, render(rows)).toEqual([]);
    // And tenant A's member is untouched.
    expect((await aMember.request('GET', '/session')).body.user.roles).toEqual(['auditor']);
  });
});
