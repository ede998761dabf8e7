import { createHash } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import {
  CLOSE_REVOKE_BATCH,
  closeCampaign,
  closeVanishedItems,
  confirmAwaiting,
  escalateOverdue,
  generateItemsBatch,
  itemDrift,
  openCampaign,
  pendingCount,
  remindReviewers,
  reviewOnMove,
} from '../../core/campaigns/engine.js';
import { evidenceCsv, evidenceDigest, evidenceJson, evidenceRows } from '../../core/campaigns/evidence.js';
import { campaignProgress } from '../../core/campaigns/progress.js';
import { ItemRow } from '../../core/campaigns/queries.js';
import { applyIdentityEvent } from '../../core/repositories/lifecycle.js';
import { startStack, type TestStack } from '../helpers/stack.js';

let stack: TestStack;
const deps = () => ({ catalogue: stack.config.APP_ROLES, hourMs: 1000 });
const Id = z.object({ id: z.string() });

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.close());

/** A tenant with people, groups, mappings, portal users and non-human identities, made with SQL. */
async function fixture() {
  const t = await stack.createTenant();
  const q = <T>(fn: Parameters<typeof withTenant<T>>[2]) => withTenant(stack.owner, t.id, fn);
  const user = (userName: string, opts: { manager?: string; email?: string; state?: string; active?: boolean } = {}) =>
    q((tx) =>
      tx.oneFirst(sql.type(Id)`
        INSERT INTO users (tenant_id, user_name, user_name_key, emails, enterprise, lifecycle_state, active)
        VALUES (${t.id}, ${userName}, ${userName.toLowerCase()}, ${sql.jsonb(opts.email ? [{ value: opts.email, primary: true }] : [])},
                ${opts.manager ? sql.jsonb({ manager: { value: opts.manager } }) : null}, ${opts.state ?? 'active'}, ${opts.active ?? true})
        RETURNING id`),
    );
  const portal = (email: string, roles: string[] = ['reviewer']) =>
    q(async (tx) => {
      const id = await tx.oneFirst(sql.type(Id)`INSERT INTO portal_users (tenant_id, email, display_name, status) VALUES (${t.id}, ${email}, ${email.split('@')[0]!}, 'active') RETURNING id`);
      for (const r of roles) await tx.query(sql.unsafe`INSERT INTO portal_user_roles (tenant_id, user_id, role) VALUES (${t.id}, ${id}, ${r})`);
      return id;
    });
  const admin = await portal('admin@example.com', ['admin']);
  const fallback = await portal('fallback@example.com');
  const named1 = await portal('named1@example.com');
  const named2 = await portal('named2@example.com');
  const boss = await user('boss', { email: 'Boss@Example.com' });
  const bossPortal = await portal('boss@example.com');
  const alice = await user('alice', { manager: boss });
  const bob = await user('bob', { manager: 'no-such-person' });
  // The fallback reviewer is herself a subject: nobody reviews their own access.
  const fay = await user('fay', { email: 'fallback@example.com' });
  const sam = await user('sam', { manager: boss, state: 'suspended', active: false });
  const gone = await user('gone');
  const group = await q((tx) => tx.oneFirst(sql.type(Id)`INSERT INTO groups (tenant_id, display_name, display_name_key) VALUES (${t.id}, 'Ops', 'ops') RETURNING id`));
  await q(async (tx) => {
    await tx.query(sql.unsafe`UPDATE users SET scim_deleted_at = now() WHERE id = ${gone}`);
    await tx.query(sql.unsafe`UPDATE tenants SET default_role = 'viewer' WHERE id = ${t.id}`);
    await tx.query(sql.unsafe`INSERT INTO group_members (tenant_id, group_id, user_id) VALUES (${t.id}, ${group}, ${alice})`);
    await tx.query(sql.unsafe`INSERT INTO role_mappings (tenant_id, group_id, role) VALUES (${t.id}, ${group}, 'admin')`);
    await tx.query(sql.unsafe`INSERT INTO direct_role_grants (tenant_id, user_id, role, granted_by) VALUES (${t.id}, ${alice}, 'admin', 'operator:x')`);
    // user_roles: what the lifecycle engine granted. bob's billing-admin has no source left.
    for (const [u, roles] of [
      [alice, ['viewer', 'admin']],
      [bob, ['viewer', 'billing-admin']],
      [fay, ['viewer']],
      [sam, ['viewer', 'member']],
      [gone, ['viewer']],
      [boss, ['viewer']],
    ] as const) {
      for (const r of roles) await tx.query(sql.unsafe`INSERT INTO user_roles (tenant_id, user_id, role) VALUES (${t.id}, ${u}, ${r})`);
    }
  });
  const sa = await q((tx) => tx.oneFirst(sql.type(Id)`INSERT INTO service_accounts (tenant_id, name, owner_user_id, created_at) VALUES (${t.id}, 'deployer', ${boss}, now() - interval '200 days') RETURNING id`));
  const orphan = await q((tx) => tx.oneFirst(sql.type(Id)`INSERT INTO service_accounts (tenant_id, name, owner_user_id) VALUES (${t.id}, 'orphan', ${gone}) RETURNING id`));
  const token = await q((tx) =>
    tx.oneFirst(sql.type(Id)`
      INSERT INTO credentials (tenant_id, kind, service_account_id, name, scopes, token_prefix, token_hash, last_used_at, created_at)
      VALUES (${t.id}, 'service_account_token', ${sa}, 'ci', '{deploy}', 'rst_sa_x', sha256(gen_random_uuid()::text::bytea), now() - interval '100 days', now() - interval '150 days') RETURNING id`),
  );
  const grant = await q((tx) => tx.oneFirst(sql.type(Id)`INSERT INTO oauth_grants (tenant_id, user_id, client_id, client_name, scopes) VALUES (${t.id}, ${alice}, 'figma', 'Figma', '{read}') RETURNING id`));
  return { t, q, admin, fallback, named1, named2, boss, bossPortal, alice, bob, fay, sam, gone, group, sa, orphan, token, grant };
}
type Fixture = Awaited<ReturnType<typeof fixture>>;

async function launch(f: Fixture, settings: Record<string, unknown>, ref = `req-${Math.random()}`) {
  const full = {
    reviewers: { people: 'manager', nonHuman: 'owner', reviewerIds: [], fallbackReviewerId: f.fallback },
    durationHours: 24,
    remindEveryHours: 2,
    escalateAfterHours: 12,
    ...settings,
  };
  return f.q((tx) =>
    tx.oneFirst(sql.type(Id)`
      INSERT INTO campaigns (tenant_id, name, trigger, trigger_ref, settings, state, launched_by_type)
      VALUES (${f.t.id}, 'Q4 review', 'manual', ${ref}, ${sql.jsonb(full as never)}, 'generating', 'user') RETURNING id`),
  );
}

async function generate(f: Fixture, campaignId: string, batchSize = 100) {
  let inserted = 0;
  for (let i = 0; i < 1000; i++) {
    const r = await generateItemsBatch(stack.app, deps(), { tenantId: f.t.id, campaignId, batchSize });
    inserted += r.inserted;
    if (r.done) return inserted;
  }
  throw new Error('generation did not finish');
}

const items = (f: Fixture, campaignId: string) =>
  withTenant(stack.app, f.t.id, (tx) => tx.any(sql.type(ItemRow)`
    SELECT i.id::text AS id, i.campaign_id, i.access_kind, i.access_ref, i.user_id, i.service_account_id, i.sources, i.last_used_at, i.risk,
           i.risk_reasons, i.recommendation, i.recommendation_reason, i.reviewer_id, i.assigned_by, i.escalated_at, i.decision, i.decision_reason,
           i.decided_by, i.decided_at, i.decision_ms, i.outcome, i.applied, i.applied_at
      FROM campaign_items i WHERE i.campaign_id = ${campaignId} ORDER BY i.id`));

const find = (rows: readonly ItemRow[], userId: string | null, ref: string) => rows.find((r) => r.user_id === userId && r.access_ref === ref)!;

describe('generation', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await fixture();
  });

  it('all roles: sources, risk, recommendation and reviewers (manager, fallback, self-review avoided); live people only', async () => {
    const c = await launch(f, { scope: [{ kind: 'all_roles' }] });
    expect(await generate(f, c, 2)).toBe(8);
    const rows = await items(f, c);
    expect(rows).toHaveLength(8);
    expect(rows.some((r) => r.user_id === f.gone)).toBe(false);

    const aliceAdmin = find(rows, f.alice, 'admin');
    expect(aliceAdmin.sources).toEqual([
      { kind: 'group', groupId: f.group, groupName: 'Ops' },
      { kind: 'direct', grantedBy: 'operator:x' },
    ]);
    expect(aliceAdmin).toMatchObject({ risk_reasons: ['privileged_role'], recommendation: 'keep', reviewer_id: f.bossPortal, assigned_by: 'manager' });
    expect(find(rows, f.alice, 'viewer')).toMatchObject({ sources: [{ kind: 'default' }], risk: 0, recommendation: 'keep' });

    const bobBilling = find(rows, f.bob, 'billing-admin');
    expect(bobBilling).toMatchObject({ sources: [], recommendation: 'revoke', reviewer_id: f.fallback, assigned_by: 'fallback' });
    expect([...bobBilling.risk_reasons].sort()).toEqual(['privileged_role', 'source_gone']);
    expect(bobBilling.risk).toBe(70);
    expect(bobBilling.recommendation_reason).toMatch(/Nothing grants this role/);

    // fay has no manager and is the fallback herself: another reviewer (an admin) gets her items.
    expect(find(rows, f.fay, 'viewer')).toMatchObject({ reviewer_id: f.admin, assigned_by: 'admin' });
    // A suspended person's leftover roles are reviewed, flagged inactive, recommended for revoke.
    expect(find(rows, f.sam, 'member')).toMatchObject({ risk_reasons: ['source_gone', 'inactive_person'], recommendation: 'revoke', reviewer_id: f.bossPortal });
    // The riskiest first: the reviewer's list orders by risk.
    expect(Math.max(...rows.map((r) => r.risk))).toBe(70);
  });

  it('privileged roles and named reviewers: spread stably, never the subject themself', async () => {
    const c = await launch(f, { scope: [{ kind: 'privileged_roles' }], reviewers: { people: 'named', nonHuman: 'named', reviewerIds: [f.named1, f.named2], fallbackReviewerId: f.fallback } });
    await generate(f, c);
    const rows = await items(f, c);
    expect(rows.map((r) => r.access_ref).sort()).toEqual(['admin', 'billing-admin']);
    for (const r of rows) {
      expect([f.named1, f.named2]).toContain(r.reviewer_id);
      expect(r.assigned_by).toBe('named');
    }
    const again = await launch(f, { scope: [{ kind: 'privileged_roles' }], reviewers: { people: 'named', nonHuman: 'named', reviewerIds: [f.named1, f.named2], fallbackReviewerId: f.fallback } });
    await generate(f, again, 1);
    expect((await items(f, again)).map((r) => r.reviewer_id)).toEqual(rows.map((r) => r.reviewer_id));
  });

  it('groups: every role of the members; OAuth grants; service accounts with tokens, owners and orphans', async () => {
    const c = await launch(f, { scope: [{ kind: 'groups', groupIds: [f.group] }, { kind: 'oauth_grants' }, { kind: 'service_accounts' }] });
    await generate(f, c, 3);
    const rows = await items(f, c);
    const roles = rows.filter((r) => r.access_kind === 'role');
    expect(roles.map((r) => `${r.access_ref}`).sort()).toEqual(['admin', 'viewer']);
    expect(roles.every((r) => r.user_id === f.alice)).toBe(true);
    expect(find(rows, f.alice, f.grant)).toMatchObject({ access_kind: 'oauth_grant', sources: { scopes: ['read'], clientId: 'figma' }, reviewer_id: f.bossPortal });

    const sa = rows.find((r) => r.access_kind === 'service_account' && r.access_ref === f.sa)!;
    expect(sa).toMatchObject({ user_id: f.boss, service_account_id: f.sa, reviewer_id: f.bossPortal, assigned_by: 'owner', risk_reasons: ['unused_90_days'], recommendation: 'revoke' });
    expect(sa.last_used_at).not.toBeNull();
    const token = rows.find((r) => r.access_kind === 'token')!;
    expect(token).toMatchObject({ access_ref: f.token, service_account_id: f.sa, risk_reasons: ['unused_90_days'], reviewer_id: f.bossPortal });
    const orphan = rows.find((r) => r.access_ref === f.orphan)!;
    expect(orphan).toMatchObject({ risk_reasons: ['orphaned_owner'], recommendation: 'revoke', reviewer_id: f.fallback, assigned_by: 'fallback' });
  });

  it('a retried batch repeats nothing: the cursor moves with the inserts; a finished generation answers done', async () => {
    const c = await launch(f, { scope: [{ kind: 'all_roles' }, { kind: 'service_accounts' }] });
    const first = await generateItemsBatch(stack.app, deps(), { tenantId: f.t.id, campaignId: c, batchSize: 3 });
    expect(first).toMatchObject({ done: false });
    const total = first.inserted + (await generate(f, c, 3));
    expect(total).toBe(11);
    expect(await generateItemsBatch(stack.app, deps(), { tenantId: f.t.id, campaignId: c, batchSize: 3 })).toEqual({ inserted: 0, done: true });
    const rows = await items(f, c);
    expect(new Set(rows.map((r) => `${r.access_kind}:${r.user_id}:${r.access_ref}`)).size).toBe(rows.length);
  });
});

describe('open, remind, escalate, vanish, close', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await fixture();
  });

  async function opened(settings: Record<string, unknown>) {
    const c = await launch(f, { scope: [{ kind: 'all_roles' }], ...settings });
    await generate(f, c);
    const o = await openCampaign(stack.app, deps(), { tenantId: f.t.id, campaignId: c });
    return { c, o };
  }

  const decide = (c: string, id: string, decision: 'keep' | 'revoke', by: string, ms = 1000) =>
    f.q((tx) => tx.query(sql.unsafe`
      UPDATE campaign_items SET decision = ${decision}, decided_by = ${by}, decided_at = now(), decision_ms = ${ms}, outcome = ${decision === 'keep' ? 'kept' : 'revoked'}
       WHERE campaign_id = ${c} AND id = ${id}::int8`));

  it('opens with due/remind/escalate times, records campaign.started once; an empty campaign opens and closes', async () => {
    const { c, o } = await opened({});
    expect(o).toMatchObject({ itemsTotal: 8, remindEveryMs: 2000 });
    expect(o.dueInMs).toBeGreaterThan(20_000);
    expect(o.dueInMs).toBeLessThanOrEqual(24_000);
    expect(o.escalateInMs).toBeLessThanOrEqual(12_000);
    const again = await openCampaign(stack.app, deps(), { tenantId: f.t.id, campaignId: c });
    expect(again.itemsTotal).toBe(8);
    const events = await f.q((tx) => tx.anyFirst(sql.type(z.object({ type: z.string() }))`SELECT type FROM events WHERE subject_id = ${c}`));
    expect(events).toEqual(['campaign.started']);

    const empty = await launch(f, { scope: [{ kind: 'groups', groupIds: ['00000000-0000-4000-8000-000000000000'] }] });
    await generate(f, empty);
    expect((await openCampaign(stack.app, deps(), { tenantId: f.t.id, campaignId: empty })).itemsTotal).toBe(0);
    expect(await closeCampaign(stack.app, deps(), { tenantId: f.t.id, campaignId: empty })).toMatchObject({ state: 'closed', items: 0 });
  });

  it('reminds once per round; escalates pending items to the fallback (never their own access), once', async () => {
    const { c } = await opened({});
    const r1 = await remindReviewers(stack.app, deps(), { tenantId: f.t.id, campaignId: c, round: 1 });
    expect(r1.reviewers).toBeGreaterThanOrEqual(2);
    await remindReviewers(stack.app, deps(), { tenantId: f.t.id, campaignId: c, round: 1 });
    await remindReviewers(stack.app, deps(), { tenantId: f.t.id, campaignId: c, round: 2 });
    const reminded = await f.q((tx) => tx.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int8 AS n FROM events WHERE subject_id = ${c} AND type = 'campaign.reminded'`));
    expect(reminded).toBe(2);

    const rows = await items(f, c);
    await decide(c, find(rows, f.alice, 'viewer').id, 'keep', f.bossPortal);
    const e = await escalateOverdue(stack.app, deps(), { tenantId: f.t.id, campaignId: c });
    const after = await items(f, c);
    // fay's item stays with the admin: the fallback is fay herself.
    expect(find(after, f.fay, 'viewer')).toMatchObject({ reviewer_id: f.admin, escalated_at: null });
    expect(find(after, f.alice, 'viewer')).toMatchObject({ reviewer_id: f.bossPortal, escalated_at: null });
    expect(find(after, f.alice, 'admin')).toMatchObject({ reviewer_id: f.fallback, assigned_by: 'escalation', escalated_at: expect.any(String) });
    expect(e.escalated).toBe(after.filter((r) => r.assigned_by === 'escalation').length);
    expect(e.escalated).toBeGreaterThan(0);
    expect(await escalateOverdue(stack.app, deps(), { tenantId: f.t.id, campaignId: c })).toEqual(e);
    const progress = await f.q((tx) => campaignProgress(tx, f.t.id, c));
    expect(progress.overdue).toBe(progress.pending);
  });

  it('vanished access closes itself; drift tells changed from unchanged', async () => {
    const { c } = await opened({});
    const rows = await items(f, c);
    await f.q(async (tx) => {
      await tx.query(sql.unsafe`DELETE FROM user_roles WHERE user_id = ${f.bob} AND role = 'billing-admin'`);
      await tx.query(sql.unsafe`DELETE FROM direct_role_grants WHERE user_id = ${f.alice}`);
    });
    const drift = await f.q((tx) => itemDrift(tx, f.t.id, rows));
    expect(drift.get(find(rows, f.bob, 'billing-admin').id)).toBe('gone');
    expect(drift.get(find(rows, f.alice, 'admin').id)).toBe('changed');
    expect(drift.get(find(rows, f.alice, 'viewer').id)).toBe('unchanged');
    expect(await closeVanishedItems(stack.app, deps(), { tenantId: f.t.id, campaignId: c })).toEqual({ closed: 1 });
    expect(find(await items(f, c), f.bob, 'billing-admin')).toMatchObject({ outcome: 'gone', applied: { via: 'already_gone' } });
    expect(await pendingCount(stack.app, deps(), { tenantId: f.t.id, campaignId: c })).toEqual({ pending: 7, state: 'open' });
    await f.q(async (tx) => {
      await tx.query(sql.unsafe`INSERT INTO direct_role_grants (tenant_id, user_id, role, granted_by) VALUES (${f.t.id}, ${f.alice}, 'admin', 'operator:x')`);
      await tx.query(sql.unsafe`INSERT INTO user_roles (tenant_id, user_id, role) VALUES (${f.t.id}, ${f.bob}, 'billing-admin')`);
    });
  });

  it('keep_and_flag: undecided items are kept and flagged; progress flags a rubber stamp; evidence, digest and chain anchor', async () => {
    const { c } = await opened({ rubberStampSeconds: 5 });
    const rows = await items(f, c);
    // The fallback reviewer keeps five items in a second each: a rubber stamp.
    const mine = rows.slice(0, 6);
    for (const r of mine.slice(0, 5)) await decide(c, r.id, 'keep', f.fallback, 800);
    await f.q((tx) => tx.query(sql.unsafe`UPDATE campaign_items SET reviewer_id = ${f.fallback} WHERE campaign_id = ${c} AND id = ANY(${sql.array(mine.slice(0, 5).map((r) => r.id), 'int8')})`));
    await decide(c, mine[5]!.id, 'revoke', f.bossPortal, 30_000);
    // Everything else belongs to other reviewers, so the fallback's record is exactly those five.
    await f.q((tx) => tx.query(sql.unsafe`UPDATE campaign_items SET reviewer_id = ${f.bossPortal} WHERE campaign_id = ${c} AND id <> ALL(${sql.array(mine.slice(0, 5).map((r) => r.id), 'int8')})`));
    const progress = await f.q((tx) => campaignProgress(tx, f.t.id, c));
    expect(progress).toMatchObject({ items: 8, decided: 6, kept: 5, revoked: 1, pending: 2 });
    const fb = progress.reviewers.find((r) => r.reviewerId === f.fallback)!;
    expect(fb).toMatchObject({ decided: 5, kept: 5, medianDecisionMs: 800, rubberStamp: true });
    expect(progress.reviewers.find((r) => r.reviewerId === f.bossPortal)!.rubberStamp).toBe(false);

    const closed = await closeCampaign(stack.app, deps(), { tenantId: f.t.id, campaignId: c });
    expect(closed).toMatchObject({ state: 'closed', items: 8, kept: 5, revoked: 1, noResponseKept: 2, flaggedReviewers: 1 });
    expect(await closeCampaign(stack.app, deps(), { tenantId: f.t.id, campaignId: c })).toEqual(closed);

    const summary = await f.q((tx) => tx.oneFirst(sql.type(z.object({ summary: z.record(z.unknown()) }))`SELECT summary FROM campaigns WHERE id = ${c}`));
    const rowsOut = [];
    for await (const r of evidenceRows(stack.app, f.t.id, c, 4)) rowsOut.push(r);
    expect(rowsOut).toHaveLength(8);
    expect(rowsOut.map((r) => r.itemId)).toEqual(rows.map((r) => r.id));
    expect(rowsOut[0]).toMatchObject({ accessKind: 'role', subjectName: expect.any(String), decision: 'keep', reviewerName: 'fallback' });
    const digest = createHash('sha256').update(rowsOut.map((r) => `${JSON.stringify(r)}\n`).join('')).digest('hex');
    expect(await evidenceDigest(evidenceRows(stack.app, f.t.id, c))).toBe(digest);
    expect(summary).toMatchObject({ evidenceDigest: digest, flaggedReviewers: [{ reviewerId: f.fallback, decided: 5 }], progress: { noResponseKept: 2 } });
    // The chain anchor: the campaign.closed audit row, sealed, carries the digest.
    const anchor = summary.auditChain as { seq: number; hash: string };
    const audit = await f.q((tx) => tx.one(sql.type(z.object({ seq: z.number().nullable(), hash: z.string().nullable(), data: z.record(z.unknown()) }))`
      SELECT seq, encode(hash, 'hex') AS hash, data FROM audit_events WHERE action = 'campaign.closed' AND target_id = ${c}`));
    expect(audit).toMatchObject({ seq: anchor.seq, hash: anchor.hash, data: { evidenceDigest: digest } });
    const verified = await stack.app.one(sql.type(z.object({ sealed: z.number(), first_bad_seq: z.number().nullable() }))`SELECT * FROM audit_verify(${f.t.id})`);
    expect(verified.first_bad_seq).toBeNull();

    let csv = '';
    for await (const chunk of evidenceCsv(evidenceRows(stack.app, f.t.id, c))) csv += chunk;
    expect(csv.split('\r\n')[0]).toBe('itemId,accessKind,access,subjectUserId,subjectName,serviceAccountId,sources,risk,riskReasons,recommendation,reviewerId,reviewerName,assignedBy,decision,decisionReason,decidedAt,decisionMs,outcome,applied,appliedAt');
    expect(csv.trim().split('\r\n')).toHaveLength(9);
    let json = '';
    for await (const chunk of evidenceJson(evidenceRows(stack.app, f.t.id, c))) json += chunk;
    expect(JSON.parse(json)).toEqual(rowsOut);
    const events = await f.q((tx) => tx.anyFirst(sql.type(z.object({ type: z.string() }))`SELECT type FROM events WHERE subject_id = ${c} ORDER BY created_at`));
    expect(events).toEqual(['campaign.started', 'campaign.closed']);
  });

  it('revoke within the cap: undecided items are revoked through applyRevoke', async () => {
    const { c } = await opened({ noResponse: { action: 'revoke', escalate: false, revokeCapPercent: 50 } });
    const rows = await items(f, c);
    for (const r of rows.slice(0, 6)) await decide(c, r.id, 'keep', f.fallback);
    const closed = await closeCampaign(stack.app, deps(), { tenantId: f.t.id, campaignId: c });
    expect(closed).toMatchObject({ noResponseRevoked: 2, awaitingConfirmation: 0 });
    const revoked = (await items(f, c)).filter((r) => r.outcome === 'no_response_revoked');
    expect(revoked).toHaveLength(2);
    expect(revoked.every((r) => (r.applied as { via: string }).via === 'identity_stream')).toBe(true);
    const excluded = await f.q((tx) => tx.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int8 AS n FROM role_exclusions WHERE campaign_id = ${c}`));
    expect(excluded).toBe(2);
    await f.q((tx) => tx.query(sql.unsafe`DELETE FROM role_exclusions WHERE campaign_id = ${c}`));
  });

  it('revoke over the cap: undecided items await an admin; confirm revokes, decline keeps; the alert resolves', async () => {
    for (const confirm of [false, true]) {
      const { c, o } = await opened({ noResponse: { action: 'revoke', escalate: false, revokeCapPercent: 10 } });
      const n = o.itemsTotal;
      expect(n).toBeGreaterThan(4);
      const closed = await closeCampaign(stack.app, deps(), { tenantId: f.t.id, campaignId: c });
      expect(closed).toMatchObject({ awaitingConfirmation: n, noResponseRevoked: 0 });
      const alert = () => f.q((tx) => tx.any(sql.type(z.object({ resolved: z.boolean() }))`
        SELECT resolved_at IS NOT NULL AS resolved FROM tenant_alerts WHERE kind = 'campaign_revokes_awaiting_confirmation' AND data->>'campaignId' = ${c}`));
      expect(await alert()).toEqual([{ resolved: false }]);
      const r = await f.q((tx) => confirmAwaiting(tx, { tenantId: f.t.id, actor: { type: 'user', id: f.admin } }, deps(), c, confirm, 'checked with the team'));
      expect(r).toEqual(confirm ? { revoked: n, kept: 0 } : { revoked: 0, kept: n });
      expect(await alert()).toEqual([{ resolved: true }]);
      const outcomes = new Set((await items(f, c)).map((i) => i.outcome));
      expect([...outcomes]).toEqual([confirm ? 'no_response_revoked' : 'no_response_kept']);
      await expect(f.q((tx) => confirmAwaiting(tx, { tenantId: f.t.id, actor: { type: 'user', id: f.admin } }, deps(), c, true, 'x'))).rejects.toMatchObject({ status: 409 });
    }
  });
});

describe('reviewOnMove', () => {
  it('a move of a person holding privileged roles opens a review of those roles for the new manager; otherwise nothing', async () => {
    const f = await fixture();
    const urn = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
    const id = await f.q((tx) => reviewOnMove(tx, deps(), { tenantId: f.t.id, userId: f.alice, seq: 7, changed: [urn] }));
    expect(id).toEqual(expect.any(String));
    const c = await f.q((tx) => tx.one(sql.type(z.object({ name: z.string(), state: z.string(), trigger: z.string(), trigger_ref: z.string(), items_total: z.number(), due: z.boolean(), workflow_started_at: z.string().nullable() }))`
      SELECT name, state, trigger, trigger_ref, items_total, due_at > now() AS due, workflow_started_at FROM campaigns WHERE id = ${id}`));
    expect(c).toEqual({ name: "Access review after alice's move", state: 'open', trigger: 'event', trigger_ref: `move:${f.alice}:7`, items_total: 1, due: true, workflow_started_at: null });
    expect(await items(f, id!)).toMatchObject([{ access_ref: 'admin', reviewer_id: f.bossPortal, assigned_by: 'manager' }]);
    // Retried: the same trigger makes nothing new.
    expect(await f.q((tx) => reviewOnMove(tx, deps(), { tenantId: f.t.id, userId: f.alice, seq: 7, changed: [urn] }))).toBeNull();
    // No privileged role, or not a manager/department change: nothing.
    expect(await f.q((tx) => reviewOnMove(tx, deps(), { tenantId: f.t.id, userId: f.fay, seq: 3, changed: [urn] }))).toBeNull();
    expect(await f.q((tx) => reviewOnMove(tx, deps(), { tenantId: f.t.id, userId: f.alice, seq: 8, changed: ['displayName'] }))).toBeNull();

    // Through the mover: a user.updated naming the enterprise extension hands the new campaign's id back.
    const outcome = await withTenant(stack.app, f.t.id, (tx) =>
      applyIdentityEvent(tx, { tenantId: f.t.id, userId: f.alice, workflowId: `identity-${f.alice}`, seq: 9, type: 'user.updated', changed: [urn], leaverDone: false, fromStart: false, catalogue: stack.config.APP_ROLES, campaignHourMs: 1000 }),
    );
    expect(outcome).toMatchObject({ kind: 'applied', startCampaigns: [expect.any(String)] });
    const started = (outcome as { startCampaigns: string[] }).startCampaigns[0]!;
    expect(await f.q((tx) => tx.oneFirst(sql.type(z.object({ trigger_ref: z.string() }))`SELECT trigger_ref FROM campaigns WHERE id = ${started}`))).toBe(`move:${f.alice}:9`);
  });
});

describe('scale (CI size)', () => {
  it('generates a 5,000-item campaign in batches well under the budget', async () => {
    const f = await fixture();
    await f.q((tx) => tx.query(sql.unsafe`
      WITH u AS (
        INSERT INTO users (tenant_id, user_name, user_name_key, emails, enterprise, lifecycle_state)
        SELECT ${f.t.id}, 'bulk' || n, 'bulk' || n, jsonb_build_array(jsonb_build_object('value', 'bulk' || n || '@example.com')),
               jsonb_build_object('manager', jsonb_build_object('value', ${f.boss}::text)), 'active'
          FROM generate_series(1, 5000) n RETURNING id)
      INSERT INTO user_roles (tenant_id, user_id, role) SELECT ${f.t.id}, id, 'member' FROM u`));
    const c = await launch(f, { scope: [{ kind: 'privileged_roles' }, { kind: 'groups', groupIds: [f.group] }, { kind: 'all_roles' }] });
    const started = Date.now();
    const inserted = await generate(f, c, 1000);
    const ms = Date.now() - started;
    expect(inserted).toBe(5008);
    expect(ms).toBeLessThan(20_000);
    const sample = (await items(f, c)).filter((r) => r.access_ref === 'member' && r.user_id !== f.sam);
    expect(sample.length).toBe(5000);
    expect(sample.every((r) => r.reviewer_id === f.bossPortal && r.assigned_by === 'manager')).toBe(true);
  });

  it('the no-response revoke at close spans several transactions: every undecided item revoked once, decided ones left alone, each named by one stream event of its person', async () => {
    const f = await fixture();
    const people = CLOSE_REVOKE_BATCH + 60;
    await f.q((tx) => tx.query(sql.unsafe`
      WITH u AS (
        INSERT INTO users (tenant_id, user_name, user_name_key, lifecycle_state)
        SELECT ${f.t.id}, 'many' || n, 'many' || n, 'active' FROM generate_series(1, ${people}) n RETURNING id)
      INSERT INTO user_roles (tenant_id, user_id, role) SELECT ${f.t.id}, id, r FROM u, unnest(ARRAY['member', 'billing-admin']) r`));
    const c = await launch(f, { scope: [{ kind: 'all_roles' }], noResponse: { action: 'revoke', escalate: false, revokeCapPercent: 100 } });
    await generate(f, c, 1000);
    await openCampaign(stack.app, deps(), { tenantId: f.t.id, campaignId: c });
    const manyIds = new Set(await f.q((tx) => tx.anyFirst(sql.type(Id)`SELECT id::text AS id FROM users WHERE user_name LIKE 'many%'`)));
    const before = (await items(f, c)).filter((r) => manyIds.has(r.user_id!));
    expect(before).toHaveLength(2 * people);
    // Every third item kept by a reviewer first: the batches must step over them, not stop.
    const kept = before.filter((_, n) => n % 3 === 0);
    await f.q((tx) => tx.query(sql.unsafe`
      UPDATE campaign_items SET decision = 'keep', decided_by = ${f.fallback}, decided_at = now(), decision_ms = 1000, outcome = 'kept'
       WHERE campaign_id = ${c} AND id = ANY(${sql.array(kept.map((r) => r.id), 'int8')})`));

    const closed = await closeCampaign(stack.app, deps(), { tenantId: f.t.id, campaignId: c });
    const after = await items(f, c);
    const left = before.length - kept.length;
    expect(left).toBeGreaterThan(CLOSE_REVOKE_BATCH);
    expect(closed.noResponseRevoked).toBe(after.filter((r) => r.outcome === 'no_response_revoked').length);
    expect(after.filter((r) => r.outcome === 'pending')).toEqual([]);
    const mine = after.filter((r) => manyIds.has(r.user_id!));
    const keptIds = new Set(kept.map((r) => r.id));
    expect(mine.filter((r) => keptIds.has(r.id)).every((r) => r.outcome === 'kept' && r.applied === null)).toBe(true);
    const revoked = mine.filter((r) => !keptIds.has(r.id));
    expect(revoked.every((r) => r.outcome === 'no_response_revoked')).toBe(true);

    // Each revoked item is named by exactly one entitlements.changed event, of its person, whose
    // seq its record carries; a person gets one per transaction that revoked something of theirs.
    const events = await f.q((tx) => tx.any(sql.type(z.object({ stream_id: z.string(), seq: z.number(), item_ids: z.array(z.string()) }))`
      SELECT stream_id::text, seq, ARRAY(SELECT e->>'itemId' FROM jsonb_array_elements(payload->'items') e) AS item_ids
        FROM outbox WHERE event_type = 'entitlements.changed' AND stream_id = ANY(${sql.array([...manyIds], 'uuid')})`));
    const eventOf = new Map(events.flatMap((e) => e.item_ids.map((id) => [id, e] as const)));
    expect(events.reduce((n, e) => n + e.item_ids.length, 0)).toBe(revoked.length);
    for (const r of revoked) {
      const e = eventOf.get(r.id)!;
      expect(e.stream_id).toBe(r.user_id);
      expect(r.applied).toEqual({ via: 'identity_stream', userId: r.user_id, seq: e.seq });
    }
    // Batches follow the item order, so two items of one person share their event unless a batch
    // boundary falls between them.
    expect(events.length).toBeLessThan(revoked.length);
    const audited = await f.q((tx) => tx.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int8 AS n FROM audit_events WHERE action = 'campaign.item.revoked' AND target_id = ${c}`));
    expect(audited).toBe(closed.noResponseRevoked);
  });
});
