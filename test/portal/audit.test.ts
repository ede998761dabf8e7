import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { portalClient, type PortalTestClient } from '../helpers/portal.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

let stack: TestStack;
let a: TestTenant;
let b: TestTenant;
let auditor: PortalTestClient;
let admin: PortalTestClient;
let otherAuditor: PortalTestClient;

const BULK = 12_000;

beforeAll(async () => {
  stack = await startStack();
  [a, b] = [await stack.createTenant(), await stack.createTenant()];
  for (let i = 0; i < 6; i++) await stack.scim(a, 'POST', '/Users', { userName: `a${i}@example.com` });
  await stack.scim(b, 'POST', '/Users', { userName: 'only-in-b@example.com' });
  [auditor, admin, otherAuditor] = [
    await portalClient(stack, a, { roles: ['auditor'] }),
    await portalClient(stack, a, { roles: ['admin'] }),
    await portalClient(stack, b, { roles: ['auditor'] }),
  ];
});
afterAll(async () => stack?.close());

describe('portal audit log API', () => {
  it('lists the tenant\'s events newest first, filtered, paged with next/prev cursors', async () => {
    const first = await auditor.request('GET', '/audit-events?action=user.created&limit=4');
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(4);
    expect(first.body.data.every((e: { action: string; actor: { type: string } }) => e.action === 'user.created' && e.actor.type === 'scim')).toBe(true);
    expect(first.body.prev).toBeNull();
    const second = await auditor.request('GET', `/audit-events?action=user.created&limit=4&cursor=${first.body.next}`);
    expect(second.body.data).toHaveLength(2);
    expect(second.body.next).toBeNull();
    const back = await auditor.request('GET', `/audit-events?action=user.created&limit=4&cursor=${second.body.prev}`);
    expect(back.body.data.map((e: { id: number }) => e.id)).toEqual(first.body.data.map((e: { id: number }) => e.id));
    // The sign-ins of this tenant's portal users are audited too; another tenant's events never show.
    const all = await auditor.request('GET', '/audit-events?limit=200');
    expect(all.body.data.some((e: { action: string }) => e.action.startsWith('portal.') || e.action.includes('sign'))).toBe(true);
    expect(JSON.stringify(all.body)).not.toContain('only-in-b');
    const theirs = await otherAuditor.request('GET', '/audit-events?action=user.created&limit=200');
    expect(theirs.body.data).toHaveLength(1);
  });

  it('answers 400 with the field for bad filters', async () => {
    const r = await auditor.request('GET', '/audit-events?actorType=robot&from=yesterday');
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_request');
    expect(r.body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['actorType', 'from']);
    expect((await auditor.request('GET', '/audit-events?from=2026-02-01&to=2026-01-01')).status).toBe(400);
    expect((await auditor.request('GET', '/audit-events?cursor=garbage')).body.error).toBe('invalid_cursor');
  });

  it('exports CSV and JSON as attachments, with the filters, and records who exported', async () => {
    const csv = await auditor.request('GET', '/audit-events/export?format=csv&action=user.created');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename="audit-log-\d{8}T\d{6}Z\.csv"$/);
    const lines = String(csv.body).trim().split('\r\n');
    expect(lines[0]).toMatch(/^id,seq,occurred_at,actor_type,actor_id,action,/);
    expect(lines.slice(1)).toHaveLength(6);
    expect(lines.slice(1).every((l) => l.includes(',user.created,'))).toBe(true);
    const json = await admin.request('GET', '/audit-events/export?format=json&action=user.created');
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    expect(json.body).toHaveLength(6);
    expect(json.body[0]).toMatchObject({ action: 'user.created', actor: { type: 'scim' }, target: { type: 'user' } });
    const exported = await auditor.request('GET', `/audit-events?action=audit.exported&actorId=${auditor.userId}`);
    expect(exported.body.data[0]).toMatchObject({ actor: { type: 'user', id: auditor.userId }, data: { format: 'csv', filter: { action: 'user.created' } } });
  });

  it(`streams an export of ${BULK.toLocaleString('en')} events in batches (chunked, every row once)`, async () => {
    await withTenant(stack.owner, a.id, (tx) =>
      tx.query(sql.unsafe`
        INSERT INTO audit_events (tenant_id, actor_type, actor_id, action, target_type, target_id, data)
        SELECT ${a.id}, 'system', 'bulk', 'bulk.event', 'thing', g::text, jsonb_build_object('n', g)
          FROM generate_series(1, ${BULK}) AS g`),
    );
    const res = await fetch(`${stack.url}/portal/api/audit-events/export?format=ndjson&action=bulk.event`, { headers: { cookie: `roster_portal=${auditor.cookie}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBeNull();
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    let chunks = 0;
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      chunks++;
      text += decoder.decode(chunk, { stream: true });
    }
    const rows = text.trim().split('\n').map((l) => JSON.parse(l) as { target: { id: string } });
    expect(rows).toHaveLength(BULK);
    expect(new Set(rows.map((r) => r.target.id)).size).toBe(BULK);
    expect(chunks).toBeGreaterThan(10);
  });

  it('verifies the chain (intact), then names the first broken link after tampering', async () => {
    const ok = await auditor.request('POST', '/audit-events/verify', {});
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ intact: true, firstBroken: null, pending: 0 });
    expect(ok.body.sealed).toBeGreaterThan(BULK);
    await stack.owner.transaction(async (tx) => {
      await tx.query(sql.unsafe`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`);
      await tx.query(sql.unsafe`UPDATE audit_events SET actor_id = 'someone-else' WHERE tenant_id = ${a.id} AND seq = 3`);
      await tx.query(sql.unsafe`ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only`);
    });
    const broken = await auditor.request('POST', '/audit-events/verify', {});
    expect(broken.body).toMatchObject({ intact: false, verified: 2, firstBroken: { seq: 3, reason: 'hash_mismatch' } });
    // Tenant b's chain is its own, and intact.
    expect((await otherAuditor.request('POST', '/audit-events/verify', {})).body.intact).toBe(true);
  });

  it('is for admins and auditors only; verify needs the CSRF token', async () => {
    const approver = await portalClient(stack, a, { roles: ['approver'] });
    const reviewer = await portalClient(stack, a, { roles: ['reviewer'] });
    for (const client of [approver, reviewer]) {
      expect((await client.request('GET', '/audit-events')).status).toBe(403);
      expect((await client.request('GET', '/audit-events/export?format=csv')).status).toBe(403);
      expect((await client.request('POST', '/audit-events/verify', {})).status).toBe(403);
    }
    expect((await fetch(`${stack.url}/portal/api/audit-events`)).status).toBe(401);
    expect((await auditor.request('POST', '/audit-events/verify', {}, { 'x-csrf-token': 'wrong' })).body.error).toBe('csrf');
  });
});
