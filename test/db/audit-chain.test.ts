import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealAuditChains, verifyAuditChain } from '../../core/repositories/audit.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

let stack: TestStack;
let a: TestTenant;
let b: TestTenant;
beforeAll(async () => {
  stack = await startStack();
  a = await stack.createTenant();
  b = await stack.createTenant();
});
afterAll(async () => stack?.close());

describe('hash-chained audit log', () => {
  it('chains every event under concurrent writers and concurrent sealers, per tenant', async () => {
    const writes = Array.from({ length: 60 }, (_, i) =>
      stack.scim(i % 2 ? a : b, 'POST', '/Users', { userName: `u${i}@example.com` }),
    );
    // Sealers race the writers and each other, as several worker replicas would.
    const sealers = Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 10; i++) {
        await sealAuditChains(stack.app);
        await new Promise((r) => setTimeout(r, 5));
      }
    });
    const results = await Promise.all(writes);
    await Promise.all(sealers);
    expect(results.every((r) => r.status === 201)).toBe(true);
    await sealAuditChains(stack.app);
    for (const t of [a, b]) {
      const v = await verifyAuditChain(stack.app, t.id);
      expect(v).toEqual({ sealed: 30, first_bad_seq: null });
    }
    const unsealed = await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM audit_events WHERE seq IS NULL`);
    expect(unsealed).toBe(0);
  });

  it('detects a tampered event, a removed event and a forged link', async () => {
    await stack.scim(a, 'POST', '/Users', { userName: 'tamper-target@example.com' });
    await sealAuditChains(stack.app);
    expect((await verifyAuditChain(stack.app, a.id)).first_bad_seq).toBeNull();
    // A superuser who disables the guard trigger can still edit rows; the chain then tells.
    await stack.owner.transaction(async (tx) => {
      await tx.query(sql.unsafe`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`);
      await tx.query(sql.unsafe`UPDATE audit_events SET data = '{"forged":true}' WHERE tenant_id = ${a.id} AND seq = 5`);
      await tx.query(sql.unsafe`ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only`);
    });
    expect((await verifyAuditChain(stack.app, a.id)).first_bad_seq).toBe(5);

    await stack.owner.transaction(async (tx) => {
      await tx.query(sql.unsafe`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`);
      await tx.query(sql.unsafe`DELETE FROM audit_events WHERE tenant_id = ${b.id} AND seq = 30`);
      await tx.query(sql.unsafe`ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only`);
    });
    // The last event's removal is caught by the chain head.
    expect((await verifyAuditChain(stack.app, b.id)).first_bad_seq).toBe(30);
  });

  it('refuses to re-seal or edit a sealed row through the guard', async () => {
    await expect(stack.owner.query(sql.unsafe`UPDATE audit_events SET seq = seq + 1000 WHERE tenant_id = ${a.id} AND seq = 1`)).rejects.toThrow(/append-only/);
  });
});
