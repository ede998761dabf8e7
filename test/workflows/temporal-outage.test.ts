import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DevServer, startDevServer } from '../../scripts/lib/temporal-dev-server.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';

const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const n = z.object({ n: z.number() });

let dir: string;
let server: DevServer;
let stack: TestStack;
let tenant: TestTenant;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'roster-outage-'));
  // This file's own Temporal server, persisted to SQLite, so it can be stopped and restarted.
  server = await startDevServer({ cli: inject('temporalCli'), dbFile: join(dir, 'temporal.sqlite') });
  stack = await startStack({ worker: true, temporalAddress: server.address });
  tenant = await stack.createTenant();
});
afterAll(async () => {
  await stack?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const trail = (userId: string) =>
  stack.owner.anyFirst(sql.type(z.object({ seq: z.number() }))`
    SELECT (data->>'seq')::int AS seq FROM audit_events WHERE target_id = ${userId} AND actor_type = 'system' AND action LIKE 'lifecycle.%' ORDER BY id`);

describe('a 2xx to the IdP survives a Temporal outage', () => {
  it('accepts writes while Temporal is down and applies every one, in order, once it is back', async () => {
    const u1 = (await stack.scim(tenant, 'POST', '/Users', { userName: 'before-outage@example.com' })).body.id as string;
    await eventually(async () => (await trail(u1)).length === 1);

    await server.stop('SIGKILL');
    const statuses: number[] = [];
    const patch = async (id: string, ops: unknown[]) => statuses.push((await stack.scim(tenant, 'PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: ops })).status);
    await patch(u1, [{ op: 'replace', path: 'active', value: false }]);
    await patch(u1, [{ op: 'replace', path: 'displayName', value: 'During Outage' }]);
    await patch(u1, [{ op: 'replace', path: 'active', value: true }]);
    const u2res = await stack.scim(tenant, 'POST', '/Users', { userName: 'during-outage@example.com' });
    statuses.push(u2res.status);
    const u2 = u2res.body.id as string;
    const group = await stack.scim(tenant, 'POST', '/Groups', { displayName: 'Outage', members: [{ value: u1 }, { value: u2 }] });
    statuses.push(group.status);
    expect(statuses).toEqual([200, 200, 200, 201, 201]);
    // Suspension took effect synchronously even with Temporal down (and was then lifted).
    const pending = await stack.owner.oneFirst(sql.type(n)`SELECT count(*)::int AS n FROM outbox WHERE delivered_at IS NULL`);
    expect(pending).toBe(7); // u1: 3 patches + membership; u2: created + membership; group: created
    // The relay keeps trying (and failing) without losing anything.
    await eventually(async () => (await stack.owner.oneFirst(sql.type(n)`SELECT coalesce(max(attempts), 0)::int AS n FROM outbox WHERE delivered_at IS NULL`)) > 0, 30_000);
    expect(await stack.owner.oneFirst(sql.type(n)`SELECT count(*)::int AS n FROM outbox WHERE delivered_at IS NULL`)).toBe(7);

    server = await startDevServer({ cli: inject('temporalCli'), dbFile: join(dir, 'temporal.sqlite'), port: server.port });

    await eventually(async () => (await stack.owner.oneFirst(sql.type(n)`SELECT count(*)::int AS n FROM outbox WHERE delivered_at IS NULL`)) === 0, 90_000, 250);
    await eventually(async () => (await trail(u1)).length === 5 && (await trail(u2)).length === 2, 60_000, 250);
    expect(await trail(u1)).toEqual([1, 2, 3, 4, 5]);
    expect(await trail(u2)).toEqual([1, 2]);
    const state = await stack.owner.oneFirst(sql.type(z.object({ lifecycle_state: z.string() }))`SELECT lifecycle_state FROM users WHERE id = ${u1}`);
    expect(state).toBe('active');
  });
});
