import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { effectiveRoles } from '../../core/entitlements.js';
import { setDirectGrant } from '../../core/entitlements/service.js';
import { computeEffectiveRoles, roleSourcesMany } from '../../core/repositories/entitlements.js';
import { createServiceAccount, introspect, issuePersonalToken, issueServiceAccountToken, recordOAuthGrant } from '../../core/repositories/credentials.js';
import { userDetail } from '../../core/directory/service.js';
import { applyIdentityEvent } from '../../core/repositories/lifecycle.js';
import { loadItemsForUpdate } from '../../core/campaigns/queries.js';
import { applyRevoke, applyRevokes } from '../../core/campaigns/revoke.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

let stack: TestStack;
let t: TestTenant;
const ids: Record<string, string> = {};
let campaignId = '';
const actor = { type: 'user' as const, id: 'portal-admin' };
const ctx = () => ({ tenantId: t.id, actor });
const deps = () => ({ catalogue: stack.config.APP_ROLES });
const inTenant = <T>(fn: Parameters<typeof withTenant<T>>[2]) => withTenant(stack.app, t.id, fn);
const catalogue = [
  { name: 'viewer', description: '', privileged: false },
  { name: 'admin', description: '', privileged: true },
];

async function addItem(kind: string, ref: string, userId: string | null, serviceAccountId: string | null = null): Promise<string> {
  return withTenant(stack.owner, t.id, (tx) =>
    tx.oneFirst(sql.type(z.object({ id: z.string() }))`
      INSERT INTO campaign_items (tenant_id, campaign_id, access_kind, access_ref, user_id, service_account_id, recommendation, recommendation_reason, assigned_by)
      VALUES (${t.id}, ${campaignId}, ${kind}, ${ref}, ${userId}, ${serviceAccountId}, 'keep', 'test', 'named') RETURNING id::text`),
  );
}

const itemOf = async (id: string) => (await inTenant((tx) => loadItemsForUpdate(tx, t.id, campaignId, [id])))[0]!;

beforeAll(async () => {
  stack = await startStack();
  t = await stack.createTenant();
  for (const name of ['ann', 'bob', 'cat']) {
    const r = await stack.scim(t, 'POST', '/Users', { userName: `${name}@example.com`, displayName: name.toUpperCase() });
    ids[name] = r.body.id;
  }
  const g = await stack.scim(t, 'POST', '/Groups', { displayName: 'Ops', members: [{ value: ids.ann }, { value: ids.bob }] });
  ids.ops = g.body.id;
  await withTenant(stack.owner, t.id, async (tx) => {
    await tx.query(sql.unsafe`UPDATE users SET lifecycle_state = 'active' WHERE tenant_id = ${t.id}`);
    await tx.query(sql.unsafe`INSERT INTO role_mappings (tenant_id, group_id, role) VALUES (${t.id}, ${ids.ops!}, 'admin')`);
    await tx.query(sql.unsafe`INSERT INTO user_roles (tenant_id, user_id, role) VALUES (${t.id}, ${ids.ann!}, 'admin'), (${t.id}, ${ids.bob!}, 'admin')`);
    campaignId = await tx.oneFirst(sql.type(z.object({ id: z.string() }))`
      INSERT INTO campaigns (tenant_id, name, trigger, trigger_ref, settings, state, launched_by_type)
      VALUES (${t.id}, 'Q4', 'manual', 'req-1', '{}'::jsonb, 'open', 'user') RETURNING id`);
  });
});
afterAll(async () => stack?.close());

describe('role exclusions take part in effective roles', () => {
  it('effectiveRoles leaves excluded roles out whatever grants them', () => {
    expect(effectiveRoles({ defaultRole: 'viewer', mappedRoles: ['admin'], directRoles: ['admin'], excludedRoles: ['admin'] }, catalogue)).toEqual(['viewer']);
    expect(effectiveRoles({ defaultRole: 'viewer', mappedRoles: ['admin'], directRoles: [] }, catalogue)).toEqual(['admin', 'viewer']);
  });

  it('an excluded role is not effective (one user and many), and an admin granting it directly lifts the exclusion', async () => {
    await withTenant(stack.owner, t.id, (tx) =>
      tx.query(sql.unsafe`INSERT INTO role_exclusions (tenant_id, user_id, role, created_by) VALUES (${t.id}, ${ids.cat!}, 'admin', 'test')`),
    );
    await withTenant(stack.owner, t.id, (tx) =>
      tx.query(sql.unsafe`INSERT INTO direct_role_grants (tenant_id, user_id, role, granted_by) VALUES (${t.id}, ${ids.cat!}, 'admin', 'test')`),
    );
    expect(await inTenant((tx) => computeEffectiveRoles(tx, t.id, ids.cat!, stack.config.APP_ROLES))).toEqual([]);
    const many = await inTenant((tx) => roleSourcesMany(tx, t.id, [ids.cat!, ids.ann!]));
    expect(many.get(ids.cat!)?.excludedRoles).toEqual(['admin']);
    expect(effectiveRoles(many.get(ids.cat!)!, stack.config.APP_ROLES)).toEqual([]);
    expect(effectiveRoles(many.get(ids.ann!)!, stack.config.APP_ROLES)).toEqual(['admin']);

    const detail = await inTenant((tx) => userDetail(tx, t.id, ids.cat!, stack.config.APP_ROLES));
    expect(detail.roles.find((r) => r.role === 'admin')).toMatchObject({ removedByReview: { campaignId: null } });

    // The grant exists already: granting it again is the admin's decision to give the role back.
    const r = await inTenant((tx) => setDirectGrant(tx, { tenantId: t.id, catalogue: stack.config.APP_ROLES, actor }, { userId: ids.cat!, role: 'admin', granted: true }));
    expect(r.changes).toMatchObject([{ userId: ids.cat, gains: ['admin'], losses: [] }]);
    expect(await inTenant((tx) => computeEffectiveRoles(tx, t.id, ids.cat!, stack.config.APP_ROLES))).toEqual(['admin']);
    const left = await inTenant((tx) => tx.anyFirst(sql.type(z.object({ role: z.string() }))`SELECT role FROM role_exclusions WHERE user_id = ${ids.cat!}`));
    expect(left).toEqual([]);
    const detailAfter = await inTenant((tx) => userDetail(tx, t.id, ids.cat!, stack.config.APP_ROLES));
    expect(detailAfter.roles.find((r) => r.role === 'admin')).not.toHaveProperty('removedByReview');
  });
});

describe('applyRevoke', () => {
  const Outbox = z.object({ seq: z.number(), payload: z.record(z.unknown()) });

  it('a role: exclusion, direct grant removed, entitlements.changed on the stream, item and audit recorded', async () => {
    await withTenant(stack.owner, t.id, (tx) =>
      tx.query(sql.unsafe`INSERT INTO direct_role_grants (tenant_id, user_id, role, granted_by) VALUES (${t.id}, ${ids.ann!}, 'admin', 'test')`),
    );
    const itemId = await addItem('role', 'admin', ids.ann!);
    const token = await inTenant((tx) => issuePersonalToken(tx, t.id, { userId: ids.ann!, name: 'ops', scopes: [], requiredRoles: ['admin'] }, actor));
    const applied = await inTenant(async (tx) => {
      const [item] = await loadItemsForUpdate(tx, t.id, campaignId, [itemId]);
      return applyRevoke(tx, ctx(), deps(), item!, 'left the team', 'revoked');
    });
    const outbox = await inTenant((tx) => tx.any(sql.type(Outbox)`
      SELECT seq, payload FROM outbox WHERE stream_id = ${ids.ann!} AND event_type = 'entitlements.changed' ORDER BY seq`));
    expect(outbox).toHaveLength(1);
    expect(outbox[0]!.payload).toEqual({ cause: 'recertification', campaignId, items: [{ itemId, role: 'admin' }] });
    expect(applied).toEqual({ via: 'identity_stream', userId: ids.ann, seq: outbox[0]!.seq });

    const exclusion = await inTenant((tx) => tx.one(sql.type(z.object({ campaign_id: z.string(), item_id: z.number(), reason: z.string(), created_by: z.string() }))`
      SELECT campaign_id, item_id, reason, created_by FROM role_exclusions WHERE user_id = ${ids.ann!} AND role = 'admin'`));
    expect(exclusion).toEqual({ campaign_id: campaignId, item_id: Number(itemId), reason: 'left the team', created_by: 'user:portal-admin' });
    const direct = await inTenant((tx) => tx.anyFirst(sql.type(z.object({ role: z.string() }))`SELECT role FROM direct_role_grants WHERE user_id = ${ids.ann!}`));
    expect(direct).toEqual([]);
    // The group mapping still grants it, the exclusion takes it away: the mover will revoke it.
    expect(await inTenant((tx) => computeEffectiveRoles(tx, t.id, ids.ann!, stack.config.APP_ROLES))).toEqual([]);

    // The mover applies the stream event: the role goes, and the credential that required it.
    const outcome = await inTenant((tx) =>
      applyIdentityEvent(tx, { tenantId: t.id, userId: ids.ann!, workflowId: `identity-test-${ids.ann}`, seq: outbox[0]!.seq, type: 'entitlements.changed', leaverDone: false, fromStart: false, catalogue: stack.config.APP_ROLES }),
    );
    expect(outcome).toMatchObject({ kind: 'applied' });
    const roles = await inTenant((tx) => tx.anyFirst(sql.type(z.object({ role: z.string() }))`SELECT role FROM user_roles WHERE user_id = ${ids.ann!}`));
    expect(roles).toEqual([]);
    const tokenState = await inTenant((tx) => tx.oneFirst(sql.type(z.object({ revoked_reason: z.string().nullable() }))`SELECT revoked_reason FROM credentials WHERE id = ${token.credential.id}`));
    expect(tokenState).toBe('required_role_lost');

    const item = await itemOf(itemId);
    expect(item).toMatchObject({ outcome: 'revoked', applied: { via: 'identity_stream', userId: ids.ann }, applied_at: expect.any(String) });
    const audit = await inTenant((tx) => tx.any(sql.type(z.object({ actor_id: z.string().nullable(), target_id: z.string().nullable(), data: z.record(z.unknown()) }))`
      SELECT actor_id, target_id, data FROM audit_events WHERE action = 'campaign.item.revoked'`));
    expect(audit).toEqual([expect.objectContaining({ actor_id: 'portal-admin', target_id: campaignId, data: expect.objectContaining({ itemId, outcome: 'revoked', reason: 'left the team' }) })]);
  });

  it('a role already gone (not held, not granted) is recorded as already_gone, with no stream event', async () => {
    const itemId = await addItem('role', 'billing-admin', ids.bob!);
    const applied = await inTenant(async (tx) => applyRevoke(tx, ctx(), deps(), (await loadItemsForUpdate(tx, t.id, campaignId, [itemId]))[0]!, 'r', 'no_response_revoked'));
    expect(applied).toEqual({ via: 'already_gone' });
    expect((await itemOf(itemId)).outcome).toBe('no_response_revoked');
    const outbox = await inTenant((tx) => tx.anyFirst(sql.type(z.object({ seq: z.number() }))`
      SELECT seq FROM outbox WHERE stream_id = ${ids.bob!} AND event_type = 'entitlements.changed'`));
    expect(outbox).toEqual([]);
  });

  it('tokens, service accounts and OAuth grants are revoked through the credentials repository (reason recertification)', async () => {
    const made = await inTenant(async (tx) => {
      const token = await issuePersonalToken(tx, t.id, { userId: ids.bob!, name: 'ci', scopes: ['deploy'] }, actor);
      const sa = await createServiceAccount(tx, t.id, { name: 'deployer', ownerUserId: ids.bob! }, actor);
      await issueServiceAccountToken(tx, t.id, { serviceAccountId: sa.id, name: 'k', scopes: [] }, actor);
      const grant = await recordOAuthGrant(tx, t.id, { userId: ids.bob!, clientId: 'figma', scopes: ['read'] }, actor);
      return { token: token.credential.id, sa: sa.id, grant: grant.id };
    });
    const tokenItem = await addItem('token', made.token, ids.bob!);
    const saItem = await addItem('service_account', made.sa, ids.bob!, made.sa);
    const grantItem = await addItem('oauth_grant', made.grant, ids.bob!);
    // Several items in one transaction, in any order.
    const applied = await inTenant(async (tx) =>
      applyRevokes(tx, ctx(), deps(), await loadItemsForUpdate(tx, t.id, campaignId, [grantItem, saItem, tokenItem]), 'unused', 'revoked'),
    );
    expect(applied).toEqual([
      { via: 'credential_revoked', credentialId: made.token },
      { via: 'service_account_disabled', serviceAccountId: made.sa, tokensRevoked: 1 },
      { via: 'oauth_grant_revoked', grantId: made.grant },
    ]);
    const reason = await inTenant((tx) => tx.oneFirst(sql.type(z.object({ revoked_reason: z.string().nullable() }))`SELECT revoked_reason FROM credentials WHERE id = ${made.token}`));
    expect(reason).toBe('recertification');
    const grant = await inTenant((tx) => tx.oneFirst(sql.type(z.object({ revoked_reason: z.string().nullable() }))`SELECT revoked_reason FROM oauth_grants WHERE id = ${made.grant}`));
    expect(grant).toBe('recertification');
    const sa = await inTenant((tx) => tx.oneFirst(sql.type(z.object({ status: z.string() }))`SELECT status FROM service_accounts WHERE id = ${made.sa}`));
    expect(sa).toBe('disabled');

    // A second revoke of the same access finds it gone.
    const again = await inTenant(async (tx) => applyRevokes(tx, ctx(), deps(), await loadItemsForUpdate(tx, t.id, campaignId, [tokenItem, saItem, grantItem]), 'again', 'revoked'));
    expect(again).toEqual([{ via: 'already_gone' }, { via: 'already_gone' }, { via: 'already_gone' }]);
  });

  it('several role items of different users in one transaction lock them in id order', async () => {
    await withTenant(stack.owner, t.id, (tx) =>
      tx.query(sql.unsafe`INSERT INTO user_roles (tenant_id, user_id, role) VALUES (${t.id}, ${ids.cat!}, 'admin') ON CONFLICT DO NOTHING`),
    );
    const [hi, lo] = [ids.bob!, ids.cat!].sort().reverse();
    const a = await addItem('role', 'admin', hi!);
    const b = await addItem('role', 'admin', lo!);
    // Items in id order put the higher user id first: applyRevokes must still lock in user order.
    const applied = await inTenant(async (tx) => applyRevokes(tx, ctx(), deps(), await loadItemsForUpdate(tx, t.id, campaignId, [a, b]), 'x', 'revoked'));
    expect(applied.map((r) => r.via)).toEqual(['identity_stream', 'identity_stream']);
  });

  it('loadItemsForUpdate ignores malformed and unknown ids and other campaigns', async () => {
    const rows = await inTenant((tx) => loadItemsForUpdate(tx, t.id, campaignId, ['abc', '999999999', '-1']));
    expect(rows).toEqual([]);
  });
});

describe('applyRevokes in bulk', () => {
  const Outbox = z.object({ stream_id: z.string(), seq: z.number(), payload: z.record(z.unknown()) });
  const people: Record<string, string> = {};

  beforeAll(async () => {
    for (const name of ['dan', 'eve', 'fay']) {
      const r = await stack.scim(t, 'POST', '/Users', { userName: `${name}@example.com`, displayName: name.toUpperCase() });
      people[name] = r.body.id;
    }
    const g = await stack.scim(t, 'POST', '/Groups', { displayName: 'Admins', members: [{ value: people.dan }, { value: people.eve }] });
    await withTenant(stack.owner, t.id, async (tx) => {
      await tx.query(sql.unsafe`UPDATE users SET lifecycle_state = 'active' WHERE tenant_id = ${t.id} AND id = ANY(${sql.array(Object.values(people), 'uuid')})`);
      await tx.query(sql.unsafe`INSERT INTO role_mappings (tenant_id, group_id, role) VALUES (${t.id}, ${g.body.id}, 'admin')`);
      // dan: admin (group), billing-admin (direct grant), member (held, no source left); eve: admin
      // (group), billing-admin (held only); fay: admin (held only).
      await tx.query(sql.unsafe`
        INSERT INTO user_roles (tenant_id, user_id, role)
        VALUES (${t.id}, ${people.dan!}, 'admin'), (${t.id}, ${people.dan!}, 'billing-admin'), (${t.id}, ${people.dan!}, 'member'),
               (${t.id}, ${people.eve!}, 'admin'), (${t.id}, ${people.eve!}, 'billing-admin'), (${t.id}, ${people.fay!}, 'admin')`);
      await tx.query(sql.unsafe`INSERT INTO direct_role_grants (tenant_id, user_id, role, granted_by) VALUES (${t.id}, ${people.dan!}, 'billing-admin', 'test')`);
    });
  });

  it('several roles of several people in one call: one stream event per person, each item recorded, a person deleted meanwhile already_gone, and the mover takes every role', async () => {
    const issue = (userId: string, name: string, requiredRoles: string[] = []) =>
      inTenant((tx) => issuePersonalToken(tx, t.id, { userId, name, scopes: [], requiredRoles }, actor));
    const tokens = { danBilling: await issue(people.dan!, 'billing', ['billing-admin']), evePlain: await issue(people.eve!, 'plain'), eveCi: await issue(people.eve!, 'ci') };
    // Interleaved people, in no user id order; dan's viewer he neither holds nor is granted; eve's
    // ci token named twice (the second finds it revoked by the first).
    const plan: [string, string, string][] = [
      ['eve', 'role', 'admin'],
      ['dan', 'role', 'admin'],
      ['fay', 'role', 'admin'],
      ['dan', 'role', 'billing-admin'],
      ['eve', 'token', tokens.eveCi.credential.id],
      ['eve', 'role', 'billing-admin'],
      ['dan', 'role', 'member'],
      ['dan', 'role', 'viewer'],
      ['eve', 'token', tokens.eveCi.credential.id],
    ];
    const itemIds: string[] = [];
    for (const [who, kind, ref] of plan) itemIds.push(await addItem(kind, ref, people[who]!));
    expect((await stack.scim(t, 'DELETE', `/Users/${people.fay}`)).status).toBe(204);

    const applied = await inTenant(async (tx) => applyRevokes(tx, ctx(), deps(), await loadItemsForUpdate(tx, t.id, campaignId, itemIds), 'quarterly review', 'revoked'));

    const outbox = await inTenant((tx) => tx.any(sql.type(Outbox)`
      SELECT stream_id::text, seq, payload FROM outbox
       WHERE stream_id = ANY(${sql.array(Object.values(people), 'uuid')}) AND event_type = 'entitlements.changed' ORDER BY stream_id, seq`));
    const event = (who: string) => outbox.filter((o) => o.stream_id === people[who]);
    expect(event('dan')).toHaveLength(1);
    expect(event('eve')).toHaveLength(1);
    expect(event('fay')).toEqual([]);
    const i = itemIds;
    expect(event('dan')[0]!.payload).toEqual({
      cause: 'recertification',
      campaignId,
      items: [{ itemId: i[1], role: 'admin' }, { itemId: i[3], role: 'billing-admin' }, { itemId: i[6], role: 'member' }],
    });
    expect(event('eve')[0]!.payload).toEqual({ cause: 'recertification', campaignId, items: [{ itemId: i[0], role: 'admin' }, { itemId: i[5], role: 'billing-admin' }] });

    const dan = { via: 'identity_stream', userId: people.dan, seq: event('dan')[0]!.seq };
    const eve = { via: 'identity_stream', userId: people.eve, seq: event('eve')[0]!.seq };
    const expected = [
      eve,
      dan,
      { via: 'already_gone' },
      dan,
      { via: 'credential_revoked', credentialId: tokens.eveCi.credential.id },
      eve,
      dan,
      { via: 'already_gone' },
      { via: 'already_gone' },
    ];
    expect(applied).toEqual(expected);
    const rows = await inTenant((tx) => loadItemsForUpdate(tx, t.id, campaignId, itemIds));
    expect(rows.map((r) => [r.id, r.outcome, r.applied])).toEqual(itemIds.map((id, n) => [id, 'revoked', expected[n]]));
    expect(rows.every((r) => r.applied_at !== null)).toBe(true);

    // One campaign.item.revoked audit row per item, in the items' order; the token's own row too.
    const audit = await inTenant((tx) => tx.any(sql.type(z.object({ item_id: z.string(), applied: z.unknown(), reason: z.string() }))`
      SELECT data->>'itemId' AS item_id, data->'applied' AS applied, data->>'reason' AS reason FROM audit_events
       WHERE action = 'campaign.item.revoked' AND data->>'itemId' = ANY(${sql.array(itemIds, 'text')}) ORDER BY id`));
    expect(audit).toEqual(itemIds.map((id, n) => ({ item_id: id, applied: expected[n], reason: 'quarterly review' })));
    const credentialAudit = await inTenant((tx) => tx.anyFirst(sql.type(z.object({ reason: z.string() }))`
      SELECT data->>'reason' AS reason FROM audit_events WHERE action = 'credential.revoked' AND target_id = ${tokens.eveCi.credential.id}`));
    expect(credentialAudit).toEqual(['recertification']);

    // One exclusion per person and role, naming its item; dan's direct grant is gone; fay has none.
    const exclusions = await inTenant((tx) => tx.any(sql.type(z.object({ user_id: z.string(), role: z.string(), item_id: z.string(), reason: z.string() }))`
      SELECT user_id::text, role, item_id::text, reason FROM role_exclusions
       WHERE user_id = ANY(${sql.array(Object.values(people), 'uuid')}) ORDER BY role_exclusions.item_id`));
    expect(exclusions).toEqual([
      { user_id: people.eve, role: 'admin', item_id: i[0], reason: 'quarterly review' },
      { user_id: people.dan, role: 'admin', item_id: i[1], reason: 'quarterly review' },
      { user_id: people.dan, role: 'billing-admin', item_id: i[3], reason: 'quarterly review' },
      { user_id: people.eve, role: 'billing-admin', item_id: i[5], reason: 'quarterly review' },
      { user_id: people.dan, role: 'member', item_id: i[6], reason: 'quarterly review' },
    ]);
    const direct = await inTenant((tx) => tx.anyFirst(sql.type(z.object({ role: z.string() }))`SELECT role FROM direct_role_grants WHERE user_id = ${people.dan!}`));
    expect(direct).toEqual([]);

    // Each person's one event: the mover removes all their revoked roles and the credentials that
    // required one of them, and only those.
    for (const who of ['dan', 'eve']) {
      const outcome = await inTenant((tx) =>
        applyIdentityEvent(tx, { tenantId: t.id, userId: people[who]!, workflowId: `identity-test-${people[who]}`, seq: event(who)[0]!.seq, type: 'entitlements.changed', leaverDone: false, fromStart: false, catalogue: stack.config.APP_ROLES }),
      );
      expect(outcome).toMatchObject({ kind: 'applied' });
    }
    const held = await inTenant((tx) => tx.anyFirst(sql.type(z.object({ role: z.string() }))`
      SELECT role FROM user_roles WHERE user_id = ANY(${sql.array([people.dan!, people.eve!], 'uuid')})`));
    expect(held).toEqual([]);
    expect(await inTenant((tx) => introspect(tx, t.id, tokens.danBilling.token))).toEqual({ active: false });
    expect(await inTenant((tx) => introspect(tx, t.id, tokens.eveCi.token))).toEqual({ active: false });
    expect(await inTenant((tx) => introspect(tx, t.id, tokens.evePlain.token))).toMatchObject({ active: true, roles: [] });
  });
});
