import { webhookTargets } from '../../core/config.js';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnection, listConnections, revokeConnection, revokeToken, rotateToken } from '../../core/connections/service.js';
import { withTenant } from '../../core/db/pool.js';
import { loadSecretsKey } from '../../core/secret-box.js';
import { getSettings, listHeldLeavers, releaseHeldLeavers, updateSettings } from '../../core/tenants/service.js';
import { checkWebhookUrl, createWebhook, deleteWebhook, listWebhooks, rotateWebhook } from '../../core/webhooks/service.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

/**
 * The connection, webhook and tenant-settings services against the real database, through the
 * application role (row-level security applies, as for the portal and app APIs).
 */
let stack: TestStack;
let a: TestTenant;
let b: TestTenant;
beforeAll(async () => {
  stack = await startStack();
  a = await stack.createTenant();
  b = await stack.createTenant();
});
afterAll(async () => stack?.close());

const actor = { type: 'user' as const, id: '11111111-1111-4111-8111-111111111111' };
const ctx = (t: TestTenant) => ({ tenantId: t.id, actor, requestId: 'req-1' });
const inTenant = <T>(t: TestTenant, fn: Parameters<typeof withTenant<T>>[2]) => withTenant(stack.app, t.id, fn);
const Audit = z.object({ action: z.string(), actor_type: z.string(), actor_id: z.string().nullable(), target_id: z.string().nullable(), request_id: z.string().nullable(), data: z.record(z.unknown()) });
const auditOf = (t: TestTenant, action: string) =>
  stack.owner.any(sql.type(Audit)`SELECT action, actor_type, actor_id, target_id, request_id, data FROM audit_events WHERE tenant_id = ${t.id} AND action = ${action} ORDER BY id`);
const createUser = (token: string, userName: string) => stack.scim(token, 'POST', '/Users', { userName });

describe('connections service', () => {
  it('creates a connection whose token works once shown, audited without the secret', async () => {
    const created = await inTenant(a, (tx) => createConnection(tx, ctx(a), { name: ' Okta ' }));
    expect(created.token).toMatch(/^roster_scim_/);
    expect(created.connection).toMatchObject({ name: 'Okta', revokedAt: null, tokens: [{ id: created.tokenId, status: 'active', lastUsedAt: null }] });
    expect(created.connection.tokens[0]!.prefix.length).toBeLessThan(20);
    expect((await createUser(created.token, 'svc-conn-1@example.com')).status).toBe(201);
    const [row] = await auditOf(a, 'scim_connection.created');
    expect(row).toMatchObject({ actor_type: 'user', actor_id: actor.id, target_id: created.connectionId, request_id: 'req-1', data: { name: 'Okta', tokenId: created.tokenId } });
    expect(JSON.stringify(await auditOf(a, 'scim_connection.created'))).not.toContain(created.token);
    await expect(inTenant(a, (tx) => createConnection(tx, ctx(a), { name: '   ' }))).rejects.toThrow(/name/);
  });

  it('rotates with an overlap: both tokens work until it ends, listed as expiring and active', async () => {
    const created = await inTenant(a, (tx) => createConnection(tx, ctx(a), { name: 'rotate' }));
    const rotated = await inTenant(a, (tx) => rotateToken(tx, ctx(a), { connectionId: created.connectionId, overlapSeconds: 3600 }));
    expect(Date.parse(rotated.previousValidUntil) - Date.now()).toBeGreaterThan(3500_000);
    expect((await createUser(created.token, 'old-still@example.com')).status).toBe(201);
    expect((await createUser(rotated.token, 'new-works@example.com')).status).toBe(201);
    const listed = (await inTenant(a, (tx) => listConnections(tx, a.id))).find((c) => c.id === created.connectionId)!;
    expect(listed.tokens.map((t) => [t.id, t.status])).toEqual([
      [created.tokenId, 'expiring'],
      [rotated.tokenId, 'active'],
    ]);
    const [row] = await auditOf(a, 'scim_token.rotated');
    expect(row).toMatchObject({ target_id: created.connectionId, data: { overlapSeconds: 3600, tokenId: rotated.tokenId, previousTokenIds: [created.tokenId] } });
    await expect(inTenant(a, (tx) => rotateToken(tx, ctx(a), { connectionId: created.connectionId, overlapSeconds: -1 }))).rejects.toMatchObject({ status: 400 });
  });

  it('revokes a token and a connection, effective on the next request; another tenant cannot touch them', async () => {
    const created = await inTenant(a, (tx) => createConnection(tx, ctx(a), { name: 'revoke' }));
    await expect(inTenant(b, (tx) => revokeToken(tx, ctx(b), { tokenId: created.tokenId }))).rejects.toMatchObject({ status: 404 });
    await expect(inTenant(b, (tx) => revokeConnection(tx, ctx(b), { connectionId: created.connectionId }))).rejects.toMatchObject({ status: 404 });
    expect((await createUser(created.token, 'before-revoke@example.com')).status).toBe(201);

    const revoked = await inTenant(a, (tx) => revokeToken(tx, ctx(a), { tokenId: created.tokenId }));
    expect(revoked.status).toBe('revoked');
    expect((await createUser(created.token, 'after-revoke@example.com')).status).toBe(401);
    await expect(inTenant(a, (tx) => revokeToken(tx, ctx(a), { tokenId: created.tokenId }))).rejects.toMatchObject({ status: 404 });

    const second = await inTenant(a, (tx) => rotateToken(tx, ctx(a), { connectionId: created.connectionId, overlapSeconds: 0 }));
    await inTenant(a, (tx) => revokeConnection(tx, ctx(a), { connectionId: created.connectionId }));
    expect((await createUser(second.token, 'after-conn-revoke@example.com')).status).toBe(401);
    const listed = (await inTenant(a, (tx) => listConnections(tx, a.id))).find((c) => c.id === created.connectionId)!;
    expect(listed.revokedAt).not.toBeNull();
    expect(listed.tokens.every((t) => t.status === 'revoked')).toBe(true);
    await expect(inTenant(a, (tx) => rotateToken(tx, ctx(a), { connectionId: created.connectionId, overlapSeconds: 0 }))).rejects.toMatchObject({ status: 404 });
    expect((await auditOf(a, 'scim_token.revoked')).map((r) => r.target_id)).toEqual([created.tokenId]);
    expect((await auditOf(a, 'scim_connection.revoked')).map((r) => r.target_id)).toEqual([created.connectionId]);
    // The tenant's own first connection (from the fixture) is untouched.
    expect((await createUser(a.token, 'fixture-token-ok@example.com')).status).toBe(201);
  });
});

describe('tenant settings service', () => {
  it('changes only what is given, audits before and after of what changed, and writes nothing for no change', async () => {
    const before = await inTenant(b, (tx) => getSettings(tx, b.id));
    expect(before).toEqual({ deletionGraceSeconds: 2_592_000, guard: { maxSuspensions: 50, maxShare: 0.2, windowSeconds: 3600 } });
    const after = await inTenant(b, (tx) => updateSettings(tx, ctx(b), { deletionGraceSeconds: 86_400, guard: { maxShare: 0.05 } }));
    expect(after).toEqual({ deletionGraceSeconds: 86_400, guard: { maxSuspensions: 50, maxShare: 0.05, windowSeconds: 3600 } });
    expect(await inTenant(b, (tx) => getSettings(tx, b.id))).toEqual(after);
    expect(await auditOf(b, 'tenant.settings_updated')).toEqual([
      {
        action: 'tenant.settings_updated',
        actor_type: 'user',
        actor_id: actor.id,
        target_id: b.id,
        request_id: 'req-1',
        data: { before: { deletionGraceSeconds: 2_592_000, 'guard.maxShare': 0.2 }, after: { deletionGraceSeconds: 86_400, 'guard.maxShare': 0.05 } },
      },
    ]);
    await inTenant(b, (tx) => updateSettings(tx, ctx(b), { guard: { maxShare: 0.05 } }));
    expect(await auditOf(b, 'tenant.settings_updated')).toHaveLength(1);
    // Tenant a was not changed by b's update.
    expect((await inTenant(a, (tx) => getSettings(tx, a.id))).deletionGraceSeconds).toBe(2_592_000);
  });

  it('refuses out-of-range values and empty changes', async () => {
    await expect(inTenant(b, (tx) => updateSettings(tx, ctx(b), { guard: { maxShare: 1.5 } }))).rejects.toThrow();
    await expect(inTenant(b, (tx) => updateSettings(tx, ctx(b), { guard: { windowSeconds: 0 } }))).rejects.toThrow();
    await expect(inTenant(b, (tx) => updateSettings(tx, ctx(b), { deletionGraceSeconds: -1 }))).rejects.toThrow();
    await expect(inTenant(b, (tx) => updateSettings(tx, ctx(b), {}))).rejects.toThrow(/nothing to change/);
  });

  it('lists held leavers and releases one or all, audited, resolving the alert when none is left', async () => {
    const u1 = await createUser(b.token, 'held-1@example.com');
    const u2 = await createUser(b.token, 'held-2@example.com');
    // A guard trip as the lifecycle engine records it (the workflow side is tested in lifecycle-sequences).
    await withTenant(stack.owner, b.id, async (tx) => {
      await tx.query(sql.unsafe`INSERT INTO deprovision_holds (tenant_id, user_id, held_at) VALUES (${b.id}, ${u1.body.id}, now() - interval '1 minute'), (${b.id}, ${u2.body.id}, now())`);
      await tx.query(sql.unsafe`INSERT INTO tenant_alerts (tenant_id, kind, data) VALUES (${b.id}, 'mass_deprovisioning', '{}')`);
    });
    const held = await inTenant(b, (tx) => listHeldLeavers(tx, b.id));
    expect(held.map((h) => [h.userId, h.userName])).toEqual([
      [u1.body.id, 'held-1@example.com'],
      [u2.body.id, 'held-2@example.com'],
    ]);
    expect(await inTenant(a, (tx) => listHeldLeavers(tx, a.id))).toEqual([]);

    expect(await inTenant(b, (tx) => releaseHeldLeavers(tx, ctx(b), { userId: u1.body.id }))).toEqual([u1.body.id]);
    await expect(inTenant(b, (tx) => releaseHeldLeavers(tx, ctx(b), { userId: u1.body.id }))).rejects.toMatchObject({ status: 404 });
    const openAlerts = () => stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM tenant_alerts WHERE tenant_id = ${b.id} AND resolved_at IS NULL`);
    expect(await openAlerts()).toBe(1);
    expect(await inTenant(b, (tx) => releaseHeldLeavers(tx, ctx(b), { userName: 'HELD-2@example.com' }))).toEqual([u2.body.id]);
    expect(await openAlerts()).toBe(0);
    expect(await inTenant(b, (tx) => listHeldLeavers(tx, b.id))).toEqual([]);
    await expect(inTenant(b, (tx) => releaseHeldLeavers(tx, ctx(b), { userName: 'held-1@example.com' }))).rejects.toMatchObject({ status: 404 });
    await expect(inTenant(b, (tx) => releaseHeldLeavers(tx, ctx(b), { userName: 'nobody@example.com' }))).rejects.toMatchObject({ status: 404 });
    expect(await inTenant(b, (tx) => releaseHeldLeavers(tx, ctx(b)))).toEqual([]);
    expect((await auditOf(b, 'leaver.released')).map((r) => [r.target_id, r.actor_type, r.actor_id])).toEqual([
      [u1.body.id, 'user', actor.id],
      [u2.body.id, 'user', actor.id],
    ]);
  });
});

describe('webhooks service', () => {
  const policy = () => ({ secretKey: loadSecretsKey(stack.config), allowHttpLoopback: true, targets: webhookTargets(stack.config) });

  it('creates (secret once), rotates with an overlap and deletes, each audited; rules on the URL hold', async () => {
    const hookUrl = await checkWebhookUrl('http://127.0.0.1:9/hook', policy());
    const created = await inTenant(a, (tx) => createWebhook(tx, ctx(a), policy(), { url: hookUrl, eventTypes: ['user.suspended'] }));
    expect(created.secret).toMatch(/^whsec_/);
    expect(await inTenant(a, (tx) => listWebhooks(tx, a.id))).toEqual([expect.objectContaining({ id: created.id, eventTypes: ['user.suspended'], previousSecretExpiresAt: null })]);
    expect(JSON.stringify(await inTenant(a, (tx) => listWebhooks(tx, a.id)))).not.toContain(created.secret);
    const rotated = await inTenant(a, (tx) => rotateWebhook(tx, ctx(a), policy(), { endpointId: created.id, overlapSeconds: 600 }));
    expect(rotated.secret).not.toBe(created.secret);
    expect(rotated.previousSecretExpiresAt).not.toBeNull();
    await expect(inTenant(b, (tx) => deleteWebhook(tx, ctx(b), { endpointId: created.id }))).rejects.toMatchObject({ status: 404 });
    await inTenant(a, (tx) => deleteWebhook(tx, ctx(a), { endpointId: created.id }));
    expect(await inTenant(a, (tx) => listWebhooks(tx, a.id))).toEqual([]);
    await expect(inTenant(a, (tx) => deleteWebhook(tx, ctx(a), { endpointId: created.id }))).rejects.toMatchObject({ status: 404 });
    for (const action of ['webhook.created', 'webhook.secret_rotated', 'webhook.deleted']) {
      expect((await auditOf(a, action)).map((r) => [r.target_id, r.actor_id])).toEqual([[created.id, actor.id]]);
    }
    await expect(checkWebhookUrl('http://127.0.0.1:9/hook', { ...policy(), allowHttpLoopback: false })).rejects.toMatchObject({ status: 400 });
    await expect(checkWebhookUrl('https://user:pw@example.com/', policy())).rejects.toMatchObject({ status: 400 });
    await expect(inTenant(a, (tx) => rotateWebhook(tx, ctx(a), policy(), { endpointId: created.id, overlapSeconds: 8 * 86_400 }))).rejects.toMatchObject({ status: 400 });
  });
});
