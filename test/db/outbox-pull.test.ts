import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { claimOutbox, deferOutbox, pullOutbox } from '../../core/repositories/outbox.js';
import { eventually, startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { USER } from '../helpers/scim.js';

/**
 * The relay's deferral and the step's pull (migration 1764801300000_outbox_pull), at the database:
 * which rows a claim defers, that a deferred row comes back once its time is up, and that a pull
 * takes only its own tenant's and stream's waiting rows, skipping rows a relay holds. No worker
 * runs here, so nothing else claims.
 */

const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
let stack: TestStack;
let a: TestTenant;
let b: TestTenant;

beforeAll(async () => {
  stack = await startStack();
  a = await stack.createTenant();
  b = await stack.createTenant();
});
afterAll(async () => stack?.close());

const Row = z.object({ seq: z.number(), event_type: z.string(), delivered: z.boolean(), deferred: z.boolean() });
const streamRows = (userId: string) =>
  stack.owner.any(sql.type(Row)`
    SELECT seq, event_type, delivered_at IS NOT NULL AS delivered, defer_until IS NOT NULL AS deferred
      FROM outbox WHERE stream_type = 'user' AND stream_id = ${userId} ORDER BY seq`);

/** A user (seq 1) in two new groups (seq 2, 3), nothing applied: no worker runs. */
async function userInTwoGroups(t: TestTenant, name: string): Promise<string> {
  const id: string = (await stack.scim(t, 'POST', '/Users', { schemas: [USER], userName: `${name}@example.com` })).body.id;
  for (const g of ['one', 'two']) expect((await stack.scim(t, 'POST', '/Groups', { displayName: `${name}-${g}`, members: [{ value: id }] })).status).toBe(201);
  return id;
}

/**
 * As the relay does: defers (its own transaction; 0: no deferral), then claims in a transaction it
 * commits without marking anything delivered.
 */
async function claim(deferMs: number, maxMs = 60_000) {
  const deferral = deferMs ? await deferOutbox(stack.app, 1000, deferMs, maxMs) : null;
  return stack.app.transaction((tx) => claimOutbox(tx, 1000, deferral ? deferral.windowEnd : null));
}
const userSeqs = (rows: readonly { stream_type: string; stream_id: string; seq: number }[], userId: string) =>
  rows.filter((r) => r.stream_type === 'user' && r.stream_id === userId).map((r) => r.seq);

describe('outbox deferral and pull', () => {
  it('defers membership rows behind an unapplied event, returns them once their time is up; never defers lifecycle events', async () => {
    const id = await userInTwoGroups(a, 'deferred');
    // A deactivation behind the same unapplied events: signalled regardless (a held leaver's
    // workflow must see a comeback without pulling).
    expect((await stack.scim(a, 'PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] })).status).toBe(200);

    const first = await claim(400);
    expect(userSeqs(first, id)).toEqual([1, 4]);
    expect((await streamRows(id)).map((r) => [r.seq, r.event_type, r.deferred])).toEqual([
      [1, 'user.created', false],
      [2, 'membership.added', true],
      [3, 'membership.added', true],
      [4, 'user.deactivated', false],
    ]);
    // Before their time, a claim does not see the deferred rows; after it, it returns them.
    expect(userSeqs(await claim(400), id)).toEqual([1, 4]);
    await sleep(500);
    expect(userSeqs(await claim(400), id)).toEqual([1, 2, 3, 4]);
    // With deferral off nothing is deferred.
    const other = await userInTwoGroups(a, 'undeferred');
    expect(userSeqs(await claim(0), other)).toEqual([1, 2, 3]);
  });

  it('defers again while the stream is busy with an event its workflow has; signals once it is not, or once too old', async () => {
    const id = await userInTwoGroups(a, 'again');
    const signalled = (seq: number) => stack.owner.query(sql.unsafe`UPDATE outbox SET delivered_at = now() WHERE stream_id = ${id} AND seq = ${seq}`);
    await signalled(1); // the joiner reached the workflow, which has not applied it yet
    expect(userSeqs(await claim(300), id)).toEqual([]);
    await sleep(400);
    // Time is up, but the workflow is still busy with seq 1: deferred again, for as long as it waited.
    expect(userSeqs(await claim(300), id)).toEqual([]);
    expect((await streamRows(id)).filter((r) => r.deferred).map((r) => r.seq)).toEqual([2, 3]);
    // The joiner applied without pulling (as a step on older code would): seq 2 is next and
    // nothing has it, so at its time it is signalled, and so is seq 3 (its head, 2, is not with
    // the workflow).
    await stack.owner.query(sql.unsafe`UPDATE users SET applied_seq = 1 WHERE id = ${id}`);
    const released = await eventually(async () => {
      const seqs = userSeqs(await claim(300), id);
      return seqs.length === 2 && seqs;
    }, 5_000);
    expect(released).toEqual([2, 3]);

    // Behind a leaver waiting to be completed (held by the guard, say), a row is not deferred
    // again: a comeback must not wait on it once the hold ends.
    const leaver = await userInTwoGroups(a, 'held-leaver');
    await stack.owner.query(sql.unsafe`UPDATE outbox SET delivered_at = now() WHERE stream_id = ${leaver} AND seq = 1`);
    expect(userSeqs(await claim(300), leaver)).toEqual([]);
    await stack.owner.query(sql.unsafe`UPDATE users SET leaver_seq = 1 WHERE id = ${leaver}`);
    await sleep(400);
    expect(userSeqs(await claim(300), leaver)).toEqual([2, 3]);

    // Past the longest deferral a row is signalled, busy or not.
    const old = await userInTwoGroups(a, 'too-old');
    await stack.owner.query(sql.unsafe`UPDATE outbox SET delivered_at = now() WHERE stream_id = ${old} AND seq = 1`);
    expect(userSeqs(await claim(300, 500), old)).toEqual([]);
    await sleep(600);
    expect(userSeqs(await claim(300, 500), old)).toEqual([2, 3]);
  });

  it('does not defer a row whose earlier events are all applied', async () => {
    const id = await userInTwoGroups(a, 'caught-up');
    await stack.owner.query(sql.unsafe`UPDATE users SET applied_seq = 2 WHERE id = ${id}`);
    expect(userSeqs(await claim(60_000), id)).toEqual([1, 2, 3]);
    expect((await streamRows(id)).some((r) => r.deferred)).toBe(false);
  });

  it('does not defer the rows of a user whose row is locked (a step or a SCIM write at work): they are signalled', async () => {
    const id = await userInTwoGroups(a, 'busy');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    // As a step holds it from its start to its commit (identityPosition).
    const step = stack.owner.transaction(async (tx) => {
      await tx.query(sql.unsafe`SELECT 1 FROM users WHERE id = ${id} FOR NO KEY UPDATE`);
      locked();
      await held;
    });
    await isLocked;
    try {
      expect(userSeqs(await claim(60_000), id)).toEqual([1, 2, 3]);
      expect((await streamRows(id)).some((r) => r.deferred)).toBe(false);
    } finally {
      release();
      await step;
    }
  });

  it("pulls its own stream's waiting rows after a seq, deferred or not, and marks them delivered", async () => {
    const id = await userInTwoGroups(a, 'pulled');
    await claim(60_000); // 2 and 3 deferred, 1 left undelivered
    // Another tenant's scope sees nothing of this stream.
    expect(await withTenant(stack.app, b.id, (tx) => pullOutbox(tx, id, 0, 64))).toEqual([]);
    const pulled = await withTenant(stack.app, a.id, (tx) => pullOutbox(tx, id, 1, 64));
    expect(pulled.map((e) => [e.seq, e.type])).toEqual([
      [2, 'membership.added'],
      [3, 'membership.added'],
    ]);
    expect(pulled.every((e) => typeof e.outboxId === 'number' && typeof e.payload === 'object')).toBe(true);
    expect((await streamRows(id)).map((r) => [r.seq, r.delivered])).toEqual([
      [1, false],
      [2, true],
      [3, true],
    ]);
    // Pulled once: a second pull finds nothing, and no claim returns them.
    expect(await withTenant(stack.app, a.id, (tx) => pullOutbox(tx, id, 1, 64))).toEqual([]);
    expect(userSeqs(await claim(0), id)).toEqual([1]);
  });

  it('the claim after a deferral stays within the rows the deferral looked at', async () => {
    const id = await userInTwoGroups(b, 'window');
    const deferral = await deferOutbox(stack.app, 1, 60_000, 60_000); // looks at one row only
    const Id = z.object({ id: z.number() });
    const first = await stack.owner.oneFirst(sql.type(Id)`SELECT min(id) AS id FROM outbox WHERE delivered_at IS NULL AND defer_until IS NULL`);
    expect(deferral.windowEnd).toBeGreaterThan(0);
    expect(deferral.windowEnd).toBeLessThanOrEqual(first); // the oldest waiting row, and no further
    const claimed = await stack.app.transaction((tx) => claimOutbox(tx, 1000, deferral.windowEnd));
    expect(claimed.every((r) => r.id <= deferral.windowEnd || r.defer_until !== null)).toBe(true);
    expect(userSeqs(claimed, id)).toEqual([]);
    // Without a window (deferral off) the claim takes them.
    expect(userSeqs(await stack.app.transaction((tx) => claimOutbox(tx, 1000, null)), id)).toEqual([1, 2, 3]);
  });

  it('skips rows a relay holds, and takes at most the limit, in seq order', async () => {
    const id = await userInTwoGroups(b, 'held');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let claimed!: (seqs: number[]) => void;
    const claimedSeqs = new Promise<number[]>((resolve) => (claimed = resolve));
    // A relay's open claim (deferral off): it holds all three rows until its transaction ends.
    const relay = stack.app.transaction(async (tx) => {
      claimed(userSeqs(await claimOutbox(tx, 1000), id));
      await held;
    });
    expect(await claimedSeqs).toEqual([1, 2, 3]);
    expect(await withTenant(stack.app, b.id, (tx) => pullOutbox(tx, id, 0, 64))).toEqual([]);
    release();
    await relay;
    const one = await withTenant(stack.app, b.id, (tx) => pullOutbox(tx, id, 0, 2));
    expect(one.map((e) => e.seq)).toEqual([1, 2]);
  });
});
