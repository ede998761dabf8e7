import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../core/db/pool.js';
import { createAppKey } from '../../core/repositories/app-keys.js';
import { encodeCursor, type EventType, eventIdFor, purgeExpiredEvents, recordEvent, sealEventFeeds } from '../../core/repositories/events.js';
import { startStack, type TestStack, type TestTenant } from '../helpers/stack.js';
import { APP_API_CHANGE_KINDS, applyAtOnce } from '../helpers/approvals.js';

let stack: TestStack;
let a: TestTenant & { appKey: string };
let b: TestTenant & { appKey: string };

async function withKey(t: TestTenant) {
  const { appKey } = await withTenant(stack.owner, t.id, (tx) => createAppKey(tx, t.id));
  // These tests are about the webhook API itself: its changes apply at once (no approval).
  await applyAtOnce(stack, t.id, APP_API_CHANGE_KINDS);
  return { ...t, appKey };
}

beforeAll(async () => {
  stack = await startStack();
  a = await withKey(await stack.createTenant());
  b = await withKey(await stack.createTenant());
});
afterAll(async () => stack?.close());

async function api(key: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${stack.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** Records events as the app role, under row-level security, like the emitting activity does. */
async function emit(t: TestTenant, n: number, type: EventType = 'user.updated', subjectId = randomUUID()) {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = eventIdFor(`identity/${t.id}/${subjectId}`, `${randomUUID()}:${type}`);
    await withTenant(stack.app, t.id, (tx) => recordEvent(tx, t.id, { id, type, subjectType: 'user', subjectId, data: { i } }));
    ids.push(id);
  }
  return ids;
}

async function readAll(key: string, query = '', pageSize = 3) {
  const seen: any[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const res = await api(key, 'GET', `/events?limit=${pageSize}${cursor ? `&after=${cursor}` : ''}${query}`);
    expect(res.status).toBe(200);
    seen.push(...res.body.data);
    cursor = res.body.nextCursor;
    if (!res.body.hasMore) return { events: seen, cursor: cursor! };
  }
  throw new Error('feed did not end');
}

describe('events feed', () => {
  it('pages through every event once, in position order, with stable cursors; replay gives the same events', async () => {
    const ids = await emit(a, 8);
    expect(await sealEventFeeds(stack.app)).toBeGreaterThanOrEqual(8);
    const first = await readAll(a.appKey);
    expect(first.events.map((e) => e.id)).toEqual(ids);
    expect(first.events[0]).toMatchObject({ type: 'user.updated', tenantId: a.id, subject: { type: 'user' }, data: { i: 0 } });
    expect(new Set(first.events.map((e) => e.id)).size).toBe(8);

    // Replay from the cursor of the third event: the same events after it, in the same order.
    const replay = await readAll(a.appKey, '', 5);
    expect(replay.events).toEqual(first.events);
    const fromThird = await api(a.appKey, 'GET', `/events?after=${first.events[2].cursor}&limit=500`);
    expect(fromThird.body.data.map((e: any) => e.id)).toEqual(ids.slice(3));
    const again = await api(a.appKey, 'GET', `/events?after=${first.events[2].cursor}&limit=500`);
    expect(again.body).toEqual(fromThird.body);

    // Caught up: nothing new, and the cursor stays put until something is emitted.
    const tail = await api(a.appKey, 'GET', `/events?after=${first.cursor}`);
    expect(tail.body).toEqual({ data: [], nextCursor: first.cursor, hasMore: false });
    const more = await emit(a, 2);
    const next = await api(a.appKey, 'GET', `/events?after=${first.cursor}`);
    expect(next.body.data.map((e: any) => e.id)).toEqual(more);
  });

  it('honours limit (default 100, at most 500)', async () => {
    const page = await api(a.appKey, 'GET', '/events?limit=1');
    expect(page.body.data).toHaveLength(1);
    expect(page.body.hasMore).toBe(true);
    expect((await api(a.appKey, 'GET', '/events?limit=501')).status).toBe(400);
    expect((await api(a.appKey, 'GET', '/events?limit=0')).status).toBe(400);
    expect((await api(a.appKey, 'GET', '/events?limit=abc')).status).toBe(400);
  });

  it('filters by type and still advances the cursor past non-matching events', async () => {
    const subject = randomUUID();
    const granted = await emit(a, 2, 'role.granted', subject);
    await emit(a, 3, 'user.updated', subject);
    const revoked = await emit(a, 1, 'role.revoked', subject);
    const filtered = await readAll(a.appKey, '&type=role.granted,role.revoked', 2);
    expect(filtered.events.map((e) => e.id)).toEqual([...granted, ...revoked]);
    expect(filtered.events.every((e) => e.type.startsWith('role.'))).toBe(true);
    const rest = await api(a.appKey, 'GET', `/events?type=role.granted&after=${filtered.cursor}`);
    expect(rest.body.data).toEqual([]);
    expect((await api(a.appKey, 'GET', '/events?type=user.exploded')).status).toBe(400);
  });

  it('answers 400 to an unknown or garbled cursor', async () => {
    for (const bad of ['xyz', Buffer.from('p1x').toString('base64url'), encodeCursor(1).slice(0, -1) + '!', Buffer.from('p01').toString('base64url'), 'a'.repeat(65)]) {
      const res = await api(a.appKey, 'GET', `/events?after=${encodeURIComponent(bad)}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.error).toMatch(/invalid_cursor|invalid_request/);
      expect(res.body.error_description).toEqual(expect.any(String));
    }
    expect((await api(a.appKey, 'GET', '/events?cursor=abc')).status).toBe(400);
  });

  it("never shows one tenant's events to another tenant's key", async () => {
    const mine = await emit(b, 3);
    const bFeed = await readAll(b.appKey, '', 500);
    expect(bFeed.events.map((e) => e.id)).toEqual(mine);
    const aFeed = await readAll(a.appKey, '', 500);
    expect(aFeed.events.some((e) => mine.includes(e.id))).toBe(false);
    expect(aFeed.events.every((e) => e.tenantId === a.id)).toBe(true);
    // The app role under A's tenant setting cannot read B's rows at all.
    const leaked = await withTenant(stack.app, a.id, (tx) => tx.anyFirst(sql.type(z.object({ id: z.string() }))`SELECT id FROM events WHERE tenant_id = ${b.id}`));
    expect(leaked).toEqual([]);
    expect((await api('roster_app_nope', 'GET', '/events')).status).toBe(401);
    expect((await fetch(`${stack.url}/api/v1/events`)).status).toBe(401);
  });

  it('an event that commits late gets a later position, so a reader holding a cursor never skips it', async () => {
    const t = await withKey(await stack.createTenant());
    const subjectId = randomUUID();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let inserted!: () => void;
    const insertedP = new Promise<void>((r) => (inserted = r));
    const lateId = randomUUID();
    // A long transaction inserts first (earlier created_at) but commits after a later event.
    const late = withTenant(stack.app, t.id, async (tx) => {
      await recordEvent(tx, t.id, { id: lateId, type: 'user.updated', subjectType: 'user', subjectId, data: {} });
      inserted();
      await gate;
    });
    await insertedP;
    const [early] = await emit(t, 1, 'user.updated', subjectId);
    const page1 = await api(t.appKey, 'GET', '/events');
    expect(page1.body.data.map((e: any) => e.id)).toEqual([early]);
    release();
    await late;
    const page2 = await api(t.appKey, 'GET', `/events?after=${page1.body.nextCursor}`);
    expect(page2.body.data.map((e: any) => e.id)).toEqual([lateId]);
  });

  it('drops events past the tenant retention period; a cursor before purged events is 410', async () => {
    const t = await withKey(await stack.createTenant());
    const [old1, old2] = await emit(t, 2);
    const first = await api(t.appKey, 'GET', '/events?limit=1');
    const [fresh] = await emit(t, 1);
    await sealEventFeeds(stack.app);
    await stack.owner.query(sql.unsafe`UPDATE tenants SET event_retention_days = 7 WHERE id = ${t.id}`);
    await stack.owner.query(sql.unsafe`UPDATE events SET created_at = now() - interval '8 days' WHERE id = ANY(${sql.array([old1!, old2!], 'uuid')})`);
    // Hidden by the query at once, before any purge.
    expect((await readAll(t.appKey)).events.map((e) => e.id)).toEqual([fresh]);
    expect(await purgeExpiredEvents(stack.app)).toBeGreaterThanOrEqual(2);
    expect((await readAll(t.appKey)).events.map((e) => e.id)).toEqual([fresh]);
    const expired = await api(t.appKey, 'GET', `/events?after=${first.body.nextCursor}`);
    expect(expired.status).toBe(410);
    expect(expired.body.error).toBe('cursor_expired');
    const count = await stack.owner.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM events WHERE tenant_id = ${t.id}`);
    expect(count).toBe(1);
  });

  it('keeps events immutable for the app role', async () => {
    const [id] = await emit(a, 1);
    await expect(withTenant(stack.app, a.id, (tx) => tx.query(sql.unsafe`UPDATE events SET data = '{}' WHERE id = ${id!}`))).rejects.toThrow(/permission denied/);
    await expect(withTenant(stack.app, a.id, (tx) => tx.query(sql.unsafe`DELETE FROM events WHERE id = ${id!}`))).rejects.toThrow(/permission denied/);
  });

  it('recording the same event id twice inserts once', async () => {
    const id = eventIdFor(`identity/${a.id}/x`, 'retried-step');
    const subjectId = randomUUID();
    const first = await withTenant(stack.app, a.id, (tx) => recordEvent(tx, a.id, { id, type: 'user.provisioned', subjectType: 'user', subjectId }));
    const second = await withTenant(stack.app, a.id, (tx) => recordEvent(tx, a.id, { id, type: 'user.provisioned', subjectType: 'user', subjectId }));
    expect([first.inserted, second.inserted]).toEqual([true, false]);
  });
});

describe('webhook endpoint management', () => {
  it('creates an endpoint and shows its secret once; lists without secrets; stores only ciphertext', async () => {
    const created = await api(a.appKey, 'POST', '/webhooks', { url: 'https://app.example.com/hooks/roster', eventTypes: ['user.provisioned', 'role.granted'] });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    expect(created.body).toMatchObject({ id: expect.any(String), url: 'https://app.example.com/hooks/roster', eventTypes: ['user.provisioned', 'role.granted'] });
    const secret: string = created.body.secret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);

    const list = await api(a.appKey, 'GET', '/webhooks');
    expect(list.status).toBe(200);
    expect(list.body.data.map((w: any) => w.id)).toContain(created.body.id);
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect(list.body.data[0]).not.toHaveProperty('secret');

    const stored = await stack.owner.one(sql.type(z.object({ c: z.instanceof(Buffer) }))`SELECT secret_ciphertext AS c FROM webhook_endpoints WHERE id = ${created.body.id}`);
    expect(stored.c.includes(Buffer.from(secret))).toBe(false);
    expect(stored.c.includes(Buffer.from(secret.slice(6, 20)))).toBe(false);

    const audit = await stack.owner.anyFirst(sql.type(z.object({ action: z.string() }))`SELECT action FROM audit_events WHERE target_id = ${created.body.id} ORDER BY id`);
    expect(audit).toEqual(['webhook.created']);
  });

  it('validates the body and the URL', async () => {
    for (const body of [
      {},
      { url: 'ftp://example.com' },
      { url: 'http://example.com/hook' },
      { url: 'https://user:pass@example.com/' },
      { url: 'not a url' },
      { url: 'https://example.com', eventTypes: ['user.exploded'] },
      { url: 'https://example.com', eventTypes: [] },
      { url: 'https://example.com', extra: 1 },
    ]) {
      const res = await api(a.appKey, 'POST', '/webhooks', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toBe('invalid_request');
    }
    expect((await api(a.appKey, 'POST', '/webhooks', '{"url":')).status).toBe(400);
    // Plain http is accepted to the loopback interface outside production (development, tests).
    expect((await api(a.appKey, 'POST', '/webhooks', { url: 'http://127.0.0.1:9/hook' })).status).toBe(201);
  });

  it('rotates the secret with an overlap and deletes endpoints; other tenants get 404', async () => {
    const created = await api(a.appKey, 'POST', '/webhooks', { url: 'https://rotate.example.com/' });
    const id = created.body.id;
    const rotated = await api(a.appKey, 'POST', `/webhooks/${id}/rotate`, { overlapSeconds: 3600 });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(created.body.secret);
    expect(rotated.body.previousSecretExpiresAt).toEqual(expect.any(String));
    expect((await api(a.appKey, 'POST', `/webhooks/${id}/rotate`, { overlapSeconds: -1 })).status).toBe(400);

    expect((await api(b.appKey, 'POST', `/webhooks/${id}/rotate`, {})).status).toBe(404);
    expect((await api(b.appKey, 'DELETE', `/webhooks/${id}`)).status).toBe(404);
    expect((await api(b.appKey, 'GET', '/webhooks')).body.data.map((w: any) => w.id)).not.toContain(id);

    expect((await api(a.appKey, 'DELETE', `/webhooks/${id}`)).status).toBe(204);
    expect((await api(a.appKey, 'DELETE', `/webhooks/${id}`)).status).toBe(404);
    expect((await api(a.appKey, 'POST', `/webhooks/${id}/rotate`, {})).status).toBe(404);
    expect((await api(a.appKey, 'GET', '/webhooks')).body.data.map((w: any) => w.id)).not.toContain(id);
    expect((await api(a.appKey, 'DELETE', '/webhooks/not-a-uuid')).status).toBe(404);
  });

  it('is described in /openapi.json', async () => {
    const doc = await (await fetch(`${stack.url}/openapi.json`)).json();
    for (const path of ['/api/v1/webhooks', '/api/v1/webhooks/{id}/rotate', '/api/v1/webhooks/{id}', '/api/v1/events']) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    expect(doc.paths['/api/v1/events'].get.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(['after', 'limit', 'type']));
  });
});
