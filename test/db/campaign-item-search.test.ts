import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { itemPage } from '../../core/campaigns/service-queries.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

// Item search (a prefix of the role, the person's userName or the service account's name) finds
// the same items whichever way it goes: a rare term through campaign_item_search_hits and the
// subject/access indexes, a common one (more hits than the cap) walking the campaign in risk order.

let stack: TestStack;
let t: TestTenant;
let other: TestTenant;
let campaignId = '';
const item: Record<string, string> = {};
let tokenId = '';
const Id = z.object({ id: z.string() });

beforeAll(async () => {
  stack = await startStack();
  t = await stack.createTenant();
  other = await stack.createTenant();
  await withTenant(stack.owner, t.id, async (tx) => {
    const user = (name: string, deleted = false) =>
      tx.oneFirst(sql.type(Id)`
        INSERT INTO users (tenant_id, user_name, user_name_key, display_name, lifecycle_state, scim_deleted_at)
        VALUES (${t.id}, ${name}, ${name.toLowerCase()}, ${`${name} Display`}, 'active', ${deleted ? sql.fragment`now()` : null}) RETURNING id`);
    const alice = await user('Alice');
    const alfred = await user('alfred');
    const bob = await user('bob');
    // Deleted since the snapshot: still found by name, as the item still names them.
    const alvin = await user('alvin', true);
    const sa = await tx.oneFirst(sql.type(Id)`
      INSERT INTO service_accounts (tenant_id, name, owner_user_id) VALUES (${t.id}, 'alpha-deployer', ${bob}) RETURNING id`);
    tokenId = await tx.oneFirst(sql.type(Id)`
      INSERT INTO credentials (tenant_id, kind, user_id, name, token_prefix, token_hash, scopes)
      VALUES (${t.id}, 'personal_token', ${bob}, 'ci', 'rst_pat_x', sha256('search-test'::bytea), '{}') RETURNING id`);
    campaignId = await tx.oneFirst(sql.type(Id)`
      INSERT INTO campaigns (tenant_id, name, trigger, trigger_ref, settings, state, launched_by_type)
      VALUES (${t.id}, 'Q1', 'manual', 'req-search', '{}'::jsonb, 'open', 'user') RETURNING id`);
    const add = async (key: string, kind: string, ref: string, userId: string | null, risk: number, saId: string | null = null) => {
      item[key] = await tx.oneFirst(sql.type(Id)`
        INSERT INTO campaign_items (tenant_id, campaign_id, access_kind, access_ref, user_id, service_account_id, risk, recommendation, recommendation_reason, assigned_by)
        VALUES (${t.id}, ${campaignId}, ${kind}, ${ref}, ${userId}, ${saId}, ${risk}, 'keep', 'test', 'named') RETURNING id::text AS id`);
    };
    await add('aliceAdmin', 'role', 'admin', alice, 50);
    await add('aliceBilling', 'role', 'billing-admin', alice, 40);
    await add('alfredViewer', 'role', 'viewer', alfred, 10);
    await add('alvinMember', 'role', 'member', alvin, 10);
    await add('bobMember', 'role', 'member', bob, 5);
    await add('bobToken', 'token', tokenId, bob, 20);
    await add('deployer', 'service_account', sa, bob, 30, sa);
  });
});
afterAll(async () => stack?.close());

const page = (search: string, cap?: number, after: { risk: number; id: string } | null = null, limit = 50) =>
  withTenant(stack.app, t.id, async (tx) =>
    (await itemPage(tx, t.id, campaignId, { search }, after, limit, cap === undefined ? {} : { searchHitsCap: cap })).map((r) => r.id),
  );

describe('campaign item search', () => {
  const cases: [string, string[]][] = [
    // userName prefixes (case-insensitive), a service account's name, riskiest first.
    ['al', ['aliceAdmin', 'aliceBilling', 'deployer', 'alfredViewer', 'alvinMember']],
    ['ALI', ['aliceAdmin', 'aliceBilling']],
    ['bob', ['deployer', 'bobToken', 'bobMember']],
    // Role names.
    ['admin', ['aliceAdmin']],
    ['billing', ['aliceBilling']],
    ['member', ['alvinMember', 'bobMember']],
    // A LIKE metacharacter is a literal.
    ['%', []],
    ['nobody', []],
  ];

  it('a rare term (through the hits) and the same term walked in risk order find the same items, in the same order', async () => {
    for (const [search, keys] of cases) {
      const want = keys.map((k) => item[k]);
      expect({ search, ids: await page(search) }).toEqual({ search, ids: want });
      // Cap -1: every term counts as common, so the page walks the campaign in risk order.
      expect({ search, ids: await page(search, -1) }).toEqual({ search, ids: want });
    }
    // The access of a token is its id: a prefix of it finds the token's item.
    expect(await page(tokenId.slice(0, 8))).toEqual([item.bobToken]);
    expect(await page(tokenId.slice(0, 8), -1)).toEqual([item.bobToken]);
  });

  it('more hits than the cap go the walking way, and pages after a cursor agree both ways', async () => {
    const all = ['aliceAdmin', 'aliceBilling', 'deployer', 'alfredViewer', 'alvinMember'].map((k) => item[k]);
    expect(await page('al', 2)).toEqual(all);
    for (const cap of [undefined, -1]) {
      const first = await page('al', cap, null, 2);
      expect(first).toEqual(all.slice(0, 3));
      // A cursor after the second item (risk 40, aliceBilling): the rest in order.
      expect(await page('al', cap, { risk: 40, id: item.aliceBilling! }, 50)).toEqual(all.slice(2));
    }
  });

  it('campaign_item_search_hits answers only inside the transaction tenant', async () => {
    const hits = (tenantId: string) =>
      withTenant(stack.app, t.id, (tx) => tx.anyFirst(sql.type(Id)`SELECT id::text AS id FROM campaign_item_search_hits(${tenantId}, ${campaignId}, 'al%', 100)`));
    expect((await hits(t.id)).length).toBeGreaterThan(0);
    expect(await hits(other.id)).toEqual([]);
    const fromOther = await withTenant(stack.app, other.id, (tx) =>
      tx.anyFirst(sql.type(Id)`SELECT id::text AS id FROM campaign_item_search_hits(${t.id}, ${campaignId}, 'al%', 100)`),
    );
    expect(fromOther).toEqual([]);
  });
});
