import { randomBytes } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookTargets } from '../../core/config.js';
import { type Tx, withTenant } from '../../core/db/pool.js';
import { createServiceAccount, issuePersonalToken, recordOAuthGrant } from '../../core/repositories/credentials.js';
import { checkWebhookUrl, createWebhook } from '../../core/webhooks/service.js';
import { USER } from '../helpers/scim.js';
import { submitChange } from '../../activities/approval-client.js';
import { approvalDepsFromConfig } from '../../core/approvals/service.js';
import { claimDomain } from '../../core/domains/service.js';
import { createSsoConnection } from '../../core/sso/service.js';
import { launchCampaign } from '../../core/campaigns/launch.js';
import { createDefinition } from '../../core/campaigns/service.js';
import { CampaignDefinitionInput } from '../../core/campaigns/schema.js';
import { makeCertificate, samlMetadata } from '../helpers/saml.js';
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
 * Every route with an id parameter also gets a cross-tenant cell: tenant A's session with a real id
 * of tenant B is 404 and B's row is unchanged (fixtures: CROSS_TENANT_FIXTURES, one line per
 * parameter; a route whose parameter has none fails the test).
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
let aEveryRole: PortalTestClient;

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
  aEveryRole = await portalClient(stack, tenantA, { roles: [...PORTAL_ROLES] });
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

// ---------------------------------------------------------------------------------------------
// Cross-tenant cells: every id a route takes, from a real row of tenant B.

/** A real row of tenant B and how to read its state (to check that A's request changed nothing). */
interface Fixture {
  id: string;
  state(): Promise<unknown>;
}

const rowOf = (table: string, id: string) => () =>
  stack.owner.maybeOne(sql.unsafe`SELECT to_jsonb(t) AS row FROM ${sql.identifier([table])} t WHERE id = ${id}`);
const bCtx = () => ({ tenantId: tenantB.id, actor: { type: 'system' as const, id: 'authz-matrix' } });
const inB = <T>(fn: (tx: Tx) => Promise<T>) => withTenant(stack.owner, tenantB.id, fn);

async function bUser(): Promise<string> {
  const res = await stack.scim(tenantB, 'POST', '/Users', { schemas: [USER], userName: `b-${randomBytes(4).toString('hex')}@example.com` });
  if (res.status !== 201) throw new Error(`SCIM user in B: ${res.status}`);
  return res.body.id as string;
}

async function bGroup(): Promise<string> {
  const res = await stack.scim(tenantB, 'POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: `B ${randomBytes(4).toString('hex')}` });
  if (res.status !== 201) throw new Error(`SCIM group in B: ${res.status}`);
  return res.body.id as string;
}

async function bServiceAccount(): Promise<string> {
  const owner = await bUser();
  return (await inB((tx) => createServiceAccount(tx, tenantB.id, { name: 'b-robot', ownerUserId: owner }, bCtx().actor))).id;
}

/**
 * Route parameter (with the path segment before it, since most are called `id`) → a factory of a
 * real row of tenant B. A route added later with an id parameter needs one line here; the test
 * above fails until it has one.
 */
const CROSS_TENANT_FIXTURES: Record<string, () => Promise<Fixture>> = {
  'members/:id': async () => ({ id: bEveryRole.userId, state: rowOf('portal_users', bEveryRole.userId) }),
  'sessions/:id': async () => {
    const id = await stack.owner.oneFirst(sql.type(z.object({ id: z.string() }))`
      SELECT id FROM portal_sessions WHERE user_id = ${bEveryRole.userId} AND revoked_at IS NULL LIMIT 1`);
    return { id, state: rowOf('portal_sessions', id) };
  },
  'connections/:id': async () => ({ id: tenantB.connectionId, state: rowOf('scim_connections', tenantB.connectionId) }),
  'tokens/:tokenId': async () => {
    const id = await stack.owner.oneFirst(sql.type(z.object({ id: z.string() }))`SELECT id FROM scim_tokens WHERE connection_id = ${tenantB.connectionId} LIMIT 1`);
    return { id, state: rowOf('scim_tokens', id) };
  },
  'webhooks/:id': async () => {
    const policy = { secretKey: loadSecretsKey(stack.config), allowHttpLoopback: true, targets: webhookTargets(stack.config) };
    const url = await checkWebhookUrl('http://127.0.0.1:9/b-hook', policy);
    const w = await inB((tx) => createWebhook(tx, bCtx(), policy, { url }));
    return { id: w.id, state: rowOf('webhook_endpoints', w.id) };
  },
  'users/:id': async () => {
    const id = await bUser();
    return { id, state: rowOf('users', id) };
  },
  'groups/:id': async () => {
    const id = await bGroup();
    return { id, state: rowOf('groups', id) };
  },
  'service-accounts/:id': async () => {
    const id = await bServiceAccount();
    return { id, state: rowOf('service_accounts', id) };
  },
  'tokens/:id': async () => {
    const userId = await bUser();
    const t = await inB((tx) => issuePersonalToken(tx, tenantB.id, { userId, name: 'b-pat', scopes: ['read'] }, bCtx().actor));
    return { id: t.credential.id, state: rowOf('credentials', t.credential.id) };
  },
  'oauth-grants/:id': async () => {
    const userId = await bUser();
    const g = await inB((tx) => recordOAuthGrant(tx, tenantB.id, { userId, clientId: 'b-client', scopes: ['read'] }, bCtx().actor));
    return { id: g.id, state: rowOf('oauth_grants', g.id) };
  },
  'orphans/:id': async () => {
    const id = await bServiceAccount();
    return { id, state: rowOf('service_accounts', id) };
  },
  'approvals/:id': async () => {
    // A waiting request of B (no workflow needed: the routes must refuse before reaching one).
    const submitted = await submitChange(stack.owner, undefined, bCtx(), approvalDepsFromConfig(stack.config, loadSecretsKey(stack.config)), {
      kind: 'scim_connection.rotate',
      payload: { connectionId: tenantB.connectionId, overlapSeconds: 60 },
    });
    const id = submitted.request.id;
    return { id, state: () => stack.owner.maybeOne(sql.unsafe`SELECT state, change_hash, payload, decided_at, applied_at FROM change_requests WHERE id = ${id}`) };
  },
  'domains/:id': async () => {
    const d = await inB((tx) => claimDomain(tx, bCtx(), { name: `b-${randomBytes(4).toString('hex')}.example` }));
    return { id: d.id, state: rowOf('domains', d.id) };
  },
  'sso-connections/:id': async () => {
    const metadataXml = samlMetadata({ certificates: [makeCertificate({ validDays: 90 })] });
    const c = await inB((tx) => createSsoConnection(tx, bCtx(), { targets: webhookTargets(stack.config), allowHttp: true }, { protocol: 'saml', name: 'B SAML', metadataXml, allowedDomains: [] }));
    return { id: c.id, state: rowOf('sso_connections', c.id) };
  },
  'campaign-definitions/:id': async () => {
    const d = await inB((tx) => createDefinition(tx, bCtx(), campaignDeps(), bDefinition()));
    return { id: d.id, state: rowOf('campaign_definitions', d.id) };
  },
  'campaigns/:id': async () => {
    // An open campaign of B with one item for B's reviewer (no workflow: the routes must refuse first).
    const subject = await bUser();
    const id = await inB(async (tx) => {
      const d = await createDefinition(tx, bCtx(), campaignDeps(), bDefinition());
      const launched = await launchCampaign(tx, tenantB.id, { definitionId: d.id, trigger: 'manual', triggerRef: 'authz-matrix', actor: bCtx().actor });
      if (launched.outcome !== 'launched') throw new Error('B campaign not launched');
      await tx.query(sql.unsafe`UPDATE campaigns SET state = 'open', opened_at = now(), due_at = now() + interval '1 day', items_total = 1 WHERE id = ${launched.campaignId}`);
      await tx.query(sql.unsafe`
        INSERT INTO campaign_items (tenant_id, campaign_id, access_kind, access_ref, user_id, recommendation, recommendation_reason, reviewer_id, assigned_by)
        VALUES (${tenantB.id}, ${launched.campaignId}, 'role', 'admin', ${subject}, 'keep', 'authz matrix', ${bEveryRole.userId}, 'named')`);
      return launched.campaignId;
    });
    return {
      id,
      state: () =>
        stack.owner.maybeOne(sql.unsafe`
          SELECT to_jsonb(c) AS campaign, (SELECT jsonb_agg(to_jsonb(i) ORDER BY i.id) FROM campaign_items i WHERE i.campaign_id = c.id) AS items
            FROM campaigns c WHERE c.id = ${id}`),
    };
  },
  'role-mappings/:groupId': async () => {
    const id = await bGroup();
    return {
      id,
      state: () => stack.owner.any(sql.unsafe`SELECT role FROM role_mappings WHERE group_id = ${id} ORDER BY role`),
    };
  },
};

const campaignDeps = () => ({ catalogue: stack.config.APP_ROLES, hourMs: stack.config.CAMPAIGN_HOUR_MS });
const bDefinition = () =>
  CampaignDefinitionInput.parse({ name: 'B review', scope: [{ kind: 'all_roles' }], reviewers: { people: 'named', reviewerIds: [bEveryRole.userId], fallbackReviewerId: bEveryRole.userId } });
/** A definition body that passes validation (its people need not exist: the route answers 404 first). */
const campaignBody = () => ({ name: 'A takes over', scope: [{ kind: 'all_roles' }], reviewers: { fallbackReviewerId: aMember.userId } });

/** Request bodies that pass validation, so the answer is the handler's (404), not a 400. */
const CROSS_TENANT_BODIES: Record<string, () => unknown> = {
  'PATCH /members/:id': () => ({ roles: ['auditor'] }),
  'POST /orphans/:id/reassign': () => ({ ownerUserId: aMember.userId }),
  'PUT /role-mappings/:groupId': () => ({ roles: [], fingerprint: 'authz-matrix' }),
  'POST /approvals/:id/decide': () => ({ verdict: 'approve', changeHash: '0'.repeat(64) }),
  'POST /approvals/:id/edit': () => ({ payload: { connectionId: tenantB.connectionId, overlapSeconds: 0 } }),
  'PATCH /sso-connections/:id': () => ({ name: 'renamed by A' }),
  'POST /settings/webhooks/:id/redeliver': () => ({ eventId: '00000000-0000-4000-8000-000000000000' }),
  'PUT /campaign-definitions/:id': campaignBody,
  'POST /campaigns/:id/decisions': () => ({ itemIds: ['1'], decision: 'revoke', reason: 'authz matrix' }),
  'POST /campaigns/:id/reassign': () => ({ fromReviewerId: bEveryRole.userId, toReviewerId: aMember.userId }),
  'POST /campaigns/:id/no-response': () => ({ confirm: true, reason: 'authz matrix' }),
};
const bodyFor = (route: DeclaredRoute) => CROSS_TENANT_BODIES[`${route.method.toUpperCase()} ${route.path}`]?.() ?? body(route);

/** `segment/:param` for each parameter of a path (`/connections/:id/tokens/:tokenId` → two keys). */
function paramKeys(path: string): string[] {
  return [...path.matchAll(/([A-Za-z0-9_-]+)\/:([A-Za-z0-9_]+)/g)].map((m) => `${m[1]}/:${m[2]}`);
}

const fixtureCache = new Map<string, Promise<Fixture>>();
/** One fixture per key (a route pair like /connections/:id/tokens/:tokenId shares B's connection). */
function fixtureOfB(key: string): Promise<Fixture> {
  const make = CROSS_TENANT_FIXTURES[key];
  if (!make) throw new Error(`no cross-tenant fixture for ${key}`);
  if (!fixtureCache.has(key)) fixtureCache.set(key, make());
  return fixtureCache.get(key)!;
}

describe('authorisation matrix', () => {
  it('the registries hold the routes (sanity: the matrix is not empty)', () => {
    expect(portalRoutes.filter((r) => r.access !== 'public').length).toBeGreaterThanOrEqual(9);
    expect(consoleRoutes.filter((r) => r.access === 'operator').length).toBeGreaterThanOrEqual(2);
    expect(portalRoutes.map((r) => `${r.method} ${r.path}`)).toEqual(expect.arrayContaining(['get /members', 'patch /members/:id', 'post /sign-in']));
    // Access reviews (issue 9): every campaign route is in the matrix.
    expect(portalRoutes.filter((r) => /^\/campaign/.test(r.path)).map((r) => `${r.method} ${r.path}`).sort()).toEqual(
      [
        'get /campaign-definitions',
        'post /campaign-definitions',
        'get /campaign-definitions/:id',
        'put /campaign-definitions/:id',
        'delete /campaign-definitions/:id',
        'post /campaign-definitions/:id/pause',
        'post /campaign-definitions/:id/resume',
        'post /campaign-definitions/:id/launch',
        'get /campaigns',
        'get /campaigns/:id',
        'get /campaigns/:id/items',
        'post /campaigns/:id/decisions',
        'post /campaigns/:id/reassign',
        'post /campaigns/:id/close',
        'post /campaigns/:id/no-response',
        'get /campaigns/:id/evidence.csv',
        'get /campaigns/:id/evidence.json',
        'get /campaign-reviewers',
        'get /campaign-groups',
      ].sort(),
    );
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

  it('every route with an id parameter has a cross-tenant fixture (add one line to CROSS_TENANT_FIXTURES)', () => {
    const missing = portalRoutes.filter((r) => r.access !== 'public').flatMap((r) => paramKeys(r.path).filter((k) => !(k in CROSS_TENANT_FIXTURES)).map((k) => `${r.method.toUpperCase()} ${r.path}: ${k}`));
    expect(missing, 'routes whose id parameter has no fixture in CROSS_TENANT_FIXTURES').toEqual([]);
  });

  it("tenant A's session (every role) gets 404 for tenant B's real ids on every route with an id, and B's rows are unchanged", async () => {
    const routes = portalRoutes.filter((r) => r.access !== 'public' && paramKeys(r.path).length > 0);
    expect(routes.length).toBeGreaterThanOrEqual(10);
    const rows: { route: string; cells: Cell[] }[] = [];
    for (const route of routes) {
      const fixtures = await Promise.all(paramKeys(route.path).map((k) => fixtureOfB(k)));
      const before = await Promise.all(fixtures.map((f) => f.state()));
      let path = route.path;
      for (const [i, key] of paramKeys(route.path).entries()) path = path.replace(new RegExp(`/:${key.split('/:')[1]}(?![A-Za-z0-9_])`), `/${fixtures[i]!.id}`);
      expect(path, route.path).not.toContain(':');
      const res = await (await freshPortalSession(aEveryRole)).request(route.method, path, bodyFor(route));
      const after = await Promise.all(fixtures.map((f) => f.state()));
      const unchanged = JSON.stringify(after) === JSON.stringify(before);
      rows.push({ route: `${route.method.toUpperCase()} ${route.path}`, cells: [{ who: 'tenantA→B', status: res.status, ok: res.status === 404 && unchanged }] });
    }
    const bad = rows.filter((r) => r.cells.some((c) => !c.ok));
    expect(bad, render(rows)).toEqual([]);
    // And tenant A's own member is untouched by B's attempts elsewhere in this file.
    expect((await aMember.request('GET', '/session')).body.user.roles).toEqual(['auditor']);
  });

  it("a user of another tenant (holding every role) gets 404 for tenant A's member ids", async () => {
    const memberRoutes = portalRoutes.filter((r) => r.access !== 'public' && /^\/members\/:/.test(r.path));
    expect(memberRoutes.length).toBeGreaterThanOrEqual(2);
    for (const route of memberRoutes) {
      const res = await (await freshPortalSession(bEveryRole)).request(route.method, concretePath(route, aMember.userId), route.method === 'patch' ? { roles: ['auditor'] } : body(route));
      expect(res.status, `${route.method} ${route.path}`).toBe(404);
    }
    expect((await aMember.request('GET', '/session')).body.user.roles).toEqual(['auditor']);
  });
});
