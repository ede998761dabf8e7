import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

let stack: TestStack;
let tenant: TestTenant;
beforeAll(async () => {
  // Polling every 10 minutes: only the NOTIFY at commit can deliver within the test's time.
  stack = await startStack({ worker: true, relayPollMs: 600_000 });
  tenant = await stack.createTenant();
});
afterAll(async () => stack?.close());

describe('outbox relay wake-up', () => {
  it('delivers a committed write at once through LISTEN/NOTIFY, without waiting for a poll', async () => {
    // Let the relay's first poll pass and the listener connect, so the loop is idle.
    await new Promise((r) => setTimeout(r, 1_000));
    for (const name of ['first', 'second']) {
      const created = await stack.scim(tenant, 'POST', '/Users', { userName: `${name}@example.com` });
      expect(created.status).toBe(201);
      await eventually(
        async () =>
          (await stack.owner.oneFirst(sql.type(z.object({ s: z.string() }))`SELECT lifecycle_state AS s FROM users WHERE id = ${created.body.id}`)) === 'active',
        10_000,
        20,
      );
    }
  });
});
