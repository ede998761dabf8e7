import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import {
  createServiceAccount,
  disableServiceAccount,
  introspect,
  issuePersonalToken,
  issueServiceAccountToken,
  recordOAuthGrant,
} from '../../core/repositories/credentials.js';
import { activeUser, deactivate } from '../helpers/app-api-fixtures.js';
import { portalClient } from '../helpers/portal.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * Non-human identities in the portal API: service accounts, tokens, OAuth grants and the orphan
 * queue; revocation and reassignment (admin only, idempotent, audited); another tenant's ids 404.
 */

let stack: TestStack;
let tenant: TestTenant;
let other: TestTenant;
type Client = Awaited<ReturnType<typeof portalClient>>;
let admin: Client;
let auditor: Client;
let reviewer: Client;
let approver: Client;
let otherAdmin: Client;
let owner: string;
let colleague: string;

const app = { type: 'system' as const, id: 'vendor-app' };
const inTenant = <T>(t: TestTenant, fn: Parameters<typeof withTenant<T>>[2]) => withTenant(stack.owner, t.id, fn);

async function auditRows(targetId: string) {
  return stack.owner.any(sql.unsafe`
    SELECT action, actor_type, actor_id, data FROM audit_events WHERE tenant_id = ${tenant.id} AND target_id = ${targetId} ORDER BY id`);
}

beforeAll(async () => {
  stack = await startStack();
  [tenant, other] = await Promise.all([stack.createTenant(), stack.createTenant()]);
  [admin, auditor, reviewer, approver, otherAdmin] = await Promise.all([
    portalClient(stack, tenant, { roles: ['admin'] }),
    portalClient(stack, tenant, { roles: ['auditor'] }),
    portalClient(stack, tenant, { roles: ['reviewer'] }),
    portalClient(stack, tenant, { roles: ['approver'] }),
    portalClient(stack, other, { roles: ['admin'] }),
  ]);
  owner = await activeUser(stack, tenant, 'owner@example.com');
  colleague = await activeUser(stack, tenant, 'colleague@example.com');
});

afterAll(async () => {
  await stack?.close();
});

describe('lists', () => {
  it('service accounts with owner, live tokens and last use', async () => {
    const sa = await inTenant(tenant, (tx) => createServiceAccount(tx, tenant.id, { name: 'ci-runner', ownerUserId: owner }, app));
    const tok = await inTenant(tenant, (tx) => issueServiceAccountToken(tx, tenant.id, { serviceAccountId: sa.id, name: 'ci', scopes: ['deploy'] }, app));
    expect((await inTenant(tenant, (tx) => introspect(tx, tenant.id, tok.token))).active).toBe(true);

    for (const client of [admin, auditor, reviewer]) {
      const res = await client.request('GET', '/service-accounts');
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.items).toEqual([
        expect.objectContaining({
          id: sa.id,
          name: 'ci-runner',
          status: 'active',
          orphaned: false,
          liveTokens: 1,
          lastUsedAt: expect.any(String),
          owner: { id: owner, userName: 'owner@example.com', displayName: null, state: 'active' },
        }),
      ]);
    }
    expect((await approver.request('GET', '/service-accounts')).status).toBe(403);
    expect((await otherAdmin.request('GET', '/service-accounts')).body.items).toEqual([]);
  });

  it('tokens (personal and service, never sessions) and OAuth grants, paged, live by default', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const t = await inTenant(tenant, (tx) => issuePersonalToken(tx, tenant.id, { userId: colleague, name: `pt-${i}`, scopes: ['read'] }, app));
      ids.push(t.credential.id);
    }
    await inTenant(tenant, async (tx) => {
      const { issueSession } = await import('../../core/repositories/credentials.js');
      await issueSession(tx, tenant.id, { userId: colleague }, app);
    });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: Awaited<ReturnType<Client['request']>> = await reviewer.request('GET', `/tokens?kind=personal_token&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.total).toBe(5);
      for (const t of res.body.items) {
        expect(t.kind).toBe('personal_token');
        expect(t.owner).toMatchObject({ id: colleague, userName: 'colleague@example.com' });
        expect(t).not.toHaveProperty('token_hash');
      }
      seen.push(...res.body.items.map((t: { id: string }) => t.id));
      cursor = res.body.next;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const all = await reviewer.request('GET', '/tokens?status=all&limit=100');
    expect(all.body.items.some((t: { kind: string }) => t.kind === 'session')).toBe(false);
    expect(all.body.items.find((t: { kind: string }) => t.kind === 'service_account_token')).toMatchObject({ serviceAccount: { name: 'ci-runner', status: 'active' }, owner: { id: owner } });

    const grant = await inTenant(tenant, (tx) => recordOAuthGrant(tx, tenant.id, { userId: colleague, clientId: 'slack', clientName: 'Slack', scopes: ['chat:write'] }, app));
    const grants = await auditor.request('GET', '/oauth-grants');
    expect(grants.status).toBe(200);
    expect(grants.body.items).toEqual([expect.objectContaining({ id: grant.id, clientId: 'slack', clientName: 'Slack', scopes: ['chat:write'], owner: expect.objectContaining({ id: colleague }) })]);
    expect((await auditor.request('GET', '/tokens?status=nope')).status).toBe(400);
  });
});

describe('revoking', () => {
  it('revokes a token at once (introspection goes inactive), idempotently, with one audit row naming the admin', async () => {
    const t = await inTenant(tenant, (tx) => issuePersonalToken(tx, tenant.id, { userId: colleague, name: 'to-revoke', scopes: [] }, app));
    for (const client of [auditor, reviewer, approver]) expect((await client.request('POST', `/tokens/${t.credential.id}/revoke`)).status).toBe(403);
    const first = await admin.request('POST', `/tokens/${t.credential.id}/revoke`);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toEqual({ id: t.credential.id, changed: true, revokedTokens: [t.credential.id] });
    expect((await inTenant(tenant, (tx) => introspect(tx, tenant.id, t.token))).active).toBe(false);
    const again = await admin.request('POST', `/tokens/${t.credential.id}/revoke`);
    expect(again.body).toMatchObject({ changed: false });
    const rows = (await auditRows(t.credential.id)).filter((r: any) => r.action === 'credential.revoked');
    expect(rows).toEqual([expect.objectContaining({ actor_type: 'user', actor_id: admin.userId, data: expect.objectContaining({ reason: 'revoked_in_portal' }) })]);
  });

  it('revokes OAuth grants and disables service accounts with their tokens', async () => {
    const grant = await inTenant(tenant, (tx) => recordOAuthGrant(tx, tenant.id, { userId: colleague, clientId: 'zoom', scopes: [] }, app));
    const g = await admin.request('POST', `/oauth-grants/${grant.id}/revoke`);
    expect(g.body).toMatchObject({ id: grant.id, changed: true });
    expect((await auditRows(grant.id)).map((r: any) => r.action)).toEqual(['oauth_grant.recorded', 'oauth_grant.revoked']);

    const sa = await inTenant(tenant, (tx) => createServiceAccount(tx, tenant.id, { name: 'reporting', ownerUserId: colleague }, app));
    const tok = await inTenant(tenant, (tx) => issueServiceAccountToken(tx, tenant.id, { serviceAccountId: sa.id, name: 'r', scopes: [] }, app));
    const d = await admin.request('POST', `/service-accounts/${sa.id}/revoke`);
    expect(d.body).toEqual({ id: sa.id, changed: true, revokedTokens: [tok.credential.id] });
    expect((await inTenant(tenant, (tx) => introspect(tx, tenant.id, tok.token))).active).toBe(false);
    expect((await admin.request('POST', `/service-accounts/${sa.id}/revoke`)).body.changed).toBe(false);
    expect((await auditRows(sa.id)).map((r: any) => [r.action, r.actor_id])).toEqual([
      ['service_account.created', 'vendor-app'],
      ['service_account.disabled', admin.userId],
    ]);
  });

  it("answers 404 for another tenant's ids, unknown ids and sessions, and needs the CSRF token", async () => {
    const t = await inTenant(tenant, (tx) => issuePersonalToken(tx, tenant.id, { userId: colleague, name: 'mine', scopes: [] }, app));
    const sa = await inTenant(tenant, (tx) => createServiceAccount(tx, tenant.id, { name: 'mine', ownerUserId: colleague }, app));
    const grant = await inTenant(tenant, (tx) => recordOAuthGrant(tx, tenant.id, { userId: colleague, clientId: 'mine', scopes: [] }, app));
    for (const path of [`/tokens/${t.credential.id}/revoke`, `/service-accounts/${sa.id}/revoke`, `/oauth-grants/${grant.id}/revoke`, '/tokens/not-a-uuid/revoke']) {
      const res = await otherAdmin.request('POST', path);
      expect(res.status, path).toBe(404);
      expect(res.body.error).toBe('not_found');
    }
    const session = await inTenant(tenant, async (tx) => (await import('../../core/repositories/credentials.js')).issueSession(tx, tenant.id, { userId: colleague }, app));
    expect((await admin.request('POST', `/tokens/${session.credential.id}/revoke`)).status).toBe(404);
    expect((await inTenant(tenant, (tx) => introspect(tx, tenant.id, t.token))).active).toBe(true);

    const noCsrf = await fetch(`${stack.url}/portal/api/tokens/${t.credential.id}/revoke`, { method: 'POST', headers: { cookie: `roster_portal=${admin.cookie}` } });
    expect(noCsrf.status).toBe(403);
    expect((await inTenant(tenant, (tx) => introspect(tx, tenant.id, t.token))).active).toBe(true);
  });
});

describe('the orphan queue', () => {
  it("lists a leaver's orphaned service accounts and hands one to a new owner, audited", async () => {
    const leaver = await activeUser(stack, tenant, 'orphan-maker@example.com');
    const sa = await inTenant(tenant, (tx) => createServiceAccount(tx, tenant.id, { name: 'nightly-export', ownerUserId: leaver }, app));
    await deactivate(stack, tenant, leaver);
    // What the leaver sequence does under the 'disable' policy (no worker in this stack).
    await inTenant(tenant, (tx) => disableServiceAccount(tx, tenant.id, sa.id, { orphan: true }, { type: 'system', id: 'leaver' }));

    const queue = await reviewer.request('GET', '/orphans');
    expect(queue.status).toBe(200);
    expect(queue.body.total).toBe(1);
    expect(queue.body.items).toEqual([expect.objectContaining({ id: sa.id, orphaned: true, status: 'disabled', owner: expect.objectContaining({ id: leaver, state: 'suspended' }) })]);

    for (const client of [auditor, reviewer, approver]) expect((await client.request('POST', `/orphans/${sa.id}/reassign`, { ownerUserId: colleague })).status).toBe(403);
    const toLeaver = await admin.request('POST', `/orphans/${sa.id}/reassign`, { ownerUserId: leaver });
    expect(toLeaver.status).toBe(409);
    const suspended = await activeUser(stack, tenant, 'suspended-candidate@example.com');
    await deactivate(stack, tenant, suspended);
    const toSuspended = await admin.request('POST', `/orphans/${sa.id}/reassign`, { ownerUserId: suspended });
    expect(toSuspended.status).toBe(409);
    expect(toSuspended.body.error).toBe('user_not_active');
    const foreign = await otherAdmin.request('POST', `/orphans/${sa.id}/reassign`, { ownerUserId: colleague });
    expect(foreign.status).toBe(404);
    const bad = await admin.request('POST', `/orphans/${sa.id}/reassign`, { ownerUserId: 'someone' });
    expect(bad.status).toBe(400);

    const ok = await admin.request('POST', `/orphans/${sa.id}/reassign`, { ownerUserId: colleague });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toEqual({ changed: true, serviceAccount: expect.objectContaining({ id: sa.id, orphaned: false, status: 'disabled', owner: expect.objectContaining({ id: colleague }) }) });
    expect((await reviewer.request('GET', '/orphans')).body.items).toEqual([]);
    const again = await admin.request('POST', `/orphans/${sa.id}/reassign`, { ownerUserId: colleague });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('not_orphaned');
    const owned = (await auditRows(sa.id)).filter((r: any) => r.action === 'service_account.owner_changed');
    expect(owned).toEqual([
      expect.objectContaining({ actor_type: 'user', actor_id: admin.userId, data: { before: { ownerUserId: leaver, orphaned: true }, after: { ownerUserId: colleague, orphaned: false } } }),
    ]);
  });
});
