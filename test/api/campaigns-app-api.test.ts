import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { EVIDENCE_COLUMNS } from '../../core/campaigns/schema.js';
import { api } from '../helpers/app-api-fixtures.js';
import { type CampaignTenant, campaignTenant, person } from '../helpers/campaigns.js';
import { eventually, startStack, type TestStack } from '../helpers/stack.js';

/**
 * Access reviews through the app-facing API (/api/v1, app key as Bearer), over real HTTP against the
 * real app and worker (CAMPAIGN_HOUR_MS = 200 ms): the same shapes as the portal's, the tenant as the
 * reader (every item, no worklist), decisions left to people.
 */

const HOUR_MS = 200;
let stack: TestStack;
let t: CampaignTenant;
let other: CampaignTenant;

beforeAll(async () => {
  stack = await startStack({ worker: true, env: { CAMPAIGN_HOUR_MS: String(HOUR_MS) } });
  [t, other] = [await campaignTenant(stack), await campaignTenant(stack)];
});
afterAll(async () => stack?.close());

const body = (fallback: string, extra: Record<string, unknown> = {}) => ({
  name: 'Integration review',
  scope: [{ kind: 'all_roles' }],
  reviewers: { people: 'named', nonHuman: 'named', reviewerIds: [t.reviewer], fallbackReviewerId: fallback },
  durationHours: 15, // 3 s
  remindEveryHours: 100,
  noResponse: { action: 'keep_and_flag', escalate: false },
  ...extra,
});

const ROUTES: [string, string][] = [
  ['GET', '/api/v1/campaign-definitions'],
  ['POST', '/api/v1/campaign-definitions'],
  ['GET', '/api/v1/campaign-definitions/00000000-0000-4000-8000-000000000000'],
  ['PUT', '/api/v1/campaign-definitions/00000000-0000-4000-8000-000000000000'],
  ['DELETE', '/api/v1/campaign-definitions/00000000-0000-4000-8000-000000000000'],
  ['POST', '/api/v1/campaign-definitions/00000000-0000-4000-8000-000000000000/pause'],
  ['POST', '/api/v1/campaign-definitions/00000000-0000-4000-8000-000000000000/resume'],
  ['POST', '/api/v1/campaign-definitions/00000000-0000-4000-8000-000000000000/launch'],
  ['GET', '/api/v1/campaigns'],
  ['GET', '/api/v1/campaigns/00000000-0000-4000-8000-000000000000'],
  ['GET', '/api/v1/campaigns/00000000-0000-4000-8000-000000000000/items'],
  ['GET', '/api/v1/campaigns/00000000-0000-4000-8000-000000000000/evidence.csv'],
  ['GET', '/api/v1/campaigns/00000000-0000-4000-8000-000000000000/evidence.json'],
];

describe('campaigns in the app API', () => {
  it('every route needs an app key (401 before anything is read)', async () => {
    for (const [method, path] of ROUTES) {
      const res = await api(stack, undefined, method, path, method === 'GET' || method === 'DELETE' ? undefined : body(t.fallback));
      expect(res.status, `${method} ${path}`).toBe(401);
      const wrong = await api(stack, 'rst_app_not-a-key', method, path);
      expect(wrong.status, `${method} ${path}`).toBe(401);
    }
  });

  it('definitions: create (errors name the field), read, replace, pause, resume, delete, as the app key', async () => {
    const bad = await t.app.call('POST', '/api/v1/campaign-definitions', body('00000000-0000-4000-8000-000000000001'));
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ error: 'invalid_request', error_description: expect.stringContaining('reviewers.fallbackReviewerId') });
    const cron = await t.app.call('POST', '/api/v1/campaign-definitions', body(t.fallback, { schedule: { kind: 'cron', cron: '0 0 L * *' } }));
    expect(cron.status).toBe(400);
    expect(cron.body.error_description).toMatch(/^schedule\.cron: day of month "L"/);

    const created = await t.app.call('POST', '/api/v1/campaign-definitions', body(t.fallback, { schedule: { kind: 'quarterly' } }));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const def = created.body;
    expect(def).toMatchObject({ name: 'Integration review', revision: 1, paused: false, schedule: { kind: 'quarterly' }, openCampaignId: null });
    expect(new Date(def.nextRunAt).getUTCDate()).toBe(1);
    expect([0, 3, 6, 9]).toContain(new Date(def.nextRunAt).getUTCMonth());
    const stored = await withTenant(stack.owner, t.tenant.id, (tx) =>
      tx.one(sql.type(z.object({ created_by_type: z.string(), created_by_id: z.string() }))`SELECT created_by_type, created_by_id FROM campaign_definitions WHERE id = ${def.id}`),
    );
    expect(stored).toEqual({ created_by_type: 'system', created_by_id: expect.stringMatching(/^app-key:/) });

    expect((await t.app.call('GET', `/api/v1/campaign-definitions/${def.id}`)).body).toEqual(def);
    expect((await t.app.call('GET', '/api/v1/campaign-definitions?limit=1')).body).toMatchObject({ data: [{ id: def.id }], next: null });
    const replaced = await t.app.call('PUT', `/api/v1/campaign-definitions/${def.id}`, body(t.fallback, { name: 'Renamed', schedule: null }));
    expect(replaced.body).toMatchObject({ name: 'Renamed', revision: 2, schedule: null, nextRunAt: null });
    expect((await t.app.call('POST', `/api/v1/campaign-definitions/${def.id}/pause`)).body).toMatchObject({ paused: true, revision: 3 });
    expect((await t.app.call('POST', `/api/v1/campaign-definitions/${def.id}/resume`)).body).toMatchObject({ paused: false, revision: 4 });
    expect((await t.app.call('DELETE', `/api/v1/campaign-definitions/${def.id}`)).status).toBe(204);
    expect((await t.app.call('GET', `/api/v1/campaign-definitions/${def.id}`)).status).toBe(404);
    expect((await t.app.call('GET', '/api/v1/campaign-definitions/not-a-uuid')).status).toBe(404);
    expect((await t.app.call('GET', '/api/v1/campaign-definitions?color=red')).status).toBe(400);
  });

  it('launch, follow the campaign to its deadline and download the evidence; another tenant sees none of it', async () => {
    const alice = await person(stack, t, 'alice@example.com', { admin: true });
    await person(stack, t, 'bob@example.com');
    const def = (await t.app.call('POST', '/api/v1/campaign-definitions', body(t.fallback))).body;
    const launched = await t.app.call('POST', `/api/v1/campaign-definitions/${def.id}/launch`);
    expect(launched.status, JSON.stringify(launched.body)).toBe(201);
    const { campaignId } = launched.body;
    const again = await t.app.call('POST', `/api/v1/campaign-definitions/${def.id}/launch`);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: 'campaign_running', campaignId });

    const open = await eventually(async () => {
      const res = await t.app.call('GET', `/api/v1/campaigns/${campaignId}`);
      return res.body.state === 'open' ? res.body : null;
    }, 20_000);
    expect(open).toMatchObject({ id: campaignId, definitionId: def.id, itemsTotal: 3, progress: { items: 3, pending: 3 } });
    expect((await t.app.call('GET', `/api/v1/campaigns?definitionId=${def.id}`)).body.data).toEqual([expect.objectContaining({ id: campaignId, mine: 0 })]);
    expect((await t.app.call('GET', '/api/v1/campaigns?state=closed')).body.data.map((c: { id: string }) => c.id)).not.toContain(campaignId);

    // Every item (the app has no worklist), riskiest first, paged.
    const first = await t.app.call('GET', `/api/v1/campaigns/${campaignId}/items?limit=2`);
    expect(first.body.data).toHaveLength(2);
    expect(first.body.data[0]).toMatchObject({ subject: { userId: alice, name: 'alice@example.com' }, access: 'admin', riskReasons: ['privileged_role'], reviewerId: t.reviewer });
    const rest = await t.app.call('GET', `/api/v1/campaigns/${campaignId}/items?limit=2&cursor=${first.body.next}`);
    expect(rest.body).toMatchObject({ next: null });
    expect(rest.body.data).toHaveLength(1);
    expect((await t.app.call('GET', `/api/v1/campaigns/${campaignId}/items?view=mine`)).status).toBe(400);
    expect((await t.app.call('GET', `/api/v1/campaigns/${campaignId}/evidence.json`)).body).toMatchObject({ error: 'campaign_not_closed' });

    const closed = await eventually(async () => {
      const res = await t.app.call('GET', `/api/v1/campaigns/${campaignId}`);
      return res.body.state === 'closed' && res.body.summary ? res.body : null;
    }, 20_000);
    expect(closed.summary.progress).toMatchObject({ items: 3, noResponseKept: 3 });
    const csv = await fetch(`${stack.url}/api/v1/campaigns/${campaignId}/evidence.csv`, { headers: { authorization: `Bearer ${t.app.key}` } });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe(EVIDENCE_COLUMNS.join(','));
    expect(lines).toHaveLength(4);
    const json = await t.app.call('GET', `/api/v1/campaigns/${campaignId}/evidence.json`);
    expect(json.body.map((r: { outcome: string }) => r.outcome)).toEqual(['no_response_kept', 'no_response_kept', 'no_response_kept']);

    for (const path of [`/api/v1/campaigns/${campaignId}`, `/api/v1/campaigns/${campaignId}/items`, `/api/v1/campaigns/${campaignId}/evidence.csv`, `/api/v1/campaign-definitions/${def.id}`]) {
      expect((await other.app.call('GET', path)).status, path).toBe(404);
    }
    for (const action of ['launch', 'pause', 'resume']) expect((await other.app.call('POST', `/api/v1/campaign-definitions/${def.id}/${action}`)).status).toBe(404);
    expect((await other.app.call('PUT', `/api/v1/campaign-definitions/${def.id}`, body(other.fallback))).status).toBe(404);
    expect((await other.app.call('DELETE', `/api/v1/campaign-definitions/${def.id}`)).status).toBe(404);
    expect((await other.app.call('GET', '/api/v1/campaigns')).body.data).toEqual([]);
    expect((await t.app.call('GET', `/api/v1/campaign-definitions/${def.id}`)).body).toMatchObject({ revision: 1, paused: false });
  });

  it('/openapi.json describes every campaign route of the app API', async () => {
    const doc = await (await fetch(`${stack.url}/openapi.json`)).json();
    for (const [method, path] of ROUTES) {
      const documented = path.replace('00000000-0000-4000-8000-000000000000', '{id}');
      expect(doc.paths[documented]?.[method.toLowerCase()], `${method} ${documented}`).toBeDefined();
    }
  });
});
