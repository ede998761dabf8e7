import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit, sealAuditChains } from '../../core/audit/queries.js';
import { csvField, exportAuditEvents, listAuditEvents, verifyAuditLog } from '../../core/audit/service.js';
import { AuditListQuery, type AuditEvent, type ExportFormat } from '../../core/audit/schema.js';
import { withTenant } from '../../core/db/pool.js';
import { parseCsv } from '../helpers/csv.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

let stack: TestStack;
let a: TestTenant;
let b: TestTenant;

/** Writes `n` events into a tenant's log, in one transaction. */
async function write(tenant: TestTenant, n: number, make: (i: number) => Parameters<typeof appendAudit>[2][number]) {
  await withTenant(stack.app, tenant.id, (tx) => appendAudit(tx, tenant.id, Array.from({ length: n }, (_, i) => make(i))));
}

async function collect(tenant: TestTenant, format: ExportFormat, filter = {}, batchSize = 7): Promise<string> {
  let out = '';
  for await (const chunk of exportAuditEvents(stack.app, tenant.id, filter, format, { batchSize })) out += chunk;
  return out;
}

async function tamper(statement: ReturnType<typeof sql.unsafe>) {
  await stack.owner.transaction(async (tx) => {
    await tx.query(sql.unsafe`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`);
    await tx.query(statement);
    await tx.query(sql.unsafe`ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only`);
  });
}

beforeAll(async () => {
  stack = await startStack();
  [a, b] = [await stack.createTenant(), await stack.createTenant()];
  // Tenant a: 45 events of three kinds by two actors; tenant b: 5 events of its own.
  await write(a, 45, (i) => ({
    actor: i % 3 === 0 ? { type: 'user', id: 'alice' } : { type: 'scim', id: 'conn-1' },
    action: ['user.created', 'user.updated', 'role.granted'][i % 3]!,
    targetType: 'user',
    targetId: `u${i % 5}`,
    data: { i, note: i === 4 ? 'comma, "quote"\nnewline' : i === 5 ? '=HYPERLINK("http://evil")' : 'plain' },
  }));
  await write(b, 5, (i) => ({ actor: { type: 'system' }, action: 'user.created', data: { i } }));
});
afterAll(async () => stack?.close());

describe('audit log: filtered keyset pages', () => {
  const page = (tenant: TestTenant, q: Record<string, unknown>) =>
    withTenant(stack.app, tenant.id, (tx) => listAuditEvents(tx, tenant.id, AuditListQuery.parse(q)));

  it('walks every event once, newest first, forwards and back, without gaps or duplicates', async () => {
    const seen: AuditEvent[] = [];
    const cursors: (string | null)[] = [];
    let cursor: string | null = null;
    for (;;) {
      const p = await page(a, { limit: 10, ...(cursor ? { cursor } : {}) });
      seen.push(...p.data);
      cursors.push(p.prev);
      if (!p.next) break;
      cursor = p.next;
    }
    expect(seen).toHaveLength(45);
    const ids = seen.map((e) => e.id);
    expect(new Set(ids).size).toBe(45);
    expect(ids).toEqual([...ids].sort((x, y) => y - x));
    expect(seen.every((e) => e.data.i !== undefined && typeof e.action === 'string')).toBe(true);
    // Back from the last page: the page before it, exactly.
    const last = await page(a, { limit: 10, cursor });
    const before = await page(a, { limit: 10, cursor: last.prev });
    expect(before.data.map((e) => e.id)).toEqual(ids.slice(30, 40));
    // The first page has nothing newer.
    expect((await page(a, { limit: 10 })).prev).toBeNull();
  });

  it('filters by actor, action (exact and prefix), target and time, and never shows another tenant', async () => {
    expect((await page(a, { actorType: 'user', actorId: 'alice', limit: 200 })).data).toHaveLength(15);
    expect((await page(a, { action: 'user.created', limit: 200 })).data).toHaveLength(15);
    expect((await page(a, { action: 'user.*', limit: 200 })).data).toHaveLength(30);
    expect((await page(a, { targetType: 'user', targetId: 'u0', limit: 200 })).data).toHaveLength(9);
    const all = (await page(a, { limit: 200 })).data;
    const middle = all[20]!.occurredAt;
    const newer = (await page(a, { from: middle, limit: 200 })).data;
    expect(newer.length).toBeGreaterThanOrEqual(21);
    expect(newer.every((e) => e.occurredAt >= middle)).toBe(true);
    expect((await page(a, { to: middle, limit: 200 })).data.every((e) => e.occurredAt < middle)).toBe(true);
    expect((await page(b, { limit: 200 })).data).toHaveLength(5);
    expect((await page(b, { actorId: 'alice', limit: 200 })).data).toHaveLength(0);
  });

  it('refuses a cursor it did not issue and a reversed time range', async () => {
    await expect(page(a, { cursor: 'bm9wZQ' })).rejects.toMatchObject({ status: 400, code: 'invalid_cursor' });
    await expect(page(a, { from: '2026-01-02', to: '2026-01-01' })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/before/) });
  });
});

describe('audit log: streamed exports', () => {
  it('CSV: a header and every event, oldest first, fields escaped and formulas defused', async () => {
    const rows = parseCsv(await collect(a, 'csv'));
    expect(rows[0]).toEqual(['id', 'seq', 'occurred_at', 'actor_type', 'actor_id', 'action', 'target_type', 'target_id', 'request_id', 'data', 'prev_hash', 'hash']);
    const body = rows.slice(1);
    expect(body).toHaveLength(45);
    const ids = body.map((r) => Number(r[0]));
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(JSON.parse(body[4]![9]!)).toEqual({ i: 4, note: 'comma, "quote"\nnewline' });
    expect(csvField('=SUM(A1)')).toBe("'=SUM(A1)");
    expect(csvField('-1+1')).toBe("'-1+1");
    expect(csvField(-1)).toBe('-1');
  });

  it('JSON array and NDJSON carry the same events; filters apply; batches never split or repeat rows', async () => {
    const json = JSON.parse(await collect(a, 'json', {}, 4)) as AuditEvent[];
    const ndjson = (await collect(a, 'ndjson', {}, 45)).trim().split('\n').map((l) => JSON.parse(l) as AuditEvent);
    expect(json).toHaveLength(45);
    expect(ndjson).toEqual(json);
    expect(JSON.parse(await collect(a, 'json', { action: 'role.granted' }))).toHaveLength(15);
    expect(JSON.parse(await collect(b, 'json'))).toHaveLength(5);
    expect(JSON.parse(await collect(a, 'json', { actorId: 'nobody' }))).toEqual([]);
  });

  it('stops at the newest event that existed when it started', async () => {
    const it = exportAuditEvents(stack.app, b.id, {}, 'ndjson', { batchSize: 2 });
    const first = await it.next();
    await write(b, 3, () => ({ actor: { type: 'system' }, action: 'late.event' }));
    let text = String(first.value);
    for await (const chunk of it) text += chunk;
    expect(text.trim().split('\n')).toHaveLength(5);
    expect(text).not.toContain('late.event');
  });
});

describe('audit log: chain verification names the first broken link', () => {
  it('intact after sealing, with pending events linked first', async () => {
    const v = await verifyAuditLog(stack.app, a.id);
    expect(v).toMatchObject({ intact: true, firstBroken: null, pending: 0 });
    expect(v.sealed).toBe(45);
    expect(v.verified).toBe(45);
  });

  it('an altered event: hash_mismatch at its seq, with the hash the content now gives and the stored one', async () => {
    await tamper(sql.unsafe`UPDATE audit_events SET data = '{"forged":true}' WHERE tenant_id = ${a.id} AND seq = 12`);
    const v = await verifyAuditLog(stack.app, a.id);
    expect(v.intact).toBe(false);
    expect(v.verified).toBe(11);
    expect(v.firstBroken).toMatchObject({ seq: 12, reason: 'hash_mismatch', expected: { seq: 12 }, found: { seq: 12 } });
    expect(v.firstBroken!.expected.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(v.firstBroken!.found.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(v.firstBroken!.expected.hash).not.toBe(v.firstBroken!.found.hash);
    expect(v.firstBroken!.explanation).toMatch(/altered/);
  });

  it('a removed event: missing_event where the gap starts; the newest removed: chain_head_mismatch', async () => {
    await sealAuditChains(stack.app);
    expect((await verifyAuditLog(stack.app, b.id)).intact).toBe(true);
    await tamper(sql.unsafe`DELETE FROM audit_events WHERE tenant_id = ${b.id} AND seq = 3`);
    expect((await verifyAuditLog(stack.app, b.id)).firstBroken).toMatchObject({ seq: 3, reason: 'missing_event', expected: { seq: 3 }, found: { seq: 4 } });

    const c = await stack.createTenant();
    await write(c, 4, (i) => ({ actor: { type: 'system' }, action: 'x', data: { i } }));
    expect((await verifyAuditLog(stack.app, c.id)).intact).toBe(true);
    await tamper(sql.unsafe`DELETE FROM audit_events WHERE tenant_id = ${c.id} AND seq = 4`);
    const v = await verifyAuditLog(stack.app, c.id);
    expect(v.firstBroken).toMatchObject({ seq: 4, reason: 'chain_head_mismatch', expected: { seq: 4 }, found: { seq: 3 } });
  });

  it('a re-linked event: prev_hash_mismatch', async () => {
    const d = await stack.createTenant();
    await write(d, 3, (i) => ({ actor: { type: 'system' }, action: 'x', data: { i } }));
    expect((await verifyAuditLog(stack.app, d.id)).intact).toBe(true);
    await tamper(sql.unsafe`UPDATE audit_events SET prev_hash = sha256('forged') WHERE tenant_id = ${d.id} AND seq = 2`);
    expect((await verifyAuditLog(stack.app, d.id)).firstBroken).toMatchObject({ seq: 2, reason: 'prev_hash_mismatch' });
  });
});
