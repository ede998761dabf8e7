import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import { expect } from 'vitest';
import { startCampaignWorkflow } from '../../activities/campaign-client.js';
import { launchCampaign } from '../../core/campaigns/launch.js';
import { type CampaignDefinitionBody, CampaignDefinitionInput } from '../../core/campaigns/schema.js';
import { withTenant } from '../../core/db/pool.js';
import { campaignWorkflowId } from '../../workflows/ids.js';
import { type AppClient, appClient } from './app-api.js';
import { APP_API_CHANGE_KINDS, applyAtOnce } from './approvals.js';
import { eventually, type TestStack, type TestTenant } from './stack.js';

/**
 * Campaign fixtures for the workflow tests: a tenant whose people are provisioned over SCIM (their
 * roles granted by the real joiner and mover), portal users made with SQL, definitions written as
 * the campaign service stores them, and launches through core launchCampaign + the workflow client.
 */

const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const Id = z.object({ id: z.string() });

export interface CampaignTenant {
  tenant: TestTenant;
  app: AppClient;
  adminsGroup: string;
  /** Portal users (ids): an admin, a named reviewer, the fallback reviewer. */
  admin: string;
  reviewer: string;
  fallback: string;
}

/** A portal user with these roles (SQL: the workflow tests do not sign in). */
export async function portalUser(stack: TestStack, tenantId: string, email: string, roles: string[]): Promise<string> {
  return withTenant(stack.owner, tenantId, async (tx) => {
    const id = await tx.oneFirst(sql.type(Id)`
      INSERT INTO portal_users (tenant_id, email, display_name, status) VALUES (${tenantId}, ${email}, ${email.split('@')[0]!}, 'active') RETURNING id`);
    for (const role of roles) await tx.query(sql.unsafe`INSERT INTO portal_user_roles (tenant_id, user_id, role) VALUES (${tenantId}, ${id}, ${role})`);
    return id;
  });
}

/**
 * `count` people (userName `p<i><suffix>`) holding `member`, written with SQL: no identity workflow
 * runs for them, which is all a review that only keeps (or a crash test) needs.
 */
export async function membersWithSql(stack: TestStack, tenantId: string, count: number, suffix = ''): Promise<void> {
  await withTenant(stack.owner, tenantId, (tx) =>
    tx.query(sql.unsafe`
      WITH p AS (
        INSERT INTO users (tenant_id, user_name, user_name_key, emails, lifecycle_state)
        SELECT ${tenantId}, 'p' || i || ${suffix}, 'p' || i || ${suffix}, '[]'::jsonb, 'active' FROM generate_series(1, ${count}) i RETURNING id)
      INSERT INTO user_roles (tenant_id, user_id, role) SELECT ${tenantId}, id, 'member' FROM p`),
  );
}

/** A tenant whose joiner grants `member` and whose Admins group maps to `admin` (privileged). */
export async function campaignTenant(stack: TestStack): Promise<CampaignTenant> {
  const tenant = await stack.createTenant();
  await applyAtOnce(stack, tenant.id, APP_API_CHANGE_KINDS);
  const app = await appClient(stack, tenant);
  expect((await app.call('PUT', '/api/v1/default-role', { role: 'member' })).status).toBe(200);
  const adminsGroup = (await stack.scim(tenant, 'POST', '/Groups', { displayName: 'Admins' })).body.id as string;
  expect((await app.call('PUT', `/api/v1/role-mappings/${adminsGroup}`, { roles: ['admin'] })).status).toBe(200);
  const admin = await portalUser(stack, tenant.id, `admin-${tenant.slug}@example.com`, ['admin']);
  const reviewer = await portalUser(stack, tenant.id, `reviewer-${tenant.slug}@example.com`, ['reviewer']);
  const fallback = await portalUser(stack, tenant.id, `fallback-${tenant.slug}@example.com`, ['reviewer']);
  return { tenant, app, adminsGroup, admin, reviewer, fallback };
}

export async function rolesOf(stack: TestStack, tenantId: string, userId: string): Promise<string[]> {
  const rows = await withTenant(stack.owner, tenantId, (tx) =>
    tx.anyFirst(sql.type(z.object({ role: z.string() }))`SELECT role FROM user_roles WHERE tenant_id = ${tenantId} AND user_id = ${userId} ORDER BY role`),
  );
  return [...rows];
}

/** A person provisioned over SCIM (optionally in Admins), once the joiner/mover granted their roles. */
export async function person(stack: TestStack, t: CampaignTenant, userName: string, options: { admin?: boolean } = {}): Promise<string> {
  const res = await stack.scim(t.tenant, 'POST', '/Users', { userName });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const id = res.body.id as string;
  if (options.admin) {
    const added = await stack.scim(t.tenant, 'PATCH', `/Groups/${t.adminsGroup}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: id }] }] });
    expect(added.status).toBeLessThan(300);
  }
  const want = options.admin ? ['admin', 'member'] : ['member'];
  await eventually(async () => JSON.stringify(await rolesOf(stack, t.tenant.id, id)) === JSON.stringify(want), 30_000);
  return id;
}

/** A definition row as the campaign service stores it (settings: the input minus its name). */
export async function defineCampaign(stack: TestStack, tenantId: string, body: CampaignDefinitionBody, options: { paused?: boolean } = {}): Promise<string> {
  const { name, ...settings } = CampaignDefinitionInput.parse(body);
  return withTenant(stack.owner, tenantId, (tx) =>
    tx.oneFirst(sql.type(Id)`
      INSERT INTO campaign_definitions (tenant_id, name, settings, paused, created_by_type, created_by_id)
      VALUES (${tenantId}, ${name}, ${sql.jsonb(settings as never)}, ${options.paused ?? false}, 'user', 'test') RETURNING id`),
  );
}

/** Launches one run now (core launchCampaign) and starts its workflow, as the API does. */
export async function launch(stack: TestStack, tenantId: string, definitionId: string, options: { start?: boolean } = {}): Promise<string> {
  const launched = await withTenant(stack.owner, tenantId, (tx) =>
    launchCampaign(tx, tenantId, { definitionId, trigger: 'manual', triggerRef: `test:${randomUUID()}`, actor: { type: 'user', id: 'test' } }),
  );
  if (launched.outcome !== 'launched') throw new Error(`not launched: ${JSON.stringify(launched)}`);
  if (options.start ?? true) await startCampaignWorkflow(stack.app, stack.client!, stack.taskQueue, { tenantId, campaignId: launched.campaignId });
  return launched.campaignId;
}

export const campaignHandle = (stack: TestStack, tenantId: string, campaignId: string) => stack.client!.workflow.getHandle(campaignWorkflowId(tenantId, campaignId));

const CampaignFacts = z.object({
  state: z.string(),
  items_total: z.number(),
  opened_at: z.string().nullable(),
  due_at: z.string().nullable(),
  closed_at: z.string().nullable(),
  escalated_at: z.string().nullable(),
  summary: z.any(),
});
export async function campaignRow(stack: TestStack, tenantId: string, campaignId: string) {
  return withTenant(stack.owner, tenantId, (tx) =>
    tx.one(sql.type(CampaignFacts)`
      SELECT state, items_total, opened_at::text, due_at::text, closed_at::text, escalated_at::text, summary FROM campaigns WHERE tenant_id = ${tenantId} AND id = ${campaignId}`),
  );
}

/** Waits until the campaign's row is in `state`. */
export async function campaignInState(stack: TestStack, tenantId: string, campaignId: string, state: string, timeoutMs = 30_000) {
  return eventually(async () => {
    const row = await campaignRow(stack, tenantId, campaignId);
    return row.state === state ? row : null;
  }, timeoutMs, 100);
}

const Item = z.object({
  id: z.string(),
  user_id: z.string().nullable(),
  access_kind: z.string(),
  access_ref: z.string(),
  reviewer_id: z.string().nullable(),
  assigned_by: z.string(),
  outcome: z.string(),
  applied: z.any(),
});
export type Item = z.infer<typeof Item>;

export async function itemsOf(stack: TestStack, tenantId: string, campaignId: string): Promise<readonly Item[]> {
  return withTenant(stack.owner, tenantId, (tx) =>
    tx.any(sql.type(Item)`
      SELECT id::text, user_id, access_kind, access_ref, reviewer_id, assigned_by, outcome, applied
        FROM campaign_items WHERE tenant_id = ${tenantId} AND campaign_id = ${campaignId} ORDER BY id`),
  );
}

/** Records a reviewer's decision on items with SQL (the API helper tests the HTTP decision path). */
export async function decideWithSql(stack: TestStack, tenantId: string, campaignId: string, itemIds: readonly string[], by: string): Promise<void> {
  await withTenant(stack.owner, tenantId, (tx) =>
    tx.query(sql.unsafe`
      UPDATE campaign_items SET decision = 'keep', outcome = 'kept', decided_by = ${by}, decided_at = now(), decision_ms = 4000
       WHERE tenant_id = ${tenantId} AND campaign_id = ${campaignId} AND id = ANY(${sql.array(itemIds, 'int8')}) AND outcome = 'pending'`),
  );
}

const Event = z.object({ type: z.string(), data: z.record(z.unknown()) });
/** The campaign's events on the tenant's feed, oldest first. */
export async function campaignEvents(stack: TestStack, tenantId: string, campaignId: string) {
  return withTenant(stack.owner, tenantId, (tx) =>
    tx.any(sql.type(Event)`SELECT type, data FROM events WHERE tenant_id = ${tenantId} AND subject_id = ${campaignId} ORDER BY created_at, id`),
  );
}

export async function campaignAudit(stack: TestStack, tenantId: string, campaignId: string): Promise<string[]> {
  const rows = await withTenant(stack.owner, tenantId, (tx) =>
    tx.anyFirst(sql.type(z.object({ action: z.string() }))`SELECT action FROM audit_events WHERE tenant_id = ${tenantId} AND target_id = ${campaignId} ORDER BY id`),
  );
  return [...rows];
}
